/* Blob uploads: POST a session, then either one streamed PUT with the
 * digest, or PATCH chunks (Content-Range) closed by a PUT; a failed chunk
 * is resumed from the offset the registry reports.  Cross-repository
 * mounts ride on the same POST. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hoist/registry.h"
#include "registry/internal.h"
#include "util/cleanup.h"

typedef struct upload {
	hoist_registry *r;
	const char *repo;
	const hoist_digest *d;
	char *subject;
	reg_scopes scopes;
	char *location; /* current session URL (absolute) */
} upload;

static void upload_release(upload *u)
{
	free(u->subject);
	free(u->location);
	reg_scopes_release(&u->scopes);
}

/* Takes the Location of a 202 as the session URL. */
static int take_location(upload *u, const reg_response *resp, const char *op,
	hoist_error **err)
{
	_cleanup_free_ char *loc = reg_response_header(resp, "Location");
	if (!loc || !*loc)
		return hoist_error_set(err, HOIST_E_REGISTRY,
			"%s '%s': registry sent no upload location", op, u->subject);
	char *abs = reg_url_resolve(resp->url, loc);
	if (!abs)
		return hoist_error_set(err, HOIST_E_REGISTRY,
			"%s '%s': invalid upload location", op, u->subject);
	free(u->location);
	u->location = abs;
	return 0;
}

static int start_session(upload *u, const char *from, bool *mounted,
	hoist_error **err)
{
	_cleanup_free_ char *path = NULL;
	int n = from ? asprintf(&path, "/v2/%s/blobs/uploads/?mount=%s&from=%s",
				 u->repo, u->d->str, from)
		     : asprintf(&path, "/v2/%s/blobs/uploads/", u->repo);
	if (n < 0)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	reg_request q = { .method = "POST", .url = path, .has_body = true,
		.scopes = &u->scopes };
	_cleanup_(reg_response_release) reg_response resp;
	reg_response_init(&resp);
	const char *op = from ? "mount blob" : "start upload of blob";
	int e = reg_do(u->r, &q, &resp, err);
	if (e < 0)
		return hoist_error_wrap(err, HOIST_E_NETWORK, "%s '%s'", op,
			u->subject);
	if (from && resp.status == 201) {
		*mounted = true;
		return 0;
	}
	if (resp.status != 202)
		return reg_status_error(&resp, from ? "POST mount of blob"
						    : "POST upload of blob",
			u->subject, err);
	return take_location(u, &resp, op, err);
}

/* session URL + "digest=..." */
static char *with_digest(const char *loc, const hoist_digest *d)
{
	char *esc = curl_easy_escape(NULL, d->str, 0);
	char *s = NULL;
	if (esc && asprintf(&s, "%s%sdigest=%s", loc, strchr(loc, '?') ? "&" : "?",
			   esc) < 0)
		s = NULL;
	curl_free(esc);
	return s;
}

static int finish_put(upload *u, const reg_response *resp, hoist_error **err)
{
	if (resp->status != 201 && resp->status != 204 && resp->status != 200)
		return reg_status_error(resp, "PUT blob", u->subject, err);
	_cleanup_free_ char *dcd = reg_response_header(resp,
		"Docker-Content-Digest");
	hoist_digest got;
	if (dcd && hoist_digest_parse(&got, dcd, NULL) == 0 &&
		!hoist_digest_equal(&got, u->d))
		return hoist_error_set(err, HOIST_E_DIGEST,
			"PUT blob '%s': registry stored it as %s", u->subject,
			got.str);
	return 0;
}

static int put_single(upload *u, hoist_reader *content, int64_t size,
	hoist_error **err)
{
	_cleanup_free_ char *url = with_digest(u->location, u->d);
	if (!url)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	reg_request q = { .method = "PUT", .url = url,
		.content_type = "application/octet-stream", .stream = content,
		.stream_len = size, .scopes = &u->scopes };
	_cleanup_(reg_response_release) reg_response resp;
	reg_response_init(&resp);
	int e = reg_do(u->r, &q, &resp, err);
	if (e < 0)
		return hoist_error_wrap(err, HOIST_E_NETWORK, "PUT blob '%s'",
			u->subject);
	return finish_put(u, &resp, err);
}

/* The registry's idea of how many bytes the session holds.  "Range:
 * 0-0" means 0 bytes as well as 1 (distribution writes both so); with a
 * chunk at offset 0 it can only be the former, as chunks are far larger
 * than a byte. */
static int session_offset(upload *u, uint64_t chunk_off, uint64_t *off,
	hoist_error **err)
{
	reg_request q = { .method = "GET", .url = u->location,
		.scopes = &u->scopes };
	_cleanup_(reg_response_release) reg_response resp;
	reg_response_init(&resp);
	int e = reg_do(u->r, &q, &resp, err);
	if (e < 0)
		return e;
	if (resp.status != 204 && resp.status != 200)
		return reg_status_error(&resp, "GET upload status of blob",
			u->subject, err);
	_cleanup_free_ char *range = reg_response_header(&resp, "Range");
	unsigned long long a = 0, b = 0;
	const char *rv = range && !strncmp(range, "bytes=", 6) ? range + 6 : range;
	if (rv && sscanf(rv, "%llu-%llu", &a, &b) == 2 && a == 0)
		*off = b == 0 && chunk_off == 0 ? 0 : b + 1;
	else
		*off = 0;
	_cleanup_free_ char *loc = reg_response_header(&resp, "Location");
	if (loc && *loc)
		take_location(u, &resp, "GET upload status of blob", err);
	return 0;
}

/* Sends buf (bytes [off, off+len) of the blob) as one or more PATCH
 * requests, resuming from what the registry holds after a failure. */
static int patch_chunk(upload *u, const char *buf, size_t len, uint64_t off,
	hoist_error **err)
{
	int retries = hoist_ctx_retries(u->r->ctx);
	size_t sent = 0;
	for (int attempt = 0; sent < len;) {
		char cr[64];
		uint64_t start = off + sent;
		snprintf(cr, sizeof(cr), "%llu-%llu", (unsigned long long)start,
			(unsigned long long)(off + len - 1));
		reg_request q = { .method = "PATCH", .url = u->location,
			.content_type = "application/octet-stream",
			.content_range = cr, .body = buf + sent,
			.body_len = len - sent, .has_body = true, .no_retry = true,
			.scopes = &u->scopes };
		_cleanup_(reg_response_release) reg_response resp;
		reg_response_init(&resp);
		hoist_error *perr = NULL;
		int e = reg_do(u->r, &q, &resp, &perr);
		if (e == 0 && resp.status == 202) {
			hoist_error_free(perr);
			if ((e = take_location(u, &resp, "PATCH blob", err)) < 0)
				return e;
			sent = len;
			break;
		}
		bool transient = e == -HOIST_E_NETWORK ||
			(e == 0 && (resp.status == 429 || resp.status >= 500 ||
					   resp.status == 416));
		if (!transient || attempt >= retries) {
			if (e < 0) {
				if (err && !*err)
					*err = perr;
				else
					hoist_error_free(perr);
				return hoist_error_wrap(err, HOIST_E_NETWORK,
					"PATCH blob '%s' at offset %llu", u->subject,
					(unsigned long long)start);
			}
			hoist_error_free(perr);
			e = reg_status_error(&resp, "PATCH blob", u->subject, err);
			/* The session did not survive a failure (libcurl may
			 * also have resent a chunk on a connection that died,
			 * which distribution answers so): a fresh upload of the
			 * whole blob is the way out. */
			if (err && *err &&
				(resp.status == 404 || resp.status == 416 ||
					strstr((*err)->msg, "BLOB_UPLOAD_"))) {
				(*err)->code = HOIST_E_NETWORK;
				e = hoist_error_wrap(err, HOIST_E_NETWORK,
					"resume upload of blob '%s' at offset %llu",
					u->subject, (unsigned long long)start);
			}
			return e;
		}
		hoist_log(u->r->ctx, HOIST_LOG_INFO,
			"PATCH blob '%s' at offset %llu failed (%s); resuming",
			u->subject, (unsigned long long)start,
			perr ? perr->msg : "server error");
		hoist_error_free(perr);
		reg_sleep_ms(reg_backoff_ms(attempt++, reg_random()));
		uint64_t have = 0;
		if ((e = session_offset(u, off, &have, err)) < 0) {
			/* The session is lost (distribution cancels one whose
			 * state token went stale): only a fresh upload of the
			 * whole blob helps, which the caller retries on a
			 * network error. */
			if (err && *err && (*err)->code != HOIST_E_AUTH)
				(*err)->code = HOIST_E_NETWORK;
			return hoist_error_wrap(err, HOIST_E_NETWORK,
				"resume upload of blob '%s' at offset %llu",
				u->subject, (unsigned long long)start);
		}
		if (have < off || have > off + len)
			return hoist_error_set(err, HOIST_E_REGISTRY,
				"resume upload of blob '%s': registry holds %llu bytes, outside the chunk at %llu",
				u->subject, (unsigned long long)have,
				(unsigned long long)off);
		sent = (size_t)(have - off);
	}
	return 0;
}

static int put_chunked(upload *u, hoist_reader *content, hoist_error **err)
{
	size_t cs = u->r->chunk_size;
	_cleanup_free_ char *buf = malloc(cs);
	if (!buf)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	uint64_t off = 0;
	for (;;) {
		/* the verifying reader judges the content at its end: a bad
		 * blob fails here, before the closing PUT */
		ssize_t k = hoist_reader_read_full(content, buf, cs, err);
		if (k < 0)
			return hoist_error_wrap(err, HOIST_E_IO, "upload blob '%s'",
				u->subject);
		if (k == 0)
			break;
		int e = patch_chunk(u, buf, (size_t)k, off, err);
		if (e < 0)
			return e;
		off += (uint64_t)k;
		/* read_full came back short only at the end, after the
		 * verifying reader accepted the content */
		if ((size_t)k < cs)
			break;
	}
	_cleanup_free_ char *url = with_digest(u->location, u->d);
	if (!url)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	reg_request q = { .method = "PUT", .url = url, .has_body = true,
		.content_type = "application/octet-stream", .scopes = &u->scopes };
	_cleanup_(reg_response_release) reg_response resp;
	reg_response_init(&resp);
	int e = reg_do(u->r, &q, &resp, err);
	if (e < 0)
		return hoist_error_wrap(err, HOIST_E_NETWORK, "PUT blob '%s'",
			u->subject);
	return finish_put(u, &resp, err);
}

static int upload_init(upload *u, hoist_registry *r, const char *repo,
	const hoist_digest *d, hoist_error **err)
{
	*u = (upload){ .r = r, .repo = repo, .d = d };
	if (!repo || !hoist_repo_path_valid(repo))
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid repository name '%s'", repo ? repo : "");
	if (!(u->subject = reg_subject(r, repo, d->str)))
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	return reg_scopes_add(&u->scopes, "repository", repo,
		REG_ACT_PULL | REG_ACT_PUSH, err);
}

int hoist_registry_put_blob(hoist_registry *r, const char *repo,
	const hoist_digest *d, int64_t size, hoist_reader *content,
	const char *session, hoist_error **err)
{
	upload u;
	int e = upload_init(&u, r, repo, d, err);
	hoist_reader *borrowed = NULL, *verified = NULL;
	if (e == 0)
		e = reg_reader_borrow(&borrowed, content, err);
	if (e == 0) {
		_cleanup_free_ char *what = NULL;
		if (asprintf(&what, "blob '%s'", u.subject) < 0)
			e = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		else
			e = hoist_reader_new_verify(&verified, borrowed, d, size,
				what, err);
		borrowed = NULL;
	}
	if (e == 0 && session) {
		_cleanup_free_ char *base = NULL;
		if ((e = reg_base(r, &base, err)) == 0 &&
			!(u.location = reg_url_resolve(base, session)))
			e = hoist_error_set(err, HOIST_E_INVALID,
				"invalid upload session '%s'", session);
	} else if (e == 0) {
		bool mounted = false;
		e = start_session(&u, NULL, &mounted, err);
	}
	if (e == 0) {
		if (size >= 0 && (uint64_t)size <= r->chunk_threshold)
			e = put_single(&u, verified, size, err);
		else
			e = put_chunked(&u, verified, err);
	}
	hoist_reader_free(verified);
	upload_release(&u);
	return e;
}

int hoist_registry_mount_blob(hoist_registry *r, const char *repo,
	const hoist_digest *d, const char *from_repo, bool *mounted,
	char **session, hoist_error **err)
{
	*mounted = false;
	if (session)
		*session = NULL;
	if (!from_repo || !hoist_repo_path_valid(from_repo))
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid repository name '%s'", from_repo ? from_repo : "");
	upload u;
	int e = upload_init(&u, r, repo, d, err);
	/* one token for both repositories */
	if (e == 0)
		e = reg_scopes_add(&u.scopes, "repository", from_repo, REG_ACT_PULL,
			err);
	if (e == 0)
		e = start_session(&u, from_repo, mounted, err);
	if (e == 0 && !*mounted && session)
		*session = steal_ptr(&u.location);
	upload_release(&u);
	return e;
}

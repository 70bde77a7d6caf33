/* Registry operations on manifests, blob metadata, tags and the catalog,
 * plus the by-reference conveniences the CLI uses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hoist/auth.h"
#include "hoist/manifest.h"
#include "hoist/media.h"
#include "hoist/registry.h"
#include "registry/internal.h"
#include "util/cleanup.h"

static int scopes_for(reg_scopes *s, const char *repo, unsigned actions,
	hoist_error **err)
{
	*s = (reg_scopes){ 0 };
	return reg_scopes_add(s, "repository", repo, actions, err);
}

static int check_repo(const char *repo, hoist_error **err)
{
	if (!repo || !hoist_repo_path_valid(repo))
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid repository name '%s'", repo ? repo : "");
	return 0;
}

static int check_reference(const char *ref, hoist_error **err)
{
	if (ref && (hoist_tag_valid(ref) || hoist_digest_valid(ref)))
		return 0;
	return hoist_error_set(err, HOIST_E_INVALID,
		"invalid tag or digest '%s'", ref ? ref : "");
}

/* Checks the Docker-Content-Digest of a response against the bytes. */
static int check_content_digest(const reg_response *resp, const void *p,
	size_t n, const char *op, const char *subject, hoist_digest *got,
	hoist_error **err)
{
	_cleanup_free_ char *dcd = reg_response_header(resp,
		"Docker-Content-Digest");
	int e = hoist_digest_of(got, HOIST_DIGEST_SHA256, p, n, err);
	if (e < 0)
		return e;
	if (!dcd || !*dcd)
		return 0;
	hoist_digest want;
	if (hoist_digest_parse(&want, dcd, NULL) < 0)
		return hoist_error_set(err, HOIST_E_DIGEST,
			"%s '%s': registry sent an invalid Docker-Content-Digest",
			op, subject);
	hoist_digest in_algo = *got;
	if (want.algo != HOIST_DIGEST_SHA256 &&
		(e = hoist_digest_of(&in_algo, want.algo, p, n, err)) < 0)
		return e;
	if (!hoist_digest_equal(&in_algo, &want))
		return hoist_error_set(err, HOIST_E_DIGEST,
			"%s '%s': content has digest %s but the registry says %s",
			op, subject, in_algo.str, want.str);
	return 0;
}

int hoist_registry_get_manifest(hoist_registry *r, const char *repo,
	const char *reference, hoist_buf *raw, char **media_type,
	hoist_digest *digest, hoist_error **err)
{
	if (media_type)
		*media_type = NULL;
	int e;
	if ((e = check_repo(repo, err)) < 0 || (e = check_reference(reference, err)) < 0)
		return e;
	_cleanup_free_ char *subject = reg_subject(r, repo, reference);
	_cleanup_free_ char *path = NULL;
	if (!subject || asprintf(&path, "/v2/%s/manifests/%s", repo, reference) < 0)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	reg_scopes sc;
	if ((e = scopes_for(&sc, repo, REG_ACT_PULL, err)) < 0)
		return e;
	/* one byte over the limit tells "too large" from "exactly at it" */
	hoist_buf body = HOIST_BUF_INIT(HOIST_MANIFEST_MAX);
	reg_request q = { .method = "GET", .url = path,
		.accept = HOIST_MT_ACCEPT_MANIFESTS, .out = &body, .scopes = &sc };
	_cleanup_(reg_response_release) reg_response resp;
	reg_response_init(&resp);
	e = reg_do(r, &q, &resp, err);
	reg_scopes_release(&sc);
	if (e < 0) {
		hoist_buf_release(&body);
		if (e == -HOIST_E_LIMIT)
			return hoist_error_wrap(err, HOIST_E_LIMIT,
				"GET manifest '%s': manifest larger than %d bytes",
				subject, HOIST_MANIFEST_MAX);
		return hoist_error_wrap(err, HOIST_E_NETWORK, "GET manifest '%s'",
			subject);
	}
	if (resp.status != 200) {
		hoist_buf_release(&body);
		return reg_status_error(&resp, "GET manifest", subject, err);
	}
	hoist_digest got;
	e = check_content_digest(&resp, body.data ? body.data : "", body.len,
		"GET manifest", subject, &got, err);
	if (e == 0 && hoist_digest_valid(reference)) {
		hoist_digest want, in_algo = got;
		hoist_digest_parse(&want, reference, NULL);
		if (want.algo != got.algo)
			e = hoist_digest_of(&in_algo, want.algo,
				body.data ? body.data : "", body.len, err);
		if (e == 0 && !hoist_digest_equal(&in_algo, &want))
			e = hoist_error_set(err, HOIST_E_DIGEST,
				"GET manifest '%s': content has digest %s", subject,
				in_algo.str);
		if (e == 0)
			got = want;
	}
	if (e < 0) {
		hoist_buf_release(&body);
		return e;
	}
	if (media_type) {
		_cleanup_free_ char *ct = reg_response_header(&resp, "Content-Type");
		if (ct) {
			ct[strcspn(ct, ";")] = '\0';
			size_t n = strlen(ct);
			while (n && ct[n - 1] == ' ')
				ct[--n] = '\0';
			if (*ct)
				*media_type = steal_ptr(&ct);
		}
	}
	if (digest)
		*digest = got;
	e = hoist_buf_append(raw, body.data ? body.data : "", body.len, err);
	hoist_buf_release(&body);
	if (e < 0) {
		if (media_type) {
			free(*media_type);
			*media_type = NULL;
		}
		return hoist_error_wrap(err, HOIST_E_LIMIT, "GET manifest '%s'",
			subject);
	}
	return 0;
}

int hoist_registry_head_manifest(hoist_registry *r, const char *repo,
	const char *reference, bool *exists, hoist_digest *digest,
	char **media_type, int64_t *size, hoist_error **err)
{
	*exists = false;
	if (media_type)
		*media_type = NULL;
	int e;
	if ((e = check_repo(repo, err)) < 0 || (e = check_reference(reference, err)) < 0)
		return e;
	_cleanup_free_ char *subject = reg_subject(r, repo, reference);
	_cleanup_free_ char *path = NULL;
	if (!subject || asprintf(&path, "/v2/%s/manifests/%s", repo, reference) < 0)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	reg_scopes sc;
	if ((e = scopes_for(&sc, repo, REG_ACT_PULL, err)) < 0)
		return e;
	reg_request q = { .method = "HEAD", .url = path,
		.accept = HOIST_MT_ACCEPT_MANIFESTS, .scopes = &sc };
	_cleanup_(reg_response_release) reg_response resp;
	reg_response_init(&resp);
	e = reg_do(r, &q, &resp, err);
	reg_scopes_release(&sc);
	if (e < 0)
		return hoist_error_wrap(err, HOIST_E_NETWORK, "HEAD manifest '%s'",
			subject);
	if (resp.status == 404)
		return 0;
	if (resp.status != 200)
		return reg_status_error(&resp, "HEAD manifest", subject, err);
	_cleanup_free_ char *dcd = reg_response_header(&resp, "Docker-Content-Digest");
	_cleanup_free_ char *ct = reg_response_header(&resp, "Content-Type");
	_cleanup_free_ char *cl = reg_response_header(&resp, "Content-Length");
	hoist_digest d;
	if (dcd && hoist_digest_parse(&d, dcd, NULL) == 0) {
		if (hoist_digest_valid(reference) && strcmp(reference, d.str))
			return hoist_error_set(err, HOIST_E_DIGEST,
				"HEAD manifest '%s': registry says its digest is %s",
				subject, d.str);
	} else if (digest || (media_type && !ct)) {
		/* no usable header: fetch and hash the bytes */
		hoist_buf raw = HOIST_BUF_INIT(HOIST_MANIFEST_MAX);
		_cleanup_free_ char *mt = NULL;
		e = hoist_registry_get_manifest(r, repo, reference, &raw, &mt, &d,
			err);
		int64_t n = (int64_t)raw.len;
		hoist_buf_release(&raw);
		if (e < 0)
			return e;
		*exists = true;
		if (digest)
			*digest = d;
		if (size)
			*size = n;
		if (media_type)
			*media_type = steal_ptr(&mt);
		return 0;
	}
	*exists = true;
	if (digest)
		*digest = d;
	if (size) {
		char *end = NULL;
		long long v = cl ? strtoll(cl, &end, 10) : -1;
		*size = cl && end && !*end && v >= 0 ? v : -1;
	}
	if (media_type && ct) {
		ct[strcspn(ct, ";")] = '\0';
		*media_type = steal_ptr(&ct);
	}
	return 0;
}

int hoist_registry_put_manifest(hoist_registry *r, const char *repo,
	const char *reference, const char *media_type, const void *raw,
	size_t len, hoist_digest *digest, hoist_error **err)
{
	int e;
	if ((e = check_repo(repo, err)) < 0 || (e = check_reference(reference, err)) < 0)
		return e;
	_cleanup_free_ char *subject = reg_subject(r, repo, reference);
	_cleanup_free_ char *path = NULL;
	if (!subject || asprintf(&path, "/v2/%s/manifests/%s", repo, reference) < 0)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	if (len > HOIST_MANIFEST_MAX)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"PUT manifest '%s': %zu bytes exceed the limit of %d", subject,
			len, HOIST_MANIFEST_MAX);
	if (!media_type || !*media_type || strpbrk(media_type, "\r\n"))
		return hoist_error_set(err, HOIST_E_INVALID,
			"PUT manifest '%s': missing or invalid media type", subject);
	hoist_digest mine;
	if ((e = hoist_digest_of(&mine, HOIST_DIGEST_SHA256, raw, len, err)) < 0)
		return e;
	if (hoist_digest_valid(reference)) {
		hoist_digest want, in_algo = mine;
		hoist_digest_parse(&want, reference, NULL);
		if (want.algo != mine.algo &&
			(e = hoist_digest_of(&in_algo, want.algo, raw, len, err)) < 0)
			return e;
		if (!hoist_digest_equal(&in_algo, &want))
			return hoist_error_set(err, HOIST_E_DIGEST,
				"PUT manifest '%s': content has digest %s", subject,
				in_algo.str);
	}
	reg_scopes sc;
	if ((e = scopes_for(&sc, repo, REG_ACT_PULL | REG_ACT_PUSH, err)) < 0)
		return e;
	reg_request q = { .method = "PUT", .url = path, .content_type = media_type,
		.body = raw, .body_len = len, .has_body = true, .scopes = &sc };
	_cleanup_(reg_response_release) reg_response resp;
	reg_response_init(&resp);
	e = reg_do(r, &q, &resp, err);
	reg_scopes_release(&sc);
	if (e < 0)
		return hoist_error_wrap(err, HOIST_E_NETWORK, "PUT manifest '%s'",
			subject);
	if (resp.status != 201 && resp.status != 200 && resp.status != 202)
		return reg_status_error(&resp, "PUT manifest", subject, err);
	_cleanup_free_ char *dcd = reg_response_header(&resp, "Docker-Content-Digest");
	hoist_digest theirs;
	if (dcd && hoist_digest_parse(&theirs, dcd, NULL) == 0 &&
		theirs.algo == mine.algo && !hoist_digest_equal(&theirs, &mine))
		return hoist_error_set(err, HOIST_E_DIGEST,
			"PUT manifest '%s': registry stored digest %s, expected %s",
			subject, theirs.str, mine.str);
	if (digest)
		*digest = mine;
	return 0;
}

static int simple_delete(hoist_registry *r, const char *repo, const char *what,
	const char *path, const char *reference, hoist_error **err)
{
	_cleanup_free_ char *subject = reg_subject(r, repo, reference);
	if (!subject)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	reg_scopes sc;
	int e = scopes_for(&sc, repo, REG_ACT_DELETE, err);
	if (e < 0)
		return e;
	reg_request q = { .method = "DELETE", .url = path, .scopes = &sc };
	_cleanup_(reg_response_release) reg_response resp;
	reg_response_init(&resp);
	e = reg_do(r, &q, &resp, err);
	reg_scopes_release(&sc);
	if (e < 0)
		return hoist_error_wrap(err, HOIST_E_NETWORK, "DELETE %s '%s'", what,
			subject);
	if (resp.status != 202 && resp.status != 200 && resp.status != 204) {
		char op[64];
		snprintf(op, sizeof(op), "DELETE %s", what);
		return reg_status_error(&resp, op, subject, err);
	}
	return 0;
}

int hoist_registry_delete_manifest(hoist_registry *r, const char *repo,
	const hoist_digest *digest, hoist_error **err)
{
	int e = check_repo(repo, err);
	if (e < 0)
		return e;
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "/v2/%s/manifests/%s", repo, digest->str) < 0)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	return simple_delete(r, repo, "manifest", path, digest->str, err);
}

int hoist_registry_delete_blob(hoist_registry *r, const char *repo,
	const hoist_digest *d, hoist_error **err)
{
	int e = check_repo(repo, err);
	if (e < 0)
		return e;
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "/v2/%s/blobs/%s", repo, d->str) < 0)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	return simple_delete(r, repo, "blob", path, d->str, err);
}

int hoist_registry_head_blob(hoist_registry *r, const char *repo,
	const hoist_digest *d, bool *exists, int64_t *size, hoist_error **err)
{
	*exists = false;
	int e = check_repo(repo, err);
	if (e < 0)
		return e;
	_cleanup_free_ char *subject = reg_subject(r, repo, d->str);
	_cleanup_free_ char *path = NULL;
	if (!subject || asprintf(&path, "/v2/%s/blobs/%s", repo, d->str) < 0)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	reg_scopes sc;
	if ((e = scopes_for(&sc, repo, REG_ACT_PULL, err)) < 0)
		return e;
	reg_request q = { .method = "HEAD", .url = path, .scopes = &sc };
	_cleanup_(reg_response_release) reg_response resp;
	reg_response_init(&resp);
	e = reg_do(r, &q, &resp, err);
	reg_scopes_release(&sc);
	if (e < 0)
		return hoist_error_wrap(err, HOIST_E_NETWORK, "HEAD blob '%s'",
			subject);
	if (resp.status == 404)
		return 0;
	/* A HEAD that redirects to storage still means it exists. */
	if (resp.status != 200 && resp.status != 307 && resp.status != 302)
		return reg_status_error(&resp, "HEAD blob", subject, err);
	*exists = true;
	if (size) {
		_cleanup_free_ char *cl = reg_response_header(&resp, "Content-Length");
		char *end = NULL;
		long long v = cl ? strtoll(cl, &end, 10) : -1;
		*size = resp.status == 200 && cl && end && !*end && v >= 0 ? v : -1;
	}
	return 0;
}

/* Listing */

void hoist_registry_strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

static int list_pages(hoist_registry *r, const char *first, const char *key,
	const reg_scopes *sc, const char *op, const char *subject, char ***out,
	size_t *n_out, hoist_error **err)
{
	*out = NULL;
	*n_out = 0;
	char **v = NULL;
	size_t n = 0, cap = 0;
	_cleanup_free_ char *url = strdup(first);
	if (!url)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	int e = 0;
	for (int page = 0; url; page++) {
		if (page >= REG_LIST_PAGES_MAX) {
			e = hoist_error_set(err, HOIST_E_LIMIT,
				"%s '%s': more than %d pages", op, subject,
				REG_LIST_PAGES_MAX);
			break;
		}
		hoist_buf body = HOIST_BUF_INIT(REG_LIST_BODY_MAX);
		reg_request q = { .method = "GET", .url = url, .out = &body,
			.scopes = sc };
		_cleanup_(reg_response_release) reg_response resp;
		reg_response_init(&resp);
		e = reg_do(r, &q, &resp, err);
		if (e < 0) {
			hoist_buf_release(&body);
			e = hoist_error_wrap(err, HOIST_E_NETWORK, "%s '%s'", op,
				subject);
			break;
		}
		if (resp.status != 200) {
			hoist_buf_release(&body);
			e = reg_status_error(&resp, op, subject, err);
			break;
		}
		json_error_t je;
		json_t *root = json_loadb(body.data ? body.data : "", body.len, 0, &je);
		hoist_buf_release(&body);
		json_t *arr = json_object_get(root, key);
		if (!json_is_object(root) || (arr && !json_is_array(arr) &&
						     !json_is_null(arr))) {
			json_decref(root);
			e = hoist_error_set(err, HOIST_E_REGISTRY,
				"%s '%s': invalid response: no \"%s\" list", op,
				subject, key);
			break;
		}
		size_t i;
		json_t *it;
		json_array_foreach(arr, i, it) {
			const char *s = json_string_value(it);
			if (!s)
				continue;
			if (n >= REG_LIST_ENTRIES_MAX) {
				e = hoist_error_set(err, HOIST_E_LIMIT,
					"%s '%s': more than %d entries", op, subject,
					REG_LIST_ENTRIES_MAX);
				break;
			}
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 64;
				char **nv = realloc(v, nc * sizeof(*nv));
				if (!nv) {
					e = hoist_error_set(err, HOIST_E_NOMEM,
						"out of memory");
					break;
				}
				v = nv;
				cap = nc;
			}
			if (!(v[n] = strdup(s))) {
				e = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
				break;
			}
			n++;
		}
		json_decref(root);
		if (e < 0)
			break;
		_cleanup_free_ char *link = reg_response_header(&resp, "Link");
		free(url);
		url = link && resp.url ? reg_link_next(link, resp.url) : NULL;
		/* Pages stay on the registry. */
		if (url && resp.url) {
			_cleanup_free_ char *o1 = reg_url_origin(url);
			_cleanup_free_ char *o2 = reg_url_origin(resp.url);
			if (!o1 || !o2 || strcmp(o1, o2)) {
				e = hoist_error_set(err, HOIST_E_REGISTRY,
					"%s '%s': next page is on another host", op,
					subject);
				break;
			}
		}
	}
	if (e < 0) {
		hoist_registry_strv_free(v, n);
		return e;
	}
	*out = v;
	*n_out = n;
	return 0;
}

int hoist_registry_list_tags(hoist_registry *r, const char *repo,
	char ***tags, size_t *n, hoist_error **err)
{
	*tags = NULL;
	*n = 0;
	int e = check_repo(repo, err);
	if (e < 0)
		return e;
	_cleanup_free_ char *subject = reg_subject(r, repo, NULL);
	_cleanup_free_ char *path = NULL;
	int k = r->page_size > 0
		? asprintf(&path, "/v2/%s/tags/list?n=%d", repo, r->page_size)
		: asprintf(&path, "/v2/%s/tags/list", repo);
	if (!subject || k < 0)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	reg_scopes sc;
	if ((e = scopes_for(&sc, repo, REG_ACT_PULL, err)) < 0)
		return e;
	e = list_pages(r, path, "tags", &sc, "list tags", subject, tags, n, err);
	reg_scopes_release(&sc);
	return e;
}

int hoist_registry_catalog(hoist_registry *r, char ***repos, size_t *n,
	hoist_error **err)
{
	_cleanup_free_ char *path = NULL;
	int k = r->page_size > 0
		? asprintf(&path, "/v2/_catalog?n=%d", r->page_size)
		: asprintf(&path, "/v2/_catalog");
	if (k < 0)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	reg_scopes sc = { 0 };
	int e = reg_scopes_add(&sc, "registry", "catalog", REG_ACT_ALL, err);
	if (e < 0)
		return e;
	e = list_pages(r, path, "repositories", &sc, "list catalog", r->domain,
		repos, n, err);
	reg_scopes_release(&sc);
	return e;
}

int hoist_registry_ping(hoist_registry *r, hoist_error **err)
{
	/* Ask for /v2/ with credentials: with Basic that checks them; with
	 * Bearer the token server checks them when issuing a token (an empty
	 * scope set still authenticates the client). */
	reg_scopes none = { 0 };
	reg_request q = { .method = "GET", .url = "/v2/", .scopes = &none };
	_cleanup_(reg_response_release) reg_response resp;
	reg_response_init(&resp);
	int e = reg_do(r, &q, &resp, err);
	if (e < 0)
		return hoist_error_wrap(err, HOIST_E_NETWORK, "ping '%s'", r->domain);
	if (resp.status == 401 || resp.status == 403) {
		reg_status_error(&resp, "GET", "/v2/", err);
		return hoist_error_wrap(err, HOIST_E_AUTH,
			"authenticate to '%s'", r->domain);
	}
	if (resp.status != 200)
		return reg_status_error(&resp, "ping", r->domain, err);
	return 0;
}

/* By reference */

HOIST_DEFINE_CLEANUP(hoist_registry, hoist_registry_free)

static const char *ref_reference(const hoist_ref *ref)
{
	return ref->digest ? ref->digest : hoist_ref_reference(ref);
}

int hoist_registry_resolve(hoist_ctx *ctx, const hoist_ref *ref,
	hoist_digest *digest, char **media_type, hoist_error **err)
{
	hoist_registry *r = NULL;
	int e = hoist_registry_shared(&r, ctx, ref->domain, err);
	if (e < 0)
		return e;
	bool exists = false;
	e = hoist_registry_head_manifest(r, ref->path, ref_reference(ref), &exists,
		digest, media_type, NULL, err);
	if (e < 0)
		return e;
	if (!exists) {
		_cleanup_free_ char *s = reg_subject(r, ref->path, ref_reference(ref));
		return hoist_error_set(err, HOIST_E_NOTFOUND,
			"manifest '%s' not found", s ? s : ref->path);
	}
	return 0;
}

int hoist_registry_delete(hoist_ctx *ctx, const hoist_ref *ref,
	hoist_error **err)
{
	hoist_registry *r = NULL;
	int e = hoist_registry_shared(&r, ctx, ref->domain, err);
	if (e < 0)
		return e;
	hoist_digest d;
	if (ref->digest) {
		if ((e = hoist_digest_parse(&d, ref->digest, err)) < 0)
			return e;
	} else {
		bool exists = false;
		e = hoist_registry_head_manifest(r, ref->path, ref_reference(ref),
			&exists, &d, NULL, NULL, err);
		if (e < 0)
			return e;
		if (!exists) {
			_cleanup_free_ char *s = reg_subject(r, ref->path,
				ref_reference(ref));
			return hoist_error_set(err, HOIST_E_NOTFOUND,
				"manifest '%s' not found", s ? s : ref->path);
		}
	}
	return hoist_registry_delete_manifest(r, ref->path, &d, err);
}

int hoist_registry_retag(hoist_ctx *ctx, const hoist_ref *ref,
	const char *new_tag, hoist_error **err)
{
	if (!new_tag || !hoist_tag_valid(new_tag))
		return hoist_error_set(err, HOIST_E_INVALID, "invalid tag '%s'",
			new_tag ? new_tag : "");
	hoist_registry *r = NULL;
	int e = hoist_registry_shared(&r, ctx, ref->domain, err);
	if (e < 0)
		return e;
	if ((e = hoist_registry_want_push(r, ref->path, err)) < 0)
		return e;
	hoist_buf raw = HOIST_BUF_INIT(HOIST_MANIFEST_MAX);
	_cleanup_free_ char *mt = NULL;
	e = hoist_registry_get_manifest(r, ref->path, ref_reference(ref), &raw,
		&mt, NULL, err);
	if (e == 0 && !mt) {
		/* no Content-Type: take the mediaType field */
		json_error_t je;
		json_t *root = json_loadb(raw.data, raw.len, 0, &je);
		const char *m = json_string_value(json_object_get(root, "mediaType"));
		mt = m ? strdup(m) : NULL;
		json_decref(root);
		if (!mt)
			e = hoist_error_set(err, HOIST_E_INVALID,
				"manifest of '%s' has no media type", ref->path);
	}
	if (e == 0)
		e = hoist_registry_put_manifest(r, ref->path, new_tag, mt, raw.data,
			raw.len, NULL, err);
	hoist_buf_release(&raw);
	return e;
}

int hoist_registry_login(hoist_ctx *ctx, const char *domain, const char *user,
	const char *password, hoist_error **err)
{
	/* a private client: the shared one may hold other credentials */
	_cleanup_(hoist_registry_freep) hoist_registry *r = NULL;
	int e = hoist_registry_new(&r, ctx, domain, err);
	if (e < 0)
		return e;
	if ((e = hoist_registry_set_credentials(r, user, password, err)) < 0)
		return e;
	e = hoist_registry_ping(r, err);
	if (e == 0 && reg_auth_kind(r) == REG_AUTH_NONE)
		hoist_log(ctx, HOIST_LOG_WARN,
			"registry '%s' does not ask for credentials", domain);
	if (e < 0)
		return hoist_error_wrap(err, HOIST_E_AUTH, "login to '%s'", domain);
	if ((e = hoist_auth_store(ctx, domain, user, password, err)) < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "login to '%s'", domain);
	return 0;
}

int hoist_registry_logout(hoist_ctx *ctx, const char *domain, hoist_error **err)
{
	int e = hoist_auth_remove(ctx, domain, err);
	if (e < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "logout from '%s'", domain);
	return 0;
}

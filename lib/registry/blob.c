/* The pull reader of a registry blob.
 *
 * A curl multi handle per reader is driven from read(): the write callback
 * appends to a bounded window and pauses the transfer when the window is
 * full; read() drains the window and unpauses.  So a registry-to-registry
 * copy streams through fixed buffers.  Redirects are followed by hand so
 * that the registry's Authorization never goes to another host.  When the
 * connection breaks mid-blob the transfer restarts at the offset reached,
 * with "Range: bytes=N-" when the server supports ranges, else from the
 * start skipping N bytes; the caller sees one continuous stream. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hoist/registry.h"
#include "registry/internal.h"
#include "util/cleanup.h"

#define WINDOW (2 * CURL_MAX_WRITE_SIZE + HOIST_IO_CHUNK)

typedef struct blob_reader {
	hoist_reader base;
	hoist_registry *r;
	char *subject;
	char *url;        /* the registry's blob URL */
	char *cur;        /* current URL (after redirects) */
	char *origin;     /* the registry's origin */
	reg_scopes scopes;
	int64_t size;

	CURLM *multi;
	CURL *easy;
	struct curl_slist *hdrs;
	reg_response resp;
	char errbuf[CURL_ERROR_SIZE];
	bool running;     /* easy is in the multi */
	bool paused;
	bool done;        /* transfer finished, result in `result` */
	CURLcode result;

	char *win;
	size_t win_cap, win_off, win_len;
	uint64_t delivered;   /* bytes given to the caller or in the window */
	uint64_t skip;        /* bytes to drop at the start of this transfer */
	bool ranges;          /* the server honours Range */
	bool asked_range;     /* this transfer sent Range */
	bool checked;         /* status and Content-Range of this transfer checked */
	bool eof;
	int attempts;
	int redirects;
	bool reauthed;
	bool force_auth;
	hoist_error *cb_err;
} blob_reader;

static void stop(blob_reader *b)
{
	if (b->easy) {
		if (b->running)
			curl_multi_remove_handle(b->multi, b->easy);
		curl_easy_cleanup(b->easy);
		b->easy = NULL;
	}
	curl_slist_free_all(b->hdrs);
	b->hdrs = NULL;
	b->running = b->paused = b->done = false;
}

/* Checks the first body bytes of a 2xx transfer: 206 must start where we
 * asked, 200 after a Range means the server ignored it. */
static int check_start(blob_reader *b)
{
	b->checked = true;
	if (b->resp.status == 206) {
		b->ranges = true;
		_cleanup_free_ char *cr = reg_response_header(&b->resp,
			"Content-Range");
		unsigned long long start = 0;
		if (!cr || sscanf(cr, "bytes %llu-", &start) != 1 ||
			start != b->delivered)
			return hoist_error_set(&b->cb_err, HOIST_E_REGISTRY,
				"GET blob '%s': server resumed at the wrong offset",
				b->subject);
		b->skip = 0;
		return 0;
	}
	_cleanup_free_ char *ar = reg_response_header(&b->resp, "Accept-Ranges");
	if (ar && strstr(ar, "bytes"))
		b->ranges = true;
	/* a 200 is the whole blob: drop what the caller already has */
	b->skip = b->delivered;
	return 0;
}

static size_t write_cb(char *p, size_t size, size_t n, void *ud)
{
	blob_reader *b = ud;
	size_t len = size * n;
	long st = b->resp.status;
	if (st < 200 || st >= 300) {
		/* redirect bodies are dropped, error bodies kept for messages */
		if (st >= 400) {
			size_t room = b->resp.errbody.max - b->resp.errbody.len;
			hoist_buf_append(&b->resp.errbody, p, len < room ? len : room,
				NULL);
		}
		return len;
	}
	if (!b->checked && check_start(b) < 0)
		return 0;
	size_t drop = 0;
	if (b->skip) {
		drop = b->skip < len ? (size_t)b->skip : len;
		b->skip -= drop;
		if (drop == len)
			return len;
	}
	size_t take = len - drop;
	if (b->win_off + b->win_len + take > b->win_cap && b->win_off) {
		memmove(b->win, b->win + b->win_off, b->win_len);
		b->win_off = 0;
	}
	if (b->win_len + take > b->win_cap) {
		if (b->win_len) {
			/* Full: curl keeps the data and hands it again on
			 * unpause.  Undo the skip we just took. */
			b->skip += drop;
			b->paused = true;
			return CURL_WRITEFUNC_PAUSE;
		}
		/* a single delivery larger than the window (curl's own
		 * bound): grow once to hold it */
		char *nw = realloc(b->win, take);
		if (!nw) {
			hoist_error_set(&b->cb_err, HOIST_E_NOMEM, "out of memory");
			return 0;
		}
		b->win = nw;
		b->win_cap = take;
	}
	memcpy(b->win + b->win_off + b->win_len, p + drop, take);
	b->win_len += take;
	b->delivered += take;
	return len;
}

static int start(blob_reader *b, hoist_error **err)
{
	stop(b);
	hoist_buf_reset(&b->resp.headers);
	hoist_buf_reset(&b->resp.errbody);
	b->resp.status = 0;
	b->checked = false;
	b->skip = 0;
	b->asked_range = false;
	_cleanup_free_ char *origin = reg_url_origin(b->cur);
	bool same = origin && !strcmp(origin, b->origin);
	_cleanup_free_ char *auth = NULL;
	if (same) {
		int e = reg_auth_header(b->r, &b->scopes, b->force_auth, &auth, err);
		b->force_auth = false;
		if (e < 0)
			return e;
	}
	if (!(b->easy = curl_easy_init()))
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	struct curl_slist *t;
	char range[64];
	if (auth) {
		t = curl_slist_append(b->hdrs, auth);
		explicit_bzero(auth, strlen(auth));
		if (!t)
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		b->hdrs = t;
	}
	if (b->delivered && b->ranges) {
		snprintf(range, sizeof(range), "Range: bytes=%llu-",
			(unsigned long long)b->delivered);
		if (!(t = curl_slist_append(b->hdrs, range)))
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		b->hdrs = t;
		b->asked_range = true;
	}
	reg_easy_common(b->r, b->easy);
	curl_easy_setopt(b->easy, CURLOPT_URL, b->cur);
	curl_easy_setopt(b->easy, CURLOPT_HTTPHEADER, b->hdrs);
	curl_easy_setopt(b->easy, CURLOPT_HEADERFUNCTION, reg_header_cb);
	curl_easy_setopt(b->easy, CURLOPT_HEADERDATA, &b->resp);
	curl_easy_setopt(b->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(b->easy, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(b->easy, CURLOPT_ERRORBUFFER, b->errbuf);
	b->errbuf[0] = '\0';
	if (curl_multi_add_handle(b->multi, b->easy) != CURLM_OK)
		return hoist_error_set(err, HOIST_E_NOMEM,
			"cannot start transfer");
	b->running = true;
	return 0;
}

/* Decides what to do once a transfer ended: done (eof), restart (retry,
 * redirect, re-auth), or fail. */
static int finished(blob_reader *b, hoist_error **err)
{
	long st = 0;
	curl_easy_getinfo(b->easy, CURLINFO_RESPONSE_CODE, &st);
	if (st)
		b->resp.status = st;
	reg_count(b->r, "GET", b->cur, b->result == CURLE_OK ? b->resp.status : 0);
	if (b->cb_err) {
		if (err && !*err)
			*err = steal_ptr(&b->cb_err);
		else
			hoist_error_freep(&b->cb_err);
		return -(err && *err ? (*err)->code : HOIST_E_IO);
	}
	int retries = hoist_ctx_retries(b->r->ctx);
	if (b->result == CURLE_OK) {
		long s = b->resp.status;
		if (s >= 200 && s < 300) {
			if (!b->checked)
				check_start(b); /* empty body */
			if (b->cb_err)
				return finished(b, err);
			b->eof = true;
			stop(b);
			return 0;
		}
		if (s == 301 || s == 302 || s == 303 || s == 307 || s == 308) {
			char *loc = NULL;
			curl_easy_getinfo(b->easy, CURLINFO_REDIRECT_URL, &loc);
			if (!loc || ++b->redirects > REG_REDIRECTS_MAX)
				return hoist_error_set(err, HOIST_E_REGISTRY,
					"GET blob '%s': too many or empty redirects",
					b->subject);
			char *n = strdup(loc);
			if (!n)
				return hoist_error_set(err, HOIST_E_NOMEM,
					"out of memory");
			free(b->cur);
			b->cur = n;
			return start(b, err);
		}
		if (s == 401 && !b->reauthed) {
			b->reauthed = true;
			b->force_auth = true;
			free(b->cur);
			if (!(b->cur = strdup(b->url)))
				return hoist_error_set(err, HOIST_E_NOMEM,
					"out of memory");
			b->redirects = 0;
			return start(b, err);
		}
		if (s == 416 && b->asked_range) {
			/* the server no longer takes our range: start over */
			b->ranges = false;
		} else if (!(s == 429 || s >= 500) || b->attempts >= retries) {
			if (s == 401)
				reg_hint_401(b->r, &b->resp);
			return reg_status_error(&b->resp, "GET blob", b->subject, err);
		}
	} else if (!reg_curl_retryable(b->result) || b->attempts >= retries) {
		return hoist_error_set(err, HOIST_E_NETWORK,
			"GET blob '%s': %s after %llu bytes", b->subject,
			*b->errbuf ? b->errbuf : curl_easy_strerror(b->result),
			(unsigned long long)b->delivered);
	}
	_cleanup_free_ char *ra = reg_response_header(&b->resp, "Retry-After");
	long ms = reg_retry_after_ms(ra);
	if (ms < 0)
		ms = reg_backoff_ms(b->attempts, reg_random());
	hoist_log(b->r->ctx, HOIST_LOG_INFO,
		"GET blob '%s': %s at byte %llu; retrying in %ld ms", b->subject,
		b->result == CURLE_OK ? "server error"
				      : (*b->errbuf ? b->errbuf
						    : curl_easy_strerror(b->result)),
		(unsigned long long)b->delivered, ms);
	b->attempts++;
	reg_sleep_ms(ms);
	/* A storage redirect may have expired: go back to the registry. */
	free(b->cur);
	if (!(b->cur = strdup(b->url)))
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	b->redirects = 0;
	return start(b, err);
}

/* Runs the transfer until the window has data, or the blob ended. */
static int fill(blob_reader *b, hoist_error **err)
{
	while (b->win_len == 0 && !b->eof) {
		if (!b->easy) {
			int e = start(b, err);
			if (e < 0)
				return e;
		}
		if (b->paused) {
			b->paused = false;
			curl_easy_pause(b->easy, CURLPAUSE_CONT);
			if (b->win_len)
				break;
		}
		int still = 0;
		CURLMcode mc = curl_multi_perform(b->multi, &still);
		if (mc != CURLM_OK)
			return hoist_error_set(err, HOIST_E_NETWORK,
				"GET blob '%s': %s", b->subject,
				curl_multi_strerror(mc));
		CURLMsg *m;
		int q;
		while ((m = curl_multi_info_read(b->multi, &q))) {
			if (m->msg == CURLMSG_DONE && m->easy_handle == b->easy) {
				b->done = true;
				b->result = m->data.result;
			}
		}
		if (b->done && b->win_len == 0) {
			int e = finished(b, err);
			if (e < 0)
				return e;
			continue;
		}
		if (b->done || b->win_len || b->paused)
			break;
		if (b->cb_err)
			continue;
		mc = curl_multi_poll(b->multi, NULL, 0, 1000, NULL);
		if (mc != CURLM_OK)
			return hoist_error_set(err, HOIST_E_NETWORK,
				"GET blob '%s': %s", b->subject,
				curl_multi_strerror(mc));
	}
	return 0;
}

static ssize_t blob_read(hoist_reader *rd, void *buf, size_t n,
	hoist_error **err)
{
	blob_reader *b = (blob_reader *)rd;
	if (n == 0)
		return 0;
	for (;;) {
		if (b->win_len) {
			size_t k = n < b->win_len ? n : b->win_len;
			memcpy(buf, b->win + b->win_off, k);
			b->win_off += k;
			b->win_len -= k;
			if (!b->win_len)
				b->win_off = 0;
			return (ssize_t)k;
		}
		if (b->eof)
			return 0;
		/* the transfer finished while data was still in the window */
		if (b->done) {
			int e = finished(b, err);
			if (e < 0)
				return e;
			continue;
		}
		int e = fill(b, err);
		if (e < 0)
			return e;
		if (!b->win_len && b->eof)
			return 0;
	}
}

static void blob_free(hoist_reader *rd)
{
	blob_reader *b = (blob_reader *)rd;
	stop(b);
	if (b->multi)
		curl_multi_cleanup(b->multi);
	reg_response_release(&b->resp);
	reg_scopes_release(&b->scopes);
	hoist_error_freep(&b->cb_err);
	free(b->win);
	free(b->subject);
	free(b->url);
	free(b->cur);
	free(b->origin);
	free(b);
}

static const hoist_reader_ops blob_ops = { blob_read, blob_free };

int hoist_registry_open_blob(hoist_registry *r, const char *repo,
	const hoist_digest *d, int64_t size, hoist_reader **out,
	hoist_error **err)
{
	*out = NULL;
	if (!repo || !hoist_repo_path_valid(repo))
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid repository name '%s'", repo ? repo : "");
	blob_reader *b = calloc(1, sizeof(*b));
	if (!b)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	b->base.ops = &blob_ops;
	b->r = r;
	b->size = size;
	reg_response_init(&b->resp);
	hoist_reader *self = &b->base;
	int e = reg_base(r, &b->origin, err);
	if (e == 0 && (!(b->subject = reg_subject(r, repo, d->str)) ||
			      !(b->win = malloc(WINDOW)) ||
			      (asprintf(&b->url, "%s/v2/%s/blobs/%s", b->origin,
				       repo, d->str) < 0 && !(b->url = NULL)) ||
			      !(b->cur = strdup(b->url)) ||
			      !(b->multi = curl_multi_init())))
		e = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	b->win_cap = WINDOW;
	if (e == 0)
		e = reg_scopes_add(&b->scopes, "repository", repo, REG_ACT_PULL, err);
	/* Make the request now: a missing blob fails here, not at the
	 * first read. */
	if (e == 0)
		e = fill(b, err);
	if (e < 0) {
		hoist_reader_free(self);
		/* errors from the transfer already name the blob */
		if (err && *err && strstr((*err)->msg, d->str))
			return e;
		return hoist_error_wrap(err, HOIST_E_NETWORK, "GET blob '%s/%s@%s'",
			r->domain, repo, d->str);
	}
	_cleanup_free_ char *what = NULL;
	if (asprintf(&what, "blob '%s'", b->subject) < 0) {
		hoist_reader_free(self);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	return hoist_reader_new_verify(out, self, d, size, what, err);
}

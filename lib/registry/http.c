/* The HTTP layer of the registry client: the client object, one exchange
 * with libcurl, the ping that learns scheme and challenge, retries with
 * backoff, and the small parsers around responses (error bodies, Link,
 * Retry-After) that the unit tests reach directly. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "hoist/ref.h"
#include "registry/internal.h"
#include "util/cleanup.h"

/* Scope sets */

void reg_scopes_release(reg_scopes *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].type);
		free(s->v[i].name);
	}
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

static int scope_cmp(const char *t1, const char *n1, const char *t2,
	const char *n2)
{
	int c = strcmp(t1, t2);
	return c ? c : strcmp(n1, n2);
}

int reg_scopes_add(reg_scopes *s, const char *type, const char *name,
	unsigned actions, hoist_error **err)
{
	size_t i = 0;
	for (; i < s->n; i++) {
		int c = scope_cmp(s->v[i].type, s->v[i].name, type, name);
		if (c == 0) {
			s->v[i].actions |= actions;
			return 0;
		}
		if (c > 0)
			break;
	}
	reg_scope *v = realloc(s->v, (s->n + 1) * sizeof(*v));
	if (!v)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	s->v = v;
	char *t = strdup(type), *n = strdup(name);
	if (!t || !n) {
		free(t);
		free(n);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	memmove(&v[i + 1], &v[i], (s->n - i) * sizeof(*v));
	v[i] = (reg_scope){ t, n, actions };
	s->n++;
	return 0;
}

int reg_scopes_merge(reg_scopes *dst, const reg_scopes *src, hoist_error **err)
{
	for (size_t i = 0; src && i < src->n; i++) {
		int r = reg_scopes_add(dst, src->v[i].type, src->v[i].name,
			src->v[i].actions, err);
		if (r < 0)
			return r;
	}
	return 0;
}

bool reg_scopes_cover(const reg_scopes *have, const reg_scopes *want)
{
	for (size_t i = 0; want && i < want->n; i++) {
		bool ok = false;
		for (size_t j = 0; have && j < have->n; j++) {
			if (scope_cmp(have->v[j].type, have->v[j].name,
				    want->v[i].type, want->v[i].name))
				continue;
			unsigned h = have->v[j].actions;
			ok = (h & REG_ACT_ALL) || (want->v[i].actions & ~h) == 0;
			break;
		}
		if (!ok)
			return false;
	}
	return true;
}

char *reg_actions_string(unsigned a)
{
	hoist_buf b = HOIST_BUF_INIT(64);
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = { { REG_ACT_PULL, "pull" }, { REG_ACT_PUSH, "push" },
		{ REG_ACT_DELETE, "delete" }, { REG_ACT_ALL, "*" } };
	for (size_t i = 0; i < HOIST_ARRAY_SIZE(names); i++) {
		if (!(a & names[i].bit))
			continue;
		if ((b.len && hoist_buf_appends(&b, ",", NULL) < 0) ||
			hoist_buf_appends(&b, names[i].name, NULL) < 0) {
			hoist_buf_release(&b);
			return NULL;
		}
	}
	if (!b.data)
		return strdup("");
	return hoist_buf_steal(&b, NULL);
}

unsigned reg_actions_parse(const char *s)
{
	unsigned a = 0;
	while (s && *s) {
		const char *e = strchr(s, ',');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n == 4 && !strncmp(s, "pull", 4))
			a |= REG_ACT_PULL;
		else if (n == 4 && !strncmp(s, "push", 4))
			a |= REG_ACT_PUSH;
		else if (n == 6 && !strncmp(s, "delete", 6))
			a |= REG_ACT_DELETE;
		else if (n == 1 && *s == '*')
			a |= REG_ACT_ALL;
		s = e ? e + 1 : NULL;
	}
	return a;
}

static char *scopes_join(const reg_scopes *s, bool query)
{
	hoist_buf b = HOIST_BUF_INIT(64 * 1024);
	for (size_t i = 0; i < s->n; i++) {
		_cleanup_free_ char *acts = reg_actions_string(s->v[i].actions);
		_cleanup_free_ char *one = NULL;
		if (!acts || asprintf(&one, "%s:%s:%s", s->v[i].type,
				     s->v[i].name, acts) < 0)
			goto fail;
		if (query) {
			char *esc = curl_easy_escape(NULL, one, 0);
			if (!esc)
				goto fail;
			int r = hoist_buf_appendf(&b, NULL, "&scope=%s", esc);
			curl_free(esc);
			if (r < 0)
				goto fail;
		} else if ((b.len && hoist_buf_appends(&b, " ", NULL) < 0) ||
			hoist_buf_appends(&b, one, NULL) < 0) {
			goto fail;
		}
	}
	if (!b.data)
		return strdup("");
	return hoist_buf_steal(&b, NULL);
fail:
	hoist_buf_release(&b);
	return NULL;
}

char *reg_scopes_string(const reg_scopes *s)
{
	return scopes_join(s, false);
}

char *reg_scopes_query(const reg_scopes *s)
{
	return scopes_join(s, true);
}

/* Responses */

void reg_response_init(reg_response *resp)
{
	resp->status = 0;
	hoist_buf_init(&resp->headers, REG_HEADERS_MAX);
	hoist_buf_init(&resp->errbody, REG_ERRBODY_MAX);
	resp->url = NULL;
	resp->hint[0] = '\0';
}

void reg_response_release(reg_response *resp)
{
	hoist_buf_release(&resp->headers);
	hoist_buf_release(&resp->errbody);
	free(resp->url);
	resp->url = NULL;
}

static void response_reset(reg_response *resp)
{
	resp->status = 0;
	hoist_buf_reset(&resp->headers);
	hoist_buf_reset(&resp->errbody);
	free(resp->url);
	resp->url = NULL;
	resp->hint[0] = '\0';
}

char *reg_header_get(const char *block, size_t len, const char *name)
{
	size_t nl = strlen(name);
	const char *p = block, *end = block + len;
	while (p && p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *le = eol ? eol : end;
		if ((size_t)(le - p) > nl && p[nl] == ':' &&
			!strncasecmp(p, name, nl)) {
			const char *v = p + nl + 1;
			while (v < le && (*v == ' ' || *v == '\t'))
				v++;
			const char *ve = le;
			while (ve > v && isspace((unsigned char)ve[-1]))
				ve--;
			return strndup(v, (size_t)(ve - v));
		}
		p = eol ? eol + 1 : NULL;
	}
	return NULL;
}

char *reg_response_header(const reg_response *resp, const char *name)
{
	if (!resp->headers.data)
		return NULL;
	return reg_header_get(resp->headers.data, resp->headers.len, name);
}

size_t reg_header_cb(char *p, size_t size, size_t n, void *ud)
{
	reg_response *resp = ud;
	size_t len = size * n;
	/* A status line starts a new response (after a 100 Continue or a
	 * redirect): only the last one's headers count. */
	if (len >= 5 && !strncmp(p, "HTTP/", 5)) {
		hoist_buf_reset(&resp->headers);
		const char *sp = memchr(p, ' ', len);
		if (sp && (size_t)(sp - p) + 4 <= len) {
			long st = 0;
			for (int i = 1; i <= 3 && isdigit((unsigned char)sp[i]); i++)
				st = st * 10 + (sp[i] - '0');
			resp->status = st;
		}
	}
	if (hoist_buf_append(&resp->headers, p, len, NULL) < 0)
		return 0;
	return len;
}

/* Errors */

char *reg_error_body_message(const char *body, size_t len, char **code_out)
{
	if (code_out)
		*code_out = NULL;
	if (!body || !len)
		return NULL;
	json_error_t je;
	json_t *root = json_loadb(body, len, 0, &je);
	if (!root)
		return NULL;
	char *msg = NULL;
	json_t *errs = json_object_get(root, "errors");
	json_t *e0 = json_is_array(errs) ? json_array_get(errs, 0) : NULL;
	const char *code = json_string_value(json_object_get(e0, "code"));
	const char *m = json_string_value(json_object_get(e0, "message"));
	if (code && *code) {
		size_t ne = json_array_size(errs);
		if (m && *m) {
			if (asprintf(&msg, "%s: %s%s", code, m,
				    ne > 1 ? " (and more errors)" : "") < 0)
				msg = NULL;
		} else {
			msg = strdup(code);
		}
		if (code_out)
			*code_out = strdup(code);
	}
	json_decref(root);
	return msg;
}

static const char *status_text(long st)
{
	switch (st) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 416: return "Range Not Satisfiable";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "unexpected status";
	}
}

int reg_status_error(const reg_response *resp, const char *op,
	const char *subject, hoist_error **err)
{
	_cleanup_free_ char *code = NULL;
	_cleanup_free_ char *m = reg_error_body_message(resp->errbody.data,
		resp->errbody.len, &code);
	long st = resp->status;
	int kind = HOIST_E_REGISTRY;
	if (st == 401 || st == 403)
		kind = HOIST_E_AUTH;
	else if (st == 404)
		kind = HOIST_E_NOTFOUND;
	else if (code && (!strcmp(code, "DIGEST_INVALID") ||
			   !strcmp(code, "SIZE_INVALID")))
		kind = HOIST_E_DIGEST;
	const char *h = resp->hint;
	return hoist_error_set(err, kind, "%s '%s': %ld %s%s%s%s", op, subject,
		st, m ? m : status_text(st), *h ? " (" : "", h, *h ? ")" : "");
}

/* URLs */

char *reg_url_origin(const char *url)
{
	const char *p = strstr(url, "://");
	if (!p)
		return NULL;
	p += 3;
	size_t n = strcspn(p, "/?#");
	char *o = strndup(url, (size_t)(p - url) + n);
	for (char *c = o; c && *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return o;
}

char *reg_url_resolve(const char *base_url, const char *target)
{
	if (!target || !*target)
		return NULL;
	if (strstr(target, "://") && strcspn(target, ":") < strcspn(target, "/?"))
		return strdup(target);
	char *out = NULL;
	if (target[0] == '/' && target[1] == '/') {
		size_t sl = strcspn(base_url, ":");
		if (asprintf(&out, "%.*s:%s", (int)sl, base_url, target) < 0)
			return NULL;
		return out;
	}
	_cleanup_free_ char *origin = reg_url_origin(base_url);
	if (!origin)
		return NULL;
	if (target[0] == '/') {
		if (asprintf(&out, "%s%s", origin, target) < 0)
			return NULL;
		return out;
	}
	/* Relative path: replace the last segment of the base path. */
	const char *path = base_url + strlen(origin);
	size_t plen = strcspn(path, "?#");
	const char *slash = NULL;
	for (const char *c = path; c < path + plen; c++)
		if (*c == '/')
			slash = c;
	size_t keep = slash ? (size_t)(slash - path) + 1 : 0;
	if (asprintf(&out, "%s%s%.*s%s", origin, keep ? "" : "/", (int)keep,
		    path, target) < 0)
		return NULL;
	return out;
}

char *reg_link_next(const char *link, const char *base_url)
{
	/* Link: <url>; rel="next", <url2>; rel="prev" */
	const char *p = link;
	while (p && *p) {
		const char *lt = strchr(p, '<');
		if (!lt)
			return NULL;
		const char *gt = strchr(lt, '>');
		if (!gt)
			return NULL;
		const char *end = gt + 1;
		bool next = false;
		/* parameters up to the next ',' outside quotes */
		bool q = false;
		while (*end && (q || *end != ',')) {
			if (*end == '"')
				q = !q;
			end++;
		}
		_cleanup_free_ char *params = strndup(gt + 1, (size_t)(end - gt - 1));
		if (!params)
			return NULL;
		for (char *c = params; *c; c++) {
			char *s = c;
			while (*s == ' ' || *s == ';' || *s == '\t')
				s++;
			if (!strncasecmp(s, "rel", 3)) {
				s += 3;
				while (*s == ' ')
					s++;
				if (*s == '=') {
					s++;
					while (*s == ' ')
						s++;
					bool quoted = *s == '"';
					if (quoted)
						s++;
					/* rel may list several relation types */
					size_t vn = quoted ? strcspn(s, "\"")
							   : strcspn(s, " ;,");
					const char *v = s;
					while (v < s + vn) {
						size_t wn = strcspn(v, " \"");
						if (wn > (size_t)(s + vn - v))
							wn = (size_t)(s + vn - v);
						if (wn == 4 && !strncasecmp(v, "next", 4))
							next = true;
						v += wn;
						while (v < s + vn && *v == ' ')
							v++;
					}
					c = s + vn;
					if (!*c)
						break;
					continue;
				}
			}
			c = s;
			if (!*c)
				break;
		}
		if (next) {
			_cleanup_free_ char *target = strndup(lt + 1,
				(size_t)(gt - lt - 1));
			return target ? reg_url_resolve(base_url, target) : NULL;
		}
		p = *end ? end + 1 : NULL;
	}
	return NULL;
}

/* Backoff */

long reg_backoff_ms(int attempt, uint32_t rnd)
{
	long base = 200;
	for (int i = 0; i < attempt && base < 10000; i++)
		base *= 2;
	if (base > 10000)
		base = 10000;
	/* factor in [0.75, 1.25): 750..1249 per mille */
	long f = 750 + (long)(rnd % 500);
	return base * f / 1000;
}

long reg_retry_after_ms(const char *v)
{
	if (!v)
		return -1;
	while (*v == ' ')
		v++;
	if (!isdigit((unsigned char)*v))
		return -1;
	char *end = NULL;
	errno = 0;
	long s = strtol(v, &end, 10);
	while (end && *end == ' ')
		end++;
	if (errno || !end || *end)
		return -1;
	if (s > 60)
		s = 60;
	return s * 1000;
}

void reg_sleep_ms(long ms)
{
	if (ms <= 0)
		return;
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

uint32_t reg_random(void)
{
	uint32_t v;
	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t)sizeof(v))
		return v;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)(ts.tv_nsec ^ ts.tv_sec);
}

/* Redaction */

char *reg_redact_headers(const char *block, size_t len)
{
	static const char *const secret[] = { "authorization",
		"proxy-authorization", "cookie", "set-cookie" };
	hoist_buf b = HOIST_BUF_INIT(len + 4096);
	const char *p = block, *end = block + len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *le = eol ? eol + 1 : end;
		const char *colon = memchr(p, ':', (size_t)(le - p));
		bool hide = false;
		for (size_t i = 0; colon && i < HOIST_ARRAY_SIZE(secret); i++)
			if ((size_t)(colon - p) == strlen(secret[i]) &&
				!strncasecmp(p, secret[i], strlen(secret[i])))
				hide = true;
		int r;
		if (hide)
			r = hoist_buf_appendf(&b, NULL, "%.*s: <redacted>%s",
				(int)(colon - p), p, eol ? "\n" : "");
		else
			r = hoist_buf_append(&b, p, (size_t)(le - p), NULL);
		if (r < 0) {
			hoist_buf_release(&b);
			return NULL;
		}
		p = le;
	}
	if (!b.data)
		return strdup("");
	return hoist_buf_steal(&b, NULL);
}

static int debug_cb(CURL *e, curl_infotype type, char *data, size_t size,
	void *ud)
{
	hoist_registry *r = ud;
	const char *dir;
	switch (type) {
	case CURLINFO_TEXT: dir = "*"; break;
	case CURLINFO_HEADER_IN: dir = "<"; break;
	case CURLINFO_HEADER_OUT: dir = ">"; break;
	default: return 0; /* bodies may carry tokens: never logged */
	}
	_cleanup_free_ char *red = reg_redact_headers(data, size);
	if (!red)
		return 0;
	size_t n = strlen(red);
	while (n && (red[n - 1] == '\n' || red[n - 1] == '\r'))
		red[--n] = '\0';
	/* One log line per header line. */
	char *save = NULL;
	for (char *line = strtok_r(red, "\n", &save); line;
		line = strtok_r(NULL, "\n", &save)) {
		size_t ln = strlen(line);
		if (ln && line[ln - 1] == '\r')
			line[ln - 1] = '\0';
		hoist_log(r->ctx, HOIST_LOG_DEBUG, "http %s %s", dir, line);
	}
	return 0;
}

/* Client */

static void share_lock(CURL *e, curl_lock_data data, curl_lock_access a,
	void *ud)
{
	hoist_registry *r = ud;
	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&r->share_locks[data]);
}

static void share_unlock(CURL *e, curl_lock_data data, void *ud)
{
	hoist_registry *r = ud;
	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&r->share_locks[data]);
}

static const char *connect_host(const char *domain)
{
	if (!strcmp(domain, "docker.io") || !strcmp(domain, "index.docker.io"))
		return "registry-1.docker.io";
	return domain;
}

int hoist_registry_new(hoist_registry **out, hoist_ctx *ctx, const char *domain,
	hoist_error **err)
{
	if (!domain || !*domain || strpbrk(domain, "/ \t\r\n@?#"))
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid registry host '%s'", domain ? domain : "");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return hoist_error_set(err, HOIST_E_NETWORK,
			"cannot initialise libcurl");
	hoist_registry *r = calloc(1, sizeof(*r));
	if (!r) {
		curl_global_cleanup();
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	r->ctx = ctx;
	r->domain = strdup(domain);
	r->host = strdup(connect_host(domain));
	r->insecure = hoist_ctx_is_insecure(ctx, domain);
	r->allow_http = r->insecure || hoist_host_is_loopback(domain);
	r->chunk_threshold = HOIST_REGISTRY_CHUNK_THRESHOLD;
	r->chunk_size = HOIST_REGISTRY_CHUNK;
	pthread_mutex_init(&r->ping_lock, NULL);
	pthread_mutex_init(&r->lock, NULL);
	pthread_mutex_init(&r->token_lock, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&r->share_locks[i], NULL);
	atomic_init(&r->requests, 0);
	r->share = curl_share_init();
	if (!r->domain || !r->host || !r->share) {
		hoist_registry_free(r);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	curl_share_setopt(r->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(r->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(r->share, CURLSHOPT_USERDATA, r);
	curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	*out = r;
	return 0;
}

void hoist_registry_free(hoist_registry *r)
{
	if (!r)
		return;
	if (r->share)
		curl_share_cleanup(r->share);
	for (size_t i = 0; i < r->n_tokens; i++) {
		free(r->tokens[i].key);
		reg_scopes_release(&r->tokens[i].scopes);
		if (r->tokens[i].token) {
			explicit_bzero(r->tokens[i].token, strlen(r->tokens[i].token));
			free(r->tokens[i].token);
		}
	}
	reg_scopes_release(&r->intents);
	hoist_credentials_release(&r->creds);
	free(r->realm);
	free(r->service);
	free(r->domain);
	free(r->host);
	pthread_mutex_destroy(&r->ping_lock);
	pthread_mutex_destroy(&r->lock);
	pthread_mutex_destroy(&r->token_lock);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&r->share_locks[i]);
	free(r);
	curl_global_cleanup();
}

static void registry_free_void(void *p)
{
	hoist_registry_free(p);
}

int hoist_registry_shared(hoist_registry **out, hoist_ctx *ctx,
	const char *domain, hoist_error **err)
{
	char *key = NULL;
	if (asprintf(&key, "registry:%s", domain ? domain : "") < 0)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	hoist_registry *r = hoist_ctx_attached(ctx, key);
	int e = 0;
	if (!r) {
		e = hoist_registry_new(&r, ctx, domain, err);
		void *got = NULL;
		/* a racing thread may attach first: then ours is freed and
		 * theirs returned */
		if (e == 0)
			e = hoist_ctx_attach(ctx, key, r, registry_free_void, &got,
				err);
		r = e == 0 ? got : NULL;
	}
	free(key);
	if (e < 0)
		return e;
	*out = r;
	return 0;
}

const char *hoist_registry_domain(const hoist_registry *r)
{
	return r->domain;
}

int hoist_registry_set_credentials(hoist_registry *r, const char *user,
	const char *password, hoist_error **err)
{
	char *u = strdup(user ? user : ""), *p = strdup(password ? password : "");
	if (!u || !p) {
		free(u);
		free(p);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	pthread_mutex_lock(&r->lock);
	hoist_credentials_release(&r->creds);
	r->creds.username = u;
	r->creds.password = p;
	r->have_creds = true;
	r->creds_loaded = true;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

int hoist_registry_want_push(hoist_registry *r, const char *repo,
	hoist_error **err)
{
	pthread_mutex_lock(&r->lock);
	int e = reg_scopes_add(&r->intents, "repository", repo,
		REG_ACT_PULL | REG_ACT_PUSH, err);
	pthread_mutex_unlock(&r->lock);
	return e;
}

void hoist_registry_set_chunking(hoist_registry *r, uint64_t threshold,
	size_t chunk)
{
	r->chunk_threshold = threshold;
	r->chunk_size = chunk < 1024 ? 1024 : chunk;
}

void hoist_registry_set_page_size(hoist_registry *r, int n)
{
	r->page_size = n < 0 ? 0 : n;
}

uint64_t hoist_registry_requests(const hoist_registry *r)
{
	return atomic_load(&((hoist_registry *)r)->requests);
}

void hoist_registry_set_hook(hoist_registry *r, hoist_registry_hook_fn fn,
	void *ud)
{
	r->hook = fn;
	r->hook_ud = ud;
}

void reg_count(hoist_registry *r, const char *method, const char *url,
	long status)
{
	atomic_fetch_add(&r->requests, 1);
	hoist_log(r->ctx, HOIST_LOG_DEBUG, "%s %s -> %ld", method, url, status);
	if (r->hook)
		r->hook(r->hook_ud, method, url, status);
}

bool reg_curl_retryable(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_HTTP3:
	case CURLE_WEIRD_SERVER_REPLY:
		return true;
	default:
		return false;
	}
}

void reg_easy_common(hoist_registry *r, CURL *e)
{
	curl_easy_setopt(e, CURLOPT_SHARE, r->share);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "hoist/0.1");
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	int t = hoist_ctx_timeout(r->ctx);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)(t < 30 ? t : 30));
	/* Below 1 byte/s for `timeout` seconds: abandon and retry. */
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)t);
	if (r->insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	const char *ca = hoist_ctx_ca_file(r->ctx);
	if (ca)
		curl_easy_setopt(e, CURLOPT_CAINFO, ca);
	if (hoist_ctx_log_level(r->ctx) >= HOIST_LOG_DEBUG) {
		curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, debug_cb);
		curl_easy_setopt(e, CURLOPT_DEBUGDATA, r);
		curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
	}
}

/* One exchange */

typedef struct xfer {
	CURL *easy;
	reg_response *resp;
	hoist_buf *out;
	hoist_reader *stream;
	int64_t stream_len;
	uint64_t sent;
	hoist_error *cb_err;
} xfer;

static size_t write_cb(char *p, size_t size, size_t n, void *ud)
{
	xfer *x = ud;
	size_t len = size * n;
	long st = x->resp->status;
	if (st >= 200 && st < 300) {
		if (x->out && hoist_buf_append(x->out, p, len, &x->cb_err) < 0)
			return 0;
		return len;
	}
	/* Error bodies are kept for their message; the rest is dropped. */
	size_t room = x->resp->errbody.max - x->resp->errbody.len;
	hoist_buf_append(&x->resp->errbody, p, len < room ? len : room, NULL);
	return len;
}

static size_t read_cb(char *buf, size_t size, size_t n, void *ud)
{
	xfer *x = ud;
	size_t want = size * n;
	uint64_t left = (uint64_t)x->stream_len - x->sent;
	if (want > left)
		want = (size_t)left;
	if (want == 0)
		return 0;
	ssize_t k = hoist_reader_read_full(x->stream, buf, want, &x->cb_err);
	if (k < 0)
		return CURL_READFUNC_ABORT;
	if ((size_t)k < want) {
		hoist_error_set(&x->cb_err, HOIST_E_DIGEST,
			"content ended after %llu of %lld bytes",
			(unsigned long long)(x->sent + (uint64_t)k),
			(long long)x->stream_len);
		return CURL_READFUNC_ABORT;
	}
	x->sent += (uint64_t)k;
	if (x->sent == (uint64_t)x->stream_len) {
		/* Curl stops asking at Content-Length, but a verifying reader
		 * only judges the content at its end: read that end now, and
		 * abort before the last bytes leave if it is wrong. */
		char extra;
		ssize_t e = hoist_reader_read(x->stream, &extra, 1, &x->cb_err);
		if (e < 0)
			return CURL_READFUNC_ABORT;
		if (e > 0) {
			hoist_error_set(&x->cb_err, HOIST_E_DIGEST,
				"content is longer than its declared %lld bytes",
				(long long)x->stream_len);
			return CURL_READFUNC_ABORT;
		}
	}
	return (size_t)k;
}

/* Performs one request; *cc gets curl's result.  Returns <0 only for
 * local failures (x.cb_err, out of memory), which are never retried. */
static int exchange(hoist_registry *r, const reg_request *q, const char *url,
	const char *auth, reg_response *resp, CURLcode *cc, char *errbuf,
	hoist_error **err)
{
	response_reset(resp);
	if (q->out)
		hoist_buf_reset(q->out);
	CURL *e = curl_easy_init();
	if (!e)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	xfer x = { .easy = e, .resp = resp, .out = q->out, .stream = q->stream,
		.stream_len = q->stream_len };
	struct curl_slist *h = NULL, *t;
	char line[512];
	int rc = 0;
#define ADDH(s)                                                               \
	do {                                                                  \
		if (!(t = curl_slist_append(h, (s)))) {                       \
			rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory"); \
			goto done;                                            \
		}                                                             \
		h = t;                                                        \
	} while (0)
	if (q->accept) {
		_cleanup_free_ char *a = NULL;
		if (asprintf(&a, "Accept: %s", q->accept) < 0) {
			rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
			goto done;
		}
		ADDH(a);
	}
	if (q->content_type) {
		snprintf(line, sizeof(line), "Content-Type: %s", q->content_type);
		ADDH(line);
	}
	if (q->content_range) {
		snprintf(line, sizeof(line), "Content-Range: %s", q->content_range);
		ADDH(line);
	}
	if (q->range) {
		snprintf(line, sizeof(line), "Range: %s", q->range);
		ADDH(line);
	}
	if (auth)
		ADDH(auth);
	ADDH("Expect:");
#undef ADDH
	reg_easy_common(r, e);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, reg_header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, resp);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	errbuf[0] = '\0';
	const char *m = q->method;
	if (!strcmp(m, "HEAD")) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (q->stream) {
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(e, CURLOPT_READDATA, &x);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
			(curl_off_t)q->stream_len);
		if (strcmp(m, "PUT"))
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
	} else if (q->has_body || !strcmp(m, "POST") || !strcmp(m, "PUT") ||
		!strcmp(m, "PATCH")) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
			(curl_off_t)q->body_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS,
			q->body_len ? q->body : "");
		if (strcmp(m, "POST"))
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
	} else if (strcmp(m, "GET")) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
	}
	*cc = curl_easy_perform(e);
	long st = 0;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &st);
	if (st)
		resp->status = st;
	reg_count(r, m, url, *cc == CURLE_OK ? resp->status : 0);
	if (x.cb_err) {
		if (err && !*err)
			*err = x.cb_err;
		else
			hoist_error_free(x.cb_err);
		x.cb_err = NULL;
		rc = -(err && *err ? (*err)->code : HOIST_E_IO);
		goto done;
	}
	if (*cc == CURLE_OK && !(resp->url = strdup(url)))
		rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
done:
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	return rc;
}

static int network_error(hoist_registry *r, CURLcode cc, const char *errbuf,
	hoist_error **err)
{
	return hoist_error_set(err, HOIST_E_NETWORK,
		"cannot reach registry '%s': %s", r->domain,
		errbuf && *errbuf ? errbuf : curl_easy_strerror(cc));
}

/* Records the challenge of a 401 response (ping or later). */
static int take_challenge(hoist_registry *r, const reg_response *resp,
	hoist_error **err)
{
	_cleanup_free_ char *wa = reg_response_header(resp, "WWW-Authenticate");
	if (!wa)
		return 0;
	hoist_auth_challenge *ch = NULL;
	size_t n = 0;
	int e = hoist_auth_parse_challenges(&ch, &n, wa, err);
	if (e < 0)
		return hoist_error_wrap(err, HOIST_E_AUTH,
			"registry '%s' sent an invalid challenge", r->domain);
	int kind = REG_AUTH_NONE;
	const char *realm = NULL, *service = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(ch[i].scheme, "bearer") &&
			hoist_auth_challenge_param(&ch[i], "realm")) {
			kind = REG_AUTH_BEARER;
			realm = hoist_auth_challenge_param(&ch[i], "realm");
			service = hoist_auth_challenge_param(&ch[i], "service");
			break;
		}
		if (!strcmp(ch[i].scheme, "basic") && kind == REG_AUTH_NONE)
			kind = REG_AUTH_BASIC;
	}
	char *nr = realm ? strdup(realm) : NULL;
	char *ns = service ? strdup(service) : NULL;
	hoist_auth_challenges_free(ch, n);
	if ((realm && !nr) || (service && !ns)) {
		free(nr);
		free(ns);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	pthread_mutex_lock(&r->lock);
	if (kind != REG_AUTH_NONE)
		r->auth_kind = kind;
	if (nr) {
		free(r->realm);
		r->realm = nr;
		nr = NULL;
	}
	if (ns || kind == REG_AUTH_BEARER) {
		free(r->service);
		r->service = ns;
		ns = NULL;
	}
	pthread_mutex_unlock(&r->lock);
	free(nr);
	free(ns);
	return 0;
}

static const char *scheme_name(int s)
{
	return s == REG_SCHEME_HTTP ? "http" : "https";
}

static int ping(hoist_registry *r, hoist_error **err)
{
	reg_request q = { .method = "GET" };
	_cleanup_(reg_response_release) reg_response resp;
	reg_response_init(&resp);
	char errbuf[CURL_ERROR_SIZE];
	int retries = hoist_ctx_retries(r->ctx);
	CURLcode cc = CURLE_OK;
	for (int attempt = 0;; attempt++) {
		int schemes[2] = { REG_SCHEME_HTTPS, REG_SCHEME_HTTP };
		int ns = r->allow_http ? 2 : 1;
		for (int i = 0; i < ns; i++) {
			_cleanup_free_ char *url = NULL;
			if (asprintf(&url, "%s://%s/v2/", scheme_name(schemes[i]),
				    r->host) < 0)
				return hoist_error_set(err, HOIST_E_NOMEM,
					"out of memory");
			int e = exchange(r, &q, url, NULL, &resp, &cc, errbuf, err);
			if (e < 0)
				return e;
			/* A server that speaks TLS with a certificate we do
			 * not trust is not retried in plain text. */
			if (cc == CURLE_PEER_FAILED_VERIFICATION &&
				schemes[i] == REG_SCHEME_HTTPS)
				return hoist_error_set(err, HOIST_E_NETWORK,
					"cannot reach registry '%s': %s (use a CA file, or mark the registry insecure)",
					r->domain, *errbuf ? errbuf : curl_easy_strerror(cc));
			if (cc != CURLE_OK) {
				if (i + 1 < ns)
					hoist_log(r->ctx, HOIST_LOG_DEBUG,
						"'%s' over https failed (%s), trying http",
						r->domain, errbuf);
				continue;
			}
			if (resp.status == 401) {
				e = take_challenge(r, &resp, err);
				if (e < 0)
					return e;
			}
			if (resp.status == 429 || resp.status >= 500) {
				cc = CURLE_RECV_ERROR;
				snprintf(errbuf, sizeof(errbuf),
					"/v2/ answered %ld", resp.status);
				break;
			}
			r->scheme = schemes[i];
			r->pinged = true;
			return 0;
		}
		if (attempt >= retries || (!reg_curl_retryable(cc) &&
						  cc != CURLE_RECV_ERROR))
			return network_error(r, cc, errbuf, err);
		reg_sleep_ms(reg_backoff_ms(attempt, reg_random()));
	}
}

int reg_base(hoist_registry *r, char **out, hoist_error **err)
{
	pthread_mutex_lock(&r->ping_lock);
	int e = 0;
	if (!r->pinged)
		e = ping(r, err);
	int scheme = r->scheme;
	pthread_mutex_unlock(&r->ping_lock);
	if (e < 0)
		return e;
	if (asprintf(out, "%s://%s", scheme_name(scheme), r->host) < 0)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	return 0;
}

int reg_do(hoist_registry *r, const reg_request *q, reg_response *resp,
	hoist_error **err)
{
	_cleanup_free_ char *base = NULL;
	int e = reg_base(r, &base, err);
	if (e < 0)
		return e;
	_cleanup_free_ char *url = NULL;
	if (q->url[0] == '/') {
		if (asprintf(&url, "%s%s", base, q->url) < 0)
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	} else if (!(url = strdup(q->url))) {
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	/* The registry's credentials go to the registry only. */
	_cleanup_free_ char *origin = reg_url_origin(url);
	bool send_auth = !q->no_auth && origin && !strcmp(origin, base);
	bool replay = !q->stream && !q->no_retry;
	bool force = false, reauthed = false;
	int retries = hoist_ctx_retries(r->ctx);
	char errbuf[CURL_ERROR_SIZE];
	for (int attempt = 0;;) {
		_cleanup_free_ char *auth = NULL;
		if (send_auth) {
			e = reg_auth_header(r, q->scopes, force, &auth, err);
			if (e < 0)
				return e;
		}
		CURLcode cc;
		e = exchange(r, q, url, auth, resp, &cc, errbuf, err);
		if (auth)
			explicit_bzero(auth, strlen(auth));
		if (e < 0)
			return e;
		if (cc != CURLE_OK) {
			if (replay && reg_curl_retryable(cc) && attempt < retries) {
				hoist_log(r->ctx, HOIST_LOG_INFO,
					"%s %s: %s; retrying", q->method, url, errbuf);
				reg_sleep_ms(reg_backoff_ms(attempt++, reg_random()));
				continue;
			}
			return network_error(r, cc, errbuf, err);
		}
		if (resp->status == 401 && send_auth && !reauthed) {
			/* The token may have expired or lack a scope the
			 * registry now names; learn its challenge and ask once
			 * more. */
			e = take_challenge(r, resp, err);
			if (e < 0)
				return e;
			reauthed = true;
			force = true;
			if (replay && reg_auth_kind(r) != REG_AUTH_NONE)
				continue;
		}
		if (resp->status == 401 && send_auth)
			reg_hint_401(r, resp);
		if ((resp->status == 429 || resp->status == 502 ||
			    resp->status == 503 || resp->status == 504 ||
			    resp->status == 500) &&
			replay && attempt < retries) {
			_cleanup_free_ char *ra = reg_response_header(resp,
				"Retry-After");
			long ms = reg_retry_after_ms(ra);
			if (ms < 0)
				ms = reg_backoff_ms(attempt, reg_random());
			hoist_log(r->ctx, HOIST_LOG_INFO, "%s %s: %ld; retrying in %ld ms",
				q->method, url, resp->status, ms);
			reg_sleep_ms(ms);
			attempt++;
			continue;
		}
		return 0;
	}
}

void reg_hint_401(hoist_registry *r, reg_response *resp)
{
	pthread_mutex_lock(&r->lock);
	bool have = r->creds_loaded && r->have_creds;
	pthread_mutex_unlock(&r->lock);
	snprintf(resp->hint, sizeof(resp->hint),
		have ? "the credentials for '%s' were refused"
		     : "no credentials for '%s': log in first",
		r->domain);
}

int reg_auth_kind(hoist_registry *r)
{
	pthread_mutex_lock(&r->lock);
	int k = r->auth_kind;
	pthread_mutex_unlock(&r->lock);
	return k;
}

int reg_plain(hoist_registry *r, const reg_request *q, const char *url,
	const char *auth, reg_response *resp, hoist_error **err)
{
	int retries = hoist_ctx_retries(r->ctx);
	char errbuf[CURL_ERROR_SIZE];
	for (int attempt = 0;; attempt++) {
		CURLcode cc;
		int e = exchange(r, q, url, auth, resp, &cc, errbuf, err);
		if (e < 0)
			return e;
		if (cc == CURLE_OK && (resp->status < 500 || attempt >= retries))
			return 0;
		if (cc != CURLE_OK &&
			(!reg_curl_retryable(cc) || attempt >= retries)) {
			_cleanup_free_ char *o = reg_url_origin(url);
			return hoist_error_set(err, HOIST_E_NETWORK,
				"cannot reach '%s': %s", o ? o : "?",
				*errbuf ? errbuf : curl_easy_strerror(cc));
		}
		reg_sleep_ms(reg_backoff_ms(attempt, reg_random()));
	}
}

char *reg_subject(const hoist_registry *r, const char *repo, const char *ref)
{
	char *s = NULL;
	int n;
	if (!ref)
		n = asprintf(&s, "%s/%s", r->domain, repo);
	else if (strchr(ref, ':'))
		n = asprintf(&s, "%s/%s@%s", r->domain, repo, ref);
	else
		n = asprintf(&s, "%s/%s:%s", r->domain, repo, ref);
	return n < 0 ? NULL : s;
}

/* A borrowing reader: lets a verifying reader wrap content it must not
 * free. */
typedef struct {
	hoist_reader base;
	hoist_reader *inner;
} borrow_reader;

static ssize_t borrow_read(hoist_reader *rd, void *buf, size_t n,
	hoist_error **err)
{
	return hoist_reader_read(((borrow_reader *)rd)->inner, buf, n, err);
}

static void borrow_free(hoist_reader *rd)
{
	free(rd);
}

static const hoist_reader_ops borrow_ops = { borrow_read, borrow_free };

int reg_reader_borrow(hoist_reader **out, hoist_reader *inner, hoist_error **err)
{
	borrow_reader *b = calloc(1, sizeof(*b));
	if (!b)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	b->base.ops = &borrow_ops;
	b->inner = inner;
	*out = &b->base;
	return 0;
}

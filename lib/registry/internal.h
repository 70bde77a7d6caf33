/* Internals of the registry client shared by the files of lib/registry/:
 * the client structure, one HTTP exchange with auth and retries, response
 * headers, scope sets and the helpers the unit tests reach directly
 * (error bodies, Link headers, backoff, redaction). */
#ifndef HOIST_REGISTRY_INTERNAL_H
#define HOIST_REGISTRY_INTERNAL_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "hoist/auth.h"
#include "hoist/buf.h"
#include "hoist/ctx.h"
#include "hoist/error.h"
#include "hoist/io.h"
#include "hoist/registry.h"

/* Bounds on what a registry may send us besides blobs and manifests. */
#define REG_HEADERS_MAX (64 * 1024)
#define REG_ERRBODY_MAX (64 * 1024)
#define REG_TOKEN_MAX (256 * 1024)
#define REG_LIST_BODY_MAX (8 * 1024 * 1024)
#define REG_LIST_PAGES_MAX 10000
#define REG_LIST_ENTRIES_MAX 1000000
#define REG_TOKENS_MAX 32
#define REG_REDIRECTS_MAX 5

/* Scope actions (distribution token scopes, "repository:NAME:pull,push"). */
enum {
	REG_ACT_PULL = 1,
	REG_ACT_PUSH = 2,
	REG_ACT_DELETE = 4,
	REG_ACT_ALL = 8, /* "*" */
};

typedef struct reg_scope {
	char *type;     /* "repository", "registry" */
	char *name;     /* "library/busybox", "catalog" */
	unsigned actions;
} reg_scope;

/* A small set of scopes, one entry per (type, name), kept sorted. */
typedef struct reg_scopes {
	reg_scope *v;
	size_t n;
} reg_scopes;

void reg_scopes_release(reg_scopes *s);
int reg_scopes_add(reg_scopes *s, const char *type, const char *name,
	unsigned actions, hoist_error **err);
int reg_scopes_merge(reg_scopes *dst, const reg_scopes *src, hoist_error **err);
/* Every action of want is in have. */
bool reg_scopes_cover(const reg_scopes *have, const reg_scopes *want);
/* "repository:a:pull,push repository:b:pull" (sorted; the cache key). */
char *reg_scopes_string(const reg_scopes *s);
/* "&scope=repository%3Aa%3Apull%2Cpush&scope=..." for a token GET. */
char *reg_scopes_query(const reg_scopes *s);
/* "pull,push" */
char *reg_actions_string(unsigned actions);
/* Parses "pull,push", "*", ... (unknown actions are ignored). */
unsigned reg_actions_parse(const char *s);

typedef struct reg_token {
	char *key;       /* reg_scopes_string of what it was issued for */
	reg_scopes scopes;
	char *token;
	struct timespec expiry; /* CLOCK_MONOTONIC */
} reg_token;

enum reg_scheme { REG_SCHEME_UNKNOWN = 0, REG_SCHEME_HTTPS, REG_SCHEME_HTTP };
enum reg_auth_kind { REG_AUTH_NONE = 0, REG_AUTH_BASIC, REG_AUTH_BEARER };

struct hoist_registry {
	hoist_ctx *ctx;         /* borrowed */
	char *domain;           /* "docker.io", "localhost:5000" */
	char *host;             /* where to connect: "registry-1.docker.io" */
	bool allow_http;        /* loopback or --insecure: HTTP fallback */
	bool insecure;          /* --insecure: no TLS verification */

	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

	pthread_mutex_t ping_lock; /* pinged, scheme */
	bool pinged;
	int scheme;

	pthread_mutex_t lock;   /* everything below up to the counters */
	int auth_kind;
	char *realm;
	char *service;
	bool creds_loaded;
	bool have_creds;
	hoist_credentials creds;
	reg_token tokens[REG_TOKENS_MAX];
	size_t n_tokens;
	reg_scopes intents;     /* actions wanted per repository */

	pthread_mutex_t token_lock; /* serialises token fetches */

	atomic_uint_fast64_t requests;
	hoist_registry_hook_fn hook;
	void *hook_ud;
	uint64_t chunk_threshold;
	size_t chunk_size;
	int page_size;
};

/* Response of one exchange. */
typedef struct reg_response {
	long status;
	hoist_buf headers;   /* raw header block of the final response */
	hoist_buf errbody;   /* body of a non-2xx response (truncated) */
	char *url;           /* effective URL */
	char hint[160];      /* said after a 401's message, or empty */
} reg_response;

void reg_response_init(reg_response *resp);
void reg_response_release(reg_response *resp);
/* Value of the first header `name` (case-insensitive) in a raw header
 * block, trimmed; NULL if absent.  Caller frees. */
char *reg_header_get(const char *block, size_t len, const char *name);
char *reg_response_header(const reg_response *resp, const char *name);

typedef struct reg_request {
	const char *method;       /* GET HEAD PUT POST PATCH DELETE */
	const char *url;          /* absolute, or a path ("/v2/...") */
	const char *accept;
	const char *content_type;
	const char *content_range;
	const char *range;
	const void *body;         /* in memory: the request can be replayed */
	size_t body_len;
	bool has_body;
	hoist_reader *stream;     /* streamed body of stream_len bytes: no replay */
	int64_t stream_len;
	hoist_buf *out;           /* 2xx body goes here (NULL: dropped) */
	const reg_scopes *scopes; /* what the request needs (NULL: nothing) */
	bool no_retry;
	bool no_auth;             /* never send the registry's credentials */
} reg_request;

/* Runs one request against the registry: ping on first use (scheme, auth
 * challenge), Authorization for q->scopes, one re-authentication on 401,
 * retries with backoff on connection errors, 429 and 5xx (replayable
 * requests only).  Returns 0 once a response was received, whatever its
 * status (the caller decides); <0 with *err when none was. */
int reg_do(hoist_registry *r, const reg_request *q, reg_response *resp,
	hoist_error **err);

/* Builds an error from a non-2xx response:
 * "OP 'SUBJECT': 404 MANIFEST_UNKNOWN: manifest unknown".  The code is
 * HOIST_E_AUTH for 401/403, HOIST_E_NOTFOUND for 404, HOIST_E_DIGEST for
 * DIGEST_INVALID / SIZE_INVALID, else HOIST_E_REGISTRY. */
int reg_status_error(const reg_response *resp, const char *op,
	const char *subject, hoist_error **err);
/* Formats the first error of a distribution error body
 * {"errors":[{"code","message","detail"}]} as "CODE: message"; NULL if the
 * body is not one.  *code_out (may be NULL) gets the code alone. */
char *reg_error_body_message(const char *body, size_t len, char **code_out);

/* The URL of rel="next" in a Link header value, resolved against
 * base_url; NULL when there is none. */
char *reg_link_next(const char *link, const char *base_url);
/* Resolves a Location / Link target against an absolute URL. */
char *reg_url_resolve(const char *base_url, const char *target);
/* "scheme://host[:port]" of an absolute URL, lowercased; NULL if none. */
char *reg_url_origin(const char *url);

/* Backoff before retry `attempt` (0-based): 200 ms doubling, capped at
 * 10 s, times a jitter factor in [0.75, 1.25) taken from rnd. */
long reg_backoff_ms(int attempt, uint32_t rnd);
/* Retry-After as seconds (capped at 60), -1 if absent or not a number. */
long reg_retry_after_ms(const char *value);
void reg_sleep_ms(long ms);
uint32_t reg_random(void);

/* Copies a header block with the values of Authorization,
 * Proxy-Authorization, Cookie and Set-Cookie lines replaced by
 * "<redacted>".  Caller frees. */
char *reg_redact_headers(const char *block, size_t len);

/* The origin of the registry ("https://host:port"); pings if needed. */
int reg_base(hoist_registry *r, char **out, hoist_error **err);
/* Authorization header line for q's scopes ("Authorization: Bearer ..."),
 * or NULL when none is needed.  force skips the token cache. */
int reg_auth_header(hoist_registry *r, const reg_scopes *scopes, bool force,
	char **out, hoist_error **err);
/* Applies the client's TLS, timeout, share and debug settings. */
void reg_easy_common(hoist_registry *r, CURL *e);
/* Counts a request and calls the hook. */
void reg_count(hoist_registry *r, const char *method, const char *url,
	long status);
/* Whether a curl error is worth retrying (connection, timeout, TLS). */
bool reg_curl_retryable(CURLcode c);
/* Header callback state and function shared with the blob reader. */
size_t reg_header_cb(char *p, size_t size, size_t n, void *ud);

/* One exchange with `url` outside the registry's auth (token endpoints):
 * retries connection errors; `auth` is a whole header line or NULL. */
int reg_plain(hoist_registry *r, const reg_request *q, const char *url,
	const char *auth, reg_response *resp, hoist_error **err);
int reg_auth_kind(hoist_registry *r);
/* Explains a final 401: no credentials, or refused ones. */
void reg_hint_401(hoist_registry *r, reg_response *resp);

/* Parses a token endpoint response body into token and lifetime. */
int reg_parse_token_response(const char *body, size_t len, char **token,
	long *expires_in, hoist_error **err);

/* Credentials for r (loaded once from the credential files). */
int reg_load_creds(hoist_registry *r, hoist_error **err);

/* "domain/repo:ref" or "domain/repo@digest" for messages. */
char *reg_subject(const hoist_registry *r, const char *repo, const char *ref);

/* A reader that reads inner without owning it. */
int reg_reader_borrow(hoist_reader **out, hoist_reader *inner, hoist_error **err);

#endif

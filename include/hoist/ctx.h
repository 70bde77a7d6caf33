/* The library context: everything that would otherwise be a global
 * (logger, store location, registry options, parallelism) hangs off a
 * hoist_ctx that callers pass down.  Not thread-safe to mutate; read-only
 * use from worker threads is fine once set up. */
#ifndef HOIST_CTX_H
#define HOIST_CTX_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "hoist/error.h"

typedef struct hoist_ctx hoist_ctx;

enum hoist_log_level {
	HOIST_LOG_ERROR = 0,
	HOIST_LOG_WARN = 1,
	HOIST_LOG_INFO = 2,
	HOIST_LOG_DEBUG = 3,
};

typedef void (*hoist_log_fn)(void *ud, int level, const char *msg);

/* Progress of one blob transfer, reported from the thread doing it. */
typedef struct hoist_progress {
	const char *id;    /* digest of the blob (borrowed) */
	const char *what;  /* "copy", "skip", "mount", "done", "fail" */
	uint64_t done;     /* bytes moved so far */
	int64_t total;     /* declared size, -1 if unknown */
} hoist_progress;
typedef void (*hoist_progress_fn)(void *ud, const hoist_progress *p);

int hoist_ctx_new(hoist_ctx **out, hoist_error **err);
void hoist_ctx_free(hoist_ctx *ctx);

/* The local store directory.  Default: $HOIST_HOME, else
 * $XDG_DATA_HOME/hoist, else $HOME/.local/share/hoist (computed by
 * hoist_ctx_new from the environment it is given at that time). */
int hoist_ctx_set_home(hoist_ctx *ctx, const char *dir, hoist_error **err);
const char *hoist_ctx_home(const hoist_ctx *ctx);

void hoist_ctx_set_log(hoist_ctx *ctx, hoist_log_fn fn, void *ud, int level);
int hoist_ctx_log_level(const hoist_ctx *ctx);
void hoist_log(const hoist_ctx *ctx, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

void hoist_ctx_set_progress(hoist_ctx *ctx, hoist_progress_fn fn, void *ud);
void hoist_ctx_progress(const hoist_ctx *ctx, const hoist_progress *p);

/* Parallel blob transfers; default min(8, 2 * cores). */
void hoist_ctx_set_jobs(hoist_ctx *ctx, int jobs);
int hoist_ctx_jobs(const hoist_ctx *ctx);

/* Registry options. */
int hoist_ctx_add_insecure(hoist_ctx *ctx, const char *host, hoist_error **err);
bool hoist_ctx_is_insecure(const hoist_ctx *ctx, const char *host);
int hoist_ctx_set_ca_file(hoist_ctx *ctx, const char *path, hoist_error **err);
const char *hoist_ctx_ca_file(const hoist_ctx *ctx);
/* Credentials file override (else $REGISTRY_AUTH_FILE, $DOCKER_CONFIG,
 * ~/.docker/config.json). */
int hoist_ctx_set_auth_file(hoist_ctx *ctx, const char *path, hoist_error **err);
const char *hoist_ctx_auth_file(const hoist_ctx *ctx);
void hoist_ctx_set_retries(hoist_ctx *ctx, int retries);
int hoist_ctx_retries(const hoist_ctx *ctx);
/* Seconds without progress before a transfer is abandoned. */
void hoist_ctx_set_timeout(hoist_ctx *ctx, int seconds);
int hoist_ctx_timeout(const hoist_ctx *ctx);

/* Per-context state of a module (e.g. the registry clients, shared by
 * every source and destination of one command so that connections and
 * tokens are reused).  hoist_ctx_attach keeps `value` under `key` until the
 * context is freed, when free_fn(value) runs; if the key is taken already,
 * free_fn(value) runs at once and the existing value is returned in *out.
 * Thread-safe. */
int hoist_ctx_attach(hoist_ctx *ctx, const char *key, void *value,
	void (*free_fn)(void *), void **out, hoist_error **err);
/* The value attached under key, or NULL. */
void *hoist_ctx_attached(hoist_ctx *ctx, const char *key);

#endif

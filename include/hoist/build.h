/* hoist build: Dockerfile builds without a daemon and without root.
 *
 * Stages run in order (only those the target needs).  RUN executes in
 * the namespace sandbox on an overlay of the stage's filesystem; the
 * overlay's upper dir is the step's diff (no walk of the whole tree), and
 * becomes both the step's layer and a lower dir of later steps.  Base
 * image layers are fetched and unpacked only when a RUN (or a COPY --from
 * the stage) needs the filesystem; a build that only adds layers on a
 * registry base never downloads the base's layers.
 *
 * Every RUN, COPY and ADD is cached in the local store ($HOIST_HOME/cache)
 * under a key made of the parent chain (base digest and every earlier
 * instruction), the instruction after expansion, its environment, user,
 * workdir, shell and mounts, and for COPY/ADD the content (not mtimes) of
 * every file it reads.  A rebuild with nothing changed runs nothing and
 * only writes the manifest. */
#ifndef HOIST_BUILD_H
#define HOIST_BUILD_H

#include <stdbool.h>
#include <stdio.h>

#include "hoist/ctx.h"
#include "hoist/digest.h"
#include "hoist/dockerfile.h"
#include "hoist/error.h"
#include "hoist/media.h"
#include "hoist/sandbox.h"

typedef enum hoist_build_progress {
	HOIST_BUILD_PROGRESS_AUTO = 0, /* steps, cache hits, RUN output */
	HOIST_BUILD_PROGRESS_PLAIN,    /* also why each step hit or missed */
	HOIST_BUILD_PROGRESS_QUIET,    /* nothing but errors */
} hoist_build_progress;

typedef struct hoist_build_secret {
	const char *id;
	const char *src; /* host file */
} hoist_build_secret;

typedef struct hoist_build_opts {
	const char *context;      /* directory */
	const char *dockerfile;   /* NULL: CONTEXT/Dockerfile */
	const char *const *tags;  /* destinations (any transport); none: the
	                             store under "build:<12 hex>" */
	size_t n_tags;
	const hoist_df_kv *build_args;
	size_t n_build_args;
	const char *target;       /* stage name, NULL: the last */
	const hoist_platform *platform; /* NULL: the host's */
	bool no_cache;
	hoist_sandbox_net network;
	const hoist_build_secret *secrets;
	size_t n_secrets;
	hoist_build_progress progress;
	FILE *log;                /* progress (stderr when NULL) */
	/* Registry build caches (docs/cache.md): looked up in order after the
	 * local cache; every step that runs is pushed to cache_to. */
	const char *const *cache_from;
	size_t n_cache_from;
	const char *cache_to;
	/* --cache-to type=inline: the output manifest carries the keys of its
	 * layers (annotation dev.hoist.cache.v1), so that a later build can use
	 * the image itself as --cache-from. */
	bool cache_inline;
	long long cache_ttl;      /* seconds; records older are misses; 0: none */
} hoist_build_opts;

typedef struct hoist_build_result {
	hoist_digest digest;      /* manifest of the built image */
	hoist_digest config;      /* its config ("image ID") */
	size_t steps;
	size_t cached;            /* steps served from the cache */
	size_t ran;               /* RUN steps executed */
} hoist_build_result;

int hoist_build(hoist_ctx *ctx, const hoist_build_opts *o,
	hoist_build_result *res, hoist_error **err);

/* hoist run: a command in an image's filesystem, in the same sandbox as
 * RUN, as the image's USER.  The image's layers are unpacked once into
 * $HOIST_HOME/rootfs (shared with builds); the run's changes go to a
 * throw-away overlay upper dir. */
typedef struct hoist_run_opts {
	const char *image;
	const hoist_platform *platform;
	const char *const *cmd;   /* replaces the image's CMD when n_cmd > 0 */
	size_t n_cmd;
	const char *entrypoint;   /* NULL: the image's; "": none; else one word */
	const char *user;         /* NULL: the image's USER */
	const char *workdir;      /* NULL: the image's WORKDIR */
	const char *const *env;   /* "K=V" added to the image's Env */
	size_t n_env;
	hoist_sandbox_net network;
	const hoist_sandbox_mount *mounts;
	size_t n_mounts;
	int stdin_fd, stdout_fd, stderr_fd;
} hoist_run_opts;

int hoist_run(hoist_ctx *ctx, const hoist_run_opts *o, int *exit_status,
	hoist_error **err);

#endif

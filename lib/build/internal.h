/* Shared state of the build executor's files (build.c, run.c, copystep.c). */
#ifndef HOIST_BUILD_INTERNAL_H
#define HOIST_BUILD_INTERNAL_H

#include <jansson.h>
#include <stdio.h>
#include <sys/stat.h>

#include "hoist/build.h"
#include "hoist/compose.h"
#include "hoist/dockerignore.h"
#include "hoist/layer.h"

typedef struct stage {
	const hoist_df_stage *df;
	size_t idx;
	bool built, building;
	hoist_compose *img;
	hoist_df_scope *scope;
	char chain[65];     /* cache key of the stage so far */
	char **snaps;       /* snapshot dir of each layer, or NULL */
	size_t n_snaps;
	json_t *inline_keys;  /* {"layers": {KEY: index}, "empty": [KEY]} */
	json_t *shell;      /* SHELL in effect */
	bool cmd_set;       /* CMD given in this stage */
} stage;

typedef struct rcache rcache;

typedef struct build {
	hoist_ctx *ctx;
	const hoist_build_opts *o;
	hoist_dockerfile *df;
	hoist_df_scope *global;
	hoist_dockerignore *ignore;
	int context_fd;
	stage *stages;
	FILE *log;
	hoist_platform target_plat, build_plat;
	const char *home;
	char *tmp;          /* $HOIST_HOME/tmp */
	char id[32];        /* this build, for private names */
	size_t step, nsteps;
	hoist_build_result *res;
	rcache **cache_from;
	size_t n_cache_from;
	rcache *cache_to;
	stage **images;     /* images used by --from, opened once */
	char **image_names;
	size_t n_images;
	bool no_overlay;    /* an overlay could not be mounted: RUN on copies */
} build;

typedef struct build_key {
	hoist_hasher *h;
} build_key;

void key_init(build_key *k, const char *parent);
void key_add(build_key *k, const char *field, const char *value);
void key_addv(build_key *k, const char *field, char *const *v, size_t n);
void key_final(build_key *k, char out[65]);

typedef struct cache_rec {
	bool hit;
	bool empty;             /* the step made no layer */
	hoist_descriptor desc;
	hoist_digest diff_id;
	hoist_source *from;     /* a registry cache's blobs, NULL: the store */
	const char *where;      /* "local", or the cache repository */
} cache_rec;

/* remote_cache.c */
int rcache_open(build *b, const char *name, bool push, rcache **out, hoist_error **err);
void rcache_free(rcache *c);
hoist_source *rcache_source(rcache *c);
int rcache_get(build *b, rcache *c, const char *key, cache_rec *out, hoist_error **err);
int rcache_put(build *b, rcache *c, const char *key, const hoist_descriptor *layer,
	const hoist_digest *diff_id, hoist_error **err);
/* The local cache, then each registry cache. */
int cache_lookup(build *b, const char *key, cache_rec *out, hoist_error **err);

int cache_get(build *b, const char *key, cache_rec *out);
void cache_rec_release(cache_rec *r);
int cache_put(build *b, const char *key, const hoist_layer_info *info,
	hoist_error **err);

double now_s(void); /* CLOCK_MONOTONIC, seconds */
void build_say(build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends a copy of s to the NULL-terminated vector v of n strings. */
int strv_push(char ***v, size_t *n, const char *s);
void strv_free(char **v, size_t n);
long find_stage(build *b, const char *name, size_t before);
int need_stage(build *b, size_t idx, hoist_error **err);
int stage_lowers(build *b, stage *s, char ***out, size_t *n, hoist_error **err);
typedef bool (*hoist_layer_owner_fn)(const void *ud, const char *name,
	const struct stat *st, int64_t *uid, int64_t *gid);
/* owner: a per-entry owner (see hoist_layer_opts.owner), or NULL */
int commit_dir_owner(build *b, stage *s, const char *dir, bool overlay,
	int64_t uid, int64_t gid, hoist_layer_owner_fn owner, const void *owner_ud,
	const char *created_by, const char *key, hoist_error **err);
/* owner: uid/gid for every entry, or -1 to keep the owners on disk. */
int commit_dir(build *b, stage *s, const char *dir, bool overlay,
	int64_t uid, int64_t gid, const char *created_by, const char *key,
	hoist_error **err);
int use_cached(build *b, stage *s, const cache_rec *r, const char *key,
	const char *created_by, hoist_error **err);
int run_instr(build *b, stage *s, const hoist_df_instr *raw, hoist_error **err);
int instr_wrap(build *b, const hoist_df_instr *i, hoist_error **err);
const char *stage_user(stage *s);     /* NULL: root */
const char *stage_workdir(stage *s);  /* "/" when unset */
int merged_rootfs(build *b, stage *s, size_t n, char **out, hoist_error **err);
/* The key of the first n layers of s (names HOME/rootfs/KEY). */
void rootfs_key(stage *s, size_t n, char out[65]);
typedef struct layer_hooks {
	/* replaces *tar by a reader over it (taking it over); may be NULL */
	int (*wrap)(void *ud, hoist_reader **tar, hoist_error **err);
	/* each entry applied, where they are applied in this process (not
	 * with subordinate ids); may be NULL */
	hoist_change_fn on_entry;
	void *ud;
} layer_hooks;
/* Applies the first n layers of s onto the tree at root, owners as the
 * layers say, mapped as the sandbox will map them. */
int apply_layers(stage *s, size_t n, int root, const layer_hooks *h,
	hoist_error **err);
void stage_release(stage *s);
int image_stage(build *b, const char *image, stage **out, hoist_error **err);
int from_stage(build *b, stage *cur, const char *name, stage **out, hoist_error **err);
/* The content key of a path of the build context (dockerignore applied),
 * as COPY would see it; hex into out. */
int context_key(build *b, const char *path, char out[65], hoist_error **err);

/* rundir.c: RUN on a plain copy of the stage (see there) */
typedef struct rundir rundir;
typedef struct rundir_limits {
	size_t max_entries; /* 0: no bound */
	uint64_t max_bytes; /* uncompressed tar bytes; 0: no bound */
} rundir_limits;
/* Unpacks the stage's layers into root (created here) and returns 1;
 * returns 0 and makes nothing when they are larger than lim allows or not
 * all in the local store. */
int rundir_unpack(build *b, stage *s, const char *root, const rundir_limits *lim,
	hoist_error **err);
/* Records every entry under root.  A change shows in the ctimes only when
 * made after rundir_newest (the latest ctime recorded) on the coarse
 * clock: the command must not start before. */
int rundir_record(rundir **out, const char *root, const char *xattr_prefix,
	hoist_error **err);
struct timespec rundir_newest(const rundir *r);
/* Whether the copy's file system keeps fractions of a second (else a
 * command must wait for the next second to start). */
bool rundir_fine_times(const rundir *r);
size_t rundir_entries(const rundir *r);
/* Remembers that the stage's layers are too large for a copy. */
void rundir_mark_large(build *b, stage *s);
/* Moves what changed under the recorded root since rundir_record into
 * diff (an empty directory), laid out as an overlay upper dir.  (Rootless
 * with subordinate ids, a helper in a user namespace keeps the record,
 * does this, and deletes root when r is freed.) */
int rundir_extract(rundir *r, const char *diff, hoist_error **err);
void rundir_free(rundir *r);

/* run.c */
int run_step(build *b, stage *s, const hoist_df_instr *x, hoist_error **err);
/* copystep.c */
int copy_step(build *b, stage *s, const hoist_df_instr *x, hoist_error **err);

#endif

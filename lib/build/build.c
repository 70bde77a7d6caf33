/* hoist build: the executor (see hoist/build.h). */
#include "hoist/build.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "build/internal.h"
#include "hoist/compose.h"
#include "hoist/dockerignore.h"
#include "hoist/fs.h"
#include "hoist/layer.h"
#include "hoist/layout.h"
#include "hoist/sandbox.h"
#include "hoist/strset.h"
#include "util/cleanup.h"

HOIST_DEFINE_CLEANUP(hoist_dockerfile, hoist_dockerfile_free)
HOIST_DEFINE_CLEANUP(hoist_df_instr, hoist_df_instr_free)

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ---- small helpers ---- */

double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

void build_say(build *b, const char *fmt, ...)
{
	if (b->o->progress == HOIST_BUILD_PROGRESS_QUIET)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(b->log, fmt, ap);
	va_end(ap);
	fflush(b->log);
}

/* "Dockerfile:LINE: INSTR: ..." */
static int instr_error(build *b, const hoist_df_instr *i, hoist_error **err,
	int code, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int instr_error(build *b, const hoist_df_instr *i, hoist_error **err,
	int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *m = NULL;
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	va_end(ap);
	return hoist_error_set(err, code, "%s:%d: %s: %s", b->df->name, i->line,
		hoist_df_kind_name(i->kind), m ? m : "failed");
}

/* Wraps an error from a step with the step's place in the Dockerfile. */
int instr_wrap(build *b, const hoist_df_instr *i, hoist_error **err)
{
	return hoist_error_wrap(err, HOIST_E_IO, "%s:%d: %s", b->df->name, i->line,
		hoist_df_kind_name(i->kind));
}

void key_init(build_key *k, const char *parent)
{
	hoist_hasher_new(&k->h, HOIST_DIGEST_SHA256, NULL);
	if (parent)
		hoist_hasher_update(k->h, parent, strlen(parent));
}

void key_add(build_key *k, const char *field, const char *value)
{
	/* length-prefixed, so fields cannot run into each other */
	char len[32];
	int n = snprintf(len, sizeof(len), "|%zu:%s=", strlen(value ? value : ""), field);
	hoist_hasher_update(k->h, len, (size_t)n);
	if (value)
		hoist_hasher_update(k->h, value, strlen(value));
}

void key_addv(build_key *k, const char *field, char *const *v, size_t n)
{
	char num[32];
	snprintf(num, sizeof(num), "%zu", n);
	key_add(k, field, num);
	for (size_t i = 0; i < n; i++)
		key_add(k, field, v[i]);
}

void key_final(build_key *k, char out[65])
{
	hoist_digest d;
	hoist_hasher_final(k->h, &d);
	hoist_hasher_free(k->h);
	k->h = NULL;
	snprintf(out, 65, "%s", hoist_digest_hex(&d));
}

static char *json_str(json_t *j)
{
	return j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("null");
}

int strv_push(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 2) * sizeof(*nv));
	if (!nv)
		return -1;
	*v = nv;
	if (!(nv[*n] = strdup(s)))
		return -1;
	nv[++*n] = NULL;
	return 0;
}

void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* ---- stages ---- */

void stage_release(stage *s)
{
	json_decref(s->inline_keys);
	hoist_compose_free(s->img);
	hoist_df_scope_free(s->scope);
	strv_free(s->snaps, s->n_snaps);
	json_decref(s->shell);
}

/* Snapshots track the layers: snaps[i] is the directory with the diff of
 * layer i in overlay form, or NULL when only the blob is known. */
static int snaps_set(stage *s, size_t i, const char *dir, hoist_error **err)
{
	if (i >= s->n_snaps) {
		char **n = realloc(s->snaps, (i + 1) * sizeof(*n));
		if (!n)
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		for (size_t k = s->n_snaps; k <= i; k++)
			n[k] = NULL;
		s->snaps = n;
		s->n_snaps = i + 1;
	}
	free(s->snaps[i]);
	s->snaps[i] = dir ? strdup(dir) : NULL;
	if (dir && !s->snaps[i])
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	return 0;
}

static json_t *config_obj(stage *s)
{
	hoist_config *c = hoist_compose_config(s->img);
	json_t *cfg = json_object_get(c->json, "config");
	if (!json_is_object(cfg)) {
		cfg = json_object();
		json_object_set_new(c->json, "config", cfg);
	}
	return cfg;
}

const char *stage_user(stage *s)
{
	const char *u = hoist_config_user(hoist_compose_config(s->img));
	return u && *u ? u : NULL;
}

const char *stage_workdir(stage *s)
{
	const char *w = hoist_config_workdir(hoist_compose_config(s->img));
	return w && *w ? w : "/";
}

/* The path inside the image for a WORKDIR / relative destination. */
static char *image_path(const char *workdir, const char *p)
{
	char *out = NULL;
	if (p[0] == '/')
		return strdup(p);
	if (asprintf(&out, "%s%s%s", workdir, workdir[strlen(workdir) - 1] == '/' ? "" : "/",
		    p) < 0)
		return NULL;
	return out;
}

/* ---- the filesystem of a stage (overlay lower dirs) ---- */

int apply_layers(stage *s, size_t n, int root, const layer_hooks *h,
	hoist_error **err)
{
	hoist_source *src = hoist_compose_source(s->img, err);
	if (!src)
		return -HOIST_E_NOMEM;
	hoist_apply_opts ao = { 0 };
	ao.keep_owner = geteuid() == 0;
	ao.devices = geteuid() == 0;
	ao.xattrs = true;
	/* owners as the layer says, mapped as the sandbox will map them: with
	 * subordinate ids by a helper (hoist_sandbox_apply_layer), else here */
	bool here = h && h->on_entry && !hoist_sandbox_needs_helper();
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const hoist_descriptor *d = hoist_compose_layer(s->img, i);
		hoist_reader *blob = NULL, *tar = NULL;
		ao.max_bytes = hoist_layer_max_bytes(d->size);
		rc = src->ops->open_blob(src, d, &blob, err);
		if (rc == 0)
			rc = hoist_layer_decompress(&tar, blob, err);
		if (rc == 0 && h && h->wrap)
			rc = h->wrap(h->ud, &tar, err);
		if (rc == 0)
			rc = here ? hoist_layer_apply(root, tar, &ao, h->on_entry, h->ud, err)
				  : hoist_sandbox_apply_layer(root, tar, &ao, err);
		hoist_reader_free(tar);
		if (rc < 0)
			hoist_error_wrap(err, HOIST_E_IO, "unpack layer %s", d->digest.str);
	}
	return rc;
}

/* Materialises the first n layers of the stage's image as one merged
 * directory, cached in $HOIST_HOME/rootfs by the chain of their digests. */
void rootfs_key(stage *s, size_t n, char out[65])
{
	build_key k;
	key_init(&k, "rootfs");
	for (size_t i = 0; i < n; i++)
		key_add(&k, "layer", hoist_compose_layer(s->img, i)->digest.str);
	key_final(&k, out);
}

int merged_rootfs(build *b, stage *s, size_t n, char **out,
	hoist_error **err)
{
	char hex[65];
	rootfs_key(s, n, hex);
	_cleanup_free_ char *dir = NULL;
	if (asprintf(&dir, "%s/rootfs/%s", b->home, hex) < 0)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	if (hoist_fs_exists(AT_FDCWD, dir)) {
		*out = steal_ptr(&dir);
		return 0;
	}
	double t0 = now_s();
	build_say(b, "      unpacking %zu base layer%s\n", n, n == 1 ? "" : "s");
	_cleanup_free_ char *tmp = NULL;
	if (asprintf(&tmp, "%s/unpack-XXXXXX", b->tmp) < 0 || !mkdtemp(tmp))
		return hoist_error_errno(err, errno, "create a directory in '%s'", b->tmp);
	_cleanup_close_ int root = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return hoist_error_errno(err, errno, "open '%s'", tmp);
	int rc = apply_layers(s, n, root, NULL, err);
	if (rc == 0 && hoist_fs_mkdir_p(AT_FDCWD, b->home, 0755, err) == 0) {
		_cleanup_free_ char *parent = NULL;
		if (asprintf(&parent, "%s/rootfs", b->home) < 0)
			rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		else
			rc = hoist_fs_mkdir_p(AT_FDCWD, parent, 0755, err);
		/* Another build may have made it meanwhile: keep theirs. */
		if (rc == 0 && rename(tmp, dir) < 0 && errno != ENOTEMPTY && errno != EEXIST)
			rc = hoist_error_errno(err, errno, "rename '%s'", tmp);
	}
	hoist_fs_rm_rf(AT_FDCWD, tmp, NULL);
	if (rc < 0)
		return rc;
	build_say(b, "      unpacked in %.2fs\n", now_s() - t0);
	*out = steal_ptr(&dir);
	return 0;
}

static bool is_raw(const char *path);
static char *existing_snapshot(build *b, const hoist_digest *diff_id);
static int exact_snapshot(build *b, const char *path, char **out,
	hoist_error **err);

/* The overlay lower dirs of the stage as it is now, top first: the
 * snapshots of its newest layers, under one merged dir of the layers
 * below that have none. */
int stage_lowers(build *b, stage *s, char ***out, size_t *n, hoist_error **err)
{
	size_t total = hoist_compose_n_layers(s->img);
	size_t p = total;
	while (p > 0 && p - 1 < s->n_snaps && s->snaps[p - 1]) {
		if (is_raw(s->snaps[p - 1])) {
			_cleanup_free_ char *exact = NULL;
			int rc = exact_snapshot(b, s->snaps[p - 1], &exact, err);
			if (rc == 0)
				rc = snaps_set(s, p - 1, exact, err);
			if (rc < 0)
				return rc;
			if (!exact)
				break;
		}
		p--;
	}
	char **v = NULL;
	size_t nv = 0;
	for (size_t i = total; i > p; i--)
		if (strv_push(&v, &nv, s->snaps[i - 1]) < 0) {
			strv_free(v, nv);
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		}
	if (p > 0) {
		_cleanup_free_ char *m = NULL;
		int rc = merged_rootfs(b, s, p, &m, err);
		if (rc < 0 || strv_push(&v, &nv, m) < 0) {
			strv_free(v, nv);
			return rc < 0 ? rc : hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		}
	}
	*out = v;
	*n = nv;
	return 0;
}

/* ---- the cache ---- */

static char *cache_path(build *b, const char *key)
{
	char *p = NULL;
	if (asprintf(&p, "%s/cache/%s.json", b->home, key) < 0)
		return NULL;
	return p;
}

int cache_get(build *b, const char *key, cache_rec *out)
{
	memset(out, 0, sizeof(*out));
	if (b->o->no_cache)
		return 0;
	_cleanup_free_ char *p = cache_path(b, key);
	hoist_buf buf = HOIST_BUF_INIT(1 << 20);
	if (!p || hoist_fs_read_file(AT_FDCWD, p, &buf, NULL) < 0) {
		hoist_buf_release(&buf);
		return 0;
	}
	json_t *j = json_loadb(buf.data, buf.len, 0, NULL);
	hoist_buf_release(&buf);
	if (!json_is_object(j)) {
		json_decref(j);
		return 0;
	}
	json_t *layer = json_object_get(j, "layer");
	out->empty = json_is_null(layer) || !layer;
	if (!out->empty) {
		const char *diff = json_string_value(json_object_get(j, "diff_id"));
		if (!diff || hoist_descriptor_parse(&out->desc, layer, "layer", NULL) < 0 ||
			hoist_digest_parse(&out->diff_id, diff, NULL) < 0) {
			hoist_descriptor_release(&out->desc);
			json_decref(j);
			return 0;
		}
		/* A record whose blob was collected is a miss. */
		hoist_layout *l = NULL;
		bool have = hoist_layout_open(&l, b->home, false, NULL) == 0 &&
			hoist_layout_has_blob(l, &out->desc.digest);
		hoist_layout_free(l);
		if (!have) {
			hoist_descriptor_release(&out->desc);
			json_decref(j);
			return 0;
		}
	}
	json_decref(j);
	out->hit = true;
	return 0;
}

int cache_lookup(build *b, const char *key, cache_rec *out, hoist_error **err)
{
	cache_get(b, key, out);
	if (out->hit) {
		out->where = "local";
		return 0;
	}
	if (b->o->no_cache)
		return 0;
	for (size_t i = 0; i < b->n_cache_from; i++) {
		int rc = rcache_get(b, b->cache_from[i], key, out, err);
		if (rc < 0)
			return rc;
		if (out->hit) {
			out->from = rcache_source(b->cache_from[i]);
			out->where = b->o->cache_from[i];
			return 0;
		}
	}
	return 0;
}

void cache_rec_release(cache_rec *r)
{
	hoist_descriptor_release(&r->desc);
}

int cache_put(build *b, const char *key, const hoist_layer_info *info,
	hoist_error **err)
{
	json_t *j = json_object();
	if (info) {
		hoist_descriptor d = { 0 };
		d.media_type = (char *)info->media_type;
		d.digest = info->digest;
		d.size = info->size;
		json_object_set_new(j, "layer", hoist_descriptor_to_json(&d));
		json_object_set_new(j, "diff_id", json_string(info->diff_id.str));
	} else {
		json_object_set_new(j, "layer", json_null());
	}
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	if (!s)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	_cleanup_free_ char *dir = NULL;
	int rc = asprintf(&dir, "%s/cache", b->home) < 0
		? hoist_error_set(err, HOIST_E_NOMEM, "out of memory")
		: hoist_fs_mkdir_p(AT_FDCWD, dir, 0755, err);
	if (rc == 0) {
		_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		char name[80];
		snprintf(name, sizeof(name), "%s.json", key);
		rc = dfd < 0 ? hoist_error_errno(err, errno, "open '%s'", dir)
			: hoist_fs_write_atomic(dfd, name, s, strlen(s), 0644, err);
	}
	free(s);
	return rc;
}

/* Snapshots.  HOME/snapshots/DIFFID holds the files of a layer with the
 * times the layer records (the epoch), so that a later step reading it
 * sees what it would see of the unpacked layer: a RUN that archives or
 * lists files gives the same result on every build and every machine.
 * A step's result is first kept as DIFFID.raw, with the times it was
 * written at, beside DIFFID.raw.epoch (the epoch of its layer): setting
 * the times of 100,000 files costs about 0.3 s, paid by the first step
 * that reads the snapshot (exact_snapshot), not by the step that made it
 * (often the last one).
 *
 * keep_snapshot keeps dir (a RUN's upper dir or a COPY's output) as the
 * snapshot of the layer with this diff_id; *out gets where it is. */
static int keep_snapshot(build *b, const char *dir, const hoist_digest *diff_id,
	int64_t epoch, char **out, hoist_error **err)
{
	_cleanup_free_ char *parent = NULL, *dst = NULL, *raw = NULL, *ep = NULL;
	if (asprintf(&parent, "%s/snapshots", b->home) < 0 ||
		asprintf(&dst, "%s/%s", parent, hoist_digest_hex(diff_id)) < 0 ||
		asprintf(&raw, "%s.raw", dst) < 0 || asprintf(&ep, "%s.epoch", raw) < 0)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	int rc = hoist_fs_mkdir_p(AT_FDCWD, parent, 0755, err);
	if (rc < 0)
		return rc;
	if (hoist_fs_exists(AT_FDCWD, dst)) {
		hoist_sandbox_rm_rf(dir, NULL); /* same content is there */
		*out = steal_ptr(&dst);
		return 0;
	}
	char text[32];
	int n = snprintf(text, sizeof(text), "%lld\n", (long long)epoch);
	rc = hoist_fs_write_atomic(AT_FDCWD, ep, text, (size_t)n, 0644, err);
	if (rc < 0)
		return rc;
	if (rename(dir, raw) < 0) {
		if (errno != ENOTEMPTY && errno != EEXIST)
			return hoist_error_errno(err, errno, "keep snapshot '%s'", raw);
		hoist_sandbox_rm_rf(dir, NULL); /* same content is there */
	}
	*out = steal_ptr(&raw);
	return 0;
}

static bool is_raw(const char *path)
{
	size_t n = strlen(path);
	return n > 4 && !strcmp(path + n - 4, ".raw");
}

/* The snapshot at path, with the layer's times: a raw one gets them now
 * and its final name.  NULL (with nothing in *err) when its times cannot
 * be set (a rootless build's file of another id): the layer is unpacked
 * instead. */
static int exact_snapshot(build *b, const char *path, char **out,
	hoist_error **err)
{
	*out = NULL;
	_cleanup_free_ char *exact = strndup(path, is_raw(path) ? strlen(path) - 4
		: strlen(path));
	if (!exact)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	if (!is_raw(path) || hoist_fs_exists(AT_FDCWD, exact)) {
		*out = steal_ptr(&exact);
		return 0;
	}
	_cleanup_free_ char *ep = NULL;
	if (asprintf(&ep, "%s.epoch", path) < 0)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	hoist_buf t = HOIST_BUF_INIT(64);
	int rc = hoist_fs_read_file(AT_FDCWD, ep, &t, NULL);
	char *end = NULL;
	long long epoch = rc == 0 && t.len ? strtoll((const char *)t.data, &end, 10) : -1;
	if (epoch >= 0 && (end == (char *)t.data || (*end && *end != '\n')))
		epoch = -1; /* not what keep_snapshot wrote: do not trust it */
	hoist_buf_release(&t);
	if (epoch < 0)
		return 0;
	double t0 = now_s();
	hoist_error *e = NULL;
	if (hoist_fs_set_times_below(AT_FDCWD, path, epoch, &e) < 0) {
		if (b->o->progress == HOIST_BUILD_PROGRESS_PLAIN)
			build_say(b, "      snapshot %.12s not used: %s\n",
				strrchr(exact, '/') + 1, e->msg);
		hoist_error_free(e);
		return 0;
	}
	if (rename(path, exact) < 0 && !hoist_fs_exists(AT_FDCWD, exact))
		return hoist_error_errno(err, errno, "keep snapshot '%s'", exact);
	unlink(ep);
	if (now_s() - t0 >= 0.05)
		build_say(b, "      set the times of snapshot %.12s in %.2fs\n",
			strrchr(exact, '/') + 1, now_s() - t0);
	*out = steal_ptr(&exact);
	return 0;
}

/* The snapshot of a cached layer, when this machine still has it. */
static char *existing_snapshot(build *b, const hoist_digest *diff_id)
{
	char *p = NULL;
	if (asprintf(&p, "%s/snapshots/%s", b->home, hoist_digest_hex(diff_id)) < 0)
		return NULL;
	if (hoist_fs_exists(AT_FDCWD, p))
		return p;
	char *raw = NULL;
	if (asprintf(&raw, "%s.raw", p) < 0)
		raw = NULL;
	free(p);
	if (raw && !hoist_fs_exists(AT_FDCWD, raw)) {
		free(raw);
		raw = NULL;
	}
	return raw;
}

static bool dir_empty(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return true;
	struct dirent *e;
	bool empty = true;
	while (empty && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			empty = false;
	closedir(d);
	return empty;
}

/* Remembers which key made layer `index` (or an empty step) for the
 * inline cache. */
static void note_key(stage *s, const char *key, long index)
{
	if (!s->inline_keys)
		s->inline_keys = json_pack("{s:{},s:[]}", "layers", "empty");
	if (index < 0)
		json_array_append_new(json_object_get(s->inline_keys, "empty"), json_string(key));
	else
		json_object_set_new(json_object_get(s->inline_keys, "layers"), key,
			json_integer(index));
}

/* After a step: the chain moves on by what the step produced (its layer's
 * diff_id), not by its inputs, so a step that ran again and made the same
 * layer as before (hoist's layers are reproducible) lets later steps hit
 * the cache again. */
static void chain_result(stage *s, const hoist_digest *diff_id)
{
	build_key k;
	key_init(&k, s->chain);
	key_add(&k, "result", diff_id ? diff_id->str : "empty");
	key_final(&k, s->chain);
}

/* A RUN's files: the ids inside the sandbox, from those on disk. */
static bool sandbox_owner(const void *ud, const char *name, const struct stat *st,
	int64_t *uid, int64_t *gid)
{
	(void)name;
	int64_t u = hoist_sandbox_idmap_uid(ud, st->st_uid);
	int64_t g = hoist_sandbox_idmap_gid(ud, st->st_gid);
	*uid = u >= 0 ? u : st->st_uid;
	*gid = g >= 0 ? g : st->st_gid;
	return true;
}

/* Turns dir into a layer of the stage (or, empty, a history entry),
 * records it in the cache under key and keeps dir as its snapshot. */
int commit_dir(build *b, stage *s, const char *dir, bool overlay,
	int64_t uid, int64_t gid, const char *created_by, const char *key,
	hoist_error **err)
{
	return commit_dir_owner(b, s, dir, overlay, uid, gid, NULL, NULL, created_by,
		key, err);
}

int commit_dir_owner(build *b, stage *s, const char *dir, bool overlay,
	int64_t uid, int64_t gid, hoist_layer_owner_fn owner, const void *owner_ud,
	const char *created_by, const char *key, hoist_error **err)
{
	if (dir_empty(dir)) {
		hoist_sandbox_rm_rf(dir, NULL);
		int rc = hoist_compose_add_history(s->img, created_by, err);
		if (rc == 0)
			rc = cache_put(b, key, NULL, err);
		if (rc == 0 && b->cache_to)
			rc = rcache_put(b, b->cache_to, key, NULL, NULL, err);
		if (rc == 0) {
			note_key(s, key, -1);
			chain_result(s, NULL);
		}
		return rc;
	}
	hoist_layer_opts lo;
	hoist_compose_layer_opts(s->img, &lo);
	lo.keep_owner = uid < 0;
	hoist_sandbox_idmap *idm = NULL;
	if (owner) {
		lo.owner = owner;
		lo.owner_ud = owner_ud;
	} else if (lo.keep_owner && hoist_sandbox_idmap_new(&idm, NULL) == 0) {
		lo.owner = sandbox_owner;
		lo.owner_ud = idm;
	}
	lo.uid = uid;
	lo.gid = uid < 0 ? -1 : gid < 0 ? uid : gid;
	lo.devices = true;
	lo.overlay_xattr_prefix = overlay ? hoist_sandbox_overlay_xattr_prefix() : NULL;
	hoist_layer_writer *w = NULL;
	hoist_layer_info info;
	int rc = hoist_compose_begin_layer(s->img, &lo, &w, err);
	if (rc < 0) {
		hoist_sandbox_idmap_free(idm);
		return rc;
	}
	rc = hoist_layer_writer_add_tree(w, dir, "/", NULL, NULL, err);
	if (rc < 0) {
		hoist_layer_writer_free(w);
		hoist_compose_abort_layer(s->img);
		hoist_sandbox_idmap_free(idm);
		return rc;
	}
	rc = hoist_compose_end_layer(s->img, w, created_by, &info, err);
	hoist_sandbox_idmap_free(idm);
	if (rc < 0)
		return rc;
	_cleanup_free_ char *snap = NULL;
	rc = keep_snapshot(b, dir, &info.diff_id, hoist_layer_epoch(&lo), &snap, err);
	if (rc == 0)
		rc = snaps_set(s, hoist_compose_n_layers(s->img) - 1, snap, err);
	if (rc == 0)
		rc = cache_put(b, key, &info, err);
	if (rc == 0 && b->cache_to) {
		const hoist_descriptor *d = hoist_compose_layer(s->img,
			hoist_compose_n_layers(s->img) - 1);
		rc = rcache_put(b, b->cache_to, key, d, &info.diff_id, err);
	}
	if (rc == 0) {
		note_key(s, key, (long)hoist_compose_n_layers(s->img) - 1);
		chain_result(s, &info.diff_id);
	}
	build_say(b, "      layer %s (%lld bytes)\n", info.digest.str, (long long)info.size);
	return rc;
}

/* Uses a cache record: the layer (and its snapshot if this machine has it)
 * or an empty history entry. */
int use_cached(build *b, stage *s, const cache_rec *r, const char *key,
	const char *created_by, hoist_error **err)
{
	if (r->empty) {
		note_key(s, key, -1);
		chain_result(s, NULL);
		return hoist_compose_add_history(s->img, created_by, err);
	}
	int rc = r->from
		? hoist_compose_add_remote_layer(s->img, &r->desc, &r->diff_id, created_by,
			  r->from, err)
		: hoist_compose_add_existing_layer(s->img, &r->desc, &r->diff_id,
			  created_by, err);
	if (rc < 0)
		return rc;
	note_key(s, key, (long)hoist_compose_n_layers(s->img) - 1);
	chain_result(s, &r->diff_id);
	_cleanup_free_ char *snap = existing_snapshot(b, &r->diff_id);
	return snaps_set(s, hoist_compose_n_layers(s->img) - 1, snap, err);
}

/* ---- instructions that only change the config ---- */

static json_t *strv_json(char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* CMD/ENTRYPOINT/HEALTHCHECK command: exec form as is, shell form through
 * the stage's SHELL. */
static json_t *command_json(stage *s, const hoist_df_instr *i)
{
	if (i->json)
		return strv_json(i->args, i->n_args);
	json_t *a = json_deep_copy(s->shell);
	json_array_append_new(a, json_string(i->cmdline ? i->cmdline : ""));
	return a;
}

static int64_t ns_or_skip(json_t *o, const char *k, int64_t v)
{
	if (v)
		json_object_set_new(o, k, json_integer(v));
	return v;
}

static int config_step(build *b, stage *s, const hoist_df_instr *x,
	hoist_error **err)
{
	hoist_config *c = hoist_compose_config(s->img);
	json_t *cfg = config_obj(s);
	int rc = 0;
	switch (x->kind) {
	case HOIST_DF_ENV:
		for (size_t k = 0; rc == 0 && k < x->n_kvs; k++) {
			_cleanup_free_ char *kv = NULL;
			if (asprintf(&kv, "%s=%s", x->kvs[k].key, x->kvs[k].value) < 0)
				return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
			rc = hoist_config_set_env(c, kv, err);
			if (rc == 0)
				rc = hoist_df_scope_set_env(s->scope, x->kvs[k].key,
					x->kvs[k].value, err);
		}
		break;
	case HOIST_DF_LABEL:
		for (size_t k = 0; rc == 0 && k < x->n_kvs; k++)
			rc = hoist_config_set_label(c, x->kvs[k].key, x->kvs[k].value, err);
		break;
	case HOIST_DF_EXPOSE:
		for (size_t k = 0; rc == 0 && k < x->n_args; k++)
			rc = hoist_config_add_exposed_port(c, x->args[k], err);
		break;
	case HOIST_DF_VOLUME:
		for (size_t k = 0; rc == 0 && k < x->n_args; k++)
			rc = hoist_config_add_volume(c, x->args[k], err);
		break;
	case HOIST_DF_USER:
		rc = hoist_config_set_user(c, x->n_args ? x->args[0] : NULL, err);
		break;
	case HOIST_DF_WORKDIR: {
		_cleanup_free_ char *p = x->n_args ? image_path(stage_workdir(s), x->args[0]) : NULL;
		if (!p)
			return instr_error(b, x, err, HOIST_E_INVALID, "a directory is needed");
		rc = hoist_config_set_workdir(c, p, err);
		break;
	}
	case HOIST_DF_STOPSIGNAL:
		rc = hoist_config_set_stop_signal(c, x->n_args ? x->args[0] : NULL, err);
		break;
	case HOIST_DF_CMD: {
		json_t *a = command_json(s, x);
		rc = hoist_config_set_cmd(c, a, err);
		json_decref(a);
		s->cmd_set = true;
		break;
	}
	case HOIST_DF_ENTRYPOINT: {
		json_t *a = command_json(s, x);
		rc = hoist_config_set_entrypoint(c, a, err);
		json_decref(a);
		/* As Docker: a new ENTRYPOINT drops a CMD inherited from the base. */
		if (rc == 0 && !s->cmd_set)
			rc = hoist_config_set_cmd(c, NULL, err);
		break;
	}
	case HOIST_DF_SHELL:
		json_decref(s->shell);
		s->shell = strv_json(x->args, x->n_args);
		json_object_set(cfg, "Shell", s->shell);
		break;
	case HOIST_DF_HEALTHCHECK: {
		json_t *h = json_object();
		json_t *test = json_array();
		if (x->health.none) {
			json_array_append_new(test, json_string("NONE"));
		} else if (x->json) {
			json_array_append_new(test, json_string("CMD"));
			for (size_t k = 0; k < x->n_args; k++)
				json_array_append_new(test, json_string(x->args[k]));
		} else {
			json_array_append_new(test, json_string("CMD-SHELL"));
			json_array_append_new(test, json_string(x->cmdline ? x->cmdline : ""));
		}
		json_object_set_new(h, "Test", test);
		ns_or_skip(h, "Interval", x->health.interval);
		ns_or_skip(h, "Timeout", x->health.timeout);
		ns_or_skip(h, "StartPeriod", x->health.start_period);
		ns_or_skip(h, "StartInterval", x->health.start_interval);
		if (x->health.retries)
			json_object_set_new(h, "Retries", json_integer(x->health.retries));
		json_object_set_new(cfg, "Healthcheck", h);
		break;
	}
	case HOIST_DF_ONBUILD: {
		json_t *on = json_object_get(cfg, "OnBuild");
		if (!json_is_array(on)) {
			on = json_array();
			json_object_set_new(cfg, "OnBuild", on);
		}
		json_array_append_new(on, json_string(x->cmdline ? x->cmdline : ""));
		break;
	}
	case HOIST_DF_MAINTAINER:
		rc = hoist_config_set_label(c, "maintainer", x->n_args ? x->args[0] : "", err);
		break;
	default:
		break;
	}
	if (rc < 0)
		return instr_wrap(b, x, err);
	return 0;
}

/* ---- stages and instructions ---- */

static int build_stage(build *b, size_t idx, hoist_error **err);

/* The stage an expanded name refers to ("builder", "0"), or -1. */
long find_stage(build *b, const char *name, size_t before)
{
	const hoist_df_stage *st = hoist_dockerfile_stage(b->df, name);
	if (st) {
		long i = (long)(st - b->df->stages);
		return (size_t)i < before ? i : -1;
	}
	char *end = NULL;
	errno = 0;
	long v = strtol(name, &end, 10);
	if (!errno && end && !*end && end != name && v >= 0 && (size_t)v < before)
		return v;
	return -1;
}

/* An image named by COPY --from or RUN --mount from=, as a stage of its
 * own (opened once per build). */
int image_stage(build *b, const char *image, stage **out, hoist_error **err)
{
	for (size_t i = 0; i < b->n_images; i++)
		if (!strcmp(b->image_names[i], image)) {
			*out = b->images[i];
			return 0;
		}
	stage *s = calloc(1, sizeof(*s));
	char **names = realloc(b->image_names, (b->n_images + 1) * sizeof(*names));
	if (names)
		b->image_names = names;
	stage **imgs = realloc(b->images, (b->n_images + 1) * sizeof(*imgs));
	if (imgs)
		b->images = imgs;
	if (!s || !names || !imgs) {
		free(s);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	int rc = hoist_compose_new(&s->img, b->ctx, image, &b->target_plat, err);
	if (rc < 0) {
		free(s);
		return rc;
	}
	s->built = true;
	b->image_names[b->n_images] = strdup(image);
	b->images[b->n_images++] = s;
	build_key k;
	key_init(&k, "IMAGE");
	key_add(&k, "digest", hoist_compose_base_digest(s->img));
	key_final(&k, s->chain);
	*out = s;
	return 0;
}

/* The stage or image a --from names, built or opened. */
int from_stage(build *b, stage *cur, const char *name, stage **out, hoist_error **err)
{
	long i = find_stage(b, name, cur->idx);
	if (i >= 0) {
		int rc = need_stage(b, (size_t)i, err);
		if (rc == 0)
			*out = &b->stages[i];
		return rc;
	}
	return image_stage(b, name, out, err);
}

int need_stage(build *b, size_t idx, hoist_error **err)
{
	if (b->stages[idx].built)
		return 0;
	if (b->stages[idx].building)
		return hoist_error_set(err, HOIST_E_INVALID,
			"%s:%d: FROM: stage %zu depends on itself", b->df->name,
			b->df->stages[idx].line, idx);
	return build_stage(b, idx, err);
}

static int start_stage(build *b, stage *s, hoist_error **err)
{
	const hoist_df_stage *d = s->df;
	_cleanup_free_ char *base = NULL;
	int rc = hoist_df_expand_word(&base, d->base, b->df->escape,
		hoist_df_scope_lookup, b->global, err);
	_cleanup_free_ char *plat_s = NULL;
	if (rc == 0 && d->platform)
		rc = hoist_df_expand_word(&plat_s, d->platform, b->df->escape,
			hoist_df_scope_lookup, b->global, err);
	if (rc < 0)
		return instr_wrap(b, &d->from, err);
	hoist_platform plat = { 0 };
	bool have_plat = false;
	if (plat_s) {
		if (hoist_platform_parse(&plat, plat_s, err) < 0)
			return instr_wrap(b, &d->from, err);
		have_plat = true;
	}
	long parent = find_stage(b, base, s->idx);
	const hoist_platform *want = have_plat ? &plat : &b->target_plat;
	stage *ps = NULL;
	if (parent >= 0) {
		rc = need_stage(b, (size_t)parent, err);
		ps = &b->stages[parent];
		if (rc == 0)
			rc = hoist_compose_new_from(&s->img, ps->img, err);
	} else if (!strcmp(base, "scratch")) {
		rc = hoist_compose_new(&s->img, b->ctx, NULL, want, err);
	} else {
		rc = hoist_compose_new(&s->img, b->ctx, base, want, err);
	}
	hoist_platform_release(&plat);
	if (rc < 0)
		return instr_wrap(b, &d->from, err);
	build_say(b, "[%zu/%zu] FROM %s%s%s\n", ++b->step, b->nsteps, base,
		*hoist_compose_base_digest(s->img) ? "@" : "",
		hoist_compose_base_digest(s->img));
	rc = hoist_df_scope_new_stage(&s->scope, b->global, ps ? ps->scope : NULL, err);
	if (rc < 0)
		return rc;
	json_t *env = hoist_config_env(hoist_compose_config(s->img));
	size_t i;
	json_t *v;
	json_array_foreach(env, i, v) {
		const char *kv = json_string_value(v);
		const char *eq = kv ? strchr(kv, '=') : NULL;
		if (!eq)
			continue;
		_cleanup_free_ char *k = strndup(kv, (size_t)(eq - kv));
		if (k && hoist_df_scope_set_env(s->scope, k, eq + 1, err) < 0)
			return -HOIST_E_NOMEM;
	}
	json_t *shell = json_object_get(config_obj(s), "Shell");
	s->shell = json_is_array(shell) && json_array_size(shell)
		? json_deep_copy(shell) : json_pack("[ss]", "/bin/sh", "-c");
	/* Snapshots (and inline cache keys) carry over from a parent stage:
	 * its layers are ours. */
	if (ps && ps->inline_keys)
		s->inline_keys = json_deep_copy(ps->inline_keys);
	if (ps)
		for (size_t k = 0; rc == 0 && k < ps->n_snaps; k++)
			rc = snaps_set(s, k, ps->snaps[k], err);
	/* An image this machine built (or a cache hit unpacked): the
	 * snapshots of its layers, by diff_id, spare unpacking them. */
	const hoist_config *cfg = hoist_compose_config(s->img);
	size_t nl = ps ? 0 : hoist_compose_n_layers(s->img);
	if (nl > hoist_config_n_diff_ids(cfg))
		nl = hoist_config_n_diff_ids(cfg);
	for (size_t k = 0; rc == 0 && k < nl; k++) {
		hoist_digest did;
		hoist_error *e = NULL;
		if (hoist_digest_parse(&did, hoist_config_diff_id(cfg, k), &e) < 0) {
			hoist_error_free(e);
			continue;
		}
		_cleanup_free_ char *snap = existing_snapshot(b, &did);
		if (snap)
			rc = snaps_set(s, k, snap, err);
	}
	build_key k;
	key_init(&k, "FROM");
	key_add(&k, "base", *hoist_compose_base_digest(s->img)
		? hoist_compose_base_digest(s->img) : base);
	_cleanup_free_ char *ps_s = hoist_platform_string(want);
	key_add(&k, "platform", ps_s);
	if (ps)
		key_add(&k, "parent", ps->chain);
	key_final(&k, s->chain);
	return rc;
}

/* Runs the ONBUILD triggers of the base image, then forgets them. */
static int run_onbuild(build *b, stage *s, hoist_error **err)
{
	json_t *cfg = config_obj(s);
	json_t *on = json_object_get(cfg, "OnBuild");
	if (!json_is_array(on) || !json_array_size(on))
		return 0;
	json_incref(on);
	json_object_del(cfg, "OnBuild");
	int rc = 0;
	size_t i;
	json_t *v;
	json_array_foreach(on, i, v) {
		const char *trigger = json_string_value(v);
		if (!trigger)
			continue;
		_cleanup_free_ char *text = NULL;
		if (asprintf(&text, "FROM scratch\n%s\n", trigger) < 0) {
			rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
			break;
		}
		_cleanup_(hoist_dockerfile_freep) hoist_dockerfile *t = NULL;
		rc = hoist_dockerfile_parse(&t, "ONBUILD", text, strlen(text), err);
		if (rc == 0 && t->stages[0].n_instrs)
			rc = run_instr(b, s, &t->stages[0].instrs[0], err);
		if (rc < 0) {
			hoist_error_wrap(err, HOIST_E_INVALID, "ONBUILD trigger '%s'", trigger);
			break;
		}
	}
	json_decref(on);
	return rc;
}

int run_instr(build *b, stage *s, const hoist_df_instr *raw, hoist_error **err)
{
	if (raw->kind == HOIST_DF_ARG) {
		int rc = hoist_df_scope_apply_arg(s->scope, raw, err);
		return rc < 0 ? instr_wrap(b, raw, err) : 0;
	}
	_cleanup_(hoist_df_instr_freep) hoist_df_instr *x = NULL;
	int rc = hoist_df_instr_expand(&x, b->df, raw, hoist_df_scope_lookup, s->scope, err);
	if (rc < 0)
		return rc;
	double t0 = now_s();
	switch (x->kind) {
	case HOIST_DF_RUN:
		build_say(b, "[%zu/%zu] %s\n", ++b->step, b->nsteps, raw->original);
		rc = run_step(b, s, x, err);
		break;
	case HOIST_DF_COPY:
	case HOIST_DF_ADD:
		build_say(b, "[%zu/%zu] %s\n", ++b->step, b->nsteps, raw->original);
		rc = copy_step(b, s, x, err);
		break;
	default: {
		build_say(b, "[%zu/%zu] %s\n", ++b->step, b->nsteps, raw->original);
		rc = config_step(b, s, x, err);
		if (rc == 0) {
			build_key k;
			key_init(&k, s->chain);
			key_add(&k, "instr", raw->original);
			_cleanup_free_ char *cfg = json_str(config_obj(s));
			key_add(&k, "config", cfg);
			key_final(&k, s->chain);
			_cleanup_free_ char *by = NULL;
			if (asprintf(&by, "%s # buildkit", raw->original) >= 0)
				rc = hoist_compose_add_history(s->img, by, err);
		}
		return rc;
	}
	}
	if (rc == 0 && b->o->progress != HOIST_BUILD_PROGRESS_QUIET)
		build_say(b, "      done in %.2fs\n", now_s() - t0);
	return rc;
}

static int build_stage(build *b, size_t idx, hoist_error **err)
{
	stage *s = &b->stages[idx];
	s->building = true;
	int rc = 0;
	/* Stages this one copies or mounts from (by their literal names) are
	 * built first, so that the output reads in order. */
	for (size_t i = 0; rc == 0 && i < s->df->n_instrs; i++) {
		const hoist_df_instr *x = &s->df->instrs[i];
		const char *from = x->kind == HOIST_DF_COPY ? hoist_df_instr_flag(x, "from") : NULL;
		long dep = from ? find_stage(b, from, idx) : -1;
		for (size_t m = 0; dep < 0 && m < x->n_mounts; m++)
			if (x->mounts[m].from)
				dep = find_stage(b, x->mounts[m].from, idx);
		if (dep >= 0)
			rc = need_stage(b, (size_t)dep, err);
	}
	if (rc == 0)
		rc = start_stage(b, s, err);
	if (rc == 0)
		rc = run_onbuild(b, s, err);
	for (size_t i = 0; rc == 0 && i < s->df->n_instrs; i++)
		rc = run_instr(b, s, &s->df->instrs[i], err);
	s->building = false;
	s->built = rc == 0;
	return rc;
}

static size_t count_steps(const hoist_dockerfile *df, size_t target)
{
	size_t n = 0;
	for (size_t i = 0; i <= target; i++)
		for (size_t k = 0; k < df->stages[i].n_instrs; k++)
			n += df->stages[i].instrs[k].kind != HOIST_DF_ARG;
	return n + target + 1;
}

static int platform_args(build *b, hoist_df_kv **out, size_t *n, hoist_error **err)
{
	const hoist_platform *t = &b->target_plat, *h = &b->build_plat;
	_cleanup_free_ char *ts = hoist_platform_string(t);
	_cleanup_free_ char *hs = hoist_platform_string(h);
	const char *vals[8][2] = {
		{ "TARGETPLATFORM", ts }, { "TARGETOS", t->os }, { "TARGETARCH", t->architecture },
		{ "TARGETVARIANT", t->variant ? t->variant : "" },
		{ "BUILDPLATFORM", hs }, { "BUILDOS", h->os }, { "BUILDARCH", h->architecture },
		{ "BUILDVARIANT", h->variant ? h->variant : "" },
	};
	hoist_df_kv *kv = calloc(8, sizeof(*kv));
	if (!kv)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	for (size_t i = 0; i < 8; i++) {
		kv[i].key = strdup(vals[i][0]);
		kv[i].value = strdup(vals[i][1] ? vals[i][1] : "");
	}
	*out = kv;
	*n = 8;
	return 0;
}

static void kv_free(hoist_df_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

/* The name a build without -t gets in the store. */
static int default_tag(const hoist_digest *cfg, char **out)
{
	return asprintf(out, "local:build:%.12s", hoist_digest_hex(cfg)) < 0 ? -1 : 0;
}

int hoist_build(hoist_ctx *ctx, const hoist_build_opts *o, hoist_build_result *res,
	hoist_error **err)
{
	build b = { 0 };
	b.ctx = ctx;
	b.o = o;
	b.log = o->log ? o->log : stderr;
	b.res = res;
	memset(res, 0, sizeof(*res));
	b.home = hoist_ctx_home(ctx);
	snprintf(b.id, sizeof(b.id), "%lx", (unsigned long)time(NULL) ^ (unsigned long)getpid());
	int rc = 0;
	_cleanup_free_ char *dfpath = NULL;
	if (!o->dockerfile && asprintf(&dfpath, "%s/Dockerfile", o->context) < 0)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	const char *dfile = o->dockerfile ? o->dockerfile : dfpath;
	_cleanup_(hoist_dockerfile_freep) hoist_dockerfile *df = NULL;
	rc = hoist_dockerfile_load(&df, AT_FDCWD, dfile, err);
	if (rc < 0)
		return rc;
	b.df = df;
	for (size_t i = 0; i < df->n_warnings; i++)
		build_say(&b, "warning: %s\n", df->warnings[i]);
	size_t target = df->n_stages - 1;
	if (o->target) {
		const hoist_df_stage *t = hoist_dockerfile_stage(df, o->target);
		if (!t)
			return hoist_error_set(err, HOIST_E_NOTFOUND,
				"target stage '%s' not found in %s", o->target, df->name);
		target = (size_t)(t - df->stages);
	}
	_cleanup_close_ int ctxfd = open(o->context, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ctxfd < 0)
		return hoist_error_errno(err, errno, "build context '%s'", o->context);
	rc = hoist_dockerignore_load(&b.ignore, ctxfd, o->dockerfile, err);
	if (rc < 0)
		return rc;
	/* plaforms */
	rc = hoist_platform_host(&b.build_plat, err);
	if (rc == 0)
		rc = o->platform ? hoist_platform_copy(&b.target_plat, o->platform, err)
				 : hoist_platform_copy(&b.target_plat, &b.build_plat, err);
	hoist_df_kv *pargs = NULL;
	size_t n_pargs = 0;
	if (rc == 0)
		rc = platform_args(&b, &pargs, &n_pargs, err);
	if (rc == 0)
		rc = hoist_df_scope_new_global(&b.global, df, o->build_args, o->n_build_args,
			pargs, n_pargs, err);
	kv_free(pargs, n_pargs);
	/* work space on the store's file system (renames into it are atomic) */
	if (rc == 0 && asprintf(&b.tmp, "%s/tmp", b.home) < 0)
		rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	if (rc == 0)
		rc = hoist_fs_mkdir_p(AT_FDCWD, b.tmp, 0700, err);
	hoist_layout *store = NULL;
	if (rc == 0)
		rc = hoist_layout_open(&store, b.home, true, err);
	if (rc == 0)
		rc = hoist_layout_hold(store, err);
	b.stages = calloc(df->n_stages, sizeof(*b.stages));
	if (rc == 0 && !b.stages)
		rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	for (size_t i = 0; rc == 0 && i < df->n_stages; i++) {
		b.stages[i].df = &df->stages[i];
		b.stages[i].idx = i;
	}
	for (size_t i = 0; rc == 0 && i < o->n_cache_from; i++) {
		rcache **n = realloc(b.cache_from, (b.n_cache_from + 1) * sizeof(*n));
		if (!n) {
			rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
			break;
		}
		b.cache_from = n;
		rc = rcache_open(&b, o->cache_from[i], false, &n[b.n_cache_from], err);
		if (rc == 0)
			b.n_cache_from++;
	}
	if (rc == 0 && o->cache_to)
		rc = rcache_open(&b, o->cache_to, true, &b.cache_to, err);
	b.context_fd = ctxfd;
	b.nsteps = count_steps(df, target);
	double t0 = now_s();
	if (rc == 0)
		rc = need_stage(&b, target, err);
	stage *fin = rc == 0 ? &b.stages[target] : NULL;
	hoist_digest dg = { 0 };
	if (rc == 0) {
		char **unused = NULL;
		size_t n_unused = 0;
		if (hoist_df_scope_unused_build_args(b.global, &unused, &n_unused, NULL) == 0) {
			for (size_t i = 0; i < n_unused; i++)
				build_say(&b, "warning: build argument '%s' was not consumed\n", unused[i]);
			hoist_df_strv_free(unused, n_unused);
		}
		if (o->cache_inline && fin->inline_keys) {
			char *j = json_dumps(fin->inline_keys, JSON_COMPACT | JSON_SORT_KEYS);
			rc = j ? hoist_compose_set_annotation(fin->img, "dev.hoist.cache.v1", j, err)
			       : hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
			free(j);
		}
		hoist_source *src = rc == 0 ? hoist_compose_source(fin->img, err) : NULL;
		rc = src ? 0 : rc < 0 ? rc : -HOIST_E_NOMEM;
		if (rc == 0) {
			hoist_manifest *m = NULL;
			rc = hoist_source_manifest(src, NULL, &m, err);
			if (rc == 0) {
				res->config = m->config.digest;
				res->digest = m->digest;
			}
			hoist_manifest_free(m);
		}
		_cleanup_free_ char *dflt = NULL;
		size_t ntags = o->n_tags;
		const char *const *tags = o->tags;
		if (rc == 0 && !ntags) {
			if (default_tag(&res->config, &dflt) < 0)
				rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
			tags = (const char *const *)&dflt;
			ntags = 1;
		}
		for (size_t i = 0; rc == 0 && i < ntags; i++) {
			hoist_copy_stats st = { 0 };
			rc = hoist_compose_write(fin->img, tags[i], &dg, &st, err);
			if (rc == 0)
				build_say(&b, "=> %s %s\n", tags[i], dg.str);
		}
	}
	if (rc == 0)
		build_say(&b, "built %s in %.2fs (%zu steps, %zu cached, %zu RUN executed)\n",
			res->digest.str, now_s() - t0, res->steps, res->cached, res->ran);
	for (size_t i = 0; b.stages && i < df->n_stages; i++) {
		stage_release(&b.stages[i]);
	}
	free(b.stages);
	for (size_t i = 0; i < b.n_images; i++) {
		stage_release(b.images[i]);
		free(b.images[i]);
		free(b.image_names[i]);
	}
	free(b.images);
	free(b.image_names);
	for (size_t i = 0; i < b.n_cache_from; i++)
		rcache_free(b.cache_from[i]);
	free(b.cache_from);
	rcache_free(b.cache_to);
	hoist_layout_free(store);
	hoist_df_scope_free(b.global);
	hoist_dockerignore_free(b.ignore);
	hoist_platform_release(&b.build_plat);
	hoist_platform_release(&b.target_plat);
	free(b.tmp);
	return rc;
}

/* The build cache in a registry repository (--cache-repo, --cache-from,
 * --cache-to).  One record per step key, as a small OCI manifest tagged
 * "k-<key>" (see docs/cache.md):
 *
 *   {"schemaVersion":2, "mediaType": OCI manifest,
 *    "artifactType":"application/vnd.hoist.build-cache.v1",
 *    "config": the empty config "{}",
 *    "layers": [the step's layer] or [] when the step made none,
 *    "annotations": {"dev.hoist.cache.diff_id": ..., "dev.hoist.cache.created": ...}}
 *
 * A lookup is one manifest GET; a hit costs nothing more until a later
 * step needs the layer's files, and a destination in the same registry
 * mounts the layer from the cache repository. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "build/internal.h"
#include "hoist/image.h"
#include "hoist/layout.h"
#include "hoist/registry.h"
#include "util/cleanup.h"

#define CACHE_ARTIFACT "application/vnd.hoist.build-cache.v1"
#define ANN_DIFF "dev.hoist.cache.diff_id"
#define ANN_CREATED "dev.hoist.cache.created"

struct rcache {
	char *name;        /* as given */
	hoist_ref *ref;
	hoist_registry *reg; /* shared client, borrowed from the ctx */
	hoist_source *src;   /* for the blobs of hits */
	bool want_push;
	/* an earlier image as cache: its layers by the keys it carries */
	hoist_image *img;
	json_t *keys;
};

void rcache_free(rcache *c)
{
	if (!c)
		return;
	free(c->name);
	hoist_image_free(c->img);
	json_decref(c->keys);
	hoist_ref_free(c->ref);
	hoist_source_free(c->src);
	free(c);
}

int rcache_open(build *b, const char *name, bool push, rcache **out, hoist_error **err)
{
	rcache *c = calloc(1, sizeof(*c));
	if (!c)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	const char *s = !strncmp(name, "docker://", 9) ? name + 9 : name;
	int rc = 0;
	if (!(c->name = strdup(s)))
		rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	if (rc == 0)
		rc = hoist_ref_parse(&c->ref, s, err);
	if (rc == 0 && (c->ref->tag || c->ref->digest)) {
		/* An image: its inline cache (dev.hoist.cache.v1), read once. */
		if (push)
			rc = hoist_error_set(err, HOIST_E_INVALID,
				"cache repository '%s': name a repository, without tag or digest", name);
		if (rc == 0)
			rc = hoist_source_open(b->ctx, name, &c->src, err);
		if (rc == 0)
			rc = hoist_image_load(c->src, &b->target_plat, &c->img, err);
		if (rc == 0) {
			json_t *ann = json_object_get(c->img->manifest->json, "annotations");
			const char *v = json_string_value(json_object_get(ann, "dev.hoist.cache.v1"));
			c->keys = v ? json_loads(v, 0, NULL) : NULL;
			if (!c->keys)
				hoist_log(b->ctx, HOIST_LOG_WARN,
					"--cache-from '%s': the image has no inline cache (build it with --cache-to type=inline)",
					name);
			*out = c;
			return 0;
		}
	}
	if (rc == 0)
		rc = hoist_registry_shared(&c->reg, b->ctx, c->ref->domain, err);
	if (rc == 0 && push)
		rc = hoist_registry_want_push(c->reg, c->ref->path, err);
	_cleanup_free_ char *src = NULL;
	if (rc == 0 && asprintf(&src, "docker://%s/%s:hoist-cache", c->ref->domain,
			       c->ref->path) < 0)
		rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	if (rc == 0)
		rc = hoist_source_open(b->ctx, src, &c->src, err);
	if (rc < 0) {
		rcache_free(c);
		return hoist_error_wrap(err, HOIST_E_INVALID, "cache '%s'", name);
	}
	c->want_push = push;
	*out = c;
	return 0;
}

hoist_source *rcache_source(rcache *c)
{
	return c->src;
}

static long long parse_time(const char *s)
{
	struct tm tm = { 0 };
	if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm))
		return -1;
	return (long long)timegm(&tm);
}

int rcache_get(build *b, rcache *c, const char *key, cache_rec *out,
	hoist_error **err)
{
	memset(out, 0, sizeof(*out));
	if (c->img) {
		json_t *idx = json_object_get(json_object_get(c->keys, "layers"), key);
		size_t i;
		json_t *v;
		json_array_foreach(json_object_get(c->keys, "empty"), i, v)
			if (json_string_value(v) && !strcmp(json_string_value(v), key)) {
				out->empty = out->hit = true;
				return 0;
			}
		if (!json_is_integer(idx))
			return 0;
		json_int_t n = json_integer_value(idx);
		const char *diff = n >= 0 ? hoist_config_diff_id(c->img->config, (size_t)n) : NULL;
		if (n < 0 || (size_t)n >= c->img->manifest->n_layers || !diff ||
			hoist_digest_parse(&out->diff_id, diff, NULL) < 0 ||
			hoist_descriptor_copy(&out->desc, &c->img->manifest->layers[n], NULL) < 0)
			return 0;
		out->hit = true;
		return 0;
	}
	char tag[80];
	snprintf(tag, sizeof(tag), "k-%s", key);
	hoist_buf raw = HOIST_BUF_INIT(HOIST_MANIFEST_MAX);
	_cleanup_free_ char *mt = NULL;
	hoist_error *e = NULL;
	int rc = hoist_registry_get_manifest(c->reg, c->ref->path, tag, &raw, &mt, NULL, &e);
	if (rc == -HOIST_E_NOTFOUND) {
		hoist_error_free(e);
		hoist_buf_release(&raw);
		return 0;
	}
	if (rc < 0) {
		hoist_buf_release(&raw);
		if (err && !*err)
			*err = e;
		else
			hoist_error_free(e);
		return hoist_error_wrap(err, HOIST_E_IO, "cache '%s'", c->name);
	}
	hoist_manifest *m = NULL;
	rc = hoist_manifest_parse(&m, raw.data, raw.len, mt, NULL);
	hoist_buf_release(&raw);
	if (rc < 0 || m->kind != HOIST_MEDIA_MANIFEST || m->n_layers > 1) {
		hoist_manifest_free(m);
		return 0; /* not a record of ours: a miss */
	}
	json_t *ann = json_object_get(m->json, "annotations");
	const char *diff = json_string_value(json_object_get(ann, ANN_DIFF));
	long long created = parse_time(json_string_value(json_object_get(ann, ANN_CREATED)));
	if (b->o->cache_ttl > 0 && (created < 0 || time(NULL) - created > b->o->cache_ttl)) {
		hoist_manifest_free(m);
		return 0;
	}
	if (m->n_layers == 1) {
		if (!diff || hoist_digest_parse(&out->diff_id, diff, NULL) < 0 ||
			hoist_descriptor_copy(&out->desc, &m->layers[0], NULL) < 0) {
			hoist_descriptor_release(&out->desc);
			hoist_manifest_free(m);
			return 0;
		}
	} else {
		out->empty = true;
	}
	hoist_manifest_free(m);
	out->hit = true;
	return 0;
}

static const char empty_config[] = "{}";

int rcache_put(build *b, rcache *c, const char *key, const hoist_descriptor *layer,
	const hoist_digest *diff_id, hoist_error **err)
{
	hoist_digest cfg;
	hoist_digest_of(&cfg, HOIST_DIGEST_SHA256, empty_config, 2, NULL);
	bool have = false;
	int rc = hoist_registry_head_blob(c->reg, c->ref->path, &cfg, &have, NULL, err);
	if (rc == 0 && !have) {
		hoist_reader *r = NULL;
		rc = hoist_reader_new_mem(&r, empty_config, 2, err);
		if (rc == 0)
			rc = hoist_registry_put_blob(c->reg, c->ref->path, &cfg, 2, r, NULL, err);
		hoist_reader_free(r);
	}
	if (rc == 0 && layer) {
		rc = hoist_registry_head_blob(c->reg, c->ref->path, &layer->digest, &have, NULL, err);
		if (rc == 0 && !have) {
			hoist_layout *store = NULL;
			hoist_reader *r = NULL;
			rc = hoist_layout_open(&store, b->home, false, err);
			if (rc == 0)
				rc = hoist_layout_open_blob(store, &layer->digest, layer->size, &r, err);
			if (rc == 0)
				rc = hoist_registry_put_blob(c->reg, c->ref->path, &layer->digest,
					layer->size, r, NULL, err);
			hoist_reader_free(r);
			hoist_layout_free(store);
		}
	}
	if (rc < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "push to cache '%s'", c->name);
	char created[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_t *m = json_pack("{s:i,s:s,s:s,s:{s:s,s:s,s:i}}", "schemaVersion", 2,
		"mediaType", HOIST_MT_OCI_MANIFEST, "artifactType", CACHE_ARTIFACT,
		"config", "mediaType", HOIST_MT_OCI_EMPTY, "digest", cfg.str, "size", 2);
	json_t *layers = json_array();
	if (layer)
		json_array_append_new(layers, hoist_descriptor_to_json(layer));
	json_object_set_new(m, "layers", layers);
	json_t *ann = json_object();
	if (diff_id)
		json_object_set_new(ann, ANN_DIFF, json_string(diff_id->str));
	json_object_set_new(ann, ANN_CREATED, json_string(created));
	json_object_set_new(m, "annotations", ann);
	char *raw = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(m);
	if (!raw)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	char tag[80];
	snprintf(tag, sizeof(tag), "k-%s", key);
	rc = hoist_registry_put_manifest(c->reg, c->ref->path, tag, HOIST_MT_OCI_MANIFEST,
		raw, strlen(raw), NULL, err);
	free(raw);
	if (rc < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "push to cache '%s'", c->name);
	return 0;
}

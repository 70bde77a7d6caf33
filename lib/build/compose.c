#include "hoist/compose.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hoist/image.h"
#include "hoist/layout.h"
#include "util/cleanup.h"

HOIST_DEFINE_CLEANUP(hoist_image, hoist_image_free)

typedef struct layer_entry {
	hoist_descriptor desc;
	hoist_source *from; /* borrowed; NULL: the store */
} layer_entry;

typedef struct composite {
	hoist_source base;
	hoist_compose *c;
} composite;

struct hoist_compose {
	hoist_ctx *ctx;
	hoist_source *base;      /* NULL for scratch */
	hoist_source **others;   /* images layers were taken from (rebase) */
	size_t n_others;
	hoist_layout *store;
	hoist_config *config;
	bool docker;
	layer_entry *layers;
	size_t n_layers;
	json_t *annotations;
	char timestamp[32];
	hoist_layout_blob_writer *pending;
	composite src;
	char *manifest_raw;
	size_t manifest_len;
	char *config_raw;
	size_t config_len;
	hoist_digest config_digest;
	hoist_imgref *store_ref;
	char base_digest[HOIST_DIGEST_STRMAX];
};

static void make_timestamp(char *buf, size_t n)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	time_t t = 0;
	if (s && *s) {
		char *end = NULL;
		errno = 0;
		long long v = strtoll(s, &end, 10);
		if (!errno && end && !*end && v >= 0)
			t = (time_t)v;
	}
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void layers_release(layer_entry *l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		hoist_descriptor_release(&l[i].desc);
	free(l);
}

void hoist_compose_free(hoist_compose *c)
{
	if (!c)
		return;
	hoist_layout_blob_writer_free(c->pending);
	layers_release(c->layers, c->n_layers);
	hoist_config_free(c->config);
	json_decref(c->annotations);
	hoist_source_free(c->base);
	for (size_t i = 0; i < c->n_others; i++)
		hoist_source_free(c->others[i]);
	free(c->others);
	hoist_layout_free(c->store);
	free(c->manifest_raw);
	free(c->config_raw);
	hoist_imgref_free(c->store_ref);
	hoist_imgref_free(c->src.base.ref);
	free(c);
}

static int push_layer(hoist_compose *c, const hoist_descriptor *d,
	hoist_source *from, hoist_error **err)
{
	layer_entry *n = realloc(c->layers, (c->n_layers + 1) * sizeof(*n));
	if (!n)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	c->layers = n;
	memset(&n[c->n_layers], 0, sizeof(*n));
	int rc = hoist_descriptor_copy(&n[c->n_layers].desc, d, err);
	if (rc < 0)
		return rc;
	n[c->n_layers].from = from;
	c->n_layers++;
	return 0;
}

static int add_history(hoist_compose *c, const char *created_by, bool empty,
	hoist_error **err);

static bool is_docker_manifest(const hoist_manifest *m)
{
	return hoist_media_is_docker(m->media_type);
}

int hoist_compose_new(hoist_compose **out, hoist_ctx *ctx, const char *base,
	const hoist_platform *platform, hoist_error **err)
{
	hoist_compose *c = calloc(1, sizeof(*c));
	if (!c)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	c->ctx = ctx;
	make_timestamp(c->timestamp, sizeof(c->timestamp));
	int rc = hoist_layout_open(&c->store, hoist_ctx_home(ctx), true, err);
	if (rc == 0)
		rc = hoist_layout_hold(c->store, err);
	if (rc == 0)
		rc = hoist_imgref_parse(&c->store_ref, "local:hoist/compose", err);
	if (rc < 0)
		goto fail;
	if (!base || !strcmp(base, "scratch")) {
		hoist_platform host = { 0 };
		if (!platform) {
			rc = hoist_platform_host(&host, err);
			platform = &host;
		}
		if (rc == 0)
			rc = hoist_config_new(&c->config, platform, err);
		hoist_platform_release(&host);
		if (rc == 0)
			rc = hoist_config_set_created(c->config, c->timestamp, err);
		if (rc < 0)
			goto fail;
	} else {
		_cleanup_(hoist_image_freep) hoist_image *img = NULL;
		rc = hoist_source_open(ctx, base, &c->base, err);
		if (rc == 0)
			rc = hoist_image_load(c->base, platform, &img, err);
		if (rc < 0) {
			hoist_error_wrap(err, HOIST_E_IO, "base image '%s'", base);
			goto fail;
		}
		c->config = steal_ptr(&img->config);
		c->docker = is_docker_manifest(img->manifest);
		snprintf(c->base_digest, sizeof(c->base_digest), "%s",
			img->manifest->digest.str);
		for (size_t i = 0; rc == 0 && i < img->manifest->n_layers; i++)
			rc = push_layer(c, &img->manifest->layers[i], c->base, err);
		if (rc == 0 && hoist_config_n_diff_ids(c->config) != c->n_layers)
			rc = hoist_error_set(err, HOIST_E_INVALID,
				"base image '%s': %zu layers but %zu diff_ids in its config",
				base, c->n_layers, hoist_config_n_diff_ids(c->config));
		if (rc < 0)
			goto fail;
	}
	*out = c;
	return 0;
fail:
	hoist_compose_free(c);
	return rc;
}

const char *hoist_compose_base_digest(const hoist_compose *c)
{
	return c->base_digest;
}

size_t hoist_compose_n_layers(const hoist_compose *c)
{
	return c->n_layers;
}

const hoist_descriptor *hoist_compose_layer(const hoist_compose *c, size_t i)
{
	return i < c->n_layers ? &c->layers[i].desc : NULL;
}

int hoist_compose_new_from(hoist_compose **out, const hoist_compose *parent,
	hoist_error **err)
{
	hoist_compose *c = calloc(1, sizeof(*c));
	if (!c)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	c->ctx = parent->ctx;
	memcpy(c->timestamp, parent->timestamp, sizeof(c->timestamp));
	memcpy(c->base_digest, parent->base_digest, sizeof(c->base_digest));
	c->docker = parent->docker;
	int rc = hoist_layout_open(&c->store, hoist_ctx_home(c->ctx), true, err);
	if (rc == 0)
		rc = hoist_layout_hold(c->store, err);
	if (rc == 0)
		rc = hoist_imgref_parse(&c->store_ref, "local:hoist/compose", err);
	char *cfg = NULL;
	size_t len = 0;
	if (rc == 0)
		rc = hoist_config_serialize(parent->config, &cfg, &len, err);
	if (rc == 0)
		rc = hoist_config_parse(&c->config, cfg, len, err);
	free(cfg);
	for (size_t i = 0; rc == 0 && i < parent->n_layers; i++) {
		/* a parent's own new layers are in the store (from NULL) */
		rc = push_layer(c, &parent->layers[i].desc, parent->layers[i].from, err);
	}
	if (rc == 0 && parent->annotations)
		c->annotations = json_deep_copy(parent->annotations);
	if (rc < 0) {
		hoist_compose_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

int hoist_compose_add_remote_layer(hoist_compose *c, const hoist_descriptor *d,
	const hoist_digest *diff_id, const char *created_by, hoist_source *from,
	hoist_error **err)
{
	int rc = push_layer(c, d, from, err);
	if (rc == 0)
		rc = hoist_config_add_diff_id(c->config, diff_id, err);
	if (rc == 0)
		rc = add_history(c, created_by, false, err);
	return rc;
}

hoist_config *hoist_compose_config(hoist_compose *c)
{
	return c->config;
}

bool hoist_compose_is_docker(const hoist_compose *c)
{
	return c->docker;
}

const char *hoist_compose_timestamp(const hoist_compose *c)
{
	return c->timestamp;
}

void hoist_compose_layer_opts(const hoist_compose *c, hoist_layer_opts *o)
{
	hoist_layer_opts_init(o);
	o->oci_media_types = !c->docker;
}

int hoist_compose_begin_layer(hoist_compose *c, const hoist_layer_opts *o,
	hoist_layer_writer **w, hoist_error **err)
{
	if (c->pending)
		return hoist_error_set(err, HOIST_E_INVALID, "a layer is already being written");
	int rc = hoist_layout_blob_writer_new(c->store, &c->pending, err);
	if (rc < 0)
		return rc;
	hoist_layer_opts local = *o;
	local.oci_media_types = !c->docker;
	rc = hoist_layer_writer_new(w, &local,
		hoist_layout_blob_writer_sink(c->pending), err);
	if (rc < 0) {
		hoist_layout_blob_writer_free(c->pending);
		c->pending = NULL;
	}
	return rc;
}

void hoist_compose_abort_layer(hoist_compose *c)
{
	hoist_layout_blob_writer_free(c->pending);
	c->pending = NULL;
}

static int add_history(hoist_compose *c, const char *created_by, bool empty,
	hoist_error **err)
{
	hoist_history_entry h = { c->timestamp, created_by, NULL, empty };
	return hoist_config_add_history(c->config, &h, err);
}

int hoist_compose_end_layer(hoist_compose *c, hoist_layer_writer *w,
	const char *created_by, hoist_layer_info *info, hoist_error **err)
{
	hoist_layer_info li;
	int rc = hoist_layer_writer_finish(w, &li, err);
	hoist_layer_writer_free(w);
	hoist_digest stored;
	int64_t size = 0;
	if (rc == 0)
		rc = hoist_layout_blob_commit(c->pending, &stored, &size, err);
	hoist_layout_blob_writer_free(c->pending);
	c->pending = NULL;
	if (rc < 0)
		return rc;
	if (!hoist_digest_equal(&stored, &li.digest) || size != li.size)
		return hoist_error_set(err, HOIST_E_DIGEST,
			"layer written as %s but stored as %s", li.digest.str, stored.str);
	hoist_descriptor d = { 0 };
	d.media_type = (char *)li.media_type;
	d.digest = li.digest;
	d.size = li.size;
	rc = push_layer(c, &d, NULL, err);
	if (rc == 0)
		rc = hoist_config_add_diff_id(c->config, &li.diff_id, err);
	if (rc == 0)
		rc = add_history(c, created_by, false, err);
	if (rc == 0 && info)
		*info = li;
	return rc;
}

int hoist_compose_add_path(hoist_compose *c, const char *path, const char *dest,
	const hoist_layer_opts *o, const char *created_by, hoist_layer_info *info,
	hoist_error **err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return hoist_error_errno(err, errno, "layer '%s'", path);
	hoist_layer_writer *w = NULL;
	int rc = hoist_compose_begin_layer(c, o, &w, err);
	if (rc < 0)
		return rc;
	if (S_ISDIR(st.st_mode)) {
		rc = hoist_layer_writer_add_tree(w, path, dest ? dest : "/", NULL, NULL, err);
	} else {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		hoist_reader *r = NULL;
		if (fd < 0)
			rc = hoist_error_errno(err, errno, "open '%s'", path);
		else
			rc = hoist_reader_new_fd(&r, fd, true, err);
		if (rc == 0)
			rc = hoist_layer_writer_add_tar(w, r, err);
		hoist_reader_free(r);
	}
	if (rc < 0) {
		hoist_layer_writer_free(w);
		hoist_layout_blob_writer_free(c->pending);
		c->pending = NULL;
		return hoist_error_wrap(err, HOIST_E_IO, "layer '%s'", path);
	}
	return hoist_compose_end_layer(c, w, created_by, info, err);
}

int hoist_compose_add_existing_layer(hoist_compose *c, const hoist_descriptor *d,
	const hoist_digest *diff_id, const char *created_by, hoist_error **err)
{
	if (!hoist_layout_has_blob(c->store, &d->digest))
		return hoist_error_set(err, HOIST_E_NOTFOUND,
			"layer %s is not in the local store", d->digest.str);
	int rc = push_layer(c, d, NULL, err);
	if (rc == 0)
		rc = hoist_config_add_diff_id(c->config, diff_id, err);
	if (rc == 0)
		rc = add_history(c, created_by, false, err);
	return rc;
}

int hoist_compose_add_history(hoist_compose *c, const char *created_by,
	hoist_error **err)
{
	return add_history(c, created_by, true, err);
}

int hoist_compose_set_annotation(hoist_compose *c, const char *key,
	const char *value, hoist_error **err)
{
	if (!c->annotations && !(c->annotations = json_object()))
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	if (json_object_set_new(c->annotations, key, json_string(value)) < 0)
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid annotation '%s': not UTF-8", key);
	return 0;
}

static int take_source(hoist_compose *c, const char *name, hoist_image **img,
	hoist_source **src, hoist_error **err)
{
	const hoist_platform *want = NULL;
	hoist_platform p = { 0 };
	p.os = (char *)hoist_config_os(c->config);
	p.architecture = (char *)hoist_config_architecture(c->config);
	p.variant = (char *)hoist_config_variant(c->config);
	if (p.os && p.architecture)
		want = &p;
	int rc = hoist_source_open(c->ctx, name, src, err);
	if (rc == 0)
		rc = hoist_image_load(*src, want, img, err);
	if (rc < 0) {
		hoist_source_free(*src);
		*src = NULL;
		return hoist_error_wrap(err, HOIST_E_IO, "image '%s'", name);
	}
	return 0;
}

int hoist_compose_rebase(hoist_compose *c, const char *old_base,
	const char *new_base, hoist_error **err)
{
	_cleanup_(hoist_image_freep) hoist_image *oldi = NULL;
	_cleanup_(hoist_image_freep) hoist_image *newi = NULL;
	hoist_source *olds = NULL, *news = NULL;
	int rc = take_source(c, old_base, &oldi, &olds, err);
	hoist_source_free(olds);
	if (rc < 0)
		return rc;
	rc = take_source(c, new_base, &newi, &news, err);
	if (rc < 0)
		return rc;
	hoist_source **n = realloc(c->others, (c->n_others + 1) * sizeof(*n));
	if (!n) {
		hoist_source_free(news);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	c->others = n;
	c->others[c->n_others++] = news;

	size_t nold = oldi->manifest->n_layers;
	if (nold > c->n_layers)
		return hoist_error_set(err, HOIST_E_INVALID,
			"'%s' has %zu layers, more than the image's %zu: it is not its base",
			old_base, nold, c->n_layers);
	for (size_t i = 0; i < nold; i++) {
		const char *a = hoist_config_diff_id(oldi->config, i);
		const char *b = hoist_config_diff_id(c->config, i);
		if (!hoist_digest_equal(&oldi->manifest->layers[i].digest,
			    &c->layers[i].desc.digest) || !a || !b || strcmp(a, b))
			return hoist_error_set(err, HOIST_E_INVALID,
				"the image does not start with the layers of '%s': layer %zu "
				"is %s, the old base has %s", old_base, i + 1,
				c->layers[i].desc.digest.str,
				oldi->manifest->layers[i].digest.str);
	}
	/* New layer list: new base's layers, then the image's own. */
	size_t nnew = newi->manifest->n_layers;
	size_t total = nnew + c->n_layers - nold;
	layer_entry *l = calloc(total ? total : 1, sizeof(*l));
	if (!l)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	for (size_t i = 0; rc == 0 && i < nnew; i++) {
		rc = hoist_descriptor_copy(&l[i].desc, &newi->manifest->layers[i], err);
		l[i].from = news;
	}
	for (size_t i = nold; rc == 0 && i < c->n_layers; i++) {
		rc = hoist_descriptor_copy(&l[nnew + i - nold].desc, &c->layers[i].desc, err);
		l[nnew + i - nold].from = c->layers[i].from;
	}
	if (rc < 0) {
		layers_release(l, total);
		return rc;
	}
	/* Config: diff_ids and history the same way; the rest stays. */
	json_t *cj = c->config->json;
	json_t *diff = json_array();
	for (size_t i = 0; i < nnew; i++)
		json_array_append_new(diff, json_string(hoist_config_diff_id(newi->config, i)));
	for (size_t i = nold; i < c->n_layers; i++)
		json_array_append_new(diff, json_string(hoist_config_diff_id(c->config, i)));
	json_t *hist = json_array();
	json_t *nh = json_object_get(newi->config->json, "history");
	json_t *ih = json_object_get(cj, "history");
	size_t skip = json_array_size(json_object_get(oldi->config->json, "history"));
	size_t i;
	json_t *v;
	json_array_foreach(nh, i, v)
		json_array_append(hist, v);
	json_array_foreach(ih, i, v)
		if (i >= skip)
			json_array_append(hist, v);
	json_t *rootfs = json_object_get(cj, "rootfs");
	if (!json_is_object(rootfs)) {
		rootfs = json_object();
		json_object_set_new(rootfs, "type", json_string("layers"));
		json_object_set_new(cj, "rootfs", rootfs);
	}
	json_object_set_new(rootfs, "diff_ids", diff);
	json_object_set_new(cj, "history", hist);
	layers_release(c->layers, c->n_layers);
	c->layers = l;
	c->n_layers = total;
	if (is_docker_manifest(newi->manifest) != c->docker)
		hoist_log(c->ctx, HOIST_LOG_WARN,
			"the new base uses %s media types, the image %s; keeping the image's",
			c->docker ? "OCI" : "Docker", c->docker ? "Docker" : "OCI");
	return 0;
}

/* The composed image as a source. */

static int build_manifest(hoist_compose *c, hoist_error **err)
{
	free(c->config_raw);
	free(c->manifest_raw);
	c->config_raw = c->manifest_raw = NULL;
	int rc = hoist_config_serialize(c->config, &c->config_raw, &c->config_len, err);
	if (rc < 0)
		return rc;
	rc = hoist_digest_of(&c->config_digest, HOIST_DIGEST_SHA256, c->config_raw,
		c->config_len, err);
	if (rc < 0)
		return rc;
	json_t *m = json_object();
	json_object_set_new(m, "schemaVersion", json_integer(2));
	json_object_set_new(m, "mediaType", json_string(c->docker
		? HOIST_MT_DOCKER_MANIFEST : HOIST_MT_OCI_MANIFEST));
	json_t *cfg = json_object();
	json_object_set_new(cfg, "mediaType", json_string(c->docker
		? HOIST_MT_DOCKER_CONFIG : HOIST_MT_OCI_CONFIG));
	json_object_set_new(cfg, "digest", json_string(c->config_digest.str));
	json_object_set_new(cfg, "size", json_integer((json_int_t)c->config_len));
	json_object_set_new(m, "config", cfg);
	json_t *layers = json_array();
	for (size_t i = 0; i < c->n_layers; i++)
		json_array_append_new(layers, hoist_descriptor_to_json(&c->layers[i].desc));
	json_object_set_new(m, "layers", layers);
	if (c->annotations && json_object_size(c->annotations))
		json_object_set(m, "annotations", c->annotations);
	c->manifest_raw = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(m);
	if (!c->manifest_raw)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	c->manifest_len = strlen(c->manifest_raw);
	return 0;
}

static int comp_get_manifest(hoist_source *s, const hoist_digest *digest,
	hoist_buf *raw, char **media_type, hoist_error **err)
{
	hoist_compose *c = ((composite *)s)->c;
	if (digest) {
		hoist_digest mine;
		int rc = hoist_digest_of(&mine, HOIST_DIGEST_SHA256, c->manifest_raw,
			c->manifest_len, err);
		if (rc < 0)
			return rc;
		if (!hoist_digest_equal(&mine, digest))
			return hoist_error_set(err, HOIST_E_NOTFOUND,
				"manifest %s is not the composed image", digest->str);
	}
	*media_type = strdup(c->docker ? HOIST_MT_DOCKER_MANIFEST : HOIST_MT_OCI_MANIFEST);
	if (!*media_type)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	return hoist_buf_append(raw, c->manifest_raw, c->manifest_len, err);
}

static const layer_entry *find_layer(hoist_compose *c, const hoist_digest *d)
{
	for (size_t i = 0; i < c->n_layers; i++)
		if (hoist_digest_equal(&c->layers[i].desc.digest, d))
			return &c->layers[i];
	return NULL;
}

static int comp_open_blob(hoist_source *s, const hoist_descriptor *d,
	hoist_reader **out, hoist_error **err)
{
	hoist_compose *c = ((composite *)s)->c;
	if (hoist_digest_equal(&d->digest, &c->config_digest)) {
		hoist_reader *m = NULL;
		int rc = hoist_reader_new_mem(&m, c->config_raw, c->config_len, err);
		if (rc < 0)
			return rc;
		return hoist_reader_new_verify(out, m, &d->digest, d->size, "config", err);
	}
	const layer_entry *l = find_layer(c, &d->digest);
	if (!l)
		return hoist_error_set(err, HOIST_E_NOTFOUND,
			"blob %s is not part of the composed image", d->digest.str);
	if (l->from)
		return l->from->ops->open_blob(l->from, d, out, err);
	return hoist_layout_open_blob(c->store, &d->digest, d->size, out, err);
}

static const hoist_imgref *comp_blob_origin(hoist_source *s,
	const hoist_descriptor *d)
{
	hoist_compose *c = ((composite *)s)->c;
	const layer_entry *l = find_layer(c, &d->digest);
	return l && l->from ? l->from->ref : NULL;
}

static const hoist_source_ops composite_ops = {
	.get_manifest = comp_get_manifest,
	.open_blob = comp_open_blob,
	.blob_origin = comp_blob_origin,
};

hoist_source *hoist_compose_source(hoist_compose *c, hoist_error **err)
{
	if (build_manifest(c, err) < 0)
		return NULL;
	c->src.base.ops = &composite_ops;
	c->src.c = c;
	if (!c->src.base.ref) {
		const hoist_imgref *r = c->base ? c->base->ref : c->store_ref;
		if (hoist_imgref_parse(&c->src.base.ref, r->input, err) < 0)
			return NULL;
	}
	return &c->src.base;
}

int hoist_compose_write(hoist_compose *c, const char *dest, hoist_digest *digest,
	hoist_copy_stats *stats, hoist_error **err)
{
	hoist_source *s = hoist_compose_source(c, err);
	if (!s)
		return -HOIST_E_NOMEM;
	hoist_dest *d = NULL;
	int rc = hoist_dest_open(c->ctx, dest, &d, err);
	if (rc < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "open '%s'", dest);
	rc = hoist_copy_image(c->ctx, s, d, NULL, digest, stats, err);
	hoist_dest_free(d);
	if (rc < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "write '%s'", dest);
	return 0;
}

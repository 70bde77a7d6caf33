#include "hoist/image.h"

#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"

void hoist_image_free(hoist_image *img)
{
	if (!img)
		return;
	if (img->manifest != img->top)
		hoist_manifest_free(img->manifest);
	hoist_manifest_free(img->top);
	hoist_config_free(img->config);
	free(img->config_raw);
	free(img);
}

int hoist_image_load(hoist_source *src, const hoist_platform *want,
	hoist_image **out, hoist_error **err)
{
	hoist_image *img = calloc(1, sizeof(*img));
	if (!img)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	hoist_platform host = { 0 };
	int rc = hoist_source_manifest(src, NULL, &img->top, err);
	if (rc == 0 && img->top->kind == HOIST_MEDIA_INDEX) {
		if (!want) {
			rc = hoist_platform_host(&host, err);
			want = &host;
		}
		if (rc == 0)
			rc = hoist_source_manifest(src, want, &img->manifest, err);
	} else if (rc == 0) {
		img->manifest = img->top;
	}
	hoist_platform_release(&host);
	if (rc == 0) {
		hoist_buf b = HOIST_BUF_INIT(HOIST_CONFIG_MAX);
		rc = hoist_source_read_blob(src, &img->manifest->config,
			HOIST_CONFIG_MAX, &b, err);
		if (rc == 0)
			rc = hoist_config_parse(&img->config, b.data, b.len, err);
		if (rc < 0)
			hoist_error_wrap(err, HOIST_E_IO, "config %s",
				img->manifest->config.digest.str);
		img->config_raw = hoist_buf_steal(&b, &img->config_len);
	}
	if (rc < 0) {
		hoist_image_free(img);
		return rc;
	}
	*out = img;
	return 0;
}

static void set_str(json_t *o, const char *k, const char *v)
{
	if (v)
		json_object_set_new(o, k, json_string(v));
}

static void set_copy(json_t *o, const char *k, json_t *v)
{
	if (v)
		json_object_set_new(o, k, json_deep_copy(v));
}

static json_t *platform_json(const hoist_platform *p)
{
	if (!p)
		return json_null();
	_cleanup_free_ char *s = hoist_platform_string(p);
	return s ? json_string(s) : json_null();
}

static json_t *keys_of(json_t *obj)
{
	json_t *a = json_array();
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v)
		json_array_append_new(a, json_string(k));
	return a;
}

json_t *hoist_image_summary(const hoist_image *img, const char *name)
{
	json_t *o = json_object();
	const hoist_manifest *top = img->top, *m = img->manifest;
	const hoist_config *c = img->config;
	if (name)
		set_str(o, "name", name);
	set_str(o, "digest", top->digest.str);
	set_str(o, "mediaType", top->media_type);
	if (top->kind == HOIST_MEDIA_INDEX) {
		json_t *arr = json_array();
		for (size_t i = 0; i < top->n_manifests; i++) {
			json_t *e = json_object();
			set_str(e, "digest", top->manifests[i].digest.str);
			set_str(e, "mediaType", top->manifests[i].media_type);
			json_object_set_new(e, "size", json_integer(top->manifests[i].size));
			json_object_set_new(e, "platform", platform_json(top->manifests[i].platform));
			json_array_append_new(arr, e);
		}
		json_object_set_new(o, "manifests", arr);
		set_str(o, "manifestDigest", m->digest.str);
	}
	hoist_platform p = { 0 };
	p.os = (char *)hoist_config_os(c);
	p.architecture = (char *)hoist_config_architecture(c);
	p.variant = (char *)hoist_config_variant(c);
	if (p.os && p.architecture)
		json_object_set_new(o, "platform", platform_json(&p));
	set_str(o, "created", hoist_config_created(c));
	set_str(o, "user", hoist_config_user(c));
	set_copy(o, "entrypoint", hoist_config_entrypoint(c));
	set_copy(o, "cmd", hoist_config_cmd(c));
	set_str(o, "workingDir", hoist_config_workdir(c));
	set_copy(o, "env", hoist_config_env(c));
	if (hoist_config_exposed_ports(c))
		json_object_set_new(o, "exposedPorts", keys_of(hoist_config_exposed_ports(c)));
	if (hoist_config_volumes(c))
		json_object_set_new(o, "volumes", keys_of(hoist_config_volumes(c)));
	set_copy(o, "labels", hoist_config_labels(c));
	set_str(o, "stopSignal", hoist_config_stop_signal(c));
	json_t *layers = json_array();
	int64_t total = m->config.size;
	for (size_t i = 0; i < m->n_layers; i++) {
		json_t *e = json_object();
		set_str(e, "digest", m->layers[i].digest.str);
		json_object_set_new(e, "size", json_integer(m->layers[i].size));
		set_str(e, "mediaType", m->layers[i].media_type);
		set_str(e, "diffID", hoist_config_diff_id(c, i));
		json_array_append_new(layers, e);
		total += m->layers[i].size;
	}
	json_object_set_new(o, "layers", layers);
	json_object_set_new(o, "size", json_integer(total));
	json_t *hist = json_array();
	size_t layer = 0;
	for (size_t i = 0; i < hoist_config_n_history(c); i++) {
		hoist_history_entry h;
		if (hoist_config_history(c, i, &h) < 0)
			continue;
		json_t *e = json_object();
		set_str(e, "created", h.created);
		set_str(e, "createdBy", h.created_by);
		set_str(e, "comment", h.comment);
		json_object_set_new(e, "emptyLayer", json_boolean(h.empty_layer));
		if (!h.empty_layer && layer < m->n_layers) {
			set_str(e, "layer", m->layers[layer].digest.str);
			json_object_set_new(e, "size", json_integer(m->layers[layer].size));
			layer++;
		}
		json_array_append_new(hist, e);
	}
	json_object_set_new(o, "history", hist);
	return o;
}

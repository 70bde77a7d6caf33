/* Media type classification and descriptors (OCI image spec "Descriptors",
 * Docker image manifest v2 schema 2). */
#include "hoist/media.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/cleanup.h"

#define ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"

/* The type/subtype part of a media type: leading blanks skipped, parameters
 * after ';' and trailing blanks cut.  Sets *len to its length. */
static const char *mt_essence(const char *mt, size_t *len)
{
	while (*mt == ' ' || *mt == '\t')
		mt++;
	size_t n = strcspn(mt, ";");
	while (n > 0 && (mt[n - 1] == ' ' || mt[n - 1] == '\t'))
		n--;
	*len = n;
	return mt;
}

/* Media types compare case-insensitively and without parameters
 * (RFC 6838: type and subtype names are case-insensitive). */
static bool mt_is(const char *mt, const char *want)
{
	size_t n;
	const char *e = mt_essence(mt, &n);
	return n == strlen(want) && strncasecmp(e, want, n) == 0;
}

static bool mt_ends_with(const char *mt, const char *suffix)
{
	size_t n, k = strlen(suffix);
	const char *e = mt_essence(mt, &n);
	return n >= k && strncasecmp(e + n - k, suffix, k) == 0;
}

static bool mt_starts_with(const char *mt, const char *prefix)
{
	size_t n, k = strlen(prefix);
	const char *e = mt_essence(mt, &n);
	return n >= k && strncasecmp(e, prefix, k) == 0;
}

static const char *const layer_types[] = {
	HOIST_MT_OCI_LAYER,
	HOIST_MT_OCI_LAYER_GZIP,
	HOIST_MT_OCI_LAYER_ZSTD,
	/* Deprecated by image-spec 1.1 but still found in the wild. */
	"application/vnd.oci.image.layer.nondistributable.v1.tar",
	"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
	"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
	HOIST_MT_DOCKER_LAYER,
	HOIST_MT_DOCKER_LAYER_GZIP,
	HOIST_MT_DOCKER_FOREIGN,
};

hoist_media_kind hoist_media_kind_of(const char *media_type)
{
	if (!media_type)
		return HOIST_MEDIA_UNKNOWN;
	if (mt_is(media_type, HOIST_MT_OCI_MANIFEST) ||
		mt_is(media_type, HOIST_MT_DOCKER_MANIFEST))
		return HOIST_MEDIA_MANIFEST;
	if (mt_is(media_type, HOIST_MT_OCI_INDEX) ||
		mt_is(media_type, HOIST_MT_DOCKER_LIST))
		return HOIST_MEDIA_INDEX;
	/* The empty descriptor's type is what artifact manifests use as their
	 * config, so it counts as one. */
	if (mt_is(media_type, HOIST_MT_OCI_CONFIG) ||
		mt_is(media_type, HOIST_MT_DOCKER_CONFIG) ||
		mt_is(media_type, HOIST_MT_OCI_EMPTY))
		return HOIST_MEDIA_CONFIG;
	for (size_t i = 0; i < HOIST_ARRAY_SIZE(layer_types); i++)
		if (mt_is(media_type, layer_types[i]))
			return HOIST_MEDIA_LAYER;
	if (mt_is(media_type, HOIST_MT_DOCKER_SCHEMA1) ||
		mt_is(media_type, HOIST_MT_DOCKER_SCHEMA1_SIGNED))
		return HOIST_MEDIA_SCHEMA1;
	return HOIST_MEDIA_UNKNOWN;
}

bool hoist_media_is_docker(const char *media_type)
{
	return media_type && mt_starts_with(media_type, "application/vnd.docker.");
}

hoist_compression hoist_media_layer_compression(const char *media_type)
{
	if (!media_type)
		return HOIST_COMPRESSION_UNKNOWN;
	/* Known layer types, and artifact layers that follow the same
	 * "+gzip" / "+zstd" structured-suffix convention. */
	if (mt_ends_with(media_type, "+gzip") || mt_ends_with(media_type, ".tar.gzip"))
		return HOIST_COMPRESSION_GZIP;
	if (mt_ends_with(media_type, "+zstd"))
		return HOIST_COMPRESSION_ZSTD;
	if (hoist_media_kind_of(media_type) == HOIST_MEDIA_LAYER ||
		mt_ends_with(media_type, ".tar"))
		return HOIST_COMPRESSION_NONE;
	return HOIST_COMPRESSION_UNKNOWN;
}

/* RFC 6838 restricted-name characters. */
static bool mt_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || strchr("!#$&-^_.+", c) != NULL;
}

/* type "/" subtype, each 1..127 restricted-name characters, then optional
 * parameters that we do not interpret but require to be printable. */
static bool mt_valid(const char *s)
{
	const char *p = s;
	size_t n = 0;
	while (*p && mt_name_char(*p))
		p++, n++;
	if (n == 0 || n > 127 || *p != '/')
		return false;
	p++;
	n = 0;
	while (*p && mt_name_char(*p))
		p++, n++;
	if (n == 0 || n > 127)
		return false;
	for (; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static int dup_str(char **out, const char *s, hoist_error **err)
{
	if (!s) {
		*out = NULL;
		return 0;
	}
	*out = strdup(s);
	if (!*out)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	return 0;
}

/* An optional string member: absent gives NULL, anything but a string
 * fails. */
static int opt_string(const char **out, json_t *obj, const char *key,
	const char *where, hoist_error **err)
{
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return hoist_error_set(err, HOIST_E_INVALID,
			"%s: '%s' must be a string", where, key);
	*out = json_string_value(v);
	return 0;
}

static int platform_from_json(hoist_platform **out, json_t *obj,
	const char *where, hoist_error **err)
{
	if (!json_is_object(obj))
		return hoist_error_set(err, HOIST_E_INVALID,
			"%s: 'platform' must be an object", where);
	const char *os, *arch, *variant, *os_version;
	int r;
	if ((r = opt_string(&os, obj, "os", where, err)) < 0 ||
		(r = opt_string(&arch, obj, "architecture", where, err)) < 0 ||
		(r = opt_string(&variant, obj, "variant", where, err)) < 0 ||
		(r = opt_string(&os_version, obj, "os.version", where, err)) < 0)
		return r;
	if (!os || !*os)
		return hoist_error_set(err, HOIST_E_INVALID,
			"%s: platform: missing 'os'", where);
	if (!arch || !*arch)
		return hoist_error_set(err, HOIST_E_INVALID,
			"%s: platform: missing 'architecture'", where);
	json_t *features = json_object_get(obj, "os.features");
	if (features) {
		size_t i;
		json_t *f;
		if (!json_is_array(features))
			return hoist_error_set(err, HOIST_E_INVALID,
				"%s: platform: 'os.features' must be an array of strings",
				where);
		json_array_foreach (features, i, f)
			if (!json_is_string(f))
				return hoist_error_set(err, HOIST_E_INVALID,
					"%s: platform: 'os.features' must be an array of strings",
					where);
	}
	hoist_platform *p = calloc(1, sizeof(*p));
	if (!p)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	if ((r = dup_str(&p->os, os, err)) < 0 ||
		(r = dup_str(&p->architecture, arch, err)) < 0 ||
		(r = dup_str(&p->variant, variant && *variant ? variant : NULL, err)) < 0 ||
		(r = dup_str(&p->os_version, os_version && *os_version ? os_version : NULL,
			 err)) < 0) {
		hoist_platform_release(p);
		free(p);
		return r;
	}
	*out = p;
	return 0;
}

int hoist_descriptor_parse(hoist_descriptor *out, json_t *obj, const char *where,
	hoist_error **err)
{
	hoist_descriptor d = { 0 };
	int r;
	if (!where)
		where = "descriptor";
	if (!json_is_object(obj))
		return hoist_error_set(err, HOIST_E_INVALID,
			"%s: descriptor must be a JSON object", where);

	json_t *mt = json_object_get(obj, "mediaType");
	if (!mt)
		return hoist_error_set(err, HOIST_E_INVALID, "%s: missing 'mediaType'",
			where);
	if (!json_is_string(mt))
		return hoist_error_set(err, HOIST_E_INVALID,
			"%s: 'mediaType' must be a string", where);
	if (!mt_valid(json_string_value(mt)))
		return hoist_error_set(err, HOIST_E_INVALID,
			"%s: invalid media type '%s'", where, json_string_value(mt));

	json_t *dg = json_object_get(obj, "digest");
	if (!dg)
		return hoist_error_set(err, HOIST_E_INVALID, "%s: missing 'digest'",
			where);
	if (!json_is_string(dg))
		return hoist_error_set(err, HOIST_E_INVALID,
			"%s: 'digest' must be a string", where);
	if ((r = hoist_digest_parse(&d.digest, json_string_value(dg), err)) < 0)
		return hoist_error_wrap(err, -r, "%s", where);

	/* jansson refuses integers beyond long long at load time, so any
	 * integer here fits int64_t. */
	json_t *sz = json_object_get(obj, "size");
	if (!sz)
		return hoist_error_set(err, HOIST_E_INVALID, "%s: missing 'size'", where);
	if (!json_is_integer(sz))
		return hoist_error_set(err, HOIST_E_INVALID,
			"%s: 'size' must be an integer", where);
	if (json_integer_value(sz) < 0)
		return hoist_error_set(err, HOIST_E_INVALID,
			"%s: invalid size %lld: must not be negative", where,
			(long long)json_integer_value(sz));
	d.size = (int64_t)json_integer_value(sz);

	const char *artifact_type;
	if ((r = opt_string(&artifact_type, obj, "artifactType", where, err)) < 0)
		return r;
	if (artifact_type && !mt_valid(artifact_type))
		return hoist_error_set(err, HOIST_E_INVALID,
			"%s: invalid artifactType '%s'", where, artifact_type);

	json_t *urls = json_object_get(obj, "urls");
	if (urls) {
		size_t i;
		json_t *u;
		if (!json_is_array(urls))
			return hoist_error_set(err, HOIST_E_INVALID,
				"%s: 'urls' must be an array of strings", where);
		json_array_foreach (urls, i, u)
			if (!json_is_string(u))
				return hoist_error_set(err, HOIST_E_INVALID,
					"%s: urls[%zu] must be a string", where, i);
	}
	json_t *ann = json_object_get(obj, "annotations");
	if (ann) {
		const char *k;
		json_t *v;
		if (!json_is_object(ann))
			return hoist_error_set(err, HOIST_E_INVALID,
				"%s: 'annotations' must be an object", where);
		json_object_foreach (ann, k, v)
			if (!json_is_string(v))
				return hoist_error_set(err, HOIST_E_INVALID,
					"%s: annotation '%s' must be a string", where, k);
	}

	json_t *plat = json_object_get(obj, "platform");
	if (plat && (r = platform_from_json(&d.platform, plat, where, err)) < 0)
		return r;
	if ((r = dup_str(&d.media_type, json_string_value(mt), err)) < 0 ||
		(r = dup_str(&d.artifact_type, artifact_type, err)) < 0) {
		hoist_descriptor_release(&d);
		return r;
	}
	d.urls = json_incref(urls);
	d.annotations = json_incref(ann);
	*out = d;
	return 0;
}

void hoist_descriptor_release(hoist_descriptor *d)
{
	if (!d)
		return;
	free(d->media_type);
	if (d->platform) {
		hoist_platform_release(d->platform);
		free(d->platform);
	}
	free(d->artifact_type);
	json_decref(d->annotations);
	json_decref(d->urls);
	memset(d, 0, sizeof(*d));
}

int hoist_descriptor_copy(hoist_descriptor *dst, const hoist_descriptor *src,
	hoist_error **err)
{
	hoist_descriptor d = { 0 };
	int r;
	d.digest = src->digest;
	d.size = src->size;
	if ((r = dup_str(&d.media_type, src->media_type, err)) < 0 ||
		(r = dup_str(&d.artifact_type, src->artifact_type, err)) < 0)
		goto fail;
	if (src->platform) {
		d.platform = calloc(1, sizeof(*d.platform));
		if (!d.platform) {
			r = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
			goto fail;
		}
		if ((r = hoist_platform_copy(d.platform, src->platform, err)) < 0)
			goto fail;
	}
	/* Deep copies: the two descriptors must not see each other's edits. */
	if (src->annotations && !(d.annotations = json_deep_copy(src->annotations))) {
		r = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		goto fail;
	}
	if (src->urls && !(d.urls = json_deep_copy(src->urls))) {
		r = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		goto fail;
	}
	*dst = d;
	return 0;
fail:
	hoist_descriptor_release(&d);
	return r;
}

static bool set_new(json_t *obj, const char *key, json_t *v)
{
	return v && json_object_set_new(obj, key, v) == 0;
}

static json_t *platform_to_json(const hoist_platform *p)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	bool ok = set_new(o, "architecture", json_string(p->architecture ? p->architecture : "")) &&
		set_new(o, "os", json_string(p->os ? p->os : ""));
	if (ok && p->variant)
		ok = set_new(o, "variant", json_string(p->variant));
	if (ok && p->os_version)
		ok = set_new(o, "os.version", json_string(p->os_version));
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *hoist_descriptor_to_json(const hoist_descriptor *d)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	bool ok = set_new(o, "mediaType", json_string(d->media_type ? d->media_type : "")) &&
		set_new(o, "digest", json_string(d->digest.str)) &&
		set_new(o, "size", json_integer((json_int_t)d->size));
	if (ok && d->urls)
		ok = set_new(o, "urls", json_deep_copy(d->urls));
	if (ok && d->annotations)
		ok = set_new(o, "annotations", json_deep_copy(d->annotations));
	if (ok && d->platform)
		ok = set_new(o, "platform", platform_to_json(d->platform));
	if (ok && d->artifact_type)
		ok = set_new(o, "artifactType", json_string(d->artifact_type));
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

const char *hoist_descriptor_ref_name(const hoist_descriptor *d)
{
	if (!d || !d->annotations)
		return NULL;
	return json_string_value(json_object_get(d->annotations, ANNOTATION_REF_NAME));
}

/* Image manifests and indexes, parsed from the bytes they came as.
 *
 * The raw bytes are the manifest: its digest is theirs, and a registry or
 * layout that stores them again must get the same bytes back.  The JSON
 * tree is only for reading. */
#include "hoist/manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hoist/buf.h"
#include "util/cleanup.h"

HOIST_DEFINE_CLEANUP(hoist_manifest, hoist_manifest_free)

/* Platforms listed in a "no match" error before "and N more". */
#define SELECT_LIST_MAX 32

/* The type/subtype of a media type, without parameters or blanks, as a new
 * string. */
static char *mt_essence_dup(const char *mt)
{
	while (*mt == ' ' || *mt == '\t')
		mt++;
	size_t n = strcspn(mt, ";");
	while (n > 0 && (mt[n - 1] == ' ' || mt[n - 1] == '\t'))
		n--;
	return strndup(mt, n);
}

/* Content types that say nothing about which manifest this is; some
 * registries and file servers send them for every manifest. */
static bool hint_is_generic(const char *essence)
{
	return !*essence || !strcasecmp(essence, "application/json") ||
		!strcasecmp(essence, "application/octet-stream") ||
		!strcasecmp(essence, "text/plain");
}

static int parse_descriptor_array(hoist_descriptor **out, size_t *n_out,
	json_t *root, const char *key, hoist_error **err)
{
	json_t *arr = json_object_get(root, key);
	if (!arr)
		return hoist_error_set(err, HOIST_E_INVALID, "missing '%s'", key);
	if (!json_is_array(arr))
		return hoist_error_set(err, HOIST_E_INVALID, "'%s' must be an array",
			key);
	size_t n = json_array_size(arr);
	if (n > HOIST_MANIFEST_MAX_ENTRIES)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"'%s' has %zu entries, over the limit of %d", key, n,
			HOIST_MANIFEST_MAX_ENTRIES);
	*out = NULL;
	*n_out = 0;
	if (n == 0)
		return 0;
	hoist_descriptor *d = calloc(n, sizeof(*d));
	if (!d)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		char where[64];
		snprintf(where, sizeof(where), "%s[%zu]", key, i);
		int r = hoist_descriptor_parse(&d[i], json_array_get(arr, i), where, err);
		if (r < 0) {
			for (size_t j = 0; j < i; j++)
				hoist_descriptor_release(&d[j]);
			free(d);
			return r;
		}
	}
	*out = d;
	*n_out = n;
	return 0;
}

static int check_annotations(json_t *root, hoist_error **err)
{
	json_t *ann = json_object_get(root, "annotations");
	const char *k;
	json_t *v;
	if (!ann)
		return 0;
	if (!json_is_object(ann))
		return hoist_error_set(err, HOIST_E_INVALID,
			"'annotations' must be an object");
	json_object_foreach (ann, k, v)
		if (!json_is_string(v))
			return hoist_error_set(err, HOIST_E_INVALID,
				"annotation '%s' must be a string", k);
	json_t *at = json_object_get(root, "artifactType");
	if (at && !json_is_string(at))
		return hoist_error_set(err, HOIST_E_INVALID,
			"'artifactType' must be a string");
	return 0;
}

static int parse_subject(hoist_manifest *m, hoist_error **err)
{
	json_t *s = json_object_get(m->json, "subject");
	if (!s)
		return 0;
	m->subject = calloc(1, sizeof(*m->subject));
	if (!m->subject)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	int r = hoist_descriptor_parse(m->subject, s, "subject", err);
	if (r < 0) {
		free(m->subject);
		m->subject = NULL;
	}
	return r;
}

/* Decides the media type and kind: the mediaType field, else the hint,
 * else the shape of the JSON. */
static int resolve_type(hoist_manifest *m, const char *hint, hoist_error **err)
{
	json_t *f = json_object_get(m->json, "mediaType");
	if (f && !json_is_string(f))
		return hoist_error_set(err, HOIST_E_INVALID,
			"'mediaType' must be a string");
	const char *field = json_string_value(f);

	_cleanup_free_ char *hint_e = NULL;
	if (hint) {
		hint_e = mt_essence_dup(hint);
		if (!hint_e)
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		if (hint_is_generic(hint_e)) {
			free(hint_e);
			hint_e = NULL;
		}
	}

	/* Signed schema 1 manifests have no mediaType field: the hint or
	 * schemaVersion is all that identifies them. */
	json_t *sv = json_object_get(m->json, "schemaVersion");
	if (hoist_media_kind_of(field) == HOIST_MEDIA_SCHEMA1 ||
		hoist_media_kind_of(hint_e) == HOIST_MEDIA_SCHEMA1 ||
		(json_is_integer(sv) && json_integer_value(sv) == 1))
		return hoist_error_set(err, HOIST_E_UNSUPPORTED,
			"manifest schema 1 is not supported: it is deprecated "
			"(Docker v2 schema 1); push the image again with a current "
			"client to get schema 2");
	if (!sv)
		return hoist_error_set(err, HOIST_E_INVALID, "missing 'schemaVersion'");
	if (!json_is_integer(sv))
		return hoist_error_set(err, HOIST_E_INVALID,
			"'schemaVersion' must be an integer");
	if (json_integer_value(sv) != 2)
		return hoist_error_set(err, HOIST_E_UNSUPPORTED,
			"unsupported schemaVersion %lld: expected 2",
			(long long)json_integer_value(sv));

	if (field && hint_e) {
		_cleanup_free_ char *field_e = mt_essence_dup(field);
		if (!field_e)
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		if (strcasecmp(field_e, hint_e))
			return hoist_error_set(err, HOIST_E_INVALID,
				"manifest mediaType '%s' does not match the expected "
				"media type '%s'",
				field, hint_e);
	}

	const char *mt = field ? field : hint_e;
	if (mt) {
		m->kind = hoist_media_kind_of(mt);
		if (m->kind != HOIST_MEDIA_MANIFEST && m->kind != HOIST_MEDIA_INDEX)
			return hoist_error_set(err, HOIST_E_UNSUPPORTED,
				"unsupported manifest media type '%s'", mt);
		m->media_type = strdup(mt);
	} else if (json_object_get(m->json, "manifests")) {
		/* Neither says: an OCI index or manifest (image-spec makes
		 * mediaType optional), told apart by shape. */
		m->kind = HOIST_MEDIA_INDEX;
		m->media_type = strdup(HOIST_MT_OCI_INDEX);
	} else if (json_object_get(m->json, "config") &&
		json_object_get(m->json, "layers")) {
		m->kind = HOIST_MEDIA_MANIFEST;
		m->media_type = strdup(HOIST_MT_OCI_MANIFEST);
	} else {
		return hoist_error_set(err, HOIST_E_INVALID,
			"cannot tell the manifest kind: no 'mediaType', and neither "
			"'manifests' nor 'config' and 'layers'");
	}
	if (!m->media_type)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	return 0;
}

int hoist_manifest_parse(hoist_manifest **out, const void *raw, size_t len,
	const char *media_type_hint, hoist_error **err)
{
	if (len > HOIST_MANIFEST_MAX)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"manifest is %zu bytes, over the limit of %d", len,
			HOIST_MANIFEST_MAX);
	if (len == 0 || !raw)
		return hoist_error_set(err, HOIST_E_INVALID, "manifest is empty");

	_cleanup_(hoist_manifest_freep) hoist_manifest *m = calloc(1, sizeof(*m));
	if (!m || !(m->raw = malloc(len + 1)))
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	memcpy(m->raw, raw, len);
	m->raw[len] = '\0';
	m->raw_len = len;
	int r = hoist_digest_of(&m->digest, HOIST_DIGEST_SHA256, m->raw, len, err);
	if (r < 0)
		return r;

	json_error_t jerr;
	m->json = json_loadb(m->raw, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!m->json)
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid manifest JSON at line %d column %d: %s", jerr.line,
			jerr.column, jerr.text);
	if (!json_is_object(m->json))
		return hoist_error_set(err, HOIST_E_INVALID,
			"manifest must be a JSON object");

	if ((r = resolve_type(m, media_type_hint, err)) < 0 ||
		(r = check_annotations(m->json, err)) < 0)
		return r;

	if (m->kind == HOIST_MEDIA_MANIFEST) {
		json_t *cfg = json_object_get(m->json, "config");
		if (!cfg)
			return hoist_error_set(err, HOIST_E_INVALID, "missing 'config'");
		if ((r = hoist_descriptor_parse(&m->config, cfg, "config", err)) < 0 ||
			(r = parse_descriptor_array(&m->layers, &m->n_layers, m->json,
				 "layers", err)) < 0)
			return r;
	} else {
		if ((r = parse_descriptor_array(&m->manifests, &m->n_manifests,
			     m->json, "manifests", err)) < 0)
			return r;
	}
	if ((r = parse_subject(m, err)) < 0)
		return r;
	*out = steal_ptr(&m);
	return 0;
}

void hoist_manifest_free(hoist_manifest *m)
{
	if (!m)
		return;
	hoist_descriptor_release(&m->config);
	for (size_t i = 0; i < m->n_layers; i++)
		hoist_descriptor_release(&m->layers[i]);
	free(m->layers);
	for (size_t i = 0; i < m->n_manifests; i++)
		hoist_descriptor_release(&m->manifests[i]);
	free(m->manifests);
	if (m->subject) {
		hoist_descriptor_release(m->subject);
		free(m->subject);
	}
	json_decref(m->json);
	free(m->media_type);
	free(m->raw);
	free(m);
}

/* Whether the ", "-separated list holds item. */
static bool list_has(const char *list, const char *item)
{
	size_t n = strlen(item);
	for (const char *p = list; p && *p;) {
		size_t k = strcspn(p, ",");
		if (k == n && !strncmp(p, item, n))
			return true;
		p += k;
		while (*p == ',' || *p == ' ')
			p++;
	}
	return false;
}

int hoist_manifest_select(const hoist_manifest *index, const hoist_platform *want,
	const hoist_descriptor **out, hoist_error **err)
{
	if (!index || index->kind != HOIST_MEDIA_INDEX)
		return hoist_error_set(err, HOIST_E_INVALID,
			"manifest '%s' is not an index",
			index ? index->digest.str : "");
	if (!want)
		return hoist_error_set(err, HOIST_E_INVALID, "no platform given");
	for (size_t i = 0; i < index->n_manifests; i++) {
		const hoist_descriptor *d = &index->manifests[i];
		if (d->platform && hoist_platform_match(want, d->platform)) {
			*out = d;
			return 0;
		}
	}

	_cleanup_free_ char *ws = hoist_platform_string(want);
	hoist_buf list = HOIST_BUF_INIT(64 * 1024);
	size_t listed = 0, more = 0;
	int r = 0;
	for (size_t i = 0; i < index->n_manifests && r == 0; i++) {
		const hoist_descriptor *d = &index->manifests[i];
		if (!d->platform)
			continue;
		if (listed == SELECT_LIST_MAX) {
			more++;
			continue;
		}
		_cleanup_free_ char *s = hoist_platform_string(d->platform);
		if (!s) {
			r = -HOIST_E_NOMEM;
			break;
		}
		/* Indexes repeat platforms (attestations, os.version builds). */
		if (list_has(list.data, s))
			continue;
		r = hoist_buf_appendf(&list, NULL, "%s%s", listed ? ", " : "", s);
		listed++;
	}
	if (r == 0 && more)
		r = hoist_buf_appendf(&list, NULL, " (and %zu more entries)", more);
	if (r < 0) {
		hoist_buf_release(&list);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	r = hoist_error_set(err, HOIST_E_NOTFOUND,
		"no manifest for platform '%s' in index '%s': %s%s",
		ws ? ws : "?", index->digest.str,
		listed ? "available platforms are " : "the index lists no platforms",
		listed ? list.data : "");
	hoist_buf_release(&list);
	return r;
}

static int64_t add_sat(int64_t a, int64_t b)
{
	int64_t s;
	return __builtin_add_overflow(a, b, &s) ? INT64_MAX : s;
}

int64_t hoist_manifest_size(const hoist_manifest *m)
{
	int64_t total = 0;
	if (!m)
		return 0;
	if (m->kind == HOIST_MEDIA_MANIFEST) {
		total = m->config.size;
		for (size_t i = 0; i < m->n_layers; i++)
			total = add_sat(total, m->layers[i].size);
	} else {
		for (size_t i = 0; i < m->n_manifests; i++)
			total = add_sat(total, m->manifests[i].size);
	}
	return total;
}

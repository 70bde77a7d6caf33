/* Image manifests and indexes (OCI and Docker schema 2), parsed from their
 * raw bytes.  The bytes are kept: whatever is read and written again keeps
 * its digest.  Limits: 4 MiB of JSON (the distribution spec's), at most
 * 4096 layers or child manifests. */
#ifndef HOIST_MANIFEST_H
#define HOIST_MANIFEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "hoist/digest.h"
#include "hoist/error.h"
#include "hoist/media.h"

#define HOIST_MANIFEST_MAX (4 * 1024 * 1024)
#define HOIST_MANIFEST_MAX_ENTRIES 4096

typedef struct hoist_manifest {
	char *media_type;   /* resolved: the mediaType field, else the hint */
	hoist_media_kind kind; /* HOIST_MEDIA_MANIFEST or HOIST_MEDIA_INDEX */
	hoist_digest digest;   /* sha256 of raw */
	char *raw;             /* exact bytes, NUL-terminated */
	size_t raw_len;
	json_t *json;          /* parsed root, owned */

	/* image manifest */
	hoist_descriptor config;
	hoist_descriptor *layers;
	size_t n_layers;
	hoist_descriptor *subject; /* NULL when absent */

	/* index */
	hoist_descriptor *manifests;
	size_t n_manifests;
} hoist_manifest;

/* Parses raw bytes.  media_type_hint is the Content-Type or descriptor
 * media type the bytes came with (may be NULL); when the JSON has a
 * mediaType it must agree with the hint (ignoring parameters).  Rejects
 * schema 1 (HOIST_E_UNSUPPORTED), schemaVersion != 2, unknown kinds, bad
 * descriptors, and JSON over the limits. */
int hoist_manifest_parse(hoist_manifest **out, const void *raw, size_t len,
	const char *media_type_hint, hoist_error **err);
void hoist_manifest_free(hoist_manifest *m);

/* From an index, the child manifest for `want` (first match).  Errors name
 * the platforms the index has when none matches. Borrowed pointer. */
int hoist_manifest_select(const hoist_manifest *index, const hoist_platform *want,
	const hoist_descriptor **out, hoist_error **err);

/* Total of config and layer sizes (manifest) for display. */
int64_t hoist_manifest_size(const hoist_manifest *m);

#endif

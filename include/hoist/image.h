/* An image resolved from a source: the manifest the reference names (maybe
 * an index), the one platform's manifest, and its configuration. */
#ifndef HOIST_IMAGE_H
#define HOIST_IMAGE_H

#include <jansson.h>

#include "hoist/config.h"
#include "hoist/manifest.h"
#include "hoist/transport.h"

typedef struct hoist_image {
	hoist_manifest *top;      /* what the name points at */
	hoist_manifest *manifest; /* the image manifest (== top unless index) */
	char *config_raw;         /* exact config bytes */
	size_t config_len;
	hoist_config *config;
} hoist_image;

/* Resolves the image of `want` (host platform when NULL) in src and reads
 * its config. */
int hoist_image_load(hoist_source *src, const hoist_platform *want,
	hoist_image **out, hoist_error **err);
void hoist_image_free(hoist_image *img);

/* A summary for `hoist inspect --json` (new reference): name, digest,
 * mediaType, manifests of an index with platforms, and for the image:
 * manifest digest, platform, created, user, entrypoint, cmd, env,
 * workingDir, exposedPorts, labels, volumes, stopSignal, layers (digest,
 * size, mediaType), size, and history (created, createdBy, comment,
 * emptyLayer, layer digest and size for the entries that made a layer). */
json_t *hoist_image_summary(const hoist_image *img, const char *name);

#endif

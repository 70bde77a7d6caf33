/* Composing a new image without running anything: a base (or scratch), new
 * layers, config changes, base layers swapped (rebase), and the result
 * written to any destination.
 *
 * New layers are written once, streaming, into the local store's blobs
 * (content-addressed; the store's gc lock is held shared while composing).
 * The composed image is a hoist_source whose manifest and config exist in
 * memory and whose blobs come from the base, the store or another image;
 * hoist_copy_image moves it, so base layers already at the destination are
 * skipped, mounted within one registry, and otherwise streamed from the
 * base without touching disk.
 *
 * Reproducible: timestamps written (config created, history) are
 * SOURCE_DATE_EPOCH, else 0 (1970-01-01T00:00:00Z), unless set. */
#ifndef HOIST_COMPOSE_H
#define HOIST_COMPOSE_H

#include <jansson.h>
#include <stdbool.h>

#include "hoist/config.h"
#include "hoist/copy.h"
#include "hoist/ctx.h"
#include "hoist/error.h"
#include "hoist/layer.h"
#include "hoist/media.h"

typedef struct hoist_compose hoist_compose;

/* base NULL or "scratch": an empty image for `platform` (host when NULL).
 * Otherwise the image base names, resolved to `platform` (host when NULL)
 * if it is an index. */
int hoist_compose_new(hoist_compose **out, hoist_ctx *ctx, const char *base,
	const hoist_platform *platform, hoist_error **err);
void hoist_compose_free(hoist_compose *c);
/* A new image starting where `parent` is now (FROM an earlier stage):
 * same layers (their blobs still come from where parent's come from, so
 * parent must outlive the copy), a copy of its config. */
int hoist_compose_new_from(hoist_compose **out, const hoist_compose *parent,
	hoist_error **err);

/* The digest of the base's manifest (zero string "" for scratch). */
const char *hoist_compose_base_digest(const hoist_compose *c);
/* Layers so far, and the descriptor of the i-th (borrowed). */
size_t hoist_compose_n_layers(const hoist_compose *c);
const hoist_descriptor *hoist_compose_layer(const hoist_compose *c, size_t i);

/* The config being edited (borrowed). */
hoist_config *hoist_compose_config(hoist_compose *c);
/* Whether the output uses Docker schema 2 media types (because the base
 * does); layers must then be written with oci_media_types = false. */
bool hoist_compose_is_docker(const hoist_compose *c);
/* Layer options matching the output format, with defaults. */
void hoist_compose_layer_opts(const hoist_compose *c, hoist_layer_opts *o);
/* The timestamp string used for created/history ("1970-01-01T00:00:00Z"). */
const char *hoist_compose_timestamp(const hoist_compose *c);

/* Writing a layer: begin gives a writer that streams into the store;
 * end finishes it, appends it to the image with a history entry
 * (created_by) and returns its info.  Only one layer at a time. */
int hoist_compose_begin_layer(hoist_compose *c, const hoist_layer_opts *o,
	hoist_layer_writer **w, hoist_error **err);
int hoist_compose_end_layer(hoist_compose *c, hoist_layer_writer *w,
	const char *created_by, hoist_layer_info *info, hoist_error **err);
/* Gives up the layer begun (after the caller freed its writer). */
void hoist_compose_abort_layer(hoist_compose *c);
/* Convenience: a directory (its content at dest) or a tarball as a layer. */
int hoist_compose_add_path(hoist_compose *c, const char *path, const char *dest,
	const hoist_layer_opts *o, const char *created_by, hoist_layer_info *info,
	hoist_error **err);
/* A layer that exists already as a blob of the store or of another
 * source's image (build cache hits); diff_id is its uncompressed digest. */
int hoist_compose_add_existing_layer(hoist_compose *c, const hoist_descriptor *d,
	const hoist_digest *diff_id, const char *created_by, hoist_error **err);
/* A layer that lives in another image's repository (a registry build
 * cache): its blob is read from `from` only if someone needs it, and a
 * destination in the same registry mounts it.  from is borrowed. */
int hoist_compose_add_remote_layer(hoist_compose *c, const hoist_descriptor *d,
	const hoist_digest *diff_id, const char *created_by, hoist_source *from,
	hoist_error **err);
/* A history entry with no layer (ENV, CMD, ...). */
int hoist_compose_add_history(hoist_compose *c, const char *created_by,
	hoist_error **err);
/* Manifest annotations. */
int hoist_compose_set_annotation(hoist_compose *c, const char *key,
	const char *value, hoist_error **err);

/* Replaces the layers of old_base at the bottom of the image with those
 * of new_base.  Fails unless the image really starts with old_base's
 * layers (digests and diff_ids). */
int hoist_compose_rebase(hoist_compose *c, const char *old_base,
	const char *new_base, hoist_error **err);

/* Writes the image to dest (any transport). */
int hoist_compose_write(hoist_compose *c, const char *dest, hoist_digest *digest,
	hoist_copy_stats *stats, hoist_error **err);
/* The composed image as a source (borrowed; valid while c lives), e.g. to
 * read its files back. */
hoist_source *hoist_compose_source(hoist_compose *c, hoist_error **err);

#endif

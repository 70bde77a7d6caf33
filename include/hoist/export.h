/* The files of an image: its flattened root filesystem, and what each
 * layer adds, changes and deletes. */
#ifndef HOIST_EXPORT_H
#define HOIST_EXPORT_H

#include <stddef.h>

#include "hoist/image.h"
#include "hoist/io.h"
#include "hoist/layer.h"
#include "hoist/transport.h"

/* Applies every layer in order into dir (created if missing; must be
 * empty or new), safely (hoist_layer_apply). */
int hoist_image_export_dir(hoist_source *src, const hoist_image *img,
	const char *dir, const hoist_apply_opts *o, hoist_error **err);

/* Writes the flattened filesystem as one tar stream, without unpacking:
 * layers are read from the top down and an entry is written only if no
 * upper layer replaced or deleted it (whiteouts and opaque directories
 * honoured).  Memory grows with the number of paths, not their size. */
int hoist_image_export_tar(hoist_source *src, const hoist_image *img,
	hoist_writer *out, hoist_error **err);

/* Calls fn for each entry of each layer, bottom up: 'A' added, 'M' a path
 * that a lower layer had, 'D' deleted by a whiteout. */
typedef void (*hoist_file_fn)(void *ud, size_t layer, hoist_change_kind kind,
	const char *path, int64_t size);
int hoist_image_list_files(hoist_source *src, const hoist_image *img,
	hoist_file_fn fn, void *ud, hoist_error **err);

#endif

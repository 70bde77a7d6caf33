/* OCI image layout directories (image-spec "image-layout"):
 *   DIR/oci-layout   {"imageLayoutVersion": "1.0.0"}
 *   DIR/index.json   an image index naming the images
 *   DIR/blobs/ALG/HEX
 * Writes are crash-safe (temp file in the same directory, fsync, rename,
 * fsync dir); index.json changes happen under an exclusive flock on
 * DIR/index.json.lock, read-modify-write, so concurrent writers serialise.
 * A blob whose content does not match its digest is never stored; reading
 * a blob verifies it (a reader from hoist_layout_open_blob fails at the end
 * if the file was corrupted on disk).
 *
 * Images are named by the org.opencontainers.image.ref.name annotation of
 * their index.json entry.  The local store is a layout whose names are full
 * "NAME:TAG" strings; a plain oci: directory uses bare tags like skopeo. */
#ifndef HOIST_LAYOUT_H
#define HOIST_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>

#include "hoist/buf.h"
#include "hoist/ctx.h"
#include "hoist/error.h"
#include "hoist/io.h"
#include "hoist/manifest.h"
#include "hoist/media.h"

typedef struct hoist_layout hoist_layout;

/* Opens DIR; with create, makes it (and oci-layout, index.json) if
 * missing.  Fails with HOIST_E_NOTFOUND / HOIST_E_INVALID when DIR is not
 * an OCI layout. */
int hoist_layout_open(hoist_layout **out, const char *dir, bool create,
	hoist_error **err);
void hoist_layout_free(hoist_layout *l);
const char *hoist_layout_path(const hoist_layout *l);

bool hoist_layout_has_blob(hoist_layout *l, const hoist_digest *d);
/* Streams content into blobs/ALG/HEX via a temp file, verifying digest and
 * (if size >= 0) size.  The caller keeps ownership of the reader.  An
 * existing blob is not rewritten and the reader is not read. */
int hoist_layout_put_blob(hoist_layout *l, const hoist_digest *d, int64_t size,
	hoist_reader *content, hoist_error **err);
int hoist_layout_put_blob_mem(hoist_layout *l, const void *p, size_t n,
	hoist_digest *out, hoist_error **err);
/* A blob whose digest is known only once it is written (a layer being
 * made): bytes written to the writer go to a temp file in blobs/sha256 and
 * are hashed on the way; hoist_layout_blob_commit renames the file to its
 * digest (fsync, rename, fsync dir) and returns digest and size.  Freeing
 * the writer without commit removes the temp file. */
typedef struct hoist_layout_blob_writer hoist_layout_blob_writer;
int hoist_layout_blob_writer_new(hoist_layout *l, hoist_layout_blob_writer **out,
	hoist_error **err);
/* The writer side (borrowed; valid until commit/free). */
hoist_writer *hoist_layout_blob_writer_sink(hoist_layout_blob_writer *w);
int hoist_layout_blob_commit(hoist_layout_blob_writer *w, hoist_digest *digest,
	int64_t *size, hoist_error **err);
void hoist_layout_blob_writer_free(hoist_layout_blob_writer *w);

/* A verifying reader over the stored blob. */
int hoist_layout_open_blob(hoist_layout *l, const hoist_digest *d, int64_t size,
	hoist_reader **out, hoist_error **err);
/* Reads and verifies a small blob whole. */
int hoist_layout_read_blob(hoist_layout *l, const hoist_digest *d, size_t max,
	hoist_buf *out, hoist_error **err);
int hoist_layout_blob_size(hoist_layout *l, const hoist_digest *d, int64_t *out,
	hoist_error **err);

/* index.json entries. */
typedef struct hoist_layout_entry {
	hoist_descriptor desc; /* includes annotations / platform */
	const char *name;      /* ref.name annotation (borrowed from desc) or NULL */
} hoist_layout_entry;

/* Snapshot of index.json entries (caller frees with _entries_free). */
int hoist_layout_list(hoist_layout *l, hoist_layout_entry **out, size_t *n,
	hoist_error **err);
void hoist_layout_entries_free(hoist_layout_entry *e, size_t n);
/* Finds the entry named `name` (ref.name), or by digest when name is NULL. */
int hoist_layout_resolve(hoist_layout *l, const char *name,
	const hoist_digest *digest, hoist_descriptor *out, hoist_error **err);
/* Points `name` at desc (replacing an entry of the same name); name NULL
 * adds an unnamed entry unless one with that digest exists. */
int hoist_layout_set_ref(hoist_layout *l, const char *name,
	const hoist_descriptor *desc, hoist_error **err);
/* Removes the entry named `name`; HOIST_E_NOTFOUND if none. */
int hoist_layout_remove_ref(hoist_layout *l, const char *name, hoist_error **err);

/* Deletes blobs not reachable from index.json (walking indexes and
 * manifests) and stale temp files; counts what it removed (temp files
 * included). Takes the gc
 * lock exclusively; writers hold it shared (hoist_layout_hold). */
int hoist_layout_gc(hoist_layout *l, uint64_t *removed_blobs,
	uint64_t *removed_bytes, hoist_error **err);
/* Holds the gc lock shared for the life of the layout handle, so blobs put
 * before their manifest is named are not collected under a writer. */
int hoist_layout_hold(hoist_layout *l, hoist_error **err);

#endif

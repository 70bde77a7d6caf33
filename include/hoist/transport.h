/* Where images come from and go to.  Every transport (registry, OCI
 * layout, docker-archive, local store) implements a source and a
 * destination with the operations below; `hoist cp` and everything that
 * reads or writes an image is written once against this interface.
 *
 * Contracts every implementation keeps:
 * - open_blob returns a reader that verifies digest and size: the last
 *   read fails with HOIST_E_DIGEST if the content is not what the
 *   descriptor says.
 * - put_blob reads the reader to its end (the caller keeps ownership and
 *   frees it), verifies the content against the descriptor while writing
 *   and never keeps a blob that does not match.
 * - put_manifest with top == false stores a child of an index by digest
 *   only; with top == true it stores the image the destination reference
 *   names (under its tag, or by digest when the reference has none).
 *   Manifest bytes are stored verbatim.
 * - a destination freed without commit leaves no tag pointing anywhere new
 *   (blobs may stay, as unreferenced content). */
#ifndef HOIST_TRANSPORT_H
#define HOIST_TRANSPORT_H

#include <stdbool.h>

#include "hoist/buf.h"
#include "hoist/ctx.h"
#include "hoist/error.h"
#include "hoist/imgref.h"
#include "hoist/io.h"
#include "hoist/manifest.h"

typedef struct hoist_source hoist_source;
typedef struct hoist_source_ops {
	/* The manifest the reference names (digest == NULL) or the one with
	 * that digest.  raw gets the exact bytes, *media_type (caller frees)
	 * the type the transport reports for them (may be NULL). */
	int (*get_manifest)(hoist_source *s, const hoist_digest *digest,
		hoist_buf *raw, char **media_type, hoist_error **err);
	int (*open_blob)(hoist_source *s, const hoist_descriptor *d,
		hoist_reader **out, hoist_error **err);
	/* Optional: tags of the repository (registry, oci). NULL if n/a. */
	int (*list_tags)(hoist_source *s, char ***tags, size_t *n,
		hoist_error **err);
	/* Optional: the image a blob can be mounted from, for a source that
	 * combines blobs of several places (a composed image); NULL when the
	 * blob lives nowhere mountable.  Without this op, s->ref. */
	const hoist_imgref *(*blob_origin)(hoist_source *s,
		const hoist_descriptor *d);
	void (*free)(hoist_source *s);
} hoist_source_ops;
struct hoist_source {
	const hoist_source_ops *ops;
	hoist_imgref *ref; /* owned */
};

typedef struct hoist_dest hoist_dest;
typedef struct hoist_dest_ops {
	int (*has_blob)(hoist_dest *d, const hoist_descriptor *desc, bool *out,
		hoist_error **err);
	/* Optional (NULL): ask the destination to take the blob from another
	 * repository `from` of the same registry without transferring it.
	 * *mounted false means declined: the caller transfers it. */
	int (*mount_blob)(hoist_dest *d, const hoist_descriptor *desc,
		const hoist_imgref *from, bool *mounted, hoist_error **err);
	int (*put_blob)(hoist_dest *d, const hoist_descriptor *desc,
		hoist_reader *content, hoist_error **err);
	/* Optional: whether the manifest with digest dg is already stored under
	 * the destination's tag (mirror runs skip such images).  NULL = no. */
	int (*has_manifest)(hoist_dest *d, const hoist_digest *dg, bool *out,
		hoist_error **err);
	int (*put_manifest)(hoist_dest *d, const hoist_manifest *m, bool top,
		hoist_error **err);
	/* Makes everything put so far durable and visible. */
	int (*commit)(hoist_dest *d, hoist_error **err);
	void (*free)(hoist_dest *d);
} hoist_dest_ops;
struct hoist_dest {
	const hoist_dest_ops *ops;
	hoist_imgref *ref; /* owned */
	/* Cannot store an image index (docker-archive): the copier picks one
	 * platform's manifest instead. */
	bool single_image;
};

/* Opens the transport the reference names.  A registry reference with no
 * explicit domain is looked up in the local store first when used as a
 * source and it exists there (podman's rule); as a destination such a name
 * means the local store. */
int hoist_source_open(hoist_ctx *ctx, const char *name, hoist_source **out,
	hoist_error **err);
int hoist_source_open_ref(hoist_ctx *ctx, const hoist_imgref *ref,
	hoist_source **out, hoist_error **err);
int hoist_dest_open(hoist_ctx *ctx, const char *name, hoist_dest **out,
	hoist_error **err);
int hoist_dest_open_ref(hoist_ctx *ctx, const hoist_imgref *ref,
	hoist_dest **out, hoist_error **err);
void hoist_source_free(hoist_source *s);
void hoist_dest_free(hoist_dest *d);

/* The tag a destination reference names (NULL for a digest-only one). */
const char *hoist_dest_tag(const hoist_dest *d);

/* Convenience: fetch and parse the top manifest of a source; resolves an
 * index to the child for `platform` when platform != NULL. */
int hoist_source_manifest(hoist_source *s, const hoist_platform *platform,
	hoist_manifest **out, hoist_error **err);
/* Reads a small blob (config) whole, verified, at most max bytes. */
int hoist_source_read_blob(hoist_source *s, const hoist_descriptor *d,
	size_t max, hoist_buf *out, hoist_error **err);

/* Per-transport constructors, used by the dispatchers above. */
int hoist_oci_source_open(hoist_ctx *ctx, hoist_imgref *ref, hoist_source **out,
	hoist_error **err);
int hoist_oci_dest_open(hoist_ctx *ctx, hoist_imgref *ref, hoist_dest **out,
	hoist_error **err);
int hoist_archive_source_open(hoist_ctx *ctx, hoist_imgref *ref,
	hoist_source **out, hoist_error **err);
int hoist_archive_dest_open(hoist_ctx *ctx, hoist_imgref *ref,
	hoist_dest **out, hoist_error **err);
int hoist_registry_source_open(hoist_ctx *ctx, hoist_imgref *ref,
	hoist_source **out, hoist_error **err);
int hoist_registry_dest_open(hoist_ctx *ctx, hoist_imgref *ref,
	hoist_dest **out, hoist_error **err);

#endif

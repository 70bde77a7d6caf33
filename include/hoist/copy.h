/* Copying images between any two transports (`hoist cp`).
 *
 * Blobs are streamed from source to destination through fixed buffers, in
 * parallel (hoist_ctx_jobs workers); a blob the destination already has is
 * skipped after one existence check, and between two repositories of one
 * registry it is mounted instead of transferred.  Manifests travel as their
 * exact bytes, so an index and every image in it keep their digests.  The
 * destination's tag is written last, after every blob and child manifest,
 * and only if all of them arrived: a failed copy leaves no tag pointing at
 * a half-copied image. */
#ifndef HOIST_COPY_H
#define HOIST_COPY_H

#include <stdbool.h>
#include <stdint.h>

#include "hoist/ctx.h"
#include "hoist/error.h"
#include "hoist/media.h"
#include "hoist/transport.h"

typedef struct hoist_copy_opts {
	/* Copy only this platform's image out of an index (NULL: the whole
	 * index; a destination that cannot hold an index gets the host's). */
	const hoist_platform *platform;
} hoist_copy_opts;

typedef struct hoist_copy_stats {
	uint64_t blobs_total;
	uint64_t blobs_copied;
	uint64_t blobs_skipped;  /* already at the destination */
	uint64_t blobs_mounted;  /* cross-repository mount */
	uint64_t bytes_copied;
	uint64_t manifests;      /* manifests written */
	bool unchanged;          /* destination already had it under its tag */
} hoist_copy_stats;

/* Copies the image src names to dst and commits dst.  *digest (optional)
 * gets the digest of the top manifest written. */
int hoist_copy_image(hoist_ctx *ctx, hoist_source *src, hoist_dest *dst,
	const hoist_copy_opts *opts, hoist_digest *digest,
	hoist_copy_stats *stats, hoist_error **err);

/* Convenience over names: opens both ends, copies, commits. */
int hoist_copy_by_name(hoist_ctx *ctx, const char *src, const char *dst,
	const hoist_copy_opts *opts, hoist_digest *digest,
	hoist_copy_stats *stats, hoist_error **err);

/* Called after each tag of hoist_copy_all_tags. rc < 0: that tag failed
 * (err set); the copy goes on with the next tag when this returns 0. */
typedef int (*hoist_copy_tag_fn)(void *ud, const char *tag, int rc,
	const hoist_digest *digest, const hoist_copy_stats *st,
	const hoist_error *err);

/* Copies every tag of the repository src names (its tag is ignored) to
 * the repository dst names, keeping tag names; tag_regex (POSIX extended,
 * anchored by the caller if wanted) filters them when not NULL.  Tags whose
 * destination already has the same digest cost one check each. */
int hoist_copy_all_tags(hoist_ctx *ctx, const char *src, const char *dst,
	const char *tag_regex, const hoist_copy_opts *opts,
	hoist_copy_tag_fn on_tag, void *ud, hoist_copy_stats *total,
	hoist_error **err);

/* The name `name` with its tag replaced by `tag` (any transport). */
int hoist_imgref_with_tag(const hoist_imgref *r, const char *tag, char **out,
	hoist_error **err);

#endif

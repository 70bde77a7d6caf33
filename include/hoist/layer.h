/* Layers: reproducible tar writing with compression and double hashing,
 * and safe application of layers to a directory.
 *
 * Writing: entries go out as a PAX tar (libarchive) through a compressor
 * into a hoist_writer, in one pass: the diff_id (sha256 of the tar) and the
 * digest (sha256 of what is written) are computed on the way.  Nothing is
 * buffered beyond fixed-size blocks.
 *
 * Reproducible by default: a tree is walked in byte-sorted order, mtimes are
 * clamped to SOURCE_DATE_EPOCH (0 when unset) unless preserve_mtime, owners
 * are 0:0 unless chown is given, no atime/ctime, no user or group names,
 * permissions kept.  gzip output is a series of gzip members of fixed-size
 * input blocks compressed in parallel with libdeflate: a standard gzip
 * stream (as estargz layers are), identical whatever the number of threads
 * or the machine. */
#ifndef HOIST_LAYER_H
#define HOIST_LAYER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "hoist/digest.h"
#include "hoist/error.h"
#include "hoist/io.h"
#include "hoist/media.h"

typedef struct hoist_layer_opts {
	hoist_compression compression; /* default HOIST_COMPRESSION_GZIP */
	int level;            /* -1: default (gzip 7, zstd 3: measured, bench/) */
	int threads;          /* compression threads; 0: number of cores */
	bool preserve_mtime;
	int64_t epoch;        /* mtime clamp; -1: $SOURCE_DATE_EPOCH, else 0 */
	int64_t uid, gid;     /* owner of every entry; -1: 0 (root) */
	bool devices;         /* include device nodes (else skipped) */
	bool oci_media_types; /* OCI (default) or Docker layer media types */
	/* Owners as on disk (a RUN step's files) instead of uid/gid; files
	 * of the writing user count as root's when it is not root itself
	 * (an overlay upper dir written by a rootless sandbox). */
	bool keep_owner;
	/* Decides the owner of each entry of add_tree/add_path from its name
	 * in the layer and its stat on disk (a rootless sandbox's subordinate
	 * ids mapped back, a rootless COPY --chown); returns true when it set
	 * *uid and *gid.  Otherwise keep_owner / uid / gid apply. */
	bool (*owner)(const void *ud, const char *name, const struct stat *st,
		int64_t *uid, int64_t *gid);
	const void *owner_ud;
	/* add_tree of an overlay upper dir: a 0:0 character device becomes a
	 * whiteout of its name, a directory with the xattr PREFIX "opaque" =
	 * "y" is followed by its opaque whiteout, and PREFIX* xattrs are
	 * dropped.  PREFIX is hoist_sandbox_overlay_xattr_prefix(); NULL for
	 * an ordinary tree. */
	const char *overlay_xattr_prefix;
} hoist_layer_opts;

/* Defaults as above. */
void hoist_layer_opts_init(hoist_layer_opts *o);

/* The mtime a writer with these options gives its entries (without
 * preserve_mtime): opts.epoch, else $SOURCE_DATE_EPOCH, else 0. */
int64_t hoist_layer_epoch(const hoist_layer_opts *o);

typedef struct hoist_layer_info {
	hoist_digest digest;  /* of the compressed blob */
	hoist_digest diff_id; /* of the uncompressed tar */
	int64_t size;         /* bytes of the blob */
	const char *media_type; /* static string */
} hoist_layer_info;

typedef struct hoist_layer_writer hoist_layer_writer;

/* out is borrowed; it receives the compressed blob as it is produced. */
int hoist_layer_writer_new(hoist_layer_writer **out, const hoist_layer_opts *o,
	hoist_writer *sink, hoist_error **err);
/* Adds the tree under host directory `dir` so that `dir` itself becomes
 * `dest` in the layer ("" or "/" for the root: the entries are the
 * children of dir).  Parent directories of dest are added as 0755 dirs.
 * Hard links inside the tree become tar hard links; symlinks are stored,
 * not followed; sockets are skipped; xattrs (user.*, security.capability)
 * are kept.  `exclude` (may be NULL) is asked for each relative path and
 * skips it (and its subtree) when it returns true. */
typedef bool (*hoist_layer_exclude_fn)(void *ud, const char *relpath, bool is_dir);
int hoist_layer_writer_add_tree(hoist_layer_writer *w, const char *dir,
	const char *dest, hoist_layer_exclude_fn exclude, void *ud,
	hoist_error **err);
/* One host file (or symlink, or directory without its content) as dest. */
int hoist_layer_writer_add_path(hoist_layer_writer *w, const char *host_path,
	const char *dest, hoist_error **err);
/* A regular file from memory. */
int hoist_layer_writer_add_data(hoist_layer_writer *w, const char *dest,
	const void *data, size_t len, mode_t mode, hoist_error **err);
/* A directory entry / a symlink. */
int hoist_layer_writer_add_dir(hoist_layer_writer *w, const char *dest,
	mode_t mode, hoist_error **err);
int hoist_layer_writer_add_symlink(hoist_layer_writer *w, const char *dest,
	const char *target, hoist_error **err);
/* A whiteout: ".wh.NAME" for dest; opaque: ".wh..wh..opq" in dir dest. */
int hoist_layer_writer_add_whiteout(hoist_layer_writer *w, const char *dest,
	bool opaque, hoist_error **err);
/* Copies the entries of an existing tar stream (plain, gzip or zstd,
 * detected) into the layer, normalising owners and mtimes as the options
 * say; entries with unsafe names are rejected. */
int hoist_layer_writer_add_tar(hoist_layer_writer *w, hoist_reader *tar,
	hoist_error **err);
/* Ends the tar and the compressed stream; fills info. */
int hoist_layer_writer_finish(hoist_layer_writer *w, hoist_layer_info *info,
	hoist_error **err);
void hoist_layer_writer_free(hoist_layer_writer *w);

/* A reader that decompresses a layer blob (gzip — including multi-member —,
 * zstd or plain, detected from the first bytes). Takes inner. */
int hoist_layer_decompress(hoist_reader **out, hoist_reader *inner,
	hoist_error **err);

/* Applying layers. */

typedef struct hoist_apply_opts {
	bool keep_owner;
	/* Decides the owner of each entry of add_tree/add_path from its name
	 * in the layer and its stat on disk (a rootless sandbox's subordinate
	 * ids mapped back, a rootless COPY --chown); returns true when it set
	 * *uid and *gid.  Otherwise keep_owner / uid / gid apply. */
	bool (*owner)(const void *ud, const char *name, const struct stat *st,
		int64_t *uid, int64_t *gid);
	const void *owner_ud;   /* chown entries to their tar uid/gid (needs privilege
	                      or a user namespace); else files belong to us */
	bool devices;      /* create device nodes (else skipped) */
	bool xattrs;       /* restore xattrs where permitted */
	uint64_t max_bytes;/* refuse a layer whose entries claim more (0: 1 TiB) */
} hoist_apply_opts;

/* The bound on what a layer blob of `blob_size` bytes may expand to when
 * applied: 1000 times its size, at least 8 GiB.  Far above any real
 * compression ratio; stops a tiny layer claiming a 10 GB (sparse) file. */
uint64_t hoist_layer_max_bytes(int64_t blob_size);

typedef enum hoist_change_kind {
	HOIST_CHANGE_ADD = 'A',
	HOIST_CHANGE_MODIFY = 'M',
	HOIST_CHANGE_DELETE = 'D',
} hoist_change_kind;

/* Called per entry by hoist_layer_apply (may be NULL). */
typedef void (*hoist_change_fn)(void *ud, hoist_change_kind kind,
	const char *path, int64_t size);

/* Applies one layer tar stream (uncompressed; wrap with
 * hoist_layer_decompress) on top of the tree at rootfd: whiteouts delete,
 * opaque whiteouts empty a directory, everything else is created or
 * replaced.  Every path is resolved beneath root (openat2 RESOLVE_BENEATH
 * or an equivalent walk): "..", absolute names, writes through symlinks
 * that lead out (absolute or climbing ones; relative links that stay
 * inside are followed), hard links to outside and whiteouts of ".." are
 * refused with HOIST_E_UNSAFE naming the entry; sizes beyond the bound
 * with HOIST_E_LIMIT; truncated or malformed tars with HOIST_E_INVALID.
 * Nothing is ever written outside the root. */
int hoist_layer_apply(int rootfd, hoist_reader *tar, const hoist_apply_opts *o,
	hoist_change_fn on_change, void *ud, hoist_error **err);

/* Lists what a layer tar does without applying it: A for a file it adds or
 * replaces (the layer cannot tell which without the lower layers), D for a
 * whiteout (path of what it deletes; an opaque directory as "DIR/" + "*"). */
int hoist_layer_list(hoist_reader *tar, hoist_change_fn on_change, void *ud,
	hoist_error **err);

#endif

/* The file side of Dockerfile COPY and ADD: read-only views of a build
 * context or of a stage's filesystem, Docker's (BuildKit's) copy rules,
 * and the content key the build cache looks COPY/ADD steps up by.
 *
 * A COPY writes into a fresh, empty "snapshot" directory that then becomes
 * both the step's layer and the topmost overlay lower dir of later steps.
 * So the snapshot holds only what the step adds: the copied entries, plus
 * the parent directories of the destination.  Parents that exist in the
 * stage are written with the stage's mode, owner and mtime (a COPY into
 * /tmp/x keeps /tmp 1777); missing ones are made 0755, owned by --chown's
 * ids or root.  Nothing in the snapshot ever needs a whiteout: a COPY only
 * adds or replaces, and replacing a directory with a file (or the reverse)
 * is an error, as in BuildKit. */
#ifndef HOIST_BUILDCOPY_H
#define HOIST_BUILDCOPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "hoist/digest.h"
#include "hoist/dockerignore.h"
#include "hoist/error.h"

/* Views.
 *
 * Paths are image paths ("/app/x"; relative ones are taken from the
 * root), resolved inside the view the way the kernel resolves them inside
 * a chroot: ".." stops at the root, an absolute symlink target starts
 * again at the view's root, and nothing resolves outside it.  At most 40
 * symlinks per lookup (HOIST_E_INVALID "too many levels of symbolic
 * links").  A path that is not in the view gives HOIST_E_NOTFOUND.
 *
 * A view never follows a host symlink: every component is looked up in
 * real directories of the underlying host trees, and files are opened
 * beneath them without following links (openat2 RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS or an equivalent walk).  Views are read-only and
 * may be shared by threads once made. */
typedef struct hoist_fsview hoist_fsview;

/* A build context: the tree under dir.  With ignore (borrowed; must
 * outlive the view), what it excludes is not in the view: lookups fail,
 * listings leave it out.  An excluded directory that holds a re-included
 * path ("!docs/README.md") is in the view with only that content.
 * Owners in a context do not count: COPY makes its files root's. */
int hoist_fsview_new_dir(hoist_fsview **out, const char *dir,
	const hoist_dockerignore *ignore, hoist_error **err);

/* A stage's filesystem: overlay lower dirs, topmost first (n may be 0:
 * FROM scratch, an empty root), merged as overlayfs merges them: a path is
 * the entry of the topmost lower that has it; a 0:0 character device is a
 * whiteout that hides the path in the lowers below; a directory with the
 * xattr PREFIX "opaque" = "y" hides the lowers' directories of that path;
 * directories merge their listings.  xattr_prefix: "trusted.overlay." or
 * "user.overlay."; NULL for hoist_sandbox_overlay_xattr_prefix().  Copied
 * from such a view, files keep their owners (COPY --from). */
int hoist_fsview_new_lowers(hoist_fsview **out, const char *const *lowers,
	size_t n, const char *xattr_prefix, hoist_error **err);

void hoist_fsview_free(hoist_fsview *v);

/* lstat: every component but the last followed if a symlink.  The stat is
 * the host's entry (for a merged directory, the topmost one). */
int hoist_fsview_lstat(const hoist_fsview *v, const char *path,
	struct stat *st, hoist_error **err);
/* stat: the last component followed too. */
int hoist_fsview_stat(const hoist_fsview *v, const char *path,
	struct stat *st, hoist_error **err);
/* The canonical path of path with every symlink followed ("/" or "/a/b");
 * it must exist.  Caller frees. */
int hoist_fsview_realpath(const hoist_fsview *v, const char *path,
	char **out, hoist_error **err);
/* Opens a regular file (symlinks followed) for reading; *fd is the
 * caller's.  Anything else is HOIST_E_INVALID "... is not a regular
 * file". */
int hoist_fsview_open(const hoist_fsview *v, const char *path, int *fd,
	hoist_error **err);
/* The names in directory path (symlinks followed), merged across lowers,
 * without whiteouts and ignored entries, sorted bytewise.  Free with
 * hoist_fsview_names_free. */
int hoist_fsview_list(const hoist_fsview *v, const char *path,
	char ***names, size_t *n, hoist_error **err);
void hoist_fsview_names_free(char **names, size_t n);
/* The target of the symlink path (its last component not followed), as
 * stored.  Caller frees. */
int hoist_fsview_readlink(const hoist_fsview *v, const char *path,
	char **target, hoist_error **err);

/* COPY and ADD. */

/* A heredoc source ("COPY <<a.txt /dst/"): a file named name holding
 * data, mode 0644 (or --chmod), copied like any file source. */
typedef struct hoist_build_copy_inline {
	const char *name;
	const void *data;
	size_t len;
} hoist_build_copy_inline;

/* A download (ADD URL) may be at most this large unless the request
 * says otherwise. */
#define HOIST_BUILD_COPY_DOWNLOAD_MAX (16ull * 1024 * 1024 * 1024)

/* Everything is borrowed for the duration of the call. */
typedef struct hoist_build_copy_req {
	/* Where sources are read: the context (hoist_fsview_new_dir) or
	 * another stage (COPY --from, hoist_fsview_new_lowers).  May be NULL
	 * when every source is a URL or inline. */
	const hoist_fsview *src;
	/* The source words after expansion, as in the Dockerfile.  Each is
	 * cleaned (Go's path.Clean of "/" + word: "../x" is "/x") and
	 * resolved in src with every symlink followed, the last one too (a
	 * symlink source copies what it points to, under the link's name).
	 * A word with '*', '?' or '[' (not escaped by '\') is a pattern in
	 * Go's filepath.Match syntax from its first such component on; it
	 * matches the entries of src (symlinks in the pattern part are not
	 * descended into), in bytewise order.  ADD only: "http://" and
	 * "https://" words are downloaded. */
	const char *const *sources;
	size_t n_sources;
	const hoist_build_copy_inline *inlines;
	size_t n_inlines;
	/* The destination as written.  Relative to workdir (absolute; NULL:
	 * "/") unless absolute.  It is a directory when it ends with '/', is
	 * "." or "", or exists as a directory (symlinks followed) in target. */
	const char *dest;
	const char *workdir;
	/* The stage being built (lowers of its current filesystem); NULL for
	 * an empty one (scratch, COPY --link).  The destination is resolved
	 * in it (symlinks followed), and the metadata of existing parents is
	 * taken from it. */
	const hoist_fsview *target;
	/* --chown as numeric ids (the caller resolves names against the
	 * stage's /etc/passwd and /etc/group); -1 when not given.  A uid with
	 * gid -1 uses the uid as gid, as Docker does.  Without --chown, files
	 * from a context become 0:0 and files from a stage keep theirs. */
	int64_t uid;
	int64_t gid;
	int64_t chmod;           /* --chmod (0..07777), -1 when not given */
	bool is_add;
	/* ADD --checksum=ALGO:HEX for the (single, URL) source; NULL. */
	const char *checksum;
	/* --exclude patterns (.dockerignore syntax); matched against the path
	 * of each entry relative to the source directory being copied, and
	 * against the path of a pattern's match relative to the directory the
	 * pattern starts in (COPY --exclude=*.txt hom* /d/ skips home.txt). */
	const char *const *excludes;
	size_t n_excludes;
	/* A pattern that matches nothing is an error unless this is set
	 * (BuildKit allows it; the classic builder and hoist by default do
	 * not). */
	bool allow_empty_glob;
	/* The directory to write into: existing, empty, on a filesystem where
	 * the caller may create anything it needs.  Unused by
	 * hoist_build_copy_key_only. */
	const char *snapshot;
	uint64_t max_download;   /* bytes per URL; 0: HOIST_BUILD_COPY_DOWNLOAD_MAX */
} hoist_build_copy_req;

typedef struct hoist_build_copy_result {
	/* The content key: a sha256 over every entry the step writes, in the
	 * order it writes them (sources in order, each directory's entries
	 * sorted bytewise), hashed entry by entry so that memory does not grow
	 * with the number of files: path, type, mode and owner in effect (after
	 * --chmod/--chown), symlink target, hard link target, device numbers,
	 * copied xattrs and the sha256 of file content (of a whole archive
	 * for an extracted ADD, with the --chown in effect).  Never mtimes,
	 * inode numbers or host paths: the same tree checked out elsewhere at
	 * another time gives the same key. */
	hoist_digest key;
	/* Whether the owners in the snapshot are the ones the image should
	 * have (running as root).  When false (not root), everything in the
	 * snapshot belongs to the caller and the layer writer must set owners
	 * itself (hoist_layer_opts uid/gid: --chown's ids, else 0; copies
	 * from a stage then lose their owners). */
	bool owner_applied;
	uint64_t entries;        /* entries written (parents included) */
	uint64_t bytes;          /* file content written */
} hoist_build_copy_result;

/* Runs one COPY/ADD into req->snapshot.
 *
 * Docker's rules: a directory source copies its contents, not itself
 * (into the destination, made if missing); a file goes inside a
 * destination directory under its source name, else becomes the
 * destination; several sources (after pattern expansion) need a
 * directory destination ("When using COPY with more than one source file,
 * the destination must be a directory and end with a /"); a missing
 * source or a pattern matching nothing fails with HOIST_E_NOTFOUND "COPY
 * failed: file not found in build context or excluded by .dockerignore:
 * stat SRC: file does not exist" ("... in source stage ..." for a stage).
 * Symlinks inside a copied directory stay symlinks; hard links within one
 * COPY stay hard links; sockets are skipped.  Modes are kept unless
 * --chmod (which sets the permission bits of every copied entry,
 * directories included, as BuildKit does); mtimes are kept (the layer
 * writer clamps them).  xattrs user.* and security.capability are copied
 * from a stage (not from a context, where a browser's user.xdg.* would
 * leak in); overlay bookkeeping xattrs never are.
 *
 * ADD: a local file that is a tar archive (plain, gzip or zstd, detected
 * from its content) is extracted into the destination directory with
 * hoist_layer_apply (no path escapes; tar owners kept as root, --chown
 * overrides them; --chmod and --exclude do not apply).  A URL is
 * downloaded (libcurl; redirects followed, http and https only) to
 * DEST/NAME when the destination is a directory, NAME being the last
 * segment of the URL path ("__unnamed__" if none), else to DEST; mode 0600
 * unless --chmod, and mtime 0 rather than Docker's Last-Modified, so that
 * the layer does not depend on when the server last touched the file.
 * With checksum, a download that does not match fails with
 * HOIST_E_DIGEST and leaves nothing behind.  COPY of a URL is
 * HOIST_E_INVALID.
 *
 * Each file is read once: copied and hashed for the key in one pass (ADD
 * also peeks at the first block of a local file to tell an archive).  A
 * 0:0 character device in a context is refused (HOIST_E_UNSUPPORTED): in
 * the snapshot it would be a whiteout.  On failure the snapshot holds an
 * undefined part of the copy; the caller throws it away. */
int hoist_build_copy(hoist_build_copy_result *out,
	const hoist_build_copy_req *req, hoist_error **err);

/* The key hoist_build_copy would return, without writing anything (files
 * are read and hashed; URLs without checksum are downloaded and hashed;
 * with a checksum the checksum stands for the content).  Same errors. */
int hoist_build_copy_key_only(hoist_digest *key,
	const hoist_build_copy_req *req, hoist_error **err);

#endif

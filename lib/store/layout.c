/* OCI image layout directories: blobs, index.json, locks and gc.
 *
 * Every file is written through hoist_fs_tmp_* (temp in the same directory,
 * fsync, rename, fsync dir).  index.json is read-modify-written under an
 * exclusive flock on DIR/index.json.lock and read under a shared one; the
 * lock files live next to index.json, where skopeo and umoci ignore them.
 * Paths below DIR are opened relative to the directory fd with O_NOFOLLOW
 * at each step, so a symlink planted in blobs/ cannot redirect reads or
 * writes outside the layout. */
#include "hoist/layout.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hoist/fs.h"
#include "util/cleanup.h"

#define REF_NAME_ANNOTATION "org.opencontainers.image.ref.name"
#define INDEX_FILE "index.json"
#define INDEX_LOCK "index.json.lock"
#define GC_LOCK "gc.lock"
#define LAYOUT_FILE "oci-layout"
#define LAYOUT_VERSION "1.0.0"
#define INDEX_MAX (16u * 1024 * 1024)
#define INDEX_MAX_ENTRIES 100000
#define OCI_LAYOUT_MAX (64 * 1024)
#define REF_NAME_MAX 1024
/* A temp file this old is left over from a crashed writer, not in use. */
#define TMP_STALE_SECONDS 3600
/* Indexes of indexes are legal but never deep; the bound stops hostile
 * nesting from exhausting the stack during gc. */
#define GC_MAX_DEPTH 32

struct hoist_layout {
	char *path;
	int dirfd;
	int hold_fd; /* gc.lock held shared by hoist_layout_hold, else -1 */
};

#define _cleanup_json_ _cleanup_(json_decrefp)

static void unlockp(int *fd)
{
	/* Closing the fd drops the flock. */
	hoist_closep(fd);
}
#define _cleanup_unlock_ _cleanup_(unlockp)

HOIST_DEFINE_CLEANUP(hoist_hasher, hoist_hasher_free)
HOIST_DEFINE_CLEANUP(hoist_reader, hoist_reader_free)
HOIST_DEFINE_CLEANUP(hoist_manifest, hoist_manifest_free)

const char *hoist_layout_path(const hoist_layout *l)
{
	return l->path;
}

void hoist_layout_free(hoist_layout *l)
{
	if (!l)
		return;
	if (l->dirfd >= 0)
		close(l->dirfd);
	if (l->hold_fd >= 0)
		close(l->hold_fd);
	free(l->path);
	free(l);
}
HOIST_DEFINE_CLEANUP(hoist_layout, hoist_layout_free)

/* Hands a locally caught error e to the caller's err (unless the caller
 * already has one: the first error wins), wrapped with a prefix. */
static int pass_error(hoist_error **err, hoist_error *e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int pass_error(hoist_error **err, hoist_error *e, const char *fmt, ...)
{
	int code = e ? e->code : HOIST_E_IO;
	if (err && !*err)
		*err = e;
	else
		hoist_error_free(e);
	if (!err)
		return -code;
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *prefix = NULL;
	int n = vasprintf(&prefix, fmt, ap);
	va_end(ap);
	return hoist_error_wrap(err, code, "%s", n >= 0 ? prefix : "?");
}

/* Locks dirfd/name.  A shared lock in a layout we may not write (a
 * read-only copy, someone else's directory) falls back to opening the lock
 * file read-only, or to no lock when it does not exist: readers only need
 * it to wait for writers, and there can be none of ours there. */
static int layout_lock(hoist_layout *l, const char *name, bool exclusive,
	int *fd_out, hoist_error **err)
{
	hoist_error *e = NULL;
	int r = hoist_fs_lock(l->dirfd, name, exclusive, fd_out, &e);
	if (r == 0)
		return 0;
	if (!exclusive) {
		int fd = openat(l->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 && errno == ENOENT && faccessat(l->dirfd, ".", W_OK,
							 AT_EACCESS) < 0) {
			hoist_error_free(e);
			*fd_out = -1;
			return 0;
		}
		if (fd >= 0) {
			while (flock(fd, LOCK_SH) < 0) {
				if (errno == EINTR)
					continue;
				close(fd);
				fd = -1;
				break;
			}
			if (fd >= 0) {
				hoist_error_free(e);
				*fd_out = fd;
				return 0;
			}
		}
	}
	return pass_error(err, e, "layout '%s'", l->path);
}

/* ---- opening and creating ---- */

static int check_oci_layout_file(hoist_layout *l, hoist_error **err)
{
	hoist_buf b = HOIST_BUF_INIT(OCI_LAYOUT_MAX);
	hoist_error *e = NULL;
	int r = hoist_fs_read_file(l->dirfd, LAYOUT_FILE, &b, &e);
	if (r < 0) {
		hoist_buf_release(&b);
		if (r == -HOIST_E_NOTFOUND) {
			hoist_error_free(e);
			return hoist_error_set(err, HOIST_E_INVALID,
				"'%s' is not an OCI image layout: it has no '%s' file",
				l->path, LAYOUT_FILE);
		}
		return pass_error(err, e, "layout '%s'", l->path);
	}
	json_error_t je;
	_cleanup_json_ json_t *j = json_loadb(b.data ? b.data : "", b.len, 0, &je);
	hoist_buf_release(&b);
	if (!j)
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid JSON in '%s/%s' at line %d column %d: %s", l->path,
			LAYOUT_FILE, je.line, je.column, je.text);
	const char *v = json_string_value(json_object_get(j, "imageLayoutVersion"));
	if (!json_is_object(j) || !v)
		return hoist_error_set(err, HOIST_E_INVALID,
			"'%s/%s' has no imageLayoutVersion string", l->path,
			LAYOUT_FILE);
	/* Minor and patch versions of 1 stay compatible (semver, and the
	 * spec promises the version pins the layout until it changes). */
	if (strncmp(v, "1.", 2) != 0)
		return hoist_error_set(err, HOIST_E_UNSUPPORTED,
			"'%s/%s': unsupported imageLayoutVersion '%s'", l->path,
			LAYOUT_FILE, v);
	return 0;
}

static int mkdir_at(int dirfd, const char *name, hoist_error **err)
{
	if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST)
		return hoist_error_errno(err, errno, "mkdir '%s'", name);
	return 0;
}

/* index.json is written before oci-layout: a crash in between leaves a
 * directory without the marker, which create completes next time, never a
 * marked layout without an index. */
static int create_files(hoist_layout *l, hoist_error **err)
{
	int r = mkdir_at(l->dirfd, "blobs", err);
	if (r == 0) {
		_cleanup_close_ int bfd = openat(l->dirfd, "blobs",
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (bfd < 0)
			r = hoist_error_errno(err, errno, "open 'blobs'");
		else
			r = mkdir_at(bfd, "sha256", err);
	}
	if (r < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "create layout '%s'", l->path);

	_cleanup_unlock_ int lock = -1;
	r = layout_lock(l, INDEX_LOCK, true, &lock, err);
	if (r < 0)
		return r;
	if (!hoist_fs_exists(l->dirfd, INDEX_FILE)) {
		static const char empty[] =
			"{\"schemaVersion\":2,\"mediaType\":\"" HOIST_MT_OCI_INDEX
			"\",\"manifests\":[]}";
		r = hoist_fs_write_atomic(l->dirfd, INDEX_FILE, empty,
			sizeof(empty) - 1, 0644, err);
		if (r < 0)
			return hoist_error_wrap(err, HOIST_E_IO,
				"create layout '%s'", l->path);
	}
	if (!hoist_fs_exists(l->dirfd, LAYOUT_FILE)) {
		static const char marker[] =
			"{\"imageLayoutVersion\":\"" LAYOUT_VERSION "\"}";
		r = hoist_fs_write_atomic(l->dirfd, LAYOUT_FILE, marker,
			sizeof(marker) - 1, 0644, err);
		if (r < 0)
			return hoist_error_wrap(err, HOIST_E_IO,
				"create layout '%s'", l->path);
	}
	return 0;
}

int hoist_layout_open(hoist_layout **out, const char *dir, bool create,
	hoist_error **err)
{
	if (!dir || !*dir)
		return hoist_error_set(err, HOIST_E_INVALID, "empty layout path");
	_cleanup_(hoist_layout_freep) hoist_layout *l = calloc(1, sizeof(*l));
	if (!l)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	l->dirfd = -1;
	l->hold_fd = -1;
	if (!(l->path = strdup(dir)))
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");

	if (create) {
		int r = hoist_fs_mkdir_p(AT_FDCWD, dir, 0755, err);
		if (r < 0)
			return hoist_error_wrap(err, HOIST_E_IO,
				"create layout '%s'", dir);
	}
	l->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->dirfd < 0) {
		if (errno == ENOENT)
			return hoist_error_set(err, HOIST_E_NOTFOUND,
				"layout directory '%s' does not exist", dir);
		if (errno == ENOTDIR)
			return hoist_error_set(err, HOIST_E_INVALID,
				"'%s' is not an OCI image layout: not a directory",
				dir);
		return hoist_error_errno(err, errno, "open layout '%s'", dir);
	}
	if (create) {
		int r = create_files(l, err);
		if (r < 0)
			return r;
	}

	int r = check_oci_layout_file(l, err);
	if (r < 0)
		return r;
	struct stat st;
	if (fstatat(l->dirfd, INDEX_FILE, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return hoist_error_set(err, HOIST_E_INVALID,
				"'%s' is not an OCI image layout: it has no '%s' file",
				dir, INDEX_FILE);
		return hoist_error_errno(err, errno, "stat '%s/%s'", dir, INDEX_FILE);
	}
	if (!S_ISREG(st.st_mode))
		return hoist_error_set(err, HOIST_E_INVALID,
			"'%s/%s' is not a regular file", dir, INDEX_FILE);
	if (fstatat(l->dirfd, "blobs", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		!S_ISDIR(st.st_mode))
		return hoist_error_set(err, HOIST_E_INVALID,
			"'%s' is not an OCI image layout: 'blobs' is not a directory",
			dir);
	*out = steal_ptr(&l);
	return 0;
}

int hoist_layout_hold(hoist_layout *l, hoist_error **err)
{
	if (l->hold_fd >= 0)
		return 0;
	int fd = -1;
	int r = layout_lock(l, GC_LOCK, false, &fd, err);
	if (r < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "hold layout '%s'", l->path);
	l->hold_fd = fd;
	return 0;
}

/* ---- blobs ---- */

/* Opens blobs/ALG below the layout, refusing symlinks at each step. */
static int open_alg_dir(hoist_layout *l, hoist_digest_algo algo, bool create,
	int *out, hoist_error **err)
{
	const char *alg = hoist_digest_algo_name(algo);
	const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	bool made = false;
	_cleanup_close_ int bfd = openat(l->dirfd, "blobs", flags);
	if (bfd < 0 && errno == ENOENT && create) {
		if (mkdirat(l->dirfd, "blobs", 0755) < 0 && errno != EEXIST)
			return hoist_error_errno(err, errno, "mkdir '%s/blobs'", l->path);
		bfd = openat(l->dirfd, "blobs", flags);
		made = true;
	}
	if (bfd < 0)
		return hoist_error_errno(err, errno, "open '%s/blobs'", l->path);
	int afd = openat(bfd, alg, flags);
	if (afd < 0 && errno == ENOENT && create) {
		if (mkdirat(bfd, alg, 0755) < 0 && errno != EEXIST)
			return hoist_error_errno(err, errno, "mkdir '%s/blobs/%s'",
				l->path, alg);
		afd = openat(bfd, alg, flags);
		if (afd >= 0) {
			/* Make the new directory entries durable before blobs
			 * are renamed into them. */
			int r = hoist_fs_fsync_dir(bfd, err);
			if (r == 0 && made)
				r = hoist_fs_fsync_dir(l->dirfd, err);
			if (r < 0) {
				close(afd);
				return r;
			}
		}
	}
	if (afd < 0)
		return hoist_error_errno(err, errno, "open '%s/blobs/%s'", l->path, alg);
	*out = afd;
	return 0;
}

static int blob_not_found(hoist_layout *l, const hoist_digest *d,
	hoist_error **err)
{
	return hoist_error_set(err, HOIST_E_NOTFOUND,
		"blob '%s' not found in layout '%s'", d->str, l->path);
}

/* Opens the blob file read-only; *st gets its stat. */
static int open_blob_fd(hoist_layout *l, const hoist_digest *d, int *out,
	struct stat *st, hoist_error **err)
{
	_cleanup_close_ int afd = -1;
	hoist_error *e = NULL;
	int r = open_alg_dir(l, d->algo, false, &afd, &e);
	if (r < 0) {
		if (r == -HOIST_E_NOTFOUND) {
			hoist_error_free(e);
			return blob_not_found(l, d, err);
		}
		return pass_error(err, e, "open blob '%s'", d->str);
	}
	_cleanup_close_ int fd = openat(afd, hoist_digest_hex(d),
		O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return blob_not_found(l, d, err);
		return hoist_error_errno(err, errno, "open blob '%s' in layout '%s'",
			d->str, l->path);
	}
	if (fstat(fd, st) < 0)
		return hoist_error_errno(err, errno, "stat blob '%s' in layout '%s'",
			d->str, l->path);
	if (!S_ISREG(st->st_mode))
		return hoist_error_set(err, HOIST_E_INVALID,
			"blob '%s' in layout '%s' is not a regular file", d->str,
			l->path);
	*out = steal_fd(&fd);
	return 0;
}

bool hoist_layout_has_blob(hoist_layout *l, const hoist_digest *d)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	return open_blob_fd(l, d, &fd, &st, NULL) == 0;
}

int hoist_layout_blob_size(hoist_layout *l, const hoist_digest *d, int64_t *out,
	hoist_error **err)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r = open_blob_fd(l, d, &fd, &st, err);
	if (r < 0)
		return r;
	*out = (int64_t)st.st_size;
	return 0;
}

/* Copies content into the temp file while hashing; the digest and size
 * are checked before the caller renames it into place. */
static int stream_to_tmp(const hoist_digest *d, int64_t size,
	hoist_reader *content, int fd, hoist_error **err)
{
	_cleanup_(hoist_hasher_freep) hoist_hasher *h = NULL;
	int r = hoist_hasher_new(&h, d->algo, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *buf = malloc(HOIST_IO_CHUNK);
	if (!buf)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	uint64_t total = 0;
	for (;;) {
		ssize_t k = hoist_reader_read(content, buf, HOIST_IO_CHUNK, err);
		if (k < 0)
			return (int)k;
		if (k == 0)
			break;
		total += (uint64_t)k;
		if (size >= 0 && total > (uint64_t)size)
			return hoist_error_set(err, HOIST_E_DIGEST,
				"more data than the expected size %" PRId64, size);
		hoist_hasher_update(h, buf, (size_t)k);
		r = hoist_write_all(fd, buf, (size_t)k, err);
		if (r < 0)
			return r;
	}
	if (size >= 0 && total != (uint64_t)size)
		return hoist_error_set(err, HOIST_E_DIGEST,
			"size %" PRIu64 " does not match the expected %" PRId64,
			total, size);
	hoist_digest got;
	hoist_hasher_final(h, &got);
	if (!hoist_digest_equal(&got, d))
		return hoist_error_set(err, HOIST_E_DIGEST,
			"content has digest %s, expected %s", got.str, d->str);
	return 0;
}

int hoist_layout_put_blob(hoist_layout *l, const hoist_digest *d, int64_t size,
	hoist_reader *content, hoist_error **err)
{
	/* Content addressing makes an existing blob final: the caller has
	 * nothing to transfer. */
	if (hoist_layout_has_blob(l, d))
		return 0;
	_cleanup_close_ int afd = -1;
	int r = open_alg_dir(l, d->algo, true, &afd, err);
	if (r < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "store blob '%s' in layout '%s'",
			d->str, l->path);
	hoist_fs_tmp t;
	r = hoist_fs_tmp_open(&t, afd, 0644, err);
	if (r == 0)
		r = stream_to_tmp(d, size, content, t.fd, err);
	/* Two writers of the same blob both rename identical, verified
	 * content; the second rename harmlessly replaces the first. */
	if (r == 0)
		r = hoist_fs_tmp_commit(&t, hoist_digest_hex(d), err);
	hoist_fs_tmp_abort(&t);
	if (r < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "store blob '%s' in layout '%s'",
			d->str, l->path);
	return 0;
}

int hoist_layout_put_blob_mem(hoist_layout *l, const void *p, size_t n,
	hoist_digest *out, hoist_error **err)
{
	hoist_digest d;
	int r = hoist_digest_of(&d, HOIST_DIGEST_SHA256, p, n, err);
	if (r < 0)
		return r;
	_cleanup_(hoist_reader_freep) hoist_reader *rd = NULL;
	r = hoist_reader_new_mem(&rd, p, n, err);
	if (r < 0)
		return r;
	r = hoist_layout_put_blob(l, &d, (int64_t)n, rd, err);
	if (r < 0)
		return r;
	if (out)
		*out = d;
	return 0;
}

struct hoist_layout_blob_writer {
	hoist_writer base;
	hoist_layout *layout;
	int afd;
	hoist_fs_tmp tmp;
	hoist_hasher *h;
	uint64_t size;
};

static int blob_writer_write(hoist_writer *base, const void *buf, size_t n,
	hoist_error **err)
{
	hoist_layout_blob_writer *w = (hoist_layout_blob_writer *)base;
	hoist_hasher_update(w->h, buf, n);
	w->size += n;
	return hoist_write_all(w->tmp.fd, buf, n, err);
}

void hoist_layout_blob_writer_free(hoist_layout_blob_writer *w)
{
	if (!w)
		return;
	hoist_fs_tmp_abort(&w->tmp);
	if (w->afd >= 0)
		close(w->afd);
	hoist_hasher_free(w->h);
	free(w);
}

static void blob_writer_free_op(hoist_writer *base)
{
	hoist_layout_blob_writer_free((hoist_layout_blob_writer *)base);
}

static const hoist_writer_ops blob_writer_ops = { blob_writer_write,
	blob_writer_free_op };

int hoist_layout_blob_writer_new(hoist_layout *l, hoist_layout_blob_writer **out,
	hoist_error **err)
{
	hoist_layout_blob_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	w->base.ops = &blob_writer_ops;
	w->layout = l;
	w->afd = -1;
	w->tmp = (hoist_fs_tmp)HOIST_FS_TMP_INIT;
	int r = hoist_hasher_new(&w->h, HOIST_DIGEST_SHA256, err);
	if (r == 0)
		r = open_alg_dir(l, HOIST_DIGEST_SHA256, true, &w->afd, err);
	if (r == 0)
		r = hoist_fs_tmp_open(&w->tmp, w->afd, 0644, err);
	if (r < 0) {
		hoist_layout_blob_writer_free(w);
		return hoist_error_wrap(err, HOIST_E_IO, "new blob in layout '%s'",
			l->path);
	}
	*out = w;
	return 0;
}

hoist_writer *hoist_layout_blob_writer_sink(hoist_layout_blob_writer *w)
{
	return &w->base;
}

int hoist_layout_blob_commit(hoist_layout_blob_writer *w, hoist_digest *digest,
	int64_t *size, hoist_error **err)
{
	hoist_digest d;
	hoist_hasher_final(w->h, &d);
	int r;
	if (hoist_layout_has_blob(w->layout, &d)) {
		/* Same content is already there: drop ours. */
		hoist_fs_tmp_abort(&w->tmp);
		r = 0;
	} else {
		r = hoist_fs_tmp_commit(&w->tmp, hoist_digest_hex(&d), err);
	}
	if (r < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "store blob '%s' in layout '%s'",
			d.str, w->layout->path);
	if (digest)
		*digest = d;
	if (size)
		*size = (int64_t)w->size;
	return 0;
}

int hoist_layout_open_blob(hoist_layout *l, const hoist_digest *d, int64_t size,
	hoist_reader **out, hoist_error **err)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r = open_blob_fd(l, d, &fd, &st, err);
	if (r < 0)
		return r;
	/* A size that disagrees with the descriptor is known now; no need
	 * to stream the whole blob to find out. */
	if (size >= 0 && (int64_t)st.st_size != size)
		return hoist_error_set(err, HOIST_E_DIGEST,
			"blob '%s' in layout '%s': size %lld does not match the expected %" PRId64,
			d->str, l->path, (long long)st.st_size, size);
	hoist_reader *raw = NULL;
	r = hoist_reader_new_fd(&raw, steal_fd(&fd), true, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *what = NULL;
	if (asprintf(&what, "blob '%s' in layout '%s'", d->str, l->path) < 0) {
		hoist_reader_free(raw);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	return hoist_reader_new_verify(out, raw, d, (int64_t)st.st_size, what, err);
}

int hoist_layout_read_blob(hoist_layout *l, const hoist_digest *d, size_t max,
	hoist_buf *out, hoist_error **err)
{
	int64_t size;
	int r = hoist_layout_blob_size(l, d, &size, err);
	if (r < 0)
		return r;
	if ((uint64_t)size > max)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"blob '%s' in layout '%s' is %" PRId64
			" bytes, more than the limit of %zu",
			d->str, l->path, size, max);
	_cleanup_(hoist_reader_freep) hoist_reader *rd = NULL;
	r = hoist_layout_open_blob(l, d, size, &rd, err);
	if (r < 0)
		return r;
	hoist_buf_reset(out);
	r = hoist_reader_read_all(rd, out, err);
	if (r < 0) {
		hoist_buf_reset(out);
		return r;
	}
	return 0;
}

/* ---- index.json ---- */

static const char *entry_ref_name(json_t *entry)
{
	return json_string_value(json_object_get(
		json_object_get(entry, "annotations"), REF_NAME_ANNOTATION));
}

/* Reads and checks index.json; the caller holds the index lock. */
static int read_index(hoist_layout *l, json_t **out, hoist_error **err)
{
	struct stat st;
	if (fstatat(l->dirfd, INDEX_FILE, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return hoist_error_errno(err, errno, "stat '%s/%s'", l->path,
			INDEX_FILE);
	if (!S_ISREG(st.st_mode))
		return hoist_error_set(err, HOIST_E_INVALID,
			"'%s/%s' is not a regular file", l->path, INDEX_FILE);
	if ((uint64_t)st.st_size > INDEX_MAX)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"'%s/%s' is %lld bytes, more than the limit of %u",
			l->path, INDEX_FILE, (long long)st.st_size, INDEX_MAX);
	hoist_buf b = HOIST_BUF_INIT(INDEX_MAX);
	int r = hoist_fs_read_file(l->dirfd, INDEX_FILE, &b, err);
	if (r < 0) {
		hoist_buf_release(&b);
		return hoist_error_wrap(err, HOIST_E_IO, "layout '%s'", l->path);
	}
	json_error_t je;
	json_t *j = json_loadb(b.data ? b.data : "", b.len, 0, &je);
	hoist_buf_release(&b);
	if (!j)
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid JSON in '%s/%s' at line %d column %d: %s", l->path,
			INDEX_FILE, je.line, je.column, je.text);
	_cleanup_json_ json_t *root = j;
	if (!json_is_object(root))
		return hoist_error_set(err, HOIST_E_INVALID,
			"'%s/%s' is not a JSON object", l->path, INDEX_FILE);
	json_t *sv = json_object_get(root, "schemaVersion");
	if (!json_is_integer(sv) || json_integer_value(sv) != 2)
		return hoist_error_set(err, HOIST_E_INVALID,
			"'%s/%s': schemaVersion must be 2", l->path, INDEX_FILE);
	json_t *mt = json_object_get(root, "mediaType");
	if (mt && !json_is_string(mt))
		return hoist_error_set(err, HOIST_E_INVALID,
			"'%s/%s': mediaType must be a string", l->path, INDEX_FILE);
	json_t *m = json_object_get(root, "manifests");
	if (!json_is_array(m))
		return hoist_error_set(err, HOIST_E_INVALID,
			"'%s/%s': manifests must be an array", l->path, INDEX_FILE);
	if (json_array_size(m) > INDEX_MAX_ENTRIES)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"'%s/%s' has %zu entries, more than the limit of %d", l->path,
			INDEX_FILE, json_array_size(m), INDEX_MAX_ENTRIES);
	size_t i;
	json_t *e;
	json_array_foreach(m, i, e) {
		if (!json_is_object(e))
			return hoist_error_set(err, HOIST_E_INVALID,
				"'%s/%s': manifests[%zu] is not an object", l->path,
				INDEX_FILE, i);
	}
	*out = steal_ptr(&root);
	return 0;
}

static int write_index(hoist_layout *l, json_t *root, hoist_error **err)
{
	if (!json_object_get(root, "mediaType") &&
		json_object_set_new(root, "mediaType",
			json_string(HOIST_MT_OCI_INDEX)) < 0)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	/* Compact and in the order read, like skopeo: unknown fields of the
	 * index and of its entries go back out untouched. */
	_cleanup_free_ char *s = json_dumps(root, JSON_COMPACT);
	if (!s)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	size_t n = strlen(s);
	if (n > INDEX_MAX)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"'%s/%s' would be more than %u bytes", l->path, INDEX_FILE,
			INDEX_MAX);
	int r = hoist_fs_write_atomic(l->dirfd, INDEX_FILE, s, n, 0644, err);
	if (r < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "layout '%s'", l->path);
	return 0;
}

static int read_index_locked(hoist_layout *l, json_t **out, hoist_error **err)
{
	_cleanup_unlock_ int lock = -1;
	int r = layout_lock(l, INDEX_LOCK, false, &lock, err);
	if (r < 0)
		return r;
	return read_index(l, out, err);
}

static int parse_entry(hoist_layout *l, json_t *entry, size_t i,
	hoist_descriptor *out, hoist_error **err)
{
	char where[48];
	snprintf(where, sizeof(where), "manifests[%zu]", i);
	int r = hoist_descriptor_parse(out, entry, where, err);
	if (r < 0)
		return hoist_error_wrap(err, HOIST_E_INVALID, "'%s/%s'", l->path,
			INDEX_FILE);
	return 0;
}

void hoist_layout_entries_free(hoist_layout_entry *e, size_t n)
{
	if (!e)
		return;
	for (size_t i = 0; i < n; i++)
		hoist_descriptor_release(&e[i].desc);
	free(e);
}

int hoist_layout_list(hoist_layout *l, hoist_layout_entry **out, size_t *n,
	hoist_error **err)
{
	_cleanup_json_ json_t *root = NULL;
	int r = read_index_locked(l, &root, err);
	if (r < 0)
		return r;
	json_t *m = json_object_get(root, "manifests");
	size_t count = json_array_size(m);
	hoist_layout_entry *e = calloc(count ? count : 1, sizeof(*e));
	if (!e)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	for (size_t i = 0; i < count; i++) {
		r = parse_entry(l, json_array_get(m, i), i, &e[i].desc, err);
		if (r < 0) {
			hoist_layout_entries_free(e, i);
			return r;
		}
		e[i].name = hoist_descriptor_ref_name(&e[i].desc);
	}
	*out = e;
	*n = count;
	return 0;
}

int hoist_layout_resolve(hoist_layout *l, const char *name,
	const hoist_digest *digest, hoist_descriptor *out, hoist_error **err)
{
	if (!name && !digest)
		return hoist_error_set(err, HOIST_E_INVALID,
			"resolve in layout '%s': no name or digest given", l->path);
	_cleanup_json_ json_t *root = NULL;
	int r = read_index_locked(l, &root, err);
	if (r < 0)
		return r;
	json_t *m = json_object_get(root, "manifests");
	size_t i;
	json_t *e;
	json_array_foreach(m, i, e) {
		if (name) {
			const char *n = entry_ref_name(e);
			if (!n || strcmp(n, name) != 0)
				continue;
		}
		if (digest) {
			const char *ds = json_string_value(json_object_get(e, "digest"));
			if (!ds || strcmp(ds, digest->str) != 0)
				continue;
		}
		return parse_entry(l, e, i, out, err);
	}
	if (name && digest)
		return hoist_error_set(err, HOIST_E_NOTFOUND,
			"no image named '%s' with digest '%s' in layout '%s'", name,
			digest->str, l->path);
	if (name)
		return hoist_error_set(err, HOIST_E_NOTFOUND,
			"no image named '%s' in layout '%s'", name, l->path);
	return hoist_error_set(err, HOIST_E_NOTFOUND,
		"no image with digest '%s' in layout '%s'", digest->str, l->path);
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9');
}

/* The image-spec grammar for ref.name:
 *   ref       ::= component ("/" component)*
 *   component ::= alphanum (separator alphanum)*
 *   separator ::= [-._:@+] | "--"
 * relaxed to any run of separators, so every Docker name ("a__b",
 * "a---b") the local store derives from a reference is accepted. */
static bool ref_name_valid(const char *s, const char **why)
{
	size_t n = strlen(s);
	if (n == 0) {
		*why = "empty name";
		return false;
	}
	if (n > REF_NAME_MAX) {
		*why = "name longer than 1024 characters";
		return false;
	}
	bool at_start = true; /* of a component */
	bool after_sep = false;
	for (const char *p = s; *p; p++) {
		if (is_alnum(*p)) {
			at_start = after_sep = false;
		} else if (strchr("-._:@+", *p)) {
			if (at_start) {
				*why = "a name component must start with a letter or digit";
				return false;
			}
			after_sep = true;
		} else if (*p == '/') {
			if (at_start || after_sep) {
				*why = "empty or badly terminated name component";
				return false;
			}
			at_start = true;
		} else {
			*why = "only letters, digits and -._:@+/ are allowed";
			return false;
		}
	}
	if (at_start || after_sep) {
		*why = "a name must end with a letter or digit";
		return false;
	}
	return true;
}

/* The index.json entry for desc, with the ref.name annotation set to name
 * (or removed when name is NULL).  The annotations object is copied so the
 * caller's descriptor is never modified. */
static int make_entry(const hoist_descriptor *desc, const char *name,
	json_t **out, hoist_error **err)
{
	_cleanup_json_ json_t *e = hoist_descriptor_to_json(desc);
	if (!e)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	json_t *old = json_object_get(e, "annotations");
	json_t *ann = json_is_object(old) ? json_copy(old) : json_object();
	if (!ann)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	if (name) {
		if (json_object_set_new(ann, REF_NAME_ANNOTATION, json_string(name)) < 0) {
			json_decref(ann);
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		}
	} else {
		json_object_del(ann, REF_NAME_ANNOTATION);
	}
	if (json_object_size(ann) == 0) {
		json_decref(ann);
		json_object_del(e, "annotations");
	} else if (json_object_set_new(e, "annotations", ann) < 0) {
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	*out = steal_ptr(&e);
	return 0;
}

int hoist_layout_set_ref(hoist_layout *l, const char *name,
	const hoist_descriptor *desc, hoist_error **err)
{
	const char *why = NULL;
	if (name && !ref_name_valid(name, &why))
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid image name '%s' for layout '%s': %s", name, l->path, why);
	_cleanup_json_ json_t *entry = NULL;
	int r = make_entry(desc, name, &entry, err);
	if (r < 0)
		return r;

	_cleanup_unlock_ int lock = -1;
	r = layout_lock(l, INDEX_LOCK, true, &lock, err);
	if (r < 0)
		return r;
	_cleanup_json_ json_t *root = NULL;
	r = read_index(l, &root, err);
	if (r < 0)
		return r;
	json_t *m = json_object_get(root, "manifests");

	if (!name) {
		size_t i;
		json_t *e;
		json_array_foreach(m, i, e) {
			const char *ds = json_string_value(json_object_get(e, "digest"));
			if (ds && !strcmp(ds, desc->digest.str))
				return 0;
		}
	}
	/* Replace in place so the order of index.json stays stable; drop any
	 * further entries of the same name a foreign tool may have left. */
	size_t at = SIZE_MAX;
	for (size_t i = 0; name && i < json_array_size(m);) {
		const char *n = entry_ref_name(json_array_get(m, i));
		if (n && !strcmp(n, name)) {
			if (at == SIZE_MAX) {
				at = i;
				i++;
			} else {
				json_array_remove(m, i);
			}
			continue;
		}
		i++;
	}
	if (at != SIZE_MAX) {
		r = json_array_set(m, at, entry);
	} else {
		if (json_array_size(m) >= INDEX_MAX_ENTRIES)
			return hoist_error_set(err, HOIST_E_LIMIT,
				"layout '%s' already has %d entries, the limit",
				l->path, INDEX_MAX_ENTRIES);
		r = json_array_append(m, entry);
	}
	if (r < 0)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	return write_index(l, root, err);
}

int hoist_layout_remove_ref(hoist_layout *l, const char *name, hoist_error **err)
{
	_cleanup_unlock_ int lock = -1;
	int r = layout_lock(l, INDEX_LOCK, true, &lock, err);
	if (r < 0)
		return r;
	_cleanup_json_ json_t *root = NULL;
	r = read_index(l, &root, err);
	if (r < 0)
		return r;
	json_t *m = json_object_get(root, "manifests");
	size_t removed = 0;
	for (size_t i = 0; i < json_array_size(m);) {
		const char *n = entry_ref_name(json_array_get(m, i));
		if (n && !strcmp(n, name)) {
			json_array_remove(m, i);
			removed++;
		} else {
			i++;
		}
	}
	if (!removed)
		return hoist_error_set(err, HOIST_E_NOTFOUND,
			"no image named '%s' in layout '%s'", name, l->path);
	return write_index(l, root, err);
}

/* ---- gc ---- */

/* An open-addressing set of digest strings: the blobs gc keeps. */
typedef struct digest_set {
	char **slots;
	size_t cap; /* power of two */
	size_t n;
} digest_set;

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

static void digest_set_release(digest_set *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->slots[i]);
	free(s->slots);
	s->slots = NULL;
	s->cap = s->n = 0;
}

static bool digest_set_has(const digest_set *s, const char *k)
{
	if (!s->cap)
		return false;
	for (size_t i = str_hash(k) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
		if (!s->slots[i])
			return false;
		if (!strcmp(s->slots[i], k))
			return true;
	}
}

static void digest_set_insert_owned(digest_set *s, char *k)
{
	size_t i = str_hash(k) & (s->cap - 1);
	while (s->slots[i])
		i = (i + 1) & (s->cap - 1);
	s->slots[i] = k;
	s->n++;
}

/* *added tells whether k was new. */
static int digest_set_add(digest_set *s, const char *k, bool *added,
	hoist_error **err)
{
	*added = false;
	if (digest_set_has(s, k))
		return 0;
	if ((s->n + 1) * 2 > s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		char **old = s->slots;
		size_t ocap = s->cap;
		s->slots = calloc(ncap, sizeof(*s->slots));
		if (!s->slots) {
			s->slots = old;
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		}
		s->cap = ncap;
		s->n = 0;
		for (size_t i = 0; i < ocap; i++)
			if (old[i])
				digest_set_insert_owned(s, old[i]);
		free(old);
	}
	char *c = strdup(k);
	if (!c)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	digest_set_insert_owned(s, c);
	*added = true;
	return 0;
}

typedef struct gc_state {
	hoist_layout *l;
	digest_set marked;
} gc_state;

static int mark_desc(gc_state *g, const hoist_descriptor *d, const char *from,
	int depth, hoist_error **err);

static bool walkable(const char *media_type)
{
	hoist_media_kind k = hoist_media_kind_of(media_type);
	return k == HOIST_MEDIA_MANIFEST || k == HOIST_MEDIA_INDEX;
}

/* Reads manifest d and marks everything it references. */
static int walk_manifest(gc_state *g, const hoist_descriptor *d,
	const char *from, int depth, hoist_error **err)
{
	if (depth > GC_MAX_DEPTH)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"manifest '%s' is nested more than %d indexes deep",
			d->digest.str, GC_MAX_DEPTH);
	hoist_buf raw = HOIST_BUF_INIT(HOIST_MANIFEST_MAX);
	int r = hoist_layout_read_blob(g->l, &d->digest, HOIST_MANIFEST_MAX, &raw, err);
	if (r < 0) {
		hoist_buf_release(&raw);
		return hoist_error_wrap(err, HOIST_E_IO, "manifest '%s' referenced by %s",
			d->digest.str, from);
	}
	_cleanup_(hoist_manifest_freep) hoist_manifest *m = NULL;
	r = hoist_manifest_parse(&m, raw.data ? raw.data : "", raw.len,
		d->media_type, err);
	hoist_buf_release(&raw);
	if (r < 0)
		return hoist_error_wrap(err, HOIST_E_INVALID,
			"manifest '%s' referenced by %s", d->digest.str, from);

	_cleanup_free_ char *self = NULL;
	if (asprintf(&self, "%s '%s'",
		    m->kind == HOIST_MEDIA_INDEX ? "index" : "manifest",
		    d->digest.str) < 0)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	bool added;
	if (m->kind == HOIST_MEDIA_MANIFEST) {
		r = mark_desc(g, &m->config, self, depth + 1, err);
		for (size_t i = 0; r == 0 && i < m->n_layers; i++)
			r = mark_desc(g, &m->layers[i], self, depth + 1, err);
	}
	for (size_t i = 0; r == 0 && i < m->n_manifests; i++)
		r = mark_desc(g, &m->manifests[i], self, depth + 1, err);
	if (r < 0)
		return r;
	if (m->subject) {
		/* A referrer may point at a subject stored elsewhere: keep the
		 * subject if it is here, but its absence is no error. */
		if (hoist_layout_has_blob(g->l, &m->subject->digest))
			return mark_desc(g, m->subject, self, depth + 1, err);
		return digest_set_add(&g->marked, m->subject->digest.str, &added, err);
	}
	return 0;
}

static int mark_desc(gc_state *g, const hoist_descriptor *d, const char *from,
	int depth, hoist_error **err)
{
	bool added;
	int r = digest_set_add(&g->marked, d->digest.str, &added, err);
	if (r < 0 || !added || !walkable(d->media_type))
		return r;
	return walk_manifest(g, d, from, depth, err);
}

static int mark_all(gc_state *g, json_t *root, hoist_error **err)
{
	json_t *m = json_object_get(root, "manifests");
	for (size_t i = 0; i < json_array_size(m); i++) {
		hoist_descriptor d;
		int r = parse_entry(g->l, json_array_get(m, i), i, &d, err);
		if (r < 0)
			return r;
		const char *name = hoist_descriptor_ref_name(&d);
		_cleanup_free_ char *from = NULL;
		if ((name ? asprintf(&from, "index.json entry '%s'", name)
			  : asprintf(&from, "index.json manifests[%zu]", i)) < 0) {
			hoist_descriptor_release(&d);
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		}
		r = mark_desc(g, &d, from, 0, err);
		hoist_descriptor_release(&d);
		if (r < 0)
			return r;
	}
	return 0;
}

static bool is_stale_tmp(int dirfd, const char *name, time_t now, off_t *size)
{
	struct stat st;
	if (strncmp(name, ".tmp-", 5) != 0)
		return false;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return false;
	*size = st.st_size;
	return now - st.st_mtime > TMP_STALE_SECONDS;
}

typedef struct gc_counts {
	uint64_t files;
	uint64_t bytes;
} gc_counts;

static int remove_file(int dirfd, const char *name, off_t size, gc_counts *c,
	const char *where, hoist_error **err)
{
	if (unlinkat(dirfd, name, 0) < 0) {
		if (errno == ENOENT)
			return 0;
		return hoist_error_errno(err, errno, "remove '%s/%s'", where, name);
	}
	c->files++;
	c->bytes += (uint64_t)size;
	return 0;
}

/* Removes unmarked blobs and stale temp files of one blobs/ALG directory.
 * File names that are not a valid digest of ALG are not ours: left alone. */
static int sweep_alg(gc_state *g, int bfd, const char *alg, time_t now,
	gc_counts *c, hoist_error **err)
{
	int afd = openat(bfd, alg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (afd < 0) {
		if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
			return 0;
		return hoist_error_errno(err, errno, "open '%s/blobs/%s'", g->l->path, alg);
	}
	_cleanup_closedir_ DIR *dir = fdopendir(afd);
	if (!dir) {
		close(afd);
		return hoist_error_errno(err, errno, "open '%s/blobs/%s'", g->l->path, alg);
	}
	_cleanup_free_ char *where = NULL;
	if (asprintf(&where, "%s/blobs/%s", g->l->path, alg) < 0)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	uint64_t before = c->files;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(dir))) {
		const char *n = de->d_name;
		off_t size = 0;
		int r = 0;
		if (is_stale_tmp(afd, n, now, &size)) {
			r = remove_file(afd, n, size, c, where, err);
		} else {
			char dg[HOIST_DIGEST_STRMAX];
			if ((size_t)snprintf(dg, sizeof(dg), "%s:%s", alg, n) >= sizeof(dg) ||
				!hoist_digest_valid(dg) || digest_set_has(&g->marked, dg))
				continue;
			struct stat st;
			if (fstatat(afd, n, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
				S_ISDIR(st.st_mode))
				continue;
			r = remove_file(afd, n, st.st_size, c, where, err);
		}
		if (r < 0)
			return r;
		errno = 0;
	}
	if (errno)
		return hoist_error_errno(err, errno, "read directory '%s'", where);
	if (c->files != before)
		return hoist_fs_fsync_dir(afd, err);
	return 0;
}

static int sweep(gc_state *g, gc_counts *c, hoist_error **err)
{
	time_t now = time(NULL);
	/* index.json temps left by a crash between write and rename. */
	{
		int tfd = openat(g->l->dirfd, ".",
			O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (tfd < 0)
			return hoist_error_errno(err, errno, "open '%s'", g->l->path);
		_cleanup_closedir_ DIR *top = fdopendir(tfd);
		if (!top) {
			close(tfd);
			return hoist_error_errno(err, errno, "open '%s'", g->l->path);
		}
		struct dirent *de;
		while ((de = readdir(top))) {
			off_t size = 0;
			if (!is_stale_tmp(g->l->dirfd, de->d_name, now, &size))
				continue;
			int r = remove_file(g->l->dirfd, de->d_name, size, c,
				g->l->path, err);
			if (r < 0)
				return r;
		}
	}

	int bfd = openat(g->l->dirfd, "blobs",
		O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (bfd < 0) {
		if (errno == ENOENT)
			return 0;
		return hoist_error_errno(err, errno, "open '%s/blobs'", g->l->path);
	}
	_cleanup_closedir_ DIR *blobs = fdopendir(bfd);
	if (!blobs) {
		close(bfd);
		return hoist_error_errno(err, errno, "open '%s/blobs'", g->l->path);
	}
	static const hoist_digest_algo algos[] = { HOIST_DIGEST_SHA256,
		HOIST_DIGEST_SHA512 };
	struct dirent *de;
	while ((de = readdir(blobs))) {
		/* Directories of algorithms hoist does not know hold content
		 * it cannot check: never touched. */
		for (size_t i = 0; i < HOIST_ARRAY_SIZE(algos); i++) {
			const char *alg = hoist_digest_algo_name(algos[i]);
			if (strcmp(de->d_name, alg) != 0)
				continue;
			int r = sweep_alg(g, bfd, alg, now, c, err);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int hoist_layout_gc(hoist_layout *l, uint64_t *removed_blobs,
	uint64_t *removed_bytes, hoist_error **err)
{
	if (removed_blobs)
		*removed_blobs = 0;
	if (removed_bytes)
		*removed_bytes = 0;
	/* Waiting for our own shared hold would deadlock. */
	if (l->hold_fd >= 0)
		return hoist_error_set(err, HOIST_E_BUSY,
			"gc of layout '%s': this handle holds the layout for writing",
			l->path);
	_cleanup_unlock_ int gc_lock = -1;
	int r = layout_lock(l, GC_LOCK, true, &gc_lock, err);
	if (r < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "gc");
	/* The index stays locked shared through the sweep, so a name set by a
	 * writer that does not hold the layout cannot appear between mark
	 * and sweep for a blob the sweep is deleting. */
	_cleanup_unlock_ int idx_lock = -1;
	r = layout_lock(l, INDEX_LOCK, false, &idx_lock, err);
	if (r < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "gc");
	_cleanup_json_ json_t *root = NULL;
	r = read_index(l, &root, err);
	if (r < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "gc");

	gc_state g = { .l = l };
	gc_counts c = { 0, 0 };
	r = mark_all(&g, root, err);
	if (r < 0) {
		digest_set_release(&g.marked);
		return hoist_error_wrap(err, HOIST_E_IO,
			"gc of layout '%s' (nothing deleted)", l->path);
	}
	r = sweep(&g, &c, err);
	digest_set_release(&g.marked);
	if (removed_blobs)
		*removed_blobs = c.files;
	if (removed_bytes)
		*removed_bytes = c.bytes;
	if (r < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "gc of layout '%s'", l->path);
	return 0;
}

/* File-system helpers: crash-safe writes, locks, bounded reads. */
#ifndef HOIST_FS_H
#define HOIST_FS_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#include "hoist/buf.h"
#include "hoist/error.h"

/* mkdir -p relative to dirfd (AT_FDCWD for cwd). */
int hoist_fs_mkdir_p(int dirfd, const char *path, mode_t mode, hoist_error **err);

/* A file being written next to its final name.  Created with O_EXCL under a
 * random ".tmp-" name in the same directory; hoist_fs_tmp_commit fsyncs it,
 * renames it over `final` and fsyncs the directory, so a crash leaves either
 * the old file or the new one, never a torn one.  hoist_fs_tmp_abort (also
 * safe after commit, after a failed open, and on HOIST_FS_TMP_INIT)
 * unlinks what is left. */
typedef struct hoist_fs_tmp {
	int dirfd; /* borrowed */
	int fd;
	char name[64];
	bool committed;
} hoist_fs_tmp;

#define HOIST_FS_TMP_INIT { .dirfd = -1, .fd = -1 }

int hoist_fs_tmp_open(hoist_fs_tmp *t, int dirfd, mode_t mode, hoist_error **err);
int hoist_fs_tmp_commit(hoist_fs_tmp *t, const char *final, hoist_error **err);
void hoist_fs_tmp_abort(hoist_fs_tmp *t);

/* Writes data to dirfd/name atomically (tmp, fsync, rename, fsync dir). */
int hoist_fs_write_atomic(int dirfd, const char *name, const void *data,
	size_t len, mode_t mode, hoist_error **err);

/* Reads a whole file (at most b->max bytes) into b. */
int hoist_fs_read_file(int dirfd, const char *path, hoist_buf *b, hoist_error **err);

int hoist_fs_fsync_dir(int dirfd, hoist_error **err);

/* Takes an flock on dirfd/name (created 0644 if missing); *fd_out holds it
 * until closed.  exclusive=false takes a shared lock. Blocks. */
int hoist_fs_lock(int dirfd, const char *name, bool exclusive, int *fd_out,
	hoist_error **err);

/* rm -rf of dirfd/name without following symlinks. Missing is not an error. */
int hoist_fs_rm_rf(int dirfd, const char *name, hoist_error **err);

bool hoist_fs_exists(int dirfd, const char *path);

/* Sets the access and modification times of everything below dirfd/name
 * (not name itself; symlinks themselves, not followed) to sec.  Fails on
 * the first entry it may not change (HOIST_E_IO with its name). */
int hoist_fs_set_times_below(int dirfd, const char *name, int64_t sec,
	hoist_error **err);

/* The entries of a directory but "." and "..", sorted bytewise: their
 * names back to back in one buffer (no allocation per name), with
 * readdir's d_type (DT_UNKNOWN where the file system gives none). */
typedef struct hoist_fs_dirent {
	size_t off;         /* of the name in names */
	unsigned char type;
} hoist_fs_dirent;
typedef struct hoist_fs_dirlist {
	char *names;
	size_t len, cap;
	hoist_fs_dirent *v;
	size_t n, vcap;
} hoist_fs_dirlist;
/* Lists dirfd (not closed, read from its start); `where` names it in
 * messages ("read directory 'WHERE'"). */
int hoist_fs_dirlist_read(hoist_fs_dirlist *out, int dirfd, const char *where,
	hoist_error **err);
void hoist_fs_dirlist_release(hoist_fs_dirlist *l);
static inline const char *hoist_fs_dirlist_name(const hoist_fs_dirlist *l, size_t i)
{
	return l->names + l->v[i].off;
}

#endif

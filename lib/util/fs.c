#include "hoist/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hoist/io.h"
#include "util/cleanup.h"

int hoist_fs_mkdir_p(int dirfd, const char *path, mode_t mode, hoist_error **err)
{
	_cleanup_free_ char *p = strdup(path);
	if (!p)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	size_t n = strlen(p);
	for (size_t i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		char saved = p[i];
		p[i] = '\0';
		if (mkdirat(dirfd, p, mode) < 0 && errno != EEXIST)
			return hoist_error_errno(err, errno, "mkdir '%s'", p);
		p[i] = saved;
	}
	struct stat st;
	if (fstatat(dirfd, path, &st, 0) < 0)
		return hoist_error_errno(err, errno, "stat '%s'", path);
	if (!S_ISDIR(st.st_mode))
		return hoist_error_set(err, HOIST_E_EXISTS, "'%s' is not a directory", path);
	return 0;
}

int hoist_fs_tmp_open(hoist_fs_tmp *t, int dirfd, mode_t mode, hoist_error **err)
{
	t->dirfd = dirfd;
	t->fd = -1;
	t->committed = false;
	t->name[0] = '\0';
	for (int tries = 0; tries < 16; tries++) {
		unsigned char rnd[8];
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return hoist_error_errno(err, errno, "getrandom");
		snprintf(t->name, sizeof(t->name),
			".tmp-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
			rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
		t->fd = openat(dirfd, t->name,
			O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
		if (t->fd >= 0)
			return 0;
		if (errno != EEXIST)
			break;
	}
	int e = errno;
	t->name[0] = '\0';
	return hoist_error_errno(err, e, "create temporary file");
}

int hoist_fs_fsync_dir(int dirfd, hoist_error **err)
{
	if (dirfd == AT_FDCWD) {
		_cleanup_close_ int fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return hoist_error_errno(err, errno, "open the working directory");
		return hoist_fs_fsync_dir(fd, err);
	}
	if (fsync(dirfd) < 0 && errno != EINVAL && errno != EROFS)
		return hoist_error_errno(err, errno, "fsync directory");
	return 0;
}

int hoist_fs_tmp_commit(hoist_fs_tmp *t, const char *final, hoist_error **err)
{
	if (fsync(t->fd) < 0)
		return hoist_error_errno(err, errno, "fsync '%s'", final);
	if (close(t->fd) < 0) {
		t->fd = -1;
		return hoist_error_errno(err, errno, "close '%s'", final);
	}
	t->fd = -1;
	if (renameat(t->dirfd, t->name, t->dirfd, final) < 0)
		return hoist_error_errno(err, errno, "rename to '%s'", final);
	t->committed = true;
	t->name[0] = '\0';
	return hoist_fs_fsync_dir(t->dirfd, err);
}

void hoist_fs_tmp_abort(hoist_fs_tmp *t)
{
	if (t->fd >= 0) {
		close(t->fd);
		t->fd = -1;
	}
	if (!t->committed && t->name[0])
		unlinkat(t->dirfd, t->name, 0);
	t->name[0] = '\0';
}

int hoist_fs_write_atomic(int dirfd, const char *name, const void *data,
	size_t len, mode_t mode, hoist_error **err)
{
	/* "dir/file": the temp file must be next to the file, not in dirfd. */
	const char *slash = strrchr(name, '/');
	if (slash) {
		_cleanup_free_ char *dir = slash == name ? strdup("/")
			: strndup(name, (size_t)(slash - name));
		if (!dir)
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		_cleanup_close_ int dfd = openat(dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return hoist_error_errno(err, errno, "write '%s'", name);
		return hoist_fs_write_atomic(dfd, slash + 1, data, len, mode, err);
	}
	hoist_fs_tmp t;
	int r = hoist_fs_tmp_open(&t, dirfd, mode, err);
	if (r < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "write '%s'", name);
	r = hoist_write_all(t.fd, data, len, err);
	if (r == 0)
		r = hoist_fs_tmp_commit(&t, name, err);
	hoist_fs_tmp_abort(&t);
	if (r < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "write '%s'", name);
	return 0;
}

int hoist_fs_read_file(int dirfd, const char *path, hoist_buf *b, hoist_error **err)
{
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return hoist_error_errno(err, errno, "open '%s'", path);
	char tmp[16384];
	for (;;) {
		ssize_t k = read(fd, tmp, sizeof(tmp));
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return hoist_error_errno(err, errno, "read '%s'", path);
		}
		if (k == 0)
			return 0;
		int r = hoist_buf_append(b, tmp, (size_t)k, err);
		if (r < 0)
			return hoist_error_wrap(err, HOIST_E_LIMIT, "read '%s'", path);
	}
}

int hoist_fs_lock(int dirfd, const char *name, bool exclusive, int *fd_out,
	hoist_error **err)
{
	int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return hoist_error_errno(err, errno, "open lock '%s'", name);
	while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) < 0) {
		if (errno == EINTR)
			continue;
		int e = errno;
		close(fd);
		return hoist_error_errno(err, e, "lock '%s'", name);
	}
	*fd_out = fd;
	return 0;
}

static int rm_rf_at(int parent, const char *name, int depth, hoist_error **err)
{
	if (depth > 4096)
		return hoist_error_set(err, HOIST_E_LIMIT, "directory tree too deep");
	if (unlinkat(parent, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return hoist_error_errno(err, errno, "remove '%s'", name);
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return hoist_error_errno(err, errno, "open '%s'", name);
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return hoist_error_errno(err, errno, "opendir '%s'", name);
	}
	struct dirent *de;
	int r = 0;
	while (r == 0 && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		r = rm_rf_at(dirfd(d), de->d_name, depth + 1, err);
	}
	closedir(d);
	if (r < 0)
		return r;
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return hoist_error_errno(err, errno, "remove '%s'", name);
	return 0;
}

int hoist_fs_rm_rf(int dirfd, const char *name, hoist_error **err)
{
	return rm_rf_at(dirfd, name, 0, err);
}

bool hoist_fs_exists(int dirfd, const char *path)
{
	struct stat st;
	return fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static int set_times_in(int dfd, const char *where, const struct timespec ts[2],
	int depth, hoist_error **err)
{
	if (depth > 4096)
		return hoist_error_set(err, HOIST_E_LIMIT, "directory tree too deep");
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return hoist_error_errno(err, e, "read directory '%s'", where);
	}
	struct dirent *de;
	int r = 0;
	while (r == 0 && (errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (de->d_type == DT_DIR || de->d_type == DT_UNKNOWN) {
			int cfd = openat(dirfd(d), de->d_name,
				O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd >= 0) {
				r = set_times_in(cfd, de->d_name, ts, depth + 1, err);
				if (r == 0 && futimens(cfd, ts) < 0)
					r = hoist_error_errno(err, errno, "set the times of '%s'",
						de->d_name);
				close(cfd);
				continue;
			}
			if (errno != ENOTDIR && errno != ELOOP)
				r = hoist_error_errno(err, errno, "open '%s'", de->d_name);
			if (r < 0)
				break;
		}
		if (utimensat(dirfd(d), de->d_name, ts, AT_SYMLINK_NOFOLLOW) < 0)
			r = hoist_error_errno(err, errno, "set the times of '%s'", de->d_name);
	}
	if (r == 0 && errno)
		r = hoist_error_errno(err, errno, "read directory '%s'", where);
	closedir(d);
	return r;
}

int hoist_fs_set_times_below(int dirfd, const char *name, int64_t sec,
	hoist_error **err)
{
	struct timespec ts[2] = { { .tv_sec = (time_t)sec }, { .tv_sec = (time_t)sec } };
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return hoist_error_errno(err, errno, "open '%s'", name);
	int r = set_times_in(fd, name, ts, 0, err);
	close(fd);
	return r;
}

static int cmp_dirent(const void *a, const void *b, void *ud)
{
	const char *names = ud;
	return strcmp(names + ((const hoist_fs_dirent *)a)->off,
		names + ((const hoist_fs_dirent *)b)->off);
}

static int dirlist_add(hoist_fs_dirlist *l, const char *name, unsigned char type)
{
	size_t nl = strlen(name) + 1;
	if (l->len + nl > l->cap) {
		size_t nc = l->cap ? l->cap : 4096;
		while (nc < l->len + nl)
			nc *= 2;
		char *nn = realloc(l->names, nc);
		if (!nn)
			return -1;
		l->names = nn;
		l->cap = nc;
	}
	if (l->n == l->vcap) {
		size_t nc = l->vcap ? l->vcap * 2 : 64;
		hoist_fs_dirent *nv = realloc(l->v, nc * sizeof(*nv));
		if (!nv)
			return -1;
		l->v = nv;
		l->vcap = nc;
	}
	memcpy(l->names + l->len, name, nl);
	l->v[l->n++] = (hoist_fs_dirent){ l->len, type };
	l->len += nl;
	return 0;
}

void hoist_fs_dirlist_release(hoist_fs_dirlist *l)
{
	free(l->names);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int hoist_fs_dirlist_read(hoist_fs_dirlist *out, int dirfd, const char *where,
	hoist_error **err)
{
	memset(out, 0, sizeof(*out));
	int fd = dup(dirfd);
	if (fd < 0)
		return hoist_error_errno(err, errno, "read directory '%s'", where);
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return hoist_error_errno(err, e, "read directory '%s'", where);
	}
	rewinddir(d);
	int r = 0;
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			if (errno)
				r = hoist_error_errno(err, errno, "read directory '%s'", where);
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (dirlist_add(out, de->d_name, de->d_type) < 0) {
			r = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
			break;
		}
	}
	closedir(d);
	if (r < 0) {
		hoist_fs_dirlist_release(out);
		return r;
	}
	if (out->n)
		qsort_r(out->v, out->n, sizeof(*out->v), cmp_dirent, out->names);
	return 0;
}

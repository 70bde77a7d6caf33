/* Applying a layer tar to a directory, and listing what a layer does.
 *
 * The tar is hostile until proven otherwise.  Every name is made canonical
 * first ("a/b/c": no "..", not absolute, no empty or "." components) and
 * every operation is done relative to a directory fd of the parent, which
 * is resolved beneath the root: openat2(RESOLVE_BENEATH), or a walk with
 * the same rules on kernels without it.  The last component is never
 * followed: whatever is there (a symlink to /etc/shadow, say) is removed
 * and a new inode created with O_EXCL.
 *
 * RESOLVE_BENEATH rather than RESOLVE_IN_ROOT: a symlink met on the way to
 * a parent is followed only while it stays beneath the root (bin ->
 * usr/bin); an absolute target or one that climbs above the root makes the
 * entry fail with HOIST_E_UNSAFE instead of being reinterpreted silently.
 * Tar writers record real paths, so a layer that writes through such a
 * symlink is broken or hostile, and a naive extractor would write on the
 * host: we want to hear about it.  Absolute names are refused like ".."
 * (GNU tar would strip the "/"; a layer writer never needs one).
 *
 * Whiteouts follow the image-spec: they hide what lower layers left, so a
 * path this layer puts in place, before or after the whiteout, stays.
 * Hard links name a regular file already in the root.
 *
 * Directories are created u+rwx and get their mode, owner and times once
 * the layer is complete (deepest first), so that a 0555 directory still
 * gets its children and the parents' mtimes are not disturbed by them.
 * Lower directories that we own but cannot write (unprivileged, a 0555
 * directory of an earlier layer) are opened up the same way and their mode
 * restored at the end. */
#include "hoist/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layer/apply_internal.h"
#include "util/cleanup.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

#define APPLY_DEFAULT_MAX_BYTES ((uint64_t)1 << 40)
/* A path or symlink target longer than this cannot be created anyway. */
#define APPLY_MAX_PATH 4095
#define APPLY_MAX_ENTRIES ((uint64_t)1 << 24)
/* Bytes of path names remembered for opaque whiteouts. */
#define APPLY_MAX_SEEN_BYTES ((size_t)256 << 20)
/* Nesting of directories we remove (one fd per level). */
#define APPLY_MAX_DEPTH 512
#define APPLY_MAX_LINKS 40

/* Paths (canonical, relative to the root) in an open-addressing table. */
typedef struct path_set {
	char **slots;
	size_t cap, len, bytes;
} path_set;

static uint64_t path_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static bool set_has(const path_set *ps, const char *p)
{
	if (!ps->cap)
		return false;
	for (size_t i = path_hash(p) & (ps->cap - 1);; i = (i + 1) & (ps->cap - 1)) {
		if (!ps->slots[i])
			return false;
		if (!strcmp(ps->slots[i], p))
			return true;
	}
}

static void set_insert(path_set *ps, char *p)
{
	size_t i = path_hash(p) & (ps->cap - 1);
	while (ps->slots[i])
		i = (i + 1) & (ps->cap - 1);
	ps->slots[i] = p;
}

static int set_add(path_set *ps, const char *p, hoist_error **err)
{
	if (set_has(ps, p))
		return 0;
	size_t n = strlen(p) + 1;
	if (ps->bytes + n > APPLY_MAX_SEEN_BYTES)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"layer names more than %zu bytes of paths",
			APPLY_MAX_SEEN_BYTES);
	if ((ps->len + 1) * 2 > ps->cap) {
		size_t ncap = ps->cap ? ps->cap * 2 : 64;
		char **old = ps->slots;
		size_t ocap = ps->cap;
		ps->slots = calloc(ncap, sizeof(*ps->slots));
		if (!ps->slots) {
			ps->slots = old;
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		}
		ps->cap = ncap;
		for (size_t i = 0; i < ocap; i++)
			if (old[i])
				set_insert(ps, old[i]);
		free(old);
	}
	char *copy = strdup(p);
	if (!copy)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	set_insert(ps, copy);
	ps->len++;
	ps->bytes += n;
	return 0;
}

static void set_release(path_set *ps)
{
	for (size_t i = 0; i < ps->cap; i++)
		free(ps->slots[i]);
	free(ps->slots);
	*ps = (path_set){ 0 };
}

/* A directory whose final attributes are set when the layer is done. */
typedef struct dir_fix {
	char *path;
	size_t depth, seq;
	bool full; /* a directory entry: owner, mode, times; else mode only */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	struct timespec times[2];
} dir_fix;

typedef struct apply {
	int rootfd;
	hoist_apply_opts o;
	bool walk; /* resolve without openat2 */
	bool dry;  /* hoist_layer_list: touch nothing */
	uid_t euid;
	hoist_change_fn on_change;
	void *ud;
	hoist_reader *tar;
	hoist_error *read_err;
	char *chunk;
	struct archive *a;
	path_set seen;     /* what this layer put in place */
	path_set writable; /* lower directories opened up for writing */
	dir_fix *fix;
	size_t nfix, capfix;
	uint64_t claimed, entries;
	char qname[320]; /* the current entry's name, printable */
} apply;

/* A printable, bounded copy of a name from the tar, for messages. */
static void quote_name(char *out, size_t cap, const char *s)
{
	size_t o = 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (o + 8 >= cap) {
			memcpy(out + o, "...", 4);
			return;
		}
		if (c < 0x20 || c == 0x7f || c == '\'' || c == '\\')
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
}

static char *path_join(const char *dir, const char *name)
{
	char *p = NULL;
	if (asprintf(&p, "%s%s%s", dir, *dir ? "/" : "", name) < 0)
		return NULL;
	return p;
}

static int nomem(hoist_error **err)
{
	return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
}

static void report(apply *s, hoist_change_kind kind, const char *path,
	int64_t size)
{
	if (s->on_change)
		s->on_change(s->ud, kind, path, size);
}

/* The error libarchive reports, or the one of our reader beneath it. */
static int archive_fail(apply *s, const char *what, hoist_error **err)
{
	if (s->read_err) {
		if (err && !*err) {
			*err = steal_ptr(&s->read_err);
			return hoist_error_wrap(err, HOIST_E_IO, "%s", what);
		}
		hoist_error_freep(&s->read_err);
	}
	const char *m = archive_error_string(s->a);
	int e = archive_errno(s->a);
	if (e == ENOMEM)
		return nomem(err);
	if (!m || !*m)
		m = "unreadable tar";
	/* libarchive says "Truncated tar archive"; we write lowercase */
	char first = m[0] >= 'A' && m[0] <= 'Z' && m[1] >= 'a' && m[1] <= 'z'
		? (char)(m[0] - 'A' + 'a') : m[0];
	return hoist_error_set(err, HOIST_E_INVALID, "%s: %c%s", what, first,
		m + 1);
}

static la_ssize_t tar_read_cb(struct archive *a, void *ud, const void **buf)
{
	apply *s = ud;
	if (s->read_err)
		return -1;
	ssize_t k = hoist_reader_read(s->tar, s->chunk, HOIST_IO_CHUNK,
		&s->read_err);
	if (k < 0) {
		if (!s->read_err)
			hoist_error_set(&s->read_err, HOIST_E_IO, "read failed");
		archive_set_error(a, EIO, "%s", s->read_err->msg);
		return -1;
	}
	*buf = s->chunk;
	return k;
}

static int open_archive(apply *s, hoist_reader *tar, hoist_error **err)
{
	s->tar = tar;
	s->chunk = malloc(HOIST_IO_CHUNK);
	s->a = archive_read_new();
	if (!s->chunk || !s->a)
		return nomem(err);
	/* Uncompressed tar only (pax, gnu, ustar); an empty stream is an
	 * empty layer. */
	archive_read_support_format_tar(s->a);
	archive_read_support_format_empty(s->a);
	if (archive_read_open(s->a, s, NULL, tar_read_cb, NULL) != ARCHIVE_OK)
		return archive_fail(s, "open layer tar", err);
	return 0;
}

static void apply_release(apply *s)
{
	if (s->a)
		archive_read_free(s->a);
	free(s->chunk);
	hoist_error_freep(&s->read_err);
	set_release(&s->seen);
	set_release(&s->writable);
	for (size_t i = 0; i < s->nfix; i++)
		free(s->fix[i].path);
	free(s->fix);
}

/* Canonical form of a name from the tar: components joined by "/", "" for
 * the root.  "./" prefixes, "." components and repeated or trailing
 * slashes go; absolute names and any ".." are refused. */
static int clean_name(const char *name, const char *label, char **out,
	hoist_error **err)
{
	if (name[0] == '/')
		return hoist_error_set(err, HOIST_E_UNSAFE, "%s is absolute",
			label);
	size_t n = strlen(name);
	if (n > APPLY_MAX_PATH)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"%s is longer than %d bytes", label, APPLY_MAX_PATH);
	_cleanup_free_ char *p = malloc(n + 1);
	if (!p)
		return nomem(err);
	size_t o = 0;
	const char *c = name;
	while (*c) {
		if (*c == '/') {
			c++;
			continue;
		}
		const char *end = strchrnul(c, '/');
		size_t len = (size_t)(end - c);
		if (len == 2 && c[0] == '.' && c[1] == '.')
			return hoist_error_set(err, HOIST_E_UNSAFE,
				"%s contains '..'", label);
		if (len > NAME_MAX)
			return hoist_error_set(err, HOIST_E_LIMIT,
				"%s has a component longer than %d bytes",
				label, NAME_MAX);
		if (!(len == 1 && c[0] == '.')) {
			if (o)
				p[o++] = '/';
			memcpy(p + o, c, len);
			o += len;
		}
		c = end;
	}
	p[o] = '\0';
	*out = steal_ptr(&p);
	return 0;
}

/* Splits a canonical path in place: *dir gets the parent ("" for the
 * root), the return value the last component. */
static char *split_last(char *path, const char **dir)
{
	char *slash = strrchr(path, '/');
	if (!slash) {
		*dir = "";
		return path;
	}
	*slash = '\0';
	*dir = path;
	return slash + 1;
}

static size_t path_depth(const char *p)
{
	if (!*p)
		return 0;
	size_t d = 1;
	for (; *p; p++)
		d += *p == '/';
	return d;
}

static bool has_prefix(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

/* Path resolution */

static bool have_openat2(int rootfd)
{
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, rootfd, ".", &how, sizeof(how));
	if (fd >= 0) {
		close((int)fd);
		return true;
	}
	/* Old kernels, and seccomp profiles that do not know the call. */
	return errno != ENOSYS && errno != EPERM && errno != EINVAL;
}

/* The stand-in for openat2(RESOLVE_BENEATH) on kernels without it: one
 * component at a time, each opened with O_NOFOLLOW.  A symlink is read
 * and its target put in front of what remains; an absolute target, or a
 * ".." with nothing left to climb, fails with EXDEV as openat2 would.
 * `depth` counts how far below the root we are: every step down went
 * through a real directory entry, so ".." above depth 0 stays inside. */
static int walk_beneath(int rootfd, const char *path, int *out)
{
	_cleanup_free_ char *rest = strdup(path);
	if (!rest)
		return -ENOMEM;
	_cleanup_close_ int cur = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cur < 0)
		return -errno;
	size_t depth = 0, pos = 0;
	int links = 0;
	while (rest[pos]) {
		if (rest[pos] == '/') {
			pos++;
			continue;
		}
		char *c = rest + pos;
		char *end = strchrnul(c, '/');
		size_t len = (size_t)(end - c);
		pos += len;
		if (len == 1 && c[0] == '.')
			continue;
		if (len > NAME_MAX)
			return -ENAMETOOLONG;
		char name[NAME_MAX + 1];
		memcpy(name, c, len);
		name[len] = '\0';
		bool up = !strcmp(name, "..");
		if (up && depth == 0)
			return -EXDEV;
		int fd = openat(cur, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		struct stat sb;
		if (fstat(fd, &sb) < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
		if (S_ISDIR(sb.st_mode)) {
			close(cur);
			cur = fd;
			depth = up ? depth - 1 : depth + 1;
			continue;
		}
		close(fd);
		if (!S_ISLNK(sb.st_mode))
			return -ENOTDIR;
		if (++links > APPLY_MAX_LINKS)
			return -ELOOP;
		char target[PATH_MAX];
		ssize_t k = readlinkat(cur, name, target, sizeof(target) - 1);
		if (k < 0)
			return -errno;
		if (k == 0)
			return -ENOENT;
		target[k] = '\0';
		if (target[0] == '/')
			return -EXDEV;
		size_t left = strlen(rest + pos);
		if ((size_t)k + 1 + left > 2 * PATH_MAX)
			return -ENAMETOOLONG;
		char *next = malloc((size_t)k + 1 + left + 1);
		if (!next)
			return -ENOMEM;
		memcpy(next, target, (size_t)k);
		next[k] = '/';
		memcpy(next + k + 1, rest + pos, left + 1);
		free(rest);
		rest = next;
		pos = 0;
	}
	*out = steal_fd(&cur);
	return 0;
}

/* An O_PATH fd of the directory `path` (canonical) beneath the root, or
 * -errno. */
static int resolve_dir(apply *s, const char *path, int *out)
{
	if (!*path) {
		int fd = openat(s->rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		*out = fd;
		return 0;
	}
	if (s->walk)
		return walk_beneath(s->rootfd, path, out);
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	for (int tries = 0;; tries++) {
		long fd = syscall(SYS_openat2, s->rootfd, path, &how, sizeof(how));
		if (fd >= 0) {
			*out = (int)fd;
			return 0;
		}
		/* a rename elsewhere raced with the lookup */
		if (errno == EAGAIN && tries < 64)
			continue;
		return -errno;
	}
}

static int resolve_error(const char *what, const char *path, int e,
	hoist_error **err)
{
	if (e == EXDEV)
		return hoist_error_set(err, HOIST_E_UNSAFE,
			"%s '%s' leads out of the root through a symlink", what,
			path);
	if (e == ELOOP)
		return hoist_error_set(err, HOIST_E_UNSAFE,
			"%s '%s': too many levels of symbolic links", what, path);
	if (e == ENOTDIR)
		return hoist_error_set(err, HOIST_E_IO,
			"%s '%s' is not a directory", what, path);
	return hoist_error_errno(err, e, "open %s '%s'", what, path);
}

/* chmod of a directory fd (O_PATH is fine), for directories we may not be
 * able to open for reading. */
static int chmod_dirfd(int fd, mode_t mode)
{
	int rfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rfd >= 0) {
		int r = fchmod(rfd, mode);
		int e = errno;
		close(rfd);
		errno = e;
		return r;
	}
	char p[64];
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	return chmod(p, mode);
}

static int fix_add(apply *s, const char *path, bool full, mode_t mode,
	uid_t uid, gid_t gid, const struct timespec times[2], hoist_error **err)
{
	if (s->nfix == s->capfix) {
		size_t ncap = s->capfix ? s->capfix * 2 : 64;
		dir_fix *n = realloc(s->fix, ncap * sizeof(*n));
		if (!n)
			return nomem(err);
		s->fix = n;
		s->capfix = ncap;
	}
	dir_fix *f = &s->fix[s->nfix];
	*f = (dir_fix){ .full = full, .mode = mode, .uid = uid, .gid = gid };
	f->path = strdup(path);
	if (!f->path)
		return nomem(err);
	f->depth = path_depth(path);
	f->seq = s->nfix;
	if (times) {
		f->times[0] = times[0];
		f->times[1] = times[1];
	}
	s->nfix++;
	return 0;
}

/* Without CAP_DAC_OVERRIDE we cannot add to a directory that lacks u+wx,
 * such as a 0555 directory of an earlier layer: when it is ours, open it up
 * for the time of the layer and restore its mode at the end. */
static int ensure_writable(apply *s, int dirfd, const char *path,
	hoist_error **err)
{
	if (s->euid == 0)
		return 0;
	struct stat st;
	if (fstat(dirfd, &st) < 0)
		return hoist_error_errno(err, errno, "stat '%s'", path);
	if ((st.st_mode & 0300) == 0300 || st.st_uid != s->euid ||
		set_has(&s->writable, path))
		return 0;
	if (chmod_dirfd(dirfd, (st.st_mode & 07777) | 0700) < 0)
		return hoist_error_errno(err, errno, "make '%s' writable", path);
	int r = set_add(&s->writable, path, err);
	if (r < 0)
		return r;
	return fix_add(s, path, false, st.st_mode & 07777, 0, 0, NULL, err);
}

enum { PARENT_CREATE = 1, PARENT_WRITE = 2 };

/* The parent directory `dir` of an entry, created (0755, like tar) when
 * missing with PARENT_CREATE. */
static int open_parent(apply *s, const char *dir, int flags, int *out,
	hoist_error **err)
{
	int fd = -1;
	int r = resolve_dir(s, dir, &fd);
	if (r == -ENOENT && (flags & PARENT_CREATE)) {
		_cleanup_free_ char *prefix = strdup(dir);
		if (!prefix)
			return nomem(err);
		_cleanup_close_ int cur = -1;
		r = resolve_dir(s, "", &cur);
		for (size_t i = 0; r == 0; i++) {
			if (dir[i] != '/' && dir[i] != '\0')
				continue;
			prefix[i] = '\0';
			const char *base = strrchr(prefix, '/');
			base = base ? base + 1 : prefix;
			r = resolve_dir(s, prefix, &fd);
			if (r == -ENOENT) {
				_cleanup_free_ char *pdir = strndup(prefix,
					(size_t)(base - prefix) - (base > prefix));
				if (!pdir)
					return nomem(err);
				int w = ensure_writable(s, cur, pdir, err);
				if (w < 0)
					return w;
				if (mkdirat(cur, base, 0755) < 0 && errno != EEXIST)
					return hoist_error_errno(err, errno,
						"create directory '%s'", prefix);
				w = set_add(&s->seen, prefix, err);
				if (w < 0)
					return w;
				r = resolve_dir(s, prefix, &fd);
			}
			if (r < 0)
				return resolve_error("parent", prefix, -r, err);
			close(cur);
			cur = fd;
			fd = -1;
			if (dir[i] == '\0')
				break;
			prefix[i] = '/';
		}
		if (r == 0)
			fd = steal_fd(&cur);
	}
	if (r < 0)
		return resolve_error("parent", dir, -r, err);
	if (flags & PARENT_WRITE) {
		r = ensure_writable(s, fd, dir, err);
		if (r < 0) {
			close(fd);
			return r;
		}
	}
	*out = fd;
	return 0;
}

/* Removing */

/* Opens dirfd/name (a directory, not followed) for reading and writing its
 * entries, opening up its mode when it is ours and closed to us. */
static int open_dir_rw(apply *s, int dirfd, const char *name, int *out)
{
	int fd = openat(dirfd, name,
		O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && s->euid != 0) {
		struct stat st;
		if (fstat(fd, &st) == 0 && st.st_uid == s->euid &&
			(st.st_mode & 0700) != 0700)
			fchmod(fd, (st.st_mode & 07777) | 0700);
	} else if (fd < 0 && errno == EACCES) {
		/* mode 0000 or 0300 and ours: the directory goes anyway */
		int pfd = openat(dirfd, name,
			O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (pfd < 0)
			return -errno;
		int r = chmod_dirfd(pfd, 0700);
		int e = errno;
		close(pfd);
		if (r < 0)
			return -e;
		fd = openat(dirfd, name,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	*out = fd;
	return 0;
}

/* Empties directory dirfd/name (`path` in the root).  With `keep` (a
 * whiteout in this layer), children that this layer put in place stay,
 * their subdirectories emptied the same way, and what goes is reported as
 * deleted; otherwise everything goes quietly (the caller reports the
 * directory). */
static int empty_dir(apply *s, int parent, const char *name, const char *path,
	bool keep, int depth, hoist_error **err)
{
	if (depth > APPLY_MAX_DEPTH)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"'%s': directory tree deeper than %d levels", path,
			APPLY_MAX_DEPTH);
	int fd = -1;
	int r = open_dir_rw(s, parent, name, &fd);
	if (r < 0)
		return hoist_error_errno(err, -r, "open directory '%s'", path);
	int dfd = fd;
	_cleanup_closedir_ DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return hoist_error_errno(err, errno, "read directory '%s'", path);
	}
	/* Entries removed while reading may make readdir skip others: read
	 * again until a pass changes nothing. */
	for (bool again = true; again;) {
		again = false;
		rewinddir(d);
		struct dirent *de;
		errno = 0;
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			_cleanup_free_ char *child = path_join(path, de->d_name);
			if (!child)
				return nomem(err);
			struct stat st;
			if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				if (errno == ENOENT)
					continue;
				return hoist_error_errno(err, errno, "stat '%s'", child);
			}
			if (keep && set_has(&s->seen, child)) {
				if (S_ISDIR(st.st_mode)) {
					r = empty_dir(s, dfd, de->d_name, child,
						true, depth + 1, err);
					if (r < 0)
						return r;
				}
				continue;
			}
			if (S_ISDIR(st.st_mode)) {
				r = empty_dir(s, dfd, de->d_name, child, false,
					depth + 1, err);
				if (r < 0)
					return r;
			}
			if (unlinkat(dfd, de->d_name,
				    S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0 &&
				errno != ENOENT)
				return hoist_error_errno(err, errno, "remove '%s'",
					child);
			if (keep)
				report(s, HOIST_CHANGE_DELETE, child, 0);
			again = true;
			errno = 0;
		}
		if (errno)
			return hoist_error_errno(err, errno, "read directory '%s'",
				path);
	}
	return 0;
}

/* Removes dirfd/name, which `st` describes, without following it. */
static int remove_any(apply *s, int dirfd, const char *name, const char *path,
	const struct stat *st, hoist_error **err)
{
	if (S_ISDIR(st->st_mode)) {
		int r = empty_dir(s, dirfd, name, path, false, 0, err);
		if (r < 0)
			return r;
	}
	if (unlinkat(dirfd, name, S_ISDIR(st->st_mode) ? AT_REMOVEDIR : 0) < 0 &&
		errno != ENOENT)
		return hoist_error_errno(err, errno, "remove '%s'", path);
	return 0;
}

/* Whiteouts apply to what lower layers left: a path this layer put in place
 * stays (its subdirectories lose their lower content). */
static int apply_whiteout(apply *s, const char *dir, const char *victim,
	hoist_error **err)
{
	int pfd = -1;
	int r = resolve_dir(s, dir, &pfd);
	if (r == -ENOENT || r == -ENOTDIR)
		return 0; /* nothing there to hide */
	if (r < 0)
		return resolve_error("parent", dir, -r, err);
	_cleanup_close_ int dfd = pfd;
	r = ensure_writable(s, dfd, dir, err);
	if (r < 0)
		return r;
	if (!victim)
		return empty_dir(s, dfd, ".", dir, true, 0, err);
	_cleanup_free_ char *path = path_join(dir, victim);
	if (!path)
		return nomem(err);
	struct stat st;
	if (fstatat(dfd, victim, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return hoist_error_errno(err, errno, "stat '%s'", path);
	}
	if (set_has(&s->seen, path)) {
		if (S_ISDIR(st.st_mode))
			return empty_dir(s, dfd, victim, path, true, 0, err);
		return 0;
	}
	r = remove_any(s, dfd, victim, path, &st, err);
	if (r < 0)
		return r;
	report(s, HOIST_CHANGE_DELETE, path, 0);
	return 0;
}

/* Metadata */

static int entry_owner(struct archive_entry *e, uid_t *uid, gid_t *gid,
	hoist_error **err)
{
	la_int64_t u = archive_entry_uid(e), g = archive_entry_gid(e);
	if (u < 0 || u >= UINT32_MAX || g < 0 || g >= UINT32_MAX)
		return hoist_error_set(err, HOIST_E_INVALID,
			"owner %lld:%lld out of range", (long long)u, (long long)g);
	*uid = (uid_t)u;
	*gid = (gid_t)g;
	return 0;
}

static long clamp_nsec(long ns)
{
	return ns < 0 ? 0 : ns > 999999999 ? 999999999 : ns;
}

/* atime defaults to mtime; no mtime leaves the time of creation. */
static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
	if (archive_entry_mtime_is_set(e)) {
		ts[1].tv_sec = archive_entry_mtime(e);
		ts[1].tv_nsec = clamp_nsec(archive_entry_mtime_nsec(e));
	} else {
		ts[1].tv_sec = 0;
		ts[1].tv_nsec = UTIME_OMIT;
	}
	if (archive_entry_atime_is_set(e)) {
		ts[0].tv_sec = archive_entry_atime(e);
		ts[0].tv_nsec = clamp_nsec(archive_entry_atime_nsec(e));
	} else {
		ts[0] = ts[1];
	}
}

static bool xattr_restricted(const char *name)
{
	return has_prefix(name, "security.") || has_prefix(name, "trusted.") ||
		has_prefix(name, "system.");
}

/* Sets the entry's xattrs on fd, or (fd < 0) on dirfd/name without
 * following it.  Namespaces other than user, trusted, security and POSIX
 * ACLs are skipped, and so are overlayfs' own attributes: a layer must not
 * redirect or make opaque the overlay it may later be mounted in. */
static int set_xattrs(apply *s, struct archive_entry *e, int fd, int dirfd,
	const char *name, bool special, hoist_error **err)
{
	if (!s->o.xattrs || archive_entry_xattr_reset(e) == 0)
		return 0;
	char proc[NAME_MAX + 64];
	if (fd < 0)
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", dirfd, name);
	const char *xn;
	const void *val;
	size_t len;
	while (archive_entry_xattr_next(e, &xn, &val, &len) == ARCHIVE_OK) {
		if (!xn)
			continue;
		bool user = has_prefix(xn, "user.");
		if (!(user || has_prefix(xn, "trusted.") ||
			    has_prefix(xn, "security.") ||
			    !strcmp(xn, "system.posix_acl_access") ||
			    !strcmp(xn, "system.posix_acl_default")))
			continue;
		if (has_prefix(xn, "trusted.overlay.") ||
			has_prefix(xn, "user.overlay."))
			continue;
		/* the kernel allows user.* on files and directories only */
		if (user && special)
			continue;
		int r = fd >= 0 ? fsetxattr(fd, xn, val, len, 0)
				: lsetxattr(proc, xn, val, len, 0);
		if (r == 0)
			continue;
		if ((errno == EPERM || errno == EOPNOTSUPP) && xattr_restricted(xn))
			continue; /* not ours to set without privilege */
		if (fd < 0 && errno == ENOENT)
			return 0; /* no /proc: no xattrs on special files */
		char q[128];
		quote_name(q, sizeof(q), xn);
		return hoist_error_errno(err, errno, "set xattr '%s'", q);
	}
	return 0;
}

/* Owner, mode, xattrs, times of a regular file being written. */
static int meta_fd(apply *s, struct archive_entry *e, int fd,
	hoist_error **err)
{
	if (s->o.keep_owner) {
		uid_t uid = 0;
		gid_t gid = 0;
		int r = entry_owner(e, &uid, &gid, err);
		if (r < 0)
			return r;
		if (fchown(fd, uid, gid) < 0)
			return hoist_error_errno(err, errno, "chown to %u:%u",
				(unsigned)uid, (unsigned)gid);
	}
	/* after chown, which clears setuid and file capabilities */
	if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
		return hoist_error_errno(err, errno, "chmod");
	int r = set_xattrs(s, e, fd, -1, NULL, false, err);
	if (r < 0)
		return r;
	struct timespec ts[2];
	entry_times(e, ts);
	if (futimens(fd, ts) < 0)
		return hoist_error_errno(err, errno, "set times");
	return 0;
}

/* The same for dirfd/name (a symlink or special file), never followed. */
static int meta_at(apply *s, struct archive_entry *e, int dirfd,
	const char *name, bool symlink, hoist_error **err)
{
	if (s->o.keep_owner) {
		uid_t uid = 0;
		gid_t gid = 0;
		int r = entry_owner(e, &uid, &gid, err);
		if (r < 0)
			return r;
		if (fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
			return hoist_error_errno(err, errno, "chown to %u:%u",
				(unsigned)uid, (unsigned)gid);
	}
	if (!symlink) {
		mode_t mode = archive_entry_perm(e) & 07777;
		if (fchmodat(dirfd, name, mode, AT_SYMLINK_NOFOLLOW) < 0) {
			/* glibc needs /proc for the flag; the name is a node we
			 * just created in a directory we hold */
			if ((errno != EOPNOTSUPP && errno != ENOSYS) ||
				fchmodat(dirfd, name, mode, 0) < 0)
				return hoist_error_errno(err, errno, "chmod");
		}
	}
	int r = set_xattrs(s, e, -1, dirfd, name, true, err);
	if (r < 0)
		return r;
	struct timespec ts[2];
	entry_times(e, ts);
	if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return hoist_error_errno(err, errno, "set times");
	return 0;
}

static int pwrite_all(int fd, const char *p, size_t n, off_t off,
	hoist_error **err)
{
	while (n) {
		ssize_t k = pwrite(fd, p, n, off);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return hoist_error_errno(err, errno, "write");
		}
		p += k;
		n -= (size_t)k;
		off += k;
	}
	return 0;
}

/* The entry's data into fd; sparse files keep their holes. */
static int write_data(apply *s, int fd, uint64_t size, hoist_error **err)
{
	uint64_t end = 0;
	for (;;) {
		const void *buf;
		size_t len;
		la_int64_t off;
		int r = archive_read_data_block(s->a, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return archive_fail(s, "read data", err);
		if (off < 0 || (uint64_t)off > size || len > size - (uint64_t)off)
			return hoist_error_set(err, HOIST_E_INVALID,
				"data beyond the declared size %llu",
				(unsigned long long)size);
		r = pwrite_all(fd, buf, len, (off_t)off, err);
		if (r < 0)
			return r;
		if ((uint64_t)off + len > end)
			end = (uint64_t)off + len;
	}
	if (end < size && ftruncate(fd, (off_t)size) < 0)
		return hoist_error_errno(err, errno, "extend to %llu bytes",
			(unsigned long long)size);
	return 0;
}

/* Entries */

typedef struct entry_ctx {
	struct archive_entry *e;
	const char *path; /* canonical */
	const char *dir;  /* its parent */
	const char *base; /* its last component */
	int pfd;
	bool existed;
	struct stat old;
} entry_ctx;

static int make_room(apply *s, entry_ctx *c, hoist_error **err)
{
	if (!c->existed)
		return 0;
	return remove_any(s, c->pfd, c->base, c->path, &c->old, err);
}

static int apply_file(apply *s, entry_ctx *c, uint64_t size,
	hoist_error **err)
{
	int r = make_room(s, c, err);
	if (r < 0)
		return r;
	/* O_EXCL: never through whatever may have appeared at the name */
	int fd = openat(c->pfd, c->base,
		O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return hoist_error_errno(err, errno, "create file");
	r = write_data(s, fd, size, err);
	if (r == 0)
		r = meta_fd(s, c->e, fd, err);
	if (close(fd) < 0 && r == 0)
		r = hoist_error_errno(err, errno, "close");
	if (r < 0)
		unlinkat(c->pfd, c->base, 0); /* no short or half-set file */
	return r;
}

static int apply_dir(apply *s, entry_ctx *c, hoist_error **err)
{
	int r;
	if (c->existed && S_ISDIR(c->old.st_mode)) {
		/* keeps its content; takes the new attributes at the end */
		if (s->euid != 0 && (c->old.st_mode & 0700) != 0700) {
			int fd = -1;
			r = open_dir_rw(s, c->pfd, c->base, &fd);
			if (r < 0)
				return hoist_error_errno(err, -r, "open directory");
			close(fd);
		}
	} else {
		r = make_room(s, c, err);
		if (r < 0)
			return r;
		if (mkdirat(c->pfd, c->base, 0700) < 0)
			return hoist_error_errno(err, errno, "create directory");
	}
	if (s->o.xattrs) {
		_cleanup_close_ int fd = openat(c->pfd, c->base,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return hoist_error_errno(err, errno, "open directory");
		r = set_xattrs(s, c->e, fd, -1, NULL, false, err);
		if (r < 0)
			return r;
	}
	uid_t uid = 0;
	gid_t gid = 0;
	if (s->o.keep_owner) {
		r = entry_owner(c->e, &uid, &gid, err);
		if (r < 0)
			return r;
	}
	struct timespec ts[2];
	entry_times(c->e, ts);
	return fix_add(s, c->path, true, archive_entry_perm(c->e) & 07777, uid,
		gid, ts, err);
}

static int apply_symlink(apply *s, entry_ctx *c, hoist_error **err)
{
	const char *target = archive_entry_symlink(c->e);
	if (!target)
		target = archive_entry_symlink_utf8(c->e);
	if (!target || !*target)
		return hoist_error_set(err, HOIST_E_INVALID, "symlink without a target");
	if (strlen(target) > APPLY_MAX_PATH)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"symlink target longer than %d bytes", APPLY_MAX_PATH);
	int r = make_room(s, c, err);
	if (r < 0)
		return r;
	/* stored as given: we never follow it */
	if (symlinkat(target, c->pfd, c->base) < 0)
		return hoist_error_errno(err, errno, "create symlink");
	return meta_at(s, c->e, c->pfd, c->base, true, err);
}

static int apply_node(apply *s, entry_ctx *c, mode_t type, hoist_error **err)
{
	int r = make_room(s, c, err);
	if (r < 0)
		return r;
	dev_t dev = type == S_IFIFO ? 0 : archive_entry_rdev(c->e);
	if (mknodat(c->pfd, c->base, type | 0600, dev) < 0)
		return hoist_error_errno(err, errno, "create %s",
			type == S_IFIFO ? "fifo" : "device node");
	return meta_at(s, c->e, c->pfd, c->base, false, err);
}

/* A hard link names an earlier regular file of the root: the target is
 * resolved like any path, and must be there and be a regular file. */
static int apply_hardlink(apply *s, entry_ctx *c, const char *tpath,
	hoist_error **err)
{
	_cleanup_free_ char *t = strdup(tpath);
	if (!t)
		return nomem(err);
	const char *tdir;
	const char *tbase = split_last(t, &tdir);
	int tfd = -1;
	int r = resolve_dir(s, tdir, &tfd);
	if (r == -ENOENT || r == -ENOTDIR)
		return hoist_error_set(err, HOIST_E_UNSAFE,
			"hard link target '%s' is not in the root", tpath);
	if (r < 0)
		return resolve_error("hard link target directory", tdir, -r, err);
	_cleanup_close_ int tdirfd = tfd;
	struct stat tst;
	if (fstatat(tdirfd, tbase, &tst, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return hoist_error_set(err, HOIST_E_UNSAFE,
				"hard link target '%s' is not in the root", tpath);
		return hoist_error_errno(err, errno, "stat '%s'", tpath);
	}
	if (!S_ISREG(tst.st_mode))
		return hoist_error_set(err, HOIST_E_UNSAFE,
			"hard link target '%s' is not a regular file", tpath);
	if (c->existed && c->old.st_dev == tst.st_dev &&
		c->old.st_ino == tst.st_ino)
		return 0; /* already that file */
	r = make_room(s, c, err);
	if (r < 0)
		return r;
	if (linkat(tdirfd, tbase, c->pfd, c->base, 0) < 0)
		return hoist_error_errno(err, errno, "link to '%s'", tpath);
	return 0;
}

/* The entry as the walk sees it. */
enum entry_kind {
	K_SKIP,
	K_WHITEOUT,
	K_OPAQUE,
	K_FILE,
	K_DIR,
	K_SYMLINK,
	K_HARDLINK,
	K_FIFO,
	K_CHR,
	K_BLK,
};

static int handle_entry(apply *s, struct archive_entry *e, hoist_error **err)
{
	const char *raw = archive_entry_pathname(e);
	if (!raw)
		raw = archive_entry_pathname_utf8(e);
	if (!raw) {
		quote_name(s->qname, sizeof(s->qname), "?");
		return hoist_error_set(err, HOIST_E_INVALID, "entry without a name");
	}
	quote_name(s->qname, sizeof(s->qname), raw);
	_cleanup_free_ char *path = NULL;
	int r = clean_name(raw, "path", &path, err);
	if (r < 0)
		return r;

	la_int64_t lsize = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
	if (lsize < 0)
		return hoist_error_set(err, HOIST_E_INVALID, "negative size");
	uint64_t size = (uint64_t)lsize;
	if (size > s->o.max_bytes)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"size %llu exceeds the limit of %llu bytes",
			(unsigned long long)size, (unsigned long long)s->o.max_bytes);
	if (__builtin_add_overflow(s->claimed, size, &s->claimed) ||
		s->claimed > s->o.max_bytes)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"the layer claims more than %llu bytes",
			(unsigned long long)s->o.max_bytes);

	/* Names starting with .wh. are whiteouts and cannot exist as files
	 * or directories; .wh..wh.* is AUFS metadata (.wh..wh.plnk/...),
	 * which we ignore. */
	for (const char *p = path; *p;) {
		const char *end = strchrnul(p, '/');
		if (!*end)
			break;
		if (has_prefix(p, ".wh..wh."))
			return 0;
		if (has_prefix(p, ".wh."))
			return hoist_error_set(err, HOIST_E_UNSAFE,
				"whiteout used as a directory");
		p = end + 1;
	}
	_cleanup_free_ char *dirbuf = strdup(path);
	if (!dirbuf)
		return nomem(err);
	const char *dir;
	const char *base = split_last(dirbuf, &dir);

	enum entry_kind kind;
	const char *victim = NULL;
	const char *hl = archive_entry_hardlink(e);
	if (!hl)
		hl = archive_entry_hardlink_utf8(e);
	if (has_prefix(base, ".wh.")) {
		victim = base + 4;
		if (!strcmp(base, ".wh..wh..opq"))
			kind = K_OPAQUE;
		else if (has_prefix(base, ".wh..wh."))
			kind = K_SKIP;
		else if (!*victim || !strcmp(victim, ".") || !strcmp(victim, ".."))
			return hoist_error_set(err, HOIST_E_UNSAFE,
				"whiteout of '%s'", victim);
		else
			kind = K_WHITEOUT;
	} else if (hl) {
		kind = K_HARDLINK;
	} else {
		switch (archive_entry_filetype(e)) {
		case AE_IFREG: kind = K_FILE; break;
		case AE_IFDIR: kind = K_DIR; break;
		case AE_IFLNK: kind = K_SYMLINK; break;
		case AE_IFIFO: kind = K_FIFO; break;
		case AE_IFCHR: kind = K_CHR; break;
		case AE_IFBLK: kind = K_BLK; break;
		default: kind = K_SKIP; break; /* sockets */
		}
	}
	if (kind == K_SKIP)
		return 0;

	if (kind == K_OPAQUE || kind == K_WHITEOUT) {
		if (s->dry) {
			_cleanup_free_ char *p = path_join(dir,
				kind == K_OPAQUE ? "*" : victim);
			if (!p)
				return nomem(err);
			report(s, HOIST_CHANGE_DELETE, p, 0);
			return 0;
		}
		return apply_whiteout(s, dir, kind == K_OPAQUE ? NULL : victim,
			err);
	}

	if (!*path) {
		/* "./": the root itself, whose attributes are the caller's */
		if (kind == K_DIR)
			return 0;
		return hoist_error_set(err, HOIST_E_UNSAFE,
			"entry would replace the root");
	}

	_cleanup_free_ char *tpath = NULL;
	if (kind == K_HARDLINK) {
		char q[320], label[360];
		quote_name(q, sizeof(q), hl);
		snprintf(label, sizeof(label), "hard link target '%s'", q);
		r = clean_name(hl, label, &tpath, err);
		if (r < 0)
			return r;
		if (!*tpath)
			return hoist_error_set(err, HOIST_E_UNSAFE,
				"hard link to the root");
		if (!strcmp(tpath, path))
			return hoist_error_set(err, HOIST_E_UNSAFE,
				"hard link to itself");
	}

	if (s->dry) {
		report(s, HOIST_CHANGE_ADD, path, lsize);
		return 0;
	}
	if ((kind == K_CHR || kind == K_BLK) && !s->o.devices)
		return 0;

	_cleanup_close_ int pfd = -1;
	r = open_parent(s, dir, PARENT_CREATE | PARENT_WRITE, &pfd, err);
	if (r < 0)
		return r;
	entry_ctx c = { .e = e, .path = path, .dir = dir, .base = base, .pfd = pfd };
	if (fstatat(pfd, base, &c.old, AT_SYMLINK_NOFOLLOW) == 0)
		c.existed = true;
	else if (errno != ENOENT)
		return hoist_error_errno(err, errno, "stat");

	switch (kind) {
	case K_FILE: r = apply_file(s, &c, size, err); break;
	case K_DIR: r = apply_dir(s, &c, err); break;
	case K_SYMLINK: r = apply_symlink(s, &c, err); break;
	case K_HARDLINK: r = apply_hardlink(s, &c, tpath, err); break;
	case K_FIFO: r = apply_node(s, &c, S_IFIFO, err); break;
	case K_CHR: r = apply_node(s, &c, S_IFCHR, err); break;
	case K_BLK: r = apply_node(s, &c, S_IFBLK, err); break;
	default: r = 0; break;
	}
	if (r < 0)
		return r;
	r = set_add(&s->seen, path, err);
	if (r < 0)
		return r;
	report(s, c.existed ? HOIST_CHANGE_MODIFY : HOIST_CHANGE_ADD, path, lsize);
	return 0;
}

/* Deepest first; for one path, the last fix wins. */
static int fix_cmp(const void *pa, const void *pb)
{
	const dir_fix *a = pa, *b = pb;
	if (a->depth != b->depth)
		return a->depth > b->depth ? -1 : 1;
	int c = strcmp(a->path, b->path);
	if (c)
		return c;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int run_fixes(apply *s, hoist_error **err)
{
	if (s->nfix)
		qsort(s->fix, s->nfix, sizeof(*s->fix), fix_cmp);
	for (size_t i = 0; i < s->nfix; i++) {
		dir_fix *f = &s->fix[i];
		if (i + 1 < s->nfix && !strcmp(f->path, s->fix[i + 1].path))
			continue;
		_cleanup_free_ char *p = strdup(f->path);
		if (!p)
			return nomem(err);
		const char *dir;
		const char *base = split_last(p, &dir);
		int pfd = -1;
		int fd;
		if (!*f->path) {
			fd = openat(s->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		} else {
			/* a parent replaced later in the layer (even by a symlink
			 * that leads out) took the directory with it */
			int r = resolve_dir(s, dir, &pfd);
			if (r == -ENOENT || r == -ENOTDIR || r == -EXDEV || r == -ELOOP)
				continue;
			if (r < 0)
				return resolve_error("parent", dir, -r, err);
			fd = openat(pfd, base,
				O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			close(pfd);
		}
		if (fd < 0) {
			if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
				continue;
			return hoist_error_errno(err, errno, "open directory '%s'",
				f->path);
		}
		_cleanup_close_ int dfd = fd;
		if (f->full && s->o.keep_owner && fchown(dfd, f->uid, f->gid) < 0)
			return hoist_error_errno(err, errno,
				"directory '%s': chown to %u:%u", f->path,
				(unsigned)f->uid, (unsigned)f->gid);
		if (fchmod(dfd, f->mode) < 0)
			return hoist_error_errno(err, errno, "directory '%s': chmod",
				f->path);
		if (f->full && futimens(dfd, f->times) < 0)
			return hoist_error_errno(err, errno,
				"directory '%s': set times", f->path);
	}
	return 0;
}

static int walk_layer(apply *s, hoist_error **err)
{
	char prev[sizeof(s->qname)] = "";
	for (;;) {
		struct archive_entry *e;
		int ar = archive_read_next_header(s->a, &e);
		if (ar == ARCHIVE_EOF)
			return 0;
		if (ar < ARCHIVE_WARN) {
			if (!*prev)
				return archive_fail(s, "read tar header", err);
			char what[sizeof(prev) + 64];
			snprintf(what, sizeof(what),
				"read tar header after entry '%s'", prev);
			return archive_fail(s, what, err);
		}
		if (++s->entries > APPLY_MAX_ENTRIES)
			return hoist_error_set(err, HOIST_E_LIMIT,
				"layer has more than %llu entries",
				(unsigned long long)APPLY_MAX_ENTRIES);
		int r = handle_entry(s, e, err);
		/* the rest of the entry's data must be there too: a truncated
		 * tar fails on the entry it cuts, not on the next one */
		if (r == 0 && archive_read_data_skip(s->a) < ARCHIVE_WARN)
			r = archive_fail(s, "read data", err);
		if (r < 0)
			return hoist_error_wrap(err, HOIST_E_IO, "layer entry '%s'",
				s->qname);
		memcpy(prev, s->qname, sizeof(prev));
	}
}

int hoist_layer_apply_ex(int rootfd, hoist_reader *tar,
	const hoist_apply_opts *o, unsigned flags, hoist_change_fn on_change,
	void *ud, hoist_error **err)
{
	struct stat st;
	if (fstat(rootfd, &st) < 0)
		return hoist_error_errno(err, errno, "apply layer: root");
	if (!S_ISDIR(st.st_mode))
		return hoist_error_set(err, HOIST_E_INVALID,
			"apply layer: root is not a directory");
	apply s = { .rootfd = rootfd, .on_change = on_change, .ud = ud };
	if (o)
		s.o = *o;
	if (!s.o.max_bytes)
		s.o.max_bytes = APPLY_DEFAULT_MAX_BYTES;
	s.euid = geteuid();
	s.walk = (flags & HOIST_APPLY_FORCE_WALK) || !have_openat2(rootfd);
	int r = open_archive(&s, tar, err);
	if (r == 0)
		r = walk_layer(&s, err);
	/* on failure directories stay u+rwx, which helps whoever cleans up */
	if (r == 0)
		r = run_fixes(&s, err);
	apply_release(&s);
	return r;
}

int hoist_layer_apply(int rootfd, hoist_reader *tar, const hoist_apply_opts *o,
	hoist_change_fn on_change, void *ud, hoist_error **err)
{
	return hoist_layer_apply_ex(rootfd, tar, o, 0, on_change, ud, err);
}

int hoist_layer_list(hoist_reader *tar, hoist_change_fn on_change, void *ud,
	hoist_error **err)
{
	apply s = { .rootfd = -1, .dry = true, .on_change = on_change, .ud = ud };
	s.o.max_bytes = APPLY_DEFAULT_MAX_BYTES;
	int r = open_archive(&s, tar, err);
	if (r == 0)
		r = walk_layer(&s, err);
	apply_release(&s);
	return r;
}

uint64_t hoist_layer_max_bytes(int64_t blob_size)
{
	const uint64_t floor = 8ull << 30;
	uint64_t n = blob_size > 0 ? (uint64_t)blob_size : 0;
	if (n > APPLY_DEFAULT_MAX_BYTES / 1000)
		return APPLY_DEFAULT_MAX_BYTES;
	return n * 1000 > floor ? n * 1000 : floor;
}

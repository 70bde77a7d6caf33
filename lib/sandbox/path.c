/* Path resolution confined to a directory fd, without allocating (it runs
 * in the sandbox child too). */
#include "sandbox/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

#define MAX_SYMLINKS 40

int sbx_path_clean(const char *in, char *out, size_t cap)
{
	if (!in || in[0] != '/')
		return -EINVAL;
	if (cap < 2)
		return -ENAMETOOLONG;
	size_t len = 0;
	const char *p = in;
	while (*p) {
		while (*p == '/')
			p++;
		const char *e = p;
		while (*e && *e != '/')
			e++;
		size_t n = (size_t)(e - p);
		if (n == 0 || (n == 1 && p[0] == '.')) {
			/* nothing */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			/* Back to the '/' before the last component. */
			if (len > 0)
				len--;
			while (len > 0 && out[len] != '/')
				len--;
		} else {
			if (len + 1 + n + 1 > cap)
				return -ENAMETOOLONG;
			out[len] = '/';
			memcpy(out + len + 1, p, n);
			len += 1 + n;
			out[len] = '\0';
		}
		p = e;
	}
	if (len == 0) {
		out[0] = '/';
		out[1] = '\0';
	} else {
		out[len] = '\0';
	}
	return 0;
}

bool sbx_path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	if (n == 1 && dir[0] == '/')
		return true;
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* canon is "" for the root while resolving; rel() gives what to pass to
 * the *at() calls. */
static const char *rel(const char *canon)
{
	return canon[0] ? canon + 1 : ".";
}

static bool only_slashes(const char *s)
{
	for (; *s; s++)
		if (*s != '/')
			return false;
	return true;
}

int sbx_path_resolve(int rootfd, const char *path, char *canon, size_t cap,
	size_t *missing)
{
	/* rest holds what is left to walk; a symlink splices its target in
	 * front of the remainder. */
	char rest[2 * SBX_PATH_MAX];
	char link[SBX_PATH_MAX];
	size_t len = 0;
	size_t miss = (size_t)-1;
	int links = 0;

	if (cap < 2)
		return -ENAMETOOLONG;
	size_t pl = strlen(path);
	if (pl >= sizeof(rest))
		return -ENAMETOOLONG;
	memcpy(rest, path, pl + 1);
	canon[0] = '\0';

	char *p = rest;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		char *e = p;
		while (*e && *e != '/')
			e++;
		size_t n = (size_t)(e - p);
		if (n == 1 && p[0] == '.') {
			p = e;
			continue;
		}
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (miss != (size_t)-1 && len <= miss)
				return -ENOENT; /* ".." out of a missing dir */
			while (len > 0 && canon[len - 1] != '/')
				len--;
			if (len > 0)
				len--;
			canon[len] = '\0';
			p = e;
			continue;
		}
		size_t before = len;
		if (len + 1 + n + 1 > cap)
			return -ENAMETOOLONG;
		canon[len] = '/';
		memcpy(canon + len + 1, p, n);
		len += 1 + n;
		canon[len] = '\0';
		p = e;
		if (miss != (size_t)-1)
			continue;

		struct stat st;
		if (fstatat(rootfd, rel(canon), &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				return -errno;
			miss = before;
			continue;
		}
		if (S_ISLNK(st.st_mode)) {
			if (++links > MAX_SYMLINKS)
				return -ELOOP;
			ssize_t k = readlinkat(rootfd, rel(canon), link, sizeof(link) - 1);
			if (k < 0)
				return -errno;
			if ((size_t)k >= sizeof(link) - 1)
				return -ENAMETOOLONG;
			link[k] = '\0';
			size_t rl = strlen(p);
			if ((size_t)k + 1 + rl + 1 > sizeof(rest))
				return -ENAMETOOLONG;
			/* p points into rest: move the remainder first. */
			memmove(rest + k + 1, p, rl + 1);
			memcpy(rest, link, (size_t)k);
			rest[k] = '/';
			p = rest;
			len = link[0] == '/' ? 0 : before;
			canon[len] = '\0';
			continue;
		}
		if (!S_ISDIR(st.st_mode) && !only_slashes(p))
			return -ENOTDIR;
	}
	if (len == 0) {
		/* Only the root itself, which exists. */
		canon[0] = '/';
		canon[1] = '\0';
		len = 1;
	}
	*missing = miss == (size_t)-1 ? len : miss;
	return 0;
}

static int openat2_try(int dirfd, const char *path, int flags, uint64_t resolve)
{
	struct open_how how = {
		.flags = (uint64_t)flags | O_CLOEXEC,
		.resolve = resolve,
	};
	long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	if (fd >= 0)
		return (int)fd;
	return -errno;
}

static bool openat2_missing(int r)
{
	/* ENOSYS: old kernel; EPERM: a seccomp filter that predates it;
	 * E2BIG/EINVAL: a struct or flag it does not know. */
	return r == -ENOSYS || r == -EPERM || r == -E2BIG;
}

int sbx_open_in_root(int rootfd, const char *path, int flags)
{
	int r = openat2_try(rootfd, path, flags,
		RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
	if (!openat2_missing(r))
		return r;
	/* Fallback: resolve by hand, then open the canonical path.  Nothing
	 * else runs in the tree meanwhile in our uses, so the walk and the
	 * open see the same tree. */
	char canon[SBX_PATH_MAX];
	size_t miss;
	r = sbx_path_resolve(rootfd, path, canon, sizeof(canon), &miss);
	if (r < 0)
		return r;
	if (canon[miss] != '\0')
		return -ENOENT;
	int fd = openat(rootfd, rel(strcmp(canon, "/") ? canon : ""),
		flags | O_NOFOLLOW | O_CLOEXEC);
	return fd >= 0 ? fd : -errno;
}

int sbx_open_nofollow(int dirfd, const char *path, int flags)
{
	int r = openat2_try(dirfd, path, flags,
		RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	if (!openat2_missing(r))
		return r;
	char buf[SBX_PATH_MAX];
	size_t n = strlen(path);
	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	int cur = -1; /* -1: dirfd itself */
	char *p = buf;
	for (;;) {
		while (*p == '/')
			p++;
		char *e = p;
		while (*e && *e != '/')
			e++;
		bool last = only_slashes(e);
		if (*e)
			*e = '\0';
		if ((e - p == 2 && p[0] == '.' && p[1] == '.')) {
			if (cur >= 0)
				close(cur);
			return -EXDEV;
		}
		int base = cur >= 0 ? cur : dirfd;
		const char *name = *p ? p : ".";
		int fd = last ? openat(base, name, flags | O_NOFOLLOW | O_CLOEXEC)
			: openat(base, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int e2 = errno;
		if (cur >= 0)
			close(cur);
		if (fd < 0)
			return -e2;
		if (last)
			return fd;
		cur = fd;
		p = e + 1;
	}
}

/* Applies the input as a layer tar into a fresh root inside a fixed temp
 * parent that also holds a sentinel file and a directory "outside"; after
 * each run, anything changed or added next to the root is a crash.  It is
 * applied twice, with openat2 and with the fallback walk, and also listed
 * (hoist_layer_list), which touches nothing. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hoist/error.h"
#include "hoist/io.h"
#include "hoist/layer.h"
#include "layer/apply_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char parent[64];
static int parentfd = -1;
static struct stat sentinel_st;
static const char sentinel_data[] = "sentinel: must not change\n";

static void die(const char *what)
{
	fprintf(stderr, "fuzz_tar_apply: %s (%s)\n", what, strerror(errno));
	abort();
}

/* rm -rf that also gets through directories of mode 0000 */
static void rm_tree(int at, const char *name)
{
	struct stat st;
	if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		unlinkat(at, name, 0);
		return;
	}
	int fd = openat(at, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	chmod(proc, 0700);
	close(fd);
	fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	for (int pass = 0; pass < 64; pass++) {
		int seen = 0;
		rewinddir(d);
		struct dirent *de;
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			rm_tree(dirfd(d), de->d_name);
			seen++;
		}
		if (!seen)
			break;
	}
	closedir(d);
	unlinkat(at, name, AT_REMOVEDIR);
}

static void cleanup(void)
{
	if (parentfd >= 0)
		close(parentfd);
	rm_tree(AT_FDCWD, parent);
}

static void setup_once(void)
{
	if (parentfd >= 0)
		return;
	snprintf(parent, sizeof(parent), "/tmp/hoist-fuzz-tar-XXXXXX");
	if (!mkdtemp(parent))
		die("mkdtemp");
	parentfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (parentfd < 0)
		die("open parent");
	atexit(cleanup);
	int fd = openat(parentfd, "sentinel", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, sentinel_data, strlen(sentinel_data)) !=
		(ssize_t)strlen(sentinel_data))
		die("write sentinel");
	close(fd);
	if (fstatat(parentfd, "sentinel", &sentinel_st, AT_SYMLINK_NOFOLLOW) < 0)
		die("stat sentinel");
	if (mkdirat(parentfd, "outside", 0755) < 0)
		die("mkdir outside");
	fd = openat(parentfd, "outside/keep", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		die("create outside/keep");
	close(fd);
}

/* The names allowed in `dirfd`, as a NULL-terminated list. */
static void check_dir(int dirfd, const char *where, const char *const *allowed)
{
	int fd = openat(dirfd, where, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		die(where);
	DIR *d = fdopendir(fd);
	if (!d)
		die(where);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		bool ok = false;
		for (const char *const *a = allowed; *a; a++)
			ok = ok || !strcmp(de->d_name, *a);
		if (!ok) {
			fprintf(stderr, "fuzz_tar_apply: '%s' appeared in %s\n",
				de->d_name, where);
			abort();
		}
	}
	closedir(d);
}

static void check_outside(void)
{
	struct stat st;
	if (fstatat(parentfd, "sentinel", &st, AT_SYMLINK_NOFOLLOW) < 0)
		die("sentinel gone");
	if (!S_ISREG(st.st_mode) || st.st_ino != sentinel_st.st_ino ||
		st.st_size != sentinel_st.st_size || st.st_mode != sentinel_st.st_mode ||
		st.st_uid != sentinel_st.st_uid || st.st_gid != sentinel_st.st_gid ||
		st.st_nlink != 1 ||
		st.st_mtim.tv_sec != sentinel_st.st_mtim.tv_sec ||
		st.st_mtim.tv_nsec != sentinel_st.st_mtim.tv_nsec) {
		errno = 0;
		die("sentinel changed");
	}
	char got[64] = "";
	int fd = openat(parentfd, "sentinel", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, got, sizeof(got) - 1) < 0)
		die("read sentinel");
	close(fd);
	if (strcmp(got, sentinel_data)) {
		errno = 0;
		die("sentinel content changed");
	}
	static const char *const top[] = { "sentinel", "outside", "root", NULL };
	static const char *const out[] = { "keep", NULL };
	check_dir(parentfd, ".", top);
	check_dir(parentfd, "outside", out);
	static const char *const host[] = { "/etc/hoist-test-evil",
		"/hoist-test-evil", "/tmp/hoist-test-evil", NULL };
	for (const char *const *h = host; *h; h++)
		if (access(*h, F_OK) == 0) {
			fprintf(stderr, "fuzz_tar_apply: '%s' appeared\n", *h);
			abort();
		}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup_once();
	hoist_reader *r = NULL;
	hoist_error *err = NULL;

	if (hoist_reader_new_mem(&r, data, size, NULL) < 0)
		return 0;
	hoist_layer_list(r, NULL, NULL, &err);
	hoist_error_free(err);
	err = NULL;
	hoist_reader_free(r);
	r = NULL;

	for (unsigned flags = 0; flags <= HOIST_APPLY_FORCE_WALK;
		flags += HOIST_APPLY_FORCE_WALK) {
		rm_tree(parentfd, "root");
		if (mkdirat(parentfd, "root", 0755) < 0)
			die("mkdir root");
		int rootfd = openat(parentfd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (rootfd < 0)
			die("open root");
		if (hoist_reader_new_mem(&r, data, size, NULL) == 0) {
			hoist_apply_opts o = {
				.xattrs = true,
				.max_bytes = 64 << 20, /* sparse claims stay small */
			};
			hoist_layer_apply_ex(rootfd, r, &o, flags, NULL, NULL, &err);
			hoist_error_free(err);
			err = NULL;
			hoist_reader_free(r);
			r = NULL;
		}
		close(rootfd);
		check_outside();
	}
	rm_tree(parentfd, "root");
	if (faccessat(parentfd, "root", F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		errno = 0;
		die("root could not be removed");
	}
	return 0;
}

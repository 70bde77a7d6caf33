#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "build/internal.h"
#include "hoist/error.h"
#include "hoist/fs.h"
#include "util/cleanup.h"

/* rundir.c: a tree is recorded, changed as a RUN step would change it,
 * and what changed is moved out into a diff laid out as an overlay upper
 * dir.  The user.overlay. prefix keeps the tests runnable without root. */

#define PREFIX "user.overlay."

typedef struct fx {
	char dir[64];
	char root[128];
	char diff[128];
} fx;

static int setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/hoist-rundir-XXXXXX");
	if (!f || !mkdtemp(f->dir))
		return -1;
	snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
	snprintf(f->diff, sizeof(f->diff), "%s/diff", f->dir);
	if (mkdir(f->root, 0755) < 0 || mkdir(f->diff, 0755) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	hoist_fs_rm_rf(AT_FDCWD, f->dir, NULL);
	free(f);
	return 0;
}

static void put(const fx *f, const char *rel, const char *text)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", f->root, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void mk(const fx *f, const char *rel)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", f->root, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static char *rootp(const fx *f, const char *rel)
{
	static char p[256];
	snprintf(p, sizeof(p), "%s/%s", f->root, rel);
	return p;
}

/* The diff's entries, sorted, one "path kind" per line (d: directory,
 * f: file, l: symlink, w: whiteout; "+o" for an opaque directory). */
static void list_diff(const char *dir, const char *rel, hoist_buf *out)
{
	char p[512];
	snprintf(p, sizeof(p), "%s%s%s", dir, *rel ? "/" : "", rel);
	struct dirent **v = NULL;
	int n = scandir(p, &v, NULL, alphasort);
	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		const char *name = v[i]->d_name;
		if (!strcmp(name, ".") || !strcmp(name, "..")) {
			free(v[i]);
			continue;
		}
		char sub[512], full[1024];
		snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", name);
		snprintf(full, sizeof(full), "%s/%s", dir, sub);
		struct stat st;
		assert_int_equal(lstat(full, &st), 0);
		char kind = S_ISDIR(st.st_mode) ? 'd' : S_ISREG(st.st_mode) ? 'f'
			: S_ISLNK(st.st_mode) ? 'l'
			: (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) ? 'w' : '?';
		char val[8] = "";
		bool opaque = kind == 'd' &&
			lgetxattr(full, PREFIX "opaque", val, sizeof(val)) == 1 && val[0] == 'y';
		hoist_buf_appendf(out, NULL, "%s %c%s\n", sub, kind, opaque ? "+o" : "");
		if (kind == 'd')
			list_diff(dir, sub, out);
		free(v[i]);
	}
	free(v);
}

static void expect_diff(const fx *f, const char *want)
{
	hoist_buf b = HOIST_BUF_INIT(1 << 20);
	hoist_buf_appends(&b, "", NULL);
	list_diff(f->diff, "", &b);
	hoist_buf_append(&b, "", 1, NULL);
	assert_string_equal((const char *)b.data, want);
	hoist_buf_release(&b);
}

/* Records the tree, then waits as the sandbox does before the command
 * (hoist_sandbox_opts.start_after). */
static void record(const fx *f, rundir **r)
{
	_cleanup_error_ hoist_error *e = NULL;
	assert_int_equal(rundir_record(r, f->root, PREFIX, &e), 0);
	struct timespec after = rundir_newest(*r), now;
	do {
		clock_gettime(CLOCK_REALTIME_COARSE, &now);
	} while (now.tv_sec < after.tv_sec ||
		(now.tv_sec == after.tv_sec && now.tv_nsec <= after.tv_nsec));
}

static void extract(const fx *f, rundir *r)
{
	_cleanup_error_ hoist_error *e = NULL;
	int rc = rundir_extract(r, f->diff, &e);
	if (rc < 0)
		fail_msg("%s", e->msg);
	rundir_free(r);
}

static void base_tree(const fx *f)
{
	mk(f, "etc");
	put(f, "etc/conf", "conf\n");
	put(f, "etc/keep", "keep\n");
	mk(f, "usr");
	mk(f, "usr/share");
	mk(f, "usr/share/doc");
	put(f, "usr/share/doc/a", "a\n");
	mk(f, "var");
	mk(f, "var/lib");
	put(f, "var/lib/old", "old\n");
	mk(f, "tmp");
	assert_int_equal(symlink("etc/conf", rootp(f, "link")), 0);
}

static void test_nothing_changed(void **state)
{
	fx *f = *state;
	base_tree(f);
	rundir *r = NULL;
	record(f, &r);
	/* reading changes nothing */
	hoist_buf b = HOIST_BUF_INIT(1 << 20);
	assert_int_equal(hoist_fs_read_file(AT_FDCWD, rootp(f, "etc/conf"), &b, NULL), 0);
	hoist_buf_release(&b);
	extract(f, r);
	expect_diff(f, "");
}

static void test_changes(void **state)
{
	fx *f = *state;
	base_tree(f);
	rundir *r = NULL;
	record(f, &r);
	put(f, "etc/conf", "CONF\n");            /* same size, new content */
	assert_int_equal(unlink(rootp(f, "etc/keep")), 0);
	mk(f, "etc/new.d");
	put(f, "etc/new.d/x", "x\n");            /* a new subtree */
	assert_int_equal(hoist_fs_rm_rf(AT_FDCWD, rootp(f, "usr/share/doc"), NULL), 0);
	assert_int_equal(hoist_fs_rm_rf(AT_FDCWD, rootp(f, "var/lib"), NULL), 0);
	mk(f, "var/lib");                         /* replaced: opaque */
	put(f, "var/lib/fresh", "fresh\n");
	assert_int_equal(chmod(rootp(f, "tmp"), 01777), 0);
	assert_int_equal(unlink(rootp(f, "link")), 0);
	assert_int_equal(symlink("etc/keep", rootp(f, "link")), 0);
	extract(f, r);
	expect_diff(f,
		"etc d\n"
		"etc/conf f\n"
		"etc/keep w\n"
		"etc/new.d d\n"
		"etc/new.d/x f\n"
		"link l\n"
		"tmp d\n"
		"usr d\n"
		"usr/share d\n"
		"usr/share/doc w\n"
		"var d\n"
		"var/lib d+o\n"
		"var/lib/fresh f\n");
	struct stat st;
	char p[256];
	snprintf(p, sizeof(p), "%s/tmp", f->diff);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 01777);
	snprintf(p, sizeof(p), "%s/etc", f->diff);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
}

/* A change in the same clock tick as the copy, that keeps size and mtime,
 * is still seen (the ctime moves on). */
static void test_change_right_after(void **state)
{
	fx *f = *state;
	base_tree(f);
	struct stat before;
	assert_int_equal(stat(rootp(f, "etc/conf"), &before), 0);
	rundir *r = NULL;
	record(f, &r);
	put(f, "etc/conf", "CONF\n");
	struct timespec t[2] = { before.st_atim, before.st_mtim };
	assert_int_equal(utimensat(AT_FDCWD, rootp(f, "etc/conf"), t, 0), 0);
	extract(f, r);
	expect_diff(f, "etc d\netc/conf f\n");
}

/* A directory whose entries came and went, its mtime put back (as the
 * sandbox does for mount points), did not change; one whose xattrs
 * changed did. */
static void test_directory_itself(void **state)
{
	fx *f = *state;
	base_tree(f);
	struct stat before;
	assert_int_equal(stat(rootp(f, "etc"), &before), 0);
	rundir *r = NULL;
	record(f, &r);
	put(f, "etc/resolv.conf", "");
	assert_int_equal(unlink(rootp(f, "etc/resolv.conf")), 0);
	struct timespec t[2] = { before.st_atim, before.st_mtim };
	assert_int_equal(utimensat(AT_FDCWD, rootp(f, "etc"), t, 0), 0);
	if (setxattr(rootp(f, "usr"), "user.test", "1", 1, 0) < 0) {
		assert_true(errno == ENOTSUP);
		extract(f, r);
		expect_diff(f, "");
		return;
	}
	extract(f, r);
	expect_diff(f, "usr d\n");
	char val[8] = "";
	char p[256];
	snprintf(p, sizeof(p), "%s/usr", f->diff);
	assert_int_equal(getxattr(p, "user.test", val, sizeof(val)), 1);
}

/* A directory made anew where the copy had one (its inode number may be
 * the old one's) hides what was below it. */
static void test_directory_remade(void **state)
{
	fx *f = *state;
	base_tree(f);
	rundir *r = NULL;
	record(f, &r);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(hoist_fs_rm_rf(AT_FDCWD, rootp(f, "usr/share/doc"), NULL), 0);
		mk(f, "usr/share/doc");
	}
	extract(f, r);
	expect_diff(f, "usr d\nusr/share d\nusr/share/doc d+o\n");
}

/* A file system that keeps whole seconds (ext4 with 128-byte inodes): the
 * command may start only in the next second, and a change made then is
 * seen.  Needs root (a loop mount) and mkfs.ext4. */
static void test_whole_seconds(void **state)
{
	fx *f = *state;
	if (geteuid() != 0 || system("command -v mkfs.ext4 >/dev/null 2>&1") != 0)
		skip();
	fx g;
	char img[96], mnt[96], cmd[1024];
	snprintf(img, sizeof(img), "%s/fs.img", f->dir);
	snprintf(mnt, sizeof(mnt), "%s/mnt", f->dir);
	assert_int_equal(mkdir(mnt, 0755), 0);
	snprintf(cmd, sizeof(cmd), "truncate -s 16M '%s' && mkfs.ext4 -q -F -I 128 '%s' >/dev/null "
		"2>/dev/null && mount -o loop '%s' '%s' 2>/dev/null", img, img, img, mnt);
	if (system(cmd) != 0)
		skip(); /* no loop devices here */
	snprintf(g.dir, sizeof(g.dir), "%s", f->dir);
	snprintf(g.root, sizeof(g.root), "%s/root", mnt);
	snprintf(g.diff, sizeof(g.diff), "%s/diff", mnt);
	assert_int_equal(mkdir(g.root, 0755), 0);
	assert_int_equal(mkdir(g.diff, 0755), 0);
	base_tree(&g);
	struct stat before;
	assert_int_equal(stat(rootp(&g, "etc/conf"), &before), 0);
	assert_int_equal(before.st_ctim.tv_nsec, 0);
	rundir *r = NULL;
	record(&g, &r);
	assert_false(rundir_fine_times(r));
	assert_int_equal(rundir_newest(r).tv_nsec, 999999999);
	put(&g, "etc/conf", "CONF\n");
	struct timespec t[2] = { before.st_atim, before.st_mtim };
	assert_int_equal(utimensat(AT_FDCWD, rootp(&g, "etc/conf"), t, 0), 0);
	extract(&g, r);
	expect_diff(&g, "etc d\netc/conf f\n");
	snprintf(cmd, sizeof(cmd), "umount '%s'", mnt);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_nothing_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_change_right_after, setup, teardown),
		cmocka_unit_test_setup_teardown(test_directory_itself, setup, teardown),
		cmocka_unit_test_setup_teardown(test_directory_remade, setup, teardown),
		cmocka_unit_test_setup_teardown(test_whole_seconds, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

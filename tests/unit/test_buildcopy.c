#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "hoist/buildcopy.h"
#include "hoist/digest.h"
#include "hoist/dockerignore.h"
#include "hoist/error.h"
#include "hoist/fs.h"
#include "util/cleanup.h"

/* Each test works in its own temporary directory: a build context, a
 * stack of overlay lower dirs made by hand (whiteouts as 0:0 character
 * devices, opaque directories with trusted.overlay.opaque), and fresh
 * snapshot dirs to copy into.  Needs root (mknod, trusted.* xattrs,
 * chown). */

#define PREFIX "trusted.overlay."

typedef struct fx {
	char base[64];
} fx;

static int setup(void **state)
{
	if (geteuid() != 0) {
		print_message("test_buildcopy needs root (mknod, trusted xattrs)\n");
		return -1;
	}
	fx *f = calloc(1, sizeof(*f));
	snprintf(f->base, sizeof(f->base), "/tmp/hoist-bc-XXXXXX");
	if (!mkdtemp(f->base))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	hoist_fs_rm_rf(AT_FDCWD, f->base, NULL);
	free(f);
	return 0;
}

static char *pj(const char *a, const char *b)
{
	char *p = NULL;
	assert_true(asprintf(&p, "%s/%s", a, b) > 0);
	return p;
}

static char *sub(fx *f, const char *name)
{
	char *p = pj(f->base, name);
	assert_int_equal(hoist_fs_mkdir_p(AT_FDCWD, p, 0755, NULL), 0);
	return p;
}

static void parent_dirs(const char *path)
{
	_cleanup_free_ char *d = strdup(path);
	char *sl = strrchr(d, '/');
	*sl = '\0';
	assert_int_equal(hoist_fs_mkdir_p(AT_FDCWD, d, 0755, NULL), 0);
}

static void mkfile(const char *root, const char *rel, const char *content,
	mode_t mode)
{
	_cleanup_free_ char *p = pj(root, rel);
	parent_dirs(p);
	unlink(p);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	assert_int_equal(chmod(p, mode), 0);
}

static void mkdir_rel(const char *root, const char *rel, mode_t mode)
{
	_cleanup_free_ char *p = pj(root, rel);
	assert_int_equal(hoist_fs_mkdir_p(AT_FDCWD, p, 0755, NULL), 0);
	assert_int_equal(chmod(p, mode), 0);
}

static void mklink(const char *root, const char *rel, const char *target)
{
	_cleanup_free_ char *p = pj(root, rel);
	parent_dirs(p);
	assert_int_equal(symlink(target, p), 0);
}

static void mkwhiteout(const char *root, const char *rel)
{
	_cleanup_free_ char *p = pj(root, rel);
	parent_dirs(p);
	assert_int_equal(mknod(p, S_IFCHR | 0, makedev(0, 0)), 0);
}

static void mkopaque(const char *root, const char *rel)
{
	_cleanup_free_ char *p = pj(root, rel);
	assert_int_equal(setxattr(p, PREFIX "opaque", "y", 1, 0), 0);
}

static char *slurp(const char *root, const char *rel)
{
	_cleanup_free_ char *p = pj(root, rel);
	int fd = open(p, O_RDONLY | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n >= 0);
	buf[n] = '\0';
	return strdup(buf);
}

static void assert_content(const char *root, const char *rel, const char *want)
{
	_cleanup_free_ char *got = slurp(root, rel);
	if (!got)
		fail_msg("'%s/%s' missing", root, rel);
	assert_string_equal(got, want);
}

static bool exists(const char *root, const char *rel)
{
	_cleanup_free_ char *p = pj(root, rel);
	struct stat st;
	return lstat(p, &st) == 0;
}

static struct stat lst(const char *root, const char *rel)
{
	_cleanup_free_ char *p = pj(root, rel);
	struct stat st;
	if (lstat(p, &st) < 0)
		fail_msg("lstat '%s': %s", p, strerror(errno));
	return st;
}

static void set_mtime(const char *root, const char *rel, time_t t)
{
	_cleanup_free_ char *p = pj(root, rel);
	struct timespec ts[2] = { { t, 0 }, { t, 0 } };
	assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static char *new_snap(fx *f)
{
	static int n;
	char name[32];
	snprintf(name, sizeof(name), "snap%d", n++);
	return sub(f, name);
}

static void req_init(hoist_build_copy_req *r)
{
	memset(r, 0, sizeof(*r));
	r->uid = r->gid = r->chmod = -1;
}

static void names_equal(const hoist_fsview *v, const char *path,
	const char *const *want, size_t n_want)
{
	char **names = NULL;
	size_t n = 0;
	hoist_error *err = NULL;
	int rc = hoist_fsview_list(v, path, &names, &n, &err);
	if (rc < 0)
		fail_msg("list '%s': %s", path, err->msg);
	if (n != n_want) {
		for (size_t i = 0; i < n; i++)
			print_message("  got %s\n", names[i]);
		fail_msg("list '%s': %zu names, want %zu", path, n, n_want);
	}
	for (size_t i = 0; i < n; i++)
		assert_string_equal(names[i], want[i]);
	hoist_fsview_names_free(names, n);
}

static void assert_missing(const hoist_fsview *v, const char *path)
{
	struct stat st;
	hoist_error *err = NULL;
	assert_int_equal(hoist_fsview_lstat(v, path, &st, &err), -HOIST_E_NOTFOUND);
	hoist_error_free(err);
}

static char *view_read(const hoist_fsview *v, const char *path)
{
	int fd = -1;
	hoist_error *err = NULL;
	if (hoist_fsview_open(v, path, &fd, &err) < 0)
		fail_msg("open '%s': %s", path, err->msg);
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return strdup(buf);
}

/* Views. */

static void test_view_merge(void **state)
{
	fx *f = *state;
	_cleanup_free_ char *l0 = sub(f, "l0");
	_cleanup_free_ char *l1 = sub(f, "l1");
	_cleanup_free_ char *l2 = sub(f, "l2");
	mkfile(l2, "a/x", "2x", 0644);
	mkfile(l2, "a/y", "2y", 0644);
	mkfile(l2, "b/z", "2z", 0644);
	mkfile(l2, "c/old", "old", 0644);
	mkfile(l2, "d/file", "d", 0644);
	mkfile(l2, "e/deep/f", "f", 0644);
	mkfile(l1, "a/x", "1x", 0644);
	mkwhiteout(l1, "b");
	mkfile(l1, "c/new", "new", 0644);
	mkopaque(l1, "c");
	mkfile(l1, "e", "now a file", 0644);
	mkfile(l0, "a/w", "0w", 0644);
	mkfile(l0, "b/n", "0n", 0644);
	mkwhiteout(l0, "d/file");
	mklink(l0, "lnk", "/c/new");

	const char *lowers[] = { l0, l1, l2 };
	hoist_fsview *v = NULL;
	hoist_error *err = NULL;
	assert_int_equal(hoist_fsview_new_lowers(&v, lowers, 3, PREFIX, &err), 0);

	const char *root[] = { "a", "b", "c", "d", "e", "lnk" };
	names_equal(v, "/", root, 6);
	const char *a[] = { "w", "x", "y" };
	names_equal(v, "/a", a, 3);
	_cleanup_free_ char *ax = view_read(v, "/a/x");
	assert_string_equal(ax, "1x");
	/* /b was whited out in l1, then made again in l0 */
	const char *b[] = { "n" };
	names_equal(v, "/b", b, 1);
	assert_missing(v, "/b/z");
	/* opaque: l2's /c is hidden */
	const char *c[] = { "new" };
	names_equal(v, "/c", c, 1);
	assert_missing(v, "/c/old");
	names_equal(v, "/d", NULL, 0);
	assert_missing(v, "/d/file");
	/* a file in l1 hides l2's directory */
	struct stat st;
	assert_int_equal(hoist_fsview_stat(v, "/e", &st, &err), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(hoist_fsview_lstat(v, "/e/deep/f", &st, &err),
		-HOIST_E_INVALID);
	assert_non_null(strstr(err->msg, "'/e' is not a directory"));
	hoist_error_freep(&err);
	/* a symlink in one lower to a file of another */
	_cleanup_free_ char *ln = view_read(v, "/lnk");
	assert_string_equal(ln, "new");
	char *t = NULL;
	assert_int_equal(hoist_fsview_readlink(v, "/lnk", &t, &err), 0);
	assert_string_equal(t, "/c/new");
	free(t);
	assert_int_equal(hoist_fsview_lstat(v, "lnk", &st, &err), 0);
	assert_true(S_ISLNK(st.st_mode));
	hoist_fsview_free(v);

	/* FROM scratch */
	assert_int_equal(hoist_fsview_new_lowers(&v, NULL, 0, PREFIX, &err), 0);
	names_equal(v, "/", NULL, 0);
	assert_int_equal(hoist_fsview_stat(v, "/", &st, &err), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_missing(v, "/etc");
	hoist_fsview_free(v);
}

static void test_view_symlinks(void **state)
{
	fx *f = *state;
	_cleanup_free_ char *ctx = sub(f, "ctx");
	mkfile(ctx, "etc/real", "inside", 0644);
	mklink(ctx, "abs", "/etc/real");
	mklink(ctx, "sub/deeper/rel", "../../../../../etc/real");
	mklink(ctx, "up", "../../..");
	mklink(ctx, "esc", "/../../../../etc/passwd");
	mklink(ctx, "hosttmp", "/tmp");
	mklink(ctx, "loop", "loop");
	mklink(ctx, "dirlink", "sub");

	hoist_fsview *v = NULL;
	hoist_error *err = NULL;
	assert_int_equal(hoist_fsview_new_dir(&v, ctx, NULL, &err), 0);
	char *p = NULL;
	assert_int_equal(hoist_fsview_realpath(v, "/abs", &p, &err), 0);
	assert_string_equal(p, "/etc/real");
	free(p);
	assert_int_equal(hoist_fsview_realpath(v, "sub/deeper/rel", &p, &err), 0);
	assert_string_equal(p, "/etc/real");
	free(p);
	assert_int_equal(hoist_fsview_realpath(v, "/up", &p, &err), 0);
	assert_string_equal(p, "/");
	free(p);
	assert_int_equal(hoist_fsview_realpath(v, "/up/up/dirlink/deeper", &p, &err), 0);
	assert_string_equal(p, "/sub/deeper");
	free(p);
	_cleanup_free_ char *c1 = view_read(v, "/up/etc/real");
	assert_string_equal(c1, "inside");
	_cleanup_free_ char *c2 = view_read(v, "/sub/deeper/rel");
	assert_string_equal(c2, "inside");
	/* the host's /etc/passwd and /tmp are not in the view */
	struct stat st;
	assert_int_equal(hoist_fsview_stat(v, "/esc", &st, &err), -HOIST_E_NOTFOUND);
	assert_non_null(strstr(err->msg, "no such file"));
	hoist_error_freep(&err);
	assert_int_equal(hoist_fsview_stat(v, "/hosttmp", &st, &err), -HOIST_E_NOTFOUND);
	hoist_error_freep(&err);
	assert_int_equal(hoist_fsview_lstat(v, "/hosttmp", &st, &err), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(hoist_fsview_stat(v, "/loop", &st, &err), -HOIST_E_INVALID);
	assert_non_null(strstr(err->msg, "too many levels of symbolic links"));
	hoist_error_freep(&err);
	/* ".." above the root stays at the root */
	assert_int_equal(hoist_fsview_realpath(v, "/../../etc/../etc/real", &p, &err), 0);
	assert_string_equal(p, "/etc/real");
	free(p);
	int fd = -1;
	assert_int_equal(hoist_fsview_open(v, "/etc", &fd, &err), -HOIST_E_INVALID);
	hoist_error_freep(&err);
	hoist_fsview_free(v);
}

static void test_view_dockerignore(void **state)
{
	fx *f = *state;
	_cleanup_free_ char *ctx = sub(f, "ctx");
	mkfile(ctx, "app.c", "int main;", 0644);
	mkfile(ctx, "secret.txt", "s3cret", 0600);
	mkfile(ctx, "logs/a.log", "a", 0644);
	mkfile(ctx, "logs/keep.log", "k", 0644);
	mkfile(ctx, "tmp/x", "x", 0644);
	const char ign[] = "secret.txt\nlogs\n!logs/keep.log\ntmp\n";
	hoist_dockerignore *d = NULL;
	hoist_error *err = NULL;
	assert_int_equal(hoist_dockerignore_parse(&d, ".dockerignore", ign,
		strlen(ign), &err), 0);
	hoist_fsview *v = NULL;
	assert_int_equal(hoist_fsview_new_dir(&v, ctx, d, &err), 0);
	const char *root[] = { "app.c", "logs" };
	names_equal(v, "/", root, 2);
	const char *logs[] = { "keep.log" };
	names_equal(v, "/logs", logs, 1);
	assert_missing(v, "/secret.txt");
	assert_missing(v, "/tmp");
	assert_missing(v, "/logs/a.log");

	/* COPY of an ignored file is a missing file */
	_cleanup_free_ char *snap = new_snap(f);
	hoist_build_copy_req r;
	req_init(&r);
	const char *srcs[] = { "secret.txt" };
	r.src = v;
	r.sources = srcs;
	r.n_sources = 1;
	r.dest = "/x/";
	r.snapshot = snap;
	hoist_build_copy_result res;
	assert_int_equal(hoist_build_copy(&res, &r, &err), -HOIST_E_NOTFOUND);
	assert_string_equal(err->msg, "COPY failed: file not found in build context "
		"or excluded by .dockerignore: stat secret.txt: file does not exist");
	hoist_error_freep(&err);
	/* a directory copy leaves ignored files out */
	const char *dot[] = { "." };
	r.sources = dot;
	assert_int_equal(hoist_build_copy(&res, &r, &err), 0);
	assert_content(snap, "x/app.c", "int main;");
	assert_content(snap, "x/logs/keep.log", "k");
	assert_false(exists(snap, "x/logs/a.log"));
	assert_false(exists(snap, "x/secret.txt"));
	assert_false(exists(snap, "x/tmp"));
	hoist_fsview_free(v);
	hoist_dockerignore_free(d);
}

/* COPY.  A context and a target stage of one lower dir. */

typedef struct cx {
	char *ctx, *low;
	hoist_fsview *src, *target;
} cx;

static void cx_init(fx *f, cx *c)
{
	c->ctx = sub(f, "ctx");
	c->low = sub(f, "stage");
	mkfile(c->ctx, "a.txt", "A", 0644);
	mkfile(c->ctx, "b.txt", "B", 0640);
	mkfile(c->ctx, "c.md", "C", 0644);
	mkfile(c->ctx, "dir/f1", "F1", 0755);
	mkfile(c->ctx, "dir/sub/f2", "F2", 0644);
	mklink(c->ctx, "dir/sl", "f1");
	mklink(c->ctx, "lnk", "a.txt");
	mkdir_rel(c->low, "tmp", 01777);
	mkdir_rel(c->low, "app", 0750);
	_cleanup_free_ char *app = pj(c->low, "app");
	assert_int_equal(chown(app, 5, 6), 0);
	mkfile(c->low, "etc/hosts", "h", 0644);
	mkdir_rel(c->low, "usr/lib", 0755);
	mklink(c->low, "lib", "usr/lib");
	set_mtime(c->low, "tmp", 1234567);
	hoist_error *err = NULL;
	assert_int_equal(hoist_fsview_new_dir(&c->src, c->ctx, NULL, &err), 0);
	const char *lowers[] = { c->low };
	assert_int_equal(hoist_fsview_new_lowers(&c->target, lowers, 1, PREFIX,
		&err), 0);
}

static void cx_release(cx *c)
{
	hoist_fsview_free(c->src);
	hoist_fsview_free(c->target);
	free(c->ctx);
	free(c->low);
}

/* Copies srcs (NULL-terminated) to dest into a new snapshot. */
static int cp(fx *f, cx *c, hoist_build_copy_req *r, const char **srcs,
	const char *dest, char **snap, hoist_error **err)
{
	size_t n = 0;
	while (srcs[n])
		n++;
	r->src = c->src;
	r->target = c->target;
	r->sources = srcs;
	r->n_sources = n;
	r->dest = dest;
	*snap = new_snap(f);
	r->snapshot = *snap;
	hoist_build_copy_result res;
	int rc = hoist_build_copy(&res, r, err);
	if (rc == 0) {
		assert_true(res.owner_applied);
		/* the key alone agrees with the copy */
		hoist_digest k;
		hoist_error *e2 = NULL;
		assert_int_equal(hoist_build_copy_key_only(&k, r, &e2), 0);
		assert_string_equal(k.str, res.key.str);
	}
	return rc;
}

static void test_copy_files(void **state)
{
	fx *f = *state;
	cx c = { 0 };
	cx_init(f, &c);
	hoist_build_copy_req r;
	hoist_error *err = NULL;
	char *s = NULL;

	/* file to file, missing parents made 0755 */
	req_init(&r);
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "a.txt", NULL },
		"/dst/b.txt", &s, &err), 0);
	assert_content(s, "dst/b.txt", "A");
	assert_int_equal(lst(s, "dst").st_mode & 07777, 0755);
	assert_int_equal(lst(s, "dst/b.txt").st_mode & 07777, 0644);
	assert_false(exists(s, "tmp"));
	free(s);

	/* file into dir/ */
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "b.txt", NULL },
		"/newdir/", &s, &err), 0);
	assert_content(s, "newdir/b.txt", "B");
	assert_int_equal(lst(s, "newdir/b.txt").st_mode & 07777, 0640);
	free(s);

	/* file into an existing directory without '/': it keeps its metadata */
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "a.txt", NULL }, "/app",
		&s, &err), 0);
	assert_content(s, "app/a.txt", "A");
	struct stat st = lst(s, "app");
	assert_int_equal(st.st_mode & 07777, 0750);
	assert_int_equal(st.st_uid, 5);
	assert_int_equal(st.st_gid, 6);
	assert_int_equal(lst(s, "app/a.txt").st_uid, 0);
	free(s);

	/* owners in a context do not count */
	_cleanup_free_ char *owned = pj(c.ctx, "b.txt");
	assert_int_equal(chown(owned, 1234, 1234), 0);
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "b.txt", NULL }, "/o/",
		&s, &err), 0);
	assert_int_equal(lst(s, "o/b.txt").st_uid, 0);
	assert_int_equal(lst(s, "o/b.txt").st_gid, 0);
	free(s);

	/* into /tmp/x: /tmp stays 1777 with its mtime */
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "a.txt", NULL },
		"/tmp/x", &s, &err), 0);
	assert_content(s, "tmp/x", "A");
	st = lst(s, "tmp");
	assert_int_equal(st.st_mode & 07777, 01777);
	assert_int_equal(st.st_mtime, 1234567);
	free(s);

	/* a destination through a symlink of the stage */
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "a.txt", NULL },
		"/lib/", &s, &err), 0);
	assert_content(s, "usr/lib/a.txt", "A");
	assert_false(exists(s, "lib"));
	free(s);

	/* relative destination: from WORKDIR */
	r.workdir = "/app";
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "a.txt", NULL }, "rel/",
		&s, &err), 0);
	assert_content(s, "app/rel/a.txt", "A");
	free(s);
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "a.txt", NULL }, ".",
		&s, &err), 0);
	assert_content(s, "app/a.txt", "A");
	free(s);
	r.workdir = NULL;

	/* a symlink source copies what it points to, under its own name;
	 * "../" cannot leave the context */
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "../../lnk", NULL },
		"/s/", &s, &err), 0);
	assert_true(S_ISREG(lst(s, "s/lnk").st_mode));
	assert_content(s, "s/lnk", "A");
	free(s);

	/* a missing source */
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "missing.txt", NULL },
		"/x/", &s, &err), -HOIST_E_NOTFOUND);
	assert_string_equal(err->msg, "COPY failed: file not found in build "
		"context or excluded by .dockerignore: stat missing.txt: file does "
		"not exist");
	hoist_error_freep(&err);
	free(s);

	/* a whiteout device in a context would delete instead of copy */
	mkwhiteout(c.ctx, "wh");
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "wh", NULL }, "/x/",
		&s, &err), -HOIST_E_UNSUPPORTED);
	assert_non_null(strstr(err->msg, "overlay whiteout"));
	hoist_error_freep(&err);
	free(s);

	/* a file over a directory of the stage */
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "dir", NULL },
		"/etc/hosts", &s, &err), -HOIST_E_EXISTS);
	assert_non_null(strstr(err->msg, "cannot copy to non-directory"));
	hoist_error_freep(&err);
	free(s);
	cx_release(&c);
}

static void test_copy_dirs_and_many(void **state)
{
	fx *f = *state;
	cx c = { 0 };
	cx_init(f, &c);
	/* a hard link inside the copied directory */
	_cleanup_free_ char *f1 = pj(c.ctx, "dir/f1");
	_cleanup_free_ char *hl = pj(c.ctx, "dir/hl");
	assert_int_equal(link(f1, hl), 0);
	hoist_build_copy_req r;
	hoist_error *err = NULL;
	char *s = NULL;
	req_init(&r);

	/* the contents of a directory, not the directory */
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "dir", NULL }, "/out",
		&s, &err), 0);
	assert_content(s, "out/f1", "F1");
	assert_content(s, "out/sub/f2", "F2");
	assert_false(exists(s, "out/dir"));
	assert_int_equal(lst(s, "out/f1").st_mode & 07777, 0755);
	assert_int_equal(lst(s, "out").st_mode & 07777, 0755);
	struct stat sl = lst(s, "out/sl");
	assert_true(S_ISLNK(sl.st_mode));
	_cleanup_free_ char *slp = pj(s, "out/sl");
	char tgt[64] = "";
	assert_int_equal(readlink(slp, tgt, sizeof(tgt)), 2);
	assert_string_equal(tgt, "f1");
	assert_int_equal(lst(s, "out/hl").st_ino, lst(s, "out/f1").st_ino);
	free(s);

	/* several sources to a directory */
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "a.txt", "b.txt", "dir/sub",
		NULL }, "/m/", &s, &err), 0);
	assert_content(s, "m/a.txt", "A");
	assert_content(s, "m/b.txt", "B");
	assert_content(s, "m/f2", "F2");
	free(s);
	/* ... to an existing directory without '/' */
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "a.txt", "b.txt", NULL },
		"/app", &s, &err), 0);
	assert_content(s, "app/b.txt", "B");
	free(s);
	/* ... but not to a file */
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "a.txt", "b.txt", NULL },
		"/m", &s, &err), -HOIST_E_INVALID);
	assert_string_equal(err->msg, "When using COPY with more than one source "
		"file, the destination must be a directory and end with a /");
	hoist_error_freep(&err);
	free(s);

	/* patterns */
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "*.txt", NULL }, "/g/",
		&s, &err), 0);
	assert_content(s, "g/a.txt", "A");
	assert_content(s, "g/b.txt", "B");
	assert_false(exists(s, "g/c.md"));
	free(s);
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "*.txt", NULL }, "/g",
		&s, &err), -HOIST_E_INVALID);
	hoist_error_freep(&err);
	free(s);
	/* one match is one source */
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "?.md", NULL }, "/one.md",
		&s, &err), 0);
	assert_content(s, "one.md", "C");
	free(s);
	/* a matched directory copies its contents */
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "dir/*", NULL }, "/h/",
		&s, &err), 0);
	assert_content(s, "h/f1", "F1");
	assert_content(s, "h/f2", "F2");
	assert_false(exists(s, "h/sub"));
	/* a match that is a symlink is followed, like any source */
	assert_true(S_ISREG(lst(s, "h/sl").st_mode));
	assert_content(s, "h/sl", "F1");
	free(s);
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "[ab].t?t", "d*/s*/f[0-9]",
		NULL }, "/k/", &s, &err), 0);
	assert_content(s, "k/a.txt", "A");
	assert_content(s, "k/f2", "F2");
	free(s);
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "*.none", NULL }, "/z/",
		&s, &err), -HOIST_E_NOTFOUND);
	assert_non_null(strstr(err->msg, "stat *.none"));
	hoist_error_freep(&err);
	free(s);
	r.allow_empty_glob = true;
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "*.none", NULL }, "/z/",
		&s, &err), 0);
	assert_false(exists(s, "z"));
	free(s);
	r.allow_empty_glob = false;
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "[a-", NULL }, "/z/",
		&s, &err), -HOIST_E_INVALID);
	hoist_error_freep(&err);
	free(s);

	/* --exclude, in a directory and among a pattern's matches */
	const char *ex[] = { "*.txt", "dir/sub" };
	r.excludes = ex;
	r.n_excludes = 2;
	assert_int_equal(cp(f, &c, &r, (const char *[]){ ".", NULL }, "/e/",
		&s, &err), 0);
	assert_content(s, "e/c.md", "C");
	assert_content(s, "e/dir/f1", "F1");
	assert_false(exists(s, "e/a.txt"));
	assert_false(exists(s, "e/dir/sub"));
	free(s);
	const char *ex2[] = { "b.txt" };
	r.excludes = ex2;
	r.n_excludes = 1;
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "*.txt", NULL }, "/e/",
		&s, &err), 0);
	assert_content(s, "e/a.txt", "A");
	assert_false(exists(s, "e/b.txt"));
	free(s);
	r.excludes = NULL;
	r.n_excludes = 0;

	/* a later source replaces an earlier one's file */
	mkfile(c.ctx, "other/a.txt", "A2", 0644);
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "a.txt", "other", NULL },
		"/r/", &s, &err), 0);
	assert_content(s, "r/a.txt", "A2");
	free(s);
	/* ... but a file never replaces a directory */
	mkfile(c.ctx, "other2/f1/x", "x", 0644);
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "other2", "dir", NULL },
		"/r/", &s, &err), -HOIST_E_EXISTS);
	assert_non_null(strstr(err->msg, "cannot replace directory '/r/f1'"));
	hoist_error_freep(&err);
	free(s);
	cx_release(&c);
}

static void test_copy_chmod_chown(void **state)
{
	fx *f = *state;
	cx c = { 0 };
	cx_init(f, &c);
	hoist_build_copy_req r;
	hoist_error *err = NULL;
	char *s = NULL;
	req_init(&r);
	r.chmod = 0600;
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "a.txt", "dir", NULL },
		"/cm/", &s, &err), 0);
	assert_int_equal(lst(s, "cm/a.txt").st_mode & 07777, 0600);
	assert_int_equal(lst(s, "cm/f1").st_mode & 07777, 0600);
	assert_int_equal(lst(s, "cm/sub").st_mode & 07777, 0600);
	assert_true(S_ISLNK(lst(s, "cm/sl").st_mode));
	/* made for the destination, not copied: 0755 */
	assert_int_equal(lst(s, "cm").st_mode & 07777, 0755);
	free(s);

	req_init(&r);
	r.uid = 1000;
	r.gid = 1001;
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "a.txt", "dir", NULL },
		"/tmp/new/", &s, &err), 0);
	struct stat st = lst(s, "tmp/new/a.txt");
	assert_int_equal(st.st_uid, 1000);
	assert_int_equal(st.st_gid, 1001);
	st = lst(s, "tmp/new/sl");
	assert_int_equal(st.st_uid, 1000);
	st = lst(s, "tmp/new/sub/f2");
	assert_int_equal(st.st_gid, 1001);
	st = lst(s, "tmp/new");
	assert_int_equal(st.st_uid, 1000);
	assert_int_equal(st.st_mode & 07777, 0755);
	st = lst(s, "tmp");
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_mode & 07777, 01777);
	free(s);

	/* a uid alone is also the gid */
	req_init(&r);
	r.uid = 42;
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "a.txt", NULL }, "/u",
		&s, &err), 0);
	assert_int_equal(lst(s, "u").st_gid, 42);
	free(s);
	cx_release(&c);
}

static void test_copy_from_stage(void **state)
{
	fx *f = *state;
	cx c = { 0 };
	cx_init(f, &c);
	_cleanup_free_ char *up = sub(f, "up");
	_cleanup_free_ char *down = sub(f, "down");
	mkfile(down, "build/out/app", "binary", 04755);
	mkfile(down, "build/out/gone", "x", 0644);
	mkfile(down, "build/old/y", "y", 0644);
	_cleanup_free_ char *app = pj(down, "build/out/app");
	assert_int_equal(chown(app, 7, 8), 0);
	assert_int_equal(chmod(app, 04755), 0);
	assert_int_equal(setxattr(app, "user.note", "hi", 2, 0), 0);
	mkwhiteout(up, "build/out/gone");
	mkfile(up, "build/old/z", "z", 0644);
	mkopaque(up, "build/old");
	_cleanup_free_ char *outdir = pj(up, "build/out");
	assert_int_equal(setxattr(outdir, PREFIX "origin", "junk", 4, 0), 0);
	const char *lowers[] = { up, down };
	hoist_fsview *stage = NULL;
	hoist_error *err = NULL;
	assert_int_equal(hoist_fsview_new_lowers(&stage, lowers, 2, PREFIX, &err), 0);
	hoist_fsview *ctxv = c.src;
	c.src = stage;

	hoist_build_copy_req r;
	char *s = NULL;
	req_init(&r);
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "/build", NULL }, "/opt/",
		&s, &err), 0);
	struct stat st = lst(s, "opt/out/app");
	assert_int_equal(st.st_uid, 7);
	assert_int_equal(st.st_gid, 8);
	assert_int_equal(st.st_mode & 07777, 04755);
	char val[8] = "";
	_cleanup_free_ char *sapp = pj(s, "opt/out/app");
	assert_int_equal(getxattr(sapp, "user.note", val, sizeof(val)), 2);
	_cleanup_free_ char *sout = pj(s, "opt/out");
	assert_true(getxattr(sout, PREFIX "origin", val, sizeof(val)) < 0);
	assert_false(exists(s, "opt/out/gone"));
	assert_false(exists(s, "opt/old/y"));
	assert_content(s, "opt/old/z", "z");
	free(s);
	/* not found in a stage says so */
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "/nope", NULL }, "/opt/",
		&s, &err), -HOIST_E_NOTFOUND);
	assert_string_equal(err->msg, "COPY failed: file not found in source "
		"stage: stat /nope: file does not exist");
	hoist_error_freep(&err);
	free(s);
	/* --chown overrides the stage's owners */
	r.uid = r.gid = 9;
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "/build/out/app", NULL },
		"/bin/", &s, &err), 0);
	assert_int_equal(lst(s, "bin/app").st_uid, 9);
	free(s);
	hoist_fsview_free(stage);
	c.src = ctxv;
	cx_release(&c);
}

static void run_cmd(const char *cmd)
{
	int st = system(cmd);
	if (st != 0)
		fail_msg("'%s' failed: %d", cmd, st);
}

static void test_add_archive(void **state)
{
	fx *f = *state;
	cx c = { 0 };
	cx_init(f, &c);
	_cleanup_free_ char *tree = sub(f, "tree");
	mkfile(tree, "pkg/hello.txt", "hello", 0644);
	mkfile(tree, "pkg/bin/tool", "#!/bin/sh\n", 0755);
	_cleanup_free_ char *cmd = NULL;
	assert_true(asprintf(&cmd, "tar -C %s --owner=3 --group=4 -czf %s/app.tar.gz pkg"
		" && tar -C %s -cf %s/plain.tar pkg", tree, c.ctx, tree, c.ctx) > 0);
	run_cmd(cmd);

	hoist_build_copy_req r;
	hoist_error *err = NULL;
	char *s = NULL;
	req_init(&r);
	r.is_add = true;
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "app.tar.gz", NULL }, "/x",
		&s, &err), 0);
	assert_content(s, "x/pkg/hello.txt", "hello");
	assert_int_equal(lst(s, "x/pkg/bin/tool").st_mode & 07777, 0755);
	assert_int_equal(lst(s, "x/pkg/hello.txt").st_uid, 3);
	assert_false(exists(s, "x/app.tar.gz"));
	free(s);
	/* a plain tar too; a file that is no archive is copied; --chown
	 * overrides the tar's owners */
	r.uid = r.gid = 11;
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "plain.tar", "a.txt", NULL },
		"/y/", &s, &err), 0);
	assert_content(s, "y/pkg/hello.txt", "hello");
	assert_int_equal(lst(s, "y/pkg/hello.txt").st_uid, 11);
	assert_int_equal(lst(s, "y/pkg/bin/tool").st_mode & 07777, 0755);
	assert_content(s, "y/a.txt", "A");
	free(s);
	/* COPY does not extract */
	req_init(&r);
	assert_int_equal(cp(f, &c, &r, (const char *[]){ "app.tar.gz", NULL }, "/z/",
		&s, &err), 0);
	assert_true(S_ISREG(lst(s, "z/app.tar.gz").st_mode));
	free(s);
	cx_release(&c);
}

/* A python3 http.server on 127.0.0.1 for the URL tests. */
static pid_t start_http(const char *dir, int *port)
{
	int sfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t al = sizeof(a);
	assert_int_equal(bind(sfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(sfd, (struct sockaddr *)&a, &al), 0);
	*port = ntohs(a.sin_port);
	close(sfd);
	char ports[16];
	snprintf(ports, sizeof(ports), "%d", *port);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);
		dup2(nul, 1);
		dup2(nul, 2);
		execlp("python3", "python3", "-m", "http.server", "-b", "127.0.0.1",
			"-d", dir, ports, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100; i++) {
		int t = socket(AF_INET, SOCK_STREAM, 0);
		a.sin_port = htons((uint16_t)*port);
		int ok = connect(t, (struct sockaddr *)&a, sizeof(a));
		close(t);
		if (ok == 0)
			return pid;
		usleep(50000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	fail_msg("http.server did not start");
	return -1;
}

static void test_add_url(void **state)
{
	fx *f = *state;
	cx c = { 0 };
	cx_init(f, &c);
	_cleanup_free_ char *www = sub(f, "www");
	mkfile(www, "files/tool.sh", "echo hi\n", 0644);
	int port = 0;
	pid_t pid = start_http(www, &port);
	char url[128], url2[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/files/tool.sh", port);
	snprintf(url2, sizeof(url2), "http://127.0.0.1:%d/files/nothere", port);
	hoist_digest d;
	assert_int_equal(hoist_digest_of(&d, HOIST_DIGEST_SHA256, "echo hi\n", 8,
		NULL), 0);

	hoist_build_copy_req r;
	hoist_error *err = NULL;
	char *s = NULL;
	req_init(&r);
	r.is_add = true;
	r.checksum = d.str;
	assert_int_equal(cp(f, &c, &r, (const char *[]){ url, NULL }, "/dl/", &s,
		&err), 0);
	assert_content(s, "dl/tool.sh", "echo hi\n");
	struct stat st = lst(s, "dl/tool.sh");
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_mtime, 0);
	free(s);
	/* to a file name, with --chmod, without checksum */
	r.checksum = NULL;
	r.chmod = 0755;
	assert_int_equal(cp(f, &c, &r, (const char *[]){ url, NULL },
		"/usr/bin/tool", &s, &err), 0);
	assert_content(s, "usr/bin/tool", "echo hi\n");
	assert_int_equal(lst(s, "usr/bin/tool").st_mode & 07777, 0755);
	free(s);
	r.chmod = -1;
	/* a wrong checksum leaves nothing */
	r.checksum = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
	char *s2 = new_snap(f);
	r.snapshot = s2;
	r.sources = (const char *[]){ url };
	r.dest = "/dl/";
	hoist_build_copy_result res;
	assert_int_equal(hoist_build_copy(&res, &r, &err), -HOIST_E_DIGEST);
	assert_non_null(strstr(err->msg, "checksum mismatch"));
	hoist_error_freep(&err);
	assert_false(exists(s2, "dl/tool.sh"));
	free(s2);
	r.checksum = NULL;
	/* 404 */
	assert_int_equal(cp(f, &c, &r, (const char *[]){ url2, NULL }, "/dl/", &s,
		&err), -HOIST_E_NOTFOUND);
	assert_non_null(strstr(err->msg, "404"));
	hoist_error_freep(&err);
	free(s);
	/* COPY of a URL */
	r.is_add = false;
	assert_int_equal(cp(f, &c, &r, (const char *[]){ url, NULL }, "/dl/", &s,
		&err), -HOIST_E_INVALID);
	hoist_error_freep(&err);
	free(s);
	/* too large */
	r.is_add = true;
	r.max_download = 4;
	assert_int_equal(cp(f, &c, &r, (const char *[]){ url, NULL }, "/dl/", &s,
		&err), -HOIST_E_LIMIT);
	hoist_error_freep(&err);
	free(s);

	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	cx_release(&c);
}

static void test_inline(void **state)
{
	fx *f = *state;
	cx c = { 0 };
	cx_init(f, &c);
	hoist_build_copy_req r;
	hoist_error *err = NULL;
	char *s = new_snap(f);
	req_init(&r);
	hoist_build_copy_inline in = { "run.sh", "echo here\n", 10 };
	r.inlines = &in;
	r.n_inlines = 1;
	r.dest = "/scripts/";
	r.target = c.target;
	r.snapshot = s;
	hoist_build_copy_result res;
	assert_int_equal(hoist_build_copy(&res, &r, &err), 0);
	assert_content(s, "scripts/run.sh", "echo here\n");
	assert_int_equal(lst(s, "scripts/run.sh").st_mode & 07777, 0644);
	assert_true(res.bytes == 10);
	free(s);
	cx_release(&c);
}

/* The content key. */

static void make_tree(const char *root, time_t t)
{
	mkfile(root, "src/main.c", "int main(void) { return 0; }\n", 0644);
	mkfile(root, "src/util/u.c", "void u(void) {}\n", 0644);
	mkfile(root, "run.sh", "#!/bin/sh\n", 0755);
	mklink(root, "src/link", "main.c");
	mkdir_rel(root, "empty", 0755);
	const char *all[] = { "src/main.c", "src/util/u.c", "run.sh", "src/link",
		"empty", "src/util", "src", "." };
	for (size_t i = 0; i < sizeof(all) / sizeof(*all); i++)
		set_mtime(root, all[i], t + (time_t)i * 77);
}

static void key_of(const char *ctx, int64_t uid, int64_t chmod_, char *out)
{
	hoist_fsview *v = NULL;
	hoist_error *err = NULL;
	assert_int_equal(hoist_fsview_new_dir(&v, ctx, NULL, &err), 0);
	hoist_build_copy_req r;
	req_init(&r);
	const char *srcs[] = { "." };
	r.src = v;
	r.sources = srcs;
	r.n_sources = 1;
	r.dest = "/app/";
	r.uid = uid;
	r.chmod = chmod_;
	hoist_digest k;
	if (hoist_build_copy_key_only(&k, &r, &err) < 0)
		fail_msg("key: %s", err->msg);
	memcpy(out, k.str, sizeof(k.str));
	hoist_fsview_free(v);
}

static void test_content_key(void **state)
{
	fx *f = *state;
	_cleanup_free_ char *t1 = sub(f, "checkout-one");
	_cleanup_free_ char *t2 = sub(f, "somewhere/else/checkout-two");
	make_tree(t1, 1000000);
	make_tree(t2, 1700000000);
	char k1[HOIST_DIGEST_STRMAX], k2[HOIST_DIGEST_STRMAX], k3[HOIST_DIGEST_STRMAX];
	key_of(t1, -1, -1, k1);
	key_of(t2, -1, -1, k2);
	assert_string_equal(k1, k2);
	assert_true(!strncmp(k1, "sha256:", 7));

	/* the key of the real copy is the same */
	hoist_fsview *v = NULL;
	hoist_error *err = NULL;
	assert_int_equal(hoist_fsview_new_dir(&v, t1, NULL, &err), 0);
	hoist_build_copy_req r;
	req_init(&r);
	const char *srcs[] = { "." };
	r.src = v;
	r.sources = srcs;
	r.n_sources = 1;
	r.dest = "/app/";
	_cleanup_free_ char *s = new_snap(f);
	r.snapshot = s;
	hoist_build_copy_result res;
	assert_int_equal(hoist_build_copy(&res, &r, &err), 0);
	assert_string_equal(res.key.str, k1);
	assert_content(s, "app/src/util/u.c", "void u(void) {}\n");
	hoist_fsview_free(v);

	/* one byte */
	mkfile(t2, "src/util/u.c", "void u(void) {}\r", 0644);
	key_of(t2, -1, -1, k3);
	assert_string_not_equal(k3, k1);
	mkfile(t2, "src/util/u.c", "void u(void) {}\n", 0644);
	key_of(t2, -1, -1, k3);
	assert_string_equal(k3, k1);
	/* a mode */
	_cleanup_free_ char *rs = pj(t2, "run.sh");
	assert_int_equal(chmod(rs, 0700), 0);
	key_of(t2, -1, -1, k3);
	assert_string_not_equal(k3, k1);
	assert_int_equal(chmod(rs, 0755), 0);
	/* a symlink target */
	_cleanup_free_ char *ln = pj(t2, "src/link");
	unlink(ln);
	assert_int_equal(symlink("util/u.c", ln), 0);
	key_of(t2, -1, -1, k3);
	assert_string_not_equal(k3, k1);
	unlink(ln);
	assert_int_equal(symlink("main.c", ln), 0);
	key_of(t2, -1, -1, k3);
	assert_string_equal(k3, k1);
	/* --chown, --chmod */
	key_of(t2, 1000, -1, k3);
	assert_string_not_equal(k3, k1);
	key_of(t2, -1, 0644, k3);
	assert_string_not_equal(k3, k1);
	/* a file more */
	mkfile(t2, "new", "", 0644);
	key_of(t2, -1, -1, k3);
	assert_string_not_equal(k3, k1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_view_merge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_view_symlinks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_view_dockerignore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_dirs_and_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_chmod_chown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_from_stage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_archive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_url, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_content_key, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The sandbox, for real: every test builds a root filesystem from
 * busybox-static and runs commands in it, first as root, then as an
 * unprivileged user made for the purpose (rootless overlay with
 * userxattr, single-id mapping and newuidmap/newgidmap with subordinate
 * ids).  Needs root and user namespaces; skips (77) without the latter. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "hoist/buf.h"
#include "hoist/ctx.h"
#include "hoist/error.h"
#include "hoist/fs.h"
#include "hoist/sandbox.h"
#include "sandbox/internal.h"
#include "util/cleanup.h"

#define BUSYBOX "/bin/busybox"
#define USER_SINGLE "hoisttest"
#define USER_SUBIDS "hoisttest2"

static const char *const applets[] = {
	"sh", "echo", "cat", "id", "ls", "touch", "rm", "mkdir", "hostname",
	"mount", "grep", "env", "pwd", "stat", "sleep", "chown", "wc", "true",
	"ps", "readlink",
};

static const char passwd_file[] =
	"root:x:0:0:root:/root:/bin/sh\n"
	"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	"app:x:1234:2345:app:/home/app:/bin/sh\n";
static const char group_file[] =
	"root:x:0:\n"
	"nogroup:x:65534:\n"
	"appgrp:x:2345:\n"
	"extra:x:3456:app,other\n"
	"more:x:4567:other,app\n"
	"unrelated:x:5678:other\n";

/* ---- helpers -------------------------------------------------------- */

static void write_file(const char *path, const char *data, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	size_t n = strlen(data);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static char *read_path(const char *path)
{
	hoist_buf b = HOIST_BUF_INIT(1 << 20);
	if (hoist_fs_read_file(AT_FDCWD, path, &b, NULL) < 0) {
		hoist_buf_release(&b);
		return NULL;
	}
	char *s = hoist_buf_steal(&b, NULL);
	return s ? s : strdup("");
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(in >= 0 && out >= 0);
	char buf[65536];
	ssize_t k;
	while ((k = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)k), k);
	assert_int_equal(k, 0);
	close(in);
	close(out);
}

static char *pathjoin(const char *a, const char *b)
{
	char *s = NULL;
	assert_true(asprintf(&s, "%s/%s", a, b) > 0);
	return s;
}

static void chown_tree(const char *path, uid_t uid, gid_t gid)
{
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(lchown(path, uid, gid), 0);
	if (!S_ISDIR(st.st_mode))
		return;
	_cleanup_closedir_ DIR *d = opendir(path);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		_cleanup_free_ char *c = pathjoin(path, de->d_name);
		chown_tree(c, uid, gid);
	}
}

/* A busybox root in dir: /bin with applet links, /etc/passwd, group and a
 * file /etc/mark.  No /proc, /dev, /sys, /etc/resolv.conf, /etc/hosts: the
 * sandbox has to make those mount points. */
static void make_rootfs(const char *dir)
{
	_cleanup_free_ char *bin = pathjoin(dir, "bin");
	_cleanup_free_ char *etc = pathjoin(dir, "etc");
	_cleanup_free_ char *tmp = pathjoin(dir, "tmp");
	assert_int_equal(mkdir(bin, 0755), 0);
	assert_int_equal(mkdir(etc, 0755), 0);
	assert_int_equal(mkdir(tmp, 01777), 0);
	assert_int_equal(chmod(tmp, 01777), 0);
	_cleanup_free_ char *bb = pathjoin(bin, "busybox");
	copy_file(BUSYBOX, bb, 0755);
	for (size_t i = 0; i < HOIST_ARRAY_SIZE(applets); i++) {
		_cleanup_free_ char *l = pathjoin(bin, applets[i]);
		assert_int_equal(symlink("busybox", l), 0);
	}
	_cleanup_free_ char *pw = pathjoin(etc, "passwd");
	_cleanup_free_ char *gr = pathjoin(etc, "group");
	_cleanup_free_ char *mark = pathjoin(etc, "mark");
	write_file(pw, passwd_file, 0644);
	write_file(gr, group_file, 0644);
	write_file(mark, "mark\n", 0644);
}

typedef struct fx {
	char *tmp;
	char *lower;
	char *upper;
	char *work;
	char *host; /* scratch for host-side files (caches, secrets) */
} fx;

static int fx_setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	char tmpl[] = "/tmp/hoist-sbx-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	assert_int_equal(chmod(tmpl, 0755), 0);
	f->tmp = strdup(tmpl);
	f->lower = pathjoin(f->tmp, "lower");
	f->upper = pathjoin(f->tmp, "upper");
	f->work = pathjoin(f->tmp, "work");
	f->host = pathjoin(f->tmp, "host");
	assert_int_equal(mkdir(f->lower, 0755), 0);
	assert_int_equal(mkdir(f->upper, 0755), 0);
	assert_int_equal(mkdir(f->work, 0755), 0);
	assert_int_equal(mkdir(f->host, 0755), 0);
	make_rootfs(f->lower);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	fx *f = *state;
	hoist_error *err = NULL;
	if (hoist_fs_rm_rf(AT_FDCWD, f->tmp, &err) < 0) {
		print_error("rm -rf '%s': %s\n", f->tmp, err->msg);
		hoist_error_free(err);
	}
	free(f->tmp);
	free(f->lower);
	free(f->upper);
	free(f->work);
	free(f->host);
	free(f);
	return 0;
}

/* Options for the overlay of fx with the given command. */
static void fx_opts(const fx *f, hoist_sandbox_opts *o, const char *const *argv,
	const char *const *lowers)
{
	hoist_sandbox_opts_init(o);
	o->lowers = lowers;
	o->n_lowers = 1;
	o->upper = f->upper;
	o->work = f->work;
	o->argv = argv;
	static const char *const env[] = { "PATH=/bin", NULL };
	o->env = env;
	o->stdin_fd = -1;
}

typedef struct result {
	int rc;
	int status;
	char out[8192];
	char errout[8192];
	char msg[1024];
} result;

static void drain(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	for (;;) {
		ssize_t k = read(fd, buf + n, cap - 1 - n);
		if (k <= 0)
			break;
		n += (size_t)k;
		if (n == cap - 1)
			break;
	}
	buf[n] = '\0';
}

/* Runs o with stdout and stderr captured (the outputs are small: they fit
 * in the pipes while the command runs). */
static void run(hoist_sandbox_opts *o, result *res)
{
	int out[2], er[2];
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(er, O_CLOEXEC), 0);
	o->stdout_fd = out[1];
	o->stderr_fd = er[1];
	hoist_error *err = NULL;
	memset(res, 0, sizeof(*res));
	res->rc = hoist_sandbox_run(o, &res->status, &err);
	close(out[1]);
	close(er[1]);
	drain(out[0], res->out, sizeof(res->out));
	drain(er[0], res->errout, sizeof(res->errout));
	close(out[0]);
	close(er[0]);
	if (err)
		snprintf(res->msg, sizeof(res->msg), "%s", err->msg);
	hoist_error_free(err);
}

static void expect_ok(const result *r, int status, const char *out)
{
	if (r->rc != 0 || r->status != status
		|| (out && strcmp(r->out, out) != 0))
		print_error("rc %d status %d msg '%s'\nstdout '%s'\nstderr '%s'\n",
			r->rc, r->status, r->msg, r->out, r->errout);
	assert_int_equal(r->rc, 0);
	assert_int_equal(r->status, status);
	if (out)
		assert_string_equal(r->out, out);
}

/* Names in dir (recursively, "a", "a/b"), sorted, one per line. */
static void list_tree_into(const char *root, const char *sub, hoist_buf *b)
{
	_cleanup_free_ char *path = sub[0] ? pathjoin(root, sub) : strdup(root);
	_cleanup_closedir_ DIR *d = opendir(path);
	if (!d)
		return;
	char *names[256];
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < 256) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		names[n++] = strdup(de->d_name);
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(names[j], names[i]) < 0) {
				char *t = names[i];
				names[i] = names[j];
				names[j] = t;
			}
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *rel = sub[0] ? pathjoin(sub, names[i])
						  : strdup(names[i]);
		assert_int_equal(hoist_buf_appendf(b, NULL, "%s\n", rel), 0);
		struct stat st;
		_cleanup_free_ char *full = pathjoin(root, rel);
		if (lstat(full, &st) == 0 && S_ISDIR(st.st_mode))
			list_tree_into(root, rel, b);
		free(names[i]);
	}
}

static char *list_tree(const char *root)
{
	hoist_buf b = HOIST_BUF_INIT(1 << 20);
	list_tree_into(root, "", &b);
	char *s = hoist_buf_steal(&b, NULL);
	return s ? s : strdup("");
}

static void expect_tree(const char *root, const char *want)
{
	_cleanup_free_ char *got = list_tree(root);
	if (strcmp(got, want) != 0)
		print_error("tree of '%s':\n%s--- want:\n%s", root, got, want);
	assert_string_equal(got, want);
}

#define ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* ---- as root ------------------------------------------------------- */

static void test_echo(void **state)
{
	fx *f = *state;
	const char *lowers[] = { f->lower };
	hoist_sandbox_opts o;
	fx_opts(f, &o, ARGV("echo", "hi"), lowers);
	result r;
	run(&o, &r);
	expect_ok(&r, 0, "hi\n");
	/* Nothing of the sandbox's mount points in the diff. */
	expect_tree(f->upper, "");
}

/* An overlay the kernel refuses (injected): HOIST_E_UNSUPPORTED, nothing
 * ran. */
static void test_overlay_refused(void **state)
{
	fx *f = *state;
	const char *lowers[] = { f->lower };
	hoist_sandbox_opts o;
	fx_opts(f, &o, ARGV("touch", "/ran"), lowers);
	setenv("HOIST_SANDBOX_TEST_OVERLAY_ERRNO", "1", 1);
	result r;
	run(&o, &r);
	unsetenv("HOIST_SANDBOX_TEST_OVERLAY_ERRNO");
	assert_int_equal(r.rc, -HOIST_E_UNSUPPORTED);
	assert_non_null(strstr(r.msg, "sandbox: mount read-only overlay"));
	assert_non_null(strstr(r.msg, "Operation not permitted"));
	expect_tree(f->upper, "");
}

static void test_exit_status(void **state)
{
	fx *f = *state;
	const char *lowers[] = { f->lower };
	hoist_sandbox_opts o;
	fx_opts(f, &o, ARGV("sh", "-c", "exit 3"), lowers);
	result r;
	run(&o, &r);
	expect_ok(&r, 3, "");
	/* (Killed by a signal gives 128 + N: see test_signals; the command
	 * is pid 1 and cannot be killed from inside.) */
	fx_opts(f, &o, ARGV("sh", "-c", "kill -9 $$; echo survived"), lowers);
	run(&o, &r);
	expect_ok(&r, 0, "survived\n");
}

static void test_not_found(void **state)
{
	fx *f = *state;
	const char *lowers[] = { f->lower };
	hoist_sandbox_opts o;
	fx_opts(f, &o, ARGV("nosuchcmd", "x"), lowers);
	result r;
	run(&o, &r);
	assert_int_equal(r.rc, -HOIST_E_IO);
	assert_int_equal(r.status, -1);
	assert_string_equal(r.msg, "sandbox: exec 'nosuchcmd': executable file "
		"not found in $PATH");
	/* With a path: the errno of execve. */
	fx_opts(f, &o, ARGV("/bin/nope"), lowers);
	run(&o, &r);
	assert_int_equal(r.rc, -HOIST_E_IO);
	assert_string_equal(r.msg, "sandbox: exec '/bin/nope': No such file or directory");
	/* A directory in PATH order is skipped, a non-executable file is
	 * EACCES. */
	fx_opts(f, &o, ARGV("mark"), lowers);
	static const char *const env[] = { "PATH=/etc", NULL };
	o.env = env;
	run(&o, &r);
	assert_int_equal(r.rc, -HOIST_E_IO);
	assert_string_equal(r.msg, "sandbox: exec 'mark': Permission denied");
}

static void test_overlay_diff(void **state)
{
	fx *f = *state;
	const char *lowers[] = { f->lower };
	_cleanup_free_ char *before = list_tree(f->lower);
	hoist_sandbox_opts o;
	fx_opts(f, &o, ARGV("sh", "-c", "touch /new && rm /etc/mark && mkdir /d "
		"&& echo x > /d/f"), lowers);
	result r;
	run(&o, &r);
	expect_ok(&r, 0, "");
	expect_tree(f->upper, "d\nd/f\netc\netc/mark\nnew\n");
	struct stat st;
	_cleanup_free_ char *wh = pathjoin(f->upper, "etc/mark");
	assert_int_equal(lstat(wh, &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_rdev, makedev(0, 0));
	_cleanup_free_ char *nf = pathjoin(f->upper, "new");
	assert_int_equal(lstat(nf, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_uid, 0);
	/* The lower is untouched. */
	_cleanup_free_ char *after = list_tree(f->lower);
	assert_string_equal(before, after);
	/* /etc was copied up as it was in the image: the stub layer that
	 * holds etc/resolv.conf must not change its mode or times. */
	_cleanup_free_ char *le = pathjoin(f->lower, "etc");
	_cleanup_free_ char *ue = pathjoin(f->upper, "etc");
	struct stat ls, us;
	assert_int_equal(stat(le, &ls), 0);
	assert_int_equal(stat(ue, &us), 0);
	assert_int_equal(ls.st_mode, us.st_mode);
	assert_int_equal(ls.st_uid, us.st_uid);

	/* An opaque directory: rm -rf then mkdir of a lower dir. */
	hoist_error *err = NULL;
	assert_int_equal(hoist_fs_rm_rf(AT_FDCWD, f->upper, &err), 0);
	assert_int_equal(mkdir(f->upper, 0755), 0);
	_cleanup_free_ char *old = pathjoin(f->lower, "tmp/old");
	write_file(old, "old\n", 0644);
	fx_opts(f, &o, ARGV("sh", "-c", "rm -rf /tmp && mkdir /tmp && echo y > "
		"/tmp/only && ls /tmp"), lowers);
	run(&o, &r);
	expect_ok(&r, 0, "only\n");
	expect_tree(f->upper, "tmp\ntmp/only\n");
	_cleanup_free_ char *ut = pathjoin(f->upper, "tmp");
	char val[8] = { 0 };
	ssize_t k = lgetxattr(ut, "trusted.overlay.opaque", val, sizeof(val) - 1);
	assert_int_equal(k, 1);
	assert_string_equal(val, "y");
	assert_string_equal(hoist_sandbox_overlay_xattr_prefix(), "trusted.overlay.");
}

/* opts.unmount: the run returns before the overlay is unmounted; the
 * upper dir is complete at once; the wait ends the unmount. */
static void test_deferred_unmount(void **state)
{
	fx *f = *state;
	const char *lowers[] = { f->lower };
	hoist_sandbox_opts o;
	fx_opts(f, &o, ARGV("sh", "-c", "mkdir /many && cd /many && "
		"for i in 1 2 3 4 5 6 7 8 9; do touch a$i b$i c$i; done"), lowers);
	hoist_sandbox_unmount *u = NULL;
	o.unmount = &u;
	result r;
	run(&o, &r);
	expect_ok(&r, 0, "");
	assert_non_null(u);
	_cleanup_free_ char *many = pathjoin(f->upper, "many");
	_cleanup_free_ char *tree = list_tree(many);
	assert_int_equal(strlen(tree), 27 * 3);
	hoist_sandbox_unmount_wait(u);
	hoist_error *err = NULL;
	assert_int_equal(hoist_fs_rm_rf(AT_FDCWD, f->work, &err), 0);
	assert_int_equal(mkdir(f->work, 0700), 0);

	/* A failing command: its status, and the unmount still deferred. */
	fx_opts(f, &o, ARGV("sh", "-c", "exit 3"), lowers);
	u = NULL;
	o.unmount = &u;
	run(&o, &r);
	expect_ok(&r, 3, "");
	assert_non_null(u);
	hoist_sandbox_unmount_wait(u);
	/* A setup failure leaves nothing to wait for, or something
	 * waitable: both are fine for the caller. */
	fx_opts(f, &o, ARGV("true"), lowers);
	o.cwd = "/no/such/dir";
	u = NULL;
	o.unmount = &u;
	run(&o, &r);
	assert_int_equal(r.rc, -HOIST_E_IO);
	hoist_sandbox_unmount_wait(u);
	hoist_sandbox_unmount_wait(NULL);
}

/* The stub layer that holds missing mount points shadows the image's
 * directories above them: it must copy their owner, mode and times, or a
 * step touching them would copy up the stub's. */
static void test_stub_metadata(void **state)
{
	fx *f = *state;
	const char *lowers[] = { f->lower };
	_cleanup_free_ char *etc = pathjoin(f->lower, "etc");
	assert_int_equal(chown(etc, 12, 34), 0);
	assert_int_equal(chmod(etc, 0750), 0);
	struct timespec ts[2] = { { 1000000000, 5 }, { 1000000000, 7 } };
	assert_int_equal(utimensat(AT_FDCWD, etc, ts, 0), 0);
	hoist_sandbox_opts o;
	fx_opts(f, &o, ARGV("sh", "-c", "stat -c '%a %u %g %Y' /etc; "
		"chmod 750 /etc"), lowers);
	result r;
	run(&o, &r);
	expect_ok(&r, 0, "750 12 34 1000000000\n");
	/* chmod copied /etc up (mode unchanged): as it was in the image. */
	expect_tree(f->upper, "etc\n");
	_cleanup_free_ char *ue = pathjoin(f->upper, "etc");
	struct stat st;
	assert_int_equal(lstat(ue, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	assert_int_equal(st.st_uid, 12);
	assert_int_equal(st.st_gid, 34);
	assert_int_equal(st.st_mtim.tv_sec, 1000000000);
	assert_int_equal(st.st_mtim.tv_nsec, 7);
}

/* FROM scratch: no lower at all; the command comes from a bind mount. */
static void test_scratch(void **state)
{
	fx *f = *state;
	hoist_sandbox_mount m = {
		.type = HOIST_SANDBOX_MOUNT_BIND, .source = BUSYBOX,
		.target = "/busybox", .readonly = true,
	};
	hoist_sandbox_opts o;
	fx_opts(f, &o, ARGV("/busybox", "sh", "-c", "/busybox echo data > /f && "
		"/busybox ls /"), NULL);
	o.n_lowers = 0;
	o.mounts = &m;
	o.n_mounts = 1;
	result r;
	run(&o, &r);
	expect_ok(&r, 0, "busybox\ndev\netc\nf\nproc\nsys\n");
	expect_tree(f->upper, "f\n");
	/* Without /sys and the network files. */
	fx_opts(f, &o, ARGV("/busybox", "ls", "/"), NULL);
	o.n_lowers = 0;
	o.mounts = &m;
	o.n_mounts = 1;
	o.flags = HOIST_SANDBOX_NO_SYS | HOIST_SANDBOX_NO_NETFILES;
	run(&o, &r);
	expect_ok(&r, 0, "busybox\ndev\nf\nproc\n");
}

static void test_pid_namespace(void **state)
{
	fx *f = *state;
	const char *lowers[] = { f->lower };
	hoist_sandbox_opts o;
	fx_opts(f, &o, ARGV("sh", "-c", "echo $$; ls /proc | grep -c '^[0-9]'"),
		lowers);
	result r;
	run(&o, &r);
	/* sh is pid 1; ls and grep are the only other processes. */
	expect_ok(&r, 0, NULL);
	assert_true(!strncmp(r.out, "1\n", 2));
	int n = (int)strtol(r.out + 2, NULL, 10);
	assert_true(n >= 1 && n <= 3);
}

static void test_hostname(void **state)
{
	fx *f = *state;
	const char *lowers[] = { f->lower };
	hoist_sandbox_opts o;
	fx_opts(f, &o, ARGV("hostname"), lowers);
	o.hostname = "buildbox";
	result r;
	run(&o, &r);
	expect_ok(&r, 0, "buildbox\n");
	char host[256] = { 0 };
	gethostname(host, sizeof(host) - 1);
	assert_string_not_equal(host, "buildbox");
	fx_opts(f, &o, ARGV("hostname"), lowers);
	run(&o, &r);
	expect_ok(&r, 0, "hoist\n");
}

static void test_network_none(void **state)
{
	fx *f = *state;
	const char *lowers[] = { f->lower };
	hoist_sandbox_opts o;
	fx_opts(f, &o, ARGV("sh", "-c", "grep -c : /proc/net/dev; grep -o 'lo:' "
		"/proc/net/dev; cat /sys/class/net/lo/flags; ls /sys/class/net"),
		lowers);
	o.net = HOIST_SANDBOX_NET_NONE;
	result r;
	run(&o, &r);
	/* One interface line, lo, up (IFF_UP | IFF_LOOPBACK), alone in
	 * /sys/class/net. */
	expect_ok(&r, 0, "1\nlo:\n0x9\nlo\n");
	/* The host network has more than lo. */
	fx_opts(f, &o, ARGV("grep", "-c", ":", "/proc/net/dev"), lowers);
	run(&o, &r);
	expect_ok(&r, 0, NULL);
	assert_true(strtol(r.out, NULL, 10) > 1);
}

static void test_user_numeric(void **state)
{
	fx *f = *state;
	const char *lowers[] = { f->lower };
	hoist_sandbox_opts o;
	fx_opts(f, &o, ARGV("sh", "-c", "id -u; id -g; id -G; touch /tmp/f"), lowers);
	o.user = "65534:65534";
	result r;
	run(&o, &r);
	expect_ok(&r, 0, "65534\n65534\n65534\n");
	struct stat st;
	_cleanup_free_ char *p = pathjoin(f->upper, "tmp/f");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_uid, 65534);
	/* A uid without an entry: gid 0. */
	fx_opts(f, &o, ARGV("sh", "-c", "id -u; id -g"), lowers);
	o.user = "4242";
	run(&o, &r);
	expect_ok(&r, 0, "4242\n0\n");
}

static void test_user_named(void **state)
{
	fx *f = *state;
	const char *lowers[] = { f->lower };
	hoist_sandbox_opts o;
	fx_opts(f, &o, ARGV("sh", "-c", "id -u; id -g; id -G"), lowers);
	o.user = "app";
	result r;
	run(&o, &r);
	expect_ok(&r, 0, "1234\n2345\n2345 3456 4567\n");
	/* A group given: no supplementary groups. */
	o.user = "app:extra";
	run(&o, &r);
	expect_ok(&r, 0, "1234\n3456\n3456\n");
	/* The uid of a passwd entry takes its gid and groups. */
	o.user = "1234";
	run(&o, &r);
	expect_ok(&r, 0, "1234\n2345\n2345 3456 4567\n");
}

static void test_user_unknown(void **state)
{
	fx *f = *state;
	const char *lowers[] = { f->lower };
	hoist_sandbox_opts o;
	fx_opts(f, &o, ARGV("id"), lowers);
	o.user = "ghost";
	result r;
	run(&o, &r);
	assert_int_equal(r.rc, -HOIST_E_IO);
	assert_string_equal(r.msg, "sandbox: resolve user: unable to find user "
		"ghost: no matching entries in passwd file");
	o.user = "app:nogrp";
	run(&o, &r);
	assert_int_equal(r.rc, -HOIST_E_IO);
	assert_string_equal(r.msg, "sandbox: resolve user: unable to find group "
		"nogrp: no matching entries in group file");
}

static void test_env_exact(void **state)
{
	fx *f = *state;
	const char *lowers[] = { f->lower };
	hoist_sandbox_opts o;
	fx_opts(f, &o, ARGV("env"), lowers);
	static const char *const env[] = { "A=1", "PATH=/bin", "B=two words", NULL };
	o.env = env;
	setenv("HOIST_SANDBOX_LEAK", "1", 1);
	result r;
	run(&o, &r);
	unsetenv("HOIST_SANDBOX_LEAK");
	expect_ok(&r, 0, "A=1\nPATH=/bin\nB=two words\n");
	/* No env at all: PATH lookup falls back to the default. */
	fx_opts(f, &o, ARGV("env"), lowers);
	o.env = NULL;
	run(&o, &r);
	expect_ok(&r, 0, "");
}

static void test_cache_mount(void **state)
{
	fx *f = *state;
	const char *lowers[] = { f->lower };
	_cleanup_free_ char *cache = pathjoin(f->host, "cache");
	assert_int_equal(mkdir(cache, 0755), 0);
	hoist_sandbox_mount m = {
		.type = HOIST_SANDBOX_MOUNT_BIND, .source = cache,
		.target = "/root/.cache/pip",
	};
	hoist_sandbox_opts o;
	fx_opts(f, &o, ARGV("sh", "-c", "echo persisted > /root/.cache/pip/f"), lowers);
	o.mounts = &m;
	o.n_mounts = 1;
	result r;
	run(&o, &r);
	expect_ok(&r, 0, "");
	expect_tree(f->upper, "");
	/* Second run, fresh upper: the file is there. */
	fx_opts(f, &o, ARGV("cat", "/root/.cache/pip/f"), lowers);
	o.mounts = &m;
	o.n_mounts = 1;
	run(&o, &r);
	expect_ok(&r, 0, "persisted\n");
	_cleanup_free_ char *hf = pathjoin(cache, "f");
	_cleanup_free_ char *content = read_path(hf);
	assert_string_equal(content, "persisted\n");
	expect_tree(f->upper, "");
}

static void test_readonly_bind(void **state)
{
	fx *f = *state;
	const char *lowers[] = { f->lower };
	_cleanup_free_ char *ctx = pathjoin(f->host, "ctx");
	assert_int_equal(mkdir(ctx, 0755), 0);
	_cleanup_free_ char *src = pathjoin(ctx, "src.txt");
	write_file(src, "source\n", 0644);
	hoist_sandbox_mount m = {
		.type = HOIST_SANDBOX_MOUNT_BIND, .source = ctx, .target = "/src",
		.readonly = true,
	};
	hoist_sandbox_opts o;
	fx_opts(f, &o, ARGV("sh", "-c", "cat /src/src.txt; touch /src/y"), lowers);
	o.mounts = &m;
	o.n_mounts = 1;
	result r;
	run(&o, &r);
	expect_ok(&r, 1, "source\n");
	assert_non_null(strstr(r.errout, "Read-only file system"));
	_cleanup_free_ char *y = pathjoin(ctx, "y");
	assert_false(hoist_fs_exists(AT_FDCWD, y));
	expect_tree(f->upper, "");
}

static void test_secret(void **state)
{
	fx *f = *state;
	const char *lowers[] = { f->lower };
	_cleanup_free_ char *sec = pathjoin(f->host, "token");
	write_file(sec, "s3cret", 0644);
	hoist_sandbox_mount m = {
		.type = HOIST_SANDBOX_MOUNT_SECRET, .source = sec,
		.target = "/run/secrets/token",
	};
	hoist_sandbox_opts o;
	fx_opts(f, &o, ARGV("sh", "-c", "cat /run/secrets/token; echo; "
		"stat -c '%a %u' /run/secrets/token; echo no > /run/secrets/token"),
		lowers);
	o.mounts = &m;
	o.n_mounts = 1;
	result r;
	run(&o, &r);
	expect_ok(&r, 1, "s3cret\n400 0\n");
	/* Neither the secret nor /run (missing from the image) in the diff;
	 * the host file is unchanged. */
	expect_tree(f->upper, "");
	_cleanup_free_ char *content = read_path(sec);
	assert_string_equal(content, "s3cret");
	/* Owner and mode as asked; as a non-root user it can read it. */
	m.uid = 1234;
	m.gid = 2345;
	m.mode = 0440;
	fx_opts(f, &o, ARGV("sh", "-c", "stat -c '%a %u %g' /run/secrets/token; "
		"cat /run/secrets/token"), lowers);
	o.mounts = &m;
	o.n_mounts = 1;
	o.user = "app";
	run(&o, &r);
	expect_ok(&r, 0, "440 1234 2345\ns3cret");
}

static void test_tmpfs_mount(void **state)
{
	fx *f = *state;
	const char *lowers[] = { f->lower };
	hoist_sandbox_mount m = {
		.type = HOIST_SANDBOX_MOUNT_TMPFS, .target = "/scratch",
		.size = 1 << 20,
	};
	hoist_sandbox_opts o;
	fx_opts(f, &o, ARGV("sh", "-c", "echo a > /scratch/a && stat -c %a /scratch "
		"&& grep -c ' /scratch tmpfs ' /proc/mounts"), lowers);
	o.mounts = &m;
	o.n_mounts = 1;
	result r;
	run(&o, &r);
	expect_ok(&r, 0, "1777\n1\n");
	expect_tree(f->upper, "");
}

static void test_resolv_conf(void **state)
{
	fx *f = *state;
	const char *lowers[] = { f->lower };
	hoist_sandbox_opts o;
	_cleanup_free_ char *host = read_path("/etc/resolv.conf");
	if (host) {
		fx_opts(f, &o, ARGV("cat", "/etc/resolv.conf"), lowers);
		result r;
		run(&o, &r);
		expect_ok(&r, 0, host);
		expect_tree(f->upper, "");
	}
	/* A caller-provided file, and the image's resolv.conf a symlink:
	 * the mount lands on its target inside the root. */
	_cleanup_free_ char *mine = pathjoin(f->host, "resolv.conf");
	write_file(mine, "nameserver 192.0.2.1\n", 0644);
	_cleanup_free_ char *run_dir = pathjoin(f->lower, "run");
	assert_int_equal(mkdir(run_dir, 0755), 0);
	_cleanup_free_ char *lnk = pathjoin(f->lower, "etc/resolv.conf");
	assert_int_equal(symlink("../run/resolv.conf", lnk), 0);
	fx_opts(f, &o, ARGV("sh", "-c", "cat /etc/resolv.conf; readlink "
		"/etc/resolv.conf; echo x > /etc/resolv.conf"), lowers);
	o.resolv_conf = mine;
	result r;
	run(&o, &r);
	expect_ok(&r, 1, "nameserver 192.0.2.1\n../run/resolv.conf\n");
	assert_non_null(strstr(r.errout, "Read-only file system"));
	expect_tree(f->upper, "");
}

static void test_workdir(void **state)
{
	fx *f = *state;
	const char *lowers[] = { f->lower };
	hoist_sandbox_opts o;
	fx_opts(f, &o, ARGV("pwd"), lowers);
	o.cwd = "/etc";
	result r;
	run(&o, &r);
	expect_ok(&r, 0, "/etc\n");
	fx_opts(f, &o, ARGV("pwd"), lowers);
	run(&o, &r);
	expect_ok(&r, 0, "/\n");
}

static void test_workdir_missing(void **state)
{
	fx *f = *state;
	const char *lowers[] = { f->lower };
	hoist_sandbox_opts o;
	fx_opts(f, &o, ARGV("pwd"), lowers);
	o.cwd = "/nope/deeper";
	result r;
	run(&o, &r);
	assert_int_equal(r.rc, -HOIST_E_IO);
	assert_string_equal(r.msg, "sandbox: working directory '/nope/deeper' does "
		"not exist");
	expect_tree(f->upper, "");
}

/* make_cwd: the working directory is made inside the root; an overlay
 * copies its existing parents up with their owner and mode. */
static void test_make_cwd(void **state)
{
	fx *f = *state;
	_cleanup_free_ char *home = pathjoin(f->lower, "home");
	_cleanup_free_ char *app = pathjoin(f->lower, "home/app");
	assert_int_equal(mkdir(home, 0755), 0);
	assert_int_equal(mkdir(app, 0750), 0);
	assert_int_equal(chown(app, 1000, 1000), 0);
	const char *lowers[] = { f->lower };
	hoist_sandbox_opts o;
	fx_opts(f, &o, ARGV("pwd"), lowers);
	o.cwd = "/home/app/work/deeper";
	o.make_cwd = true;
	result r;
	run(&o, &r);
	expect_ok(&r, 0, "/home/app/work/deeper\n");
	expect_tree(f->upper, "home\nhome/app\nhome/app/work\nhome/app/work/deeper\n");
	struct stat st;
	_cleanup_free_ char *up = pathjoin(f->upper, "home/app");
	assert_int_equal(stat(up, &st), 0);
	assert_int_equal(st.st_uid, 1000);
	assert_int_equal(st.st_mode & 07777, 0750);
	_cleanup_free_ char *work = pathjoin(f->upper, "home/app/work");
	assert_int_equal(stat(work, &st), 0);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_mode & 07777, 0755);
}

static void test_dev_and_proc(void **state)
{
	fx *f = *state;
	const char *lowers[] = { f->lower };
	hoist_sandbox_opts o;
	fx_opts(f, &o, ARGV("sh", "-c",
		"echo gone > /dev/null && head() { :; }; "
		"ls /dev | grep -c -E '^(null|zero|full|random|urandom|fd|stdin|"
		"stdout|stderr|shm|pts)$'; "
		"cat /proc/timer_list | wc -c; "
		"echo x > /proc/sys/kernel/hostname || echo ro; "
		"grep -E '^(CapBnd|NoNewPrivs)' /proc/self/status; "
		"ls /proc/self/fd"), lowers);
	int extra = open("/dev/null", O_RDONLY); /* not CLOEXEC: must not leak */
	assert_true(extra >= 0);
	result r;
	run(&o, &r);
	close(extra);
	/* 11 nodes and links, timer_list masked, /proc/sys read-only,
	 * Docker's capability set, no new privileges, fds 0-2 (+ ls's
	 * own). */
	expect_ok(&r, 0, "11\n0\nro\nCapBnd:\t00000000a80425fb\nNoNewPrivs:\t1\n"
		"0\n1\n2\n3\n");
}

static void test_stdin(void **state)
{
	fx *f = *state;
	const char *lowers[] = { f->lower };
	hoist_sandbox_opts o;
	fx_opts(f, &o, ARGV("cat"), lowers);
	int in[2];
	assert_int_equal(pipe(in), 0);
	assert_int_equal(write(in[1], "from stdin\n", 11), 11);
	close(in[1]);
	o.stdin_fd = in[0];
	result r;
	run(&o, &r);
	close(in[0]);
	expect_ok(&r, 0, "from stdin\n");
}

static void test_directory_mode(void **state)
{
	fx *f = *state;
	_cleanup_free_ char *before = list_tree(f->lower);
	struct stat st0, st1;
	assert_int_equal(stat(f->lower, &st0), 0);
	hoist_sandbox_opts o;
	hoist_sandbox_opts_init(&o);
	o.rootfs = f->lower;
	o.argv = ARGV("sh", "-c", "ls / | grep -c -E '^(proc|dev|sys)$'; cat /etc/mark");
	static const char *const env[] = { "PATH=/bin", NULL };
	o.env = env;
	result r;
	run(&o, &r);
	expect_ok(&r, 0, "3\nmark\n");
	/* The mount points were removed, and the root's mtime put back. */
	_cleanup_free_ char *after = list_tree(f->lower);
	assert_string_equal(before, after);
	assert_int_equal(stat(f->lower, &st1), 0);
	assert_int_equal(st0.st_mtim.tv_sec, st1.st_mtim.tv_sec);
	assert_int_equal(st0.st_mtim.tv_nsec, st1.st_mtim.tv_nsec);
	/* Changes land in the directory itself. */
	o.argv = ARGV("sh", "-c", "touch /x && rm /etc/mark");
	run(&o, &r);
	expect_ok(&r, 0, "");
	_cleanup_free_ char *x = pathjoin(f->lower, "x");
	_cleanup_free_ char *mark = pathjoin(f->lower, "etc/mark");
	assert_true(hoist_fs_exists(AT_FDCWD, x));
	assert_false(hoist_fs_exists(AT_FDCWD, mark));
	_cleanup_free_ char *proc = pathjoin(f->lower, "proc");
	assert_false(hoist_fs_exists(AT_FDCWD, proc));
}

/* start_after: what the command changes gets a later ctime. */
static void test_start_after(void **state)
{
	fx *f = *state;
	hoist_sandbox_opts o;
	hoist_sandbox_opts_init(&o);
	o.rootfs = f->lower;
	o.argv = ARGV("touch", "/t");
	static const char *const env[] = { "PATH=/bin", NULL };
	o.env = env;
	clock_gettime(CLOCK_REALTIME_COARSE, &o.start_after);
	/* longer than half a second: on a file system with whole-second
	 * times the wait can be up to a second */
	o.start_after.tv_nsec += 800000000;
	if (o.start_after.tv_nsec >= 1000000000) {
		o.start_after.tv_sec++;
		o.start_after.tv_nsec -= 1000000000;
	}
	result r;
	run(&o, &r);
	expect_ok(&r, 0, "");
	_cleanup_free_ char *t = pathjoin(f->lower, "t");
	struct stat st;
	assert_int_equal(stat(t, &st), 0);
	assert_true(st.st_ctim.tv_sec > o.start_after.tv_sec ||
		(st.st_ctim.tv_sec == o.start_after.tv_sec &&
			st.st_ctim.tv_nsec > o.start_after.tv_nsec));
	unlink(t);
}

static void test_bad_options(void **state)
{
	fx *f = *state;
	const char *lowers[] = { f->lower };
	hoist_sandbox_opts o;
	hoist_error *err = NULL;
	int status = 0;
	fx_opts(f, &o, ARGV("true"), lowers);
	o.cwd = "relative";
	assert_int_equal(hoist_sandbox_run(&o, &status, &err), -HOIST_E_INVALID);
	hoist_error_freep(&err);
	fx_opts(f, &o, ARGV("true"), lowers);
	o.work = "/nonexistent/work";
	assert_int_equal(hoist_sandbox_run(&o, &status, &err), -HOIST_E_INVALID);
	assert_string_equal(err->msg, "sandbox: work dir '/nonexistent/work': No "
		"such file or directory");
	hoist_error_freep(&err);
	hoist_sandbox_mount m = { .type = HOIST_SANDBOX_MOUNT_TMPFS, .target = "/" };
	fx_opts(f, &o, ARGV("true"), lowers);
	o.mounts = &m;
	o.n_mounts = 1;
	assert_int_equal(hoist_sandbox_run(&o, &status, &err), -HOIST_E_INVALID);
	hoist_error_freep(&err);
	/* A mount the kernel refuses comes back naming the step. */
	hoist_sandbox_mount bad = { .type = HOIST_SANDBOX_MOUNT_BIND,
		.source = f->lower, .target = "/etc/mark" };
	fx_opts(f, &o, ARGV("true"), lowers);
	o.mounts = &bad;
	o.n_mounts = 1;
	result r;
	run(&o, &r);
	assert_int_equal(r.rc, -HOIST_E_IO);
	char want[512];
	snprintf(want, sizeof(want), "sandbox: bind '%s' on '/etc/mark': Not a "
		"directory", f->lower);
	assert_string_equal(r.msg, want);
}

static pid_t signal_later(int sig, int ms)
{
	pid_t target = getpid();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
		nanosleep(&ts, NULL);
		kill(target, sig);
		_exit(0);
	}
	return pid;
}

static void test_signals(void **state)
{
	fx *f = *state;
	const char *lowers[] = { f->lower };
	hoist_sandbox_opts o;
	/* A command that handles SIGTERM gets it. */
	fx_opts(f, &o, ARGV("sh", "-c", "trap 'exit 7' TERM; echo ready; "
		"while :; do sleep 0.05; done"), lowers);
	pid_t k = signal_later(SIGTERM, 400);
	result r;
	run(&o, &r);
	waitpid(k, NULL, 0);
	assert_int_equal(r.rc, -HOIST_E_INTERRUPTED);
	assert_int_equal(r.status, 7);
	assert_string_equal(r.out, "ready\n");
	/* pid 1 without a handler ignores it: SIGKILL after the timeout. */
	fx_opts(f, &o, ARGV("sleep", "20"), lowers);
	o.stop_timeout_ms = 200;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	k = signal_later(SIGINT, 300);
	run(&o, &r);
	waitpid(k, NULL, 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(r.rc, -HOIST_E_INTERRUPTED);
	assert_int_equal(r.status, 137);
	assert_true(t1.tv_sec - t0.tv_sec < 10);
	/* The signal mask is restored. */
	sigset_t cur;
	sigprocmask(SIG_SETMASK, NULL, &cur);
	assert_false(sigismember(&cur, SIGINT));
	assert_false(sigismember(&cur, SIGTERM));
}

/* ---- user resolution and paths, without a sandbox ----------------- */

static void test_user_resolve(void **state)
{
	fx *f = *state;
	int rootfd = open(f->lower, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(rootfd >= 0);
	hoist_sandbox_user u = { 0 };
	hoist_error *err = NULL;
	assert_int_equal(hoist_sandbox_user_resolve(&u, rootfd, "app", &err), 0);
	assert_int_equal(u.uid, 1234);
	assert_int_equal(u.gid, 2345);
	assert_int_equal(u.n_groups, 2);
	assert_int_equal(u.groups[0], 3456);
	assert_int_equal(u.groups[1], 4567);
	assert_int_equal(hoist_sandbox_user_resolve(&u, rootfd, "app:5678", &err), 0);
	assert_int_equal(u.gid, 5678);
	assert_int_equal(u.n_groups, 0);
	assert_int_equal(hoist_sandbox_user_resolve(&u, rootfd, "77:unrelated", &err), 0);
	assert_int_equal(u.uid, 77);
	assert_int_equal(u.gid, 5678);
	assert_int_equal(hoist_sandbox_user_resolve(&u, rootfd, NULL, &err), 0);
	assert_int_equal(u.uid, 0);
	assert_int_equal(u.gid, 0);
	assert_int_equal(hoist_sandbox_user_resolve(&u, rootfd, "2147483648", &err),
		-HOIST_E_INVALID);
	hoist_error_freep(&err);
	assert_int_equal(hoist_sandbox_user_resolve(&u, rootfd, "nobody:", &err), 0);
	assert_int_equal(u.uid, 65534);
	assert_int_equal(u.gid, 65534);

	/* etc/passwd is a symlink that tries to leave the root: it is
	 * resolved inside it, where there is nothing. */
	_cleanup_free_ char *outside = pathjoin(f->tmp, "passwd");
	write_file(outside, "evil:x:0:0::/:/bin/sh\n", 0644);
	_cleanup_free_ char *pw = pathjoin(f->lower, "etc/passwd");
	assert_int_equal(unlink(pw), 0);
	assert_int_equal(symlink("../../../../../../../../passwd", pw), 0);
	assert_int_equal(hoist_sandbox_user_resolve(&u, rootfd, "evil", &err),
		-HOIST_E_NOTFOUND);
	assert_string_equal(err->msg, "unable to find user evil: no matching entries "
		"in passwd file");
	hoist_error_freep(&err);
	/* An absolute symlink to a file inside the root works. */
	assert_int_equal(unlink(pw), 0);
	_cleanup_free_ char *real = pathjoin(f->lower, "etc/passwd.real");
	write_file(real, "x:x:9:8::/:/bin/sh\n", 0644);
	assert_int_equal(symlink("/etc/passwd.real", pw), 0);
	assert_int_equal(hoist_sandbox_user_resolve(&u, rootfd, "x", &err), 0);
	assert_int_equal(u.uid, 9);
	assert_int_equal(u.gid, 8);
	close(rootfd);
}

static void test_path_resolve(void **state)
{
	fx *f = *state;
	int rootfd = open(f->lower, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(rootfd >= 0);
	char canon[SBX_PATH_MAX];
	size_t miss;
	_cleanup_free_ char *l1 = pathjoin(f->lower, "etc/up");
	assert_int_equal(symlink("../../../..", l1), 0);
	_cleanup_free_ char *l2 = pathjoin(f->lower, "etc/abs");
	assert_int_equal(symlink("/bin", l2), 0);
	_cleanup_free_ char *l3 = pathjoin(f->lower, "etc/loop");
	assert_int_equal(symlink("loop", l3), 0);

	assert_int_equal(sbx_path_resolve(rootfd, "/etc/up/etc/mark", canon,
		sizeof(canon), &miss), 0);
	assert_string_equal(canon, "/etc/mark");
	assert_int_equal(miss, strlen(canon));
	assert_int_equal(sbx_path_resolve(rootfd, "/etc/abs/../run/x/y", canon,
		sizeof(canon), &miss), 0);
	assert_string_equal(canon, "/run/x/y");
	assert_int_equal(miss, 0);
	assert_int_equal(sbx_path_resolve(rootfd, "etc//./new", canon,
		sizeof(canon), &miss), 0);
	assert_string_equal(canon, "/etc/new");
	assert_string_equal(canon + miss, "/new");
	assert_int_equal(sbx_path_resolve(rootfd, "/etc/mark/x", canon,
		sizeof(canon), &miss), -ENOTDIR);
	assert_int_equal(sbx_path_resolve(rootfd, "/etc/loop", canon,
		sizeof(canon), &miss), -ELOOP);
	assert_int_equal(sbx_path_resolve(rootfd, "/", canon, sizeof(canon),
		&miss), 0);
	assert_string_equal(canon, "/");

	char clean[64];
	assert_int_equal(sbx_path_clean("/a//b/./c/../../d/", clean, sizeof(clean)), 0);
	assert_string_equal(clean, "/a/d");
	assert_int_equal(sbx_path_clean("/../..", clean, sizeof(clean)), 0);
	assert_string_equal(clean, "/");
	assert_int_equal(sbx_path_clean("rel", clean, sizeof(clean)), -EINVAL);

	/* The no-symlink opener refuses links and "..". */
	int fd = sbx_open_nofollow(rootfd, "etc/mark", O_RDONLY);
	assert_true(fd >= 0);
	close(fd);
	assert_true(sbx_open_nofollow(rootfd, "etc/abs/sh", O_RDONLY) < 0);
	assert_true(sbx_open_nofollow(rootfd, "../lower/etc/mark", O_RDONLY) < 0);
	close(rootfd);
}

/* ---- as an unprivileged user -------------------------------------- */

typedef struct rl_out {
	int rc;
	int status;
	int warnings;
	char out[1024];
	char errout[1024];
	char msg[1024];
	char warn[1024];
} rl_out;

static void log_cb(void *ud, int level, const char *msg)
{
	rl_out *o = ud;
	if (level == HOIST_LOG_WARN) {
		o->warnings++;
		snprintf(o->warn, sizeof(o->warn), "%s", msg);
	}
}

/* The helper: this same program run as "--as-user UID GID LOWER UPPER WORK
 * RUNS ARGV...", a fresh process (so LeakSanitizer checks only what it
 * allocates) that becomes UID:GID with no groups, runs ARGV in the overlay
 * RUNS times with one context and writes an rl_out to fd 3. */
static int helper_main(int argc, char **argv)
{
	if (argc < 9)
		return 94;
	uid_t uid = (uid_t)strtoul(argv[2], NULL, 10);
	gid_t gid = (gid_t)strtoul(argv[3], NULL, 10);
	const char *lowers[] = { argv[4] };
	int runs = (int)strtol(argv[7], NULL, 10);
	const char *const *cmd = (const char *const *)&argv[8];
	rl_out o;
	memset(&o, 0, sizeof(o));
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0
		|| setresuid(uid, uid, uid) < 0)
		return 90;
	hoist_ctx *ctx = NULL;
	hoist_error *err = NULL;
	if (hoist_ctx_new(&ctx, &err) < 0)
		return 91;
	hoist_ctx_set_log(ctx, log_cb, &o, HOIST_LOG_WARN);
	for (int i = 0; i < runs; i++) {
		hoist_sandbox_opts so;
		hoist_sandbox_opts_init(&so);
		so.ctx = ctx;
		so.lowers = lowers;
		so.n_lowers = 1;
		so.upper = argv[5];
		so.work = argv[6];
		so.argv = cmd;
		static const char *const env[] = { "PATH=/bin", NULL };
		so.env = env;
		so.stdin_fd = -1;
		int out[2], er[2];
		if (pipe2(out, O_CLOEXEC) < 0 || pipe2(er, O_CLOEXEC) < 0)
			return 92;
		so.stdout_fd = out[1];
		so.stderr_fd = er[1];
		o.rc = hoist_sandbox_run(&so, &o.status, &err);
		close(out[1]);
		close(er[1]);
		drain(out[0], o.out, sizeof(o.out));
		drain(er[0], o.errout, sizeof(o.errout));
		close(out[0]);
		close(er[0]);
		if (err)
			snprintf(o.msg, sizeof(o.msg), "%s", err->msg);
		hoist_error_freep(&err);
		if (o.rc < 0)
			break;
	}
	hoist_ctx_free(ctx);
	if (write(3, &o, sizeof(o)) != (ssize_t)sizeof(o))
		return 93;
	return 0;
}

static void run_as(const fx *f, uid_t uid, gid_t gid, const char *const *argv,
	int runs, rl_out *res)
{
	char *args[64];
	char su[16], sg[16], sr[16];
	snprintf(su, sizeof(su), "%u", (unsigned)uid);
	snprintf(sg, sizeof(sg), "%u", (unsigned)gid);
	snprintf(sr, sizeof(sr), "%d", runs);
	size_t n = 0;
	args[n++] = (char *)"test_sandbox";
	args[n++] = (char *)"--as-user";
	args[n++] = su;
	args[n++] = sg;
	args[n++] = f->lower;
	args[n++] = f->upper;
	args[n++] = f->work;
	args[n++] = sr;
	for (size_t i = 0; argv[i] && n < 63; i++)
		args[n++] = (char *)argv[i];
	args[n] = NULL;

	int pfd[2];
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (dup2(pfd[1], 3) < 0)
			_exit(95);
		execv("/proc/self/exe", args);
		_exit(96);
	}
	close(pfd[1]);
	memset(res, 0, sizeof(*res));
	ssize_t k = read(pfd[0], res, sizeof(*res));
	close(pfd[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || k != (ssize_t)sizeof(*res))
		print_error("rootless helper: status 0x%x, read %zd\n", st, k);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(k, (ssize_t)sizeof(*res));
}

static void expect_rl_ok(const rl_out *r, int status, const char *out)
{
	if (r->rc != 0 || r->status != status || (out && strcmp(r->out, out)))
		print_error("rootless run: rc %d status %d msg '%s'\nstdout '%s'\n"
			"stderr '%s'\n", r->rc, r->status, r->msg, r->out, r->errout);
	assert_int_equal(r->rc, 0);
	assert_int_equal(r->status, status);
	if (out)
		assert_string_equal(r->out, out);
}

typedef struct rl_user {
	uid_t uid;
	gid_t gid;
} rl_user;

static bool lookup_user(const char *name, rl_user *u)
{
	struct passwd *pw = getpwnam(name);
	if (!pw)
		return false;
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	return true;
}

/* The rootfs and the dirs belong to the user, as a rootless extraction
 * would leave them. */
static void fx_give(const fx *f, const rl_user *u)
{
	chown_tree(f->tmp, u->uid, u->gid);
}

static void test_rootless_echo(void **state)
{
	fx *f = *state;
	rl_user u = { 0 };
	assert_true(lookup_user(USER_SINGLE, &u));
	fx_give(f, &u);
	rl_out r;
	run_as(f, u.uid, u.gid, ARGV("sh", "-c", "echo hi; id -u"), 1, &r);
	expect_rl_ok(&r, 0, "hi\n0\n");
	expect_tree(f->upper, "");
}

static void test_rootless_exit_status(void **state)
{
	fx *f = *state;
	rl_user u = { 0 };
	assert_true(lookup_user(USER_SINGLE, &u));
	fx_give(f, &u);
	rl_out r;
	run_as(f, u.uid, u.gid, ARGV("sh", "-c", "exit 3"), 1, &r);
	expect_rl_ok(&r, 3, "");
	run_as(f, u.uid, u.gid, ARGV("nosuchcmd"), 1, &r);
	assert_int_equal(r.rc, -HOIST_E_IO);
	assert_string_equal(r.msg, "sandbox: exec 'nosuchcmd': executable file not "
		"found in $PATH");
}

static void test_rootless_overlay_diff(void **state)
{
	fx *f = *state;
	rl_user u = { 0 };
	assert_true(lookup_user(USER_SINGLE, &u));
	fx_give(f, &u);
	rl_out r;
	run_as(f, u.uid, u.gid, ARGV("sh", "-c", "touch /new && rm /etc/mark && "
		"rm -rf /tmp && mkdir /tmp && touch /tmp/t"), 1, &r);
	expect_rl_ok(&r, 0, "");
	expect_tree(f->upper, "etc\netc/mark\nnew\ntmp\ntmp/t\n");
	struct stat st;
	_cleanup_free_ char *wh = pathjoin(f->upper, "etc/mark");
	assert_int_equal(lstat(wh, &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_rdev, makedev(0, 0));
	_cleanup_free_ char *nf = pathjoin(f->upper, "new");
	assert_int_equal(lstat(nf, &st), 0);
	assert_int_equal(st.st_uid, u.uid); /* root inside = the user outside */
	_cleanup_free_ char *mark = pathjoin(f->lower, "etc/mark");
	assert_true(hoist_fs_exists(AT_FDCWD, mark));
	/* Opaque with the user.* xattr (userxattr). */
	_cleanup_free_ char *tmp = pathjoin(f->upper, "tmp");
	char val[8] = { 0 };
	assert_int_equal(lgetxattr(tmp, "user.overlay.opaque", val, sizeof(val) - 1), 1);
	assert_string_equal(val, "y");
}

static void test_rootless_single_mapping_warning(void **state)
{
	fx *f = *state;
	rl_user u = { 0 };
	assert_true(lookup_user(USER_SINGLE, &u));
	fx_give(f, &u);
	rl_out r;
	/* Two runs with one context: one warning.  Changing ownership to an
	 * unmapped id fails, as the warning says. */
	run_as(f, u.uid, u.gid, ARGV("sh", "-c", "touch /f; chown 1000 /f"), 2, &r);
	expect_rl_ok(&r, 1, "");
	assert_non_null(strstr(r.errout, "chown: /f: Invalid argument"));
	assert_int_equal(r.warnings, 1);
	assert_non_null(strstr(r.warn, "only root inside is mapped"));
	assert_non_null(strstr(r.warn, "'" USER_SINGLE "'"));
	assert_non_null(strstr(r.warn, "change ownership"));
}

static void test_rootless_subids(void **state)
{
	fx *f = *state;
	rl_user u = { 0 };
	assert_true(lookup_user(USER_SUBIDS, &u));
	fx_give(f, &u);
	/* Where the user's subordinate uids start. */
	_cleanup_free_ char *subuid = read_path("/etc/subuid");
	assert_non_null(subuid);
	char pfx[64];
	snprintf(pfx, sizeof(pfx), "%s:", USER_SUBIDS);
	char *line = strstr(subuid, pfx);
	assert_non_null(line);
	unsigned long start = strtoul(line + strlen(pfx), NULL, 10);
	rl_out r;
	run_as(f, u.uid, u.gid, ARGV("sh", "-c", "touch /f && chown 1000:1000 /f && "
		"stat -c '%u %g' /f"), 1, &r);
	expect_rl_ok(&r, 0, "1000 1000\n");
	assert_int_equal(r.warnings, 0);
	struct stat st;
	_cleanup_free_ char *p = pathjoin(f->upper, "f");
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_uid, start + 999);
}

/* ---- users for the rootless tests ---------------------------------- */

static char *saved_subuid;
static char *saved_subgid;

static int run_cmd(const char *const *argv)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int nul = open("/dev/null", O_WRONLY);
		if (nul >= 0) {
			dup2(nul, 1);
			dup2(nul, 2);
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	int st;
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void del_users(void)
{
	run_cmd(ARGV("userdel", "-r", USER_SINGLE));
	run_cmd(ARGV("userdel", "-r", USER_SUBIDS));
}

static int users_setup(void **state)
{
	saved_subuid = read_path("/etc/subuid");
	saved_subgid = read_path("/etc/subgid");
	del_users();
	/* One user without subordinate ids, one with (useradd gives the
	 * default SUB_UID_COUNT range). */
	if (run_cmd(ARGV("useradd", "-m", "-K", "SUB_UID_COUNT=0", "-K",
		    "SUB_GID_COUNT=0", USER_SINGLE)) != 0
		|| run_cmd(ARGV("useradd", "-m", USER_SUBIDS)) != 0) {
		print_error("useradd failed\n");
		return -1;
	}
	_cleanup_free_ char *sub = read_path("/etc/subuid");
	if (!sub || !strstr(sub, USER_SUBIDS ":")) {
		print_error("useradd gave '%s' no subordinate ids\n", USER_SUBIDS);
		return -1;
	}
	return 0;
}

static void restore(const char *path, const char *saved)
{
	_cleanup_free_ char *now = read_path(path);
	if (saved && (!now || strcmp(now, saved) != 0))
		write_file(path, saved, 0644);
}

static int users_teardown(void **state)
{
	del_users();
	restore("/etc/subuid", saved_subuid);
	restore("/etc/subgid", saved_subgid);
	free(saved_subuid);
	free(saved_subgid);
	return 0;
}

/* Can an unprivileged process make a user namespace here? */
static bool userns_available(char *why, size_t n)
{
	int pfd[2];
	if (pipe(pfd) < 0)
		return false;
	pid_t pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		int e = 0;
		if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0
			|| unshare(CLONE_NEWUSER) < 0)
			e = errno;
		if (write(pfd[1], &e, sizeof(e)) < 0)
			_exit(2);
		_exit(0);
	}
	close(pfd[1]);
	int e = -1;
	if (read(pfd[0], &e, sizeof(e)) != (ssize_t)sizeof(e))
		e = EIO;
	close(pfd[0]);
	waitpid(pid, NULL, 0);
	if (e)
		snprintf(why, n, "unshare(CLONE_NEWUSER) as nobody: %s", strerror(e));
	return e == 0;
}

#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--as-user"))
		return helper_main(argc, argv);
	if (geteuid() != 0) {
		printf("skipping: the sandbox tests need root (they create users)\n");
		return 77;
	}
	char why[256];
	if (!userns_available(why, sizeof(why))) {
		printf("skipping: user namespaces unavailable: %s\n", why);
		return 77;
	}
	const struct CMUnitTest root_tests[] = {
		T(test_echo),
		T(test_exit_status),
		T(test_not_found),
		T(test_overlay_diff),
		T(test_deferred_unmount),
		T(test_stub_metadata),
		T(test_scratch),
		T(test_pid_namespace),
		T(test_hostname),
		T(test_network_none),
		T(test_user_numeric),
		T(test_user_named),
		T(test_user_unknown),
		T(test_env_exact),
		T(test_cache_mount),
		T(test_readonly_bind),
		T(test_secret),
		T(test_tmpfs_mount),
		T(test_resolv_conf),
		T(test_workdir),
		T(test_workdir_missing),
		T(test_dev_and_proc),
		T(test_stdin),
		T(test_directory_mode),
	T(test_start_after),
	T(test_overlay_refused),
	T(test_make_cwd),
		T(test_bad_options),
		T(test_signals),
		T(test_user_resolve),
		T(test_path_resolve),
	};
	const struct CMUnitTest rootless_tests[] = {
		T(test_rootless_echo),
		T(test_rootless_exit_status),
		T(test_rootless_overlay_diff),
		T(test_rootless_single_mapping_warning),
		T(test_rootless_subids),
	};
	int fails = cmocka_run_group_tests_name("sandbox as root", root_tests,
		NULL, NULL);
	fails += cmocka_run_group_tests_name("sandbox rootless", rootless_tests,
		users_setup, users_teardown);
	return fails ? 1 : 0;
}

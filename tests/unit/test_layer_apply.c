#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "hoist/buf.h"
#include "hoist/error.h"
#include "hoist/fs.h"
#include "hoist/io.h"
#include "hoist/layer.h"
#include "layer/apply_internal.h"
#include "util/cleanup.h"

/* Tars are written by python's tarfile from a few lines of python: f()
 * file, d() directory, sym() symlink, hl() hard link, fifo(), dev(),
 * gnu_sparse() a hand-made old GNU sparse header, raw() bytes as they are;
 * CUT = n truncates the result. */
static const char py_prelude[] =
	"import io, sys, tarfile\n"
	"buf = io.BytesIO()\n"
	"FMT = tarfile.PAX_FORMAT\n"
	"t = None\n"
	"CUT = None\n"
	"def _t():\n"
	"    global t\n"
	"    if t is None:\n"
	"        t = tarfile.open(fileobj=buf, mode='w', format=FMT)\n"
	"    return t\n"
	"def _ti(name, ty, mode, mtime, uid=0, gid=0, pax=None):\n"
	"    i = tarfile.TarInfo(name)\n"
	"    i.type = ty; i.mode = mode; i.mtime = mtime; i.uid = uid; i.gid = gid\n"
	"    if pax: i.pax_headers = pax\n"
	"    return i\n"
	"def f(name, data=b'', mode=0o644, mtime=1000000000, **kw):\n"
	"    if isinstance(data, str): data = data.encode()\n"
	"    i = _ti(name, tarfile.REGTYPE, mode, mtime, **kw)\n"
	"    i.size = len(data)\n"
	"    _t().addfile(i, io.BytesIO(data))\n"
	"def d(name, mode=0o755, mtime=1000000000, **kw):\n"
	"    _t().addfile(_ti(name, tarfile.DIRTYPE, mode, mtime, **kw))\n"
	"def sym(name, target, mtime=1000000000, **kw):\n"
	"    i = _ti(name, tarfile.SYMTYPE, 0o777, mtime, **kw)\n"
	"    i.linkname = target\n"
	"    _t().addfile(i)\n"
	"def hl(name, target):\n"
	"    i = _ti(name, tarfile.LNKTYPE, 0o644, 1000000000)\n"
	"    i.linkname = target\n"
	"    _t().addfile(i)\n"
	"def fifo(name, mode=0o640):\n"
	"    _t().addfile(_ti(name, tarfile.FIFOTYPE, mode, 1000000000))\n"
	"def dev(name, major, minor, mode=0o666):\n"
	"    i = _ti(name, tarfile.CHRTYPE, mode, 1000000000)\n"
	"    i.devmajor = major; i.devminor = minor\n"
	"    _t().addfile(i)\n"
	"def raw(b):\n"
	"    _t().fileobj.write(b)\n"
	"def _oct(v, n):\n"
	"    return ('%0*o' % (n - 1, v)).encode() + b'\\0'\n"
	"def gnu_sparse(name, realsize, chunks):\n"
	"    h = bytearray(512)\n"
	"    h[0:len(name)] = name.encode()\n"
	"    h[100:108] = _oct(0o644, 8); h[108:116] = _oct(0, 8); h[116:124] = _oct(0, 8)\n"
	"    stored = sum(len(c) for _, c in chunks)\n"
	"    h[124:136] = _oct(stored, 12); h[136:148] = _oct(1000000000, 12)\n"
	"    h[156] = ord('S'); h[257:265] = b'ustar  \\0'\n"
	"    for k, (off, c) in enumerate(chunks):\n"
	"        h[386 + 24 * k:398 + 24 * k] = _oct(off, 12)\n"
	"        h[398 + 24 * k:410 + 24 * k] = _oct(len(c), 12)\n"
	"    h[483] = 0x80; h[484:495] = realsize.to_bytes(11, 'big')\n"
	"    h[148:156] = b'        '\n"
	"    h[148:156] = ('%06o' % sum(h)).encode() + b'\\0 '\n"
	"    data = b''.join(c for _, c in chunks)\n"
	"    raw(bytes(h) + data + b'\\0' * (-len(data) % 512))\n"
	"WH = f\n";

static const char py_epilogue[] =
	"\n_t().close()\n"
	"out = buf.getvalue()\n"
	"if CUT is not None: out = out[:CUT]\n"
	"sys.stdout.buffer.write(out)\n";

/* Runs python over prelude + body + epilogue; the tar in *out. */
static void make_tar(const char *body, hoist_buf *out)
{
	char script[] = "/tmp/hoist-test-tar-XXXXXX";
	int fd = mkstemp(script);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(py_prelude, f);
	fputs(body, f);
	fputs(py_epilogue, f);
	assert_int_equal(fclose(f), 0);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "python3 %s", script);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	hoist_buf_init(out, 64 << 20);
	char chunk[8192];
	size_t k;
	while ((k = fread(chunk, 1, sizeof(chunk), p)) > 0)
		assert_int_equal(hoist_buf_append(out, chunk, k, NULL), 0);
	int st = pclose(p);
	unlink(script);
	if (st != 0)
		fail_msg("python failed for:\n%s", body);
}

/* A temp parent holding a sentinel file, a directory "outside" with a file,
 * and the root under test. */
typedef struct fixture {
	char parent[64];
	int parentfd;
	int rootfd;
	struct stat sentinel_st;
} fixture;

static const char sentinel_data[] = "sentinel: must not change\n";

static int fixture_setup(void **state)
{
	fixture *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	snprintf(fx->parent, sizeof(fx->parent), "/tmp/hoist-apply-XXXXXX");
	assert_non_null(mkdtemp(fx->parent));
	fx->parentfd = open(fx->parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fx->parentfd >= 0);
	int fd = openat(fx->parentfd, "sentinel", O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, sentinel_data, strlen(sentinel_data)),
		(ssize_t)strlen(sentinel_data));
	struct timespec ts[2] = { { 12345, 0 }, { 12345, 0 } };
	assert_int_equal(futimens(fd, ts), 0);
	close(fd);
	assert_int_equal(fstatat(fx->parentfd, "sentinel", &fx->sentinel_st, 0), 0);
	assert_int_equal(mkdirat(fx->parentfd, "outside", 0755), 0);
	fd = openat(fx->parentfd, "outside/keep", O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(mkdirat(fx->parentfd, "root", 0755), 0);
	fx->rootfd = openat(fx->parentfd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fx->rootfd >= 0);
	*state = fx;
	return 0;
}

static int fixture_teardown(void **state)
{
	fixture *fx = *state;
	close(fx->rootfd);
	close(fx->parentfd);
	hoist_error *err = NULL;
	int r = hoist_fs_rm_rf(AT_FDCWD, fx->parent, &err);
	if (r < 0)
		fprintf(stderr, "cleanup: %s\n", err->msg);
	hoist_error_free(err);
	free(fx);
	return 0;
}

static const char *const host_paths[] = {
	"/etc/hoist-test-evil", "/hoist-test-evil", "/tmp/hoist-test-evil",
	"/etc/x-hoist-test",
};

/* Nothing outside the root changed: the sentinel, the "outside" directory
 * and the parent hold what the fixture put there, and none of the names
 * that hostile tars aim at exists on the host. */
static void check_outside(fixture *fx)
{
	struct stat st;
	assert_int_equal(fstatat(fx->parentfd, "sentinel", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_ino, fx->sentinel_st.st_ino);
	assert_int_equal(st.st_size, (off_t)strlen(sentinel_data));
	assert_int_equal(st.st_mode, fx->sentinel_st.st_mode);
	assert_int_equal(st.st_uid, fx->sentinel_st.st_uid);
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(st.st_mtim.tv_sec, 12345);
	char got[64] = "";
	int fd = openat(fx->parentfd, "sentinel", O_RDONLY);
	assert_true(fd >= 0);
	assert_true(read(fd, got, sizeof(got) - 1) >= 0);
	close(fd);
	assert_string_equal(got, sentinel_data);

	int dfd = dup(fx->parentfd);
	DIR *d = fdopendir(dfd);
	assert_non_null(d);
	rewinddir(d);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (strcmp(de->d_name, "sentinel") && strcmp(de->d_name, "outside") &&
			strcmp(de->d_name, "root"))
			fail_msg("unexpected '%s' next to the root", de->d_name);
		n++;
	}
	closedir(d);
	assert_int_equal(n, 3);
	dfd = openat(fx->parentfd, "outside", O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
	assert_true(dfd >= 0);
	d = fdopendir(dfd);
	assert_non_null(d);
	n = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (strcmp(de->d_name, "keep"))
			fail_msg("unexpected '%s' in outside/", de->d_name);
		n++;
	}
	closedir(d);
	assert_int_equal(n, 1);
	struct stat ost;
	assert_int_equal(fstatat(fx->parentfd, "outside", &ost, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISDIR(ost.st_mode));
	assert_int_equal(ost.st_mode & 07777, 0755);
	for (size_t i = 0; i < HOIST_ARRAY_SIZE(host_paths); i++)
		if (access(host_paths[i], F_OK) == 0)
			fail_msg("'%s' appeared on the host", host_paths[i]);
}

/* Change records: "K path size\n" lines. */
static void record_change(void *ud, hoist_change_kind kind, const char *path,
	int64_t size)
{
	hoist_buf *b = ud;
	assert_int_equal(hoist_buf_appendf(b, NULL, "%c %s %lld\n", (char)kind,
		path, (long long)size), 0);
}

static bool has_line(const hoist_buf *b, const char *line)
{
	if (!b->data)
		return false;
	size_t n = strlen(line);
	for (const char *p = b->data; (p = strstr(p, line)); p++)
		if ((p == b->data || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

static int apply_bytes(int rootfd, const void *tar, size_t len,
	const hoist_apply_opts *o, unsigned flags, hoist_buf *changes,
	hoist_error **err)
{
	hoist_reader *r = NULL;
	assert_int_equal(hoist_reader_new_mem(&r, tar, len, NULL), 0);
	int ret = hoist_layer_apply_ex(rootfd, r, o, flags,
		changes ? record_change : NULL, changes, err);
	hoist_reader_free(r);
	return ret;
}

/* Applies the python-described layer; returns the result. */
static int apply_py(int rootfd, const char *body, const hoist_apply_opts *o,
	unsigned flags, hoist_buf *changes, hoist_error **err)
{
	hoist_buf tar;
	make_tar(body, &tar);
	int r = apply_bytes(rootfd, tar.data, tar.len, o, flags, changes, err);
	hoist_buf_release(&tar);
	return r;
}

static void apply_ok(int rootfd, const char *body, const hoist_apply_opts *o,
	unsigned flags, hoist_buf *changes)
{
	hoist_error *err = NULL;
	int r = apply_py(rootfd, body, o, flags, changes, &err);
	if (r != 0)
		fail_msg("apply failed: %s", err ? err->msg : "?");
	assert_null(err);
}

static char *read_at(int dirfd, const char *path)
{
	hoist_buf b = HOIST_BUF_INIT(1 << 20);
	hoist_error *err = NULL;
	if (hoist_fs_read_file(dirfd, path, &b, &err) < 0)
		fail_msg("%s", err->msg);
	if (!b.data)
		return strdup("");
	return hoist_buf_steal(&b, NULL);
}

static void assert_file(int dirfd, const char *path, const char *content,
	mode_t mode)
{
	struct stat st;
	if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		fail_msg("'%s' missing: %s", path, strerror(errno));
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, mode);
	char *got = read_at(dirfd, path);
	assert_string_equal(got, content);
	free(got);
}

static mode_t mode_of(int dirfd, const char *path)
{
	struct stat st;
	if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		fail_msg("'%s' missing: %s", path, strerror(errno));
	return st.st_mode;
}

static void run_basic(void **state, unsigned flags)
{
	fixture *fx = *state;
	hoist_buf ch = HOIST_BUF_INIT(1 << 20);
	hoist_apply_opts o = { .xattrs = true, .devices = true };
	apply_ok(fx->rootfd,
		"d('./')\n"
		"d('./etc/', mode=0o750, mtime=1234567890)\n"
		"f('./etc/hosts', 'localhost\\n', mode=0o644, mtime=1500000000)\n"
		"f('bin/tool', '#!/bin/sh\\n', mode=0o4755)\n" /* implicit bin/ */
		"f('deep/a/b/c.txt', 'deep')\n"
		"sym('etc/localtime', '/usr/share/zoneinfo/UTC', mtime=1400000000)\n"
		"sym('rel', '../../../..')\n"
		"hl('etc/hosts.bak', './etc/hosts')\n"
		"fifo('run/fifo', mode=0o620)\n"
		"dev('dev/null', 1, 3)\n"
		"f('x/attr', 'a', pax={'SCHILY.xattr.user.test': 'hello',\n"
		"  'SCHILY.xattr.trusted.overlay.opaque': 'y'})\n"
		"f('empty', '')\n"
		"f('caf\\u00e9', 'utf8 name')\n",
		&o, flags, &ch);

	assert_file(fx->rootfd, "etc/hosts", "localhost\n", 0644);
	assert_file(fx->rootfd, "bin/tool", "#!/bin/sh\n", 04755);
	assert_file(fx->rootfd, "deep/a/b/c.txt", "deep", 0644);
	assert_file(fx->rootfd, "empty", "", 0644);
	assert_file(fx->rootfd, "caf\xc3\xa9", "utf8 name", 0644);
	struct stat st, st2;
	assert_int_equal(fstatat(fx->rootfd, "etc/hosts", &st, 0), 0);
	assert_int_equal(st.st_mtim.tv_sec, 1500000000);
	assert_int_equal(st.st_nlink, 2);
	assert_int_equal(fstatat(fx->rootfd, "etc/hosts.bak", &st2, 0), 0);
	assert_int_equal(st.st_ino, st2.st_ino);
	/* the directory's attributes are set after its children were added */
	assert_int_equal(fstatat(fx->rootfd, "etc", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0750);
	assert_int_equal(st.st_mtim.tv_sec, 1234567890);
	assert_int_equal(mode_of(fx->rootfd, "bin") & 07777, 0755);
	/* symlinks are stored as given, with their own mtime */
	char target[256];
	ssize_t k = readlinkat(fx->rootfd, "etc/localtime", target, sizeof(target));
	assert_int_equal(k, (ssize_t)strlen("/usr/share/zoneinfo/UTC"));
	assert_memory_equal(target, "/usr/share/zoneinfo/UTC", (size_t)k);
	assert_int_equal(fstatat(fx->rootfd, "etc/localtime", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_mtim.tv_sec, 1400000000);
	k = readlinkat(fx->rootfd, "rel", target, sizeof(target));
	assert_int_equal(k, 11);
	st.st_mode = mode_of(fx->rootfd, "run/fifo");
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0620);
	/* tests run as root: the device node is made when asked */
	if (geteuid() == 0) {
		assert_int_equal(fstatat(fx->rootfd, "dev/null", &st, AT_SYMLINK_NOFOLLOW), 0);
		assert_true(S_ISCHR(st.st_mode));
		assert_int_equal(major(st.st_rdev), 1);
		assert_int_equal(minor(st.st_rdev), 3);
	}
	char val[16] = "";
	int xfd = openat(fx->rootfd, "x/attr", O_RDONLY);
	assert_true(xfd >= 0);
	k = fgetxattr(xfd, "user.test", val, sizeof(val));
	if (k >= 0) {
		assert_int_equal(k, 5);
		assert_memory_equal(val, "hello", 5);
	} else {
		assert_int_equal(errno, EOPNOTSUPP); /* no user xattrs here */
	}
	/* overlay's own attributes never come from a layer */
	assert_true(fgetxattr(xfd, "trusted.overlay.opaque", val, sizeof(val)) < 0);
	close(xfd);

	assert_true(has_line(&ch, "A etc 0"));
	assert_true(has_line(&ch, "A etc/hosts 10"));
	assert_true(has_line(&ch, "A etc/hosts.bak 0"));
	assert_true(has_line(&ch, "A bin/tool 10"));
	assert_true(has_line(&ch, "A etc/localtime 0"));
	assert_true(has_line(&ch, "A run/fifo 0"));
	assert_true(has_line(&ch, "A caf\xc3\xa9 9"));
	assert_null(strstr(ch.data, "\nM "));
	assert_null(strstr(ch.data, "A . "));
	hoist_buf_release(&ch);

	/* the same layer again: everything is replaced ('M') */
	hoist_buf ch2 = HOIST_BUF_INIT(1 << 20);
	apply_ok(fx->rootfd,
		"f('etc/hosts', 'new\\n', mode=0o600)\n"
		"d('etc/', mode=0o700)\n",
		NULL, flags, &ch2);
	assert_true(has_line(&ch2, "M etc/hosts 4"));
	assert_true(has_line(&ch2, "M etc 0"));
	assert_file(fx->rootfd, "etc/hosts", "new\n", 0600);
	/* replacing the file broke the hard link instead of writing through it */
	assert_file(fx->rootfd, "etc/hosts.bak", "localhost\n", 0644);
	assert_int_equal(mode_of(fx->rootfd, "etc") & 07777, 0700);
	hoist_buf_release(&ch2);
	check_outside(fx);
}

static void test_basic_layer(void **state)
{
	run_basic(state, 0);
}

static void test_basic_layer_walk(void **state)
{
	run_basic(state, HOIST_APPLY_FORCE_WALK);
}

static void test_whiteouts(void **state)
{
	fixture *fx = *state;
	apply_ok(fx->rootfd,
		"f('a/file', 'x')\n"
		"f('a/dir/sub/f', 'y')\n"
		"f('a/other', 'z')\n"
		"f('c/x', 'lower')\n"
		"d('c/sub/')\n"
		"f('c/sub/lower', 'lower')\n"
		"f('d/inner', 'i')\n"
		"f('e', 'file e')\n"
		"d('keep/', mode=0o755)\n"
		"f('keep/k1', 'k1')\n"
		"f('spec/a/b/c/bar', 'bar')\n",
		NULL, 0, NULL);

	hoist_buf ch = HOIST_BUF_INIT(1 << 20);
	apply_ok(fx->rootfd,
		"WH('a/.wh.file')\n"
		"WH('a/.wh.dir')\n"
		"WH('a/.wh.missing')\n"
		"WH('nodir/.wh.x')\n"
		/* opaque: entries of this layer before and after it stay */
		"d('c/')\n"
		"f('c/new', 'before')\n"
		"d('c/sub/')\n"
		"f('c/sub/mine', 'mine')\n"
		"WH('c/.wh..wh..opq')\n"
		"f('c/after', 'after')\n"
		/* a file replaces a directory, a directory a file */
		"f('d', 'now a file')\n"
		"d('e/', mode=0o711)\n"
		"f('e/child', 'c')\n"
		/* a directory over a directory keeps its content */
		"d('keep/', mode=0o700, mtime=42)\n"
		/* the image-spec example: the opaque whiteout comes last */
		"d('spec/a/')\n"
		"d('spec/a/b/')\n"
		"d('spec/a/b/c/')\n"
		"f('spec/a/b/c/foo', 'foo')\n"
		"WH('spec/a/.wh..wh..opq')\n",
		NULL, 0, &ch);

	assert_false(hoist_fs_exists(fx->rootfd, "a/file"));
	assert_false(hoist_fs_exists(fx->rootfd, "a/dir"));
	assert_false(hoist_fs_exists(fx->rootfd, "a/.wh.file"));
	assert_false(hoist_fs_exists(fx->rootfd, "nodir"));
	assert_file(fx->rootfd, "a/other", "z", 0644);
	assert_true(has_line(&ch, "D a/file 0"));
	assert_true(has_line(&ch, "D a/dir 0"));
	assert_null(strstr(ch.data, "missing"));
	assert_null(strstr(ch.data, "nodir"));

	assert_false(hoist_fs_exists(fx->rootfd, "c/x"));
	assert_false(hoist_fs_exists(fx->rootfd, "c/sub/lower"));
	assert_false(hoist_fs_exists(fx->rootfd, "c/.wh..wh..opq"));
	assert_file(fx->rootfd, "c/new", "before", 0644);
	assert_file(fx->rootfd, "c/sub/mine", "mine", 0644);
	assert_file(fx->rootfd, "c/after", "after", 0644);
	assert_true(has_line(&ch, "D c/x 0"));
	assert_true(has_line(&ch, "D c/sub/lower 0"));

	assert_file(fx->rootfd, "d", "now a file", 0644);
	assert_true(has_line(&ch, "M d 10"));
	mode_t m = mode_of(fx->rootfd, "e");
	assert_true(S_ISDIR(m));
	assert_int_equal(m & 07777, 0711);
	assert_file(fx->rootfd, "e/child", "c", 0644);
	assert_true(has_line(&ch, "M e 0"));

	assert_file(fx->rootfd, "keep/k1", "k1", 0644);
	struct stat st;
	assert_int_equal(fstatat(fx->rootfd, "keep", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(st.st_mtim.tv_sec, 42);
	assert_true(has_line(&ch, "M keep 0"));

	assert_false(hoist_fs_exists(fx->rootfd, "spec/a/b/c/bar"));
	assert_file(fx->rootfd, "spec/a/b/c/foo", "foo", 0644);
	hoist_buf_release(&ch);

	/* a whiteout does not hide what its own layer adds */
	apply_ok(fx->rootfd, "f('same', 'v')\nWH('.wh.same')\n", NULL, 0, NULL);
	assert_file(fx->rootfd, "same", "v", 0644);
	/* a later layer does */
	apply_ok(fx->rootfd, "WH('.wh.same')\n", NULL, 0, NULL);
	assert_false(hoist_fs_exists(fx->rootfd, "same"));
	/* opaque whiteout of the root */
	apply_ok(fx->rootfd, "f('top', 't')\nWH('.wh..wh..opq')\n", NULL, 0, NULL);
	assert_file(fx->rootfd, "top", "t", 0644);
	assert_false(hoist_fs_exists(fx->rootfd, "a"));
	assert_false(hoist_fs_exists(fx->rootfd, "keep"));
	check_outside(fx);
}

/* A 0555 directory still gets its children; its mode is set at the end. */
static void run_readonly(int rootfd)
{
	apply_ok(rootfd,
		"d('ro/', mode=0o555, mtime=777)\n"
		"f('ro/child', 'c', mode=0o444)\n"
		"d('ro/sub/', mode=0o500)\n"
		"f('ro/sub/f', 'f')\n"
		"d('ro/sub/none/', mode=0o000)\n"
		"f('ro/sub/none/deep', 'd')\n",
		NULL, 0, NULL);
	assert_file(rootfd, "ro/child", "c", 0444);
	assert_int_equal(mode_of(rootfd, "ro") & 07777, 0555);
	assert_int_equal(mode_of(rootfd, "ro/sub") & 07777, 0500);
	assert_int_equal(mode_of(rootfd, "ro/sub/none") & 07777, 0);
	struct stat st;
	assert_int_equal(fstatat(rootfd, "ro", &st, 0), 0);
	assert_int_equal(st.st_mtim.tv_sec, 777);
	/* a later layer adds to, and deletes from, the 0555 lower directory */
	apply_ok(rootfd,
		"f('ro/later', 'l')\n"
		"WH('ro/.wh.child')\n"
		"WH('ro/sub/.wh.none')\n",
		NULL, 0, NULL);
	assert_int_equal(mode_of(rootfd, "ro") & 07777, 0555);
	assert_int_equal(mode_of(rootfd, "ro/sub") & 07777, 0500);
	assert_false(hoist_fs_exists(rootfd, "ro/child"));
	assert_false(hoist_fs_exists(rootfd, "ro/sub/none"));
	assert_file(rootfd, "ro/later", "l", 0644);
}

static void test_readonly_dir(void **state)
{
	fixture *fx = *state;
	run_readonly(fx->rootfd);
	check_outside(fx);
}

/* The same without privilege: a child that is nobody. */
static void test_readonly_dir_unprivileged(void **state)
{
	fixture *fx = *state;
	if (geteuid() != 0) {
		run_readonly(fx->rootfd);
		return;
	}
	const uid_t nobody = 65534;
	assert_int_equal(fchmod(fx->parentfd, 0755), 0);
	assert_int_equal(fchown(fx->rootfd, nobody, nobody), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(nobody) < 0 ||
			setuid(nobody) < 0)
			_exit(3);
		if (geteuid() != nobody)
			_exit(4);
		/* no chown needed, the files are ours; setuid still works */
		hoist_error *err = NULL;
		int r = apply_py(fx->rootfd,
			"f('suid', 'x', mode=0o4755, uid=0, gid=0)\n", NULL, 0,
			NULL, &err);
		if (r < 0) {
			fprintf(stderr, "apply: %s\n", err->msg);
			_exit(5);
		}
		run_readonly(fx->rootfd);
		/* removing a 0000 directory tree of ours */
		r = apply_py(fx->rootfd, "WH('ro/.wh.sub')\n", NULL, 0, NULL, &err);
		if (r < 0 || hoist_fs_exists(fx->rootfd, "ro/sub")) {
			fprintf(stderr, "whiteout: %s\n", err ? err->msg : "left");
			_exit(6);
		}
		/* keep_owner without privilege fails loudly */
		hoist_apply_opts o = { .keep_owner = true };
		r = apply_py(fx->rootfd, "f('owned', 'x', uid=0, gid=0)\n", &o, 0,
			NULL, &err);
		if (r != -HOIST_E_IO || !strstr(err->msg, "layer entry 'owned': chown to 0:0")) {
			fprintf(stderr, "keep_owner: %d %s\n", r, err ? err->msg : "");
			_exit(7);
		}
		hoist_error_free(err);
		exit(0);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	struct stat st;
	assert_int_equal(fstatat(fx->rootfd, "suid", &st, 0), 0);
	assert_int_equal(st.st_uid, nobody);
	assert_int_equal(st.st_mode & 07777, 04755);
	assert_int_equal(fstatat(fx->rootfd, "ro/later", &st, 0), 0);
	assert_int_equal(st.st_uid, nobody);
	assert_false(hoist_fs_exists(fx->rootfd, "owned"));
	check_outside(fx);
}

static void test_keep_owner(void **state)
{
	fixture *fx = *state;
	if (geteuid() != 0)
		skip();
	hoist_apply_opts o = { .keep_owner = true };
	apply_ok(fx->rootfd,
		"d('home/', uid=1000, gid=1001, mode=0o750)\n"
		"f('home/f', 'x', uid=1000, gid=100, mode=0o2755)\n"
		"sym('home/l', 'f', uid=7, gid=8)\n",
		&o, 0, NULL);
	struct stat st;
	assert_int_equal(fstatat(fx->rootfd, "home", &st, 0), 0);
	assert_int_equal(st.st_uid, 1000);
	assert_int_equal(st.st_gid, 1001);
	assert_int_equal(st.st_mode & 07777, 0750);
	assert_int_equal(fstatat(fx->rootfd, "home/f", &st, 0), 0);
	assert_int_equal(st.st_uid, 1000);
	assert_int_equal(st.st_gid, 100);
	assert_int_equal(st.st_mode & 07777, 02755);
	assert_int_equal(fstatat(fx->rootfd, "home/l", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_uid, 7);
	assert_int_equal(st.st_gid, 8);
	/* without keep_owner the files are ours */
	apply_ok(fx->rootfd, "f('mine', 'x', uid=1000, gid=1000)\n", NULL, 0, NULL);
	assert_int_equal(fstatat(fx->rootfd, "mine", &st, 0), 0);
	assert_int_equal(st.st_uid, geteuid());
	/* devices are skipped unless asked for */
	apply_ok(fx->rootfd, "dev('null', 1, 3)\n", NULL, 0, NULL);
	assert_false(hoist_fs_exists(fx->rootfd, "null"));
}

static void test_sparse(void **state)
{
	fixture *fx = *state;
	hoist_buf ch = HOIST_BUF_INIT(4096);
	apply_ok(fx->rootfd,
		"gnu_sparse('sparse', 1 << 20, [(0, b'A' * 512), (600 * 1024, b'B' * 1024)])\n"
		"f('after', 'ok')\n",
		NULL, 0, &ch);
	struct stat st;
	assert_int_equal(fstatat(fx->rootfd, "sparse", &st, 0), 0);
	assert_int_equal(st.st_size, 1 << 20);
	int fd = openat(fx->rootfd, "sparse", O_RDONLY);
	assert_true(fd >= 0);
	char b[1024];
	assert_int_equal(pread(fd, b, 512, 0), 512);
	for (int i = 0; i < 512; i++)
		assert_int_equal(b[i], 'A');
	assert_int_equal(pread(fd, b, 16, 4096), 16);
	for (int i = 0; i < 16; i++)
		assert_int_equal(b[i], 0);
	assert_int_equal(pread(fd, b, 1024, 600 * 1024), 1024);
	for (int i = 0; i < 1024; i++)
		assert_int_equal(b[i], 'B');
	close(fd);
	assert_file(fx->rootfd, "after", "ok", 0644);
	assert_true(has_line(&ch, "A sparse 1048576"));
	hoist_buf_release(&ch);
}

/* Hostile layers: each fails with `code`, the message names `entry`, and
 * nothing outside the root changes. */
typedef struct hostile {
	const char *name;
	const char *body;
	int code;
	const char *msg; /* expected in the message */
	uint64_t max_bytes;
} hostile;

static const hostile hostile_cases[] = {
	{ "dotdot", "f('a/../../hoist-test-evil', 'evil')\n", HOIST_E_UNSAFE,
		"layer entry 'a/../../hoist-test-evil': path contains '..'", 0 },
	{ "dotdot-start", "f('../hoist-test-evil', 'evil')\n", HOIST_E_UNSAFE,
		"layer entry '../hoist-test-evil': path contains '..'", 0 },
	{ "dotdot-dir", "d('../outside/')\n", HOIST_E_UNSAFE,
		"layer entry '../outside/': path contains '..'", 0 },
	{ "absolute", "f('/etc/x-hoist-test', 'evil')\n", HOIST_E_UNSAFE,
		"layer entry '/etc/x-hoist-test': path is absolute", 0 },
	{ "symlink-root", "sym('link', '/')\nf('link/etc/hoist-test-evil', 'evil')\n",
		HOIST_E_UNSAFE,
		"layer entry 'link/etc/hoist-test-evil': parent 'link/etc' leads out of the root through a symlink",
		0 },
	{ "symlink-up", "sym('link', '../../..')\nf('link/hoist-test-evil', 'evil')\n",
		HOIST_E_UNSAFE,
		"layer entry 'link/hoist-test-evil': parent 'link' leads out of the root", 0 },
	{ "symlink-sibling", "sym('link', '../outside')\nf('link/evil', 'evil')\n",
		HOIST_E_UNSAFE, "layer entry 'link/evil': parent 'link' leads out", 0 },
	{ "symlink-chain",
		"d('a/')\nsym('a/up', '..')\nsym('s1', 'a/up/a/up/..')\nf('s1/evil', 'x')\n",
		HOIST_E_UNSAFE, "layer entry 's1/evil': parent 's1' leads out", 0 },
	{ "symlink-dir-entry", "sym('link', '../outside')\nd('link/sub/')\n",
		HOIST_E_UNSAFE, "layer entry 'link/sub/'", 0 },
	{ "symlink-loop", "sym('l1', 'l2')\nsym('l2', 'l1')\nf('l1/x', 'x')\n",
		HOIST_E_UNSAFE, "layer entry 'l1/x': parent 'l1': too many levels", 0 },
	{ "hardlink-absolute", "hl('passwd', '/etc/passwd')\n", HOIST_E_UNSAFE,
		"layer entry 'passwd': hard link target '/etc/passwd' is absolute", 0 },
	{ "hardlink-up", "hl('h', '../../outside/keep')\n", HOIST_E_UNSAFE,
		"layer entry 'h': hard link target '../../outside/keep' contains '..'", 0 },
	{ "hardlink-missing", "hl('h', 'etc/passwd')\n", HOIST_E_UNSAFE,
		"layer entry 'h': hard link target 'etc/passwd' is not in the root", 0 },
	{ "hardlink-via-symlink", "sym('link', '/')\nhl('h', 'link/etc/passwd')\n",
		HOIST_E_UNSAFE,
		"layer entry 'h': hard link target directory 'link/etc' leads out of the root", 0 },
	{ "hardlink-to-symlink", "sym('s', '/etc/passwd')\nhl('h', 's')\n",
		HOIST_E_UNSAFE, "layer entry 'h': hard link target 's' is not a regular file", 0 },
	{ "hardlink-to-dir", "d('dir/')\nhl('h', 'dir')\n", HOIST_E_UNSAFE,
		"layer entry 'h': hard link target 'dir' is not a regular file", 0 },
	{ "whiteout-dotdot", "WH('.wh...')\n", HOIST_E_UNSAFE,
		"layer entry '.wh...': whiteout of '..'", 0 },
	{ "whiteout-dotdot-sub", "WH('a/.wh...')\n", HOIST_E_UNSAFE,
		"layer entry 'a/.wh...': whiteout of '..'", 0 },
	{ "whiteout-dot", "WH('a/.wh..')\n", HOIST_E_UNSAFE,
		"layer entry 'a/.wh..': whiteout of '.'", 0 },
	{ "whiteout-empty", "WH('.wh.')\n", HOIST_E_UNSAFE,
		"layer entry '.wh.': whiteout of ''", 0 },
	{ "whiteout-slash", "WH('.wh.../x')\n", HOIST_E_UNSAFE,
		"layer entry '.wh.../x': whiteout used as a directory", 0 },
	{ "whiteout-via-symlink", "sym('link', '../outside')\nWH('link/.wh.keep')\n",
		HOIST_E_UNSAFE, "layer entry 'link/.wh.keep': parent 'link' leads out", 0 },
	{ "opaque-via-symlink", "sym('link', '../outside')\nWH('link/.wh..wh..opq')\n",
		HOIST_E_UNSAFE, "layer entry 'link/.wh..wh..opq': parent 'link' leads out", 0 },
	{ "root-as-file", "f('.', 'x')\n", HOIST_E_UNSAFE,
		"layer entry '.': entry would replace the root", 0 },
	{ "sparse-claim",
		"gnu_sparse('big', 10 * 1024**3, [(0, b'x' * 512)])\n", HOIST_E_LIMIT,
		"layer entry 'big': size 10737418240 exceeds the limit of 1073741824 bytes",
		1 << 30 },
	{ "pax-size-claim",
		"f('big', 'tiny', pax={'size': str(10 * 1024**3)})\n", HOIST_E_LIMIT,
		"layer entry 'big': size 10737418240 exceeds the limit", 1 << 30 },
	{ "pax-size-truncated",
		"f('big', 'tiny', pax={'size': str(10 * 1024**3)})\n", HOIST_E_INVALID,
		"layer entry 'big': read data: ", 0 },
	{ "total-claim",
		"f('a', 'x' * 400)\nf('b', 'x' * 400)\nf('c', 'x' * 400)\n", HOIST_E_LIMIT,
		"layer entry 'c': the layer claims more than 1000 bytes", 1000 },
	{ "truncated", "f('ok', 'fine')\nf('big', 'x' * 100000)\nCUT = 2048 + 50000\n",
		HOIST_E_INVALID, "layer entry 'big': read data: ", 0 },
	{ "truncated-header", "f('ok', 'fine')\nf('next', 'x')\nCUT = 1024 + 100\n",
		HOIST_E_INVALID, "after entry 'ok'", 0 },
	{ "garbage", "raw(b'this is not a tar archive' * 40)\n", HOIST_E_INVALID,
		"open layer tar: unrecognized archive format", 0 },
	{ "name-control-chars", "f('../\\x1b[31mred\\n', 'x')\n", HOIST_E_UNSAFE,
		"layer entry '../\\x1b[31mred\\x0a': path contains '..'", 0 },
};

static void run_hostile(void **state, unsigned flags)
{
	fixture *fx = *state;
	for (size_t i = 0; i < HOIST_ARRAY_SIZE(hostile_cases); i++) {
		const hostile *h = &hostile_cases[i];
		/* a fresh root for each case */
		close(fx->rootfd);
		assert_int_equal(hoist_fs_rm_rf(fx->parentfd, "root", NULL), 0);
		assert_int_equal(mkdirat(fx->parentfd, "root", 0755), 0);
		fx->rootfd = openat(fx->parentfd, "root", O_RDONLY | O_DIRECTORY);
		assert_true(fx->rootfd >= 0);

		hoist_apply_opts o = { .max_bytes = h->max_bytes, .xattrs = true };
		hoist_error *err = NULL;
		int r = apply_py(fx->rootfd, h->body, &o, flags, NULL, &err);
		if (r != -h->code || !err || !strstr(err->msg, h->msg))
			fail_msg("case '%s': got %d '%s', want %d '%s'", h->name, r,
				err ? err->msg : "(none)", -h->code, h->msg);
		hoist_error_free(err);
		check_outside(fx);
		/* nothing escaped into the root's own etc either, and nothing
		 * half-written is left */
		assert_false(hoist_fs_exists(fx->rootfd, "etc/x-hoist-test"));
		assert_false(hoist_fs_exists(fx->rootfd, "big"));
		assert_false(hoist_fs_exists(fx->rootfd, "c"));
	}
}

static void test_hostile(void **state)
{
	run_hostile(state, 0);
}

static void test_hostile_walk(void **state)
{
	run_hostile(state, HOIST_APPLY_FORCE_WALK);
}

/* What a layer cannot do to the host even when it tries legitimately. */
static void run_contained(void **state, unsigned flags)
{
	fixture *fx = *state;
	/* a file over a symlink that points out replaces the symlink */
	apply_ok(fx->rootfd,
		"sym('x', '../sentinel')\n"
		"f('x', 'replaced')\n"
		"sym('y', '../outside')\n"
		"d('y/')\n"
		"f('y/f', 'inside')\n"
		"sym('z', '/tmp/hoist-test-evil')\n"
		"f('z', 'z')\n"
		"sym('w', '../sentinel')\n"
		"fifo('w')\n"
		"sym('h', '../sentinel')\n"
		"f('target', 't')\n"
		"hl('h', 'target')\n",
		NULL, flags, NULL);
	assert_file(fx->rootfd, "x", "replaced", 0644);
	assert_file(fx->rootfd, "y/f", "inside", 0644);
	assert_file(fx->rootfd, "z", "z", 0644);
	assert_true(S_ISFIFO(mode_of(fx->rootfd, "w")));
	assert_file(fx->rootfd, "h", "t", 0644);
	check_outside(fx);

	/* relative symlinks that stay inside are followed */
	apply_ok(fx->rootfd,
		"d('usr/bin/')\n"
		"sym('bin', 'usr/bin')\n"
		"f('bin/sh', 'shell')\n"
		"d('a/b/')\n"
		"sym('a/b/up', '../../usr')\n"
		"f('a/b/up/lib', 'lib')\n",
		NULL, flags, NULL);
	assert_file(fx->rootfd, "usr/bin/sh", "shell", 0644);
	assert_file(fx->rootfd, "usr/lib", "lib", 0644);

	/* a directory replaced by a symlink that leads out: its attributes,
	 * set at the end of the layer, never reach the symlink's target */
	apply_ok(fx->rootfd,
		"d('p/', mode=0o700)\n"
		"d('p/q/', mode=0o777)\n"
		"sym('p', '../outside')\n",
		NULL, flags, NULL);
	assert_true(S_ISLNK(mode_of(fx->rootfd, "p")));

	/* hard links go to the root's file, never to the host's */
	apply_ok(fx->rootfd, "f('etc/passwd', 'root:x:0:0::/root:/bin/sh\\n')\n"
		"hl('pw', 'etc/passwd')\n", NULL, flags, NULL);
	struct stat a, b, host;
	assert_int_equal(fstatat(fx->rootfd, "pw", &a, 0), 0);
	assert_int_equal(fstatat(fx->rootfd, "etc/passwd", &b, 0), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	if (stat("/etc/passwd", &host) == 0)
		assert_false(a.st_ino == host.st_ino && a.st_dev == host.st_dev);
	check_outside(fx);
}

static void test_contained(void **state)
{
	run_contained(state, 0);
}

static void test_contained_walk(void **state)
{
	run_contained(state, HOIST_APPLY_FORCE_WALK);
}

static void test_list(void **state)
{
	(void)state;
	hoist_buf tar;
	make_tar(
		"d('./')\n"
		"d('etc/')\n"
		"f('etc/hosts', 'abc')\n"
		"WH('etc/.wh.old')\n"
		"WH('var/cache/.wh..wh..opq')\n"
		"WH('.wh..wh..opq')\n"
		"sym('l', '/x')\n"
		"hl('h', 'etc/hosts')\n"
		"dev('null', 1, 3)\n",
		&tar);
	hoist_reader *r = NULL;
	assert_int_equal(hoist_reader_new_mem(&r, tar.data, tar.len, NULL), 0);
	hoist_buf ch = HOIST_BUF_INIT(4096);
	hoist_error *err = NULL;
	assert_int_equal(hoist_layer_list(r, record_change, &ch, &err), 0);
	assert_null(err);
	assert_string_equal(ch.data,
		"A etc 0\n"
		"A etc/hosts 3\n"
		"D etc/old 0\n"
		"D var/cache/* 0\n"
		"D * 0\n"
		"A l 0\n"
		"A h 0\n"
		"A null 0\n");
	hoist_reader_free(r);
	hoist_buf_release(&tar);
	hoist_buf_release(&ch);

	/* the same refusals as apply */
	make_tar("f('ok', 'x')\nf('../evil', 'x')\n", &tar);
	assert_int_equal(hoist_reader_new_mem(&r, tar.data, tar.len, NULL), 0);
	assert_int_equal(hoist_layer_list(r, NULL, NULL, &err), -HOIST_E_UNSAFE);
	assert_non_null(strstr(err->msg, "layer entry '../evil'"));
	hoist_error_free(err);
	err = NULL;
	hoist_reader_free(r);
	hoist_buf_release(&tar);

	make_tar("hl('h', '/etc/shadow')\n", &tar);
	assert_int_equal(hoist_reader_new_mem(&r, tar.data, tar.len, NULL), 0);
	assert_int_equal(hoist_layer_list(r, NULL, NULL, &err), -HOIST_E_UNSAFE);
	assert_non_null(strstr(err->msg, "hard link target '/etc/shadow' is absolute"));
	hoist_error_free(err);
	err = NULL;
	hoist_reader_free(r);
	hoist_buf_release(&tar);

	make_tar("f('big', 'x' * 5000)\nCUT = 3000\n", &tar);
	assert_int_equal(hoist_reader_new_mem(&r, tar.data, tar.len, NULL), 0);
	assert_int_equal(hoist_layer_list(r, NULL, NULL, &err), -HOIST_E_INVALID);
	assert_non_null(strstr(err->msg, "layer entry 'big'"));
	hoist_error_free(err);
	hoist_reader_free(r);
	hoist_buf_release(&tar);
}

/* Errors of the reader underneath come out as they are, wrapped. */
static void test_reader_error(void **state)
{
	fixture *fx = *state;
	hoist_buf tar;
	make_tar("f('a', 'x' * 300000)\n", &tar);
	hoist_reader *m = NULL, *v = NULL;
	hoist_digest want;
	assert_int_equal(hoist_digest_of(&want, HOIST_DIGEST_SHA256, "", 0, NULL), 0);
	assert_int_equal(hoist_reader_new_mem(&m, tar.data, tar.len, NULL), 0);
	assert_int_equal(hoist_reader_new_verify(&v, m, &want, 1000, "layer blob", NULL), 0);
	hoist_error *err = NULL;
	int r = hoist_layer_apply(fx->rootfd, v, NULL, NULL, NULL, &err);
	assert_int_equal(r, -HOIST_E_DIGEST);
	assert_non_null(strstr(err->msg, "layer blob: more data than its declared size 1000"));
	hoist_error_free(err);
	hoist_reader_free(v);
	hoist_buf_release(&tar);

	/* an empty stream is an empty layer */
	assert_int_equal(apply_bytes(fx->rootfd, "", 0, NULL, 0, NULL, NULL), 0);
	/* the root must be a directory */
	int fd = openat(fx->parentfd, "sentinel", O_RDONLY);
	assert_true(fd >= 0);
	err = NULL;
	assert_int_equal(apply_bytes(fd, "", 0, NULL, 0, NULL, &err), -HOIST_E_INVALID);
	hoist_error_free(err);
	close(fd);
	check_outside(fx);
}

static void test_names(void **state)
{
	fixture *fx = *state;
	/* raw bytes that are not UTF-8, in both formats */
	apply_ok(fx->rootfd,
		"FMT = tarfile.GNU_FORMAT\n"
		"f(b'raw\\xff'.decode('utf-8', 'surrogateescape'), 'r')\n"
		"f('a' * 200 + '/' + 'b' * 200, 'long')\n"
		"f('.//dots/./x', 'x')\n",
		NULL, 0, NULL);
	assert_file(fx->rootfd, "raw\xff", "r", 0644);
	assert_file(fx->rootfd, "dots/x", "x", 0644);
	char longname[512];
	memset(longname, 'a', 200);
	longname[200] = '/';
	memset(longname + 201, 'b', 200);
	longname[401] = '\0';
	assert_file(fx->rootfd, longname, "long", 0644);
	apply_ok(fx->rootfd, "f(b'pax\\xfe'.decode('utf-8', 'surrogateescape'), 'p')\n",
		NULL, 0, NULL);
	assert_file(fx->rootfd, "pax\xfe", "p", 0644);
	/* a file in the way of a parent */
	hoist_error *err = NULL;
	assert_int_equal(apply_py(fx->rootfd, "f('file', 'x')\nf('file/sub', 'y')\n",
		NULL, 0, NULL, &err), -HOIST_E_IO);
	assert_non_null(strstr(err->msg,
		"layer entry 'file/sub': parent 'file' is not a directory"));
	hoist_error_free(err);
	err = NULL;
	/* a component too long for any file system */
	assert_int_equal(apply_py(fx->rootfd, "f('n' * 300, 'x')\n", NULL, 0, NULL, &err),
		-HOIST_E_LIMIT);
	assert_non_null(strstr(err->msg, "component longer than 255 bytes"));
	hoist_error_free(err);
	check_outside(fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_basic_layer, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_basic_layer_walk, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_whiteouts, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_readonly_dir, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_readonly_dir_unprivileged, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_keep_owner, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_sparse, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_hostile, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_hostile_walk, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_contained, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_contained_walk, fixture_setup, fixture_teardown),
		cmocka_unit_test(test_list),
		cmocka_unit_test_setup_teardown(test_reader_error, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_names, fixture_setup, fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

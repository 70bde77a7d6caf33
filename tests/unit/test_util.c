#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hoist/buf.h"
#include "hoist/error.h"
#include "hoist/fs.h"
#include "hoist/io.h"
#include "util/cleanup.h"

static void test_error_wrap(void **state)
{
	(void)state;
	hoist_error *err = NULL;
	assert_int_equal(hoist_error_set(&err, HOIST_E_NOTFOUND, "blob '%s' missing", "x"),
		-HOIST_E_NOTFOUND);
	/* the first error wins */
	assert_int_equal(hoist_error_set(&err, HOIST_E_IO, "later"), -HOIST_E_IO);
	assert_int_equal(hoist_error_wrap(&err, HOIST_E_IO, "pull '%s'", "a:1"),
		-HOIST_E_NOTFOUND);
	assert_string_equal(err->msg, "pull 'a:1': blob 'x' missing");
	hoist_error_free(err);
	err = NULL;
	assert_int_equal(hoist_error_wrap(&err, HOIST_E_IO, "step"), -HOIST_E_IO);
	assert_string_equal(err->msg, "step: failed");
	hoist_error_free(err);
	err = NULL;
	assert_int_equal(hoist_error_errno(&err, ENOENT, "open '%s'", "f"), -HOIST_E_NOTFOUND);
	assert_non_null(strstr(err->msg, "No such file"));
	hoist_error_free(err);
	/* NULL err pointer is allowed */
	assert_int_equal(hoist_error_set(NULL, HOIST_E_LIMIT, "x"), -HOIST_E_LIMIT);
}

static void test_buf_limit(void **state)
{
	(void)state;
	hoist_buf b = HOIST_BUF_INIT(10);
	hoist_error *err = NULL;
	assert_int_equal(hoist_buf_appends(&b, "hello", NULL), 0);
	assert_int_equal(hoist_buf_appendf(&b, NULL, "%d", 1234), 0);
	assert_string_equal(b.data, "hello1234");
	assert_int_equal(hoist_buf_appends(&b, "ab", &err), -HOIST_E_LIMIT);
	assert_non_null(strstr(err->msg, "limit of 10 bytes"));
	hoist_error_free(err);
	assert_int_equal(b.len, 9);
	size_t n;
	char *s = hoist_buf_steal(&b, &n);
	assert_int_equal(n, 9);
	assert_null(b.data);
	free(s);
	hoist_buf_release(&b);
}

static void test_verify_reader(void **state)
{
	(void)state;
	const char *data = "some blob content";
	hoist_digest want;
	hoist_digest_of(&want, HOIST_DIGEST_SHA256, data, strlen(data), NULL);
	hoist_buf b = HOIST_BUF_INIT(1024);
	hoist_reader *m = NULL, *v = NULL;
	hoist_error *err = NULL;

	/* correct content and size */
	assert_int_equal(hoist_reader_new_mem(&m, data, strlen(data), NULL), 0);
	assert_int_equal(hoist_reader_new_verify(&v, m, &want, (int64_t)strlen(data), "blob", NULL), 0);
	assert_int_equal(hoist_reader_read_all(v, &b, &err), 0);
	assert_string_equal(b.data, data);
	hoist_reader_free(v);
	hoist_buf_reset(&b);

	/* one byte changed: fails at the end with a digest error */
	char bad[64];
	snprintf(bad, sizeof(bad), "%s", data);
	bad[0] = 'S';
	assert_int_equal(hoist_reader_new_mem(&m, bad, strlen(bad), NULL), 0);
	assert_int_equal(hoist_reader_new_verify(&v, m, &want, -1, "blob x", NULL), 0);
	assert_int_equal(hoist_reader_read_all(v, &b, &err), -HOIST_E_DIGEST);
	assert_non_null(strstr(err->msg, "blob x: content has digest"));
	hoist_error_free(err);
	err = NULL;
	hoist_reader_free(v);
	hoist_buf_reset(&b);

	/* longer than declared: fails as soon as it overflows */
	assert_int_equal(hoist_reader_new_mem(&m, data, strlen(data), NULL), 0);
	assert_int_equal(hoist_reader_new_verify(&v, m, &want, 4, "blob", NULL), 0);
	assert_int_equal(hoist_reader_read_all(v, &b, &err), -HOIST_E_DIGEST);
	assert_non_null(strstr(err->msg, "more data than its declared size 4"));
	hoist_error_free(err);
	err = NULL;
	hoist_reader_free(v);
	hoist_buf_reset(&b);

	/* shorter than declared */
	assert_int_equal(hoist_reader_new_mem(&m, data, strlen(data), NULL), 0);
	assert_int_equal(hoist_reader_new_verify(&v, m, &want, 100, "blob", NULL), 0);
	assert_int_equal(hoist_reader_read_all(v, &b, &err), -HOIST_E_DIGEST);
	assert_non_null(strstr(err->msg, "does not match the declared 100"));
	hoist_error_free(err);
	hoist_reader_free(v);
	hoist_buf_release(&b);
}

static void test_limit_reader_and_copy(void **state)
{
	(void)state;
	hoist_reader *m = NULL, *l = NULL;
	assert_int_equal(hoist_reader_new_mem(&m, "0123456789", 10, NULL), 0);
	assert_int_equal(hoist_reader_new_limit(&l, m, 4, NULL), 0);
	char path[] = "/tmp/hoist-test-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	hoist_writer *w = NULL;
	assert_int_equal(hoist_writer_new_fd(&w, fd, true, NULL), 0);
	uint64_t n = 0;
	assert_int_equal(hoist_copy(l, w, &n, NULL), 0);
	assert_int_equal(n, 4);
	hoist_writer_free(w);
	hoist_reader_free(l);
	hoist_buf b = HOIST_BUF_INIT(100);
	assert_int_equal(hoist_fs_read_file(AT_FDCWD, path, &b, NULL), 0);
	assert_string_equal(b.data, "0123");
	hoist_buf_release(&b);
	unlink(path);
}

static void test_atomic_write(void **state)
{
	(void)state;
	char dir[] = "/tmp/hoist-test-XXXXXX";
	assert_non_null(mkdtemp(dir));
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	assert_int_equal(hoist_fs_write_atomic(dfd, "f", "one", 3, 0644, NULL), 0);
	assert_int_equal(hoist_fs_write_atomic(dfd, "f", "two!", 4, 0600, NULL), 0);
	hoist_buf b = HOIST_BUF_INIT(100);
	assert_int_equal(hoist_fs_read_file(dfd, "f", &b, NULL), 0);
	assert_string_equal(b.data, "two!");
	hoist_buf_release(&b);
	struct stat st;
	assert_int_equal(fstatat(dfd, "f", &st, 0), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* an aborted temp file leaves nothing behind */
	hoist_fs_tmp t;
	assert_int_equal(hoist_fs_tmp_open(&t, dfd, 0644, NULL), 0);
	assert_int_equal(write(t.fd, "partial", 7), 7);
	char name[64];
	snprintf(name, sizeof(name), "%s", t.name);
	assert_true(hoist_fs_exists(dfd, name));
	hoist_fs_tmp_abort(&t);
	assert_false(hoist_fs_exists(dfd, name));

	/* mkdir -p and rm -rf */
	assert_int_equal(hoist_fs_mkdir_p(dfd, "a/b/c", 0755, NULL), 0);
	assert_int_equal(hoist_fs_write_atomic(dfd, "a/b/c/x", "x", 1, 0644, NULL), 0);
	assert_int_equal(symlinkat("/etc", dfd, "a/link"), 0);
	assert_int_equal(hoist_fs_rm_rf(dfd, "a", NULL), 0);
	assert_false(hoist_fs_exists(dfd, "a"));
	assert_true(hoist_fs_exists(AT_FDCWD, "/etc/passwd"));
	hoist_error *err = NULL;
	assert_int_equal(hoist_fs_read_file(dfd, "missing", &b, &err), -HOIST_E_NOTFOUND);
	assert_non_null(strstr(err->msg, "open 'missing'"));
	hoist_error_free(err);
	assert_int_equal(hoist_fs_rm_rf(AT_FDCWD, dir, NULL), 0);
	close(dfd);
}

/* A directory's entries, sorted bytewise, with their types; read from the
 * start however far the fd had been read. */
static void test_dirlist(void **state)
{
	(void)state;
	char dir[] = "/tmp/hoist-test-XXXXXX";
	assert_non_null(mkdtemp(dir));
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	const char *files[] = { "b", "a.b", "C", "a" };
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(hoist_fs_write_atomic(dfd, files[i], "", 0, 0644, NULL), 0);
	assert_int_equal(mkdirat(dfd, "a-dir", 0755), 0);
	hoist_fs_dirlist l;
	for (int pass = 0; pass < 2; pass++) {
		assert_int_equal(hoist_fs_dirlist_read(&l, dfd, dir, NULL), 0);
		assert_int_equal(l.n, 5);
		const char *want[] = { "C", "a", "a-dir", "a.b", "b" };
		for (size_t i = 0; i < 5; i++)
			assert_string_equal(hoist_fs_dirlist_name(&l, i), want[i]);
		if (l.v[2].type != DT_UNKNOWN)
			assert_int_equal(l.v[2].type, DT_DIR);
		if (l.v[0].type != DT_UNKNOWN)
			assert_int_equal(l.v[0].type, DT_REG);
		hoist_fs_dirlist_release(&l);
	}
	assert_int_equal(hoist_fs_rm_rf(AT_FDCWD, dir, NULL), 0);
	close(dfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_wrap),
		cmocka_unit_test(test_buf_limit),
		cmocka_unit_test(test_verify_reader),
		cmocka_unit_test(test_limit_reader_and_copy),
		cmocka_unit_test(test_atomic_write),
		cmocka_unit_test(test_dirlist),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

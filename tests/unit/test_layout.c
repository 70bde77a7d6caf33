/* OCI image layout store: blobs, index.json, crash leftovers, concurrency,
 * gc, and interoperation with skopeo and umoci (skipped when absent). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "hoist/fs.h"
#include "hoist/layout.h"
#include "hoist/manifest.h"
#include "util/cleanup.h"

typedef struct fixture {
	char dir[PATH_MAX];    /* fresh mkdtemp directory */
	char layout[PATH_MAX + 8]; /* dir/layout */
} fixture;

#define CHECK_OK(expr, errp)                                                   \
	do {                                                                   \
		int r_ = (expr);                                               \
		if (r_ < 0)                                                    \
			fail_msg("%s failed: %d %s", #expr, r_,                \
				*(errp) ? (*(errp))->msg : "(no error)");      \
	} while (0)

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	const char *tmp = getenv("TMPDIR");
	snprintf(f->dir, sizeof(f->dir), "%s/hoist-layout-XXXXXX",
		tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->layout, sizeof(f->layout), "%s/layout", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	hoist_error *err = NULL;
	hoist_fs_rm_rf(AT_FDCWD, f->dir, &err);
	hoist_error_free(err);
	free(f);
	return 0;
}

static hoist_layout *open_layout(const char *dir, bool create)
{
	hoist_layout *l = NULL;
	hoist_error *err = NULL;
	int r = hoist_layout_open(&l, dir, create, &err);
	if (r < 0) {
		print_error("open '%s': %s\n", dir, err ? err->msg : "?");
		hoist_error_free(err);
		fail();
	}
	return l;
}

static void write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static void write_str(const char *path, const char *s)
{
	write_file(path, s, strlen(s));
}

static char *pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *pathf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	assert_true(vasprintf(&s, fmt, ap) >= 0);
	va_end(ap);
	return s;
}

static void blob_path(char *out, size_t n, const char *layout,
	const hoist_digest *d)
{
	snprintf(out, n, "%s/blobs/%s/%s", layout, hoist_digest_algo_name(d->algo),
		hoist_digest_hex(d));
}

/* Number of entries of dir whose name starts with prefix. */
static int count_prefix(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, prefix, strlen(prefix)) &&
			strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void put_mem(hoist_layout *l, const char *s, hoist_digest *out)
{
	hoist_error *err = NULL;
	CHECK_OK(hoist_layout_put_blob_mem(l, s, strlen(s), out, &err), &err);
}

static void make_desc(hoist_descriptor *d, const char *mt,
	const hoist_digest *dg, int64_t size)
{
	memset(d, 0, sizeof(*d));
	d->media_type = strdup(mt);
	assert_non_null(d->media_type);
	d->digest = *dg;
	d->size = size;
}

static void set_ref(hoist_layout *l, const char *name, const char *mt,
	const hoist_digest *dg, int64_t size)
{
	hoist_descriptor d;
	make_desc(&d, mt, dg, size);
	hoist_error *err = NULL;
	CHECK_OK(hoist_layout_set_ref(l, name, &d, &err), &err);
	hoist_descriptor_release(&d);
}

/* A config + layer + manifest image; returns the manifest digest/size. */
static void put_image(hoist_layout *l, const char *tagline, hoist_digest *mdg,
	size_t *msize, hoist_digest *cfg, hoist_digest *layer)
{
	char cfgs[512], mans[1024];
	hoist_digest c, ly;
	snprintf(cfgs, sizeof(cfgs),
		"{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Labels\":{\"t\":\"%s\"}},"
		"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
		tagline);
	put_mem(l, cfgs, &c);
	char layer_s[64];
	snprintf(layer_s, sizeof(layer_s), "layer of %s", tagline);
	put_mem(l, layer_s, &ly);
	snprintf(mans, sizeof(mans),
		"{\"schemaVersion\":2,\"mediaType\":\"" HOIST_MT_OCI_MANIFEST "\","
		"\"config\":{\"mediaType\":\"" HOIST_MT_OCI_CONFIG "\",\"digest\":\"%s\",\"size\":%zu},"
		"\"layers\":[{\"mediaType\":\"" HOIST_MT_OCI_LAYER_GZIP "\",\"digest\":\"%s\",\"size\":%zu}]}",
		c.str, strlen(cfgs), ly.str, strlen(layer_s));
	put_mem(l, mans, mdg);
	if (msize)
		*msize = strlen(mans);
	if (cfg)
		*cfg = c;
	if (layer)
		*layer = ly;
}

/* ---- create / open ---- */

static void test_create_open(void **state)
{
	fixture *f = *state;
	char sub[PATH_MAX + 16];
	snprintf(sub, sizeof(sub), "%s/a/b", f->layout);
	hoist_layout *l = open_layout(sub, true);
	assert_string_equal(hoist_layout_path(l), sub);

	_cleanup_free_ char *lp = pathf("%s/oci-layout", sub);
	json_error_t je;
	json_t *j = json_load_file(lp, 0, &je);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "imageLayoutVersion")),
		"1.0.0");
	json_decref(j);
	_cleanup_free_ char *ip = pathf("%s/index.json", sub);
	j = json_load_file(ip, 0, &je);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "schemaVersion")), 2);
	assert_string_equal(json_string_value(json_object_get(j, "mediaType")),
		HOIST_MT_OCI_INDEX);
	assert_true(json_is_array(json_object_get(j, "manifests")));
	assert_int_equal(json_array_size(json_object_get(j, "manifests")), 0);
	json_decref(j);
	_cleanup_free_ char *bp = pathf("%s/blobs/sha256", sub);
	struct stat st;
	assert_int_equal(stat(bp, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	hoist_layout_free(l);

	/* Reopen without create, and create again on an existing layout. */
	l = open_layout(sub, false);
	hoist_layout_entry *e = NULL;
	size_t n = 99;
	hoist_error *err = NULL;
	CHECK_OK(hoist_layout_list(l, &e, &n, &err), &err);
	assert_int_equal(n, 0);
	hoist_layout_entries_free(e, n);
	hoist_layout_free(l);
	l = open_layout(sub, true);
	hoist_layout_free(l);
}

static void expect_open_error(const char *dir, int code, const char *needle)
{
	hoist_layout *l = NULL;
	hoist_error *err = NULL;
	int r = hoist_layout_open(&l, dir, false, &err);
	assert_int_equal(r, -code);
	assert_null(l);
	assert_non_null(err);
	if (!strstr(err->msg, needle))
		fail_msg("error '%s' does not mention '%s'", err->msg, needle);
	hoist_error_free(err);
}

static void expect_list_error(const char *dir, int code, const char *needle)
{
	hoist_layout *l = open_layout(dir, false);
	hoist_layout_entry *e = NULL;
	size_t n = 0;
	hoist_error *err = NULL;
	int r = hoist_layout_list(l, &e, &n, &err);
	assert_int_equal(r, -code);
	assert_non_null(err);
	if (!strstr(err->msg, needle))
		fail_msg("error '%s' does not mention '%s'", err->msg, needle);
	hoist_error_free(err);
	/* Name lookups read the same file and fail the same way, except
	 * for a bad entry they do not look at. */
	hoist_descriptor d;
	err = NULL;
	assert_int_equal(hoist_layout_resolve(l, "x", NULL, &d, &err),
		code == HOIST_E_INVALID && strstr(needle, "manifests[") ? -HOIST_E_NOTFOUND
									: -code);
	hoist_error_free(err);
	hoist_layout_free(l);
}

static void test_not_a_layout(void **state)
{
	fixture *f = *state;
	/* Missing directory. */
	expect_open_error(f->layout, HOIST_E_NOTFOUND, f->layout);
	/* A plain file. */
	write_str(f->layout, "x");
	expect_open_error(f->layout, HOIST_E_INVALID, "not a directory");
	unlink(f->layout);
	/* An empty directory. */
	assert_int_equal(mkdir(f->layout, 0755), 0);
	expect_open_error(f->layout, HOIST_E_INVALID, "oci-layout");

	_cleanup_free_ char *lp = pathf("%s/oci-layout", f->layout);
	_cleanup_free_ char *ip = pathf("%s/index.json", f->layout);
	write_str(lp, "{not json");
	expect_open_error(f->layout, HOIST_E_INVALID, "oci-layout");
	write_str(lp, "{\"imageLayoutVersion\":\"2.0.0\"}");
	expect_open_error(f->layout, HOIST_E_UNSUPPORTED, "2.0.0");
	write_str(lp, "{\"imageLayoutVersion\":\"1.0.0\"}");
	expect_open_error(f->layout, HOIST_E_INVALID, "index.json");

	write_str(ip, "{\"schemaVersion\":2,\"manifests\":[");
	expect_list_error(f->layout, HOIST_E_INVALID, ip);
	write_str(ip, "[]");
	expect_list_error(f->layout, HOIST_E_INVALID, "index.json");
	write_str(ip, "{\"schemaVersion\":1,\"manifests\":[]}");
	expect_list_error(f->layout, HOIST_E_INVALID, "schemaVersion");
	write_str(ip, "{\"schemaVersion\":2,\"manifests\":{}}");
	expect_list_error(f->layout, HOIST_E_INVALID, "manifests");
	write_str(ip, "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\""
		HOIST_MT_OCI_MANIFEST "\",\"digest\":\"sha256:nothex\",\"size\":1}]}");
	expect_list_error(f->layout, HOIST_E_INVALID, "manifests[0]");

	/* Too many entries (small file, 100001 entries); at 100000 a new
	 * name is refused. */
	for (size_t cnt = 100000; cnt <= 100001; cnt++) {
		size_t cap = 64 + cnt * 3;
		char *s = malloc(cap);
		assert_non_null(s);
		size_t off = (size_t)snprintf(s, cap, "{\"schemaVersion\":2,\"manifests\":[");
		for (size_t i = 0; i < cnt; i++) {
			memcpy(s + off, i ? ",{}" : "{}", i ? 3 : 2);
			off += i ? 3 : 2;
		}
		memcpy(s + off, "]}", 2);
		off += 2;
		write_file(ip, s, off);
		free(s);
		if (cnt > 100000) {
			expect_list_error(f->layout, HOIST_E_LIMIT, ip);
			continue;
		}
		hoist_layout *l = open_layout(f->layout, false);
		hoist_descriptor d;
		hoist_digest dg;
		hoist_error *err = NULL;
		CHECK_OK(hoist_digest_of(&dg, HOIST_DIGEST_SHA256, "x", 1, &err), &err);
		make_desc(&d, HOIST_MT_OCI_MANIFEST, &dg, 1);
		assert_int_equal(hoist_layout_set_ref(l, "x", &d, &err), -HOIST_E_LIMIT);
		assert_non_null(strstr(err->msg, "100000"));
		hoist_error_free(err);
		hoist_descriptor_release(&d);
		hoist_layout_free(l);
	}
	/* Larger than 16 MiB (sparse). */
	{
		int fd = open(ip, O_WRONLY | O_TRUNC | O_CLOEXEC);
		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, 16 * 1024 * 1024 + 1), 0);
		close(fd);
		expect_list_error(f->layout, HOIST_E_LIMIT, ip);
	}
	/* A valid index makes it a layout. */
	write_str(ip, "{\"schemaVersion\":2,\"manifests\":[]}");
	hoist_layout_free(open_layout(f->layout, false));
}

/* ---- blobs ---- */

/* A reader that hands out a fixed pattern, counting how much was read. */
typedef struct pattern_reader {
	hoist_reader base;
	size_t len, off;
} pattern_reader;

static unsigned char pattern_byte(size_t i)
{
	return (unsigned char)((i * 2654435761u) >> 13);
}

static ssize_t pattern_read(hoist_reader *r, void *buf, size_t n, hoist_error **err)
{
	(void)err;
	pattern_reader *p = (pattern_reader *)r;
	if (n > p->len - p->off)
		n = p->len - p->off;
	/* Short reads on purpose, to exercise the copy loop. */
	if (n > 10000)
		n = 10000;
	for (size_t i = 0; i < n; i++)
		((unsigned char *)buf)[i] = pattern_byte(p->off + i);
	p->off += n;
	return (ssize_t)n;
}

static void pattern_free(hoist_reader *r)
{
	(void)r;
}

static const hoist_reader_ops pattern_ops = { pattern_read, pattern_free };

static void pattern_digest(size_t len, hoist_digest *out)
{
	unsigned char *p = malloc(len ? len : 1);
	assert_non_null(p);
	for (size_t i = 0; i < len; i++)
		p[i] = pattern_byte(i);
	hoist_error *err = NULL;
	CHECK_OK(hoist_digest_of(out, HOIST_DIGEST_SHA256, p, len, &err), &err);
	free(p);
}

static void test_blob_roundtrip(void **state)
{
	fixture *f = *state;
	hoist_layout *l = open_layout(f->layout, true);
	hoist_error *err = NULL;

	hoist_digest d;
	put_mem(l, "hello blob", &d);
	hoist_digest want;
	CHECK_OK(hoist_digest_of(&want, HOIST_DIGEST_SHA256, "hello blob", 10, &err), &err);
	assert_string_equal(d.str, want.str);
	assert_true(hoist_layout_has_blob(l, &d));
	int64_t size = 0;
	CHECK_OK(hoist_layout_blob_size(l, &d, &size, &err), &err);
	assert_int_equal(size, 10);
	hoist_buf b = HOIST_BUF_INIT(1024);
	CHECK_OK(hoist_layout_read_blob(l, &d, 1024, &b, &err), &err);
	assert_int_equal(b.len, 10);
	assert_memory_equal(b.data, "hello blob", 10);
	hoist_buf_release(&b);
	/* The max is enforced. */
	hoist_buf b2 = HOIST_BUF_INIT(1024);
	assert_int_equal(hoist_layout_read_blob(l, &d, 5, &b2, &err), -HOIST_E_LIMIT);
	hoist_error_freep(&err);
	hoist_buf_release(&b2);

	/* A streamed blob larger than the copy buffer. */
	size_t big = 3 * HOIST_IO_CHUNK + 123;
	hoist_digest bd;
	pattern_digest(big, &bd);
	pattern_reader pr = { { &pattern_ops }, big, 0 };
	CHECK_OK(hoist_layout_put_blob(l, &bd, (int64_t)big, &pr.base, &err), &err);
	assert_int_equal(pr.off, big);
	hoist_reader *rd = NULL;
	CHECK_OK(hoist_layout_open_blob(l, &bd, (int64_t)big, &rd, &err), &err);
	unsigned char *chunk = malloc(HOIST_IO_CHUNK);
	assert_non_null(chunk);
	size_t total = 0;
	for (;;) {
		ssize_t k = hoist_reader_read(rd, chunk, HOIST_IO_CHUNK, &err);
		CHECK_OK((int)(k < 0 ? k : 0), &err);
		if (k == 0)
			break;
		for (ssize_t i = 0; i < k; i++)
			assert_int_equal(chunk[i], pattern_byte(total + (size_t)i));
		total += (size_t)k;
	}
	assert_int_equal(total, big);
	free(chunk);
	hoist_reader_free(rd);

	/* An existing blob is not rewritten and the reader not consumed. */
	pattern_reader again = { { &pattern_ops }, big, 0 };
	CHECK_OK(hoist_layout_put_blob(l, &bd, (int64_t)big, &again.base, &err), &err);
	assert_int_equal(again.off, 0);

	/* An empty blob. */
	hoist_digest ed;
	CHECK_OK(hoist_layout_put_blob_mem(l, "", 0, &ed, &err), &err);
	assert_true(hoist_layout_has_blob(l, &ed));

	/* Unknown size (-1) is accepted and verified by digest. */
	hoist_digest sd;
	pattern_digest(5000, &sd);
	{
		_cleanup_free_ char *p = pathf("%s/blobs/sha256/%s", f->layout,
			hoist_digest_hex(&sd));
		unlink(p);
	}
	pattern_reader pr2 = { { &pattern_ops }, 5000, 0 };
	CHECK_OK(hoist_layout_put_blob(l, &sd, -1, &pr2.base, &err), &err);
	CHECK_OK(hoist_layout_blob_size(l, &sd, &size, &err), &err);
	assert_int_equal(size, 5000);

	/* Missing blobs name the digest and the layout. */
	hoist_digest missing;
	CHECK_OK(hoist_digest_of(&missing, HOIST_DIGEST_SHA256, "nope", 4, &err), &err);
	assert_false(hoist_layout_has_blob(l, &missing));
	assert_int_equal(hoist_layout_open_blob(l, &missing, -1, &rd, &err),
		-HOIST_E_NOTFOUND);
	assert_non_null(strstr(err->msg, missing.str));
	assert_non_null(strstr(err->msg, f->layout));
	hoist_error_freep(&err);
	assert_int_equal(hoist_layout_blob_size(l, &missing, &size, &err),
		-HOIST_E_NOTFOUND);
	hoist_error_freep(&err);
	hoist_buf b3 = HOIST_BUF_INIT(1024);
	assert_int_equal(hoist_layout_read_blob(l, &missing, 1024, &b3, &err),
		-HOIST_E_NOTFOUND);
	hoist_error_freep(&err);
	hoist_buf_release(&b3);
	/* sha512 blobs live in blobs/sha512, created on demand. */
	hoist_digest d512;
	CHECK_OK(hoist_digest_of(&d512, HOIST_DIGEST_SHA512, "x", 1, &err), &err);
	assert_false(hoist_layout_has_blob(l, &d512));
	hoist_reader *mr = NULL;
	CHECK_OK(hoist_reader_new_mem(&mr, "x", 1, &err), &err);
	CHECK_OK(hoist_layout_put_blob(l, &d512, 1, mr, &err), &err);
	hoist_reader_free(mr);
	char p512[PATH_MAX + 200];
	blob_path(p512, sizeof(p512), f->layout, &d512);
	assert_true(strstr(p512, "/blobs/sha512/") != NULL);
	assert_int_equal(access(p512, R_OK), 0);

	_cleanup_free_ char *sha = pathf("%s/blobs/sha256", f->layout);
	assert_int_equal(count_prefix(sha, ".tmp-"), 0);
	hoist_layout_free(l);
}

static void test_put_wrong_digest(void **state)
{
	fixture *f = *state;
	hoist_layout *l = open_layout(f->layout, true);
	hoist_error *err = NULL;
	hoist_digest claimed, actual;
	CHECK_OK(hoist_digest_of(&claimed, HOIST_DIGEST_SHA256, "other", 5, &err), &err);
	CHECK_OK(hoist_digest_of(&actual, HOIST_DIGEST_SHA256, "content", 7, &err), &err);
	hoist_reader *r = NULL;
	CHECK_OK(hoist_reader_new_mem(&r, "content", 7, &err), &err);
	assert_int_equal(hoist_layout_put_blob(l, &claimed, 7, r, &err), -HOIST_E_DIGEST);
	hoist_reader_free(r);
	assert_non_null(err);
	if (!strstr(err->msg, claimed.str) || !strstr(err->msg, actual.str))
		fail_msg("message should name both digests: %s", err->msg);
	hoist_error_freep(&err);
	assert_false(hoist_layout_has_blob(l, &claimed));
	assert_false(hoist_layout_has_blob(l, &actual));
	_cleanup_free_ char *sha = pathf("%s/blobs/sha256", f->layout);
	assert_int_equal(count_prefix(sha, ""), 0);
	hoist_layout_free(l);
}

static void test_put_wrong_size(void **state)
{
	fixture *f = *state;
	hoist_layout *l = open_layout(f->layout, true);
	hoist_error *err = NULL;
	hoist_digest d;
	CHECK_OK(hoist_digest_of(&d, HOIST_DIGEST_SHA256, "content", 7, &err), &err);
	const int64_t sizes[] = { 6, 8, 0 };
	for (size_t i = 0; i < 3; i++) {
		hoist_reader *r = NULL;
		CHECK_OK(hoist_reader_new_mem(&r, "content", 7, &err), &err);
		assert_int_equal(hoist_layout_put_blob(l, &d, sizes[i], r, &err),
			-HOIST_E_DIGEST);
		hoist_reader_free(r);
		assert_non_null(strstr(err->msg, "size"));
		hoist_error_freep(&err);
		assert_false(hoist_layout_has_blob(l, &d));
	}
	_cleanup_free_ char *sha = pathf("%s/blobs/sha256", f->layout);
	assert_int_equal(count_prefix(sha, ""), 0);
	hoist_layout_free(l);
}

static void test_corrupt_on_disk(void **state)
{
	fixture *f = *state;
	hoist_layout *l = open_layout(f->layout, true);
	hoist_error *err = NULL;
	size_t big = 2 * HOIST_IO_CHUNK;
	hoist_digest d;
	pattern_digest(big, &d);
	pattern_reader pr = { { &pattern_ops }, big, 0 };
	CHECK_OK(hoist_layout_put_blob(l, &d, (int64_t)big, &pr.base, &err), &err);

	/* Flip one byte near the end. */
	char p[PATH_MAX + 200];
	blob_path(p, sizeof(p), f->layout, &d);
	int fd = open(p, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	unsigned char c;
	assert_int_equal(pread(fd, &c, 1, (off_t)big - 7), 1);
	c ^= 0x40;
	assert_int_equal(pwrite(fd, &c, 1, (off_t)big - 7), 1);
	close(fd);

	hoist_reader *r = NULL;
	CHECK_OK(hoist_layout_open_blob(l, &d, (int64_t)big, &r, &err), &err);
	char *buf = malloc(4096);
	assert_non_null(buf);
	/* The data flows; the failure comes at the end. */
	ssize_t k = hoist_reader_read(r, buf, 4096, &err);
	assert_true(k > 0);
	for (;;) {
		k = hoist_reader_read(r, buf, 4096, &err);
		if (k <= 0)
			break;
	}
	assert_int_equal(k, -HOIST_E_DIGEST);
	assert_non_null(strstr(err->msg, d.str));
	hoist_error_freep(&err);
	free(buf);
	hoist_reader_free(r);

	hoist_buf b = HOIST_BUF_INIT(big + 1);
	assert_int_equal(hoist_layout_read_blob(l, &d, big + 1, &b, &err),
		-HOIST_E_DIGEST);
	hoist_error_freep(&err);
	hoist_buf_release(&b);

	/* A truncated blob fails as soon as the size is known. */
	assert_int_equal(truncate(p, 100), 0);
	assert_int_equal(hoist_layout_open_blob(l, &d, (int64_t)big, &r, &err),
		-HOIST_E_DIGEST);
	hoist_error_freep(&err);
	CHECK_OK(hoist_layout_open_blob(l, &d, -1, &r, &err), &err);
	hoist_buf b2 = HOIST_BUF_INIT(big);
	assert_int_equal(hoist_reader_read_all(r, &b2, &err), -HOIST_E_DIGEST);
	hoist_error_freep(&err);
	hoist_buf_release(&b2);
	hoist_reader_free(r);
	hoist_layout_free(l);
}

/* A blob and an index.json half written when the writer died. */
static void test_crash_leftovers(void **state)
{
	fixture *f = *state;
	hoist_layout *l = open_layout(f->layout, true);
	hoist_error *err = NULL;
	hoist_digest m;
	size_t msize;
	put_image(l, "kept", &m, &msize, NULL, NULL);
	set_ref(l, "v1", HOIST_MT_OCI_MANIFEST, &m, (int64_t)msize);
	hoist_layout_free(l);

	const char *content = "the full blob content";
	hoist_digest d;
	CHECK_OK(hoist_digest_of(&d, HOIST_DIGEST_SHA256, content, strlen(content), &err), &err);
	_cleanup_free_ char *tblob = pathf("%s/blobs/sha256/.tmp-0123456789abcdef", f->layout);
	_cleanup_free_ char *tindex = pathf("%s/.tmp-fedcba9876543210", f->layout);
	write_file(tblob, content, 8);
	write_str(tindex, "{\"schemaVersion\":2,\"manifests\":[{\"media");

	l = open_layout(f->layout, false);
	hoist_layout_entry *e = NULL;
	size_t n = 0;
	CHECK_OK(hoist_layout_list(l, &e, &n, &err), &err);
	assert_int_equal(n, 1);
	assert_string_equal(e[0].name, "v1");
	assert_string_equal(e[0].desc.digest.str, m.str);
	hoist_layout_entries_free(e, n);
	assert_false(hoist_layout_has_blob(l, &d));

	hoist_digest got;
	put_mem(l, content, &got);
	assert_string_equal(got.str, d.str);
	hoist_buf b = HOIST_BUF_INIT(1024);
	CHECK_OK(hoist_layout_read_blob(l, &d, 1024, &b, &err), &err);
	assert_string_equal(b.data, content);
	hoist_buf_release(&b);

	/* Fresh temp files may belong to a live writer: kept. */
	uint64_t nb = 99, bytes = 99;
	CHECK_OK(hoist_layout_gc(l, &nb, &bytes, &err), &err);
	assert_int_equal(nb, 1); /* the unreferenced blob just written */
	assert_int_equal(bytes, strlen(content));
	assert_int_equal(access(tblob, F_OK), 0);
	assert_int_equal(access(tindex, F_OK), 0);

	/* Two hours old: leftovers of a crash, removed. */
	struct timespec ts[2];
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= 7200;
	ts[1] = ts[0];
	assert_int_equal(utimensat(AT_FDCWD, tblob, ts, 0), 0);
	assert_int_equal(utimensat(AT_FDCWD, tindex, ts, 0), 0);
	CHECK_OK(hoist_layout_gc(l, &nb, &bytes, &err), &err);
	assert_int_equal(nb, 2);
	assert_int_equal(bytes, 8 + strlen("{\"schemaVersion\":2,\"manifests\":[{\"media"));
	assert_int_equal(access(tblob, F_OK), -1);
	assert_int_equal(access(tindex, F_OK), -1);
	assert_true(hoist_layout_has_blob(l, &m));
	hoist_layout_free(l);
}

/* ---- names ---- */

static void test_refs(void **state)
{
	fixture *f = *state;
	hoist_layout *l = open_layout(f->layout, true);
	hoist_error *err = NULL;
	hoist_digest m1, m2, m3;
	size_t s1, s2, s3;
	put_image(l, "one", &m1, &s1, NULL, NULL);
	put_image(l, "two", &m2, &s2, NULL, NULL);
	put_image(l, "three", &m3, &s3, NULL, NULL);

	set_ref(l, "a", HOIST_MT_OCI_MANIFEST, &m1, (int64_t)s1);
	set_ref(l, "docker.io/library/busybox:latest", HOIST_MT_OCI_MANIFEST, &m2,
		(int64_t)s2);

	hoist_descriptor d;
	CHECK_OK(hoist_layout_resolve(l, "a", NULL, &d, &err), &err);
	assert_string_equal(d.digest.str, m1.str);
	assert_int_equal(d.size, (int64_t)s1);
	assert_string_equal(d.media_type, HOIST_MT_OCI_MANIFEST);
	assert_string_equal(hoist_descriptor_ref_name(&d), "a");
	hoist_descriptor_release(&d);
	CHECK_OK(hoist_layout_resolve(l, NULL, &m2, &d, &err), &err);
	assert_string_equal(hoist_descriptor_ref_name(&d),
		"docker.io/library/busybox:latest");
	hoist_descriptor_release(&d);
	CHECK_OK(hoist_layout_resolve(l, "a", &m1, &d, &err), &err);
	hoist_descriptor_release(&d);
	assert_int_equal(hoist_layout_resolve(l, "a", &m2, &d, &err), -HOIST_E_NOTFOUND);
	hoist_error_freep(&err);
	assert_int_equal(hoist_layout_resolve(l, "nope", NULL, &d, &err),
		-HOIST_E_NOTFOUND);
	assert_non_null(strstr(err->msg, "'nope'"));
	assert_non_null(strstr(err->msg, f->layout));
	hoist_error_freep(&err);
	assert_int_equal(hoist_layout_resolve(l, NULL, &m3, &d, &err), -HOIST_E_NOTFOUND);
	assert_non_null(strstr(err->msg, m3.str));
	hoist_error_freep(&err);

	/* Replacing "a" keeps its place, platform and other annotations. */
	hoist_descriptor nd;
	make_desc(&nd, HOIST_MT_OCI_MANIFEST, &m3, (int64_t)s3);
	nd.annotations = json_pack("{s:s, s:s}", "com.example.k", "v",
		"org.opencontainers.image.ref.name", "ignored");
	nd.platform = calloc(1, sizeof(*nd.platform));
	assert_non_null(nd.platform);
	nd.platform->os = strdup("linux");
	nd.platform->architecture = strdup("arm64");
	nd.platform->variant = strdup("v8");
	CHECK_OK(hoist_layout_set_ref(l, "a", &nd, &err), &err);
	/* The caller's descriptor is not modified. */
	assert_string_equal(hoist_descriptor_ref_name(&nd), "ignored");

	hoist_layout_entry *e = NULL;
	size_t n = 0;
	CHECK_OK(hoist_layout_list(l, &e, &n, &err), &err);
	assert_int_equal(n, 2);
	assert_string_equal(e[0].name, "a");
	assert_string_equal(e[0].desc.digest.str, m3.str);
	assert_non_null(e[0].desc.platform);
	assert_string_equal(e[0].desc.platform->architecture, "arm64");
	assert_string_equal(e[0].desc.platform->variant, "v8");
	assert_string_equal(json_string_value(json_object_get(e[0].desc.annotations,
				    "com.example.k")), "v");
	assert_string_equal(e[1].name, "docker.io/library/busybox:latest");
	hoist_layout_entries_free(e, n);

	/* Unnamed entries: added once per digest, without a ref.name. */
	CHECK_OK(hoist_layout_set_ref(l, NULL, &nd, &err), &err);
	CHECK_OK(hoist_layout_set_ref(l, NULL, &nd, &err), &err);
	CHECK_OK(hoist_layout_list(l, &e, &n, &err), &err);
	assert_int_equal(n, 2); /* m3 is already named "a" */
	hoist_layout_entries_free(e, n);
	hoist_descriptor_release(&nd);
	hoist_descriptor un;
	make_desc(&un, HOIST_MT_OCI_MANIFEST, &m1, (int64_t)s1);
	CHECK_OK(hoist_layout_set_ref(l, NULL, &un, &err), &err);
	CHECK_OK(hoist_layout_set_ref(l, NULL, &un, &err), &err);
	hoist_descriptor_release(&un);
	CHECK_OK(hoist_layout_list(l, &e, &n, &err), &err);
	assert_int_equal(n, 3);
	assert_null(e[2].name);
	assert_string_equal(e[2].desc.digest.str, m1.str);
	hoist_layout_entries_free(e, n);

	/* Invalid names. */
	const char *bad[] = { "", "a b", "/a", "a/", "a//b", "-a", "a:", "ä" };
	hoist_descriptor bd;
	make_desc(&bd, HOIST_MT_OCI_MANIFEST, &m1, (int64_t)s1);
	for (size_t i = 0; i < HOIST_ARRAY_SIZE(bad); i++) {
		assert_int_equal(hoist_layout_set_ref(l, bad[i], &bd, &err),
			-HOIST_E_INVALID);
		assert_non_null(strstr(err->msg, "invalid image name"));
		hoist_error_freep(&err);
	}
	const char *good[] = { "v1", "localhost:5000/x:1", "a__b---c", "A.b+c@d",
		"app@sha256:0123" };
	for (size_t i = 0; i < HOIST_ARRAY_SIZE(good); i++)
		CHECK_OK(hoist_layout_set_ref(l, good[i], &bd, &err), &err);
	hoist_descriptor_release(&bd);

	/* Remove. */
	CHECK_OK(hoist_layout_remove_ref(l, "a", &err), &err);
	assert_int_equal(hoist_layout_remove_ref(l, "a", &err), -HOIST_E_NOTFOUND);
	assert_non_null(strstr(err->msg, "'a'"));
	hoist_error_freep(&err);
	assert_int_equal(hoist_layout_resolve(l, "a", NULL, &d, &err), -HOIST_E_NOTFOUND);
	hoist_error_freep(&err);
	CHECK_OK(hoist_layout_list(l, &e, &n, &err), &err);
	assert_int_equal(n, 2 + HOIST_ARRAY_SIZE(good));
	for (size_t i = 0; i < n; i++)
		assert_true(!e[i].name || strcmp(e[i].name, "a") != 0);
	hoist_layout_entries_free(e, n);
	hoist_layout_free(l);
}

static void test_preserve_unknown_fields(void **state)
{
	fixture *f = *state;
	hoist_layout *l = open_layout(f->layout, true);
	hoist_digest m;
	size_t ms;
	put_image(l, "x", &m, &ms, NULL, NULL);
	hoist_layout_free(l);
	_cleanup_free_ char *ip = pathf("%s/index.json", f->layout);
	_cleanup_free_ char *idx = pathf(
		"{\"schemaVersion\":2,\"annotations\":{\"top\":\"level\"},\"x-extra\":[1,2],"
		"\"manifests\":[{\"mediaType\":\"" HOIST_MT_OCI_MANIFEST "\",\"digest\":\"%s\","
		"\"size\":%zu,\"x-unknown\":true,\"annotations\":{\"org.opencontainers.image.ref.name\":\"old\"}}]}",
		m.str, ms);
	write_str(ip, idx);

	l = open_layout(f->layout, false);
	set_ref(l, "new", HOIST_MT_OCI_MANIFEST, &m, (int64_t)ms);
	hoist_layout_free(l);

	json_error_t je;
	json_t *j = json_load_file(ip, 0, &je);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(j, "annotations"), "top")), "level");
	assert_int_equal(json_array_size(json_object_get(j, "x-extra")), 2);
	assert_string_equal(json_string_value(json_object_get(j, "mediaType")),
		HOIST_MT_OCI_INDEX);
	json_t *ms_ = json_object_get(j, "manifests");
	assert_int_equal(json_array_size(ms_), 2);
	assert_true(json_is_true(json_object_get(json_array_get(ms_, 0), "x-unknown")));
	json_decref(j);
}

/* ---- concurrency ---- */

static void test_concurrent_writers(void **state)
{
	fixture *f = *state;
	hoist_layout *l = open_layout(f->layout, true);
	hoist_digest m;
	size_t ms;
	put_image(l, "shared", &m, &ms, NULL, NULL);
	hoist_layout_free(l);

	pid_t kids[4];
	for (int k = 0; k < 4; k++) {
		kids[k] = fork();
		assert_true(kids[k] >= 0);
		if (kids[k] == 0) {
			int rc = 0;
			hoist_layout *cl = NULL;
			hoist_error *err = NULL;
			if (hoist_layout_open(&cl, f->layout, false, &err) < 0)
				_exit(2);
			hoist_descriptor d = { 0 };
			d.media_type = strdup(HOIST_MT_OCI_MANIFEST);
			d.digest = m;
			d.size = (int64_t)ms;
			for (int i = 0; i < 25 && rc == 0; i++) {
				char name[32];
				snprintf(name, sizeof(name), "w%d-%d", k, i);
				if (hoist_layout_set_ref(cl, name, &d, &err) < 0) {
					fprintf(stderr, "child %d: %s\n", k, err->msg);
					rc = 3;
				}
			}
			hoist_error_free(err);
			hoist_descriptor_release(&d);
			hoist_layout_free(cl);
			_exit(rc);
		}
	}
	for (int k = 0; k < 4; k++) {
		int st = 0;
		assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}

	l = open_layout(f->layout, false);
	hoist_layout_entry *e = NULL;
	size_t n = 0;
	hoist_error *err = NULL;
	CHECK_OK(hoist_layout_list(l, &e, &n, &err), &err);
	assert_int_equal(n, 100);
	bool seen[4][25] = { { false } };
	for (size_t i = 0; i < n; i++) {
		int k = -1, j = -1;
		assert_non_null(e[i].name);
		assert_int_equal(sscanf(e[i].name, "w%d-%d", &k, &j), 2);
		assert_true(k >= 0 && k < 4 && j >= 0 && j < 25);
		assert_false(seen[k][j]);
		seen[k][j] = true;
	}
	hoist_layout_entries_free(e, n);
	hoist_layout_free(l);
	_cleanup_free_ char *ip = pathf("%s/index.json", f->layout);
	json_error_t je;
	json_t *j = json_load_file(ip, 0, &je);
	assert_non_null(j);
	assert_int_equal(json_array_size(json_object_get(j, "manifests")), 100);
	json_decref(j);
	assert_int_equal(count_prefix(f->layout, ".tmp-"), 0);
}

/* ---- gc ---- */

static void test_gc(void **state)
{
	fixture *f = *state;
	hoist_layout *l = open_layout(f->layout, true);
	hoist_error *err = NULL;
	hoist_digest m1, c1, l1, m2, c2, l2, idx, junk, art;
	size_t s1, s2;
	put_image(l, "one", &m1, &s1, &c1, &l1);
	put_image(l, "two", &m2, &s2, &c2, &l2);
	set_ref(l, "v1", HOIST_MT_OCI_MANIFEST, &m1, (int64_t)s1);

	/* An index whose child m2 is referenced only through it. */
	_cleanup_free_ char *is = pathf(
		"{\"schemaVersion\":2,\"mediaType\":\"" HOIST_MT_OCI_INDEX "\",\"manifests\":["
		"{\"mediaType\":\"" HOIST_MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":%zu,"
		"\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}}]}",
		m2.str, s2);
	put_mem(l, is, &idx);
	set_ref(l, "multi", HOIST_MT_OCI_INDEX, &idx, (int64_t)strlen(is));

	/* A referrer (unnamed entry) whose subject is m1. */
	_cleanup_free_ char *as = pathf(
		"{\"schemaVersion\":2,\"mediaType\":\"" HOIST_MT_OCI_MANIFEST "\","
		"\"artifactType\":\"application/x-test\","
		"\"config\":{\"mediaType\":\"" HOIST_MT_OCI_EMPTY "\",\"digest\":"
		"\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\",\"size\":2},"
		"\"layers\":[],"
		"\"subject\":{\"mediaType\":\"" HOIST_MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":%zu}}",
		m1.str, s1);
	hoist_digest empty;
	put_mem(l, "{}", &empty);
	put_mem(l, as, &art);
	set_ref(l, NULL, HOIST_MT_OCI_MANIFEST, &art, (int64_t)strlen(as));

	put_mem(l, "unreferenced junk", &junk);
	/* Files gc must not touch: unknown algorithm, names that are not
	 * digests, directories. */
	_cleanup_free_ char *md5 = pathf("%s/blobs/md5", f->layout);
	_cleanup_free_ char *md5f = pathf("%s/blobs/md5/abc", f->layout);
	_cleanup_free_ char *readme = pathf("%s/blobs/sha256/README", f->layout);
	_cleanup_free_ char *upper = pathf("%s/blobs/sha256/%s", f->layout,
		"ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789");
	assert_int_equal(mkdir(md5, 0755), 0);
	write_str(md5f, "x");
	write_str(readme, "x");
	write_str(upper, "x");

	uint64_t nb = 0, bytes = 0;
	CHECK_OK(hoist_layout_gc(l, &nb, &bytes, &err), &err);
	assert_int_equal(nb, 1);
	assert_int_equal(bytes, strlen("unreferenced junk"));
	assert_false(hoist_layout_has_blob(l, &junk));
	const hoist_digest *kept[] = { &m1, &c1, &l1, &m2, &c2, &l2, &idx, &art, &empty };
	for (size_t i = 0; i < HOIST_ARRAY_SIZE(kept); i++)
		assert_true(hoist_layout_has_blob(l, kept[i]));
	assert_int_equal(access(md5f, F_OK), 0);
	assert_int_equal(access(readme, F_OK), 0);
	assert_int_equal(access(upper, F_OK), 0);

	/* Nothing left to collect. */
	CHECK_OK(hoist_layout_gc(l, &nb, &bytes, &err), &err);
	assert_int_equal(nb, 0);
	assert_int_equal(bytes, 0);

	/* Dropping the index frees its child image. */
	CHECK_OK(hoist_layout_remove_ref(l, "multi", &err), &err);
	CHECK_OK(hoist_layout_gc(l, &nb, &bytes, &err), &err);
	assert_int_equal(nb, 4);
	assert_false(hoist_layout_has_blob(l, &idx));
	assert_false(hoist_layout_has_blob(l, &m2));
	assert_false(hoist_layout_has_blob(l, &c2));
	assert_false(hoist_layout_has_blob(l, &l2));
	assert_true(hoist_layout_has_blob(l, &m1));
	assert_true(hoist_layout_has_blob(l, &l1));

	/* A named manifest that is missing: error, nothing deleted. */
	put_mem(l, "more junk", &junk);
	hoist_digest ghost;
	CHECK_OK(hoist_digest_of(&ghost, HOIST_DIGEST_SHA256, "ghost", 5, &err), &err);
	set_ref(l, "ghost", HOIST_MT_OCI_MANIFEST, &ghost, 5);
	assert_true(hoist_layout_gc(l, &nb, &bytes, &err) < 0);
	assert_non_null(strstr(err->msg, ghost.str));
	assert_non_null(strstr(err->msg, "nothing deleted"));
	hoist_error_freep(&err);
	assert_int_equal(nb, 0);
	assert_true(hoist_layout_has_blob(l, &junk));

	/* An unparseable manifest: the same. */
	hoist_digest badm;
	put_mem(l, "this is not json", &badm);
	set_ref(l, "ghost", HOIST_MT_OCI_MANIFEST, &badm, 16);
	assert_true(hoist_layout_gc(l, &nb, &bytes, &err) < 0);
	assert_non_null(strstr(err->msg, badm.str));
	hoist_error_freep(&err);
	assert_true(hoist_layout_has_blob(l, &junk));

	CHECK_OK(hoist_layout_remove_ref(l, "ghost", &err), &err);
	CHECK_OK(hoist_layout_gc(l, &nb, &bytes, &err), &err);
	assert_int_equal(nb, 2);
	assert_false(hoist_layout_has_blob(l, &junk));
	assert_false(hoist_layout_has_blob(l, &badm));
	hoist_layout_free(l);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_hold(void **state)
{
	fixture *f = *state;
	hoist_layout *l = open_layout(f->layout, true);
	hoist_error *err = NULL;
	CHECK_OK(hoist_layout_hold(l, &err), &err);
	CHECK_OK(hoist_layout_hold(l, &err), &err);
	uint64_t nb, bytes;
	assert_int_equal(hoist_layout_gc(l, &nb, &bytes, &err), -HOIST_E_BUSY);
	hoist_error_freep(&err);
	hoist_layout_free(l);

	/* A writer in another process holds the layout: gc waits for it. */
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	pid_t kid = fork();
	assert_true(kid >= 0);
	if (kid == 0) {
		close(pfd[0]);
		hoist_layout *cl = NULL;
		hoist_error *e = NULL;
		if (hoist_layout_open(&cl, f->layout, false, &e) < 0 ||
			hoist_layout_hold(cl, &e) < 0)
			_exit(2);
		/* A blob put before its manifest is named. */
		hoist_digest d;
		if (hoist_layout_put_blob_mem(cl, "pending", 7, &d, &e) < 0)
			_exit(3);
		if (write(pfd[1], "x", 1) != 1)
			_exit(4);
		usleep(1000 * 1000);
		hoist_layout_free(cl);
		_exit(0);
	}
	close(pfd[1]);
	char c;
	assert_int_equal(read(pfd[0], &c, 1), 1);
	close(pfd[0]);
	l = open_layout(f->layout, false);
	double t0 = now_s();
	CHECK_OK(hoist_layout_gc(l, &nb, &bytes, &err), &err);
	double waited = now_s() - t0;
	int st;
	assert_int_equal(waitpid(kid, &st, 0), kid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_true(waited > 0.5);
	assert_int_equal(nb, 1); /* after the writer left, its blob was garbage */
	hoist_layout_free(l);
}

/* ---- skopeo / umoci ---- */

static bool have_tool(const char *name)
{
	const char *path = getenv("PATH");
	if (!path)
		return false;
	char *copy = strdup(path);
	assert_non_null(copy);
	bool found = false;
	for (char *save = NULL, *p = strtok_r(copy, ":", &save); p && !found;
		p = strtok_r(NULL, ":", &save)) {
		char full[PATH_MAX];
		snprintf(full, sizeof(full), "%s/%s", p, name);
		found = access(full, X_OK) == 0;
	}
	free(copy);
	return found;
}

/* Runs argv with stdout to out_path (or /dev/null); returns exit status. */
static int run(const char *out_path, const char *const argv[])
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(out_path ? out_path : "/dev/null",
			O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0)
			_exit(126);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st))
		return -1;
	if (WEXITSTATUS(st) != 0) {
		fprintf(stderr, "command failed (%d):", WEXITSTATUS(st));
		for (size_t i = 0; argv[i]; i++)
			fprintf(stderr, " %s", argv[i]);
		fprintf(stderr, "\n");
	}
	return WEXITSTATUS(st);
}

static char *slurp(const char *path, size_t *len)
{
	hoist_buf b = HOIST_BUF_INIT(64 * 1024 * 1024);
	hoist_error *err = NULL;
	CHECK_OK(hoist_fs_read_file(AT_FDCWD, path, &b, &err), &err);
	char *d = hoist_buf_steal(&b, len);
	return d ? d : strdup("");
}

/* A real image: a gzip tar layer with one file, a config naming its
 * diff_id, a manifest. */
static void put_real_image(hoist_layout *l, const char *tag, hoist_digest *mdg,
	size_t *msize, char **manifest_out)
{
	hoist_error *err = NULL;
	/* tar */
	size_t tcap = 64 * 1024, tlen = 0;
	char *tar = calloc(1, tcap);
	assert_non_null(tar);
	struct archive *a = archive_write_new();
	assert_non_null(a);
	assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	assert_int_equal(archive_write_add_filter_none(a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_memory(a, tar, tcap, &tlen), ARCHIVE_OK);
	struct archive_entry *ae = archive_entry_new();
	const char *body = "hello from hoist\n";
	archive_entry_set_pathname(ae, "hello.txt");
	archive_entry_set_filetype(ae, AE_IFREG);
	archive_entry_set_perm(ae, 0644);
	archive_entry_set_size(ae, (la_int64_t)strlen(body));
	archive_entry_set_mtime(ae, 1700000000, 0);
	assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
	assert_int_equal(archive_write_data(a, body, strlen(body)), (la_ssize_t)strlen(body));
	archive_entry_free(ae);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	hoist_digest diff_id;
	CHECK_OK(hoist_digest_of(&diff_id, HOIST_DIGEST_SHA256, tar, tlen, &err), &err);

	/* gzip */
	uLong gcap = compressBound((uLong)tlen) + 64;
	unsigned char *gz = malloc(gcap);
	assert_non_null(gz);
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = (Bytef *)tar;
	zs.avail_in = (uInt)tlen;
	zs.next_out = gz;
	zs.avail_out = (uInt)gcap;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	size_t glen = zs.total_out;
	deflateEnd(&zs);
	free(tar);
	hoist_digest layer;
	CHECK_OK(hoist_layout_put_blob_mem(l, gz, glen, &layer, &err), &err);
	free(gz);

	_cleanup_free_ char *cfg = pathf(
		"{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2024-01-01T00:00:00Z\","
		"\"config\":{\"Env\":[\"PATH=/bin\"],\"Cmd\":[\"/bin/sh\"]},"
		"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]},"
		"\"history\":[{\"created\":\"2024-01-01T00:00:00Z\",\"created_by\":\"test %s\"}]}",
		diff_id.str, tag);
	hoist_digest cd;
	put_mem(l, cfg, &cd);
	char *man = pathf(
		"{\"schemaVersion\":2,\"mediaType\":\"" HOIST_MT_OCI_MANIFEST "\","
		"\"config\":{\"mediaType\":\"" HOIST_MT_OCI_CONFIG "\",\"digest\":\"%s\",\"size\":%zu},"
		"\"layers\":[{\"mediaType\":\"" HOIST_MT_OCI_LAYER_GZIP "\",\"digest\":\"%s\",\"size\":%zu}],"
		"\"annotations\":{\"org.example\":\"%s\"}}",
		cd.str, strlen(cfg), layer.str, glen, tag);
	put_mem(l, man, mdg);
	*msize = strlen(man);
	set_ref(l, tag, HOIST_MT_OCI_MANIFEST, mdg, (int64_t)*msize);
	*manifest_out = man;
}

static void tools_env(fixture *f)
{
	/* skopeo and umoci keep state under XDG_RUNTIME_DIR: give them a
	 * private one. */
	_cleanup_free_ char *rt = pathf("%s/runtime", f->dir);
	assert_int_equal(mkdir(rt, 0700), 0);
	setenv("XDG_RUNTIME_DIR", rt, 1);
}

static void test_skopeo_interop(void **state)
{
	fixture *f = *state;
	if (!have_tool("skopeo")) {
		print_message("skopeo not installed: skipping skopeo interop\n");
		skip();
	}
	tools_env(f);
	hoist_layout *l = open_layout(f->layout, true);
	hoist_error *err = NULL;
	hoist_digest md;
	size_t ms;
	_cleanup_free_ char *man = NULL;
	put_real_image(l, "v1", &md, &ms, &man);
	hoist_layout_free(l);

	/* skopeo reads our layout. */
	_cleanup_free_ char *src = pathf("oci:%s:v1", f->layout);
	_cleanup_free_ char *raw_path = pathf("%s/raw.json", f->dir);
	const char *inspect[] = { "skopeo", "inspect", "--raw", src, NULL };
	assert_int_equal(run(raw_path, inspect), 0);
	size_t rlen = 0;
	_cleanup_free_ char *raw = slurp(raw_path, &rlen);
	if (rlen == ms + 1 && raw[ms] == '\n')
		rlen = ms;
	assert_int_equal(rlen, ms);
	assert_memory_equal(raw, man, ms);

	/* skopeo copies it into a second layout; we read that one. */
	_cleanup_free_ char *dir2 = pathf("%s/second", f->dir);
	_cleanup_free_ char *dst = pathf("oci:%s:copied", dir2);
	const char *copy[] = { "skopeo", "--insecure-policy", "copy", "-q", src, dst, NULL };
	assert_int_equal(run(NULL, copy), 0);
	hoist_layout *l2 = open_layout(dir2, false);
	hoist_descriptor d;
	CHECK_OK(hoist_layout_resolve(l2, "copied", NULL, &d, &err), &err);
	assert_string_equal(d.digest.str, md.str);
	assert_int_equal(d.size, (int64_t)ms);
	hoist_buf b = HOIST_BUF_INIT(HOIST_MANIFEST_MAX);
	CHECK_OK(hoist_layout_read_blob(l2, &d.digest, HOIST_MANIFEST_MAX, &b, &err), &err);
	assert_memory_equal(b.data, man, ms);
	hoist_manifest *pm = NULL;
	CHECK_OK(hoist_manifest_parse(&pm, b.data, b.len, d.media_type, &err), &err);
	hoist_buf cb = HOIST_BUF_INIT(1024 * 1024);
	CHECK_OK(hoist_layout_read_blob(l2, &pm->config.digest, 1024 * 1024, &cb, &err), &err);
	hoist_reader *lr = NULL;
	CHECK_OK(hoist_layout_open_blob(l2, &pm->layers[0].digest, pm->layers[0].size,
			 &lr, &err), &err);
	hoist_buf lb = HOIST_BUF_INIT(1024 * 1024);
	CHECK_OK(hoist_reader_read_all(lr, &lb, &err), &err);
	hoist_reader_free(lr);
	hoist_buf_release(&lb);
	hoist_buf_release(&cb);
	hoist_manifest_free(pm);
	hoist_buf_release(&b);
	hoist_descriptor_release(&d);
	/* gc on a skopeo-written layout finds every blob referenced. */
	uint64_t nb = 99, bytes;
	CHECK_OK(hoist_layout_gc(l2, &nb, &bytes, &err), &err);
	assert_int_equal(nb, 0);
	hoist_layout_free(l2);

	/* skopeo writes into our layout (with our lock files present). */
	_cleanup_free_ char *back = pathf("oci:%s:v2", f->layout);
	const char *copy2[] = { "skopeo", "--insecure-policy", "copy", "-q", dst, back, NULL };
	assert_int_equal(run(NULL, copy2), 0);
	l = open_layout(f->layout, false);
	hoist_layout_entry *e = NULL;
	size_t n = 0;
	CHECK_OK(hoist_layout_list(l, &e, &n, &err), &err);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(e[i].desc.digest.str, md.str);
	hoist_layout_entries_free(e, n);
	/* And our rewrite of skopeo's index keeps its entries. */
	set_ref(l, "v3", HOIST_MT_OCI_MANIFEST, &md, (int64_t)ms);
	hoist_layout_free(l);
	_cleanup_free_ char *src3 = pathf("oci:%s:v3", f->layout);
	const char *inspect3[] = { "skopeo", "inspect", "--raw", src3, NULL };
	assert_int_equal(run(raw_path, inspect3), 0);
	const char *inspect2[] = { "skopeo", "inspect", "--raw", back, NULL };
	assert_int_equal(run(raw_path, inspect2), 0);
}

static void test_umoci_interop(void **state)
{
	fixture *f = *state;
	if (!have_tool("umoci")) {
		print_message("umoci not installed: skipping umoci interop\n");
		skip();
	}
	tools_env(f);
	hoist_layout *l = open_layout(f->layout, true);
	hoist_error *err = NULL;
	hoist_digest md;
	size_t ms;
	_cleanup_free_ char *man = NULL;
	put_real_image(l, "v1", &md, &ms, &man);
	hoist_layout_free(l);

	/* umoci reads our layout and tags in it. */
	_cleanup_free_ char *img = pathf("%s:v1", f->layout);
	_cleanup_free_ char *stat_out = pathf("%s/stat.txt", f->dir);
	const char *st[] = { "umoci", "stat", "--image", img, NULL };
	assert_int_equal(run(stat_out, st), 0);
	_cleanup_free_ char *so = slurp(stat_out, NULL);
	assert_non_null(strstr(so, "test v1"));
	const char *tag[] = { "umoci", "tag", "--image", img, "v2", NULL };
	assert_int_equal(run(NULL, tag), 0);
	l = open_layout(f->layout, false);
	hoist_descriptor d;
	CHECK_OK(hoist_layout_resolve(l, "v2", NULL, &d, &err), &err);
	assert_string_equal(d.digest.str, md.str);
	hoist_descriptor_release(&d);
	CHECK_OK(hoist_layout_resolve(l, "v1", NULL, &d, &err), &err);
	hoist_descriptor_release(&d);
	hoist_layout_free(l);

	/* We read a layout umoci made. */
	_cleanup_free_ char *dir2 = pathf("%s/umoci", f->dir);
	_cleanup_free_ char *img2 = pathf("%s:fresh", dir2);
	const char *init[] = { "umoci", "init", "--layout", dir2, NULL };
	const char *newi[] = { "umoci", "new", "--image", img2, NULL };
	assert_int_equal(run(NULL, init), 0);
	assert_int_equal(run(NULL, newi), 0);
	hoist_layout *l2 = open_layout(dir2, false);
	CHECK_OK(hoist_layout_resolve(l2, "fresh", NULL, &d, &err), &err);
	hoist_buf b = HOIST_BUF_INIT(HOIST_MANIFEST_MAX);
	CHECK_OK(hoist_layout_read_blob(l2, &d.digest, HOIST_MANIFEST_MAX, &b, &err), &err);
	hoist_manifest *pm = NULL;
	CHECK_OK(hoist_manifest_parse(&pm, b.data, b.len, d.media_type, &err), &err);
	assert_int_equal(pm->kind, HOIST_MEDIA_MANIFEST);
	assert_true(hoist_layout_has_blob(l2, &pm->config.digest));
	hoist_manifest_free(pm);
	hoist_buf_release(&b);
	hoist_descriptor_release(&d);
	/* Add a name with our API; umoci still reads the layout. */
	hoist_layout_free(l2);
	l2 = open_layout(dir2, false);
	CHECK_OK(hoist_layout_resolve(l2, "fresh", NULL, &d, &err), &err);
	CHECK_OK(hoist_layout_set_ref(l2, "again", &d, &err), &err);
	hoist_descriptor_release(&d);
	uint64_t nb = 99, bytes;
	CHECK_OK(hoist_layout_gc(l2, &nb, &bytes, &err), &err);
	assert_int_equal(nb, 0);
	hoist_layout_free(l2);
	_cleanup_free_ char *img3 = pathf("%s:again", dir2);
	const char *st3[] = { "umoci", "stat", "--image", img3, NULL };
	assert_int_equal(run(NULL, st3), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blob_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_wrong_digest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_wrong_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_on_disk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_leftovers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_preserve_unknown_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skopeo_interop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_umoci_interop, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

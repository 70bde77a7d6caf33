#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>

#include "hoist/buf.h"
#include "hoist/digest.h"
#include "hoist/error.h"
#include "hoist/fs.h"
#include "hoist/io.h"
#include "hoist/layer.h"
#include "util/cleanup.h"

#define BLOB_MAX (512u * 1024 * 1024)

/* A sink collecting the blob in memory. */
typedef struct mem_sink {
	hoist_writer base;
	hoist_buf b;
} mem_sink;

static int mem_write(hoist_writer *w, const void *p, size_t n, hoist_error **err)
{
	return hoist_buf_append(&((mem_sink *)w)->b, p, n, err);
}

static const hoist_writer_ops mem_ops = { mem_write, NULL };

typedef struct layer {
	hoist_buf blob;
	hoist_layer_info info;
} layer;

static void layer_release(layer *l)
{
	hoist_buf_release(&l->blob);
}

static void die_err(hoist_error *err)
{
	if (err)
		fail_msg("unexpected error: %s", err->msg);
}

typedef void (*fill_fn)(hoist_layer_writer *w, void *ud);

static void make_layer(const hoist_layer_opts *o, fill_fn fill, void *ud,
	layer *out)
{
	mem_sink s = { .base = { &mem_ops } };
	hoist_buf_init(&s.b, BLOB_MAX);
	hoist_layer_writer *w = NULL;
	hoist_error *err = NULL;
	if (hoist_layer_writer_new(&w, o, &s.base, &err) < 0)
		die_err(err);
	fill(w, ud);
	if (hoist_layer_writer_finish(w, &out->info, &err) < 0)
		die_err(err);
	hoist_layer_writer_free(w);
	out->blob = s.b;
}

static void fill_tree(hoist_layer_writer *w, void *ud)
{
	hoist_error *err = NULL;
	if (hoist_layer_writer_add_tree(w, ud, "", NULL, NULL, &err) < 0)
		die_err(err);
}

static void tree_layer(const hoist_layer_opts *o, const char *dir, layer *out)
{
	make_layer(o, fill_tree, (void *)dir, out);
}

static void decompress(const void *p, size_t n, hoist_buf *out)
{
	hoist_reader *m = NULL, *d = NULL;
	hoist_error *err = NULL;
	assert_int_equal(hoist_reader_new_mem(&m, p, n, NULL), 0);
	assert_int_equal(hoist_layer_decompress(&d, m, NULL), 0);
	hoist_buf_init(out, BLOB_MAX);
	if (hoist_reader_read_all(d, out, &err) < 0)
		die_err(err);
	hoist_reader_free(d);
}

static void assert_digest_of(const hoist_digest *want, const void *p, size_t n)
{
	hoist_digest got;
	assert_int_equal(hoist_digest_of(&got, HOIST_DIGEST_SHA256, p, n, NULL), 0);
	assert_string_equal(got.str, want->str);
}

/* Runs a shell command, returns its stdout (caller frees), asserts exit 0. */
static char *run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *run(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *cmd = NULL;
	assert_true(vasprintf(&cmd, fmt, ap) >= 0);
	va_end(ap);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	hoist_buf b = HOIST_BUF_INIT(64 * 1024 * 1024);
	char tmp[4096];
	size_t k;
	while ((k = fread(tmp, 1, sizeof(tmp), f)) > 0)
		assert_int_equal(hoist_buf_append(&b, tmp, k, NULL), 0);
	int st = pclose(f);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("command failed (%d): %s", st, cmd);
	free(cmd);
	assert_int_equal(hoist_buf_append(&b, "", 0, NULL), 0);
	return hoist_buf_steal(&b, NULL);
}

static void save(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(hoist_write_all(fd, p, n, NULL), 0);
	close(fd);
}

static char *mktemp_dir(void)
{
	char *p = strdup("/tmp/hoist-lw-XXXXXX");
	assert_non_null(mkdtemp(p));
	return p;
}

static void rm_tree(char *p)
{
	assert_int_equal(hoist_fs_rm_rf(AT_FDCWD, p, NULL), 0);
	free(p);
}

static char *path_of(const char *root, const char *rel)
{
	char *p = NULL;
	assert_true(asprintf(&p, "%s/%s", root, rel) >= 0);
	return p;
}

static void put(const char *root, const char *rel, const void *data, size_t n,
	mode_t mode)
{
	_cleanup_free_ char *p = path_of(root, rel);
	save(p, data, n);
	assert_int_equal(chmod(p, mode), 0);
}

static void mkd(const char *root, const char *rel, mode_t mode)
{
	_cleanup_free_ char *p = path_of(root, rel);
	assert_int_equal(mkdir(p, 0777), 0);
	assert_int_equal(chmod(p, mode), 0);
}

/* Entries of a tar, read with libarchive. */
typedef struct ent {
	char *name, *hardlink, *symlink;
	int64_t mtime, uid, gid, size;
	mode_t type, perm;
	bool uname, atime, ctime;
	dev_t rdev;
} ent;

typedef struct ents {
	ent *e;
	size_t n;
} ents;

static void read_entries(const hoist_buf *tar, ents *out)
{
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	assert_int_equal(archive_read_open_memory(a, tar->data, tar->len), ARCHIVE_OK);
	out->e = NULL;
	out->n = 0;
	struct archive_entry *ae;
	int r;
	while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
		out->e = realloc(out->e, (out->n + 1) * sizeof(ent));
		ent *e = &out->e[out->n++];
		memset(e, 0, sizeof(*e));
		e->name = strdup(archive_entry_pathname(ae));
		if (archive_entry_hardlink(ae))
			e->hardlink = strdup(archive_entry_hardlink(ae));
		if (archive_entry_symlink(ae))
			e->symlink = strdup(archive_entry_symlink(ae));
		e->mtime = archive_entry_mtime(ae);
		e->uid = archive_entry_uid(ae);
		e->gid = archive_entry_gid(ae);
		e->size = archive_entry_size(ae);
		e->type = archive_entry_filetype(ae);
		e->perm = archive_entry_perm(ae);
		const char *un = archive_entry_uname(ae);
		const char *gn = archive_entry_gname(ae);
		e->uname = (un && *un) || (gn && *gn);
		e->atime = archive_entry_atime_is_set(ae);
		e->ctime = archive_entry_ctime_is_set(ae);
		e->rdev = archive_entry_rdev(ae);
	}
	assert_int_equal(r, ARCHIVE_EOF);
	archive_read_free(a);
}

static void ents_release(ents *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->e[i].name);
		free(l->e[i].hardlink);
		free(l->e[i].symlink);
	}
	free(l->e);
}

static const ent *find(const ents *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->e[i].name, name))
			return &l->e[i];
	return NULL;
}

static bool has_bytes(const hoist_buf *b, const char *s)
{
	return memmem(b->data, b->len, s, strlen(s)) != NULL;
}

/* The tree most tests use.  Every mode is set with chmod, so the umask
 * only affects what the tree does not set; touch_at (if not NULL) changes
 * every mtime. */
#define LONG_NAME                                                          \
	"a-very-long-file-name-that-does-not-fit-in-the-hundred-bytes-of-" \
	"a-ustar-name-field-so-it-needs-pax.txt"

static bool build_tree(const char *root, mode_t um, const char *touch_at)
{
	mode_t old = umask(um);
	put(root, "a", "hello\n", 6, 04755);
	put(root, "b", "bee", 3, 0644);
	mkd(root, "d", 0700);
	mkd(root, "d/empty", 0755);
	put(root, "d/f", "in d\n", 5, 0600);
	_cleanup_free_ char *ff = path_of(root, "ff");
	assert_int_equal(mkfifo(ff, 0600), 0);
	assert_int_equal(chmod(ff, 0640), 0);
	_cleanup_free_ char *a = path_of(root, "a");
	_cleanup_free_ char *hl = path_of(root, "hl");
	assert_int_equal(link(a, hl), 0);
	mkd(root, "k", 0755);
	put(root, "k/z", "z", 1, 0644);
	put(root, "k-1", "1", 1, 0644);
	put(root, "k.2", "2", 1, 0644);
	_cleanup_free_ char *sl = path_of(root, "sl");
	assert_int_equal(symlink("a", sl), 0);
	mkd(root, "sub", 0755);
	put(root, "sub/" LONG_NAME, "long\n", 5, 0644);
	bool xattr = setxattr(a, "user.test", "val", 3, 0) == 0;
	if (touch_at)
		free(run("find '%s' -exec touch -h -d '%s' {} +", root, touch_at));
	umask(old);
	return xattr;
}

static const char *const tree_order[] = {
	"a", "b", "d/", "d/empty/", "d/f", "ff", "hl", "k/", "k/z", "k-1",
	"k.2", "sl", "sub/", "sub/" LONG_NAME,
};

static void test_tree_layer(void **state)
{
	(void)state;
	unsetenv("SOURCE_DATE_EPOCH");
	char *dir = mktemp_dir();
	_cleanup_free_ char *src = path_of(dir, "src");
	assert_int_equal(mkdir(src, 0755), 0);
	bool xattr = build_tree(src, 022, "2011-11-11 11:11:11");

	hoist_layer_opts o;
	hoist_layer_opts_init(&o);
	assert_int_equal(o.compression, HOIST_COMPRESSION_GZIP);
	assert_true(o.oci_media_types);
	layer l;
	tree_layer(&o, src, &l);
	assert_string_equal(l.info.media_type, HOIST_MT_OCI_LAYER_GZIP);
	assert_int_equal(l.info.size, (int64_t)l.blob.len);
	assert_digest_of(&l.info.digest, l.blob.data, l.blob.len);

	hoist_buf tar;
	decompress(l.blob.data, l.blob.len, &tar);
	assert_digest_of(&l.info.diff_id, tar.data, tar.len);

	/* gzip(1) reads the blob to the same tar. */
	_cleanup_free_ char *blobf = path_of(dir, "layer.tgz");
	_cleanup_free_ char *tarf = path_of(dir, "layer.tar");
	save(blobf, l.blob.data, l.blob.len);
	save(tarf, tar.data, tar.len);
	_cleanup_free_ char *sum = run("gzip -dc '%s' | sha256sum", blobf);
	assert_memory_equal(sum, hoist_digest_hex(&l.info.diff_id), 64);

	/* tar(1): sorted names, 0:0, the epoch. */
	_cleanup_free_ char *names = run("tar -tf '%s'", tarf);
	hoist_buf want = HOIST_BUF_INIT(4096);
	for (size_t i = 0; i < HOIST_ARRAY_SIZE(tree_order); i++)
		assert_int_equal(hoist_buf_appendf(&want, NULL, "%s\n", tree_order[i]), 0);
	assert_string_equal(names, want.data);
	hoist_buf_release(&want);
	_cleanup_free_ char *lines = run("TZ=UTC tar -tvf '%s'", tarf);
	size_t nlines = 0;
	for (char *p = lines, *nl; (nl = strchr(p, '\n')); p = nl + 1, nlines++) {
		*nl = '\0';
		if (!strstr(p, " 0/0 ") || !strstr(p, " 1970-01-01 00:00 "))
			fail_msg("unexpected listing line: %s", p);
		*nl = '\n';
	}
	assert_int_equal(nlines, HOIST_ARRAY_SIZE(tree_order));
	assert_non_null(strstr(lines, "-rwsr-xr-x 0/0"));
	assert_non_null(strstr(lines, "drwx------ 0/0"));
	assert_non_null(strstr(lines, "prw-r----- 0/0"));
	assert_non_null(strstr(lines, "hl link to a"));
	assert_non_null(strstr(lines, "sl -> a"));

	/* Nothing host-specific in the headers. */
	assert_false(has_bytes(&tar, "atime="));
	assert_false(has_bytes(&tar, "ctime="));
	assert_false(has_bytes(&tar, "SCHILY.dev"));
	assert_false(has_bytes(&tar, "SCHILY.ino"));
	assert_false(has_bytes(&tar, "SCHILY.nlink"));
	assert_false(has_bytes(&tar, "LIBARCHIVE."));
	assert_false(has_bytes(&tar, "hdrcharset"));
	assert_false(has_bytes(&tar, "root"));
	assert_false(has_bytes(&tar, dir));
	/* The long name needs a pax path record, named without a pid. */
	assert_true(has_bytes(&tar, "path=sub/" LONG_NAME "\n"));
	assert_true(has_bytes(&tar, "PaxHeader/a-very-long-file"));
	assert_false(has_bytes(&tar, "PaxHeader."));
	if (xattr)
		assert_true(has_bytes(&tar, "SCHILY.xattr.user.test=val\n"));
	else
		print_message("setxattr user.test failed: xattr check skipped\n");

	ents es;
	read_entries(&tar, &es);
	assert_int_equal(es.n, HOIST_ARRAY_SIZE(tree_order));
	for (size_t i = 0; i < es.n; i++) {
		const ent *e = &es.e[i];
		assert_string_equal(e->name, tree_order[i]);
		assert_int_equal(e->uid, 0);
		assert_int_equal(e->gid, 0);
		assert_int_equal(e->mtime, 0);
		assert_false(e->uname);
		assert_false(e->atime);
		assert_false(e->ctime);
	}
	assert_int_equal(find(&es, "a")->perm, 04755);
	assert_int_equal(find(&es, "a")->size, 6);
	assert_int_equal(find(&es, "d/")->perm, 0700);
	assert_int_equal(find(&es, "d/f")->perm, 0600);
	assert_int_equal(find(&es, "ff")->type, AE_IFIFO);
	assert_string_equal(find(&es, "hl")->hardlink, "a");
	assert_string_equal(find(&es, "sl")->symlink, "a");
	assert_int_equal(find(&es, "sl")->type, AE_IFLNK);
	ents_release(&es);

	hoist_buf_release(&tar);
	layer_release(&l);
	rm_tree(dir);
}

static void test_reproducible(void **state)
{
	(void)state;
	unsetenv("SOURCE_DATE_EPOCH");
	char *d1 = mktemp_dir();
	char *d2 = mktemp_dir();
	_cleanup_free_ char *t1 = path_of(d1, "tree");
	_cleanup_free_ char *t2 = path_of(d2, "another/place");
	assert_int_equal(hoist_fs_mkdir_p(AT_FDCWD, t1, 0755, NULL), 0);
	assert_int_equal(hoist_fs_mkdir_p(AT_FDCWD, t2, 0700, NULL), 0);
	build_tree(t1, 022, NULL);
	build_tree(t2, 077, "1999-12-31 23:59:59");

	hoist_layer_opts o;
	hoist_layer_opts_init(&o);
	layer a, b, c;
	tree_layer(&o, t1, &a);
	tree_layer(&o, t1, &b);
	tree_layer(&o, t2, &c);
	assert_string_equal(a.info.digest.str, b.info.digest.str);
	assert_string_equal(a.info.diff_id.str, b.info.diff_id.str);
	assert_string_equal(a.info.digest.str, c.info.digest.str);
	assert_string_equal(a.info.diff_id.str, c.info.diff_id.str);
	assert_int_equal(a.blob.len, c.blob.len);
	assert_memory_equal(a.blob.data, c.blob.data, a.blob.len);

	/* A mode that differs on disk gives another layer: modes are kept. */
	_cleanup_free_ char *f = path_of(t2, "b");
	assert_int_equal(chmod(f, 0664), 0);
	layer d;
	tree_layer(&o, t2, &d);
	assert_string_not_equal(a.info.diff_id.str, d.info.diff_id.str);

	layer_release(&a);
	layer_release(&b);
	layer_release(&c);
	layer_release(&d);
	rm_tree(d1);
	rm_tree(d2);
}

/* Half pseudo-random, half text: compressible but not trivially. */
static char *mixed_data(size_t n)
{
	char *p = malloc(n);
	assert_non_null(p);
	uint64_t x = 88172645463325252ULL;
	size_t half = n / 2;
	for (size_t i = 0; i < half; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(p + i, &x, half - i < 8 ? half - i : 8);
	}
	size_t off = half;
	for (unsigned line = 0; off < n; line++) {
		char tmp[96];
		int k = snprintf(tmp, sizeof(tmp),
			"line %u: the quick brown fox jumps over %u lazy dogs\n",
			line, line * 7919 % 1000);
		size_t c = (size_t)k < n - off ? (size_t)k : n - off;
		memcpy(p + off, tmp, c);
		off += c;
	}
	return p;
}

static int count_gzip_members(const hoist_buf *b)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	assert_int_equal(inflateInit2(&zs, 16 + MAX_WBITS), Z_OK);
	unsigned char *out = malloc(1 << 20);
	zs.next_in = (unsigned char *)b->data;
	zs.avail_in = (uInt)b->len;
	int members = 0;
	while (zs.avail_in > 0) {
		zs.next_out = out;
		zs.avail_out = 1 << 20;
		int r = inflate(&zs, Z_NO_FLUSH);
		if (r == Z_STREAM_END) {
			members++;
			inflateReset(&zs);
		} else {
			assert_int_equal(r, Z_OK);
		}
	}
	inflateEnd(&zs);
	free(out);
	return members;
}

static void test_gzip_threads(void **state)
{
	(void)state;
	unsetenv("SOURCE_DATE_EPOCH");
	char *dir = mktemp_dir();
	size_t n = 5u * 1024 * 1024 + 12345;
	char *data = mixed_data(n);
	put(dir, "big", data, n, 0644);
	put(dir, "small", "s", 1, 0644);

	hoist_layer_opts o;
	hoist_layer_opts_init(&o);
	layer l1, l4;
	o.threads = 1;
	tree_layer(&o, dir, &l1);
	o.threads = 4;
	tree_layer(&o, dir, &l4);
	assert_int_equal(l1.blob.len, l4.blob.len);
	assert_memory_equal(l1.blob.data, l4.blob.data, l1.blob.len);
	assert_string_equal(l1.info.digest.str, l4.info.digest.str);

	/* One member per MiB of tar: several, and every reader takes them. */
	hoist_buf tar;
	decompress(l4.blob.data, l4.blob.len, &tar);
	assert_digest_of(&l4.info.diff_id, tar.data, tar.len);
	assert_int_equal(count_gzip_members(&l4.blob),
		(int)((tar.len + (1 << 20) - 1) >> 20));
	assert_true(tar.len > n);
	assert_non_null(memmem(tar.data, tar.len, data, n));
	_cleanup_free_ char *blobf = path_of(dir, "../big.tgz");
	save(blobf, l4.blob.data, l4.blob.len);
	_cleanup_free_ char *sum = run("gzip -dc '%s' | sha256sum", blobf);
	assert_memory_equal(sum, hoist_digest_hex(&l4.info.diff_id), 64);
	_cleanup_free_ char *pysum = run("python3 -c 'import gzip,hashlib,sys;"
		"print(hashlib.sha256(gzip.open(sys.argv[1]).read()).hexdigest())' '%s'",
		blobf);
	assert_memory_equal(pysum, hoist_digest_hex(&l4.info.diff_id), 64);

	/* A higher level compresses at least as well, differently. */
	o.level = 9;
	layer l9;
	tree_layer(&o, dir, &l9);
	assert_string_equal(l9.info.diff_id.str, l4.info.diff_id.str);
	assert_string_not_equal(l9.info.digest.str, l4.info.digest.str);
	assert_true(l9.blob.len <= l4.blob.len);

	layer_release(&l9);
	hoist_buf_release(&tar);
	layer_release(&l1);
	layer_release(&l4);
	free(data);
	unlink(blobf);
	rm_tree(dir);
}

typedef struct data_fill {
	const char *data;
	size_t n;
} data_fill;

static void fill_data(hoist_layer_writer *w, void *ud)
{
	data_fill *d = ud;
	hoist_error *err = NULL;
	if (hoist_layer_writer_add_data(w, "/data/blob.bin", d->data, d->n, 0640,
		    &err) < 0)
		die_err(err);
}

static void test_zstd_and_none(void **state)
{
	(void)state;
	char *dir = mktemp_dir();
	size_t n = 20u * 1024 * 1024;
	data_fill d = { mixed_data(n), n };

	hoist_layer_opts o;
	hoist_layer_opts_init(&o);
	o.compression = HOIST_COMPRESSION_ZSTD;
	o.threads = 1;
	layer z1, z2;
	make_layer(&o, fill_data, &d, &z1);
	o.threads = 2;
	make_layer(&o, fill_data, &d, &z2);
	assert_string_equal(z1.info.media_type, HOIST_MT_OCI_LAYER_ZSTD);
	/* zstd with nbWorkers >= 1 gives the same bytes for any count. */
	assert_int_equal(z1.blob.len, z2.blob.len);
	assert_memory_equal(z1.blob.data, z2.blob.data, z1.blob.len);
	assert_digest_of(&z1.info.digest, z1.blob.data, z1.blob.len);
	assert_memory_equal(z1.blob.data, "\x28\xb5\x2f\xfd", 4);
	assert_true(z1.blob.len < n);
	hoist_buf tar;
	decompress(z1.blob.data, z1.blob.len, &tar);
	assert_digest_of(&z1.info.diff_id, tar.data, tar.len);
	_cleanup_free_ char *zf = path_of(dir, "l.zst");
	save(zf, z1.blob.data, z1.blob.len);
	_cleanup_free_ char *sum = run("zstd -q -dc '%s' | sha256sum", zf);
	assert_memory_equal(sum, hoist_digest_hex(&z1.info.diff_id), 64);

	/* none: the blob is the tar; same tar whatever the compression. */
	o.compression = HOIST_COMPRESSION_NONE;
	layer p;
	make_layer(&o, fill_data, &d, &p);
	assert_string_equal(p.info.media_type, HOIST_MT_OCI_LAYER);
	assert_string_equal(p.info.digest.str, p.info.diff_id.str);
	assert_string_equal(p.info.diff_id.str, z1.info.diff_id.str);
	assert_int_equal(p.blob.len, tar.len);
	assert_memory_equal(p.blob.data, tar.data, tar.len);
	hoist_buf plain;
	decompress(p.blob.data, p.blob.len, &plain);
	assert_int_equal(plain.len, p.blob.len);
	hoist_buf_release(&plain);

	/* Docker media types on request (zstd has none of its own). */
	o.oci_media_types = false;
	layer dn;
	make_layer(&o, fill_data, &d, &dn);
	assert_string_equal(dn.info.media_type, HOIST_MT_DOCKER_LAYER);
	o.compression = HOIST_COMPRESSION_GZIP;
	layer dg;
	make_layer(&o, fill_data, &d, &dg);
	assert_string_equal(dg.info.media_type, HOIST_MT_DOCKER_LAYER_GZIP);
	assert_string_equal(dg.info.diff_id.str, z1.info.diff_id.str);

	/* Invalid levels are refused. */
	hoist_layer_writer *w = NULL;
	hoist_error *err = NULL;
	mem_sink s = { .base = { &mem_ops } };
	o.level = 13;
	assert_int_equal(hoist_layer_writer_new(&w, &o, &s.base, &err),
		-HOIST_E_INVALID);
	assert_non_null(strstr(err->msg, "invalid gzip level 13"));
	hoist_error_free(err);

	layer_release(&dn);
	layer_release(&dg);
	layer_release(&p);
	hoist_buf_release(&tar);
	layer_release(&z1);
	layer_release(&z2);
	free((void *)d.data);
	rm_tree(dir);
}

static void tree_entries(const hoist_layer_opts *o, const char *dir, ents *out)
{
	layer l;
	tree_layer(o, dir, &l);
	hoist_buf tar;
	decompress(l.blob.data, l.blob.len, &tar);
	read_entries(&tar, out);
	hoist_buf_release(&tar);
	layer_release(&l);
}

static void set_mtime(const char *root, const char *rel, time_t t)
{
	_cleanup_free_ char *p = path_of(root, rel);
	struct timespec ts[2] = { { t, 0 }, { t, 0 } };
	assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
}

/* Empty regular files: those without xattrs are written without being
 * opened (listxattrat); one with an xattr keeps it; hard links stay. */
static void test_empty_files(void **state)
{
	(void)state;
	char *dir = mktemp_dir();
	put(dir, "e0", "", 0, 0644);
	put(dir, "e1", "", 0, 0600);
	put(dir, "h1", "", 0, 0644);
	put(dir, "n", "x", 1, 0644);
	_cleanup_free_ char *h1 = path_of(dir, "h1");
	_cleanup_free_ char *h2 = path_of(dir, "h2");
	assert_int_equal(link(h1, h2), 0);
	_cleanup_free_ char *e0 = path_of(dir, "e0");
	bool xattr = setxattr(e0, "user.empty", "yes", 3, 0) == 0;
	hoist_layer_opts o;
	hoist_layer_opts_init(&o);
	layer l;
	make_layer(&o, fill_tree, dir, &l);
	hoist_buf tar;
	decompress(l.blob.data, l.blob.len, &tar);
	ents es;
	read_entries(&tar, &es);
	static const char *const want[] = { "e0", "e1", "h1", "h2", "n" };
	assert_int_equal(es.n, HOIST_ARRAY_SIZE(want));
	for (size_t i = 0; i < es.n; i++)
		assert_string_equal(es.e[i].name, want[i]);
	assert_int_equal(es.e[0].size, 0);
	assert_int_equal(es.e[1].perm, 0600);
	assert_null(es.e[2].hardlink);
	assert_string_equal(es.e[3].hardlink, "h1");
	assert_int_equal(es.e[4].size, 1);
	if (xattr)
		assert_true(has_bytes(&tar, "SCHILY.xattr.user.empty=yes\n"));
	else
		print_message("setxattr user.empty failed: xattr check skipped\n");
	ents_release(&es);
	hoist_buf_release(&tar);
	layer_release(&l);
	rm_tree(dir);
}

static void test_mtimes_and_owners(void **state)
{
	(void)state;
	char *dir = mktemp_dir();
	put(dir, "new", "n", 1, 0644);
	put(dir, "old", "o", 1, 0644);
	set_mtime(dir, "new", 1000000000);
	set_mtime(dir, "old", 100000000);
	hoist_layer_opts o;
	hoist_layer_opts_init(&o);
	ents es;

	/* SOURCE_DATE_EPOCH sets every mtime. */
	setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
	tree_entries(&o, dir, &es);
	assert_int_equal(es.n, 2);
	assert_int_equal(es.e[0].mtime, 1700000000);
	assert_int_equal(es.e[1].mtime, 1700000000);
	ents_release(&es);
	_cleanup_free_ char *listing = NULL;
	{
		layer l;
		tree_layer(&o, dir, &l);
		hoist_buf tar;
		decompress(l.blob.data, l.blob.len, &tar);
		_cleanup_free_ char *tarf = path_of(dir, "..l.tar");
		save(tarf, tar.data, tar.len);
		listing = run("TZ=UTC tar -tvf '%s'", tarf);
		unlink(tarf);
		hoist_buf_release(&tar);
		layer_release(&l);
	}
	assert_non_null(strstr(listing, " 2023-11-14 22:13 new"));

	/* An invalid one is ignored (0). */
	setenv("SOURCE_DATE_EPOCH", "17e8", 1);
	tree_entries(&o, dir, &es);
	assert_int_equal(es.e[0].mtime, 0);
	ents_release(&es);

	/* preserve_mtime, no epoch: kept. */
	unsetenv("SOURCE_DATE_EPOCH");
	o.preserve_mtime = true;
	tree_entries(&o, dir, &es);
	assert_int_equal(find(&es, "new")->mtime, 1000000000);
	assert_int_equal(find(&es, "old")->mtime, 100000000);
	ents_release(&es);

	/* preserve_mtime with SOURCE_DATE_EPOCH: clamped to it. */
	setenv("SOURCE_DATE_EPOCH", "500000000", 1);
	tree_entries(&o, dir, &es);
	assert_int_equal(find(&es, "new")->mtime, 500000000);
	assert_int_equal(find(&es, "old")->mtime, 100000000);
	ents_release(&es);

	/* An explicit epoch wins over the environment. */
	o.preserve_mtime = false;
	o.epoch = 86400;
	tree_entries(&o, dir, &es);
	assert_int_equal(find(&es, "new")->mtime, 86400);
	ents_release(&es);
	unsetenv("SOURCE_DATE_EPOCH");

	/* chown */
	o.uid = 1000;
	o.gid = 2000;
	tree_entries(&o, dir, &es);
	for (size_t i = 0; i < es.n; i++) {
		assert_int_equal(es.e[i].uid, 1000);
		assert_int_equal(es.e[i].gid, 2000);
		assert_false(es.e[i].uname);
	}
	ents_release(&es);
	rm_tree(dir);
}

typedef struct tar_fill {
	const char *path;
	int rc;
	hoist_error *err;
} tar_fill;

static void fill_tar(hoist_layer_writer *w, void *ud)
{
	tar_fill *t = ud;
	int fd = open(t->path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	hoist_reader *r = NULL;
	assert_int_equal(hoist_reader_new_fd(&r, fd, true, NULL), 0);
	t->rc = hoist_layer_writer_add_tar(w, r, &t->err);
	hoist_reader_free(r);
}

static void test_add_tar(void **state)
{
	(void)state;
	unsetenv("SOURCE_DATE_EPOCH");
	char *dir = mktemp_dir();
	_cleanup_free_ char *src = path_of(dir, "src");
	assert_int_equal(mkdir(src, 0755), 0);
	put(src, "f", "file\n", 5, 0640);
	mkd(src, "sub", 0750);
	put(src, "sub/g", "gee\n", 4, 0755);
	_cleanup_free_ char *g = path_of(src, "sub/g");
	assert_int_equal(chown(g, 1234, 5678), 0);
	free(run("touch -d '2005-05-05' '%s/f' '%s/sub/g'", src, src));

	hoist_layer_opts o;
	hoist_layer_opts_init(&o);

	/* Relative ("./f"), gzip-compressed: normalised entries. */
	tar_fill t = { .path = NULL };
	_cleanup_free_ char *t1 = path_of(dir, "rel.tgz");
	free(run("tar -czf '%s' -C '%s' .", t1, src));
	t.path = t1;
	layer l;
	make_layer(&o, fill_tar, &t, &l);
	assert_int_equal(t.rc, 0);
	hoist_buf tar;
	decompress(l.blob.data, l.blob.len, &tar);
	ents es;
	read_entries(&tar, &es);
	assert_int_equal(es.n, 3);
	assert_string_equal(es.e[0].name, "f");
	assert_string_equal(es.e[1].name, "sub/");
	assert_string_equal(es.e[2].name, "sub/g");
	assert_int_equal(es.e[0].perm, 0640);
	assert_int_equal(es.e[1].perm, 0750);
	for (size_t i = 0; i < es.n; i++) {
		assert_int_equal(es.e[i].uid, 0);
		assert_int_equal(es.e[i].gid, 0);
		assert_int_equal(es.e[i].mtime, 0);
		assert_false(es.e[i].uname);
	}
	assert_int_equal(es.e[2].size, 4);
	assert_non_null(memmem(tar.data, tar.len, "gee\n", 4));
	assert_false(has_bytes(&tar, "root"));
	ents_release(&es);
	hoist_buf_release(&tar);
	layer_release(&l);

	/* An absolute member name becomes relative. */
	_cleanup_free_ char *t2 = path_of(dir, "abs.tar");
	free(run("tar -cPf '%s' '%s/f'", t2, src));
	t = (tar_fill){ .path = t2 };
	make_layer(&o, fill_tar, &t, &l);
	assert_int_equal(t.rc, 0);
	decompress(l.blob.data, l.blob.len, &tar);
	read_entries(&tar, &es);
	assert_int_equal(es.n, 1);
	_cleanup_free_ char *abs_name = path_of(src + 1, "f");
	assert_string_equal(es.e[0].name, abs_name);
	ents_release(&es);
	hoist_buf_release(&tar);
	layer_release(&l);

	/* ".." is refused. */
	_cleanup_free_ char *t3 = path_of(dir, "evil.tar");
	free(run("tar -cPf '%s' -C '%s/sub' ../f", t3, src));
	_cleanup_free_ char *check = run("tar -tPf '%s'", t3);
	assert_string_equal(check, "../f\n");
	hoist_layer_writer *w = NULL;
	mem_sink s = { .base = { &mem_ops } };
	hoist_buf_init(&s.b, BLOB_MAX);
	assert_int_equal(hoist_layer_writer_new(&w, &o, &s.base, NULL), 0);
	t = (tar_fill){ .path = t3 };
	fill_tar(w, &t);
	assert_int_equal(t.rc, -HOIST_E_UNSAFE);
	assert_non_null(strstr(t.err->msg, "'../f'"));
	hoist_error_free(t.err);
	hoist_layer_writer_free(w);
	hoist_buf_release(&s.b);

	/* Not a tar at all. */
	_cleanup_free_ char *t4 = path_of(dir, "junk");
	put(dir, "junk", "this is not a tar archive, not even close......", 47, 0644);
	assert_int_equal(hoist_layer_writer_new(&w, &o, &s.base, NULL), 0);
	t = (tar_fill){ .path = t4 };
	fill_tar(w, &t);
	assert_true(t.rc < 0);
	assert_non_null(strstr(t.err->msg, "add tar"));
	hoist_error_free(t.err);
	hoist_layer_writer_free(w);
	hoist_buf_release(&s.b);

	rm_tree(dir);
}

static void fill_synthetic(hoist_layer_writer *w, void *ud)
{
	(void)ud;
	hoist_error *err = NULL;
	if (hoist_layer_writer_add_dir(w, "etc", 0755, &err) < 0 ||
		hoist_layer_writer_add_data(w, "/etc/hostname", "box\n", 4, 0644, &err) < 0 ||
		hoist_layer_writer_add_symlink(w, "etc/localtime",
			"/usr/share/zoneinfo/UTC", &err) < 0 ||
		hoist_layer_writer_add_whiteout(w, "/usr/lib/x", false, &err) < 0 ||
		hoist_layer_writer_add_whiteout(w, "/x", false, &err) < 0 ||
		hoist_layer_writer_add_whiteout(w, "/var/cache", true, &err) < 0 ||
		hoist_layer_writer_add_whiteout(w, "/", true, &err) < 0)
		die_err(err);
	/* Unsafe or meaningless names are refused and change nothing. */
	assert_int_equal(hoist_layer_writer_add_data(w, "a/../../b", "x", 1, 0644, &err),
		-HOIST_E_UNSAFE);
	assert_non_null(strstr(err->msg, "'a/../../b'"));
	hoist_error_freep(&err);
	assert_int_equal(hoist_layer_writer_add_whiteout(w, "/", false, &err),
		-HOIST_E_INVALID);
	hoist_error_freep(&err);
	assert_int_equal(hoist_layer_writer_add_dir(w, "./", 0755, &err),
		-HOIST_E_INVALID);
	hoist_error_freep(&err);
}

static void test_synthetic_and_whiteouts(void **state)
{
	(void)state;
	unsetenv("SOURCE_DATE_EPOCH");
	hoist_layer_opts o;
	hoist_layer_opts_init(&o);
	layer l;
	make_layer(&o, fill_synthetic, NULL, &l);
	hoist_buf tar;
	decompress(l.blob.data, l.blob.len, &tar);
	ents es;
	read_entries(&tar, &es);
	static const char *const want[] = {
		"etc/", "etc/hostname", "etc/localtime", "usr/lib/.wh.x", ".wh.x",
		"var/cache/.wh..wh..opq", ".wh..wh..opq",
	};
	assert_int_equal(es.n, HOIST_ARRAY_SIZE(want));
	for (size_t i = 0; i < es.n; i++) {
		assert_string_equal(es.e[i].name, want[i]);
		assert_int_equal(es.e[i].mtime, 0);
	}
	assert_int_equal(es.e[1].size, 4);
	assert_string_equal(es.e[2].symlink, "/usr/share/zoneinfo/UTC");
	assert_int_equal(es.e[3].type, AE_IFREG);
	assert_int_equal(es.e[3].size, 0);
	ents_release(&es);
	hoist_buf_release(&tar);
	layer_release(&l);
}

static bool skip_logs(void *ud, const char *rel, bool is_dir)
{
	int *calls = ud;
	(*calls)++;
	size_t n = strlen(rel);
	if (is_dir && !strcmp(rel, "cache"))
		return true;
	return n > 4 && !strcmp(rel + n - 4, ".log");
}

typedef struct dest_fill {
	const char *dir;
	int calls;
} dest_fill;

static void fill_dest(hoist_layer_writer *w, void *ud)
{
	dest_fill *d = ud;
	hoist_error *err = NULL;
	if (hoist_layer_writer_add_tree(w, d->dir, "/app/data/", skip_logs,
		    &d->calls, &err) < 0 ||
		hoist_layer_writer_add_tree(w, d->dir, "app/other", skip_logs,
			&d->calls, &err) < 0)
		die_err(err);
	_cleanup_free_ char *p = path_of(d->dir, "keep");
	if (hoist_layer_writer_add_path(w, p, "/bin/keep", &err) < 0)
		die_err(err);
	assert_int_equal(hoist_layer_writer_add_path(w, "/nonexistent/x", "x", &err),
		-HOIST_E_NOTFOUND);
	assert_non_null(strstr(err->msg, "'/nonexistent/x'"));
	hoist_error_freep(&err);
	assert_int_equal(hoist_layer_writer_add_tree(w, "/nonexistent/d", "", NULL,
		NULL, &err), -HOIST_E_NOTFOUND);
	assert_non_null(strstr(err->msg, "'/nonexistent/d'"));
	hoist_error_freep(&err);
}

static void test_dest_and_exclude(void **state)
{
	(void)state;
	unsetenv("SOURCE_DATE_EPOCH");
	char *dir = mktemp_dir();
	assert_int_equal(chmod(dir, 0750), 0);
	put(dir, "keep", "k", 1, 0755);
	_cleanup_free_ char *keep = path_of(dir, "keep");
	_cleanup_free_ char *keep2 = path_of(dir, "keep2");
	assert_int_equal(link(keep, keep2), 0);
	put(dir, "x.log", "l", 1, 0644);
	mkd(dir, "cache", 0755);
	put(dir, "cache/c", "c", 1, 0644);
	hoist_layer_opts o;
	hoist_layer_opts_init(&o);
	dest_fill d = { .dir = dir };
	layer l;
	make_layer(&o, fill_dest, &d, &l);
	hoist_buf tar;
	decompress(l.blob.data, l.blob.len, &tar);
	ents es;
	read_entries(&tar, &es);
	static const char *const want[] = {
		"app/", "app/data/", "app/data/keep", "app/data/keep2", "app/other/",
		"app/other/keep", "app/other/keep2", "bin/keep",
	};
	assert_int_equal(es.n, HOIST_ARRAY_SIZE(want));
	for (size_t i = 0; i < es.n; i++)
		assert_string_equal(es.e[i].name, want[i]);
	assert_int_equal(es.e[0].perm, 0755);     /* made parent */
	assert_int_equal(es.e[1].perm, 0750);     /* the dir itself */
	assert_int_equal(es.e[7].perm, 0755);
	/* Hard links stay within one tree; a single added path has none. */
	assert_null(es.e[2].hardlink);
	assert_string_equal(es.e[3].hardlink, "app/data/keep");
	assert_null(es.e[5].hardlink);
	assert_string_equal(es.e[6].hardlink, "app/other/keep");
	assert_null(es.e[7].hardlink);
	assert_int_equal(es.e[7].size, 1);
	assert_int_equal(d.calls, 8); /* keep, keep2, x.log, cache: twice */
	ents_release(&es);
	hoist_buf_release(&tar);
	layer_release(&l);
	rm_tree(dir);
}

static void test_devices_and_caps(void **state)
{
	(void)state;
	char *dir = mktemp_dir();
	_cleanup_free_ char *dev = path_of(dir, "null");
	bool have_dev = mknod(dev, S_IFCHR | 0666, makedev(1, 3)) == 0 &&
		chmod(dev, 0666) == 0;
	put(dir, "ping", "\x7f" "ELF", 4, 0755);
	_cleanup_free_ char *ping = path_of(dir, "ping");
	/* vfs_cap_data v2: effective, permitted = CAP_NET_RAW (13). */
	unsigned char cap[20] = { 0x01, 0x00, 0x00, 0x02, 0x00, 0x20 };
	bool have_cap = setxattr(ping, "security.capability", cap, sizeof(cap), 0) == 0;
	setxattr(ping, "trusted.other", "t", 1, 0);

	hoist_layer_opts o;
	hoist_layer_opts_init(&o);
	layer l;
	tree_layer(&o, dir, &l);
	hoist_buf tar;
	decompress(l.blob.data, l.blob.len, &tar);
	ents es;
	read_entries(&tar, &es);
	assert_null(find(&es, "null"));
	assert_non_null(find(&es, "ping"));
	if (have_cap) {
		const char rec[] = "SCHILY.xattr.security.capability=";
		const char *p = memmem(tar.data, tar.len, rec, sizeof(rec) - 1);
		assert_non_null(p);
		assert_memory_equal(p + sizeof(rec) - 1, cap, sizeof(cap));
	} else {
		print_message("setxattr security.capability failed: skipped\n");
	}
	assert_false(has_bytes(&tar, "trusted.other"));
	ents_release(&es);
	hoist_buf_release(&tar);
	layer_release(&l);

	if (have_dev) {
		o.devices = true;
		tree_entries(&o, dir, &es);
		const ent *e = find(&es, "null");
		assert_non_null(e);
		assert_int_equal(e->type, AE_IFCHR);
		assert_int_equal(e->rdev, makedev(1, 3));
		assert_int_equal(e->perm, 0666);
		ents_release(&es);
	} else {
		print_message("mknod failed: device check skipped\n");
	}
	rm_tree(dir);
}

static int read_all_rc(const void *p, size_t n, hoist_buf *out, hoist_error **err)
{
	hoist_reader *m = NULL, *d = NULL;
	assert_int_equal(hoist_reader_new_mem(&m, p, n, NULL), 0);
	assert_int_equal(hoist_layer_decompress(&d, m, NULL), 0);
	hoist_buf_init(out, BLOB_MAX);
	int r = hoist_reader_read_all(d, out, err);
	hoist_reader_free(d);
	return r;
}

static void test_decompress(void **state)
{
	(void)state;
	char *dir = mktemp_dir();
	hoist_error *err = NULL;
	hoist_buf out;

	/* Two members from gzip(1), concatenated. */
	put(dir, "one", "first part\n", 11, 0644);
	put(dir, "two", "second part\n", 12, 0644);
	_cleanup_free_ char *cat = run("cd '%s' && (gzip -c one; gzip -9 -c two) | wc -c", dir);
	size_t gzlen = strtoul(cat, NULL, 10);
	_cleanup_free_ char *gzf = path_of(dir, "both.gz");
	free(run("cd '%s' && (gzip -c one; gzip -9 -c two) > both.gz", dir));
	hoist_buf raw = HOIST_BUF_INIT(1 << 20);
	assert_int_equal(hoist_fs_read_file(AT_FDCWD, gzf, &raw, NULL), 0);
	assert_int_equal(raw.len, gzlen);
	assert_int_equal(read_all_rc(raw.data, raw.len, &out, &err), 0);
	assert_string_equal(out.data, "first part\nsecond part\n");
	hoist_buf_release(&out);

	/* Truncated gzip fails at any cut but the end of the first member
	 * (one byte is too short to be gzip: plain). */
	_cleanup_free_ char *first = run("cd '%s' && gzip -c one | wc -c", dir);
	size_t first_len = strtoul(first, NULL, 10);
	for (size_t cut = 2; cut < raw.len; cut++) {
		if (cut == first_len)
			continue;
		if (read_all_rc(raw.data, cut, &out, &err) == 0)
			fail_msg("gzip cut at %zu of %zu accepted", cut, raw.len);
		assert_non_null(err);
		assert_int_equal(err->code, HOIST_E_INVALID);
		hoist_error_freep(&err);
		hoist_buf_release(&out);
	}
	assert_true(read_all_rc(raw.data, raw.len - 3, &out, &err) < 0);
	assert_non_null(strstr(err->msg, "truncated gzip stream"));
	hoist_error_freep(&err);
	hoist_buf_release(&out);

	/* A corrupted byte is caught (data or CRC). */
	raw.data[14] ^= 0x55;
	assert_int_equal(read_all_rc(raw.data, raw.len, &out, &err), -HOIST_E_INVALID);
	assert_non_null(strstr(err->msg, "gzip"));
	hoist_error_freep(&err);
	hoist_buf_release(&out);
	raw.data[14] ^= 0x55;
	/* ... and so is a wrong CRC-32 or length in a member's trailer */
	for (size_t at = first_len - 8; at < first_len; at += 4) {
		raw.data[at] ^= 0x01;
		assert_int_equal(read_all_rc(raw.data, raw.len, &out, &err), -HOIST_E_INVALID);
		assert_non_null(strstr(err->msg, "gzip"));
		hoist_error_freep(&err);
		hoist_buf_release(&out);
		raw.data[at] ^= 0x01;
	}

	/* Trailing garbage after a member is not gzip. */
	assert_int_equal(hoist_buf_append(&raw, "\x1fjunk", 5, NULL), 0);
	assert_int_equal(read_all_rc(raw.data, raw.len, &out, &err), -HOIST_E_INVALID);
	hoist_error_freep(&err);
	hoist_buf_release(&out);
	hoist_buf_release(&raw);

	/* zstd from zstd(1), and truncated. */
	_cleanup_free_ char *zf = path_of(dir, "one.zst");
	free(run("cd '%s' && zstd -q -c one two > one.zst", dir));
	hoist_buf z = HOIST_BUF_INIT(1 << 20);
	assert_int_equal(hoist_fs_read_file(AT_FDCWD, zf, &z, NULL), 0);
	assert_int_equal(read_all_rc(z.data, z.len, &out, &err), 0);
	assert_string_equal(out.data, "first part\nsecond part\n");
	hoist_buf_release(&out);
	assert_int_equal(read_all_rc(z.data, z.len - 2, &out, &err), -HOIST_E_INVALID);
	assert_non_null(strstr(err->msg, "zstd"));
	hoist_error_freep(&err);
	hoist_buf_release(&out);
	z.data[8] ^= 0xff;
	assert_int_equal(read_all_rc(z.data, z.len, &out, &err), -HOIST_E_INVALID);
	hoist_error_freep(&err);
	hoist_buf_release(&out);
	hoist_buf_release(&z);

	/* Plain and empty pass through. */
	assert_int_equal(read_all_rc("abc", 3, &out, &err), 0);
	assert_string_equal(out.data, "abc");
	hoist_buf_release(&out);
	assert_int_equal(read_all_rc("", 0, &out, &err), 0);
	assert_int_equal(out.len, 0);
	hoist_buf_release(&out);
	rm_tree(dir);
}

/* A sink that fails after some bytes: the error reaches the caller and
 * the writer refuses further use. */
typedef struct bad_sink {
	hoist_writer base;
	size_t left;
} bad_sink;

static int bad_write(hoist_writer *w, const void *p, size_t n, hoist_error **err)
{
	(void)p;
	bad_sink *b = (bad_sink *)w;
	if (n > b->left)
		return hoist_error_set(err, HOIST_E_IO, "disk full");
	b->left -= n;
	return 0;
}

static const hoist_writer_ops bad_ops = { bad_write, NULL };

static void test_sink_failure(void **state)
{
	(void)state;
	size_t n = 3u * 1024 * 1024;
	char *data = mixed_data(n);
	for (int comp = 0; comp < 3; comp++) {
		hoist_layer_opts o;
		hoist_layer_opts_init(&o);
		o.compression = comp == 0 ? HOIST_COMPRESSION_GZIP
			: comp == 1 ? HOIST_COMPRESSION_ZSTD : HOIST_COMPRESSION_NONE;
		o.threads = 2;
		bad_sink s = { .base = { &bad_ops }, .left = 1000 };
		hoist_layer_writer *w = NULL;
		hoist_error *err = NULL;
		assert_int_equal(hoist_layer_writer_new(&w, &o, &s.base, NULL), 0);
		int r = hoist_layer_writer_add_data(w, "big", data, n, 0644, &err);
		if (r == 0) {
			hoist_layer_info info;
			r = hoist_layer_writer_finish(w, &info, &err);
		}
		assert_int_equal(r, -HOIST_E_IO);
		assert_non_null(strstr(err->msg, "disk full"));
		hoist_error_freep(&err);
		assert_true(hoist_layer_writer_add_dir(w, "d", 0755, &err) < 0);
		assert_non_null(strstr(err->msg, "layer writer"));
		hoist_error_freep(&err);
		hoist_layer_writer_free(w);
	}
	/* Freed unfinished (blocks in flight or failed): nothing more is
	 * written, no thread or memory is left behind. */
	hoist_layer_opts o;
	hoist_layer_opts_init(&o);
	bad_sink s = { .base = { &bad_ops }, .left = 0 };
	hoist_layer_writer *w = NULL;
	assert_int_equal(hoist_layer_writer_new(&w, &o, &s.base, NULL), 0);
	hoist_layer_writer_add_data(w, "x", data, 3u << 20, 0644, NULL);
	hoist_layer_writer_free(w);
	assert_int_equal(hoist_layer_writer_new(&w, &o, &s.base, NULL), 0);
	assert_int_equal(hoist_layer_writer_add_data(w, "x", "y", 1, 0644, NULL), 0);
	hoist_layer_writer_free(w);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree_layer),
		cmocka_unit_test(test_reproducible),
		cmocka_unit_test(test_gzip_threads),
		cmocka_unit_test(test_zstd_and_none),
		cmocka_unit_test(test_mtimes_and_owners),
		cmocka_unit_test(test_empty_files),
		cmocka_unit_test(test_add_tar),
		cmocka_unit_test(test_synthetic_and_whiteouts),
		cmocka_unit_test(test_dest_and_exclude),
		cmocka_unit_test(test_devices_and_caps),
		cmocka_unit_test(test_decompress),
		cmocka_unit_test(test_sink_failure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

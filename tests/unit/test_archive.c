/* docker-archive: transport.  Images go through the destination API into a
 * tarball and back through the source API; hand-made legacy `docker save`
 * archives (built with tar(1)) are read; skopeo, when installed, checks
 * that what we write is a docker archive to other tools too. */
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
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "hoist/digest.h"
#include "hoist/fs.h"
#include "hoist/imgref.h"
#include "hoist/io.h"
#include "hoist/manifest.h"
#include "hoist/transport.h"

/* ------------------------------------------------------------------ */
/* helpers */

static char *xstrdup(const char *s)
{
	char *p = s ? strdup(s) : NULL;
	assert_true(!s || p);
	return p;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	assert_true(n >= 0);
	return s;
}

static hoist_imgref *archive_ref(const char *path, const char *tag)
{
	hoist_imgref *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	r->kind = HOIST_TRANSPORT_ARCHIVE;
	r->input = tag ? xasprintf("docker-archive:%s:%s", path, tag)
		       : xasprintf("docker-archive:%s", path);
	r->path = xstrdup(path);
	r->tag = xstrdup(tag);
	return r;
}

static char *make_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *t = xasprintf("%s/hoist-archive-XXXXXX", base && *base ? base : "/tmp");
	assert_non_null(mkdtemp(t));
	return t;
}

static void rm_tmpdir(char *dir)
{
	assert_int_equal(hoist_fs_rm_rf(AT_FDCWD, dir, NULL), 0);
	free(dir);
}

static void digest_of(hoist_digest *out, const void *p, size_t n)
{
	assert_int_equal(hoist_digest_of(out, HOIST_DIGEST_SHA256, p, n, NULL), 0);
}

static void write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(hoist_write_all(fd, p, n, NULL), 0);
	close(fd);
}

static void read_file(const char *path, hoist_buf *b)
{
	hoist_buf_init(b, 64 * 1024 * 1024);
	assert_int_equal(hoist_fs_read_file(AT_FDCWD, path, b, NULL), 0);
}

/* A tar (in memory) holding one file. */
static void make_layer_tar(const char *name, const char *content, char **out,
	size_t *len)
{
	size_t cap = 64 * 1024, used = 0;
	char *buf = calloc(1, cap);
	assert_non_null(buf);
	struct archive *a = archive_write_new();
	assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)strlen(content));
	archive_entry_set_mtime(e, 0, 0);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(a, content, strlen(content)),
		(la_ssize_t)strlen(content));
	archive_entry_free(e);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	*out = buf;
	*len = used;
}

static void gzip_buf(const char *in, size_t n, char **out, size_t *outlen)
{
	z_stream z = { 0 };
	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY),
		Z_OK);
	size_t cap = deflateBound(&z, n) + 64;
	char *o = malloc(cap);
	assert_non_null(o);
	z.next_in = (unsigned char *)in;
	z.avail_in = (uInt)n;
	z.next_out = (unsigned char *)o;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	*outlen = z.total_out;
	deflateEnd(&z);
	*out = o;
}

typedef struct test_image {
	char *tar;      /* uncompressed layer */
	size_t tar_len;
	char *gz;       /* the layer blob */
	size_t gz_len;
	hoist_digest diff_id, layer_digest, config_digest;
	char *config;
	size_t config_len;
	hoist_manifest *m;
	hoist_descriptor config_desc, layer_desc;
} test_image;

static void image_make(test_image *img, const char *file_content, bool oci)
{
	memset(img, 0, sizeof(*img));
	make_layer_tar("hello.txt", file_content, &img->tar, &img->tar_len);
	gzip_buf(img->tar, img->tar_len, &img->gz, &img->gz_len);
	digest_of(&img->diff_id, img->tar, img->tar_len);
	digest_of(&img->layer_digest, img->gz, img->gz_len);
	img->config = xasprintf("{\"architecture\":\"amd64\",\"config\":{\"Cmd\":"
				"[\"/bin/sh\"]},\"os\":\"linux\",\"rootfs\":{"
				"\"diff_ids\":[\"%s\"],\"type\":\"layers\"}}",
		img->diff_id.str);
	img->config_len = strlen(img->config);
	digest_of(&img->config_digest, img->config, img->config_len);
	const char *mt = oci ? HOIST_MT_OCI_MANIFEST : HOIST_MT_DOCKER_MANIFEST;
	const char *ct = oci ? HOIST_MT_OCI_CONFIG : HOIST_MT_DOCKER_CONFIG;
	const char *lt = oci ? HOIST_MT_OCI_LAYER_GZIP : HOIST_MT_DOCKER_LAYER_GZIP;
	/* Pretty-printed on purpose: the bytes must survive as they are. */
	char *raw = xasprintf("{\n  \"schemaVersion\": 2,\n  \"mediaType\": \"%s\",\n"
			      "  \"config\": {\"mediaType\": \"%s\", \"digest\": "
			      "\"%s\", \"size\": %zu},\n  \"layers\": [{\"mediaType\": "
			      "\"%s\", \"digest\": \"%s\", \"size\": %zu}]\n}\n",
		mt, ct, img->config_digest.str, img->config_len, lt,
		img->layer_digest.str, img->gz_len);
	assert_int_equal(hoist_manifest_parse(&img->m, raw, strlen(raw), mt, NULL),
		0);
	free(raw);
	img->config_desc = img->m->config;
	img->layer_desc = img->m->layers[0];
}

static void image_free(test_image *img)
{
	free(img->tar);
	free(img->gz);
	free(img->config);
	hoist_manifest_free(img->m);
}

static int put_mem(hoist_dest *d, const hoist_descriptor *desc, const void *p,
	size_t n, hoist_error **err)
{
	hoist_reader *r = NULL;
	assert_int_equal(hoist_reader_new_mem(&r, p, n, NULL), 0);
	int rc = d->ops->put_blob(d, desc, r, err);
	hoist_reader_free(r);
	return rc;
}

static void write_image(const char *path, const char *tag, const test_image *img)
{
	hoist_dest *d = NULL;
	hoist_error *err = NULL;
	int rc = hoist_archive_dest_open(NULL, archive_ref(path, tag), &d, &err);
	if (rc < 0)
		fail_msg("dest open: %s", err->msg);
	assert_true(d->single_image);
	bool have = true;
	assert_int_equal(d->ops->has_blob(d, &img->config_desc, &have, NULL), 0);
	assert_false(have);
	assert_int_equal(put_mem(d, &img->config_desc, img->config,
				 img->config_len, NULL),
		0);
	assert_int_equal(put_mem(d, &img->layer_desc, img->gz, img->gz_len, NULL),
		0);
	assert_int_equal(d->ops->has_blob(d, &img->layer_desc, &have, NULL), 0);
	assert_true(have);
	/* A second put of the same blob is a no-op. */
	assert_int_equal(put_mem(d, &img->layer_desc, img->gz, img->gz_len, NULL),
		0);
	rc = d->ops->put_manifest(d, img->m, true, &err);
	if (rc == 0)
		rc = d->ops->commit(d, &err);
	if (rc < 0)
		fail_msg("write: %s", err->msg);
	hoist_dest_free(d);
}

static hoist_source *open_source(const char *path, const char *tag)
{
	hoist_source *s = NULL;
	hoist_error *err = NULL;
	if (hoist_archive_source_open(NULL, archive_ref(path, tag), &s, &err) < 0)
		fail_msg("source open: %s", err->msg);
	return s;
}

static int open_source_err(const char *path, const char *tag, hoist_error **err)
{
	hoist_source *s = NULL;
	int rc = hoist_archive_source_open(NULL, archive_ref(path, tag), &s, err);
	assert_true(rc < 0);
	assert_null(s);
	assert_non_null(*err);
	printf("  expected error: %s\n", (*err)->msg);
	return rc;
}

static void get_manifest(hoist_source *s, const hoist_digest *dg, hoist_buf *raw,
	char **mt)
{
	hoist_buf_init(raw, HOIST_MANIFEST_MAX);
	hoist_error *err = NULL;
	if (s->ops->get_manifest(s, dg, raw, mt, &err) < 0)
		fail_msg("get_manifest: %s", err->msg);
}

static int read_blob(hoist_source *s, const hoist_descriptor *d, hoist_buf *out,
	hoist_error **err)
{
	hoist_buf_init(out, 64 * 1024 * 1024);
	hoist_reader *r = NULL;
	int rc = s->ops->open_blob(s, d, &r, err);
	if (rc < 0)
		return rc;
	rc = hoist_reader_read_all(r, out, err);
	hoist_reader_free(r);
	return rc;
}

static void assert_blob(hoist_source *s, const hoist_descriptor *d,
	const void *want, size_t n)
{
	hoist_buf b;
	hoist_error *err = NULL;
	if (read_blob(s, d, &b, &err) < 0)
		fail_msg("read blob %s: %s", d->digest.str, err->msg);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.data, want, n);
	hoist_buf_release(&b);
}

/* Reads member `name` of the tar at path; returns false when absent. */
static bool tar_member(const char *path, const char *name, hoist_buf *out)
{
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	assert_int_equal(archive_read_open_filename(a, path, 16384), ARCHIVE_OK);
	struct archive_entry *e;
	bool found = false;
	hoist_buf_init(out, 64 * 1024 * 1024);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		if (strcmp(archive_entry_pathname(e), name) != 0)
			continue;
		char buf[4096];
		la_ssize_t k;
		while ((k = archive_read_data(a, buf, sizeof(buf))) > 0)
			assert_int_equal(hoist_buf_append(out, buf, (size_t)k, NULL), 0);
		assert_true(k == 0);
		found = true;
		break;
	}
	archive_read_free(a);
	return found;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("'%s' does not contain '%s'", hay, needle);
}

/* ------------------------------------------------------------------ */
/* tests */

static void test_roundtrip(void **state)
{
	(void)state;
	char *dir = make_tmpdir();
	char *path = xasprintf("%s/img.tar", dir);
	test_image img;
	image_make(&img, "hello\n", false);
	write_image(path, "example.com/app:v1", &img);

	/* By name, in any spelling that normalises the same, and alone. */
	const char *names[] = { "example.com/app:v1", NULL };
	for (size_t i = 0; i < 2; i++) {
		hoist_source *s = open_source(path, names[i]);
		hoist_buf raw;
		char *mt = NULL;
		get_manifest(s, NULL, &raw, &mt);
		assert_int_equal(raw.len, img.m->raw_len);
		assert_memory_equal(raw.data, img.m->raw, raw.len);
		assert_string_equal(mt, HOIST_MT_DOCKER_MANIFEST);
		free(mt);
		hoist_buf_release(&raw);
		/* by digest */
		get_manifest(s, &img.m->digest, &raw, NULL);
		assert_memory_equal(raw.data, img.m->raw, raw.len);
		hoist_buf_release(&raw);
		hoist_buf other = HOIST_BUF_INIT(1024);
		hoist_error *err = NULL;
		assert_int_equal(s->ops->get_manifest(s, &img.layer_digest, &other,
					 NULL, &err),
			-HOIST_E_NOTFOUND);
		hoist_error_free(err);
		hoist_buf_release(&other);

		assert_blob(s, &img.config_desc, img.config, img.config_len);
		assert_blob(s, &img.layer_desc, img.gz, img.gz_len);
		/* the manifest is a blob too */
		hoist_descriptor md = { .digest = img.m->digest,
			.size = (int64_t)img.m->raw_len };
		assert_blob(s, &md, img.m->raw, img.m->raw_len);
		hoist_source_free(s);
	}

	/* The metadata docker load reads. */
	hoist_buf b;
	assert_true(tar_member(path, "manifest.json", &b));
	char *want = xasprintf("[{\"Config\":\"blobs/sha256/%s\",\"RepoTags\":["
			       "\"example.com/app:v1\"],\"Layers\":[\"blobs/"
			       "sha256/%s\"]}]",
		hoist_digest_hex(&img.config_digest),
		hoist_digest_hex(&img.layer_digest));
	assert_string_equal(b.data, want);
	free(want);
	hoist_buf_release(&b);
	assert_true(tar_member(path, "repositories", &b));
	want = xasprintf("{\"example.com/app\":{\"v1\":\"%s\"}}",
		hoist_digest_hex(&img.diff_id));
	assert_string_equal(b.data, want);
	free(want);
	hoist_buf_release(&b);
	assert_true(tar_member(path, "oci-layout", &b));
	assert_string_equal(b.data, "{\"imageLayoutVersion\":\"1.0.0\"}");
	hoist_buf_release(&b);
	assert_true(tar_member(path, "index.json", &b));
	json_t *idx = json_loads(b.data, 0, NULL);
	assert_non_null(idx);
	json_t *m0 = json_array_get(json_object_get(idx, "manifests"), 0);
	assert_string_equal(json_string_value(json_object_get(m0, "digest")),
		img.m->digest.str);
	json_t *ann = json_object_get(m0, "annotations");
	assert_string_equal(json_string_value(json_object_get(ann,
				    "io.containerd.image.name")),
		"example.com/app:v1");
	assert_string_equal(json_string_value(json_object_get(ann,
				    "org.opencontainers.image.ref.name")),
		"v1");
	json_decref(idx);
	hoist_buf_release(&b);

	/* Fixed member metadata: the output is reproducible. */
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	assert_int_equal(archive_read_open_filename(a, path, 16384), ARCHIVE_OK);
	struct archive_entry *e;
	int n = 0;
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		n++;
		assert_int_equal(archive_entry_mtime(e), 0);
		assert_int_equal(archive_entry_uid(e), 0);
		assert_int_equal(archive_entry_gid(e), 0);
		const char *un = archive_entry_uname(e);
		const char *gn = archive_entry_gname(e);
		assert_true(!un || !*un);
		assert_true(!gn || !*gn);
		if (archive_entry_filetype(e) == AE_IFREG)
			assert_int_equal(archive_entry_perm(e), 0644);
	}
	archive_read_free(a);
	/* 2 dirs, config, layer, manifest, index.json, manifest.json,
	 * oci-layout, repositories */
	assert_int_equal(n, 9);

	/* Same image, same bytes. */
	char *path2 = xasprintf("%s/img2.tar", dir);
	write_image(path2, "example.com/app:v1", &img);
	hoist_buf b1, b2;
	read_file(path, &b1);
	read_file(path2, &b2);
	assert_int_equal(b1.len, b2.len);
	assert_memory_equal(b1.data, b2.data, b1.len);
	hoist_buf_release(&b1);
	hoist_buf_release(&b2);

	/* Only the two archives are left in the directory. */
	DIR *dd = opendir(dir);
	struct dirent *de;
	int files = 0;
	while ((de = readdir(dd)))
		if (de->d_name[0] != '.')
			files++;
		else
			assert_true(!strcmp(de->d_name, ".") ||
				!strcmp(de->d_name, ".."));
	closedir(dd);
	assert_int_equal(files, 2);

	free(path2);
	image_free(&img);
	free(path);
	rm_tmpdir(dir);
}

static void test_untagged_and_oci(void **state)
{
	(void)state;
	char *dir = make_tmpdir();
	char *path = xasprintf("%s/u.tar", dir);
	test_image img;
	image_make(&img, "oci\n", true);
	write_image(path, NULL, &img);
	hoist_buf b;
	assert_true(tar_member(path, "manifest.json", &b));
	assert_contains(b.data, "\"RepoTags\":[]");
	hoist_buf_release(&b);
	assert_false(tar_member(path, "repositories", &b));
	hoist_buf_release(&b);
	hoist_source *s = open_source(path, NULL);
	hoist_buf raw;
	char *mt = NULL;
	get_manifest(s, NULL, &raw, &mt);
	assert_int_equal(raw.len, img.m->raw_len);
	assert_memory_equal(raw.data, img.m->raw, raw.len);
	assert_string_equal(mt, HOIST_MT_OCI_MANIFEST);
	free(mt);
	hoist_buf_release(&raw);
	hoist_source_free(s);
	/* naming an image in an untagged archive */
	hoist_error *err = NULL;
	assert_int_equal(open_source_err(path, "app:1", &err), -HOIST_E_NOTFOUND);
	assert_contains(err->msg, "'app:1'");
	hoist_error_free(err);
	image_free(&img);
	free(path);
	rm_tmpdir(dir);
}

static int run(const char *cmd)
{
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool have_skopeo(void)
{
	return run("skopeo --version >/dev/null 2>&1") == 0;
}

static json_t *run_json(const char *cmd)
{
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	json_error_t je;
	json_t *j = json_loadf(f, 0, &je);
	int st = pclose(f);
	if (!j || st != 0)
		fail_msg("'%s' failed (status %d): %s", cmd, st, j ? "" : je.text);
	return j;
}

static json_t *load_json_file(const char *path)
{
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);
	if (!j)
		fail_msg("'%s': %s", path, je.text);
	return j;
}

static void test_skopeo(void **state)
{
	(void)state;
	if (!have_skopeo()) {
		printf("skipping skopeo checks: skopeo is not installed\n");
		skip();
	}
	char *dir = make_tmpdir();
	char *run_dir = xasprintf("%s/run", dir);
	assert_int_equal(mkdir(run_dir, 0700), 0);
	char *old_xdg = xstrdup(getenv("XDG_RUNTIME_DIR"));
	char *old_tmp = xstrdup(getenv("TMPDIR"));
	setenv("XDG_RUNTIME_DIR", run_dir, 1);
	setenv("TMPDIR", run_dir, 1);
	char *path = xasprintf("%s/img.tar", dir);
	test_image img;
	image_make(&img, "for skopeo\n", false);
	write_image(path, "example.com/app:v1", &img);

	char *cmd = xasprintf("skopeo inspect --raw docker-archive:%s", path);
	json_t *raw = run_json(cmd);
	free(cmd);
	/* skopeo serves the layers uncompressed: by their diff_ids */
	json_t *l0 = json_array_get(json_object_get(raw, "layers"), 0);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(raw, "config"), "digest")),
		img.config_digest.str);
	assert_int_equal(json_array_size(json_object_get(raw, "layers")), 1);
	assert_string_equal(json_string_value(json_object_get(l0, "digest")),
		img.diff_id.str);
	json_decref(raw);

	cmd = xasprintf("skopeo inspect docker-archive:%s:example.com/app:v1",
		path);
	json_t *info = run_json(cmd);
	free(cmd);
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(info, "Layers"), 0)),
		img.diff_id.str);
	assert_string_equal(json_string_value(json_object_get(info, "Os")),
		"linux");
	json_decref(info);

	char *oci = xasprintf("%s/oci", dir);
	cmd = xasprintf("skopeo --insecure-policy copy -q docker-archive:%s "
			"oci:%s:x >/dev/null",
		path, oci);
	assert_int_equal(run(cmd), 0);
	free(cmd);
	char *p = xasprintf("%s/index.json", oci);
	json_t *index = load_json_file(p);
	free(p);
	const char *mdg = json_string_value(json_object_get(
		json_array_get(json_object_get(index, "manifests"), 0), "digest"));
	assert_non_null(mdg);
	p = xasprintf("%s/blobs/sha256/%s", oci, mdg + 7);
	json_t *m = load_json_file(p);
	free(p);
	/* Converting to OCI re-serialises the config: compare its content. */
	const char *cdg = json_string_value(json_object_get(
		json_object_get(m, "config"), "digest"));
	assert_non_null(cdg);
	p = xasprintf("%s/blobs/sha256/%s", oci, cdg + 7);
	json_t *cfg = load_json_file(p);
	free(p);
	assert_string_equal(json_string_value(json_array_get(json_object_get(
				    json_object_get(cfg, "rootfs"), "diff_ids"),
				    0)),
		img.diff_id.str);
	assert_string_equal(json_string_value(json_array_get(json_object_get(
				    json_object_get(cfg, "config"), "Cmd"),
				    0)),
		"/bin/sh");
	json_decref(cfg);
	json_t *layers = json_object_get(m, "layers");
	assert_int_equal(json_array_size(layers), 1);
	/* skopeo may recompress: compare the layer's uncompressed digest */
	const char *ldg = json_string_value(json_object_get(
		json_array_get(layers, 0), "digest"));
	assert_non_null(ldg);
	p = xasprintf("%s/blobs/sha256/%s", oci, ldg + 7);
	cmd = xasprintf("(gzip -dc %s 2>/dev/null || cat %s) | sha256sum", p, p);
	FILE *f = popen(cmd, "r");
	char line[128] = "";
	assert_non_null(fgets(line, sizeof(line), f));
	pclose(f);
	assert_memory_equal(line, hoist_digest_hex(&img.diff_id), 64);
	free(cmd);
	free(p);
	json_decref(m);
	json_decref(index);

	/* And back: what skopeo writes (legacy layout, uncompressed layers
	 * named by diff_id) reads as a synthesised schema 2 image. */
	char *back = xasprintf("%s/back.tar", dir);
	cmd = xasprintf("skopeo --insecure-policy copy -q oci:%s:x "
			"docker-archive:%s:again/img:1 >/dev/null",
		oci, back);
	assert_int_equal(run(cmd), 0);
	free(cmd);
	hoist_source *s = open_source(back, "again/img:1");
	hoist_buf braw;
	char *bmt = NULL;
	get_manifest(s, NULL, &braw, &bmt);
	assert_string_equal(bmt, HOIST_MT_DOCKER_MANIFEST);
	hoist_manifest *bm = NULL;
	assert_int_equal(hoist_manifest_parse(&bm, braw.data, braw.len, bmt, NULL),
		0);
	assert_int_equal(bm->n_layers, 1);
	assert_true(hoist_digest_equal(&bm->layers[0].digest, &img.diff_id));
	assert_string_equal(bm->layers[0].media_type, HOIST_MT_DOCKER_LAYER);
	assert_blob(s, &bm->layers[0], img.tar, img.tar_len);
	hoist_buf cb;
	hoist_error *cerr = NULL;
	if (read_blob(s, &bm->config, &cb, &cerr) < 0)
		fail_msg("config: %s", cerr->msg);
	assert_contains(cb.data, img.diff_id.str);
	hoist_buf_release(&cb);
	hoist_manifest_free(bm);
	free(bmt);
	hoist_buf_release(&braw);
	hoist_source_free(s);
	free(back);

	/* Unpacked, the archive is an OCI layout naming the image "v1" (what
	 * Docker 25+ and containerd load), with our manifest bytes.  (skopeo
	 * 1.9 looks only at OCI-typed entries of index.json by name, so an
	 * OCI image here.) */
	test_image oimg;
	image_make(&oimg, "for skopeo, oci\n", true);
	char *opath = xasprintf("%s/oimg.tar", dir);
	write_image(opath, "example.com/app:v1", &oimg);
	char *unpacked = xasprintf("%s/unpacked", dir);
	assert_int_equal(mkdir(unpacked, 0755), 0);
	cmd = xasprintf("tar -xf %s -C %s && skopeo inspect --raw oci:%s:v1 > "
			"%s/raw.json",
		opath, unpacked, unpacked, dir);
	assert_int_equal(run(cmd), 0);
	free(cmd);
	p = xasprintf("%s/raw.json", dir);
	hoist_buf rb;
	read_file(p, &rb);
	free(p);
	/* skopeo prints the bytes and a newline */
	assert_true(rb.len >= oimg.m->raw_len);
	assert_memory_equal(rb.data, oimg.m->raw, oimg.m->raw_len);
	hoist_buf_release(&rb);
	free(unpacked);
	free(opath);
	image_free(&oimg);

	if (old_xdg)
		setenv("XDG_RUNTIME_DIR", old_xdg, 1);
	else
		unsetenv("XDG_RUNTIME_DIR");
	if (old_tmp)
		setenv("TMPDIR", old_tmp, 1);
	else
		unsetenv("TMPDIR");
	free(old_xdg);
	free(old_tmp);
	free(oci);
	image_free(&img);
	free(path);
	free(run_dir);
	rm_tmpdir(dir);
}

/* A `docker save` archive as Docker before 25 wrote it. */
static void test_legacy(void **state)
{
	(void)state;
	char *dir = make_tmpdir();
	char *tree = xasprintf("%s/tree", dir);
	assert_int_equal(mkdir(tree, 0755), 0);
	test_image img;
	image_make(&img, "legacy\n", false);
	const char *id1 = "1111111111111111111111111111111111111111111111111111111111111111";
	const char *id2 = "2222222222222222222222222222222222222222222222222222222222222222";
	char *p = xasprintf("%s/%s", tree, id1);
	assert_int_equal(mkdir(p, 0755), 0);
	free(p);
	p = xasprintf("%s/%s/layer.tar", tree, id1);
	write_file(p, img.tar, img.tar_len);
	free(p);
	p = xasprintf("%s/%s/VERSION", tree, id1);
	write_file(p, "1.0", 3);
	free(p);
	p = xasprintf("%s/%s/json", tree, id1);
	write_file(p, "{}", 2);
	free(p);
	/* A layer shared with another image is a link to the first copy. */
	p = xasprintf("%s/%s", tree, id2);
	assert_int_equal(mkdir(p, 0755), 0);
	free(p);
	p = xasprintf("%s/%s/layer.tar", tree, id2);
	char *target = xasprintf("../%s/layer.tar", id1);
	assert_int_equal(symlink(target, p), 0);
	free(target);
	free(p);
	const char *cfg_hex = hoist_digest_hex(&img.config_digest);
	p = xasprintf("%s/%s.json", tree, cfg_hex);
	write_file(p, img.config, img.config_len);
	free(p);
	char *mj = xasprintf("[{\"Config\":\"%s.json\",\"RepoTags\":[\"legacy:1\"],"
			     "\"Layers\":[\"%s/layer.tar\",\"%s/layer.tar\"]}]\n",
		cfg_hex, id1, id2);
	p = xasprintf("%s/manifest.json", tree);
	write_file(p, mj, strlen(mj));
	free(p);
	free(mj);
	char *rj = xasprintf("{\"legacy\":{\"1\":\"%s\"}}\n", id2);
	p = xasprintf("%s/repositories", tree);
	write_file(p, rj, strlen(rj));
	free(p);
	free(rj);
	char *path = xasprintf("%s/legacy.tar", dir);
	char *cmd = xasprintf("tar -cf %s -C %s %s %s %s.json manifest.json "
			      "repositories",
		path, tree, id1, id2, cfg_hex);
	assert_int_equal(run(cmd), 0);
	free(cmd);

	hoist_digest first = { 0 };
	for (int round = 0; round < 2; round++) {
		/* "legacy:1" is docker.io/library/legacy:1 in any spelling */
		hoist_source *s = open_source(path,
			round ? "docker.io/library/legacy:1" : NULL);
		hoist_buf raw;
		char *mt = NULL;
		get_manifest(s, NULL, &raw, &mt);
		assert_string_equal(mt, HOIST_MT_DOCKER_MANIFEST);
		hoist_manifest *m = NULL;
		hoist_error *err = NULL;
		if (hoist_manifest_parse(&m, raw.data, raw.len, mt, &err) < 0)
			fail_msg("synthesised manifest: %s", err->msg);
		assert_string_equal(m->config.media_type, HOIST_MT_DOCKER_CONFIG);
		assert_true(hoist_digest_equal(&m->config.digest, &img.config_digest));
		assert_int_equal(m->config.size, img.config_len);
		assert_int_equal(m->n_layers, 2);
		for (size_t i = 0; i < 2; i++) {
			assert_string_equal(m->layers[i].media_type,
				HOIST_MT_DOCKER_LAYER);
			assert_true(hoist_digest_equal(&m->layers[i].digest,
				&img.diff_id));
			assert_int_equal(m->layers[i].size, img.tar_len);
		}
		assert_blob(s, &m->layers[1], img.tar, img.tar_len);
		assert_blob(s, &m->config, img.config, img.config_len);
		if (round == 0)
			first = m->digest;
		else
			assert_string_equal(first.str, m->digest.str);
		/* served by its digest too */
		hoist_buf again;
		get_manifest(s, &m->digest, &again, NULL);
		assert_int_equal(again.len, raw.len);
		assert_memory_equal(again.data, raw.data, raw.len);
		hoist_buf_release(&again);
		hoist_manifest_free(m);
		free(mt);
		hoist_buf_release(&raw);
		hoist_source_free(s);
	}

	/* Two images: one must be named. */
	mj = xasprintf("[{\"Config\":\"%s.json\",\"RepoTags\":[\"legacy:1\"],"
		       "\"Layers\":[\"%s/layer.tar\"]},{\"Config\":\"%s.json\","
		       "\"RepoTags\":[\"other/x:2\",\"other/x:latest\"],\"Layers\":"
		       "[\"%s/layer.tar\"]}]",
		cfg_hex, id1, cfg_hex, id2);
	p = xasprintf("%s/manifest.json", tree);
	write_file(p, mj, strlen(mj));
	free(p);
	free(mj);
	char *path2 = xasprintf("%s/two.tar", dir);
	cmd = xasprintf("tar -cf %s -C %s %s %s %s.json manifest.json", path2,
		tree, id1, id2, cfg_hex);
	assert_int_equal(run(cmd), 0);
	free(cmd);
	hoist_error *err = NULL;
	assert_int_equal(open_source_err(path2, NULL, &err), -HOIST_E_INVALID);
	assert_contains(err->msg, "legacy:1, other/x:2, other/x:latest");
	assert_contains(err->msg, path2);
	hoist_error_free(err);
	err = NULL;
	hoist_source *s = open_source(path2, "other/x");
	hoist_source_free(s);
	assert_int_equal(open_source_err(path2, "other/x:3", &err),
		-HOIST_E_NOTFOUND);
	assert_contains(err->msg, "'other/x:3'");
	assert_contains(err->msg, "legacy:1");
	hoist_error_free(err);

	free(path2);
	image_free(&img);
	free(path);
	free(tree);
	rm_tmpdir(dir);
}

static void write_blob_file(const char *tree, const void *p, size_t n,
	hoist_digest *out)
{
	digest_of(out, p, n);
	char *path = xasprintf("%s/blobs/sha256/%s", tree, hoist_digest_hex(out));
	write_file(path, p, n);
	free(path);
}

/* Docker 25+ with the containerd store: index.json -> image index -> the
 * image manifest (other platforms of the index are not in the tar). */
static void test_nested_index(void **state)
{
	(void)state;
	char *dir = make_tmpdir();
	char *tree = xasprintf("%s/tree", dir);
	char *p = xasprintf("%s/blobs/sha256", tree);
	assert_int_equal(hoist_fs_mkdir_p(AT_FDCWD, p, 0755, NULL), 0);
	free(p);
	test_image img;
	image_make(&img, "nested\n", true);
	hoist_digest dg, idx_dg;
	write_blob_file(tree, img.config, img.config_len, &dg);
	write_blob_file(tree, img.gz, img.gz_len, &dg);
	write_blob_file(tree, img.m->raw, img.m->raw_len, &dg);
	const char *absent = "sha256:"
		"3333333333333333333333333333333333333333333333333333333333333333";
	char *idx = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\","
			      "\"manifests\":[{\"mediaType\":\"%s\",\"digest\":"
			      "\"%s\",\"size\":99,\"platform\":{\"architecture\":"
			      "\"arm64\",\"os\":\"linux\"}},{\"mediaType\":\"%s\","
			      "\"digest\":\"%s\",\"size\":%zu,\"platform\":{"
			      "\"architecture\":\"amd64\",\"os\":\"linux\"}}]}",
		HOIST_MT_OCI_INDEX, HOIST_MT_OCI_MANIFEST, absent,
		HOIST_MT_OCI_MANIFEST, img.m->digest.str, img.m->raw_len);
	write_blob_file(tree, idx, strlen(idx), &idx_dg);
	char *top = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\","
			      "\"manifests\":[{\"mediaType\":\"%s\",\"digest\":"
			      "\"%s\",\"size\":%zu}]}",
		HOIST_MT_OCI_INDEX, HOIST_MT_OCI_INDEX, idx_dg.str, strlen(idx));
	p = xasprintf("%s/index.json", tree);
	write_file(p, top, strlen(top));
	free(p);
	char *mj = xasprintf("[{\"Config\":\"blobs/sha256/%s\",\"RepoTags\":["
			     "\"n:1\"],\"Layers\":[\"blobs/sha256/%s\"]}]",
		hoist_digest_hex(&img.config_digest),
		hoist_digest_hex(&img.layer_digest));
	p = xasprintf("%s/manifest.json", tree);
	write_file(p, mj, strlen(mj));
	free(p);
	char *path = xasprintf("%s/n.tar", dir);
	char *cmd = xasprintf("tar -cf %s -C %s blobs index.json manifest.json",
		path, tree);
	assert_int_equal(run(cmd), 0);
	free(cmd);

	hoist_source *s = open_source(path, "n:1");
	hoist_buf raw;
	char *mt = NULL;
	get_manifest(s, NULL, &raw, &mt);
	assert_int_equal(raw.len, img.m->raw_len);
	assert_memory_equal(raw.data, img.m->raw, raw.len);
	assert_string_equal(mt, HOIST_MT_OCI_MANIFEST);
	free(mt);
	mt = NULL;
	hoist_buf_release(&raw);
	get_manifest(s, &idx_dg, &raw, &mt);
	assert_string_equal(raw.data, idx);
	assert_string_equal(mt, HOIST_MT_OCI_INDEX);
	free(mt);
	hoist_buf_release(&raw);
	hoist_digest missing;
	assert_int_equal(hoist_digest_parse(&missing, absent, NULL), 0);
	hoist_buf none = HOIST_BUF_INIT(1024);
	hoist_error *err = NULL;
	assert_int_equal(s->ops->get_manifest(s, &missing, &none, NULL, &err),
		-HOIST_E_NOTFOUND);
	hoist_error_free(err);
	hoist_buf_release(&none);
	hoist_source_free(s);

	free(mj);
	free(top);
	free(idx);
	image_free(&img);
	free(path);
	free(tree);
	rm_tmpdir(dir);
}

/* Layer media types come from the first bytes of each file; a zstd layer
 * makes the whole synthesised manifest OCI.  A gzip'd archive reads too. */
static void test_sniff(void **state)
{
	(void)state;
	char *dir = make_tmpdir();
	char *tree = xasprintf("%s/tree", dir);
	assert_int_equal(mkdir(tree, 0755), 0);
	test_image img;
	image_make(&img, "sniff\n", false);
	static const char zst[] = "\x28\xb5\x2f\xfd not really zstd, only its magic";
	struct {
		const char *id;
		const void *data;
		size_t len;
	} layers[] = {
		{ "a", img.tar, img.tar_len },
		{ "b", img.gz, img.gz_len },
		{ "c", zst, sizeof(zst) - 1 },
	};
	for (size_t i = 0; i < 3; i++) {
		char *p = xasprintf("%s/%s", tree, layers[i].id);
		assert_int_equal(mkdir(p, 0755), 0);
		free(p);
		p = xasprintf("%s/%s/layer.tar", tree, layers[i].id);
		write_file(p, layers[i].data, layers[i].len);
		free(p);
	}
	char *p = xasprintf("%s/config.json", tree);
	write_file(p, img.config, img.config_len);
	free(p);
	const char *mj = "[{\"Config\":\"./config.json\",\"RepoTags\":null,"
			 "\"Layers\":[\"a/layer.tar\",\"./b/layer.tar\","
			 "\"c/layer.tar\"]}]";
	p = xasprintf("%s/manifest.json", tree);
	write_file(p, mj, strlen(mj));
	free(p);
	char *path = xasprintf("%s/s.tar", dir);
	char *cmd = xasprintf("tar -cf %s -C %s . && gzip -k %s", path, tree, path);
	assert_int_equal(run(cmd), 0);
	free(cmd);
	char *gz = xasprintf("%s.gz", path);

	const char *paths[] = { path, gz };
	for (size_t k = 0; k < 2; k++) {
		hoist_source *s = open_source(paths[k], NULL);
		hoist_buf raw;
		char *mt = NULL;
		get_manifest(s, NULL, &raw, &mt);
		assert_string_equal(mt, HOIST_MT_OCI_MANIFEST);
		hoist_manifest *m = NULL;
		assert_int_equal(hoist_manifest_parse(&m, raw.data, raw.len, mt, NULL),
			0);
		assert_string_equal(m->config.media_type, HOIST_MT_OCI_CONFIG);
		assert_int_equal(m->n_layers, 3);
		assert_string_equal(m->layers[0].media_type, HOIST_MT_OCI_LAYER);
		assert_string_equal(m->layers[1].media_type,
			HOIST_MT_OCI_LAYER_GZIP);
		assert_string_equal(m->layers[2].media_type,
			HOIST_MT_OCI_LAYER_ZSTD);
		assert_true(hoist_digest_equal(&m->layers[1].digest,
			&img.layer_digest));
		assert_int_equal(m->layers[2].size, sizeof(zst) - 1);
		assert_blob(s, &m->layers[2], zst, sizeof(zst) - 1);
		assert_blob(s, &m->layers[0], img.tar, img.tar_len);
		hoist_manifest_free(m);
		free(mt);
		hoist_buf_release(&raw);
		hoist_source_free(s);
	}

	/* without the zstd layer it is Docker schema 2 */
	mj = "[{\"Config\":\"config.json\",\"RepoTags\":[],\"Layers\":["
	     "\"a/layer.tar\",\"b/layer.tar\"]}]";
	p = xasprintf("%s/manifest.json", tree);
	write_file(p, mj, strlen(mj));
	free(p);
	cmd = xasprintf("tar -cf %s -C %s .", path, tree);
	assert_int_equal(run(cmd), 0);
	free(cmd);
	hoist_source *s = open_source(path, NULL);
	hoist_buf raw;
	char *mt = NULL;
	get_manifest(s, NULL, &raw, &mt);
	assert_string_equal(mt, HOIST_MT_DOCKER_MANIFEST);
	char *want = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\","
			       "\"config\":{\"mediaType\":\"%s\",\"size\":%zu,"
			       "\"digest\":\"%s\"},\"layers\":[{\"mediaType\":"
			       "\"%s\",\"size\":%zu,\"digest\":\"%s\"},{"
			       "\"mediaType\":\"%s\",\"size\":%zu,\"digest\":"
			       "\"%s\"}]}",
		HOIST_MT_DOCKER_MANIFEST, HOIST_MT_DOCKER_CONFIG, img.config_len,
		img.config_digest.str, HOIST_MT_DOCKER_LAYER, img.tar_len,
		img.diff_id.str, HOIST_MT_DOCKER_LAYER_GZIP, img.gz_len,
		img.layer_digest.str);
	assert_string_equal(raw.data, want);
	free(want);
	free(mt);
	hoist_buf_release(&raw);
	hoist_source_free(s);

	free(gz);
	image_free(&img);
	free(path);
	free(tree);
	rm_tmpdir(dir);
}

static void test_corrupt_layer(void **state)
{
	(void)state;
	char *dir = make_tmpdir();
	char *path = xasprintf("%s/img.tar", dir);
	test_image img;
	image_make(&img, "corrupt me, please, I am a layer\n", false);
	write_image(path, "app:1", &img);
	hoist_buf b;
	read_file(path, &b);
	char *at = memmem(b.data, b.len, img.gz, img.gz_len);
	assert_non_null(at);
	at[img.gz_len / 2] ^= 0x5a;
	write_file(path, b.data, b.len);
	hoist_buf_release(&b);

	hoist_source *s = open_source(path, "app:1");
	hoist_buf out;
	hoist_error *err = NULL;
	assert_int_equal(read_blob(s, &img.layer_desc, &out, &err), -HOIST_E_DIGEST);
	assert_contains(err->msg, img.layer_digest.str);
	hoist_error_free(err);
	hoist_buf_release(&out);
	/* the config is still fine */
	assert_blob(s, &img.config_desc, img.config, img.config_len);
	/* a blob that is not there */
	hoist_descriptor none = img.layer_desc;
	none.digest = img.diff_id;
	err = NULL;
	hoist_reader *r = NULL;
	assert_int_equal(s->ops->open_blob(s, &none, &r, &err), -HOIST_E_NOTFOUND);
	assert_null(r);
	hoist_error_free(err);
	hoist_source_free(s);
	image_free(&img);
	free(path);
	rm_tmpdir(dir);
}

static void test_bad_archives(void **state)
{
	(void)state;
	char *dir = make_tmpdir();
	hoist_error *err = NULL;

	/* missing file */
	char *missing = xasprintf("%s/missing.tar", dir);
	assert_int_equal(open_source_err(missing, NULL, &err), -HOIST_E_NOTFOUND);
	assert_contains(err->msg, missing);
	hoist_error_free(err);
	err = NULL;
	free(missing);

	/* a tar without manifest.json */
	char *plain = xasprintf("%s/plain.tar", dir);
	char *tar = NULL;
	size_t tar_len = 0;
	make_layer_tar("hello.txt", "not an image\n", &tar, &tar_len);
	write_file(plain, tar, tar_len);
	free(tar);
	assert_int_equal(open_source_err(plain, NULL, &err), -HOIST_E_INVALID);
	assert_contains(err->msg, "manifest.json");
	assert_contains(err->msg, plain);
	hoist_error_free(err);
	err = NULL;
	free(plain);

	/* not a tar at all */
	char *junk = xasprintf("%s/junk.tar", dir);
	write_file(junk, "this is not a tar file, not even close to one\n", 46);
	open_source_err(junk, NULL, &err);
	assert_contains(err->msg, junk);
	hoist_error_free(err);
	err = NULL;
	free(junk);

	/* truncated in the middle of the layer */
	char *path = xasprintf("%s/img.tar", dir);
	test_image img;
	image_make(&img, "truncate\n", false);
	write_image(path, "app:1", &img);
	hoist_buf b;
	read_file(path, &b);
	char *at = memmem(b.data, b.len, img.gz, img.gz_len);
	assert_non_null(at);
	size_t cut = (size_t)(at - b.data) + img.gz_len / 2;
	write_file(path, b.data, cut);
	hoist_buf_release(&b);
	int rc = open_source_err(path, "app:1", &err);
	assert_int_equal(rc, -HOIST_E_INVALID);
	assert_contains(err->msg, path);
	assert_true(strstr(err->msg, "runcated") || strstr(err->msg, "manifest.json"));
	hoist_error_free(err);
	err = NULL;

	/* a member name with '..' */
	char *evil = xasprintf("%s/evil.tar", dir);
	make_layer_tar("blobs/../../etc/passwd", "x\n", &tar, &tar_len);
	write_file(evil, tar, tar_len);
	free(tar);
	assert_int_equal(open_source_err(evil, NULL, &err), -HOIST_E_UNSAFE);
	assert_contains(err->msg, "'..'");
	hoist_error_free(err);
	err = NULL;
	free(evil);

	image_free(&img);
	free(path);
	rm_tmpdir(dir);
}

static bool dir_is_empty(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	bool empty = true;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			empty = false;
	closedir(d);
	return empty;
}

static void test_dest_failures(void **state)
{
	(void)state;
	char *dir = make_tmpdir();
	char *path = xasprintf("%s/out.tar", dir);
	test_image img;
	image_make(&img, "dest\n", false);

	/* freed without commit: nothing at the target, no temp left over */
	hoist_dest *d = NULL;
	assert_int_equal(hoist_archive_dest_open(NULL, archive_ref(path, "a:1"),
				 &d, NULL),
		0);
	assert_int_equal(put_mem(d, &img.config_desc, img.config, img.config_len,
				 NULL),
		0);
	hoist_dest_free(d);
	assert_false(hoist_fs_exists(AT_FDCWD, path));
	assert_true(dir_is_empty(dir));

	assert_int_equal(hoist_archive_dest_open(NULL, archive_ref(path, "a:1"),
				 &d, NULL),
		0);
	hoist_error *err = NULL;
	/* wrong content is refused, the archive stays usable */
	assert_int_equal(put_mem(d, &img.layer_desc, img.tar, img.tar_len, &err),
		-HOIST_E_DIGEST);
	assert_contains(err->msg, img.layer_digest.str);
	hoist_error_free(err);
	err = NULL;
	bool have = true;
	d->ops->has_blob(d, &img.layer_desc, &have, NULL);
	assert_false(have);
	/* right size, wrong bytes */
	char *bad = malloc(img.gz_len);
	assert_non_null(bad);
	memcpy(bad, img.gz, img.gz_len);
	bad[img.gz_len - 3] ^= 1;
	assert_int_equal(put_mem(d, &img.layer_desc, bad, img.gz_len, &err),
		-HOIST_E_DIGEST);
	assert_contains(err->msg, "expected");
	hoist_error_free(err);
	err = NULL;
	free(bad);
	/* short content */
	assert_int_equal(put_mem(d, &img.layer_desc, img.gz, img.gz_len - 1, &err),
		-HOIST_E_DIGEST);
	hoist_error_free(err);
	err = NULL;
	/* a manifest before its blobs */
	assert_int_equal(d->ops->put_manifest(d, img.m, true, &err),
		-HOIST_E_INVALID);
	assert_contains(err->msg, "not written");
	hoist_error_free(err);
	err = NULL;
	/* commit with nothing to name */
	assert_int_equal(d->ops->commit(d, &err), -HOIST_E_INVALID);
	hoist_error_free(err);
	err = NULL;
	assert_int_equal(put_mem(d, &img.config_desc, img.config, img.config_len,
				 NULL),
		0);
	assert_int_equal(put_mem(d, &img.layer_desc, img.gz, img.gz_len, NULL), 0);
	assert_int_equal(d->ops->put_manifest(d, img.m, true, NULL), 0);
	assert_int_equal(d->ops->commit(d, NULL), 0);
	/* nothing goes in after commit */
	assert_true(put_mem(d, &img.config_desc, img.config, img.config_len,
			    &err) < 0);
	hoist_error_free(err);
	err = NULL;
	hoist_dest_free(d);

	/* after the failed attempts the archive reads back whole */
	hoist_source *s = open_source(path, "a:1");
	assert_blob(s, &img.layer_desc, img.gz, img.gz_len);
	assert_blob(s, &img.config_desc, img.config, img.config_len);
	hoist_source_free(s);

	/* a directory is not a file name */
	assert_true(hoist_archive_dest_open(NULL, archive_ref(dir, NULL), &d,
			    &err) < 0);
	assert_contains(err->msg, "directory");
	hoist_error_free(err);
	err = NULL;

	image_free(&img);
	free(path);
	rm_tmpdir(dir);
}

/* put_blob from two threads: while one streams into the tar, the other
 * spools to a temp file and is appended after. */
typedef struct put_job {
	hoist_dest *d;
	const hoist_descriptor *desc;
	hoist_reader *r;
	int rc;
} put_job;

static void *put_thread(void *arg)
{
	put_job *j = arg;
	hoist_error *err = NULL;
	j->rc = j->d->ops->put_blob(j->d, j->desc, j->r, &err);
	if (err)
		fprintf(stderr, "put_blob: %s\n", err->msg);
	hoist_error_free(err);
	return NULL;
}

static void test_concurrent_puts(void **state)
{
	(void)state;
	char *dir = make_tmpdir();
	char *path = xasprintf("%s/c.tar", dir);
	test_image img;
	image_make(&img, "two threads\n", false);
	hoist_dest *d = NULL;
	assert_int_equal(hoist_archive_dest_open(NULL, archive_ref(path, "c:1"),
				 &d, NULL),
		0);
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	put_job slow = { d, &img.layer_desc, NULL, -1 };
	assert_int_equal(hoist_reader_new_fd(&slow.r, fds[0], true, NULL), 0);
	pthread_t t1, t2;
	assert_int_equal(pthread_create(&t1, NULL, put_thread, &slow), 0);
	assert_int_equal(hoist_write_all(fds[1], img.gz, 10, NULL), 0);
	usleep(200 * 1000); /* t1 now holds the tar, waiting for data */
	put_job fast = { d, &img.config_desc, NULL, -1 };
	assert_int_equal(hoist_reader_new_mem(&fast.r, img.config, img.config_len,
				 NULL),
		0);
	assert_int_equal(pthread_create(&t2, NULL, put_thread, &fast), 0);
	usleep(200 * 1000); /* t2 has spooled and waits for the tar */
	assert_int_equal(hoist_write_all(fds[1], img.gz + 10, img.gz_len - 10,
				 NULL),
		0);
	close(fds[1]);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	assert_int_equal(slow.rc, 0);
	assert_int_equal(fast.rc, 0);
	hoist_reader_free(slow.r);
	hoist_reader_free(fast.r);
	assert_int_equal(d->ops->put_manifest(d, img.m, true, NULL), 0);
	assert_int_equal(d->ops->commit(d, NULL), 0);
	hoist_dest_free(d);

	hoist_source *s = open_source(path, NULL);
	assert_blob(s, &img.layer_desc, img.gz, img.gz_len);
	assert_blob(s, &img.config_desc, img.config, img.config_len);
	hoist_source_free(s);
	/* the layer came first, the spooled config after it */
	hoist_buf b;
	read_file(path, &b);
	char *l = memmem(b.data, b.len, img.gz, img.gz_len);
	char *c = memmem(b.data, b.len, img.config, img.config_len);
	assert_true(l && c && l < c);
	hoist_buf_release(&b);
	/* the spool file is gone */
	DIR *dd = opendir(dir);
	struct dirent *de;
	while ((de = readdir(dd)))
		assert_true(strncmp(de->d_name, ".tmp-", 5) != 0);
	closedir(dd);
	image_free(&img);
	free(path);
	rm_tmpdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_untagged_and_oci),
		cmocka_unit_test(test_skopeo),
		cmocka_unit_test(test_legacy),
		cmocka_unit_test(test_nested_index),
		cmocka_unit_test(test_sniff),
		cmocka_unit_test(test_corrupt_layer),
		cmocka_unit_test(test_bad_archives),
		cmocka_unit_test(test_dest_failures),
		cmocka_unit_test(test_concurrent_puts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

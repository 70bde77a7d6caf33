/* The copy engine over real OCI layouts, and a destination that fails on
 * purpose to show that a failed copy never writes the tag. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hoist/copy.h"
#include "hoist/fs.h"
#include "hoist/layout.h"
#include "hoist/transport.h"

typedef struct fixture {
	char dir[64];
	hoist_ctx *ctx;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/hoist-transport-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	if (hoist_ctx_new(&f->ctx, NULL) < 0)
		return -1;
	char home[128];
	snprintf(home, sizeof(home), "%s/home", f->dir);
	hoist_ctx_set_home(f->ctx, home, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	hoist_fs_rm_rf(AT_FDCWD, f->dir, NULL);
	hoist_ctx_free(f->ctx);
	free(f);
	return 0;
}

static void put_json(hoist_layout *l, const char *json, hoist_digest *d, int64_t *size)
{
	assert_int_equal(hoist_layout_put_blob_mem(l, json, strlen(json), d, NULL), 0);
	*size = (int64_t)strlen(json);
}

/* An image with n_layers small distinct layers; returns its manifest digest. */
static void make_image(hoist_layout *l, const char *arch, int n_layers, int seed,
	hoist_digest *md, int64_t *msize)
{
	char layers[8192] = "";
	size_t off = 0;
	for (int i = 0; i < n_layers; i++) {
		char content[64];
		snprintf(content, sizeof(content), "layer %d of %s seed %d", i, arch, seed);
		hoist_digest d;
		int64_t s;
		put_json(l, content, &d, &s);
		off += (size_t)snprintf(layers + off, sizeof(layers) - off,
			"%s{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
			"\"digest\":\"%s\",\"size\":%lld}", i ? "," : "", d.str, (long long)s);
	}
	char cfg[256];
	snprintf(cfg, sizeof(cfg), "{\"architecture\":\"%s\",\"os\":\"linux\","
		"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"seed\":%d}", arch, seed);
	hoist_digest cd;
	int64_t cs;
	put_json(l, cfg, &cd, &cs);
	char *man = NULL;
	assert_true(asprintf(&man, "{\"schemaVersion\":2,\"mediaType\":"
		"\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":"
		"\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":%lld},"
		"\"layers\":[%s]}", cd.str, (long long)cs, layers) > 0);
	put_json(l, man, md, msize);
	free(man);
}

static void name_it(hoist_layout *l, const char *name, const char *mt,
	const hoist_digest *d, int64_t size)
{
	hoist_descriptor desc = { 0 };
	desc.media_type = (char *)mt;
	desc.digest = *d;
	desc.size = size;
	assert_int_equal(hoist_layout_set_ref(l, name, &desc, NULL), 0);
}

static void make_index(hoist_layout *l, const char *name, hoist_digest *out)
{
	hoist_digest a, b;
	int64_t as, bs;
	make_image(l, "amd64", 3, 1, &a, &as);
	make_image(l, "arm64", 3, 1, &b, &bs);
	char *idx = NULL;
	assert_true(asprintf(&idx, "{\"schemaVersion\":2,\"mediaType\":"
		"\"application/vnd.oci.image.index.v1+json\",\"manifests\":["
		"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\","
		"\"size\":%lld,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
		"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\","
		"\"size\":%lld,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}}]}",
		a.str, (long long)as, b.str, (long long)bs) > 0);
	int64_t is;
	put_json(l, idx, out, &is);
	free(idx);
	name_it(l, name, HOIST_MT_OCI_INDEX, out, is);
}

static void test_copy_index_between_layouts(void **state)
{
	fixture *f = *state;
	char src[128], dst[128], s_name[160], d_name[160];
	snprintf(src, sizeof(src), "%s/src", f->dir);
	snprintf(dst, sizeof(dst), "%s/dst", f->dir);
	hoist_layout *l = NULL;
	assert_int_equal(hoist_layout_open(&l, src, true, NULL), 0);
	hoist_digest idx;
	make_index(l, "multi", &idx);
	hoist_layout_free(l);

	snprintf(s_name, sizeof(s_name), "oci:%s:multi", src);
	snprintf(d_name, sizeof(d_name), "oci:%s:copy", dst);
	hoist_ctx_set_jobs(f->ctx, 4);
	hoist_copy_stats st = { 0 };
	hoist_digest got;
	hoist_error *err = NULL;
	int rc = hoist_copy_by_name(f->ctx, s_name, d_name, NULL, &got, &st, &err);
	if (rc < 0)
		fail_msg("copy: %s", err->msg);
	assert_true(hoist_digest_equal(&got, &idx));
	/* 2 configs + 6 layers; 3 manifests (2 children + index) */
	assert_int_equal(st.blobs_total, 8);
	assert_int_equal(st.blobs_copied, 8);
	assert_int_equal(st.manifests, 3);
	assert_false(st.unchanged);

	hoist_source *s = NULL;
	assert_int_equal(hoist_source_open(f->ctx, d_name, &s, NULL), 0);
	hoist_manifest *m = NULL;
	assert_int_equal(hoist_source_manifest(s, NULL, &m, NULL), 0);
	assert_true(hoist_digest_equal(&m->digest, &idx));
	hoist_manifest_free(m);
	hoist_platform p;
	assert_int_equal(hoist_platform_parse(&p, "linux/arm64", NULL), 0);
	assert_int_equal(hoist_source_manifest(s, &p, &m, NULL), 0);
	assert_int_equal(m->kind, HOIST_MEDIA_MANIFEST);
	assert_int_equal(m->n_layers, 3);
	hoist_manifest_free(m);
	hoist_source_free(s);

	/* again: the destination has it under the tag already */
	memset(&st, 0, sizeof(st));
	assert_int_equal(hoist_copy_by_name(f->ctx, s_name, d_name, NULL, &got, &st, NULL), 0);
	assert_true(st.unchanged);
	assert_int_equal(st.blobs_copied, 0);

	/* to another name in the same layout: every blob is already there */
	snprintf(d_name, sizeof(d_name), "oci:%s:other", dst);
	memset(&st, 0, sizeof(st));
	assert_int_equal(hoist_copy_by_name(f->ctx, s_name, d_name, NULL, &got, &st, NULL), 0);
	assert_int_equal(st.blobs_skipped, 8);
	assert_int_equal(st.blobs_copied, 0);

	/* --platform copies one image, byte-identical to the child */
	snprintf(d_name, sizeof(d_name), "oci:%s:arm", dst);
	hoist_copy_opts o = { &p };
	memset(&st, 0, sizeof(st));
	assert_int_equal(hoist_copy_by_name(f->ctx, s_name, d_name, &o, &got, &st, NULL), 0);
	assert_int_equal(st.blobs_total, 4);
	assert_int_equal(st.manifests, 1);
	assert_int_equal(hoist_source_open(f->ctx, d_name, &s, NULL), 0);
	assert_int_equal(hoist_source_manifest(s, NULL, &m, NULL), 0);
	assert_true(hoist_digest_equal(&m->digest, &got));
	assert_int_equal(m->kind, HOIST_MEDIA_MANIFEST);
	hoist_manifest_free(m);
	hoist_source_free(s);
	hoist_platform_release(&p);
}

/* A destination over a real layout that fails the Nth put_blob. */
typedef struct failing_dest {
	hoist_dest base;
	hoist_dest *inner;
	int fail_at;
	int puts;
	int top_manifests;
	int commits;
} failing_dest;

static int fd_has_blob(hoist_dest *d, const hoist_descriptor *desc, bool *out, hoist_error **err)
{
	failing_dest *f = (failing_dest *)d;
	return f->inner->ops->has_blob(f->inner, desc, out, err);
}

static int fd_put_blob(hoist_dest *d, const hoist_descriptor *desc, hoist_reader *r,
	hoist_error **err)
{
	failing_dest *f = (failing_dest *)d;
	if (__atomic_add_fetch(&f->puts, 1, __ATOMIC_SEQ_CST) == f->fail_at)
		return hoist_error_set(err, HOIST_E_REGISTRY, "injected failure");
	return f->inner->ops->put_blob(f->inner, desc, r, err);
}

static int fd_put_manifest(hoist_dest *d, const hoist_manifest *m, bool top,
	hoist_error **err)
{
	failing_dest *f = (failing_dest *)d;
	if (top)
		f->top_manifests++;
	return f->inner->ops->put_manifest(f->inner, m, top, err);
}

static int fd_commit(hoist_dest *d, hoist_error **err)
{
	failing_dest *f = (failing_dest *)d;
	f->commits++;
	return f->inner->ops->commit(f->inner, err);
}

static const hoist_dest_ops failing_ops = {
	.has_blob = fd_has_blob,
	.put_blob = fd_put_blob,
	.put_manifest = fd_put_manifest,
	.commit = fd_commit,
};

static void test_failed_copy_writes_no_tag(void **state)
{
	fixture *f = *state;
	char src[128], dst[128], s_name[160], d_name[160];
	snprintf(src, sizeof(src), "%s/src2", f->dir);
	snprintf(dst, sizeof(dst), "%s/dst2", f->dir);
	hoist_layout *l = NULL;
	assert_int_equal(hoist_layout_open(&l, src, true, NULL), 0);
	hoist_digest md;
	int64_t ms;
	make_image(l, "amd64", 20, 7, &md, &ms);
	name_it(l, "big", HOIST_MT_OCI_MANIFEST, &md, ms);
	hoist_layout_free(l);
	snprintf(s_name, sizeof(s_name), "oci:%s:big", src);
	snprintf(d_name, sizeof(d_name), "oci:%s:big", dst);

	hoist_source *s = NULL;
	failing_dest fd = { 0 };
	fd.base.ops = &failing_ops;
	fd.fail_at = 13;
	assert_int_equal(hoist_source_open(f->ctx, s_name, &s, NULL), 0);
	assert_int_equal(hoist_dest_open(f->ctx, d_name, &fd.inner, NULL), 0);
	hoist_ctx_set_jobs(f->ctx, 4);
	hoist_error *err = NULL;
	int rc = hoist_copy_image(f->ctx, s, &fd.base, NULL, NULL, NULL, &err);
	assert_int_equal(rc, -HOIST_E_REGISTRY);
	assert_non_null(strstr(err->msg, "injected failure"));
	assert_non_null(strstr(err->msg, "blob sha256:"));
	hoist_error_free(err);
	assert_int_equal(fd.top_manifests, 0);
	assert_int_equal(fd.commits, 0);
	hoist_dest_free(fd.inner);
	hoist_source_free(s);

	assert_int_equal(hoist_layout_open(&l, dst, false, NULL), 0);
	hoist_descriptor d = { 0 };
	err = NULL;
	assert_int_equal(hoist_layout_resolve(l, "big", NULL, &d, &err), -HOIST_E_NOTFOUND);
	hoist_error_free(err);
	hoist_layout_free(l);
}

static void test_imgref_with_tag(void **state)
{
	(void)state;
	const char *cases[][3] = {
		{ "localhost:5000/a/b:1", "v2", "docker://localhost:5000/a/b:v2" },
		{ "busybox@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
			"x", "docker://docker.io/library/busybox:x" },
		{ "oci:/tmp/l:old", "new", "oci:/tmp/l:new" },
		{ "local:app:1", "2", "local:app:2" },
		{ "docker-archive:/tmp/a.tar:app:1", "3", "docker-archive:/tmp/a.tar:app:3" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		hoist_imgref *r = NULL;
		hoist_error *err = NULL;
		if (hoist_imgref_parse(&r, cases[i][0], &err) < 0)
			fail_msg("%s: %s", cases[i][0], err->msg);
		char *s = NULL;
		assert_int_equal(hoist_imgref_with_tag(r, cases[i][1], &s, NULL), 0);
		assert_string_equal(s, cases[i][2]);
		free(s);
		hoist_imgref_free(r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_copy_index_between_layouts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_copy_writes_no_tag, setup, teardown),
		cmocka_unit_test(test_imgref_with_tag),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

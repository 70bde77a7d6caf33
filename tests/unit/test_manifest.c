#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "hoist/buf.h"
#include "hoist/manifest.h"

#define D(c) "sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c \
	c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c
#define DA D("a")
#define DB D("b")
#define DC D("c")
#define DE D("e")

/* Odd spacing and key order on purpose: the raw bytes must survive. */
static const char OCI_MANIFEST[] =
	"{\n   \"schemaVersion\" : 2,\n"
	"   \"mediaType\": \"application/vnd.oci.image.manifest.v1+json\",\n"
	"\t\"layers\": [\n"
	"      {\"size\": 100, \"digest\": \"" DB "\", \"mediaType\": \"application/vnd.oci.image.layer.v1.tar+gzip\"},\n"
	"      {\"mediaType\": \"application/vnd.oci.image.layer.v1.tar+zstd\", \"digest\": \"" DC "\", \"size\": 200}\n"
	"   ],\n"
	"   \"config\": {\"mediaType\": \"application/vnd.oci.image.config.v1+json\", \"digest\": \"" DA "\", \"size\": 7},\n"
	"   \"annotations\": {\"org.opencontainers.image.created\": \"2024-01-01T00:00:00Z\"}\n"
	"}\n";

static const char DOCKER_MANIFEST[] =
	"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
	"\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"size\":1469,\"digest\":\"" DA "\"},"
	"\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\",\"size\":2479,\"digest\":\"" DB "\"}]}";

static const char OCI_INDEX[] =
	"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":["
	"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" DA "\",\"size\":10,"
	"\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
	"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" DB "\",\"size\":20,"
	"\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v6\"}},"
	"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" DC "\",\"size\":30,"
	"\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v7\"}},"
	"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D("d") "\",\"size\":40,"
	"\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"}},"
	"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" DE "\",\"size\":50,"
	"\"annotations\":{\"vnd.docker.reference.type\":\"attestation-manifest\"},"
	"\"platform\":{\"architecture\":\"unknown\",\"os\":\"unknown\"}}"
	"],\"subject\":{\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"digest\":\"" D("f") "\",\"size\":5}}";

static const char DOCKER_LIST[] =
	"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.list.v2+json\",\"manifests\":["
	"{\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\",\"size\":7143,\"digest\":\"" DA "\","
	"\"platform\":{\"architecture\":\"ppc64le\",\"os\":\"linux\"}},"
	"{\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\",\"size\":7682,\"digest\":\"" DB "\","
	"\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\",\"features\":[\"sse4\"]}}]}";

static const char SCHEMA1_SIGNED[] =
	"{\"schemaVersion\":1,\"name\":\"library/hello\",\"tag\":\"latest\",\"architecture\":\"amd64\","
	"\"fsLayers\":[{\"blobSum\":\"" DA "\"}],\"history\":[{\"v1Compatibility\":\"{}\"}],"
	"\"signatures\":[{\"header\":{\"alg\":\"ES256\"},\"signature\":\"abc\",\"protected\":\"def\"}]}";

static hoist_manifest *parse_ok(const char *s, size_t n, const char *hint)
{
	hoist_manifest *m = NULL;
	hoist_error *err = NULL;
	if (hoist_manifest_parse(&m, s, n, hint, &err) < 0)
		fail_msg("parse failed: %s", err->msg);
	assert_null(err);
	/* Whatever parses keeps its bytes and their digest. */
	assert_int_equal(m->raw_len, n);
	assert_memory_equal(m->raw, s, n);
	assert_int_equal(m->raw[n], '\0');
	hoist_digest want;
	assert_int_equal(hoist_digest_of(&want, HOIST_DIGEST_SHA256, s, n, NULL), 0);
	assert_string_equal(m->digest.str, want.str);
	assert_non_null(m->json);
	return m;
}

/* Expects failure with code and a message containing each of want1/want2. */
static void parse_bad(const char *s, size_t n, const char *hint, int code,
	const char *want1, const char *want2)
{
	hoist_manifest *m = NULL;
	hoist_error *err = NULL;
	int r = hoist_manifest_parse(&m, s, n, hint, &err);
	if (r >= 0) {
		hoist_manifest_free(m);
		fail_msg("accepted: %.200s", s);
	}
	assert_null(m);
	assert_non_null(err);
	if (r != -code || err->code != code || (want1 && !strstr(err->msg, want1)) ||
		(want2 && !strstr(err->msg, want2)))
		fail_msg("got %d '%s', want %d with '%s' '%s'", r, err->msg, -code,
			want1 ? want1 : "", want2 ? want2 : "");
	hoist_error_free(err);
}

static void test_oci_manifest(void **state)
{
	(void)state;
	hoist_manifest *m = parse_ok(OCI_MANIFEST, sizeof(OCI_MANIFEST) - 1, NULL);
	assert_int_equal(m->kind, HOIST_MEDIA_MANIFEST);
	assert_string_equal(m->media_type, HOIST_MT_OCI_MANIFEST);
	assert_string_equal(m->config.digest.str, DA);
	assert_string_equal(m->config.media_type, HOIST_MT_OCI_CONFIG);
	assert_int_equal(m->n_layers, 2);
	assert_string_equal(m->layers[0].digest.str, DB);
	assert_true(m->layers[1].size == 200);
	assert_int_equal(hoist_media_layer_compression(m->layers[1].media_type),
		HOIST_COMPRESSION_ZSTD);
	assert_null(m->manifests);
	assert_int_equal(m->n_manifests, 0);
	assert_null(m->subject);
	assert_true(hoist_manifest_size(m) == 307);
	/* The raw bytes are not re-serialised JSON. */
	assert_non_null(strstr(m->raw, "\"schemaVersion\" : 2"));

	const hoist_descriptor *d;
	hoist_platform p = { .os = "linux", .architecture = "amd64" };
	hoist_error *err = NULL;
	assert_int_equal(hoist_manifest_select(m, &p, &d, &err), -HOIST_E_INVALID);
	assert_non_null(strstr(err->msg, "not an index"));
	hoist_error_free(err);
	hoist_manifest_free(m);
}

static void test_docker_manifest(void **state)
{
	(void)state;
	hoist_manifest *m = parse_ok(DOCKER_MANIFEST, strlen(DOCKER_MANIFEST), NULL);
	assert_int_equal(m->kind, HOIST_MEDIA_MANIFEST);
	assert_string_equal(m->media_type, HOIST_MT_DOCKER_MANIFEST);
	assert_true(hoist_media_is_docker(m->config.media_type));
	assert_int_equal(m->n_layers, 1);
	assert_true(hoist_manifest_size(m) == 1469 + 2479);
	hoist_manifest_free(m);

	/* The Content-Type it came with, parameters and case aside, agrees. */
	m = parse_ok(DOCKER_MANIFEST, strlen(DOCKER_MANIFEST),
		"Application/vnd.docker.distribution.manifest.v2+json; charset=utf-8");
	hoist_manifest_free(m);
	/* A generic Content-Type says nothing and is ignored. */
	m = parse_ok(DOCKER_MANIFEST, strlen(DOCKER_MANIFEST), "application/json");
	assert_string_equal(m->media_type, HOIST_MT_DOCKER_MANIFEST);
	hoist_manifest_free(m);
}

static void test_oci_index_and_select(void **state)
{
	(void)state;
	hoist_manifest *m = parse_ok(OCI_INDEX, strlen(OCI_INDEX), HOIST_MT_OCI_INDEX);
	assert_int_equal(m->kind, HOIST_MEDIA_INDEX);
	assert_string_equal(m->media_type, HOIST_MT_OCI_INDEX);
	assert_int_equal(m->n_manifests, 5);
	assert_int_equal(m->n_layers, 0);
	assert_non_null(m->subject);
	assert_string_equal(m->subject->digest.str, D("f"));
	assert_true(hoist_manifest_size(m) == 150);

	static const struct {
		const char *want, *digest;
	} cases[] = {
		{ "linux/amd64", DA },
		{ "linux/x86_64", DA },
		{ "linux/arm/v6", DB },
		{ "linux/arm/v7", DC },
		{ "linux/armhf", DC },
		{ "linux/arm", DB }, /* first match */
		{ "linux/arm64", D("d") },
		{ "linux/aarch64", D("d") },
		{ "linux/arm64/v8", D("d") },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		hoist_platform p;
		const hoist_descriptor *d = NULL;
		assert_int_equal(hoist_platform_parse(&p, cases[i].want, NULL), 0);
		assert_int_equal(hoist_manifest_select(m, &p, &d, NULL), 0);
		if (strcmp(d->digest.str, cases[i].digest))
			fail_msg("'%s' selected %s", cases[i].want, d->digest.str);
		assert_true(d >= m->manifests && d < m->manifests + m->n_manifests);
		hoist_platform_release(&p);
	}

	hoist_platform p;
	hoist_error *err = NULL;
	const hoist_descriptor *d = NULL;
	assert_int_equal(hoist_platform_parse(&p, "linux/s390x", NULL), 0);
	assert_int_equal(hoist_manifest_select(m, &p, &d, &err), -HOIST_E_NOTFOUND);
	assert_null(d);
	assert_non_null(strstr(err->msg, "'linux/s390x'"));
	assert_non_null(strstr(err->msg,
		"linux/amd64, linux/arm/v6, linux/arm/v7, linux/arm64/v8, unknown/unknown"));
	hoist_error_free(err);
	hoist_platform_release(&p);
	hoist_manifest_free(m);
}

static void test_docker_list(void **state)
{
	(void)state;
	hoist_manifest *m = parse_ok(DOCKER_LIST, strlen(DOCKER_LIST), NULL);
	assert_int_equal(m->kind, HOIST_MEDIA_INDEX);
	assert_string_equal(m->media_type, HOIST_MT_DOCKER_LIST);
	assert_int_equal(m->n_manifests, 2);
	assert_string_equal(m->manifests[0].platform->architecture, "ppc64le");
	hoist_platform p = { .os = "linux", .architecture = "amd64" };
	const hoist_descriptor *d;
	assert_int_equal(hoist_manifest_select(m, &p, &d, NULL), 0);
	assert_string_equal(d->digest.str, DB);
	assert_string_equal(d->media_type, HOIST_MT_DOCKER_MANIFEST);
	hoist_manifest_free(m);
}

static void test_kind_by_hint_and_shape(void **state)
{
	(void)state;
	static const char bare_manifest[] =
		"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
		"\"digest\":\"" DA "\",\"size\":2},\"layers\":[]}";
	static const char bare_index[] = "{\"schemaVersion\":2,\"manifests\":[]}";

	hoist_manifest *m = parse_ok(bare_manifest, strlen(bare_manifest), NULL);
	assert_int_equal(m->kind, HOIST_MEDIA_MANIFEST);
	assert_string_equal(m->media_type, HOIST_MT_OCI_MANIFEST);
	assert_int_equal(m->n_layers, 0);
	hoist_manifest_free(m);

	m = parse_ok(bare_manifest, strlen(bare_manifest), HOIST_MT_DOCKER_MANIFEST "; q=1");
	assert_string_equal(m->media_type, HOIST_MT_DOCKER_MANIFEST);
	hoist_manifest_free(m);

	m = parse_ok(bare_index, strlen(bare_index), NULL);
	assert_int_equal(m->kind, HOIST_MEDIA_INDEX);
	assert_string_equal(m->media_type, HOIST_MT_OCI_INDEX);
	assert_int_equal(m->n_manifests, 0);
	hoist_platform p = { .os = "linux", .architecture = "amd64" };
	const hoist_descriptor *d;
	hoist_error *err = NULL;
	assert_int_equal(hoist_manifest_select(m, &p, &d, &err), -HOIST_E_NOTFOUND);
	assert_non_null(strstr(err->msg, "lists no platforms"));
	hoist_error_free(err);
	hoist_manifest_free(m);

	/* The hint decides, and the shape has to fit it. */
	parse_bad(bare_manifest, strlen(bare_manifest), HOIST_MT_OCI_INDEX,
		HOIST_E_INVALID, "missing 'manifests'", NULL);
	parse_bad(bare_index, strlen(bare_index), HOIST_MT_OCI_CONFIG,
		HOIST_E_UNSUPPORTED, "unsupported manifest media type", HOIST_MT_OCI_CONFIG);
	parse_bad("{\"schemaVersion\":2}", 19, NULL, HOIST_E_INVALID,
		"cannot tell the manifest kind", NULL);
}

static void test_mismatched_hint(void **state)
{
	(void)state;
	parse_bad(OCI_MANIFEST, strlen(OCI_MANIFEST), HOIST_MT_DOCKER_MANIFEST,
		HOIST_E_INVALID, "'" HOIST_MT_OCI_MANIFEST "'", "'" HOIST_MT_DOCKER_MANIFEST "'");
	parse_bad(OCI_INDEX, strlen(OCI_INDEX), HOIST_MT_OCI_MANIFEST,
		HOIST_E_INVALID, HOIST_MT_OCI_INDEX, "does not match");
	parse_bad(DOCKER_LIST, strlen(DOCKER_LIST), HOIST_MT_OCI_INDEX, HOIST_E_INVALID,
		HOIST_MT_DOCKER_LIST, HOIST_MT_OCI_INDEX);
}

static void test_schema1(void **state)
{
	(void)state;
	parse_bad(SCHEMA1_SIGNED, strlen(SCHEMA1_SIGNED), NULL, HOIST_E_UNSUPPORTED,
		"schema 1 is not supported", NULL);
	parse_bad(SCHEMA1_SIGNED, strlen(SCHEMA1_SIGNED), HOIST_MT_DOCKER_SCHEMA1_SIGNED,
		HOIST_E_UNSUPPORTED, "schema 1 is not supported", NULL);
	static const char with_type[] =
		"{\"schemaVersion\":1,\"mediaType\":\"" HOIST_MT_DOCKER_SCHEMA1 "\",\"fsLayers\":[]}";
	parse_bad(with_type, strlen(with_type), NULL, HOIST_E_UNSUPPORTED,
		"schema 1 is not supported", NULL);
	/* A schema 1 Content-Type over a schema 2 body is still refused. */
	parse_bad(DOCKER_MANIFEST, strlen(DOCKER_MANIFEST), HOIST_MT_DOCKER_SCHEMA1_SIGNED,
		HOIST_E_UNSUPPORTED, "schema 1", NULL);
}

static void test_schema_version(void **state)
{
	(void)state;
	static const char v3[] = "{\"schemaVersion\":3,\"manifests\":[]}";
	static const char none[] = "{\"mediaType\":\"" HOIST_MT_OCI_INDEX "\",\"manifests\":[]}";
	static const char str[] = "{\"schemaVersion\":\"2\",\"manifests\":[]}";
	parse_bad(v3, strlen(v3), NULL, HOIST_E_UNSUPPORTED, "schemaVersion 3", NULL);
	parse_bad(none, strlen(none), NULL, HOIST_E_INVALID, "missing 'schemaVersion'", NULL);
	parse_bad(str, strlen(str), NULL, HOIST_E_INVALID, "'schemaVersion' must be an integer",
		NULL);
}

static void test_malformed(void **state)
{
	(void)state;
	static const char dup[] =
		"{\"schemaVersion\":2,\"mediaType\":\"" HOIST_MT_OCI_INDEX "\",\"manifests\":[],"
		"\"manifests\":[]}";
	static const char dup_nested[] =
		"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
		"\"digest\":\"" DA "\",\"digest\":\"" DB "\",\"size\":2},\"layers\":[]}";
	static const char bad_layer[] =
		"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
		"\"digest\":\"" DA "\",\"size\":2},\"layers\":["
		"{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"" DB "\",\"size\":1},"
		"{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"" DC "\",\"size\":1},"
		"{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:nothex\",\"size\":1}]}";
	static const char neg_child[] =
		"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" HOIST_MT_OCI_MANIFEST "\","
		"\"digest\":\"" DA "\",\"size\":-3}]}";
	static const char layers_obj[] =
		"{\"schemaVersion\":2,\"mediaType\":\"" HOIST_MT_OCI_MANIFEST "\",\"config\":{\"mediaType\":"
		"\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" DA "\",\"size\":2},\"layers\":{}}";
	static const char no_config[] =
		"{\"schemaVersion\":2,\"mediaType\":\"" HOIST_MT_OCI_MANIFEST "\",\"layers\":[]}";
	static const char bad_subject[] =
		"{\"schemaVersion\":2,\"manifests\":[],\"subject\":{\"mediaType\":\"" HOIST_MT_OCI_MANIFEST
		"\",\"size\":1}}";
	static const char mt_num[] = "{\"schemaVersion\":2,\"mediaType\":1,\"manifests\":[]}";

	parse_bad(dup, strlen(dup), NULL, HOIST_E_INVALID, "duplicate", NULL);
	parse_bad(dup_nested, strlen(dup_nested), NULL, HOIST_E_INVALID, "duplicate", NULL);
	parse_bad(bad_layer, strlen(bad_layer), NULL, HOIST_E_INVALID,
		"layers[2]: invalid digest 'sha256:nothex'", NULL);
	parse_bad(neg_child, strlen(neg_child), NULL, HOIST_E_INVALID, "manifests[0]: ",
		"-3");
	parse_bad(layers_obj, strlen(layers_obj), NULL, HOIST_E_INVALID,
		"'layers' must be an array", NULL);
	parse_bad(no_config, strlen(no_config), NULL, HOIST_E_INVALID, "missing 'config'", NULL);
	parse_bad(bad_subject, strlen(bad_subject), NULL, HOIST_E_INVALID,
		"subject: missing 'digest'", NULL);
	parse_bad(mt_num, strlen(mt_num), NULL, HOIST_E_INVALID, "'mediaType' must be a string",
		NULL);
	parse_bad("[]", 2, NULL, HOIST_E_INVALID, "must be a JSON object", NULL);
	parse_bad("{\"schemaVersion\":2,", 19, NULL, HOIST_E_INVALID, "invalid manifest JSON", NULL);
	parse_bad(OCI_INDEX, strlen(OCI_INDEX) - 1, NULL, HOIST_E_INVALID, "invalid manifest JSON",
		NULL);
	parse_bad("", 0, NULL, HOIST_E_INVALID, "empty", NULL);
	/* An embedded NUL is not JSON, and not silently cut at. */
	static const char nul[] = "{\"schemaVersion\":2,\"manifests\":[]}\0garbage";
	parse_bad(nul, sizeof(nul) - 1, NULL, HOIST_E_INVALID, "invalid manifest JSON", NULL);
}

static void test_limits(void **state)
{
	(void)state;
	/* Exactly the limit parses (whitespace padding); one more byte does not. */
	static const char body[] = "{\"schemaVersion\":2,\"manifests\":[]}";
	size_t n = HOIST_MANIFEST_MAX;
	char *big = malloc(n + 1);
	assert_non_null(big);
	memset(big, ' ', n + 1);
	memcpy(big, body, strlen(body));
	hoist_manifest *m = parse_ok(big, n, NULL);
	hoist_manifest_free(m);
	parse_bad(big, n + 1, NULL, HOIST_E_LIMIT, "over the limit", NULL);
	free(big);

	/* 4096 layers are fine, 4097 are not; the same for an index. */
	for (int extra = 0; extra <= 1; extra++) {
		for (int index = 0; index <= 1; index++) {
			hoist_buf b = HOIST_BUF_INIT(HOIST_MANIFEST_MAX);
			assert_int_equal(hoist_buf_appends(&b, index
				? "{\"schemaVersion\":2,\"manifests\":["
				: "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" HOIST_MT_OCI_CONFIG
				  "\",\"digest\":\"" DA "\",\"size\":1},\"layers\":[", NULL), 0);
			int count = HOIST_MANIFEST_MAX_ENTRIES + extra;
			for (int i = 0; i < count; i++)
				assert_int_equal(hoist_buf_appendf(&b, NULL,
					"%s{\"mediaType\":\"%s\",\"digest\":\"" DB "\",\"size\":%d}",
					i ? "," : "", index ? HOIST_MT_OCI_MANIFEST : HOIST_MT_OCI_LAYER, i), 0);
			assert_int_equal(hoist_buf_appends(&b, "]}", NULL), 0);
			if (extra) {
				parse_bad(b.data, b.len, NULL, HOIST_E_LIMIT,
					index ? "'manifests' has 4097 entries" : "'layers' has 4097 entries",
					NULL);
			} else {
				m = parse_ok(b.data, b.len, NULL);
				assert_int_equal(index ? m->n_manifests : m->n_layers, 4096);
				hoist_manifest_free(m);
			}
			hoist_buf_release(&b);
		}
	}
}

static void test_select_error_lists_unique_platforms(void **state)
{
	(void)state;
	hoist_buf b = HOIST_BUF_INIT(HOIST_MANIFEST_MAX);
	assert_int_equal(hoist_buf_appends(&b, "{\"schemaVersion\":2,\"manifests\":[", NULL), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(hoist_buf_appendf(&b, NULL,
			"%s{\"mediaType\":\"%s\",\"digest\":\"" DB "\",\"size\":1,"
			"\"platform\":{\"os\":\"linux\",\"architecture\":\"arch%d\"}}",
			i ? "," : "", HOIST_MT_OCI_MANIFEST, i % 50), 0);
	assert_int_equal(hoist_buf_appends(&b, "]}", NULL), 0);
	hoist_manifest *m = parse_ok(b.data, b.len, NULL);
	hoist_platform p = { .os = "plan9", .architecture = "amd64" };
	const hoist_descriptor *d;
	hoist_error *err = NULL;
	assert_int_equal(hoist_manifest_select(m, &p, &d, &err), -HOIST_E_NOTFOUND);
	assert_non_null(strstr(err->msg, "linux/arch0, linux/arch1,"));
	assert_null(strstr(err->msg, "linux/arch0, linux/arch0"));
	assert_non_null(strstr(err->msg, "more"));
	assert_true(strlen(err->msg) < 1024);
	hoist_error_free(err);
	hoist_manifest_free(m);
	hoist_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_oci_manifest),
		cmocka_unit_test(test_docker_manifest),
		cmocka_unit_test(test_oci_index_and_select),
		cmocka_unit_test(test_docker_list),
		cmocka_unit_test(test_kind_by_hint_and_shape),
		cmocka_unit_test(test_mismatched_hint),
		cmocka_unit_test(test_schema1),
		cmocka_unit_test(test_schema_version),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_select_error_lists_unique_platforms),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

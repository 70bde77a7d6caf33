#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "hoist/media.h"

#define D1 "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b"
#define D2 "sha256:2aa759acfcbce7e1e3a26d87b7d41f7d0efc35fef5af5332434fe4cb4029d6ce"

static void test_kind_of_every_type(void **state)
{
	(void)state;
	static const struct {
		const char *mt;
		hoist_media_kind kind;
		bool docker;
		hoist_compression comp;
	} cases[] = {
		{ HOIST_MT_OCI_MANIFEST, HOIST_MEDIA_MANIFEST, false, HOIST_COMPRESSION_UNKNOWN },
		{ HOIST_MT_OCI_INDEX, HOIST_MEDIA_INDEX, false, HOIST_COMPRESSION_UNKNOWN },
		{ HOIST_MT_OCI_CONFIG, HOIST_MEDIA_CONFIG, false, HOIST_COMPRESSION_UNKNOWN },
		{ HOIST_MT_OCI_LAYER, HOIST_MEDIA_LAYER, false, HOIST_COMPRESSION_NONE },
		{ HOIST_MT_OCI_LAYER_GZIP, HOIST_MEDIA_LAYER, false, HOIST_COMPRESSION_GZIP },
		{ HOIST_MT_OCI_LAYER_ZSTD, HOIST_MEDIA_LAYER, false, HOIST_COMPRESSION_ZSTD },
		{ HOIST_MT_OCI_EMPTY, HOIST_MEDIA_CONFIG, false, HOIST_COMPRESSION_UNKNOWN },
		{ HOIST_MT_DOCKER_MANIFEST, HOIST_MEDIA_MANIFEST, true, HOIST_COMPRESSION_UNKNOWN },
		{ HOIST_MT_DOCKER_LIST, HOIST_MEDIA_INDEX, true, HOIST_COMPRESSION_UNKNOWN },
		{ HOIST_MT_DOCKER_CONFIG, HOIST_MEDIA_CONFIG, true, HOIST_COMPRESSION_UNKNOWN },
		{ HOIST_MT_DOCKER_LAYER, HOIST_MEDIA_LAYER, true, HOIST_COMPRESSION_NONE },
		{ HOIST_MT_DOCKER_LAYER_GZIP, HOIST_MEDIA_LAYER, true, HOIST_COMPRESSION_GZIP },
		{ HOIST_MT_DOCKER_FOREIGN, HOIST_MEDIA_LAYER, true, HOIST_COMPRESSION_GZIP },
		{ HOIST_MT_DOCKER_SCHEMA1, HOIST_MEDIA_SCHEMA1, true, HOIST_COMPRESSION_UNKNOWN },
		{ HOIST_MT_DOCKER_SCHEMA1_SIGNED, HOIST_MEDIA_SCHEMA1, true, HOIST_COMPRESSION_UNKNOWN },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
			HOIST_MEDIA_LAYER, false, HOIST_COMPRESSION_GZIP },
		{ "application/json", HOIST_MEDIA_UNKNOWN, false, HOIST_COMPRESSION_UNKNOWN },
		{ "application/vnd.example.chart.v1.tar+gzip", HOIST_MEDIA_UNKNOWN, false,
			HOIST_COMPRESSION_GZIP },
		{ "", HOIST_MEDIA_UNKNOWN, false, HOIST_COMPRESSION_UNKNOWN },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *mt = cases[i].mt;
		if (hoist_media_kind_of(mt) != cases[i].kind ||
			hoist_media_is_docker(mt) != cases[i].docker ||
			hoist_media_layer_compression(mt) != cases[i].comp)
			fail_msg("wrong classification of '%s'", mt);
	}
	assert_int_equal(hoist_media_kind_of(NULL), HOIST_MEDIA_UNKNOWN);
	assert_false(hoist_media_is_docker(NULL));
	assert_int_equal(hoist_media_layer_compression(NULL), HOIST_COMPRESSION_UNKNOWN);
}

static void test_kind_of_parameters_and_case(void **state)
{
	(void)state;
	assert_int_equal(hoist_media_kind_of(HOIST_MT_OCI_MANIFEST "; charset=utf-8"),
		HOIST_MEDIA_MANIFEST);
	assert_int_equal(hoist_media_kind_of(HOIST_MT_DOCKER_LIST " ;q=0.5"),
		HOIST_MEDIA_INDEX);
	assert_int_equal(hoist_media_kind_of("Application/VND.OCI.Image.Index.v1+JSON"),
		HOIST_MEDIA_INDEX);
	assert_int_equal(hoist_media_layer_compression(HOIST_MT_OCI_LAYER_ZSTD ";x=y"),
		HOIST_COMPRESSION_ZSTD);
	/* A prefix or an extension of a known type is not that type. */
	assert_int_equal(hoist_media_kind_of("application/vnd.oci.image.manifest.v1"),
		HOIST_MEDIA_UNKNOWN);
	assert_int_equal(hoist_media_kind_of(HOIST_MT_OCI_MANIFEST "x"), HOIST_MEDIA_UNKNOWN);
	assert_true(hoist_media_is_docker("APPLICATION/VND.DOCKER.whatever"));
	assert_false(hoist_media_is_docker("application/vnd.dockerx"));
}

static json_t *load(const char *s)
{
	json_error_t je;
	json_t *j = json_loads(s, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		fail_msg("bad test JSON: %s: %s", je.text, s);
	return j;
}

static const char *FULL =
	"{\"mediaType\":\"" HOIST_MT_OCI_MANIFEST "\",\"digest\":\"" D1 "\","
	"\"size\":9223372036854775807,\"urls\":[\"https://example.com/a\"],"
	"\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1.0\",\"x\":\"y\"},"
	"\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\","
	"\"os.version\":\"5.10\",\"os.features\":[\"f\"]},"
	"\"artifactType\":\"application/vnd.example+type\",\"data\":\"e30=\"}";

static void test_descriptor_full_roundtrip(void **state)
{
	(void)state;
	json_t *j = load(FULL);
	hoist_descriptor d;
	hoist_error *err = NULL;
	assert_int_equal(hoist_descriptor_parse(&d, j, "manifests[0]", &err), 0);
	assert_null(err);
	assert_string_equal(d.media_type, HOIST_MT_OCI_MANIFEST);
	assert_string_equal(d.digest.str, D1);
	assert_true(d.size == INT64_MAX);
	assert_non_null(d.platform);
	assert_string_equal(d.platform->os, "linux");
	assert_string_equal(d.platform->architecture, "arm64");
	assert_string_equal(d.platform->variant, "v8");
	assert_string_equal(d.platform->os_version, "5.10");
	assert_string_equal(d.artifact_type, "application/vnd.example+type");
	assert_string_equal(hoist_descriptor_ref_name(&d), "v1.0");
	assert_int_equal(json_array_size(d.urls), 1);

	json_t *out = hoist_descriptor_to_json(&d);
	assert_non_null(out);
	assert_string_equal(json_string_value(json_object_get(out, "mediaType")),
		HOIST_MT_OCI_MANIFEST);
	assert_true(json_equal(json_object_get(out, "annotations"),
		json_object_get(j, "annotations")));
	assert_true(json_equal(json_object_get(out, "urls"), json_object_get(j, "urls")));
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(out, "platform"), "os.version")),
		"5.10");

	hoist_descriptor again;
	assert_int_equal(hoist_descriptor_parse(&again, out, NULL, NULL), 0);
	assert_true(hoist_digest_equal(&again.digest, &d.digest));
	assert_true(again.size == d.size);
	assert_string_equal(again.platform->variant, "v8");
	assert_string_equal(again.artifact_type, d.artifact_type);

	/* A copy is independent of the original. */
	hoist_descriptor cp;
	assert_int_equal(hoist_descriptor_copy(&cp, &d, NULL), 0);
	json_object_set_new(d.annotations, "x", json_string("changed"));
	assert_string_equal(json_string_value(json_object_get(cp.annotations, "x")), "y");
	assert_string_equal(hoist_descriptor_ref_name(&cp), "v1.0");
	assert_string_equal(cp.platform->architecture, "arm64");
	assert_true(cp.platform != d.platform);

	hoist_descriptor_release(&cp);
	hoist_descriptor_release(&again);
	hoist_descriptor_release(&d);
	assert_null(d.media_type);
	json_decref(out);
	json_decref(j);
}

static void test_descriptor_minimal(void **state)
{
	(void)state;
	json_t *j = load("{\"mediaType\":\"" HOIST_MT_OCI_CONFIG "\",\"digest\":\"" D2
			 "\",\"size\":0}");
	hoist_descriptor d;
	assert_int_equal(hoist_descriptor_parse(&d, j, "config", NULL), 0);
	assert_null(d.platform);
	assert_null(d.annotations);
	assert_null(d.urls);
	assert_null(d.artifact_type);
	assert_null(hoist_descriptor_ref_name(&d));
	assert_true(d.size == 0);
	json_t *out = hoist_descriptor_to_json(&d);
	assert_true(json_equal(out, j));
	json_decref(out);
	hoist_descriptor_release(&d);
	json_decref(j);
}

/* Parses s as a descriptor named "layers[2]"; expects failure with code and
 * a message containing want. */
static void expect_bad(const char *s, int code, const char *want)
{
	json_t *j = load(s);
	hoist_descriptor d;
	memset(&d, 0xAB, sizeof(d));
	hoist_error *err = NULL;
	int r = hoist_descriptor_parse(&d, j, "layers[2]", &err);
	if (r != -code || !err || !strstr(err->msg, want))
		fail_msg("'%s': got %d '%s', want %d '%s'", s, r, err ? err->msg : "",
			-code, want);
	assert_int_equal(err->code, code);
	assert_true(strncmp(err->msg, "layers[2]: ", 11) == 0);
	hoist_error_free(err);
	json_decref(j);
}

#define MT "\"mediaType\":\"" HOIST_MT_OCI_LAYER "\""
#define DG "\"digest\":\"" D1 "\""

static void test_descriptor_errors(void **state)
{
	(void)state;
	expect_bad("{" DG ",\"size\":1}", HOIST_E_INVALID, "missing 'mediaType'");
	expect_bad("{\"mediaType\":7," DG ",\"size\":1}", HOIST_E_INVALID,
		"'mediaType' must be a string");
	expect_bad("{\"mediaType\":\"nonsense\"," DG ",\"size\":1}", HOIST_E_INVALID,
		"invalid media type 'nonsense'");
	expect_bad("{" MT ",\"size\":1}", HOIST_E_INVALID, "missing 'digest'");
	expect_bad("{" MT ",\"digest\":42,\"size\":1}", HOIST_E_INVALID,
		"'digest' must be a string");
	expect_bad("{" MT ",\"digest\":\"sha256:abc\",\"size\":1}", HOIST_E_INVALID,
		"layers[2]: invalid digest 'sha256:abc'");
	expect_bad("{" MT ",\"digest\":\"sha256:" "6C3C624B58DBBCD3C0DD82B4C53F04194D1247C6EEBDAAB7C610CF7D66709B3B"
		   "\",\"size\":1}",
		HOIST_E_INVALID, "invalid digest");
	expect_bad("{" MT ",\"digest\":\"md5:d41d8cd98f00b204e9800998ecf8427e\",\"size\":1}",
		HOIST_E_UNSUPPORTED, "md5");
	expect_bad("{" MT "," DG "}", HOIST_E_INVALID, "missing 'size'");
	expect_bad("{" MT "," DG ",\"size\":-1}", HOIST_E_INVALID, "invalid size -1");
	expect_bad("{" MT "," DG ",\"size\":1.0}", HOIST_E_INVALID, "'size' must be an integer");
	expect_bad("{" MT "," DG ",\"size\":\"12\"}", HOIST_E_INVALID, "'size' must be an integer");
	expect_bad("{" MT "," DG ",\"size\":null}", HOIST_E_INVALID, "'size' must be an integer");
	expect_bad("{" MT "," DG ",\"size\":1,\"urls\":\"http://x\"}", HOIST_E_INVALID, "'urls'");
	expect_bad("{" MT "," DG ",\"size\":1,\"urls\":[1]}", HOIST_E_INVALID, "urls[0]");
	expect_bad("{" MT "," DG ",\"size\":1,\"annotations\":[]}", HOIST_E_INVALID,
		"'annotations' must be an object");
	expect_bad("{" MT "," DG ",\"size\":1,\"annotations\":{\"k\":1}}", HOIST_E_INVALID,
		"annotation 'k' must be a string");
	expect_bad("{" MT "," DG ",\"size\":1,\"platform\":{\"architecture\":\"amd64\"}}",
		HOIST_E_INVALID, "missing 'os'");
	expect_bad("{" MT "," DG ",\"size\":1,\"platform\":{\"os\":\"linux\"}}",
		HOIST_E_INVALID, "missing 'architecture'");
	expect_bad("{" MT "," DG ",\"size\":1,\"platform\":{\"os\":\"linux\","
		   "\"architecture\":\"amd64\",\"variant\":3}}",
		HOIST_E_INVALID, "'variant' must be a string");
	expect_bad("{" MT "," DG ",\"size\":1,\"platform\":\"linux/amd64\"}",
		HOIST_E_INVALID, "'platform' must be an object");
	expect_bad("{" MT "," DG ",\"size\":1,\"artifactType\":false}", HOIST_E_INVALID,
		"'artifactType' must be a string");
	expect_bad("[]", HOIST_E_INVALID, "must be a JSON object");

	/* Sizes beyond int64 never reach the descriptor: the JSON is refused. */
	json_error_t je;
	assert_null(json_loads("{\"size\":9223372036854775808}", 0, &je));
}

typedef struct {
	const char *in, *os, *arch, *variant, *str;
} norm_case;

static void test_platform_parse_normalises(void **state)
{
	(void)state;
	static const norm_case cases[] = {
		{ "linux/amd64", "linux", "amd64", NULL, "linux/amd64" },
		{ "linux/x86_64", "linux", "amd64", NULL, "linux/amd64" },
		{ "linux/x86-64", "linux", "amd64", NULL, "linux/amd64" },
		{ "Linux/AMD64", "linux", "amd64", NULL, "linux/amd64" },
		{ "linux/aarch64", "linux", "arm64", NULL, "linux/arm64" },
		{ "linux/arm64/v8", "linux", "arm64", "v8", "linux/arm64/v8" },
		{ "linux/arm64/8", "linux", "arm64", "v8", "linux/arm64/v8" },
		{ "linux/armhf", "linux", "arm", "v7", "linux/arm/v7" },
		{ "linux/armv7l", "linux", "arm", "v7", "linux/arm/v7" },
		{ "linux/armel", "linux", "arm", "v6", "linux/arm/v6" },
		{ "linux/arm/7", "linux", "arm", "v7", "linux/arm/v7" },
		{ "linux/arm", "linux", "arm", NULL, "linux/arm" },
		{ "linux/i386", "linux", "386", NULL, "linux/386" },
		{ "linux/i686", "linux", "386", NULL, "linux/386" },
		{ "windows/amd64", "windows", "amd64", NULL, "windows/amd64" },
		{ "linux/riscv64", "linux", "riscv64", NULL, "linux/riscv64" },
		{ "linux/ppc64le", "linux", "ppc64le", NULL, "linux/ppc64le" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		hoist_platform p;
		hoist_error *err = NULL;
		if (hoist_platform_parse(&p, cases[i].in, &err) < 0)
			fail_msg("'%s': %s", cases[i].in, err->msg);
		assert_string_equal(p.os, cases[i].os);
		assert_string_equal(p.architecture, cases[i].arch);
		if (cases[i].variant)
			assert_string_equal(p.variant, cases[i].variant);
		else
			assert_null(p.variant);
		assert_null(p.os_version);
		char *s = hoist_platform_string(&p);
		assert_string_equal(s, cases[i].str);
		free(s);
		hoist_platform_release(&p);
	}
}

static void test_platform_parse_errors(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "linux", "linux/", "/amd64", "linux//v7", "linux/amd64/",
		"linux/arm/v7/x", "linux/amd 64", "linux/amd64;rm", "lin\nux/amd64",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		hoist_platform p = { 0 };
		hoist_error *err = NULL;
		if (hoist_platform_parse(&p, bad[i], &err) != -HOIST_E_INVALID)
			fail_msg("'%s' accepted", bad[i]);
		assert_non_null(strstr(err->msg, "invalid platform '"));
		hoist_error_free(err);
	}
	char longp[400];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	longp[5] = '/';
	hoist_platform p;
	assert_int_equal(hoist_platform_parse(&p, longp, NULL), -HOIST_E_INVALID);
	assert_int_equal(hoist_platform_parse(&p, NULL, NULL), -HOIST_E_INVALID);
}

static bool match(const char *want, const char *have)
{
	hoist_platform w, h;
	assert_int_equal(hoist_platform_parse(&w, want, NULL), 0);
	assert_int_equal(hoist_platform_parse(&h, have, NULL), 0);
	bool m = hoist_platform_match(&w, &h);
	hoist_platform_release(&w);
	hoist_platform_release(&h);
	return m;
}

static void test_platform_match(void **state)
{
	(void)state;
	assert_true(match("linux/amd64", "linux/amd64"));
	assert_true(match("linux/arm64", "linux/arm64/v8"));
	assert_true(match("linux/arm64/v8", "linux/arm64"));
	assert_true(match("linux/arm64/v8", "linux/arm64/v8"));
	assert_true(match("linux/arm/v7", "linux/arm/v7"));
	assert_false(match("linux/arm/v7", "linux/arm/v6"));
	assert_false(match("linux/arm/v6", "linux/arm/v7"));
	assert_false(match("linux/arm/v7", "linux/arm"));
	assert_true(match("linux/arm", "linux/arm/v6"));
	assert_false(match("linux/arm64", "linux/arm/v8"));
	assert_false(match("linux/amd64", "windows/amd64"));
	assert_false(match("linux/amd64", "linux/386"));
	assert_true(match("linux/armhf", "linux/arm/v7"));

	/* Descriptors carry what the image says, aliases included. */
	hoist_platform want, have = { .os = "Linux", .architecture = "x86_64" };
	assert_int_equal(hoist_platform_parse(&want, "linux/amd64", NULL), 0);
	assert_true(hoist_platform_match(&want, &have));
	hoist_platform arm64 = { .os = "linux", .architecture = "aarch64" };
	hoist_platform arm64v8 = { .os = "linux", .architecture = "arm64", .variant = "v8" };
	assert_true(hoist_platform_match(&arm64v8, &arm64));
	assert_true(hoist_platform_match(&arm64, &arm64v8));
	hoist_platform win = { .os = "windows", .architecture = "amd64",
		.os_version = "10.0.17763.5329" };
	hoist_platform win2 = { .os = "windows", .architecture = "amd64",
		.os_version = "10.0.20348.2227" };
	assert_false(hoist_platform_match(&win, &win2));
	assert_true(hoist_platform_match(&win, &win));
	assert_false(hoist_platform_match(NULL, &have));
	hoist_platform_release(&want);
}

static void test_platform_copy_and_host(void **state)
{
	(void)state;
	hoist_platform src = { .os = "windows", .architecture = "amd64",
		.os_version = "10.0.17763" };
	hoist_platform dst;
	assert_int_equal(hoist_platform_copy(&dst, &src, NULL), 0);
	assert_true(dst.os != src.os);
	assert_string_equal(dst.os, "windows");
	assert_string_equal(dst.os_version, "10.0.17763");
	assert_null(dst.variant);
	hoist_platform_release(&dst);
	assert_null(dst.os);

	hoist_platform host;
	assert_int_equal(hoist_platform_host(&host, NULL), 0);
	struct utsname u;
	assert_int_equal(uname(&u), 0);
	assert_string_equal(host.os, "linux");
	if (!strcmp(u.machine, "x86_64"))
		assert_string_equal(host.architecture, "amd64");
	else if (!strcmp(u.machine, "aarch64"))
		assert_string_equal(host.architecture, "arm64");
	assert_true(hoist_platform_match(&host, &host));
	char *s = hoist_platform_string(&host);
	hoist_platform back;
	assert_int_equal(hoist_platform_parse(&back, s, NULL), 0);
	assert_true(hoist_platform_match(&back, &host));
	hoist_platform_release(&back);
	free(s);
	hoist_platform_release(&host);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kind_of_every_type),
		cmocka_unit_test(test_kind_of_parameters_and_case),
		cmocka_unit_test(test_descriptor_full_roundtrip),
		cmocka_unit_test(test_descriptor_minimal),
		cmocka_unit_test(test_descriptor_errors),
		cmocka_unit_test(test_platform_parse_normalises),
		cmocka_unit_test(test_platform_parse_errors),
		cmocka_unit_test(test_platform_match),
		cmocka_unit_test(test_platform_copy_and_host),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

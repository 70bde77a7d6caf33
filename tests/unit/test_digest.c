#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "hoist/digest.h"

static const char *EMPTY256 =
	"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

static void test_known_vectors(void **state)
{
	(void)state;
	hoist_digest d;
	assert_int_equal(hoist_digest_of(&d, HOIST_DIGEST_SHA256, "", 0, NULL), 0);
	assert_string_equal(d.str, EMPTY256);
	assert_int_equal(hoist_digest_of(&d, HOIST_DIGEST_SHA256, "abc", 3, NULL), 0);
	assert_string_equal(d.str,
		"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(hoist_digest_of(&d, HOIST_DIGEST_SHA512, "abc", 3, NULL), 0);
	assert_string_equal(d.str,
		"sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
		"2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
	assert_int_equal(d.algo, HOIST_DIGEST_SHA512);
	assert_string_equal(hoist_digest_hex(&d), d.str + 7);
}

static void test_streaming_equals_oneshot(void **state)
{
	(void)state;
	char buf[100000];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 7 + 3);
	hoist_digest one, two;
	assert_int_equal(hoist_digest_of(&one, HOIST_DIGEST_SHA256, buf, sizeof(buf), NULL), 0);
	hoist_hasher *h = NULL;
	assert_int_equal(hoist_hasher_new(&h, HOIST_DIGEST_SHA256, NULL), 0);
	for (size_t off = 0; off < sizeof(buf); off += 777) {
		size_t n = sizeof(buf) - off < 777 ? sizeof(buf) - off : 777;
		hoist_hasher_update(h, buf + off, n);
	}
	hoist_hasher_final(h, &two);
	assert_true(hoist_digest_equal(&one, &two));
	/* final resets: the next digest is of new input only */
	hoist_hasher_final(h, &two);
	assert_string_equal(two.str, EMPTY256);
	hoist_hasher_free(h);
}

static void test_parse_valid(void **state)
{
	(void)state;
	hoist_digest d;
	assert_int_equal(hoist_digest_parse(&d, EMPTY256, NULL), 0);
	assert_string_equal(d.str, EMPTY256);
	assert_int_equal(d.algo, HOIST_DIGEST_SHA256);
	char s512[7 + 128 + 1] = "sha512:";
	memset(s512 + 7, 'a', 128);
	s512[135] = '\0';
	assert_true(hoist_digest_valid(s512));
}

static void expect_invalid(const char *s, int code, const char *needle)
{
	hoist_error *err = NULL;
	hoist_digest d;
	int rc = hoist_digest_parse(&d, s, &err);
	assert_int_equal(rc, -code);
	assert_non_null(err);
	if (needle && !strstr(err->msg, needle))
		fail_msg("message '%s' lacks '%s'", err->msg, needle);
	hoist_error_free(err);
}

static void test_parse_invalid(void **state)
{
	(void)state;
	expect_invalid("", HOIST_E_INVALID, "invalid digest");
	expect_invalid("sha256", HOIST_E_INVALID, "ALGORITHM:HEX");
	expect_invalid("sha256:", HOIST_E_INVALID, NULL);
	expect_invalid(":abc", HOIST_E_INVALID, NULL);
	expect_invalid("sha256:abc", HOIST_E_INVALID, "64 hex");
	expect_invalid("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
		HOIST_E_INVALID, "lowercase");
	expect_invalid("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
		HOIST_E_INVALID, "got 63");
	expect_invalid("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855a",
		HOIST_E_INVALID, NULL);
	expect_invalid("sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		HOIST_E_INVALID, NULL);
	expect_invalid("SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		HOIST_E_INVALID, NULL);
	expect_invalid("sha256+:abc", HOIST_E_INVALID, NULL);
	expect_invalid("sha 256:abc", HOIST_E_INVALID, NULL);
	expect_invalid("md5:d41d8cd98f00b204e9800998ecf8427e", HOIST_E_UNSUPPORTED, "md5");
	expect_invalid("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8",
		HOIST_E_UNSUPPORTED, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_vectors),
		cmocka_unit_test(test_streaming_equals_oneshot),
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_invalid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Transport-qualified image names: docker://, bare, oci:, docker-archive:,
 * local:, and the errors for each. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hoist/imgref.h"

#define F64 "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
#define DG "sha256:" F64

struct valid_case {
	const char *input;
	hoist_transport_kind kind;
	const char *ref;    /* hoist_ref_string of ->ref, NULL when no ref */
	const char *path;
	const char *tag;
	const char *digest;
	const char *display; /* hoist_imgref_string */
	const char *local;   /* hoist_imgref_local_name, NULL when none */
};

static const struct valid_case valid_cases[] = {
	{ "busybox", HOIST_TRANSPORT_REGISTRY, "docker.io/library/busybox", NULL,
		NULL, NULL, "docker.io/library/busybox", "busybox:latest" },
	{ "docker://busybox:1.36", HOIST_TRANSPORT_REGISTRY,
		"docker.io/library/busybox:1.36", NULL, NULL, NULL,
		"docker.io/library/busybox:1.36", "busybox:1.36" },
	{ "docker://localhost:5000/app@" DG, HOIST_TRANSPORT_REGISTRY,
		"localhost:5000/app@" DG, NULL, NULL, NULL, "localhost:5000/app@" DG,
		"localhost:5000/app@" DG },
	{ "localhost:5000/app:1", HOIST_TRANSPORT_REGISTRY,
		"localhost:5000/app:1", NULL, NULL, NULL, "localhost:5000/app:1",
		"localhost:5000/app:1" },
	{ "[::1]:5000/a/b:c", HOIST_TRANSPORT_REGISTRY, "[::1]:5000/a/b:c", NULL,
		NULL, NULL, "[::1]:5000/a/b:c", "[::1]:5000/a/b:c" },
	/* Real images whose names look like transports. */
	{ "docker:dind", HOIST_TRANSPORT_REGISTRY, "docker.io/library/docker:dind",
		NULL, NULL, NULL, "docker.io/library/docker:dind", "docker:dind" },
	{ "ocis:1", HOIST_TRANSPORT_REGISTRY, "docker.io/library/ocis:1", NULL,
		NULL, NULL, "docker.io/library/ocis:1", "ocis:1" },
	/* A registry host named like a transport keeps its docker:// prefix. */
	{ "docker://oci:5000/x", HOIST_TRANSPORT_REGISTRY, "oci:5000/x", NULL,
		NULL, NULL, "docker://oci:5000/x", "oci:5000/x:latest" },
	{ "docker://local:5000/x:2", HOIST_TRANSPORT_REGISTRY, "local:5000/x:2",
		NULL, NULL, NULL, "docker://local:5000/x:2", "local:5000/x:2" },
	{ "oci:/tmp/x", HOIST_TRANSPORT_OCI, NULL, "/tmp/x", NULL, NULL,
		"oci:/tmp/x", NULL },
	{ "oci:/tmp/x:v1", HOIST_TRANSPORT_OCI, NULL, "/tmp/x", "v1", NULL,
		"oci:/tmp/x:v1", NULL },
	{ "oci:rel/dir:localhost:5000/foo:1", HOIST_TRANSPORT_OCI, NULL, "rel/dir",
		"localhost:5000/foo:1", NULL, "oci:rel/dir:localhost:5000/foo:1",
		NULL },
	{ "oci:/tmp/x@" DG, HOIST_TRANSPORT_OCI, NULL, "/tmp/x", NULL, DG,
		"oci:/tmp/x@" DG, NULL },
	{ "oci:/tmp/a@b:c", HOIST_TRANSPORT_OCI, NULL, "/tmp/a@b", "c", NULL,
		"oci:/tmp/a@b:c", NULL },
	{ "oci:/tmp/a@b", HOIST_TRANSPORT_OCI, NULL, "/tmp/a@b", NULL, NULL,
		"oci:/tmp/a@b", NULL },
	{ "oci:x:UPPER_and.more-chars@+", HOIST_TRANSPORT_OCI, NULL, "x",
		"UPPER_and.more-chars@+", NULL, "oci:x:UPPER_and.more-chars@+", NULL },
	{ "docker-archive:/tmp/a.tar", HOIST_TRANSPORT_ARCHIVE, NULL, "/tmp/a.tar",
		NULL, NULL, "docker-archive:/tmp/a.tar", NULL },
	{ "docker-archive:/tmp/a.tar:busybox", HOIST_TRANSPORT_ARCHIVE, NULL,
		"/tmp/a.tar", "busybox:latest", NULL,
		"docker-archive:/tmp/a.tar:busybox:latest", NULL },
	{ "docker-archive:a.tar:localhost:5000/x:1", HOIST_TRANSPORT_ARCHIVE, NULL,
		"a.tar", "localhost:5000/x:1", NULL,
		"docker-archive:a.tar:localhost:5000/x:1", NULL },
	{ "docker-archive:a.tar:docker.io/library/busybox:1.36",
		HOIST_TRANSPORT_ARCHIVE, NULL, "a.tar", "busybox:1.36", NULL,
		"docker-archive:a.tar:busybox:1.36", NULL },
	{ "docker-archive:out/a.tar:user/app:v2", HOIST_TRANSPORT_ARCHIVE, NULL,
		"out/a.tar", "user/app:v2", NULL,
		"docker-archive:out/a.tar:user/app:v2", NULL },
	{ "local:myapp", HOIST_TRANSPORT_LOCAL, "docker.io/library/myapp:latest",
		NULL, "latest", NULL, "local:myapp:latest", "myapp:latest" },
	{ "local:localhost:5000/x:1", HOIST_TRANSPORT_LOCAL, "localhost:5000/x:1",
		NULL, "1", NULL, "local:localhost:5000/x:1", "localhost:5000/x:1" },
	{ "local:myapp@" DG, HOIST_TRANSPORT_LOCAL,
		"docker.io/library/myapp@" DG, NULL, NULL, DG, "local:myapp@" DG,
		"myapp@" DG },
	{ "local:myapp:1@" DG, HOIST_TRANSPORT_LOCAL,
		"docker.io/library/myapp:1@" DG, NULL, "1", DG, "local:myapp:1@" DG,
		"myapp:1" },
	{ "local:docker.io/user/app:v3", HOIST_TRANSPORT_LOCAL,
		"docker.io/user/app:v3", NULL, "v3", NULL, "local:user/app:v3",
		"user/app:v3" },
};

static void expect_str(const char *what, const char *input, const char *got,
	const char *want)
{
	if (!want && !got)
		return;
	if (!want || !got || strcmp(got, want) != 0)
		fail_msg("'%s': %s is '%s', want '%s'", input, what,
			got ? got : "(null)", want ? want : "(null)");
}

static void test_valid(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
		const struct valid_case *c = &valid_cases[i];
		hoist_imgref *r = NULL;
		hoist_error *e = NULL;
		if (hoist_imgref_parse(&r, c->input, &e) != 0)
			fail_msg("'%s': %s", c->input, e ? e->msg : "(no error)");
		assert_int_equal(r->kind, c->kind);
		expect_str("input", c->input, r->input, c->input);
		char *rs = r->ref ? hoist_ref_string(r->ref) : NULL;
		expect_str("ref", c->input, rs, c->ref);
		free(rs);
		expect_str("path", c->input, r->path, c->path);
		expect_str("tag", c->input, r->tag, c->tag);
		expect_str("digest", c->input, r->digest, c->digest);
		char *disp = hoist_imgref_string(r);
		expect_str("display", c->input, disp, c->display);
		char *local = hoist_imgref_local_name(r);
		expect_str("local name", c->input, local, c->local);
		free(local);

		/* The display form reads back as the same image. */
		hoist_imgref *again = NULL;
		if (hoist_imgref_parse(&again, disp, &e) != 0)
			fail_msg("display '%s': %s", disp, e->msg);
		assert_int_equal(again->kind, r->kind);
		char *disp2 = hoist_imgref_string(again);
		assert_string_equal(disp2, disp);
		free(disp2);
		free(disp);
		hoist_imgref_free(again);
		hoist_imgref_free(r);
	}
	hoist_imgref_free(NULL);
}

struct invalid_case {
	const char *input;
	const char *msg; /* whole message, or a substring after '~' */
	int code;
};

static const struct invalid_case invalid_cases[] = {
	{ "", "invalid image name '': name is empty", HOIST_E_INVALID },
	{ "oci:", "invalid image name 'oci:': path is empty", HOIST_E_INVALID },
	{ "oci::v1", "invalid image name 'oci::v1': path is empty",
		HOIST_E_INVALID },
	{ "oci:@" DG, "invalid image name 'oci:@" DG "': path is empty",
		HOIST_E_INVALID },
	{ "oci:/tmp/x:", "invalid image name 'oci:/tmp/x:': image name after ':' is empty",
		HOIST_E_INVALID },
	{ "oci:/tmp/x:a b",
		"invalid image name 'oci:/tmp/x:a b': name 'a b' must be printable ASCII without spaces",
		HOIST_E_INVALID },
	{ "oci:/tmp/x:a\tb", "~must be printable ASCII", HOIST_E_INVALID },
	{ "oci:/tmp/x:caf\xc3\xa9", "~must be printable ASCII", HOIST_E_INVALID },
	{ "oci:/tmp/x@sha256:abc",
		"invalid image name 'oci:/tmp/x@sha256:abc': invalid digest 'sha256:abc': "
		"sha256 needs 64 hex characters, got 3", HOIST_E_INVALID },
	{ "oci:/tmp/x@sha256:" F64 ":v1", "~invalid digest", HOIST_E_INVALID },
	{ "docker-archive:", "invalid image name 'docker-archive:': path is empty",
		HOIST_E_INVALID },
	{ "docker-archive::busybox", "~path is empty", HOIST_E_INVALID },
	{ "docker-archive:a.tar:", "~image name after ':' is empty",
		HOIST_E_INVALID },
	{ "docker-archive:a.tar:Foo",
		"invalid image name 'docker-archive:a.tar:Foo': invalid reference 'Foo': "
		"repository name must be lowercase", HOIST_E_INVALID },
	{ "docker-archive:a.tar:x@" DG,
		"~docker-archive names cannot have a digest, only a tag",
		HOIST_E_INVALID },
	{ "docker-archive:a.tar:x:-bad", "~invalid tag '-bad'", HOIST_E_INVALID },
	{ "local:", "invalid image name 'local:': image name is empty",
		HOIST_E_INVALID },
	{ "local:Foo", "invalid image name 'local:Foo': invalid reference 'Foo': "
		"repository name must be lowercase", HOIST_E_INVALID },
	{ "local:x@sha256:12", "~sha256 needs 64 hex characters", HOIST_E_INVALID },
	{ "docker://", "invalid image name 'docker://': reference is empty",
		HOIST_E_INVALID },
	{ "docker://Foo", "invalid image name 'docker://Foo': invalid reference "
		"'Foo': repository name must be lowercase", HOIST_E_INVALID },
	{ "docker://oci:/x", "~invalid domain 'oci:'", HOIST_E_INVALID },
	{ "Foo", "invalid reference 'Foo': repository name must be lowercase",
		HOIST_E_INVALID },
	{ "busybox:", "invalid reference 'busybox:': invalid tag '': tag is empty",
		HOIST_E_INVALID },
	{ "xyz:/tmp/foo",
		"invalid image name 'xyz:/tmp/foo': unknown transport 'xyz' (known: "
		"docker://, oci:, docker-archive:, local:) and not a valid reference: "
		"invalid domain 'xyz:': missing port number after ':'",
		HOIST_E_INVALID },
	{ "my-thing:a/b c", "~unknown transport 'my-thing'", HOIST_E_INVALID },
	{ "xyz:a:b", "~unknown transport 'xyz'", HOIST_E_INVALID },
	{ "app:bad tag", "invalid reference 'app:bad tag': invalid tag 'bad tag': "
		"a tag may only contain letters, digits, '_', '.' and '-'",
		HOIST_E_INVALID },
	{ "dir:/tmp/x",
		"invalid image name 'dir:/tmp/x': transport 'dir' is not supported "
		"(known: docker://, oci:, docker-archive:, local:)",
		HOIST_E_UNSUPPORTED },
	{ "oci-archive:x.tar", "~transport 'oci-archive' is not supported",
		HOIST_E_UNSUPPORTED },
	{ "containers-storage:busybox", "~transport 'containers-storage' is not supported",
		HOIST_E_UNSUPPORTED },
	{ "docker-daemon:busybox:latest", "~transport 'docker-daemon' is not supported",
		HOIST_E_UNSUPPORTED },
};

static void check_invalid(const char *input, const char *msg, int code)
{
	hoist_imgref *r = (hoist_imgref *)0x1;
	hoist_error *e = NULL;
	int rc = hoist_imgref_parse(&r, input, &e);
	if (rc == 0)
		fail_msg("'%s' parsed but should not", input);
	assert_null(r);
	assert_non_null(e);
	assert_int_equal(rc, -code);
	assert_int_equal(e->code, code);
	if (msg[0] == '~') {
		if (!strstr(e->msg, msg + 1))
			fail_msg("'%s': message '%s' lacks '%s'", input, e->msg,
				msg + 1);
	} else if (strcmp(e->msg, msg) != 0) {
		fail_msg("'%s': message '%s', want '%s'", input, e->msg, msg);
	}
	assert_true(e->msg[0] >= 'a' && e->msg[0] <= 'z');
	assert_true(e->msg[strlen(e->msg) - 1] != '.');
	hoist_error_free(e);
}

static void test_invalid(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(invalid_cases) / sizeof(invalid_cases[0]); i++)
		check_invalid(invalid_cases[i].input, invalid_cases[i].msg,
			invalid_cases[i].code);
	hoist_imgref *r = NULL;
	assert_int_equal(hoist_imgref_parse(&r, NULL, NULL), -HOIST_E_INVALID);
	assert_int_equal(hoist_imgref_parse(&r, "xyz:/a", NULL), -HOIST_E_INVALID);
	assert_null(r);
}

static void test_limits(void **state)
{
	(void)state;
	/* A 4095-byte path is accepted, 4096 is not. */
	char *in = malloc(4 + 4096 + 4);
	assert_non_null(in);
	memcpy(in, "oci:", 4);
	memset(in + 4, 'd', 4095);
	memcpy(in + 4 + 4095, ":v1", 4);
	hoist_imgref *r = NULL;
	assert_int_equal(hoist_imgref_parse(&r, in, NULL), 0);
	assert_int_equal(strlen(r->path), 4095);
	assert_string_equal(r->tag, "v1");
	hoist_imgref_free(r);
	memset(in + 4, 'd', 4096);
	memcpy(in + 4 + 4096, ":v1", 4);
	check_invalid(in, "~path is longer than 4095 characters", HOIST_E_INVALID);
	free(in);

	in = malloc(20001);
	assert_non_null(in);
	memset(in, 'a', 20000);
	in[20000] = '\0';
	hoist_error *e = NULL;
	assert_int_equal(hoist_imgref_parse(&r, in, &e), -HOIST_E_INVALID);
	assert_non_null(strstr(e->msg, "longer than 8192 characters"));
	assert_true(strlen(e->msg) < 200);
	hoist_error_free(e);
	free(in);
}

static void test_transport_names(void **state)
{
	(void)state;
	assert_string_equal(hoist_transport_name(HOIST_TRANSPORT_REGISTRY), "docker");
	assert_string_equal(hoist_transport_name(HOIST_TRANSPORT_OCI), "oci");
	assert_string_equal(hoist_transport_name(HOIST_TRANSPORT_ARCHIVE),
		"docker-archive");
	assert_string_equal(hoist_transport_name(HOIST_TRANSPORT_LOCAL), "local");
	assert_string_equal(hoist_transport_name((hoist_transport_kind)42),
		"unknown");
}

/* The local name is what goes into ref.name annotations: it must parse as
 * a reference naming the same image with the same tag. */
static void test_local_name_parses(void **state)
{
	(void)state;
	static const char *const inputs[] = {
		"local:a", "local:a/b/c:d", "local:127.0.0.1:5000/x",
		"local:docker.io/example.com/x:1", "busybox", "ghcr.io/o/r:t",
	};
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		hoist_imgref *r = NULL;
		assert_int_equal(hoist_imgref_parse(&r, inputs[i], NULL), 0);
		char *n = hoist_imgref_local_name(r);
		assert_non_null(n);
		hoist_ref *ref = NULL;
		assert_int_equal(hoist_ref_parse(&ref, n, NULL), 0);
		char *a = hoist_ref_name(ref), *b = hoist_ref_name(r->ref);
		assert_string_equal(a, b);
		assert_string_equal(ref->tag, hoist_ref_tag(r->ref));
		free(a);
		free(b);
		hoist_ref_free(ref);
		free(n);
		hoist_imgref_free(r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_transport_names),
		cmocka_unit_test(test_local_name_parses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Docker references: cases from distribution/reference (reference_test.go,
 * normalize_test.go) plus hoist's own limits and messages. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hoist/ref.h"

#define F64 "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
#define SHA256_F "sha256:" F64
#define SHA512_F "sha512:" F64 F64
#define HEX64 "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"

struct valid_case {
	const char *input;
	const char *domain;
	const char *path;
	const char *tag;
	const char *digest;
	const char *familiar;
	int implicit;
};

static const struct valid_case valid_cases[] = {
	{ "test_com", "docker.io", "library/test_com", NULL, NULL, "test_com", 1 },
	{ "test.com:tag", "docker.io", "library/test.com", "tag", NULL,
		"test.com:tag", 1 },
	{ "test.com:5000", "docker.io", "library/test.com", "5000", NULL,
		"test.com:5000", 1 },
	{ "test.com/repo:tag", "test.com", "repo", "tag", NULL,
		"test.com/repo:tag", 0 },
	{ "test:5000/repo", "test:5000", "repo", NULL, NULL, "test:5000/repo", 0 },
	{ "test:5000/repo:tag", "test:5000", "repo", "tag", NULL,
		"test:5000/repo:tag", 0 },
	{ "test:5000/repo@" SHA256_F, "test:5000", "repo", NULL, SHA256_F,
		"test:5000/repo@" SHA256_F, 0 },
	{ "test:5000/repo:tag@" SHA256_F, "test:5000", "repo", "tag", SHA256_F,
		"test:5000/repo:tag@" SHA256_F, 0 },
	{ "lowercase:Uppercase", "docker.io", "library/lowercase", "Uppercase",
		NULL, "lowercase:Uppercase", 1 },
	{ "sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com",
		"bar/baz/quux", "some-long-tag", NULL,
		"sub-dom1.foo.com/bar/baz/quux:some-long-tag", 0 },
	{ "b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io",
		"test.example.com/my-app", "test.example.com", NULL,
		"b.gcr.io/test.example.com/my-app:test.example.com", 0 },
	{ "xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "myimage",
		"xn--n3h.com", NULL, "xn--n3h.com/myimage:xn--n3h.com", 0 },
	{ "xn--7o8h.com/myimage:xn--7o8h.com@" SHA512_F, "xn--7o8h.com",
		"myimage", "xn--7o8h.com", SHA512_F,
		"xn--7o8h.com/myimage:xn--7o8h.com@" SHA512_F, 0 },
	{ "foo_bar.com:8080", "docker.io", "library/foo_bar.com", "8080", NULL,
		"foo_bar.com:8080", 1 },
	{ "foo/foo_bar.com:8080", "docker.io", "foo/foo_bar.com", "8080", NULL,
		"foo/foo_bar.com:8080", 1 },
	{ "192.168.1.1", "docker.io", "library/192.168.1.1", NULL, NULL,
		"192.168.1.1", 1 },
	{ "192.168.1.1:5000/repo:5050", "192.168.1.1:5000", "repo", "5050", NULL,
		"192.168.1.1:5000/repo:5050", 0 },
	{ "[2001:db8::1]/repo", "[2001:db8::1]", "repo", NULL, NULL,
		"[2001:db8::1]/repo", 0 },
	{ "[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]", "repo",
		"tag", NULL, "[2001:db8:1:2:3:4:5:6]/repo:tag", 0 },
	{ "[2001:db8::1]:5000/repo:tag@" SHA256_F, "[2001:db8::1]:5000", "repo",
		"tag", SHA256_F, "[2001:db8::1]:5000/repo:tag@" SHA256_F, 0 },
	{ "[2001:db8::]:5000/repo", "[2001:db8::]:5000", "repo", NULL, NULL,
		"[2001:db8::]:5000/repo", 0 },
	{ "[::1]:5000/repo", "[::1]:5000", "repo", NULL, NULL, "[::1]:5000/repo",
		0 },
	{ "docker.io/foo", "docker.io", "library/foo", NULL, NULL, "foo", 0 },
	{ "docker.io/library/foo/bar", "docker.io", "library/foo/bar", NULL, NULL,
		"library/foo/bar", 0 },
	{ "index.docker.io/library/debian", "docker.io", "library/debian", NULL,
		NULL, "debian", 0 },
	{ "index.docker.io/debian", "docker.io", "library/debian", NULL, NULL,
		"debian", 0 },
	{ "fooo/bar", "docker.io", "fooo/bar", NULL, NULL, "fooo/bar", 1 },
	{ "other/library", "docker.io", "other/library", NULL, NULL,
		"other/library", 1 },
	{ "127.0.0.1:8000/private/moonbase", "127.0.0.1:8000", "private/moonbase",
		NULL, NULL, "127.0.0.1:8000/private/moonbase", 0 },
	{ "localhost/foo", "localhost", "foo", NULL, NULL, "localhost/foo", 0 },
	{ "localhost:5000/x:1", "localhost:5000", "x", "1", NULL,
		"localhost:5000/x:1", 0 },
	{ "localhost", "docker.io", "library/localhost", NULL, NULL, "localhost",
		1 },
	{ "docker---rules/docker", "docker.io", "docker---rules/docker", NULL,
		NULL, "docker---rules/docker", 1 },
	{ "dock__er/docker", "docker.io", "dock__er/docker", NULL, NULL,
		"dock__er/docker", 1 },
	{ "d/docker", "docker.io", "d/docker", NULL, NULL, "d/docker", 1 },
	{ "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
		"docker.io",
		"library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
		NULL, NULL,
		"thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", 1 },
	{ "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa",
		"docker.io", "library/busybox", "latest",
		"sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa",
		"busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa",
		1 },
	/* Accepted when a domain removes the doubt about an image id. */
	{ "docker.io/" HEX64, "docker.io", "library/" HEX64, NULL, NULL,
		"library/" HEX64, 0 },
	/* Docker would print "example.com/app", which names another registry. */
	{ "docker.io/example.com/app:1", "docker.io", "example.com/app", "1",
		NULL, "docker.io/example.com/app:1", 0 },
	{ "docker.io/localhost/app", "docker.io", "localhost/app", NULL, NULL,
		"docker.io/localhost/app", 0 },
	{ "Foo:5000/bar", "Foo:5000", "bar", NULL, NULL, "Foo:5000/bar", 0 },
	{ "a:1/b", "a:1", "b", NULL, NULL, "a:1/b", 0 },
	{ "x:65535/y", "x:65535", "y", NULL, NULL, "x:65535/y", 0 },
	{ "r.io/a--b/c---d/e__f/g.h/i_j", "r.io", "a--b/c---d/e__f/g.h/i_j", NULL,
		NULL, "r.io/a--b/c---d/e__f/g.h/i_j", 0 },
	{ "app:_tag", "docker.io", "library/app", "_tag", NULL, "app:_tag", 1 },
};

static void test_valid(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
		const struct valid_case *c = &valid_cases[i];
		hoist_ref *r = NULL;
		hoist_error *e = NULL;
		int rc = hoist_ref_parse(&r, c->input, &e);
		if (rc != 0)
			fail_msg("'%s': %s", c->input, e ? e->msg : "(no error)");
		assert_non_null(r);
		assert_string_equal(r->domain, c->domain);
		assert_string_equal(r->path, c->path);
		if (c->tag)
			assert_string_equal(r->tag, c->tag);
		else
			assert_null(r->tag);
		if (c->digest)
			assert_string_equal(r->digest, c->digest);
		else
			assert_null(r->digest);
		assert_int_equal(r->implicit_domain, c->implicit);

		char *want = NULL;
		assert_true(asprintf(&want, "%s/%s%s%s%s%s", c->domain, c->path,
				    c->tag ? ":" : "", c->tag ? c->tag : "",
				    c->digest ? "@" : "",
				    c->digest ? c->digest : "") > 0);
		char *s = hoist_ref_string(r);
		assert_string_equal(s, want);
		free(want);

		/* The full string reads back as itself. */
		hoist_ref *again = NULL;
		assert_int_equal(hoist_ref_parse(&again, s, NULL), 0);
		char *s2 = hoist_ref_string(again);
		assert_string_equal(s2, s);
		assert_false(again->implicit_domain);
		free(s2);
		hoist_ref_free(again);
		free(s);

		char *fam = hoist_ref_familiar(r);
		if (c->familiar)
			assert_string_equal(fam, c->familiar);
		else
			assert_string_equal(fam, c->input);
		/* The familiar form names the same image. */
		hoist_ref *back = NULL;
		if (hoist_ref_parse(&back, fam, &e) != 0)
			fail_msg("familiar '%s' of '%s': %s", fam, c->input, e->msg);
		char *n1 = hoist_ref_string(r), *n2 = hoist_ref_string(back);
		assert_string_equal(n1, n2);
		free(n1);
		free(n2);
		hoist_ref_free(back);
		free(fam);
		hoist_ref_free(r);
	}
}

struct invalid_case {
	const char *input;
	const char *msg; /* the whole message, or a substring when starting with '~' */
	int code;
};

static const struct invalid_case invalid_cases[] = {
	{ "", "invalid reference '': reference is empty", HOIST_E_INVALID },
	{ ":justtag", "invalid reference ':justtag': repository name is missing",
		HOIST_E_INVALID },
	{ "@" SHA256_F, "invalid reference '@" SHA256_F
		"': repository name is missing", HOIST_E_INVALID },
	{ "repo@sha256:ffffffffffffffffffffffffffffffffff",
		"invalid reference 'repo@sha256:ffffffffffffffffffffffffffffffffff': "
		"invalid digest 'sha256:ffffffffffffffffffffffffffffffffff': "
		"sha256 needs 64 hex characters, got 34", HOIST_E_INVALID },
	{ "repo@sha256:" F64 "f", "~sha256 needs 64 hex characters, got 65",
		HOIST_E_INVALID },
	{ "validname@invaliddigest:" F64,
		"~unsupported digest algorithm 'invaliddigest'", HOIST_E_UNSUPPORTED },
	{ "repo@sha256:FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
		"~encoded part must be lowercase hex", HOIST_E_INVALID },
	{ "repo@", "invalid reference 'repo@': '@' must be followed by a digest",
		HOIST_E_INVALID },
	{ "repo:tag@", "~'@' must be followed by a digest", HOIST_E_INVALID },
	{ "repo@" SHA256_F "@" SHA256_F, "~invalid digest", HOIST_E_INVALID },
	{ "repo@latest", "~invalid digest 'latest'", HOIST_E_INVALID },
	{ "Uppercase:tag",
		"invalid reference 'Uppercase:tag': repository name must be lowercase",
		HOIST_E_INVALID },
	{ "test:5000/Uppercase/lowercase:tag",
		"~': repository name must be lowercase", HOIST_E_INVALID },
	/* Docker takes "Foo" for a registry host; hoist reports the case. */
	{ "Foo/bar", "invalid reference 'Foo/bar': repository name must be lowercase",
		HOIST_E_INVALID },
	{ "Docker/docker", "~repository name must be lowercase", HOIST_E_INVALID },
	{ "docker/Docker", "~repository name must be lowercase", HOIST_E_INVALID },
	{ "docker.io/docker/Docker", "~repository name must be lowercase",
		HOIST_E_INVALID },
	{ "aa/asdf$$^/aa",
		"invalid reference 'aa/asdf$$^/aa': invalid path component 'asdf$$^': "
		"a path component may only contain lowercase letters, digits, '.', '_' and '-'",
		HOIST_E_INVALID },
	{ "[2001:db8::1]", "~an IPv6 domain must be followed by '/' and a repository path",
		HOIST_E_INVALID },
	{ "[2001:db8::1]:5000", "~an IPv6 domain must be followed", HOIST_E_INVALID },
	{ "[2001:db8::1]:tag", "~an IPv6 domain must be followed", HOIST_E_INVALID },
	{ "[fe80::1%eth0]:5000/repo",
		"invalid reference '[fe80::1%eth0]:5000/repo': invalid domain "
		"'[fe80::1%eth0]:5000': invalid IPv6 address", HOIST_E_INVALID },
	{ "[fe80::1%@invalidzone]:5000/repo", "~invalid", HOIST_E_INVALID },
	{ "[2001:db8:3:4::192.0.2.33]:5000/debian", "~invalid IPv6 address",
		HOIST_E_INVALID },
	{ "[1:2:3:4:5:6:7:8:9]/x", "~invalid IPv6 address", HOIST_E_INVALID },
	{ "[::1/x", "~missing ']'", HOIST_E_INVALID },
	{ "[::1]x:5/y", "~only ':' and a port may follow ']'", HOIST_E_INVALID },
	{ "fc00::1:5000/debian",
		"~invalid domain 'fc00::1:5000': port must be a number from 1 to 65535",
		HOIST_E_INVALID },
	{ "https://github.com/docker/docker",
		"~invalid domain 'https:': missing port number after ':'",
		HOIST_E_INVALID },
	{ "localhost:0/x", "~port must be a number from 1 to 65535", HOIST_E_INVALID },
	{ "localhost:65536/x", "~port must be a number from 1 to 65535",
		HOIST_E_INVALID },
	{ "localhost:123456/x", "~port must be a number", HOIST_E_INVALID },
	{ ":5000/x", "~invalid domain ':5000': host name is empty", HOIST_E_INVALID },
	{ "-docker.io/docker/docker",
		"~invalid domain '-docker.io': host name labels must start and end",
		HOIST_E_INVALID },
	{ "a..b.com/x", "~host name has an empty label", HOIST_E_INVALID },
	{ "a_b.com/x", "~host names may only contain letters, digits, '-' and '.'",
		HOIST_E_INVALID },
	{ "-docker", "invalid reference '-docker': invalid path component '-docker': "
		"a path component must start and end with a lowercase letter or digit",
		HOIST_E_INVALID },
	{ "-docker/docker", "~invalid path component '-docker'", HOIST_E_INVALID },
	{ "docker-/docker", "~invalid path component 'docker-'", HOIST_E_INVALID },
	{ "-docker-/docker", "~must start and end", HOIST_E_INVALID },
	{ "____/____", "~invalid path component '____'", HOIST_E_INVALID },
	{ "_docker/_docker", "~invalid path component '_docker'", HOIST_E_INVALID },
	/* A '.' makes the first component a domain, so these fail there. */
	{ "dock..er/docker",
		"~invalid domain 'dock..er': host name has an empty label",
		HOIST_E_INVALID },
	{ "dock_.er/docker", "~invalid domain 'dock_.er'", HOIST_E_INVALID },
	{ "dock-.er/docker", "~invalid domain 'dock-.er'", HOIST_E_INVALID },
	{ "docker/dock..er",
		"~invalid path component 'dock..er': separators are '.', '_', '__' or a run of '-'",
		HOIST_E_INVALID },
	{ "docker/dock_.er", "~separators are", HOIST_E_INVALID },
	{ "docker/dock-.er", "~separators are", HOIST_E_INVALID },
	{ "dock___er/docker", "~separators are", HOIST_E_INVALID },
	{ "docker///docker", "invalid reference 'docker///docker': empty path component",
		HOIST_E_INVALID },
	{ "docker/", "invalid reference 'docker/': empty path component",
		HOIST_E_INVALID },
	{ "docker.io/docker///docker", "~empty path component", HOIST_E_INVALID },
	{ "/docker", "~empty path component", HOIST_E_INVALID },
	{ "localhost/", "~empty path component", HOIST_E_INVALID },
	{ "foo/bar/:tag", "~empty path component", HOIST_E_INVALID },
	{ "foo bar", "~invalid path component 'foo bar'", HOIST_E_INVALID },
	{ " foo", "~invalid path component", HOIST_E_INVALID },
	{ HEX64, "invalid reference '" HEX64 "': a 64-character hexadecimal string "
		"is an image id, not a repository name", HOIST_E_INVALID },
	{ "foo:", "invalid reference 'foo:': invalid tag '': tag is empty",
		HOIST_E_INVALID },
	{ "foo:-bar", "~invalid tag '-bar': a tag must start with a letter, a digit or '_'",
		HOIST_E_INVALID },
	{ "foo:.bar", "~invalid tag '.bar'", HOIST_E_INVALID },
	{ "foo:ba r", "~invalid tag 'ba r': a tag may only contain", HOIST_E_INVALID },
	{ "foo:a+b", "~invalid tag 'a+b'", HOIST_E_INVALID },
	{ "foo:a:b", "~invalid path component 'foo:a'", HOIST_E_INVALID },
	{ "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255/docker",
		"~the name with its domain is 288 characters long, the limit is 255",
		HOIST_E_INVALID },
};

static void check_invalid(const char *input, const char *msg, int code)
{
	hoist_ref *r = (hoist_ref *)0x1;
	hoist_error *e = NULL;
	int rc = hoist_ref_parse(&r, input, &e);
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
	/* House style: lowercase start, no trailing period. */
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
	/* NULL input and a NULL error pointer are handled. */
	hoist_ref *r = NULL;
	assert_int_equal(hoist_ref_parse(&r, NULL, NULL), -HOIST_E_INVALID);
	assert_int_equal(hoist_ref_parse(&r, "A", NULL), -HOIST_E_INVALID);
	assert_null(r);
}

static char *repeat(const char *unit, size_t times, const char *tail)
{
	size_t ul = strlen(unit), tl = strlen(tail);
	char *s = malloc(ul * times + tl + 1);
	assert_non_null(s);
	for (size_t i = 0; i < times; i++)
		memcpy(s + i * ul, unit, ul);
	memcpy(s + ul * times, tail, tl + 1);
	return s;
}

static void test_tag_length(void **state)
{
	(void)state;
	char *tag128 = repeat("a", 128, "");
	char *tag129 = repeat("a", 129, "");
	char *in = NULL;
	assert_true(asprintf(&in, "busybox:%s", tag128) > 0);
	hoist_ref *r = NULL;
	assert_int_equal(hoist_ref_parse(&r, in, NULL), 0);
	assert_string_equal(r->tag, tag128);
	assert_true(hoist_tag_valid(tag128));
	assert_int_equal(hoist_ref_set_tag(r, tag128, NULL), 0);
	hoist_error *e = NULL;
	assert_int_equal(hoist_ref_set_tag(r, tag129, &e), -HOIST_E_INVALID);
	assert_non_null(strstr(e->msg, "tag is longer than 128 characters"));
	hoist_error_free(e);
	e = NULL;
	assert_string_equal(r->tag, tag128); /* unchanged on failure */
	hoist_ref_free(r);
	free(in);

	assert_true(asprintf(&in, "busybox:%s", tag129) > 0);
	check_invalid(in, "~tag is longer than 128 characters", HOIST_E_INVALID);
	assert_false(hoist_tag_valid(tag129));
	free(in);
	free(tag128);
	free(tag129);
}

static void test_name_length(void **state)
{
	(void)state;
	/* "a.io/" (5) + 250 = 255: the limit. */
	char *ok = repeat("a/", 124, "aa");
	char *full = NULL;
	assert_true(asprintf(&full, "a.io/%s:tag-puts-this-over-255", ok) > 0);
	hoist_ref *r = NULL;
	hoist_error *e = NULL;
	if (hoist_ref_parse(&r, full, &e) != 0)
		fail_msg("%s", e->msg);
	char *name = hoist_ref_name(r);
	assert_int_equal(strlen(name), 255);
	free(name);
	hoist_ref_free(r);
	free(full);
	free(ok);

	char *over = repeat("a/", 124, "aaa");
	assert_true(asprintf(&full, "a.io/%s", over) > 0);
	check_invalid(full, "~the name with its domain is 256 characters long, the limit is 255",
		HOIST_E_INVALID);
	free(full);
	free(over);

	/* distribution's case: 127 * "a/" + "a" is 255 characters, but on
	 * Docker Hub the name is "docker.io/" + that (docker counts it too). */
	char *hub = repeat("a/", 127, "a:tag-puts-this-over-max");
	check_invalid(hub, "~is 265 characters long, the limit is 255",
		HOIST_E_INVALID);
	free(hub);
	hub = repeat("a/", 128, "a:tag");
	check_invalid(hub, "~the limit is 255", HOIST_E_INVALID);
	free(hub);
	/* "library/" counts: 255 - strlen("docker.io/library/") = 237. */
	char *lib = repeat("a", 237, "");
	assert_int_equal(hoist_ref_parse(&r, lib, NULL), 0);
	hoist_ref_free(r);
	free(lib);
	lib = repeat("a", 238, "");
	check_invalid(lib, "~256 characters long", HOIST_E_INVALID);
	free(lib);

	/* Absurd input is refused without echoing all of it. */
	char *huge = repeat("a", 5000, "");
	e = NULL;
	assert_int_equal(hoist_ref_parse(&r, huge, &e), -HOIST_E_INVALID);
	assert_non_null(strstr(e->msg, "longer than 1024 characters"));
	assert_true(strlen(e->msg) < 200);
	hoist_error_free(e);
	free(huge);
}

static void test_accessors(void **state)
{
	(void)state;
	hoist_ref *r = NULL;
	assert_int_equal(hoist_ref_parse(&r, "busybox", NULL), 0);
	assert_null(r->tag);
	assert_string_equal(hoist_ref_tag(r), "latest");
	assert_string_equal(hoist_ref_reference(r), "latest");
	assert_string_equal(hoist_ref_registry_host(r), "registry-1.docker.io");
	char *s = hoist_ref_name(r);
	assert_string_equal(s, "docker.io/library/busybox");
	free(s);

	assert_int_equal(hoist_ref_set_digest(r, SHA256_F, NULL), 0);
	assert_null(hoist_ref_tag(r));
	assert_string_equal(hoist_ref_reference(r), SHA256_F);
	s = hoist_ref_familiar(r);
	assert_string_equal(s, "busybox@" SHA256_F);
	free(s);

	assert_int_equal(hoist_ref_set_tag(r, "1.36", NULL), 0);
	assert_string_equal(hoist_ref_tag(r), "1.36");
	assert_string_equal(hoist_ref_reference(r), SHA256_F);
	s = hoist_ref_string(r);
	assert_string_equal(s, "docker.io/library/busybox:1.36@" SHA256_F);
	free(s);

	hoist_ref *d = NULL;
	assert_int_equal(hoist_ref_dup(&d, r, NULL), 0);
	assert_ptr_not_equal(d->path, r->path);
	assert_int_equal(hoist_ref_set_digest(r, NULL, NULL), 0);
	assert_int_equal(hoist_ref_set_tag(r, NULL, NULL), 0);
	assert_null(r->digest);
	assert_null(r->tag);
	s = hoist_ref_string(d);
	assert_string_equal(s, "docker.io/library/busybox:1.36@" SHA256_F);
	free(s);
	assert_true(d->implicit_domain);
	hoist_ref_free(d);

	hoist_error *e = NULL;
	assert_int_equal(hoist_ref_set_digest(r, "sha256:abc", &e), -HOIST_E_INVALID);
	assert_non_null(strstr(e->msg, "invalid digest 'sha256:abc'"));
	hoist_error_free(e);
	e = NULL;
	assert_int_equal(hoist_ref_set_tag(r, "no/slash", &e), -HOIST_E_INVALID);
	assert_string_equal(e->msg,
		"invalid tag 'no/slash': a tag may only contain letters, digits, '_', '.' and '-'");
	hoist_error_free(e);
	assert_null(r->digest);
	assert_null(r->tag);
	hoist_ref_free(r);

	assert_int_equal(hoist_ref_parse(&r, "localhost:5000/x", NULL), 0);
	assert_string_equal(hoist_ref_registry_host(r), "localhost:5000");
	assert_true(hoist_ref_is_loopback(r));
	hoist_ref_free(r);
	assert_int_equal(hoist_ref_parse(&r, "ghcr.io/o/x", NULL), 0);
	assert_string_equal(hoist_ref_registry_host(r), "ghcr.io");
	assert_false(hoist_ref_is_loopback(r));
	hoist_ref_free(r);
	hoist_ref_free(NULL);
}

static void test_loopback(void **state)
{
	(void)state;
	static const char *const yes[] = {
		"localhost", "localhost:5000", "LocalHost:5000", "127.0.0.1",
		"127.0.0.1:5000", "127.1.2.3", "127.255.255.254:80", "[::1]",
		"[::1]:5000", "[0:0:0:0:0:0:0:1]:443", "::1",
	};
	static const char *const no[] = {
		"", "localhost.example.com", "mylocalhost", "localhost:",
		"localhost:abc", "localhost:70000", "128.0.0.1", "126.0.0.1:5000",
		"127.0.0", "127.0.0.1.nip.io", "127.0.0.256", "10.0.0.1:5000",
		"[::2]", "[::1", "[::1]:", "[::1]x", "::2", "example.com",
		"docker.io", "127.0.0.1:", "[::ffff:127.0.0.1]",
	};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!hoist_host_is_loopback(yes[i]))
			fail_msg("'%s' should be loopback", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (hoist_host_is_loopback(no[i]))
			fail_msg("'%s' should not be loopback", no[i]);
	assert_false(hoist_host_is_loopback(NULL));
}

static void test_validators(void **state)
{
	(void)state;
	assert_true(hoist_tag_valid("latest"));
	assert_true(hoist_tag_valid("v1.2.3-rc_1"));
	assert_true(hoist_tag_valid("_"));
	assert_true(hoist_tag_valid("UPPER"));
	assert_false(hoist_tag_valid(""));
	assert_false(hoist_tag_valid(NULL));
	assert_false(hoist_tag_valid("-x"));
	assert_false(hoist_tag_valid(".x"));
	assert_false(hoist_tag_valid("a:b"));
	assert_false(hoist_tag_valid("a@b"));

	assert_true(hoist_repo_path_valid("library/busybox"));
	assert_true(hoist_repo_path_valid("a"));
	assert_true(hoist_repo_path_valid("a-b/c.d/e__f"));
	assert_false(hoist_repo_path_valid(""));
	assert_false(hoist_repo_path_valid(NULL));
	assert_false(hoist_repo_path_valid("Library/busybox"));
	assert_false(hoist_repo_path_valid("library//busybox"));
	assert_false(hoist_repo_path_valid("library/"));
	assert_false(hoist_repo_path_valid("/busybox"));
	assert_false(hoist_repo_path_valid("busybox:latest"));
	assert_false(hoist_repo_path_valid("a__-b"));
	char *long_path = repeat("a", 256, "");
	assert_false(hoist_repo_path_valid(long_path));
	long_path[255] = '\0';
	assert_true(hoist_repo_path_valid(long_path));
	free(long_path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_tag_length),
		cmocka_unit_test(test_name_length),
		cmocka_unit_test(test_accessors),
		cmocka_unit_test(test_loopback),
		cmocka_unit_test(test_validators),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Authentication without a registry: WWW-Authenticate parsing, credentials
 * from config files (base64 auth, identitytoken, key forms, docker.io),
 * the file search order, credential helpers (a docker-credential-test
 * script on $PATH), and login/logout edits of the file. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hoist/auth.h"
#include "hoist/ctx.h"
#include "hoist/fs.h"

static char tmp[512];

static void write_file(const char *path, const char *data, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(data, f) >= 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static char *read_text(const char *path)
{
	hoist_buf b = HOIST_BUF_INIT(1 << 20);
	hoist_error *err = NULL;
	if (hoist_fs_read_file(AT_FDCWD, path, &b, &err) < 0) {
		hoist_error_free(err);
		return NULL;
	}
	return hoist_buf_steal(&b, NULL);
}

/* Challenges */

static hoist_auth_challenge *parse_ok(const char *h, size_t want_n)
{
	hoist_auth_challenge *c = NULL;
	size_t n = 0;
	hoist_error *err = NULL;
	int e = hoist_auth_parse_challenges(&c, &n, h, &err);
	if (e < 0)
		fail_msg("parse '%s': %s", h, err->msg);
	assert_int_equal(n, want_n);
	return c;
}

static void parse_bad(const char *h, int code)
{
	hoist_auth_challenge *c = NULL;
	size_t n = 7;
	hoist_error *err = NULL;
	int e = hoist_auth_parse_challenges(&c, &n, h, &err);
	if (e >= 0)
		fail_msg("parse '%s' should fail", h ? h : "(null)");
	assert_int_equal(e, -code);
	assert_null(c);
	assert_int_equal(n, 0);
	assert_non_null(err);
	hoist_error_free(err);
}

static void test_challenge_bearer(void **state)
{
	hoist_auth_challenge *c = parse_ok(
		"Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:library/busybox:pull\"",
		1);
	assert_string_equal(c[0].scheme, "bearer");
	assert_int_equal(c[0].n_params, 3);
	assert_string_equal(hoist_auth_challenge_param(&c[0], "realm"),
		"https://auth.docker.io/token");
	assert_string_equal(hoist_auth_challenge_param(&c[0], "SERVICE"),
		"registry.docker.io");
	assert_string_equal(hoist_auth_challenge_param(&c[0], "scope"),
		"repository:library/busybox:pull");
	assert_null(hoist_auth_challenge_param(&c[0], "error"));
	assert_null(c[0].token68);
	hoist_auth_challenges_free(c, 1);

	/* spaces around '=' and ',', unquoted values, an error param */
	c = parse_ok("bEaReR  realm = \"r\" ,  error=insufficient_scope , scope=\"a:b:pull,push\"", 1);
	assert_string_equal(c[0].scheme, "bearer");
	assert_string_equal(hoist_auth_challenge_param(&c[0], "realm"), "r");
	assert_string_equal(hoist_auth_challenge_param(&c[0], "error"),
		"insufficient_scope");
	assert_string_equal(hoist_auth_challenge_param(&c[0], "scope"), "a:b:pull,push");
	hoist_auth_challenges_free(c, 1);

	/* escapes in quoted strings */
	c = parse_ok("Basic realm=\"say \\\"hi\\\" \\\\ there\"", 1);
	assert_string_equal(hoist_auth_challenge_param(&c[0], "realm"),
		"say \"hi\" \\ there");
	hoist_auth_challenges_free(c, 1);

	/* an empty quoted value and a lenient unquoted URL */
	c = parse_ok("Bearer realm=\"\",service=http://x.example/a?b=c", 1);
	assert_string_equal(hoist_auth_challenge_param(&c[0], "realm"), "");
	assert_string_equal(hoist_auth_challenge_param(&c[0], "service"),
		"http://x.example/a?b=c");
	hoist_auth_challenges_free(c, 1);
}

static void test_challenge_several(void **state)
{
	hoist_auth_challenge *c = parse_ok(
		"Basic realm=\"basic-realm\", Bearer realm=\"https://a/token\",service=\"s\"", 2);
	assert_string_equal(c[0].scheme, "basic");
	assert_int_equal(c[0].n_params, 1);
	assert_string_equal(hoist_auth_challenge_param(&c[0], "realm"), "basic-realm");
	assert_string_equal(c[1].scheme, "bearer");
	assert_int_equal(c[1].n_params, 2);
	assert_string_equal(hoist_auth_challenge_param(&c[1], "service"), "s");
	hoist_auth_challenges_free(c, 2);

	/* a scheme alone, token68, and stray commas */
	c = parse_ok(",Negotiate, NTLM abc123==, , Basic realm=x,", 3);
	assert_string_equal(c[0].scheme, "negotiate");
	assert_int_equal(c[0].n_params, 0);
	assert_null(c[0].token68);
	assert_string_equal(c[1].scheme, "ntlm");
	assert_string_equal(c[1].token68, "abc123==");
	assert_string_equal(c[2].scheme, "basic");
	assert_string_equal(hoist_auth_challenge_param(&c[2], "realm"), "x");
	hoist_auth_challenges_free(c, 3);

	c = parse_ok("Basic", 1);
	assert_string_equal(c[0].scheme, "basic");
	hoist_auth_challenges_free(c, 1);
}

static void test_challenge_bad(void **state)
{
	parse_bad(NULL, HOIST_E_INVALID);
	parse_bad("", HOIST_E_INVALID);
	parse_bad("   ,  ", HOIST_E_INVALID);
	parse_bad("Bearer realm=\"unterminated", HOIST_E_INVALID);
	parse_bad("Bearer realm=\"x\\", HOIST_E_INVALID);
	parse_bad("=realm", HOIST_E_INVALID);
	parse_bad("\"Bearer\"", HOIST_E_INVALID);
	parse_bad("Bearer realm=\"a\" service=\"b\"", HOIST_E_INVALID);
	parse_bad("Bearer realm=\"a\"x", HOIST_E_INVALID);
	parse_bad("Bea(rer realm=x", HOIST_E_INVALID);
	/* more challenges or parameters than allowed */
	char many[4096] = "";
	for (int i = 0; i <= HOIST_AUTH_CHALLENGES_MAX; i++)
		strncat(many, "Basic realm=x, ", sizeof(many) - strlen(many) - 1);
	parse_bad(many, HOIST_E_LIMIT);
	char params[4096] = "Bearer ";
	for (int i = 0; i <= HOIST_AUTH_PARAMS_MAX; i++) {
		char p[32];
		snprintf(p, sizeof(p), "p%d=v,", i);
		strncat(params, p, sizeof(params) - strlen(params) - 1);
	}
	parse_bad(params, HOIST_E_LIMIT);
	char *huge = malloc(HOIST_AUTH_HEADER_MAX + 16);
	memset(huge, 'a', HOIST_AUTH_HEADER_MAX + 15);
	huge[HOIST_AUTH_HEADER_MAX + 15] = '\0';
	parse_bad(huge, HOIST_E_LIMIT);
	free(huge);
}

/* Credentials */

static hoist_ctx *ctx_file(const char *json)
{
	hoist_ctx *ctx = NULL;
	hoist_error *err = NULL;
	assert_int_equal(hoist_ctx_new(&ctx, &err), 0);
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/ctx-auth.json", tmp);
	write_file(p, json, 0600);
	assert_int_equal(hoist_ctx_set_auth_file(ctx, p, &err), 0);
	return ctx;
}

static void expect_creds(hoist_ctx *ctx, const char *domain, const char *user,
	const char *pass, const char *ident)
{
	hoist_credentials c;
	bool found = false;
	hoist_error *err = NULL;
	int e = hoist_auth_lookup(ctx, domain, &c, &found, &err);
	if (e < 0)
		fail_msg("lookup '%s': %s", domain, err->msg);
	if (!user && !pass && !ident) {
		assert_false(found);
		return;
	}
	assert_true(found);
	if (user)
		assert_string_equal(c.username, user);
	else
		assert_null(c.username);
	if (pass)
		assert_string_equal(c.password, pass);
	else
		assert_null(c.password);
	if (ident)
		assert_string_equal(c.identity_token, ident);
	else
		assert_null(c.identity_token);
	hoist_credentials_release(&c);
}

static void test_config_auths(void **state)
{
	/* "alice:pa:ss" (the password may hold ':'), "bob:x" */
	hoist_ctx *ctx = ctx_file(
		"{\"auths\":{"
		"\"reg.example:5000\":{\"auth\":\"YWxpY2U6cGE6c3M=\"},"
		"\"https://other.example/v1/\":{\"auth\":\"Ym9iOng=\"},"
		"\"https://index.docker.io/v1/\":{\"auth\":\"aHViOmh1YnB3\"},"
		"\"ident.example\":{\"identitytoken\":\"refresh-123\"},"
		"\"empty.example\":{}"
		"}}");
	expect_creds(ctx, "reg.example:5000", "alice", "pa:ss", NULL);
	expect_creds(ctx, "other.example", "bob", "x", NULL);
	expect_creds(ctx, "docker.io", "hub", "hubpw", NULL);
	expect_creds(ctx, "index.docker.io", "hub", "hubpw", NULL);
	expect_creds(ctx, "ident.example", NULL, NULL, "refresh-123");
	expect_creds(ctx, "empty.example", NULL, NULL, NULL);
	expect_creds(ctx, "reg.example", NULL, NULL, NULL);
	expect_creds(ctx, "unknown.example", NULL, NULL, NULL);
	hoist_ctx_free(ctx);

	/* invalid base64 / no colon: an error that does not quote it */
	const char *bad[] = { "{\"auths\":{\"r.example\":{\"auth\":\"!!!secretstuff!!\"}}}",
		"{\"auths\":{\"r.example\":{\"auth\":\"bm9jb2xvbg==\"}}}",
		"[1,2]", "{not json" };
	for (size_t i = 0; i < 4; i++) {
		ctx = ctx_file(bad[i]);
		hoist_credentials c;
		bool found;
		hoist_error *err = NULL;
		int e = hoist_auth_lookup(ctx, "r.example", &c, &found, &err);
		assert_int_equal(e, -HOIST_E_INVALID);
		assert_null(strstr(err->msg, "secretstuff"));
		assert_null(strstr(err->msg, "bm9jb2xvbg"));
		assert_non_null(strstr(err->msg, "ctx-auth.json"));
		hoist_error_free(err);
		hoist_ctx_free(ctx);
	}
}

static void test_config_order(void **state)
{
	char a[PATH_MAX], dc[PATH_MAX], home[PATH_MAX], p[PATH_MAX + 32];
	snprintf(a, sizeof(a), "%s/registry-auth.json", tmp);
	snprintf(dc, sizeof(dc), "%s/dockercfg", tmp);
	snprintf(home, sizeof(home), "%s/home", tmp);
	mkdir(dc, 0700);
	mkdir(home, 0700);
	snprintf(p, sizeof(p), "%s/.docker", home);
	mkdir(p, 0700);
	/* u1:p1 / u2:p2 / u3:p3 */
	write_file(a, "{\"auths\":{\"a.example\":{\"auth\":\"dTE6cDE=\"}}}", 0600);
	snprintf(p, sizeof(p), "%s/config.json", dc);
	write_file(p, "{\"auths\":{\"a.example\":{\"auth\":\"dTI6cDI=\"},\"b.example\":{\"auth\":\"dTI6cDI=\"}}}", 0600);
	snprintf(p, sizeof(p), "%s/.docker/config.json", home);
	write_file(p, "{\"auths\":{\"a.example\":{\"auth\":\"dTM6cDM=\"},\"b.example\":{\"auth\":\"dTM6cDM=\"},\"c.example\":{\"auth\":\"dTM6cDM=\"}}}", 0600);
	setenv("REGISTRY_AUTH_FILE", a, 1);
	setenv("DOCKER_CONFIG", dc, 1);
	setenv("HOME", home, 1);
	hoist_ctx *ctx = NULL;
	hoist_error *err = NULL;
	assert_int_equal(hoist_ctx_new(&ctx, &err), 0);
	expect_creds(ctx, "a.example", "u1", "p1", NULL);
	expect_creds(ctx, "b.example", "u2", "p2", NULL);
	expect_creds(ctx, "c.example", "u3", "p3", NULL);
	expect_creds(ctx, "d.example", NULL, NULL, NULL);
	char *w = NULL;
	assert_int_equal(hoist_auth_file_for_write(ctx, &w, &err), 0);
	assert_string_equal(w, a);
	free(w);
	unsetenv("REGISTRY_AUTH_FILE");
	assert_int_equal(hoist_auth_file_for_write(ctx, &w, &err), 0);
	snprintf(p, sizeof(p), "%s/config.json", dc);
	assert_string_equal(w, p);
	free(w);
	expect_creds(ctx, "a.example", "u2", "p2", NULL);
	unsetenv("DOCKER_CONFIG");
	expect_creds(ctx, "a.example", "u3", "p3", NULL);
	/* missing files are skipped */
	setenv("REGISTRY_AUTH_FILE", "/nonexistent/auth.json", 1);
	expect_creds(ctx, "a.example", "u3", "p3", NULL);
	/* the ctx override is the only file read */
	snprintf(p, sizeof(p), "%s/override.json", tmp);
	write_file(p, "{}", 0600);
	assert_int_equal(hoist_ctx_set_auth_file(ctx, p, &err), 0);
	expect_creds(ctx, "a.example", NULL, NULL, NULL);
	unsetenv("REGISTRY_AUTH_FILE");
	hoist_ctx_free(ctx);
}

/* A credential helper: docker-credential-test answers for two servers,
 * says "credentials not found" for others, and fails for "broken". */
static void install_helper(void)
{
	char bin[PATH_MAX], p[PATH_MAX + 32];
	snprintf(bin, sizeof(bin), "%s/bin", tmp);
	mkdir(bin, 0755);
	snprintf(p, sizeof(p), "%s/docker-credential-test", bin);
	write_file(p,
		"#!/bin/sh\n"
		"[ \"$1\" = get ] || exit 3\n"
		"read -r url\n"
		"case \"$url\" in\n"
		"helper.example) echo '{\"ServerURL\":\"helper.example\",\"Username\":\"hu\",\"Secret\":\"hs\"}' ;;\n"
		"https://index.docker.io/v1/) echo '{\"Username\":\"<token>\",\"Secret\":\"idtok\"}' ;;\n"
		"broken.example) echo 'secret-garbage' ; exit 5 ;;\n"
		"junk.example) echo 'not json' ;;\n"
		"*) echo 'credentials not found in native keychain' ; exit 1 ;;\n"
		"esac\n",
		0755);
	const char *path = getenv("PATH");
	char np[8192];
	snprintf(np, sizeof(np), "%s:%s", bin, path ? path : "/usr/bin:/bin");
	setenv("PATH", np, 1);
}

static void test_helpers(void **state)
{
	install_helper();
	hoist_credentials c;
	bool found = false;
	hoist_error *err = NULL;
	assert_int_equal(hoist_auth_helper_get("test", "helper.example", &c, &found, &err), 0);
	assert_true(found);
	assert_string_equal(c.username, "hu");
	assert_string_equal(c.password, "hs");
	hoist_credentials_release(&c);
	assert_int_equal(hoist_auth_helper_get("test", "nothing.example", &c, &found, &err), 0);
	assert_false(found);

	int e = hoist_auth_helper_get("test", "broken.example", &c, &found, &err);
	assert_int_equal(e, -HOIST_E_AUTH);
	assert_non_null(strstr(err->msg, "exit status 5"));
	assert_null(strstr(err->msg, "secret-garbage"));
	hoist_error_freep(&err);
	e = hoist_auth_helper_get("test", "junk.example", &c, &found, &err);
	assert_int_equal(e, -HOIST_E_AUTH);
	hoist_error_freep(&err);
	e = hoist_auth_helper_get("missing-helper", "x", &c, &found, &err);
	assert_int_equal(e, -HOIST_E_NOTFOUND);
	assert_non_null(strstr(err->msg, "docker-credential-missing-helper"));
	hoist_error_freep(&err);
	e = hoist_auth_helper_get("../evil", "x", &c, &found, &err);
	assert_int_equal(e, -HOIST_E_INVALID);
	hoist_error_freep(&err);

	/* credHelpers per registry, credsStore as the default, auths win
	 * over credsStore */
	hoist_ctx *ctx = ctx_file(
		"{\"credHelpers\":{\"helper.example\":\"test\",\"docker.io\":\"test\"},"
		"\"credsStore\":\"test\","
		"\"auths\":{\"file.example\":{\"auth\":\"Zjpn\"},\"helper.example\":{\"auth\":\"Zjpn\"}}}");
	expect_creds(ctx, "helper.example", "hu", "hs", NULL);
	expect_creds(ctx, "docker.io", NULL, NULL, "idtok");
	expect_creds(ctx, "file.example", "f", "g", NULL);
	expect_creds(ctx, "elsewhere.example", NULL, NULL, NULL);
	hoist_ctx_free(ctx);
	ctx = ctx_file("{\"credsStore\":\"test\"}");
	expect_creds(ctx, "helper.example", "hu", "hs", NULL);
	hoist_ctx_free(ctx);
}

static void test_store_remove(void **state)
{
	hoist_ctx *ctx = NULL;
	hoist_error *err = NULL;
	assert_int_equal(hoist_ctx_new(&ctx, &err), 0);
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/new/dir/auth.json", tmp);
	assert_int_equal(hoist_ctx_set_auth_file(ctx, p, &err), 0);

	assert_int_equal(hoist_auth_store(ctx, "r.example:5000", "alice", "pw:1", &err), 0);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	expect_creds(ctx, "r.example:5000", "alice", "pw:1", NULL);

	/* other keys survive; docker.io is stored under docker's key */
	write_file(p, "{\"auths\":{\"r.example:5000\":{\"auth\":\"eDp5\",\"identitytoken\":\"old\",\"email\":\"e\"}},\"credHelpers\":{\"z.example\":\"none\"},\"HttpHeaders\":{\"X\":\"1\"}}", 0644);
	assert_int_equal(hoist_auth_store(ctx, "r.example:5000", "bob", "new", &err), 0);
	assert_int_equal(hoist_auth_store(ctx, "docker.io", "hub", "h", &err), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	char *t = read_text(p);
	assert_non_null(strstr(t, "\"HttpHeaders\""));
	assert_non_null(strstr(t, "\"z.example\""));
	assert_non_null(strstr(t, "\"email\""));
	assert_non_null(strstr(t, "\"https://index.docker.io/v1/\""));
	assert_null(strstr(t, "identitytoken"));
	free(t);
	expect_creds(ctx, "r.example:5000", "bob", "new", NULL);
	expect_creds(ctx, "docker.io", "hub", "h", NULL);

	assert_int_equal(hoist_auth_remove(ctx, "r.example:5000", &err), 0);
	expect_creds(ctx, "r.example:5000", NULL, NULL, NULL);
	expect_creds(ctx, "docker.io", "hub", "h", NULL);
	assert_int_equal(hoist_auth_remove(ctx, "r.example:5000", &err), -HOIST_E_NOTFOUND);
	assert_string_equal(err->msg, "not logged in to 'r.example:5000'");
	hoist_error_freep(&err);
	assert_int_equal(hoist_auth_remove(ctx, "index.docker.io", &err), 0);
	t = read_text(p);
	assert_null(strstr(t, "index.docker.io"));
	assert_non_null(strstr(t, "\"HttpHeaders\""));
	free(t);

	assert_int_equal(hoist_auth_store(ctx, "r.example", "a:b", "x", &err), -HOIST_E_INVALID);
	hoist_error_freep(&err);
	assert_int_equal(hoist_auth_store(ctx, "r.example", "", "x", &err), -HOIST_E_INVALID);
	hoist_error_freep(&err);
	assert_string_equal(hoist_auth_key("docker.io"), "https://index.docker.io/v1/");
	assert_string_equal(hoist_auth_key("r.example:5000"), "r.example:5000");
	hoist_ctx_free(ctx);
}

static int setup(void **state)
{
	const char *t = getenv("TMPDIR");
	snprintf(tmp, sizeof(tmp), "%s/hoist-auth-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmp))
		return -1;
	unsetenv("REGISTRY_AUTH_FILE");
	unsetenv("DOCKER_CONFIG");
	return 0;
}

static int teardown(void **state)
{
	hoist_error *err = NULL;
	hoist_fs_rm_rf(AT_FDCWD, tmp, &err);
	hoist_error_free(err);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_challenge_bearer),
		cmocka_unit_test(test_challenge_several),
		cmocka_unit_test(test_challenge_bad),
		cmocka_unit_test(test_config_auths),
		cmocka_unit_test(test_config_order),
		cmocka_unit_test(test_helpers),
		cmocka_unit_test(test_store_remove),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

/* The HTTP helpers of the registry client: scope sets, registry error
 * bodies and the messages built from them, Link pagination, URL
 * resolution, backoff and Retry-After, header lookup, redaction of
 * credentials, token responses. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hoist/error.h"
#include "registry/internal.h"

static void test_scopes(void **state)
{
	reg_scopes s = { 0 };
	assert_int_equal(reg_scopes_add(&s, "repository", "b", REG_ACT_PULL, NULL), 0);
	assert_int_equal(reg_scopes_add(&s, "repository", "a", REG_ACT_PULL, NULL), 0);
	assert_int_equal(reg_scopes_add(&s, "repository", "a", REG_ACT_PUSH, NULL), 0);
	char *str = reg_scopes_string(&s);
	assert_string_equal(str, "repository:a:pull,push repository:b:pull");
	free(str);
	char *q = reg_scopes_query(&s);
	assert_string_equal(q,
		"&scope=repository%3Aa%3Apull%2Cpush&scope=repository%3Ab%3Apull");
	free(q);

	reg_scopes want = { 0 };
	assert_int_equal(reg_scopes_add(&want, "repository", "a", REG_ACT_PULL, NULL), 0);
	assert_true(reg_scopes_cover(&s, &want));
	assert_false(reg_scopes_cover(&want, &s));
	assert_int_equal(reg_scopes_add(&want, "repository", "c", REG_ACT_PULL, NULL), 0);
	assert_false(reg_scopes_cover(&s, &want));
	reg_scopes empty = { 0 };
	assert_true(reg_scopes_cover(&s, &empty));
	assert_true(reg_scopes_cover(&empty, &empty));

	/* "*" covers every action */
	reg_scopes cat = { 0 }, all = { 0 };
	assert_int_equal(reg_scopes_add(&cat, "registry", "catalog", REG_ACT_ALL, NULL), 0);
	assert_int_equal(reg_scopes_add(&all, "registry", "catalog", REG_ACT_ALL, NULL), 0);
	assert_true(reg_scopes_cover(&all, &cat));
	str = reg_scopes_string(&cat);
	assert_string_equal(str, "registry:catalog:*");
	free(str);

	/* merge */
	assert_int_equal(reg_scopes_merge(&cat, &s, NULL), 0);
	assert_int_equal(cat.n, 3);
	str = reg_scopes_string(&cat);
	assert_string_equal(str,
		"registry:catalog:* repository:a:pull,push repository:b:pull");
	free(str);

	assert_int_equal(reg_actions_parse("pull,push"), REG_ACT_PULL | REG_ACT_PUSH);
	assert_int_equal(reg_actions_parse("delete,bogus,*"), REG_ACT_DELETE | REG_ACT_ALL);
	assert_int_equal(reg_actions_parse(""), 0);
	str = reg_actions_string(REG_ACT_PULL | REG_ACT_DELETE);
	assert_string_equal(str, "pull,delete");
	free(str);

	reg_scopes_release(&s);
	reg_scopes_release(&want);
	reg_scopes_release(&empty);
	reg_scopes_release(&cat);
	reg_scopes_release(&all);
}

static void test_error_body(void **state)
{
	char *code = NULL;
	const char *b = "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\",\"detail\":{\"Tag\":\"1\"}}]}";
	char *m = reg_error_body_message(b, strlen(b), &code);
	assert_string_equal(m, "MANIFEST_UNKNOWN: manifest unknown");
	assert_string_equal(code, "MANIFEST_UNKNOWN");
	free(m);
	free(code);

	b = "{\"errors\":[{\"code\":\"DENIED\"},{\"code\":\"X\",\"message\":\"y\"}]}";
	m = reg_error_body_message(b, strlen(b), NULL);
	assert_string_equal(m, "DENIED");
	free(m);
	b = "{\"errors\":[{\"code\":\"A\",\"message\":\"first\"},{\"code\":\"B\"}]}";
	m = reg_error_body_message(b, strlen(b), NULL);
	assert_string_equal(m, "A: first (and more errors)");
	free(m);

	const char *bad[] = { "", "not json", "[]", "{\"errors\":[]}",
		"{\"errors\":{}}", "{\"errors\":[{\"message\":\"no code\"}]}",
		"{\"errors\":[{\"code\":42}]}", "<html>502</html>" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m = reg_error_body_message(bad[i], strlen(bad[i]), &code);
		assert_null(m);
		assert_null(code);
	}
	assert_null(reg_error_body_message(NULL, 0, NULL));
}

static void status_case(long st, const char *body, int want_code,
	const char *want_msg)
{
	reg_response resp;
	reg_response_init(&resp);
	resp.status = st;
	if (body)
		assert_int_equal(hoist_buf_appends(&resp.errbody, body, NULL), 0);
	hoist_error *err = NULL;
	int e = reg_status_error(&resp, "GET manifest", "localhost:5000/app:1", &err);
	assert_int_equal(e, -want_code);
	assert_string_equal(err->msg, want_msg);
	hoist_error_free(err);
	reg_response_release(&resp);
}

static void test_status_error(void **state)
{
	status_case(404,
		"{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\"}]}",
		HOIST_E_NOTFOUND,
		"GET manifest 'localhost:5000/app:1': 404 MANIFEST_UNKNOWN: manifest unknown");
	status_case(401, "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}]}",
		HOIST_E_AUTH,
		"GET manifest 'localhost:5000/app:1': 401 UNAUTHORIZED: authentication required");
	status_case(403, NULL, HOIST_E_AUTH,
		"GET manifest 'localhost:5000/app:1': 403 Forbidden");
	status_case(400, "{\"errors\":[{\"code\":\"DIGEST_INVALID\",\"message\":\"provided digest did not match uploaded content\"}]}",
		HOIST_E_DIGEST,
		"GET manifest 'localhost:5000/app:1': 400 DIGEST_INVALID: provided digest did not match uploaded content");
	status_case(502, "<html>bad gateway</html>", HOIST_E_REGISTRY,
		"GET manifest 'localhost:5000/app:1': 502 Bad Gateway");
	status_case(418, NULL, HOIST_E_REGISTRY,
		"GET manifest 'localhost:5000/app:1': 418 unexpected status");
}

static void link_case(const char *link, const char *base, const char *want)
{
	char *got = reg_link_next(link, base);
	if (!want) {
		if (got)
			fail_msg("link '%s': expected none, got '%s'", link, got);
		return;
	}
	if (!got)
		fail_msg("link '%s': expected '%s', got none", link, want);
	assert_string_equal(got, want);
	free(got);
}

static void test_link(void **state)
{
	const char *base = "http://127.0.0.1:5000/v2/_catalog?n=2";
	link_case("</v2/_catalog?last=b&n=2>; rel=\"next\"", base,
		"http://127.0.0.1:5000/v2/_catalog?last=b&n=2");
	link_case("<https://other.example/v2/x?last=1>; rel=next", base,
		"https://other.example/v2/x?last=1");
	link_case("</v2/a?p=1>; rel=\"prev\", </v2/a?p=3>; rel=\"next\"", base,
		"http://127.0.0.1:5000/v2/a?p=3");
	link_case("</v2/a?p=3>; title=\"x, y\"; rel=\"next\"", base,
		"http://127.0.0.1:5000/v2/a?p=3");
	link_case("</v2/a?p=3>; rel=\"prefetch next\"", base,
		"http://127.0.0.1:5000/v2/a?p=3");
	link_case("</v2/a?p=3>;rel=\"NEXT\"", base,
		"http://127.0.0.1:5000/v2/a?p=3");
	link_case("</v2/a?p=1>; rel=\"prev\"", base, NULL);
	link_case("</v2/a?p=1>; rel=\"nextpage\"", base, NULL);
	link_case("", base, NULL);
	link_case("garbage", base, NULL);
	link_case("<unterminated; rel=next", base, NULL);
	link_case("<>; rel=next", base, NULL);
}

static void test_url(void **state)
{
	char *u = reg_url_resolve("http://h:1/v2/a/blobs/uploads/x?y", "/v2/b");
	assert_string_equal(u, "http://h:1/v2/b");
	free(u);
	u = reg_url_resolve("https://h/v2/a/blobs/uploads/", "abc?_state=1");
	assert_string_equal(u, "https://h/v2/a/blobs/uploads/abc?_state=1");
	free(u);
	u = reg_url_resolve("https://h/v2/", "//cdn.example/blob");
	assert_string_equal(u, "https://cdn.example/blob");
	free(u);
	u = reg_url_resolve("https://h/v2/", "http://x.example:8/p?q=1");
	assert_string_equal(u, "http://x.example:8/p?q=1");
	free(u);
	assert_null(reg_url_resolve("https://h/v2/", ""));

	u = reg_url_origin("HTTP://Host.Example:5000/v2/x?y");
	assert_string_equal(u, "http://host.example:5000");
	free(u);
	u = reg_url_origin("https://[::1]:5000");
	assert_string_equal(u, "https://[::1]:5000");
	free(u);
	assert_null(reg_url_origin("/v2/only-a-path"));
}

static void test_backoff(void **state)
{
	/* 200 ms doubling, x[0.75, 1.25) jitter, capped at 10 s */
	long want[] = { 200, 400, 800, 1600, 3200, 6400, 10000, 10000, 10000 };
	for (int a = 0; a < 9; a++) {
		assert_int_equal(reg_backoff_ms(a, 250), want[a]); /* factor 1 */
		assert_int_equal(reg_backoff_ms(a, 0), want[a] * 3 / 4);
		assert_int_equal(reg_backoff_ms(a, 499), want[a] * 1249 / 1000);
		assert_int_equal(reg_backoff_ms(a, 500), reg_backoff_ms(a, 0));
	}
	assert_int_equal(reg_backoff_ms(1000, 250), 10000);
	for (int i = 0; i < 100; i++) {
		long v = reg_backoff_ms(2, reg_random());
		assert_true(v >= 600 && v < 1000);
	}

	assert_int_equal(reg_retry_after_ms("5"), 5000);
	assert_int_equal(reg_retry_after_ms(" 0 "), 0);
	assert_int_equal(reg_retry_after_ms("3600"), 60000);
	assert_int_equal(reg_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT"), -1);
	assert_int_equal(reg_retry_after_ms("5s"), -1);
	assert_int_equal(reg_retry_after_ms("-1"), -1);
	assert_int_equal(reg_retry_after_ms(NULL), -1);
	assert_int_equal(reg_retry_after_ms("99999999999999999999999"), -1);
}

static void test_headers(void **state)
{
	const char *block = "HTTP/1.1 200 OK\r\n"
		"Content-Type:  application/json \r\n"
		"docker-content-digest: sha256:abc\r\n"
		"X-Empty:\r\n"
		"Link: </v2/x>; rel=\"next\"\r\n\r\n";
	char *v = reg_header_get(block, strlen(block), "Content-Type");
	assert_string_equal(v, "application/json");
	free(v);
	v = reg_header_get(block, strlen(block), "Docker-Content-Digest");
	assert_string_equal(v, "sha256:abc");
	free(v);
	v = reg_header_get(block, strlen(block), "x-empty");
	assert_string_equal(v, "");
	free(v);
	assert_null(reg_header_get(block, strlen(block), "Location"));
	assert_null(reg_header_get(block, strlen(block), "Content"));
	/* no terminating newline */
	v = reg_header_get("Range: 0-9", 10, "range");
	assert_string_equal(v, "0-9");
	free(v);

	/* the header callback keeps only the last response's headers */
	reg_response resp;
	reg_response_init(&resp);
	const char *lines[] = { "HTTP/1.1 100 Continue\r\n", "\r\n",
		"HTTP/1.1 201 Created\r\n", "Location: /v2/x\r\n", "\r\n" };
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(reg_header_cb((char *)lines[i], 1, strlen(lines[i]), &resp),
			strlen(lines[i]));
	assert_int_equal(resp.status, 201);
	v = reg_response_header(&resp, "location");
	assert_string_equal(v, "/v2/x");
	free(v);
	/* bounded */
	char big[4096];
	memset(big, 'a', sizeof(big));
	size_t taken = 0;
	for (int i = 0; i < 64; i++)
		taken += reg_header_cb(big, 1, sizeof(big), &resp);
	assert_true(taken < 64 * sizeof(big));
	reg_response_release(&resp);
}

static void test_redact(void **state)
{
	const char *in = "GET /v2/ HTTP/1.1\r\n"
		"Host: r.example\r\n"
		"Authorization: Bearer eyJhbGciOi.secret.sig\r\n"
		"authorization: Basic YWxpY2U6cHc=\r\n"
		"Proxy-Authorization: Basic eDp5\r\n"
		"Cookie: session=abc\r\n"
		"Set-Cookie: s=1\r\n"
		"X-Authorization-Hint: keep\r\n"
		"Accept: */*\r\n\r\n";
	char *out = reg_redact_headers(in, strlen(in));
	assert_non_null(out);
	assert_null(strstr(out, "eyJ"));
	assert_null(strstr(out, "YWxp"));
	assert_null(strstr(out, "eDp5"));
	assert_null(strstr(out, "abc"));
	assert_non_null(strstr(out, "Authorization: <redacted>\n"));
	assert_non_null(strstr(out, "authorization: <redacted>\n"));
	assert_non_null(strstr(out, "Proxy-Authorization: <redacted>\n"));
	assert_non_null(strstr(out, "Cookie: <redacted>\n"));
	assert_non_null(strstr(out, "X-Authorization-Hint: keep\r\n"));
	assert_non_null(strstr(out, "Host: r.example\r\n"));
	assert_non_null(strstr(out, "GET /v2/ HTTP/1.1\r\n"));
	free(out);
	out = reg_redact_headers("Authorization: Basic x", 22);
	assert_string_equal(out, "Authorization: <redacted>");
	free(out);
	out = reg_redact_headers("", 0);
	assert_string_equal(out, "");
	free(out);
}

static void test_token_response(void **state)
{
	char *tok = NULL;
	long exp = 0;
	const char *b = "{\"token\":\"abc.def\",\"expires_in\":300}";
	assert_int_equal(reg_parse_token_response(b, strlen(b), &tok, &exp, NULL), 0);
	assert_string_equal(tok, "abc.def");
	assert_int_equal(exp, 300);
	free(tok);
	b = "{\"access_token\":\"xyz\"}";
	assert_int_equal(reg_parse_token_response(b, strlen(b), &tok, &exp, NULL), 0);
	assert_string_equal(tok, "xyz");
	assert_int_equal(exp, 60);
	free(tok);
	b = "{\"token\":\"\",\"access_token\":\"t2\",\"expires_in\":-5}";
	assert_int_equal(reg_parse_token_response(b, strlen(b), &tok, &exp, NULL), 0);
	assert_string_equal(tok, "t2");
	assert_int_equal(exp, 60);
	free(tok);

	const char *bad[] = { "", "[]", "{}", "{\"token\":5}",
		"{\"token\":\"a b\"}", "{\"token\":\"a\\nb\"}", "not json" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		hoist_error *err = NULL;
		tok = NULL;
		int e = reg_parse_token_response(bad[i], strlen(bad[i]), &tok, &exp, &err);
		assert_int_equal(e, -HOIST_E_AUTH);
		assert_null(tok);
		hoist_error_free(err);
	}
}

static void test_client_new(void **state)
{
	hoist_ctx *ctx = NULL;
	hoist_error *err = NULL;
	assert_int_equal(hoist_ctx_new(&ctx, &err), 0);
	hoist_registry *r = NULL;
	assert_int_equal(hoist_registry_new(&r, ctx, "docker.io", &err), 0);
	assert_string_equal(r->host, "registry-1.docker.io");
	assert_string_equal(hoist_registry_domain(r), "docker.io");
	assert_false(r->allow_http);
	assert_int_equal(hoist_registry_requests(r), 0);
	hoist_registry_free(r);

	assert_int_equal(hoist_registry_new(&r, ctx, "localhost:5000", &err), 0);
	assert_true(r->allow_http);
	assert_false(r->insecure);
	hoist_registry_free(r);
	assert_int_equal(hoist_registry_new(&r, ctx, "127.0.0.2", &err), 0);
	assert_true(r->allow_http);
	hoist_registry_free(r);
	assert_int_equal(hoist_registry_new(&r, ctx, "[::1]:5000", &err), 0);
	assert_true(r->allow_http);
	hoist_registry_free(r);

	assert_int_equal(hoist_registry_new(&r, ctx, "reg.example", &err), 0);
	assert_false(r->allow_http);
	hoist_registry_free(r);
	assert_int_equal(hoist_ctx_add_insecure(ctx, "reg.example", &err), 0);
	assert_int_equal(hoist_registry_new(&r, ctx, "reg.example", &err), 0);
	assert_true(r->allow_http);
	assert_true(r->insecure);
	hoist_registry_free(r);

	const char *bad[] = { "", "a/b", "a b", "x@y" };
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(hoist_registry_new(&r, ctx, bad[i], &err), -HOIST_E_INVALID);
		hoist_error_freep(&err);
	}
	hoist_ctx_free(ctx);
}

static void test_unreachable(void **state)
{
	/* nothing listens on port 1: a network error naming the registry,
	 * after the retries */
	hoist_ctx *ctx = NULL;
	hoist_error *err = NULL;
	assert_int_equal(hoist_ctx_new(&ctx, &err), 0);
	hoist_ctx_set_retries(ctx, 1);
	hoist_registry *r = NULL;
	assert_int_equal(hoist_registry_new(&r, ctx, "127.0.0.1:1", &err), 0);
	hoist_buf raw = HOIST_BUF_INIT(1024);
	int e = hoist_registry_get_manifest(r, "app", "1", &raw, NULL, NULL, &err);
	assert_int_equal(e, -HOIST_E_NETWORK);
	assert_non_null(strstr(err->msg, "GET manifest '127.0.0.1:1/app:1'"));
	assert_non_null(strstr(err->msg, "cannot reach registry '127.0.0.1:1'"));
	/* https and http, twice */
	assert_int_equal(hoist_registry_requests(r), 4);
	hoist_error_freep(&err);
	e = hoist_registry_get_manifest(r, "App", "1", &raw, NULL, NULL, &err);
	assert_int_equal(e, -HOIST_E_INVALID);
	assert_string_equal(err->msg, "invalid repository name 'App'");
	hoist_error_freep(&err);
	e = hoist_registry_get_manifest(r, "app", "bad tag", &raw, NULL, NULL, &err);
	assert_int_equal(e, -HOIST_E_INVALID);
	hoist_error_freep(&err);
	hoist_buf_release(&raw);
	hoist_registry_free(r);
	hoist_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scopes),
		cmocka_unit_test(test_error_body),
		cmocka_unit_test(test_status_error),
		cmocka_unit_test(test_link),
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_redact),
		cmocka_unit_test(test_token_response),
		cmocka_unit_test(test_client_new),
		cmocka_unit_test(test_unreachable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

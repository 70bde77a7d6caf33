/* Registry client against a real Debian docker-registry (distribution
 * 2.8) started here on free 127.0.0.1 ports: blobs (streamed and chunked),
 * manifests and indexes, tags and catalog with pagination, mounts, digest
 * checks, Basic auth (htpasswd), token auth (tests/lib/token_server.py),
 * and a connection cut mid-blob by tests/lib/fault_proxy.py.  Skipped
 * (77) when docker-registry is not installed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hoist/auth.h"
#include "hoist/fs.h"
#include "hoist/imgref.h"
#include "hoist/manifest.h"
#include "hoist/media.h"
#include "hoist/registry.h"
#include "hoist/transport.h"
#include "util/cleanup.h"

#define CHECK_OK(expr)                                                         \
	do {                                                                   \
		int r_ = (expr);                                               \
		if (r_ < 0)                                                    \
			fail_msg("%s failed: %d %s", #expr, r_,                \
				err ? err->msg : "(no error)");                \
	} while (0)

typedef struct proc {
	pid_t pid;
	int port;
	char dir[1024];
} proc;

/* The environment shared by the tests (started once). */
static struct {
	char tmp[512];
	char libdir[1024]; /* tests/lib */
	proc plain;
	char plain_host[64];
} env;

/* Test helpers */

static void die(const char *what)
{
	fprintf(stderr, "test setup: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int free_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 ||
		getsockname(s, (struct sockaddr *)&a, &l) < 0)
		die("free port");
	close(s);
	return ntohs(a.sin_port);
}

static bool port_open(int port)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	bool ok = connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(s);
	return ok;
}

static void write_file(const char *path, const char *data)
{
	FILE *f = fopen(path, "w");
	if (!f || fputs(data, f) < 0 || fclose(f) != 0)
		die(path);
}

static char *read_text(const char *path)
{
	hoist_buf b = HOIST_BUF_INIT(16 * 1024 * 1024);
	hoist_error *err = NULL;
	if (hoist_fs_read_file(AT_FDCWD, path, &b, &err) < 0) {
		hoist_error_free(err);
		return strdup("");
	}
	return b.data ? hoist_buf_steal(&b, NULL) : strdup("");
}

static int count_lines(const char *path, const char *needle)
{
	_cleanup_free_ char *s = read_text(path);
	int n = 0;
	for (char *p = s; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static pid_t spawn(char *const argv[], const char *log)
{
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static void stop_proc(proc *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGTERM);
		waitpid(p->pid, NULL, 0);
		p->pid = 0;
	}
}

static void wait_port(proc *p, const char *log)
{
	for (int i = 0; i < 200; i++) {
		if (port_open(p->port))
			return;
		int st;
		if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
			_cleanup_free_ char *l = read_text(log);
			fprintf(stderr, "process exited early:\n%s\n", l);
			exit(1);
		}
		usleep(50000);
	}
	_cleanup_free_ char *l = read_text(log);
	fprintf(stderr, "port %d never opened:\n%s\n", p->port, l);
	exit(1);
}

/* docker-registry with its storage under env.tmp/NAME and `extra` YAML. */
static void start_registry(proc *p, const char *name, const char *extra)
{
	snprintf(p->dir, sizeof(p->dir), "%s/%s", env.tmp, name);
	char data[PATH_MAX + 16], cfg[PATH_MAX + 16], log[PATH_MAX + 16];
	snprintf(data, sizeof(data), "%s/data", p->dir);
	snprintf(cfg, sizeof(cfg), "%s/config.yml", p->dir);
	snprintf(log, sizeof(log), "%s/log", p->dir);
	if (mkdir(p->dir, 0755) < 0 || mkdir(data, 0755) < 0)
		die(p->dir);
	p->port = free_port();
	char *yml = NULL;
	if (asprintf(&yml,
		    "version: 0.1\n"
		    "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
		    "storage:\n  filesystem:\n    rootdirectory: %s\n"
		    "  delete:\n    enabled: true\n"
		    "  maintenance:\n    uploadpurging:\n      enabled: false\n"
		    "http:\n  addr: 127.0.0.1:%d\n%s",
		    data, p->port, extra ? extra : "") < 0)
		die("asprintf");
	write_file(cfg, yml);
	free(yml);
	char *argv[] = { (char *)"docker-registry", (char *)"serve", cfg, NULL };
	p->pid = spawn(argv, log);
	wait_port(p, log);
}

/* python3 tests/lib/SCRIPT args... --port-file F */
static void start_helper(proc *p, const char *name, char **args, size_t n)
{
	snprintf(p->dir, sizeof(p->dir), "%s/%s", env.tmp, name);
	if (mkdir(p->dir, 0755) < 0 && errno != EEXIST)
		die(p->dir);
	char script[PATH_MAX + 32], pf[PATH_MAX + 16], log[PATH_MAX + 16];
	snprintf(script, sizeof(script), "%s/%s.py", env.libdir, name);
	snprintf(pf, sizeof(pf), "%s/port", p->dir);
	snprintf(log, sizeof(log), "%s/stderr", p->dir);
	unlink(pf);
	char *argv[32];
	size_t k = 0;
	argv[k++] = (char *)"python3";
	argv[k++] = script;
	for (size_t i = 0; i < n && k < 28; i++)
		argv[k++] = args[i];
	argv[k++] = (char *)"--port-file";
	argv[k++] = pf;
	argv[k] = NULL;
	p->pid = spawn(argv, log);
	for (int i = 0; i < 200; i++) {
		_cleanup_free_ char *s = read_text(pf);
		if (*s) {
			p->port = (int)strtol(s, NULL, 10);
			wait_port(p, log);
			return;
		}
		usleep(50000);
	}
	_cleanup_free_ char *l = read_text(log);
	fprintf(stderr, "%s did not start:\n%s\n", name, l);
	exit(1);
}

static bool have_program(const char *name)
{
	const char *path = getenv("PATH");
	_cleanup_free_ char *copy = strdup(path ? path : "/usr/bin:/bin");
	char *save = NULL;
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/%s", d, name);
		if (access(p, X_OK) == 0)
			return true;
	}
	return false;
}

static int run(const char *cmd)
{
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* tests/lib of the source tree: next to this file as compiled, or found
 * walking up from the executable. */
static void find_libdir(void)
{
	char p[900];
	snprintf(p, sizeof(p), "%s", __FILE__);
	char *sl = strrchr(p, '/');
	if (sl) {
		*sl = '\0';
		char cand[PATH_MAX + 32];
		snprintf(cand, sizeof(cand), "%s/../lib/fault_proxy.py", p);
		char real[PATH_MAX];
		if (realpath(cand, real) && strlen(real) < 900) {
			*strrchr(real, '/') = '\0';
			snprintf(env.libdir, sizeof(env.libdir), "%.900s", real);
			return;
		}
	}
	char exe[900];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		for (char *s; (s = strrchr(exe, '/'));) {
			*s = '\0';
			char cand[PATH_MAX + 32];
			snprintf(cand, sizeof(cand), "%s/tests/lib/fault_proxy.py", exe);
			if (access(cand, R_OK) == 0) {
				snprintf(env.libdir, sizeof(env.libdir), "%s/tests/lib", exe);
				return;
			}
		}
	}
	fprintf(stderr, "cannot find tests/lib\n");
	exit(1);
}

static hoist_ctx *new_ctx(void)
{
	hoist_ctx *ctx = NULL;
	hoist_error *err = NULL;
	if (hoist_ctx_new(&ctx, &err) < 0)
		fail_msg("ctx: %s", err->msg);
	/* a private, empty credentials file: nothing from the host leaks in */
	char p[PATH_MAX + 32];
	snprintf(p, sizeof(p), "%s/empty-auth.json", env.tmp);
	if (access(p, F_OK) != 0)
		write_file(p, "{}");
	hoist_ctx_set_auth_file(ctx, p, &err);
	hoist_ctx_set_retries(ctx, 3);
	hoist_ctx_set_timeout(ctx, 10);
	return ctx;
}

static hoist_registry *client(hoist_ctx *ctx, const char *host)
{
	hoist_registry *r = NULL;
	hoist_error *err = NULL;
	if (hoist_registry_new(&r, ctx, host, &err) < 0)
		fail_msg("client: %s", err->msg);
	return r;
}

/* Deterministic pseudo-random content. */
static char *make_data(size_t n, unsigned seed)
{
	char *p = malloc(n ? n : 1);
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (char)x;
	}
	return p;
}

static void push_mem(hoist_registry *r, const char *repo, const void *p,
	size_t n, hoist_digest *d)
{
	hoist_error *err = NULL;
	CHECK_OK(hoist_digest_of(d, HOIST_DIGEST_SHA256, p, n, &err));
	hoist_reader *rd = NULL;
	CHECK_OK(hoist_reader_new_mem(&rd, p, n, &err));
	CHECK_OK(hoist_registry_put_blob(r, repo, d, (int64_t)n, rd, NULL, &err));
	hoist_reader_free(rd);
}

static void pull_check(hoist_registry *r, const char *repo,
	const hoist_digest *d, const void *want, size_t n)
{
	hoist_error *err = NULL;
	hoist_reader *rd = NULL;
	CHECK_OK(hoist_registry_open_blob(r, repo, d, (int64_t)n, &rd, &err));
	hoist_buf b = HOIST_BUF_INIT(n + 1);
	CHECK_OK(hoist_reader_read_all(rd, &b, &err));
	assert_int_equal(b.len, n);
	assert_memory_equal(b.data, want, n);
	hoist_buf_release(&b);
	hoist_reader_free(rd);
}

/* Hook that counts requests whose "METHOD URL" contains a needle. */
typedef struct counter {
	const char *needle;
	int n;
	int total;
	int unauthorized; /* 401 answers */
} counter;

static void count_hook(void *ud, const char *method, const char *url,
	long status)
{
	counter *c = ud;
	char line[4096];
	snprintf(line, sizeof(line), "%s %s", method, url);
	c->total++;
	if (status == 401)
		c->unauthorized++;
	if (!c->needle || strstr(line, c->needle))
		c->n++;
}

/* Tests: blobs */

static void test_blob_roundtrip(void **state)
{
	hoist_ctx *ctx = new_ctx();
	hoist_registry *r = client(ctx, env.plain_host);
	hoist_error *err = NULL;
	size_t n = 100 * 1024 + 3;
	_cleanup_free_ char *data = make_data(n, 1);
	hoist_digest d;
	push_mem(r, "hoist/blobs", data, n, &d);

	bool exists = false;
	int64_t size = 0;
	CHECK_OK(hoist_registry_head_blob(r, "hoist/blobs", &d, &exists, &size, &err));
	assert_true(exists);
	assert_int_equal(size, (int64_t)n);
	pull_check(r, "hoist/blobs", &d, data, n);

	/* a reader verifies: a wrong declared digest fails at the end */
	hoist_digest wrong;
	CHECK_OK(hoist_digest_of(&wrong, HOIST_DIGEST_SHA256, "x", 1, &err));
	hoist_reader *rd = NULL;
	int e = hoist_registry_open_blob(r, "hoist/blobs", &wrong, 1, &rd, &err);
	assert_int_equal(e, -HOIST_E_NOTFOUND);
	assert_non_null(strstr(err->msg, "BLOB_UNKNOWN"));
	assert_non_null(strstr(err->msg, env.plain_host));
	assert_non_null(strstr(err->msg, wrong.str));
	hoist_error_freep(&err);

	CHECK_OK(hoist_registry_head_blob(r, "hoist/blobs", &wrong, &exists, NULL, &err));
	assert_false(exists);

	/* wrong size declared: the reader refuses the content */
	CHECK_OK(hoist_registry_open_blob(r, "hoist/blobs", &d, (int64_t)n - 1, &rd, &err));
	hoist_buf b = HOIST_BUF_INIT(2 * n);
	e = hoist_reader_read_all(rd, &b, &err);
	assert_int_equal(e, -HOIST_E_DIGEST);
	hoist_error_freep(&err);
	hoist_buf_release(&b);
	hoist_reader_free(rd);

	hoist_registry_free(r);
	hoist_ctx_free(ctx);
}

static void test_blob_chunked(void **state)
{
	hoist_ctx *ctx = new_ctx();
	hoist_registry *r = client(ctx, env.plain_host);
	hoist_registry_set_chunking(r, 64 * 1024, 16 * 1024);
	counter c = { .needle = "PATCH " };
	hoist_registry_set_hook(r, count_hook, &c);
	size_t n = 200 * 1024 + 17;
	_cleanup_free_ char *data = make_data(n, 2);
	hoist_digest d;
	push_mem(r, "hoist/chunked", data, n, &d);
	assert_int_equal(c.n, (int)((n + 16 * 1024 - 1) / (16 * 1024)));
	pull_check(r, "hoist/chunked", &d, data, n);

	/* exactly a multiple of the chunk size */
	size_t m = 128 * 1024;
	_cleanup_free_ char *d2 = make_data(m, 3);
	c.n = 0;
	push_mem(r, "hoist/chunked", d2, m, &d);
	assert_int_equal(c.n, 8);
	pull_check(r, "hoist/chunked", &d, d2, m);
	hoist_registry_free(r);
	hoist_ctx_free(ctx);
}

static void test_blob_mismatch(void **state)
{
	hoist_ctx *ctx = new_ctx();
	hoist_registry *r = client(ctx, env.plain_host);
	hoist_error *err = NULL;
	const char *content = "the real content";
	hoist_digest claimed;
	CHECK_OK(hoist_digest_of(&claimed, HOIST_DIGEST_SHA256, "other", 5, &err));
	for (int chunked = 0; chunked < 2; chunked++) {
		if (chunked)
			hoist_registry_set_chunking(r, 4, 1024);
		hoist_reader *rd = NULL;
		CHECK_OK(hoist_reader_new_mem(&rd, content, strlen(content), &err));
		int e = hoist_registry_put_blob(r, "hoist/bad", &claimed,
			(int64_t)strlen(content), rd, NULL, &err);
		hoist_reader_free(rd);
		assert_int_equal(e, -HOIST_E_DIGEST);
		assert_non_null(strstr(err->msg, claimed.str));
		assert_non_null(strstr(err->msg, "hoist/bad"));
		hoist_error_freep(&err);
		bool exists = true;
		CHECK_OK(hoist_registry_head_blob(r, "hoist/bad", &claimed, &exists, NULL, &err));
		assert_false(exists);
	}
	hoist_registry_free(r);

	/* content damaged on the way: the registry's DIGEST_INVALID is a
	 * digest error naming the blob */
	proc px = { 0 };
	char target[64], log[PATH_MAX + 16], host[64];
	snprintf(target, sizeof(target), "127.0.0.1:%d", env.plain.port);
	snprintf(log, sizeof(log), "%s/fault_proxy/requests-corrupt", env.tmp);
	char *args[] = { (char *)"--target", target, (char *)"--log", log,
		(char *)"--corrupt-match", (char *)"PUT /v2/hoist/bad/blobs/uploads/" };
	start_helper(&px, "fault_proxy", args, HOIST_ARRAY_SIZE(args));
	snprintf(host, sizeof(host), "127.0.0.1:%d", px.port);
	r = client(ctx, host);
	hoist_digest real;
	CHECK_OK(hoist_digest_of(&real, HOIST_DIGEST_SHA256, content, strlen(content), &err));
	hoist_reader *rd = NULL;
	CHECK_OK(hoist_reader_new_mem(&rd, content, strlen(content), &err));
	int e = hoist_registry_put_blob(r, "hoist/bad", &real,
		(int64_t)strlen(content), rd, NULL, &err);
	hoist_reader_free(rd);
	assert_int_equal(count_lines(log, "CORRUPTED PUT"), 1);
	assert_int_equal(e, -HOIST_E_DIGEST);
	char want[512];
	snprintf(want, sizeof(want), "PUT blob '%s/hoist/bad@%s': 400 DIGEST_INVALID: ",
		host, real.str);
	assert_non_null(strstr(err->msg, want));
	hoist_error_freep(&err);
	bool exists = true;
	CHECK_OK(hoist_registry_head_blob(r, "hoist/bad", &real, &exists, NULL, &err));
	assert_false(exists);
	stop_proc(&px);
	hoist_registry_free(r);
	hoist_ctx_free(ctx);
}

/* Tests: manifests */

static char *image_manifest(hoist_registry *r, const char *repo, unsigned seed,
	const char *arch)
{
	hoist_error *err = NULL;
	_cleanup_free_ char *layer = make_data(4096, seed);
	hoist_digest ld, cd;
	push_mem(r, repo, layer, 4096, &ld);
	char cfg[256];
	snprintf(cfg, sizeof(cfg),
		"{\"architecture\":\"%s\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"seed\":%u}",
		arch, seed);
	push_mem(r, repo, cfg, strlen(cfg), &cd);
	char *m = NULL;
	if (asprintf(&m,
		    "{\"schemaVersion\":2,\"mediaType\":\"" HOIST_MT_OCI_MANIFEST "\","
		    "\"config\":{\"mediaType\":\"" HOIST_MT_OCI_CONFIG "\",\"digest\":\"%s\",\"size\":%zu},"
		    "\"layers\":[{\"mediaType\":\"" HOIST_MT_OCI_LAYER_GZIP "\",\"digest\":\"%s\",\"size\":4096}]}",
		    cd.str, strlen(cfg), ld.str) < 0)
		fail();
	(void)err;
	return m;
}

static void test_manifest_roundtrip(void **state)
{
	hoist_ctx *ctx = new_ctx();
	hoist_registry *r = client(ctx, env.plain_host);
	hoist_error *err = NULL;
	_cleanup_free_ char *m = image_manifest(r, "hoist/man", 10, "amd64");
	hoist_digest put_d, get_d, head_d;
	CHECK_OK(hoist_registry_put_manifest(r, "hoist/man", "v1",
		HOIST_MT_OCI_MANIFEST, m, strlen(m), &put_d, &err));

	hoist_buf raw = HOIST_BUF_INIT(HOIST_MANIFEST_MAX);
	_cleanup_free_ char *mt = NULL;
	CHECK_OK(hoist_registry_get_manifest(r, "hoist/man", "v1", &raw, &mt, &get_d, &err));
	assert_int_equal(raw.len, strlen(m));
	assert_memory_equal(raw.data, m, raw.len);
	assert_string_equal(mt, HOIST_MT_OCI_MANIFEST);
	assert_string_equal(get_d.str, put_d.str);
	hoist_buf_release(&raw);

	bool exists = false;
	int64_t size = 0;
	_cleanup_free_ char *hmt = NULL;
	CHECK_OK(hoist_registry_head_manifest(r, "hoist/man", "v1", &exists, &head_d, &hmt, &size, &err));
	assert_true(exists);
	assert_string_equal(head_d.str, put_d.str);
	assert_int_equal(size, (int64_t)strlen(m));
	assert_string_equal(hmt, HOIST_MT_OCI_MANIFEST);

	/* by digest */
	CHECK_OK(hoist_registry_get_manifest(r, "hoist/man", put_d.str, &raw, NULL, NULL, &err));
	assert_memory_equal(raw.data, m, raw.len);
	hoist_buf_release(&raw);
	CHECK_OK(hoist_registry_put_manifest(r, "hoist/man", put_d.str,
		HOIST_MT_OCI_MANIFEST, m, strlen(m), NULL, &err));

	/* putting bytes under a digest they do not have is refused here */
	hoist_digest other;
	CHECK_OK(hoist_digest_of(&other, HOIST_DIGEST_SHA256, "x", 1, &err));
	int e = hoist_registry_put_manifest(r, "hoist/man", other.str,
		HOIST_MT_OCI_MANIFEST, m, strlen(m), NULL, &err);
	assert_int_equal(e, -HOIST_E_DIGEST);
	hoist_error_freep(&err);

	/* a manifest naming a missing blob is refused by the registry */
	const char *bad = "{\"schemaVersion\":2,\"mediaType\":\"" HOIST_MT_OCI_MANIFEST "\","
		"\"config\":{\"mediaType\":\"" HOIST_MT_OCI_CONFIG "\",\"digest\":\"sha256:0000000000000000000000000000000000000000000000000000000000000000\",\"size\":2},"
		"\"layers\":[]}";
	e = hoist_registry_put_manifest(r, "hoist/man", "bad", HOIST_MT_OCI_MANIFEST,
		bad, strlen(bad), NULL, &err);
	assert_true(e < 0);
	assert_non_null(strstr(err->msg, "PUT manifest '"));
	assert_non_null(strstr(err->msg, "/hoist/man:bad': 400 MANIFEST_BLOB_UNKNOWN"));
	hoist_error_freep(&err);

	/* delete by digest: the tag goes too */
	CHECK_OK(hoist_registry_delete_manifest(r, "hoist/man", &put_d, &err));
	e = hoist_registry_get_manifest(r, "hoist/man", "v1", &raw, NULL, NULL, &err);
	assert_int_equal(e, -HOIST_E_NOTFOUND);
	char want[256];
	snprintf(want, sizeof(want), "GET manifest '%s/hoist/man:v1': 404 MANIFEST_UNKNOWN: manifest unknown",
		env.plain_host);
	assert_string_equal(err->msg, want);
	hoist_error_freep(&err);
	CHECK_OK(hoist_registry_head_manifest(r, "hoist/man", put_d.str, &exists, NULL, NULL, NULL, &err));
	assert_false(exists);
	hoist_buf_release(&raw);
	hoist_registry_free(r);
	hoist_ctx_free(ctx);
}

static void test_index(void **state)
{
	hoist_ctx *ctx = new_ctx();
	hoist_registry *r = client(ctx, env.plain_host);
	hoist_error *err = NULL;
	_cleanup_free_ char *a = image_manifest(r, "hoist/idx", 20, "amd64");
	_cleanup_free_ char *b = image_manifest(r, "hoist/idx", 21, "arm64");
	hoist_digest da, db, di;
	CHECK_OK(hoist_registry_put_manifest(r, "hoist/idx", NULL == a ? "" : "tmp-a",
		HOIST_MT_OCI_MANIFEST, a, strlen(a), &da, &err));
	CHECK_OK(hoist_digest_of(&db, HOIST_DIGEST_SHA256, b, strlen(b), &err));
	CHECK_OK(hoist_registry_put_manifest(r, "hoist/idx", db.str,
		HOIST_MT_OCI_MANIFEST, b, strlen(b), NULL, &err));
	_cleanup_free_ char *idx = NULL;
	assert_true(asprintf(&idx,
		"{\"schemaVersion\":2,\"mediaType\":\"" HOIST_MT_OCI_INDEX "\",\"manifests\":["
		"{\"mediaType\":\"" HOIST_MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
		"{\"mediaType\":\"" HOIST_MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}}]}",
		da.str, strlen(a), db.str, strlen(b)) > 0);
	CHECK_OK(hoist_registry_put_manifest(r, "hoist/idx", "multi",
		HOIST_MT_OCI_INDEX, idx, strlen(idx), &di, &err));
	hoist_buf raw = HOIST_BUF_INIT(HOIST_MANIFEST_MAX);
	_cleanup_free_ char *mt = NULL;
	CHECK_OK(hoist_registry_get_manifest(r, "hoist/idx", "multi", &raw, &mt, NULL, &err));
	assert_string_equal(mt, HOIST_MT_OCI_INDEX);
	hoist_manifest *m = NULL;
	CHECK_OK(hoist_manifest_parse(&m, raw.data, raw.len, mt, &err));
	assert_int_equal(m->kind, HOIST_MEDIA_INDEX);
	assert_int_equal(m->n_manifests, 2);
	assert_string_equal(m->digest.str, di.str);
	for (size_t i = 0; i < 2; i++) {
		hoist_buf child = HOIST_BUF_INIT(HOIST_MANIFEST_MAX);
		CHECK_OK(hoist_registry_get_manifest(r, "hoist/idx",
			m->manifests[i].digest.str, &child, NULL, NULL, &err));
		assert_int_equal(child.len, (size_t)m->manifests[i].size);
		hoist_buf_release(&child);
	}
	hoist_manifest_free(m);
	hoist_buf_release(&raw);
	hoist_registry_free(r);
	hoist_ctx_free(ctx);
}

/* Tests: listing */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_tags_and_catalog(void **state)
{
	hoist_ctx *ctx = new_ctx();
	hoist_registry *r = client(ctx, env.plain_host);
	hoist_error *err = NULL;
	_cleanup_free_ char *m = image_manifest(r, "hoist/tags", 30, "amd64");
	const char *tags[] = { "a", "b", "c", "d", "e" };
	for (size_t i = 0; i < 5; i++)
		CHECK_OK(hoist_registry_put_manifest(r, "hoist/tags", tags[i],
			HOIST_MT_OCI_MANIFEST, m, strlen(m), NULL, &err));
	hoist_registry_set_page_size(r, 2);
	counter c = { .needle = "/tags/list" };
	hoist_registry_set_hook(r, count_hook, &c);
	char **v = NULL;
	size_t n = 0;
	CHECK_OK(hoist_registry_list_tags(r, "hoist/tags", &v, &n, &err));
	assert_int_equal(n, 5);
	/* distribution 2.8 neither sorts tags nor pages them (it ignores
	 * n=); Link handling is covered by test_http and the catalog below */
	qsort(v, n, sizeof(*v), cmp_str);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(v[i], tags[i]);
	assert_true(c.n >= 1);
	hoist_registry_strv_free(v, n);

	int e = hoist_registry_list_tags(r, "hoist/none", &v, &n, &err);
	assert_int_equal(e, -HOIST_E_NOTFOUND);
	assert_non_null(strstr(err->msg, "NAME_UNKNOWN"));
	hoist_error_freep(&err);

	c = (counter){ .needle = "/_catalog" };
	hoist_registry_set_page_size(r, 1);
	CHECK_OK(hoist_registry_catalog(r, &v, &n, &err));
	bool found = false;
	for (size_t i = 0; i < n; i++)
		found |= !strcmp(v[i], "hoist/tags");
	assert_true(found);
	assert_true(n >= 2);
	/* one repository per page, and a last page that ends the walk */
	assert_true(c.n >= (int)n);
	for (size_t i = 1; i < n; i++)
		assert_true(strcmp(v[i - 1], v[i]) < 0);
	hoist_registry_strv_free(v, n);
	hoist_registry_free(r);
	hoist_ctx_free(ctx);
}

/* Tests: mount */

static void test_mount(void **state)
{
	hoist_ctx *ctx = new_ctx();
	hoist_registry *r = client(ctx, env.plain_host);
	hoist_error *err = NULL;
	_cleanup_free_ char *data = make_data(5000, 40);
	hoist_digest d;
	push_mem(r, "hoist/mount-src", data, 5000, &d);
	bool mounted = false, exists = false;
	char *session = NULL;
	CHECK_OK(hoist_registry_mount_blob(r, "hoist/mount-dst", &d, "hoist/mount-src",
		&mounted, &session, &err));
	assert_true(mounted);
	assert_null(session);
	CHECK_OK(hoist_registry_head_blob(r, "hoist/mount-dst", &d, &exists, NULL, &err));
	assert_true(exists);

	/* declined (the source has no such blob): upload in that session */
	_cleanup_free_ char *other = make_data(3000, 41);
	hoist_digest od;
	CHECK_OK(hoist_digest_of(&od, HOIST_DIGEST_SHA256, other, 3000, &err));
	CHECK_OK(hoist_registry_mount_blob(r, "hoist/mount-dst", &od, "hoist/mount-src",
		&mounted, &session, &err));
	assert_false(mounted);
	assert_non_null(session);
	hoist_reader *rd = NULL;
	CHECK_OK(hoist_reader_new_mem(&rd, other, 3000, &err));
	counter c = { .needle = "POST " };
	hoist_registry_set_hook(r, count_hook, &c);
	CHECK_OK(hoist_registry_put_blob(r, "hoist/mount-dst", &od, 3000, rd, session, &err));
	assert_int_equal(c.n, 0); /* no new session was opened */
	hoist_reader_free(rd);
	free(session);
	pull_check(r, "hoist/mount-dst", &od, other, 3000);
	hoist_registry_free(r);
	hoist_ctx_free(ctx);
}

/* Tests: the transport */

static void test_transport(void **state)
{
	hoist_ctx *ctx = new_ctx();
	hoist_error *err = NULL;
	hoist_registry *r = client(ctx, env.plain_host);
	_cleanup_free_ char *m = image_manifest(r, "hoist/src", 50, "amd64");
	CHECK_OK(hoist_registry_put_manifest(r, "hoist/src", "1",
		HOIST_MT_OCI_MANIFEST, m, strlen(m), NULL, &err));
	hoist_registry_free(r);

	char name[256];
	snprintf(name, sizeof(name), "%s/hoist/src:1", env.plain_host);
	hoist_imgref *ir = NULL;
	CHECK_OK(hoist_imgref_parse(&ir, name, &err));
	hoist_source *src = NULL;
	CHECK_OK(hoist_registry_source_open(ctx, ir, &src, &err));
	snprintf(name, sizeof(name), "%s/hoist/dst:2", env.plain_host);
	CHECK_OK(hoist_imgref_parse(&ir, name, &err));
	hoist_dest *dst = NULL;
	CHECK_OK(hoist_registry_dest_open(ctx, ir, &dst, &err));

	hoist_buf raw = HOIST_BUF_INIT(HOIST_MANIFEST_MAX);
	_cleanup_free_ char *mt = NULL;
	CHECK_OK(src->ops->get_manifest(src, NULL, &raw, &mt, &err));
	hoist_manifest *man = NULL;
	CHECK_OK(hoist_manifest_parse(&man, raw.data, raw.len, mt, &err));
	hoist_buf_release(&raw);

	bool have = true;
	CHECK_OK(dst->ops->has_manifest(dst, &man->digest, &have, &err));
	assert_false(have);
	const hoist_descriptor *descs[2] = { &man->config, &man->layers[0] };
	for (int i = 0; i < 2; i++) {
		CHECK_OK(dst->ops->has_blob(dst, descs[i], &have, &err));
		assert_false(have);
		if (i == 1) {
			/* mount from the source repository */
			bool mounted = false;
			CHECK_OK(dst->ops->mount_blob(dst, descs[i], src->ref, &mounted, &err));
			assert_true(mounted);
			continue;
		}
		hoist_reader *rd = NULL;
		CHECK_OK(src->ops->open_blob(src, descs[i], &rd, &err));
		CHECK_OK(dst->ops->put_blob(dst, descs[i], rd, &err));
		hoist_reader_free(rd);
		CHECK_OK(dst->ops->has_blob(dst, descs[i], &have, &err));
		assert_true(have);
	}
	CHECK_OK(dst->ops->put_manifest(dst, man, true, &err));
	CHECK_OK(dst->ops->commit(dst, &err));
	CHECK_OK(dst->ops->has_manifest(dst, &man->digest, &have, &err));
	assert_true(have);

	char **tags = NULL;
	size_t n = 0;
	CHECK_OK(src->ops->list_tags(src, &tags, &n, &err));
	assert_int_equal(n, 1);
	assert_string_equal(tags[0], "1");
	hoist_registry_strv_free(tags, n);

	/* resolve / retag / delete by reference */
	hoist_ref *ref = NULL;
	snprintf(name, sizeof(name), "%s/hoist/dst:2", env.plain_host);
	CHECK_OK(hoist_ref_parse(&ref, name, &err));
	hoist_digest d;
	_cleanup_free_ char *rmt = NULL;
	CHECK_OK(hoist_registry_resolve(ctx, ref, &d, &rmt, &err));
	assert_string_equal(d.str, man->digest.str);
	assert_string_equal(rmt, HOIST_MT_OCI_MANIFEST);
	CHECK_OK(hoist_registry_retag(ctx, ref, "3", &err));
	hoist_ref_free(ref);
	snprintf(name, sizeof(name), "%s/hoist/dst:3", env.plain_host);
	CHECK_OK(hoist_ref_parse(&ref, name, &err));
	CHECK_OK(hoist_registry_resolve(ctx, ref, &d, NULL, &err));
	assert_string_equal(d.str, man->digest.str);
	CHECK_OK(hoist_registry_delete(ctx, ref, &err));
	int e = hoist_registry_resolve(ctx, ref, &d, NULL, &err);
	assert_int_equal(e, -HOIST_E_NOTFOUND);
	hoist_error_freep(&err);
	hoist_ref_free(ref);

	hoist_manifest_free(man);
	hoist_source_free(src);
	hoist_dest_free(dst);
	hoist_ctx_free(ctx);
}

/* Tests: faults */

static void test_cut_mid_blob(void **state)
{
	hoist_ctx *ctx = new_ctx();
	hoist_registry *r = client(ctx, env.plain_host);
	size_t n = 1024 * 1024 + 5;
	_cleanup_free_ char *data = make_data(n, 60);
	hoist_digest d;
	push_mem(r, "hoist/cut", data, n, &d);
	hoist_registry_free(r);

	proc px = { 0 };
	char target[64], log[PATH_MAX + 16];
	snprintf(target, sizeof(target), "127.0.0.1:%d", env.plain.port);
	snprintf(log, sizeof(log), "%s/fault_proxy/requests", env.tmp);
	char *args[] = { (char *)"--target", target, (char *)"--log", log,
		(char *)"--cut-match", (char *)"GET /v2/hoist/cut/blobs/",
		(char *)"--cut-after", (char *)"300000" };
	start_helper(&px, "fault_proxy", args, HOIST_ARRAY_SIZE(args));
	char host[64];
	snprintf(host, sizeof(host), "127.0.0.1:%d", px.port);
	r = client(ctx, host);
	pull_check(r, "hoist/cut", &d, data, n);
	stop_proc(&px);
	assert_int_equal(count_lines(log, "CUT after"), 1);
	char needle[256];
	snprintf(needle, sizeof(needle), "GET /v2/hoist/cut/blobs/%s", d.str);
	assert_int_equal(count_lines(log, needle), 2);
	/* the second request resumed where the first stopped */
	assert_int_equal(count_lines(log, " range=bytes="), 1);
	hoist_registry_free(r);

	/* a server that ignores Range: the restart skips what we have */
	char log2[PATH_MAX + 16];
	snprintf(log2, sizeof(log2), "%s/fault_proxy/requests-norange", env.tmp);
	char *args2[] = { (char *)"--target", target, (char *)"--log", log2,
		(char *)"--cut-match", (char *)"GET /v2/hoist/cut/blobs/",
		(char *)"--cut-after", (char *)"500000", (char *)"--strip-range" };
	start_helper(&px, "fault_proxy", args2, HOIST_ARRAY_SIZE(args2));
	snprintf(host, sizeof(host), "127.0.0.1:%d", px.port);
	r = client(ctx, host);
	pull_check(r, "hoist/cut", &d, data, n);
	stop_proc(&px);
	assert_int_equal(count_lines(log2, "CUT after"), 1);
	assert_int_equal(count_lines(log2, needle), 2);
	hoist_registry_free(r);

	/* cut every time: the reader gives up with a network error */
	hoist_ctx_set_retries(ctx, 1);
	char log3[PATH_MAX + 16];
	snprintf(log3, sizeof(log3), "%s/fault_proxy/requests-always", env.tmp);
	char *args3[] = { (char *)"--target", target, (char *)"--log", log3,
		(char *)"--cut-match", (char *)"GET /v2/hoist/cut/blobs/",
		(char *)"--cut-after", (char *)"200000", (char *)"--cut-times",
		(char *)"100" };
	start_helper(&px, "fault_proxy", args3, HOIST_ARRAY_SIZE(args3));
	snprintf(host, sizeof(host), "127.0.0.1:%d", px.port);
	r = client(ctx, host);
	hoist_error *err = NULL;
	hoist_reader *rd = NULL;
	CHECK_OK(hoist_registry_open_blob(r, "hoist/cut", &d, (int64_t)n, &rd, &err));
	hoist_buf b = HOIST_BUF_INIT(2 * n);
	int e = hoist_reader_read_all(rd, &b, &err);
	assert_int_equal(e, -HOIST_E_NETWORK);
	assert_non_null(strstr(err->msg, d.str));
	hoist_error_freep(&err);
	hoist_buf_release(&b);
	hoist_reader_free(rd);
	stop_proc(&px);
	assert_int_equal(count_lines(log3, needle), 2);
	hoist_registry_free(r);
	hoist_ctx_free(ctx);
}

static void test_retry_5xx(void **state)
{
	hoist_ctx *ctx = new_ctx();
	hoist_error *err = NULL;
	hoist_registry *r = client(ctx, env.plain_host);
	_cleanup_free_ char *m = image_manifest(r, "hoist/retry", 70, "amd64");
	CHECK_OK(hoist_registry_put_manifest(r, "hoist/retry", "1",
		HOIST_MT_OCI_MANIFEST, m, strlen(m), NULL, &err));
	hoist_registry_free(r);

	proc px = { 0 };
	char target[64], log[PATH_MAX + 16];
	snprintf(target, sizeof(target), "127.0.0.1:%d", env.plain.port);
	snprintf(log, sizeof(log), "%s/fault_proxy/requests-5xx", env.tmp);
	char *args[] = { (char *)"--target", target, (char *)"--log", log,
		(char *)"--fail-match", (char *)"GET /v2/hoist/retry/manifests/1",
		(char *)"--fail-status", (char *)"503", (char *)"--fail-times",
		(char *)"2" };
	start_helper(&px, "fault_proxy", args, HOIST_ARRAY_SIZE(args));
	char host[64];
	snprintf(host, sizeof(host), "127.0.0.1:%d", px.port);
	r = client(ctx, host);
	hoist_buf raw = HOIST_BUF_INIT(HOIST_MANIFEST_MAX);
	CHECK_OK(hoist_registry_get_manifest(r, "hoist/retry", "1", &raw, NULL, NULL, &err));
	assert_memory_equal(raw.data, m, raw.len);
	hoist_buf_release(&raw);
	assert_int_equal(count_lines(log, "GET /v2/hoist/retry/manifests/1"), 3);
	hoist_registry_free(r);

	/* more failures than retries: the registry's status is reported */
	hoist_ctx_set_retries(ctx, 0);
	r = client(ctx, host);
	stop_proc(&px);
	char *args2[] = { (char *)"--target", target, (char *)"--log", log,
		(char *)"--fail-match", (char *)"GET /v2/hoist/retry/manifests/1",
		(char *)"--fail-status", (char *)"502" };
	start_helper(&px, "fault_proxy", args2, HOIST_ARRAY_SIZE(args2));
	hoist_registry_free(r);
	snprintf(host, sizeof(host), "127.0.0.1:%d", px.port);
	r = client(ctx, host);
	int e = hoist_registry_get_manifest(r, "hoist/retry", "1", &raw, NULL, NULL, &err);
	assert_int_equal(e, -HOIST_E_REGISTRY);
	assert_non_null(strstr(err->msg, "502"));
	hoist_error_freep(&err);
	hoist_buf_release(&raw);
	stop_proc(&px);
	hoist_registry_free(r);
	hoist_ctx_free(ctx);
}



/* Log capture (the debug log must never show a secret). */
typedef struct logcap {
	pthread_mutex_t lock;
	hoist_buf b;
} logcap;

static void log_to_buf(void *ud, int level, const char *msg)
{
	logcap *c = ud;
	pthread_mutex_lock(&c->lock);
	hoist_buf_appendf(&c->b, NULL, "%s\n", msg);
	pthread_mutex_unlock(&c->lock);
}

typedef struct par_job {
	hoist_registry *r;
	int idx;
	int failed;
} par_job;

static void *par_worker(void *arg)
{
	par_job *j = arg;
	hoist_error *err = NULL;
	size_t n = 50000 + (size_t)j->idx * 1000;
	char *data = make_data(n, 200 + (unsigned)j->idx);
	hoist_digest d;
	hoist_reader *rd = NULL;
	hoist_digest_of(&d, HOIST_DIGEST_SHA256, data, n, &err);
	if (hoist_reader_new_mem(&rd, data, n, &err) < 0 ||
		hoist_registry_put_blob(j->r, "hoist/par", &d, (int64_t)n, rd, NULL, &err) < 0)
		j->failed = 1;
	hoist_reader_free(rd);
	rd = NULL;
	hoist_buf b = HOIST_BUF_INIT(n + 1);
	if (!j->failed &&
		(hoist_registry_open_blob(j->r, "hoist/par", &d, (int64_t)n, &rd, &err) < 0 ||
			hoist_reader_read_all(rd, &b, &err) < 0 || b.len != n ||
			memcmp(b.data, data, n)))
		j->failed = 2;
	if (err)
		fprintf(stderr, "worker %d: %s\n", j->idx, err->msg);
	hoist_error_free(err);
	hoist_reader_free(rd);
	hoist_buf_release(&b);
	free(data);
	return NULL;
}

static void test_chunk_resume(void **state)
{
	hoist_ctx *ctx = new_ctx();
	hoist_error *err = NULL;
	proc px = { 0 };
	char target[64], log[PATH_MAX + 16], host[64];
	snprintf(target, sizeof(target), "127.0.0.1:%d", env.plain.port);

	/* a chunk refused with 500: the registry holds what it had, the
	 * client asks where to go on and sends the chunk again */
	snprintf(log, sizeof(log), "%s/fault_proxy/requests-patch", env.tmp);
	char *args[] = { (char *)"--target", target, (char *)"--log", log,
		(char *)"--fail-match", (char *)"PATCH /v2/hoist/resume/",
		(char *)"--fail-status", (char *)"500" };
	start_helper(&px, "fault_proxy", args, HOIST_ARRAY_SIZE(args));
	snprintf(host, sizeof(host), "127.0.0.1:%d", px.port);
	hoist_registry *r = client(ctx, host);
	hoist_registry_set_chunking(r, 64 * 1024, 16 * 1024);
	size_t n = 100 * 1024;
	_cleanup_free_ char *data = make_data(n, 100);
	hoist_digest d;
	push_mem(r, "hoist/resume", data, n, &d);
	stop_proc(&px);
	assert_int_equal(count_lines(log, "PATCH /v2/hoist/resume/blobs/uploads/"), 7 + 1);
	assert_int_equal(count_lines(log, "GET /v2/hoist/resume/blobs/uploads/"), 1);
	hoist_registry_free(r);
	r = client(ctx, env.plain_host);
	pull_check(r, "hoist/resume", &d, data, n);
	hoist_registry_free(r);

	/* a chunk whose answer is lost after the registry took it: the
	 * session may be gone (distribution cancels sessions whose state
	 * token went stale); then the error is a network error, which the
	 * copier answers by uploading the blob again */
	snprintf(log, sizeof(log), "%s/fault_proxy/requests-patch-cut", env.tmp);
	char *args2[] = { (char *)"--target", target, (char *)"--log", log,
		(char *)"--cut-match", (char *)"PATCH /v2/hoist/resume2/",
		(char *)"--cut-after", (char *)"0" };
	start_helper(&px, "fault_proxy", args2, HOIST_ARRAY_SIZE(args2));
	snprintf(host, sizeof(host), "127.0.0.1:%d", px.port);
	r = client(ctx, host);
	hoist_registry_set_chunking(r, 64 * 1024, 16 * 1024);
	hoist_reader *rd = NULL;
	CHECK_OK(hoist_reader_new_mem(&rd, data, n, &err));
	int e = hoist_registry_put_blob(r, "hoist/resume2", &d, (int64_t)n, rd, NULL, &err);
	hoist_reader_free(rd);
	if (e < 0) {
		assert_int_equal(e, -HOIST_E_NETWORK);
		assert_non_null(strstr(err->msg, "resume upload of blob"));
		hoist_error_freep(&err);
		CHECK_OK(hoist_reader_new_mem(&rd, data, n, &err));
		CHECK_OK(hoist_registry_put_blob(r, "hoist/resume2", &d, (int64_t)n, rd, NULL, &err));
		hoist_reader_free(rd);
	}
	stop_proc(&px);
	hoist_registry_free(r);
	r = client(ctx, env.plain_host);
	pull_check(r, "hoist/resume2", &d, data, n);
	hoist_registry_free(r);
	hoist_ctx_free(ctx);
}

static void test_tls(void **state)
{
	if (!have_program("openssl")) {
		skip();
		return;
	}
	char key[PATH_MAX + 16], cert[PATH_MAX + 16], cmd[PATH_MAX * 3];
	snprintf(key, sizeof(key), "%s/tls-key.pem", env.tmp);
	snprintf(cert, sizeof(cert), "%s/tls-cert.pem", env.tmp);
	snprintf(cmd, sizeof(cmd),
		"openssl req -x509 -newkey rsa:2048 -nodes -keyout '%s' -out '%s' -days 2 "
		"-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null",
		key, cert);
	assert_int_equal(run(cmd), 0);
	char extra[PATH_MAX * 3];
	snprintf(extra, sizeof(extra), "  tls:\n    certificate: %s\n    key: %s\n",
		cert, key);
	proc reg = { 0 };
	start_registry(&reg, "tls", extra);
	char host[64];
	snprintf(host, sizeof(host), "127.0.0.1:%d", reg.port);
	hoist_error *err = NULL;

	/* trusted through the CA file: HTTPS all the way */
	hoist_ctx *ctx = new_ctx();
	CHECK_OK(hoist_ctx_set_ca_file(ctx, cert, &err));
	hoist_registry *r = client(ctx, host);
	counter c = { .needle = "http://" };
	hoist_registry_set_hook(r, count_hook, &c);
	_cleanup_free_ char *data = make_data(7000, 110);
	hoist_digest d;
	push_mem(r, "hoist/tls", data, 7000, &d);
	pull_check(r, "hoist/tls", &d, data, 7000);
	assert_int_equal(c.n, 0);
	assert_true(c.total >= 4);
	hoist_registry_free(r);
	hoist_ctx_free(ctx);

	/* untrusted: a TLS error, no plain-HTTP retry */
	ctx = new_ctx();
	r = client(ctx, host);
	c = (counter){ .needle = "http://" };
	hoist_registry_set_hook(r, count_hook, &c);
	bool exists = false;
	int e = hoist_registry_head_blob(r, "hoist/tls", &d, &exists, NULL, &err);
	assert_int_equal(e, -HOIST_E_NETWORK);
	assert_non_null(strstr(err->msg, "certificate"));
	assert_int_equal(c.n, 0);
	hoist_error_freep(&err);
	hoist_registry_free(r);

	/* marked insecure: no verification */
	CHECK_OK(hoist_ctx_add_insecure(ctx, host, &err));
	r = client(ctx, host);
	CHECK_OK(hoist_registry_head_blob(r, "hoist/tls", &d, &exists, NULL, &err));
	assert_true(exists);
	hoist_registry_free(r);
	hoist_ctx_free(ctx);
	stop_proc(&reg);
}

/* Tests: authentication */

static void b64(const char *in, char *out, size_t cap)
{
	static const char t[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(in), o = 0;
	for (size_t i = 0; i < n && o + 5 < cap; i += 3) {
		unsigned v = (unsigned char)in[i] << 16;
		if (i + 1 < n)
			v |= (unsigned char)in[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)in[i + 2];
		out[o++] = t[(v >> 18) & 63];
		out[o++] = t[(v >> 12) & 63];
		out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? t[v & 63] : '=';
	}
	out[o] = '\0';
}

/* A ctx whose credentials file holds `entry` for host. */
static hoist_ctx *ctx_with_auth(const char *name, const char *host,
	const char *entry)
{
	hoist_ctx *ctx = new_ctx();
	hoist_error *err = NULL;
	char p[PATH_MAX], json[2048];
	snprintf(p, sizeof(p), "%s/%s.json", env.tmp, name);
	snprintf(json, sizeof(json), "{\"auths\":{\"%s\":%s}}", host, entry);
	write_file(p, json);
	CHECK_OK(hoist_ctx_set_auth_file(ctx, p, &err));
	return ctx;
}

static hoist_ctx *ctx_with_password(const char *name, const char *host,
	const char *user, const char *pass)
{
	char up[256], enc[512], entry[600];
	snprintf(up, sizeof(up), "%s:%s", user, pass);
	b64(up, enc, sizeof(enc));
	snprintf(entry, sizeof(entry), "{\"auth\":\"%s\"}", enc);
	return ctx_with_auth(name, host, entry);
}

static void assert_no_secret(const char *msg, const char *secret)
{
	const char *at = strstr(msg, secret);
	if (at)
		fail_msg("'%s' found in: %.200s", secret,
			at - msg > 100 ? at - 100 : msg);
}

static void test_basic_auth(void **state)
{
	if (!have_program("htpasswd")) {
		skip();
		return;
	}
	proc reg = { 0 };
	char pw[PATH_MAX + 16], cmd[PATH_MAX * 2], extra[PATH_MAX + 128];
	snprintf(pw, sizeof(pw), "%s/htpasswd", env.tmp);
	snprintf(cmd, sizeof(cmd), "htpasswd -Bbn alice 's3cret-pw' > '%s'", pw);
	assert_int_equal(run(cmd), 0);
	snprintf(extra, sizeof(extra),
		"auth:\n  htpasswd:\n    realm: hoist-test\n    path: %s\n", pw);
	start_registry(&reg, "basic", extra);
	char host[64];
	snprintf(host, sizeof(host), "127.0.0.1:%d", reg.port);
	hoist_error *err = NULL;

	/* right password: push and pull, with debug logging on */
	hoist_ctx *ctx = ctx_with_password("basic-ok", host, "alice", "s3cret-pw");
	logcap lc = { .b = HOIST_BUF_INIT(16 * 1024 * 1024) };
	pthread_mutex_init(&lc.lock, NULL);
	hoist_ctx_set_log(ctx, log_to_buf, &lc, HOIST_LOG_DEBUG);
	hoist_registry *r = client(ctx, host);
	counter c = { .needle = NULL };
	hoist_registry_set_hook(r, count_hook, &c);
	_cleanup_free_ char *data = make_data(3000, 80);
	hoist_digest d;
	push_mem(r, "hoist/basic", data, 3000, &d);
	pull_check(r, "hoist/basic", &d, data, 3000);
	/* ping (https probe, http), POST, PUT, GET: credentials sent up
	 * front, so only the anonymous ping saw a 401 */
	assert_int_equal(c.total, 5);
	assert_int_equal(c.unauthorized, 1);
	hoist_registry_free(r);

	/* a blob redirected to another origin is fetched without the
	 * registry's credentials: proxy A redirects blob GETs of the Basic
	 * registry to proxy B in front of the open one, which has the blob
	 * too */
	hoist_registry *plain = client(ctx, env.plain_host);
	push_mem(plain, "hoist/basic", data, 3000, &d);
	hoist_registry_free(plain);
	proc pa = { 0 }, pb = { 0 };
	char target[64], loga[PATH_MAX + 16], logb[PATH_MAX + 16], to[64];
	snprintf(target, sizeof(target), "127.0.0.1:%d", env.plain.port);
	snprintf(logb, sizeof(logb), "%s/fault_proxy/requests-storage", env.tmp);
	char *argsb[] = { (char *)"--target", target, (char *)"--log", logb };
	start_helper(&pb, "fault_proxy", argsb, HOIST_ARRAY_SIZE(argsb));
	snprintf(to, sizeof(to), "http://127.0.0.1:%d", pb.port);
	snprintf(target, sizeof(target), "127.0.0.1:%d", reg.port);
	snprintf(loga, sizeof(loga), "%s/fault_proxy/requests-redirect", env.tmp);
	char *argsa[] = { (char *)"--target", target, (char *)"--log", loga,
		(char *)"--redirect-match", (char *)"GET /v2/hoist/basic/blobs/",
		(char *)"--redirect-to", to };
	start_helper(&pa, "fault_proxy", argsa, HOIST_ARRAY_SIZE(argsa));
	char phost[64];
	snprintf(phost, sizeof(phost), "127.0.0.1:%d", pa.port);
	hoist_ctx *pctx = ctx_with_password("basic-proxy", phost, "alice", "s3cret-pw");
	r = client(pctx, phost);
	pull_check(r, "hoist/basic", &d, data, 3000);
	hoist_registry_free(r);
	hoist_ctx_free(pctx);
	stop_proc(&pa);
	stop_proc(&pb);
	char needle[256];
	snprintf(needle, sizeof(needle), "GET /v2/hoist/basic/blobs/%s authorization=present", d.str);
	assert_int_equal(count_lines(loga, needle), 1);
	snprintf(needle, sizeof(needle), "GET /v2/hoist/basic/blobs/%s\n", d.str);
	snprintf(needle, sizeof(needle), "GET /v2/hoist/basic/blobs/%s", d.str);
	assert_int_equal(count_lines(logb, needle), 1);
	assert_int_equal(count_lines(logb, "authorization"), 0);
	hoist_ctx_free(ctx);
	/* headers are logged, credentials are not */
	assert_non_null(lc.b.data);
	assert_non_null(strstr(lc.b.data, "Authorization: <redacted>"));
	assert_non_null(strstr(lc.b.data, "http > PUT /v2/hoist/basic/blobs/uploads/"));
	assert_no_secret(lc.b.data, "s3cret-pw");
	assert_no_secret(lc.b.data, "YWxpY2U6czNjcmV0LXB3"); /* base64 */
	assert_no_secret(lc.b.data, "Basic YWxp");
	hoist_buf_release(&lc.b);
	pthread_mutex_destroy(&lc.lock);

	/* no credentials */
	ctx = new_ctx();
	r = client(ctx, host);
	bool exists;
	int e = hoist_registry_head_blob(r, "hoist/basic", &d, &exists, NULL, &err);
	assert_int_equal(e, -HOIST_E_AUTH);
	assert_non_null(strstr(err->msg, "401"));
	hoist_error_freep(&err);
	hoist_registry_free(r);
	hoist_ctx_free(ctx);

	/* wrong password: HOIST_E_AUTH, and the secret stays out of it */
	ctx = ctx_with_password("basic-bad", host, "alice", "wrong-pw-XYZ");
	r = client(ctx, host);
	e = hoist_registry_head_blob(r, "hoist/basic", &d, &exists, NULL, &err);
	assert_int_equal(e, -HOIST_E_AUTH);
	assert_no_secret(err->msg, "wrong-pw-XYZ");
	assert_no_secret(err->msg, "YWxpY2U6d3Jvbmct"); /* base64 prefix */
	hoist_error_freep(&err);
	hoist_registry_free(r);

	/* login: a refused password writes nothing */
	char authf[PATH_MAX + 32];
	snprintf(authf, sizeof(authf), "%s/login/sub/auth.json", env.tmp);
	CHECK_OK(hoist_ctx_set_auth_file(ctx, authf, &err));
	e = hoist_registry_login(ctx, host, "alice", "nope-pw-123", &err);
	assert_int_equal(e, -HOIST_E_AUTH);
	assert_no_secret(err->msg, "nope-pw-123");
	hoist_error_freep(&err);
	assert_int_not_equal(access(authf, F_OK), 0);

	/* login keeps the other keys, writes 0600; logout removes it */
	char dir[PATH_MAX + 16];
	snprintf(dir, sizeof(dir), "%s/login", env.tmp);
	mkdir(dir, 0700);
	snprintf(dir, sizeof(dir), "%s/login/sub", env.tmp);
	mkdir(dir, 0700);
	write_file(authf, "{\"credsStore\":\"\",\"proxies\":{\"x\":1},\"auths\":{\"other.example\":{\"auth\":\"eDp5\"}}}");
	CHECK_OK(hoist_registry_login(ctx, host, "alice", "s3cret-pw", &err));
	struct stat st;
	assert_int_equal(stat(authf, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	_cleanup_free_ char *txt = read_text(authf);
	assert_non_null(strstr(txt, "\"proxies\""));
	assert_non_null(strstr(txt, "other.example"));
	assert_non_null(strstr(txt, host));
	r = client(ctx, host);
	CHECK_OK(hoist_registry_head_blob(r, "hoist/basic", &d, &exists, NULL, &err));
	assert_true(exists);
	hoist_registry_free(r);
	CHECK_OK(hoist_registry_logout(ctx, host, &err));
	free(txt);
	txt = read_text(authf);
	assert_null(strstr(txt, host));
	assert_non_null(strstr(txt, "other.example"));
	e = hoist_registry_logout(ctx, host, &err);
	assert_int_equal(e, -HOIST_E_NOTFOUND);
	hoist_error_freep(&err);
	hoist_ctx_free(ctx);
	stop_proc(&reg);
}

static void test_token_auth(void **state)
{
	if (!have_program("openssl")) {
		skip();
		return;
	}
	char key[PATH_MAX + 16], cert[PATH_MAX + 16], cmd[PATH_MAX * 3];
	snprintf(key, sizeof(key), "%s/token-key.pem", env.tmp);
	snprintf(cert, sizeof(cert), "%s/token-cert.pem", env.tmp);
	snprintf(cmd, sizeof(cmd),
		"openssl req -x509 -newkey rsa:2048 -nodes -keyout '%s' -out '%s' -days 2 -subj /CN=hoist-token 2>/dev/null",
		key, cert);
	assert_int_equal(run(cmd), 0);
	proc ts = { 0 };
	char tlog[PATH_MAX + 16];
	snprintf(tlog, sizeof(tlog), "%s/token_server/requests", env.tmp);
	char *args[] = { (char *)"--key", key, (char *)"--cert", cert,
		(char *)"--user", (char *)"bob:t0ken-pass", (char *)"--refresh-token",
		(char *)"refresh-XYZ", (char *)"--log", tlog };
	start_helper(&ts, "token_server", args, HOIST_ARRAY_SIZE(args));
	char extra[PATH_MAX + 256];
	snprintf(extra, sizeof(extra),
		"auth:\n  token:\n    realm: http://127.0.0.1:%d/token\n"
		"    service: hoist-test\n    issuer: hoist-test-issuer\n"
		"    rootcertbundle: %s\n",
		ts.port, cert);
	proc reg = { 0 };
	start_registry(&reg, "token", extra);
	char host[64];
	snprintf(host, sizeof(host), "127.0.0.1:%d", reg.port);
	hoist_error *err = NULL;

	/* a push takes one token with pull,push */
	hoist_ctx *ctx = ctx_with_password("token-ok", host, "bob", "t0ken-pass");
	hoist_registry *r = client(ctx, host);
	CHECK_OK(hoist_registry_want_push(r, "hoist/tok", &err));
	_cleanup_free_ char *m = image_manifest(r, "hoist/tok", 90, "amd64");
	CHECK_OK(hoist_registry_put_manifest(r, "hoist/tok", "1",
		HOIST_MT_OCI_MANIFEST, m, strlen(m), NULL, &err));
	hoist_buf raw = HOIST_BUF_INIT(HOIST_MANIFEST_MAX);
	CHECK_OK(hoist_registry_get_manifest(r, "hoist/tok", "1", &raw, NULL, NULL, &err));
	assert_memory_equal(raw.data, m, raw.len);
	hoist_buf_release(&raw);
	assert_int_equal(count_lines(tlog, "GET /token"), 1);
	assert_int_equal(count_lines(tlog,
		"GET /token user=bob scope=repository:hoist/tok:pull,push\n"), 1);

	/* mount: one token naming both repositories */
	_cleanup_free_ char *data = make_data(2000, 91);
	hoist_digest d;
	push_mem(r, "hoist/tok", data, 2000, &d);
	bool mounted = false;
	CHECK_OK(hoist_registry_mount_blob(r, "hoist/tok2", &d, "hoist/tok", &mounted, NULL, &err));
	assert_true(mounted);
	assert_int_equal(count_lines(tlog,
		"scope=repository:hoist/tok:pull,push scope=repository:hoist/tok2:pull,push\n"), 1);
	/* catalog and delete need their own scopes */
	char **v = NULL;
	size_t n = 0;
	CHECK_OK(hoist_registry_catalog(r, &v, &n, &err));
	assert_true(n >= 2);
	hoist_registry_strv_free(v, n);
	assert_int_equal(count_lines(tlog, "scope=registry:catalog:*"), 1);
	CHECK_OK(hoist_registry_delete_blob(r, "hoist/tok2", &d, &err));
	hoist_registry_free(r);
	hoist_ctx_free(ctx);

	/* one client, several threads: one token for all of them, and the
	 * debug log never shows it */
	ctx = ctx_with_password("token-par", host, "bob", "t0ken-pass");
	logcap lc = { .b = HOIST_BUF_INIT(16 * 1024 * 1024) };
	pthread_mutex_init(&lc.lock, NULL);
	hoist_ctx_set_log(ctx, log_to_buf, &lc, HOIST_LOG_DEBUG);
	r = client(ctx, host);
	CHECK_OK(hoist_registry_want_push(r, "hoist/par", &err));
	pthread_t th[4];
	par_job jobs[4];
	for (int i = 0; i < 4; i++) {
		jobs[i] = (par_job){ .r = r, .idx = i };
		assert_int_equal(pthread_create(&th[i], NULL, par_worker, &jobs[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(jobs[i].failed, 0);
	}
	assert_int_equal(count_lines(tlog, "scope=repository:hoist/par:pull,push"), 1);
	hoist_registry_free(r);
	hoist_ctx_free(ctx);
	assert_non_null(strstr(lc.b.data, "Authorization: <redacted>"));
	assert_no_secret(lc.b.data, "Bearer ey");
	assert_no_secret(lc.b.data, "t0ken-pass");
	assert_no_secret(lc.b.data, "eyJ"); /* a JWT header */
	hoist_buf_release(&lc.b);
	pthread_mutex_destroy(&lc.lock);

	/* anonymous: pull yes, push no */
	ctx = new_ctx();
	r = client(ctx, host);
	pull_check(r, "hoist/tok", &d, data, 2000);
	hoist_reader *rd = NULL;
	CHECK_OK(hoist_reader_new_mem(&rd, data, 2000, &err));
	int e = hoist_registry_put_blob(r, "hoist/anon", &d, 2000, rd, NULL, &err);
	hoist_reader_free(rd);
	assert_int_equal(e, -HOIST_E_AUTH);
	assert_non_null(strstr(err->msg, "hoist/anon"));
	hoist_error_freep(&err);
	hoist_registry_free(r);
	hoist_ctx_free(ctx);

	/* identity token: OAuth2 refresh grant */
	ctx = ctx_with_auth("token-ident", host, "{\"identitytoken\":\"refresh-XYZ\"}");
	r = client(ctx, host);
	pull_check(r, "hoist/tok", &d, data, 2000);
	assert_int_equal(count_lines(tlog, "POST /token user=refresh scope=repository:hoist/tok:pull"), 1);
	hoist_registry_free(r);
	hoist_ctx_free(ctx);

	/* wrong password: the token server refuses, no secret in the error */
	ctx = ctx_with_password("token-bad", host, "bob", "WRONG-t0ken");
	r = client(ctx, host);
	e = hoist_registry_open_blob(r, "hoist/tok", &d, 2000, &rd, &err);
	assert_int_equal(e, -HOIST_E_AUTH);
	assert_no_secret(err->msg, "WRONG-t0ken");
	assert_non_null(strstr(err->msg, "401"));
	hoist_error_freep(&err);
	hoist_registry_free(r);
	hoist_ctx_free(ctx);

	stop_proc(&reg);
	stop_proc(&ts);
}

static int group_setup(void **state)
{
	if (!have_program("docker-registry")) {
		printf("SKIP: docker-registry not installed\n");
		exit(77);
	}
	find_libdir();
	const char *t = getenv("TMPDIR");
	snprintf(env.tmp, sizeof(env.tmp), "%s/hoist-registry-XXXXXX",
		t && *t ? t : "/tmp");
	if (!mkdtemp(env.tmp))
		die("mkdtemp");
	start_registry(&env.plain, "plain", NULL);
	snprintf(env.plain_host, sizeof(env.plain_host), "127.0.0.1:%d",
		env.plain.port);
	return 0;
}

static int group_teardown(void **state)
{
	stop_proc(&env.plain);
	hoist_error *err = NULL;
	if (!getenv("HOIST_KEEP_TMP"))
		hoist_fs_rm_rf(AT_FDCWD, env.tmp, &err);
	hoist_error_free(err);
	return 0;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blob_roundtrip),
		cmocka_unit_test(test_blob_chunked),
		cmocka_unit_test(test_blob_mismatch),
		cmocka_unit_test(test_manifest_roundtrip),
		cmocka_unit_test(test_index),
		cmocka_unit_test(test_tags_and_catalog),
		cmocka_unit_test(test_mount),
		cmocka_unit_test(test_transport),
		cmocka_unit_test(test_cut_mid_blob),
		cmocka_unit_test(test_retry_5xx),
		cmocka_unit_test(test_chunk_resume),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_basic_auth),
		cmocka_unit_test(test_token_auth),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

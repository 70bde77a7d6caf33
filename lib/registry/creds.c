/* Credentials from docker-style config files (auths / credHelpers /
 * credsStore) and docker-credential-* helpers, and the login/logout edits
 * of those files. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hoist/auth.h"
#include "hoist/fs.h"
#include "registry/internal.h"
#include "util/cleanup.h"

extern char **environ;

#define AUTH_FILE_MAX (4 * 1024 * 1024)
#define HELPER_OUT_MAX (64 * 1024)
#define HELPER_TIMEOUT_MS 60000

static const char docker_index[] = "https://index.docker.io/v1/";

void hoist_credentials_release(hoist_credentials *c)
{
	char **f[] = { &c->username, &c->password, &c->identity_token };
	for (size_t i = 0; i < HOIST_ARRAY_SIZE(f); i++) {
		if (*f[i]) {
			explicit_bzero(*f[i], strlen(*f[i]));
			free(*f[i]);
			*f[i] = NULL;
		}
	}
}

static bool is_docker_hub(const char *host)
{
	return !strcmp(host, "docker.io") || !strcmp(host, "index.docker.io") ||
		!strcmp(host, "registry-1.docker.io");
}

const char *hoist_auth_key(const char *domain)
{
	return is_docker_hub(domain) ? docker_index : domain;
}

/* docker's convertToHostname: drop the scheme and any path. */
static char *key_host(const char *key)
{
	const char *p = key;
	if (!strncasecmp(p, "https://", 8))
		p += 8;
	else if (!strncasecmp(p, "http://", 7))
		p += 7;
	return strndup(p, strcspn(p, "/"));
}

static bool key_matches(const char *key, const char *domain)
{
	_cleanup_free_ char *h = key_host(key);
	if (!h)
		return false;
	if (is_docker_hub(domain))
		return is_docker_hub(h);
	return !strcmp(h, domain);
}

static int candidate_files(hoist_ctx *ctx, char **files, size_t *n,
	hoist_error **err)
{
	*n = 0;
	const char *o = ctx ? hoist_ctx_auth_file(ctx) : NULL;
	if (o) {
		if (!(files[(*n)++] = strdup(o)))
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		return 0;
	}
	const char *v = getenv("REGISTRY_AUTH_FILE");
	if (v && *v && !(files[(*n)++] = strdup(v)))
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	v = getenv("DOCKER_CONFIG");
	if (v && *v && asprintf(&files[(*n)++], "%s/config.json", v) < 0) {
		files[--(*n)] = NULL;
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	v = getenv("HOME");
	if (v && *v && asprintf(&files[(*n)++], "%s/.docker/config.json", v) < 0) {
		files[--(*n)] = NULL;
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	return 0;
}

int hoist_auth_file_for_write(hoist_ctx *ctx, char **out, hoist_error **err)
{
	char *files[3] = { 0 };
	size_t n = 0;
	int e = candidate_files(ctx, files, &n, err);
	if (e == 0 && n == 0)
		e = hoist_error_set(err, HOIST_E_NOTFOUND,
			"no credentials file: set $REGISTRY_AUTH_FILE or $HOME");
	*out = e == 0 ? files[0] : NULL;
	for (size_t i = e == 0 ? 1 : 0; i < n; i++)
		free(files[i]);
	return e;
}

static int load_json(const char *path, json_t **out, bool *exists,
	hoist_error **err)
{
	*out = NULL;
	*exists = false;
	hoist_buf b = HOIST_BUF_INIT(AUTH_FILE_MAX);
	int e = hoist_fs_read_file(AT_FDCWD, path, &b, err);
	if (e == -HOIST_E_NOTFOUND) {
		hoist_error_freep(err);
		hoist_buf_release(&b);
		return 0;
	}
	if (e < 0) {
		hoist_buf_release(&b);
		return hoist_error_wrap(err, HOIST_E_IO, "read credentials");
	}
	*exists = true;
	json_error_t je;
	json_t *root = b.len ? json_loadb(b.data, b.len, 0, &je) : json_object();
	if (b.data)
		explicit_bzero(b.data, b.len);
	hoist_buf_release(&b);
	if (!json_is_object(root)) {
		json_decref(root);
		/* je.text could quote file content: keep secrets out */
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid credentials file '%s': not a JSON object", path);
	}
	*out = root;
	return 0;
}

static int decode_auth(const char *b64s, hoist_credentials *c, const char *path,
	const char *key, hoist_error **err)
{
	size_t n = strlen(b64s);
	if (n == 0 || n > 64 * 1024 || n % 4)
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid credentials file '%s': \"auth\" of '%s' is not base64",
			path, key);
	_cleanup_free_ unsigned char *raw = malloc(n / 4 * 3 + 1);
	if (!raw)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	int k = EVP_DecodeBlock(raw, (const unsigned char *)b64s, (int)n);
	if (k < 0) {
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid credentials file '%s': \"auth\" of '%s' is not base64",
			path, key);
	}
	/* EVP_DecodeBlock counts padding as zero bytes */
	if (n >= 1 && b64s[n - 1] == '=')
		k--;
	if (n >= 2 && b64s[n - 2] == '=')
		k--;
	raw[k] = '\0';
	char *colon = memchr(raw, ':', (size_t)k);
	if (!colon || memchr(raw, '\0', (size_t)k)) {
		explicit_bzero(raw, (size_t)k);
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid credentials file '%s': \"auth\" of '%s' is not USER:PASSWORD",
			path, key);
	}
	c->username = strndup((char *)raw, (size_t)(colon - (char *)raw));
	c->password = strdup(colon + 1);
	explicit_bzero(raw, (size_t)k);
	if (!c->username || !c->password) {
		hoist_credentials_release(c);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	return 0;
}

/* Fills c from an auths entry; *found false if it holds nothing. */
static int from_entry(json_t *entry, const char *key, const char *path,
	hoist_credentials *c, bool *found, hoist_error **err)
{
	*found = false;
	if (!json_is_object(entry))
		return 0;
	const char *a = json_string_value(json_object_get(entry, "auth"));
	const char *it = json_string_value(json_object_get(entry, "identitytoken"));
	if (a && *a) {
		int e = decode_auth(a, c, path, key, err);
		if (e < 0)
			return e;
		*found = true;
	}
	if (it && *it) {
		if (!(c->identity_token = strdup(it))) {
			hoist_credentials_release(c);
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		}
		*found = true;
	}
	return 0;
}

static const char *helper_server_url(const char *domain)
{
	return is_docker_hub(domain) ? docker_index : domain;
}

static int lookup_in(json_t *root, const char *path, const char *domain,
	hoist_credentials *c, bool *found, hoist_error **err)
{
	*found = false;
	const char *key;
	json_t *v;
	json_t *helpers = json_object_get(root, "credHelpers");
	if (json_is_object(helpers)) {
		json_object_foreach(helpers, key, v) {
			const char *h = json_string_value(v);
			if (h && *h && key_matches(key, domain))
				return hoist_auth_helper_get(h,
					helper_server_url(domain), c, found, err);
		}
	}
	json_t *auths = json_object_get(root, "auths");
	if (json_is_object(auths)) {
		/* the exact key first, then any key naming the same host */
		json_t *exact = json_object_get(auths, hoist_auth_key(domain));
		if (exact) {
			int e = from_entry(exact, hoist_auth_key(domain), path, c,
				found, err);
			if (e < 0 || *found)
				return e;
		}
		json_object_foreach(auths, key, v) {
			if (!key_matches(key, domain))
				continue;
			int e = from_entry(v, key, path, c, found, err);
			if (e < 0 || *found)
				return e;
		}
	}
	const char *store = json_string_value(json_object_get(root, "credsStore"));
	if (store && *store)
		return hoist_auth_helper_get(store, helper_server_url(domain), c,
			found, err);
	return 0;
}

int hoist_auth_lookup(hoist_ctx *ctx, const char *domain,
	hoist_credentials *out, bool *found, hoist_error **err)
{
	*found = false;
	*out = (hoist_credentials){ 0 };
	char *files[3] = { 0 };
	size_t n = 0;
	int e = candidate_files(ctx, files, &n, err);
	for (size_t i = 0; e == 0 && i < n && !*found; i++) {
		json_t *root = NULL;
		bool exists = false;
		e = load_json(files[i], &root, &exists, err);
		if (e == 0 && root)
			e = lookup_in(root, files[i], domain, out, found, err);
		json_decref(root);
	}
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	if (e < 0)
		hoist_credentials_release(out);
	return e;
}

/* Credential helpers */

static bool helper_name_ok(const char *h)
{
	if (!*h || strlen(h) > 64)
		return false;
	for (const char *c = h; *c; c++)
		if (!(isalnum((unsigned char)*c) || *c == '-' || *c == '_' ||
			    *c == '.'))
			return false;
	return true;
}

static long elapsed_ms(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 +
		(now.tv_nsec - t0->tv_nsec) / 1000000;
}

int hoist_auth_helper_get(const char *helper, const char *server_url,
	hoist_credentials *out, bool *found, hoist_error **err)
{
	*found = false;
	*out = (hoist_credentials){ 0 };
	if (!helper_name_ok(helper))
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid credential helper name '%s'", helper);
	_cleanup_free_ char *prog = NULL;
	if (asprintf(&prog, "docker-credential-%s", helper) < 0)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	int in[2] = { -1, -1 }, outp[2] = { -1, -1 };
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0) {
		int e = errno;
		if (in[0] >= 0) {
			close(in[0]);
			close(in[1]);
		}
		return hoist_error_errno(err, e, "credential helper '%s'", helper);
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	char *argv[] = { prog, (char *)"get", NULL };
	pid_t pid;
	int se = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(outp[1]);
	if (se != 0) {
		close(in[1]);
		close(outp[0]);
		if (se == ENOENT)
			return hoist_error_set(err, HOIST_E_NOTFOUND,
				"credential helper '%s' not found in $PATH", prog);
		return hoist_error_errno(err, se, "run credential helper '%s'", prog);
	}
	/* The URL is far below the pipe's capacity; a helper that exits
	 * without reading must not kill us with SIGPIPE. */
	sigset_t pipe_set, old;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	ssize_t wr = write(in[1], server_url, strlen(server_url));
	(void)wr;
	close(in[1]);
	struct timespec zero = { 0, 0 };
	while (sigtimedwait(&pipe_set, NULL, &zero) > 0)
		;
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	hoist_buf b = HOIST_BUF_INIT(HELPER_OUT_MAX);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = 0;
	bool timed_out = false;
	for (;;) {
		long left = HELPER_TIMEOUT_MS - elapsed_ms(&t0);
		if (left <= 0) {
			timed_out = true;
			kill(pid, SIGKILL);
			break;
		}
		struct pollfd pfd = { outp[0], POLLIN, 0 };
		int pr = poll(&pfd, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			continue;
		char tmp[4096];
		ssize_t k = read(outp[0], tmp, sizeof(tmp));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		if (hoist_buf_append(&b, tmp, (size_t)k, NULL) < 0) {
			kill(pid, SIGKILL);
			rc = hoist_error_set(err, HOIST_E_LIMIT,
				"credential helper '%s' wrote more than %d bytes",
				prog, HELPER_OUT_MAX);
			break;
		}
		explicit_bzero(tmp, sizeof(tmp));
	}
	close(outp[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc == 0 && timed_out)
		rc = hoist_error_set(err, HOIST_E_IO,
			"credential helper '%s' did not answer within %d s", prog,
			HELPER_TIMEOUT_MS / 1000);
	if (rc == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
		/* helpers report "credentials not found in native keychain"
		 * on stdout and exit 1 */
		if (b.data && strstr(b.data, "credentials not found"))
			rc = 0;
		else if (WIFEXITED(status))
			rc = hoist_error_set(err, HOIST_E_AUTH,
				"credential helper '%s' failed with exit status %d",
				prog, WEXITSTATUS(status));
		else
			rc = hoist_error_set(err, HOIST_E_AUTH,
				"credential helper '%s' was killed by signal %d", prog,
				WTERMSIG(status));
		goto done;
	}
	if (rc < 0)
		goto done;
	json_error_t je;
	json_t *root = b.data ? json_loadb(b.data, b.len, 0, &je) : NULL;
	const char *u = json_string_value(json_object_get(root, "Username"));
	const char *s = json_string_value(json_object_get(root, "Secret"));
	if (!json_is_object(root) || !s) {
		json_decref(root);
		rc = hoist_error_set(err, HOIST_E_AUTH,
			"credential helper '%s' gave an invalid answer", prog);
		goto done;
	}
	if (u && !strcmp(u, "<token>")) {
		out->identity_token = strdup(s);
		rc = out->identity_token ? 0 : -HOIST_E_NOMEM;
	} else {
		out->username = strdup(u ? u : "");
		out->password = strdup(s);
		rc = out->username && out->password ? 0 : -HOIST_E_NOMEM;
	}
	json_decref(root);
	if (rc < 0) {
		hoist_credentials_release(out);
		rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	} else {
		*found = true;
	}
done:
	if (b.data)
		explicit_bzero(b.data, b.len);
	hoist_buf_release(&b);
	return rc;
}

/* login / logout */

static int dir_of(const char *path, char **dir, const char **base)
{
	const char *sl = strrchr(path, '/');
	if (!sl) {
		*dir = strdup(".");
		*base = path;
	} else {
		*dir = sl == path ? strdup("/") : strndup(path, (size_t)(sl - path));
		*base = sl + 1;
	}
	return *dir ? 0 : -1;
}

static int write_json(const char *path, json_t *root, hoist_error **err)
{
	_cleanup_free_ char *dir = NULL;
	const char *base = NULL;
	if (dir_of(path, &dir, &base) < 0)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	if (!*base)
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid credentials file '%s'", path);
	int e = hoist_fs_mkdir_p(AT_FDCWD, dir, 0700, err);
	if (e < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "write credentials '%s'", path);
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return hoist_error_errno(err, errno, "open '%s'", dir);
	char *s = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	if (!s)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	size_t n = strlen(s);
	_cleanup_free_ char *data = NULL;
	if (asprintf(&data, "%s\n", s) < 0)
		data = NULL;
	explicit_bzero(s, n);
	free(s);
	if (!data)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	e = hoist_fs_write_atomic(dfd, base, data, n + 1, 0600, err);
	explicit_bzero(data, n + 1);
	if (e < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "write credentials '%s'",
			path);
	return 0;
}

int hoist_auth_store(hoist_ctx *ctx, const char *domain, const char *user,
	const char *password, hoist_error **err)
{
	if (!user || !*user || strchr(user, ':'))
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid user name for '%s': empty or contains ':'", domain);
	_cleanup_free_ char *path = NULL;
	int e = hoist_auth_file_for_write(ctx, &path, err);
	if (e < 0)
		return e;
	json_t *root = NULL;
	bool exists;
	e = load_json(path, &root, &exists, err);
	if (e < 0)
		return e;
	if (!root)
		root = json_object();
	json_t *auths = json_object_get(root, "auths");
	if (!json_is_object(auths)) {
		auths = json_object();
		json_object_set_new(root, "auths", auths);
	}
	const char *key = hoist_auth_key(domain);
	json_t *entry = json_object_get(auths, key);
	if (!json_is_object(entry)) {
		entry = json_object();
		json_object_set_new(auths, key, entry);
	}
	_cleanup_free_ char *up = NULL;
	if (asprintf(&up, "%s:%s", user, password ? password : "") < 0) {
		json_decref(root);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	size_t n = strlen(up);
	_cleanup_free_ char *enc = malloc(4 * ((n + 2) / 3) + 1);
	if (!enc) {
		explicit_bzero(up, n);
		json_decref(root);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	EVP_EncodeBlock((unsigned char *)enc, (unsigned char *)up, (int)n);
	explicit_bzero(up, n);
	json_object_set_new(entry, "auth", json_string(enc));
	json_object_del(entry, "identitytoken");
	explicit_bzero(enc, strlen(enc));
	e = write_json(path, root, err);
	json_decref(root);
	return e;
}

int hoist_auth_remove(hoist_ctx *ctx, const char *domain, hoist_error **err)
{
	_cleanup_free_ char *path = NULL;
	int e = hoist_auth_file_for_write(ctx, &path, err);
	if (e < 0)
		return e;
	json_t *root = NULL;
	bool exists;
	e = load_json(path, &root, &exists, err);
	if (e < 0)
		return e;
	json_t *auths = root ? json_object_get(root, "auths") : NULL;
	bool removed = false;
	if (json_is_object(auths)) {
		const char *key;
		json_t *v;
		void *tmp;
		json_object_foreach_safe(auths, tmp, key, v) {
			if (key_matches(key, domain)) {
				json_object_del(auths, key);
				removed = true;
			}
		}
	}
	if (!removed) {
		json_decref(root);
		return hoist_error_set(err, HOIST_E_NOTFOUND,
			"not logged in to '%s'", domain);
	}
	e = write_json(path, root, err);
	json_decref(root);
	return e;
}

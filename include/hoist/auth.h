/* Registry authentication: WWW-Authenticate challenges (RFC 7235) and
 * credentials from docker-style config files and credential helpers.
 *
 * Credential files, in order (the first that has an entry wins):
 *   hoist_ctx_auth_file(ctx) if set (then only that file),
 *   $REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json, ~/.docker/config.json.
 * In a file: "credHelpers": {"host": "NAME"} runs docker-credential-NAME,
 * else an "auths" entry ({"auth": base64(user:pass)} or
 * {"identitytoken": ...}), else "credsStore" runs its helper.  Entries
 * match as docker matches them: the key with its scheme and path removed
 * equals the registry host; docker.io is "https://index.docker.io/v1/".
 *
 * Secrets never appear in an error message. */
#ifndef HOIST_AUTH_H
#define HOIST_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "hoist/ctx.h"
#include "hoist/error.h"

#define HOIST_AUTH_HEADER_MAX (16 * 1024)
#define HOIST_AUTH_CHALLENGES_MAX 16
#define HOIST_AUTH_PARAMS_MAX 32

typedef struct hoist_auth_param {
	char *name;   /* lowercased */
	char *value;  /* unquoted, escapes resolved */
} hoist_auth_param;

typedef struct hoist_auth_challenge {
	char *scheme;  /* lowercased: "bearer", "basic" */
	char *token68; /* "Negotiate abc==" style, else NULL */
	hoist_auth_param *params;
	size_t n_params;
} hoist_auth_challenge;

/* Parses a WWW-Authenticate value holding one or more challenges:
 *   Bearer realm="https://auth/token",service="reg",scope="repository:a:pull"
 *   Basic realm="x", Bearer realm="y"
 * Fails with HOIST_E_INVALID on malformed input (unterminated quote,
 * missing scheme, ...) and HOIST_E_LIMIT past the bounds above. */
int hoist_auth_parse_challenges(hoist_auth_challenge **out, size_t *n,
	const char *header, hoist_error **err);
void hoist_auth_challenges_free(hoist_auth_challenge *c, size_t n);
/* Value of param `name` (case-insensitive), borrowed, or NULL. */
const char *hoist_auth_challenge_param(const hoist_auth_challenge *c,
	const char *name);

typedef struct hoist_credentials {
	char *username;       /* NULL with an identity token alone */
	char *password;
	char *identity_token; /* OAuth2 refresh token, or NULL */
} hoist_credentials;

void hoist_credentials_release(hoist_credentials *c);

/* Credentials for the registry `domain` ("docker.io", "localhost:5000").
 * *found false (and 0 returned) when no file or helper has any. */
int hoist_auth_lookup(hoist_ctx *ctx, const char *domain,
	hoist_credentials *out, bool *found, hoist_error **err);

/* The file login writes to: the ctx override, else $REGISTRY_AUTH_FILE,
 * else $DOCKER_CONFIG/config.json, else ~/.docker/config.json.  Caller
 * frees. */
int hoist_auth_file_for_write(hoist_ctx *ctx, char **out, hoist_error **err);

/* Stores user/password for domain in the write file: reads it, sets
 * auths[KEY].auth keeping every other key, and writes it back atomically
 * with mode 0600 (creating parent directories 0700). */
int hoist_auth_store(hoist_ctx *ctx, const char *domain, const char *user,
	const char *password, hoist_error **err);
/* Removes domain's entry from the write file; HOIST_E_NOTFOUND if it had
 * none. */
int hoist_auth_remove(hoist_ctx *ctx, const char *domain, hoist_error **err);

/* The key login uses for domain: "https://index.docker.io/v1/" for
 * docker.io, else the domain itself.  Borrowed or static. */
const char *hoist_auth_key(const char *domain);

/* Runs `docker-credential-HELPER get` (found on $PATH) with server_url on
 * stdin.  *found false when the helper says it has nothing. */
int hoist_auth_helper_get(const char *helper, const char *server_url,
	hoist_credentials *out, bool *found, hoist_error **err);

#endif

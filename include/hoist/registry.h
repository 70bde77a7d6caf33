/* Registry client: the OCI distribution API v1.1 / Docker Registry HTTP
 * API v2 over libcurl.
 *
 * One client talks to one registry host and may be used from several
 * threads at once: connections, DNS and TLS sessions are shared, the token
 * cache is locked.  On first use the client pings /v2/ to learn the scheme
 * (HTTPS; plain HTTP only for loopback hosts and hosts the ctx marks
 * insecure, after HTTPS failed) and the authentication challenge.  Tokens
 * are asked for with the scopes each operation needs (pull for reads,
 * pull,push for writes, both repositories for a mount) and cached per scope
 * set until they expire.
 *
 * Repositories are paths without the domain ("library/busybox").  Every
 * error names the reference, e.g.
 *   "GET manifest 'localhost:5000/app:1': 404 MANIFEST_UNKNOWN: manifest unknown"
 * with HOIST_E_AUTH for 401/403, HOIST_E_NOTFOUND for 404, HOIST_E_DIGEST
 * when content does not match its digest, HOIST_E_NETWORK when the registry
 * could not be reached after the retries (hoist_ctx_retries, exponential
 * backoff from 200 ms, honouring Retry-After), HOIST_E_REGISTRY otherwise. */
#ifndef HOIST_REGISTRY_H
#define HOIST_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hoist/buf.h"
#include "hoist/ctx.h"
#include "hoist/digest.h"
#include "hoist/error.h"
#include "hoist/io.h"
#include "hoist/ref.h"

/* Blobs larger than this are uploaded in chunks (PATCH) of
 * HOIST_REGISTRY_CHUNK bytes, resumable after a failed chunk.  Each upload
 * in flight holds one chunk: 4 MiB keeps 8 parallel uploads (--jobs 8)
 * at 51 MiB peak RSS (measured: 8 layers of 130 MiB, registry to
 * registry; 83 MiB with 8 MiB chunks). */
#define HOIST_REGISTRY_CHUNK_THRESHOLD (128ull * 1024 * 1024)
#define HOIST_REGISTRY_CHUNK (4u * 1024 * 1024)

typedef struct hoist_registry hoist_registry;

/* A client for the registry of `domain` as a hoist_ref has it
 * ("docker.io" connects to registry-1.docker.io).  ctx is borrowed and
 * must outlive the client.  No network traffic happens here. */
int hoist_registry_new(hoist_registry **out, hoist_ctx *ctx, const char *domain,
	hoist_error **err);
void hoist_registry_free(hoist_registry *r);
/* The client for `domain` that ctx keeps (hoist_ctx_attach, key
 * "registry:DOMAIN"), made on first use: every source, destination and
 * convenience call of one ctx shares it, with its connections, scheme and
 * tokens.  Borrowed; freed with the ctx.  Its hook and tuning are shared
 * too: tests that set them use a client of their own. */
int hoist_registry_shared(hoist_registry **out, hoist_ctx *ctx,
	const char *domain, hoist_error **err);
/* Borrowed. */
const char *hoist_registry_domain(const hoist_registry *r);

/* Uses these credentials instead of looking them up (login uses this to
 * check new ones).  Copied. */
int hoist_registry_set_credentials(hoist_registry *r, const char *user,
	const char *password, hoist_error **err);
/* Declares that `repo` will be written: tokens for it then carry
 * pull,push from the first request on (one token for a whole push). */
int hoist_registry_want_push(hoist_registry *r, const char *repo,
	hoist_error **err);
/* Upload tuning (tests lower these). chunk is at least 1 KiB. */
void hoist_registry_set_chunking(hoist_registry *r, uint64_t threshold,
	size_t chunk);
/* Page size asked for when listing tags and the catalog (n=...); 0 lets
 * the registry choose. */
void hoist_registry_set_page_size(hoist_registry *r, int n);

/* Requests sent so far (every attempt, token requests included). */
uint64_t hoist_registry_requests(const hoist_registry *r);
/* Called after every HTTP exchange (from the thread that made it) with the
 * method, the URL (no credentials in it) and the status (0 when no
 * response arrived). */
typedef void (*hoist_registry_hook_fn)(void *ud, const char *method,
	const char *url, long status);
void hoist_registry_set_hook(hoist_registry *r, hoist_registry_hook_fn fn,
	void *ud);

/* Checks that the registry answers /v2/ and that the client's credentials
 * (if any) are accepted: a Bearer registry must issue a token.  Fails with
 * HOIST_E_AUTH when they are not. */
int hoist_registry_ping(hoist_registry *r, hoist_error **err);

/* Manifests.  `reference` is a tag or a digest string. */

/* GET: raw gets the exact bytes (at most HOIST_MANIFEST_MAX), media_type
 * (may be NULL; caller frees) the Content-Type, digest (may be NULL) the
 * digest of the bytes.  Fetched by digest, the bytes must hash to it; a
 * Docker-Content-Digest header must match them too (HOIST_E_DIGEST). */
int hoist_registry_get_manifest(hoist_registry *r, const char *repo,
	const char *reference, hoist_buf *raw, char **media_type,
	hoist_digest *digest, hoist_error **err);
/* HEAD: *exists false (and 0) on 404.  digest from Docker-Content-Digest
 * (falls back to a GET when the registry does not send it), media_type
 * and size may be NULL. */
int hoist_registry_head_manifest(hoist_registry *r, const char *repo,
	const char *reference, bool *exists, hoist_digest *digest,
	char **media_type, int64_t *size, hoist_error **err);
/* PUT the bytes verbatim under reference (a tag, or their digest) with
 * Content-Type media_type.  digest (may be NULL) gets their digest; the
 * registry's Docker-Content-Digest must agree. */
int hoist_registry_put_manifest(hoist_registry *r, const char *repo,
	const char *reference, const char *media_type, const void *raw,
	size_t len, hoist_digest *digest, hoist_error **err);
int hoist_registry_delete_manifest(hoist_registry *r, const char *repo,
	const hoist_digest *digest, hoist_error **err);

/* Blobs. */

/* HEAD: *exists false on 404; size (may be NULL) from Content-Length. */
int hoist_registry_head_blob(hoist_registry *r, const char *repo,
	const hoist_digest *d, bool *exists, int64_t *size, hoist_error **err);
/* A pull reader over the blob (follows redirects to storage without the
 * registry's credentials; resumes with Range, or restarts and skips, when
 * the connection breaks).  The reader verifies: its last read fails with
 * HOIST_E_DIGEST unless the bytes hash to d and (size >= 0) their count
 * is size.  The request is made here, so a missing blob fails at once
 * (HOIST_E_NOTFOUND).  Nothing is buffered beyond a fixed window. */
int hoist_registry_open_blob(hoist_registry *r, const char *repo,
	const hoist_digest *d, int64_t size, hoist_reader **out,
	hoist_error **err);
/* Uploads content (read to its end, not freed) as blob d of `size` bytes
 * (-1 if unknown): one streamed PUT up to the chunk threshold, chunked
 * PATCH uploads above it.  The content is hashed on the way: a mismatch
 * aborts the upload before it completes (HOIST_E_DIGEST), as does the
 * registry's DIGEST_INVALID.  session (may be NULL) continues an upload
 * session from hoist_registry_mount_blob. */
int hoist_registry_put_blob(hoist_registry *r, const char *repo,
	const hoist_digest *d, int64_t size, hoist_reader *content,
	const char *session, hoist_error **err);
/* Cross-repository mount of d from from_repo (same registry).  *mounted
 * true on 201.  On 202 the registry declined and opened an upload session:
 * *session (when session != NULL; caller frees) gets its URL for
 * hoist_registry_put_blob. */
int hoist_registry_mount_blob(hoist_registry *r, const char *repo,
	const hoist_digest *d, const char *from_repo, bool *mounted,
	char **session, hoist_error **err);
int hoist_registry_delete_blob(hoist_registry *r, const char *repo,
	const hoist_digest *d, hoist_error **err);

/* Listing, following Link rel="next" pages.  The arrays and strings are
 * the caller's: free with hoist_registry_strv_free. */
int hoist_registry_list_tags(hoist_registry *r, const char *repo,
	char ***tags, size_t *n, hoist_error **err);
int hoist_registry_catalog(hoist_registry *r, char ***repos, size_t *n,
	hoist_error **err);
void hoist_registry_strv_free(char **v, size_t n);

/* Conveniences for the CLI, by reference (on the ctx's shared client). */

/* Digest and media type (may be NULL) of what ref names, by HEAD. */
int hoist_registry_resolve(hoist_ctx *ctx, const hoist_ref *ref,
	hoist_digest *digest, char **media_type, hoist_error **err);
/* Deletes the manifest ref names (a tag is resolved to its digest first:
 * the registry deletes by digest, which removes every tag on it). */
int hoist_registry_delete(hoist_ctx *ctx, const hoist_ref *ref,
	hoist_error **err);
/* Puts the manifest ref names, byte for byte, under new_tag in the same
 * repository (retag without moving blobs). */
int hoist_registry_retag(hoist_ctx *ctx, const hoist_ref *ref,
	const char *new_tag, hoist_error **err);
/* Checks user/password against the registry of domain (/v2/, and a token
 * when it uses Bearer), then stores them (hoist_auth_store).  A refusal is
 * HOIST_E_AUTH and nothing is written. */
int hoist_registry_login(hoist_ctx *ctx, const char *domain, const char *user,
	const char *password, hoist_error **err);
/* Removes the stored credentials of domain (HOIST_E_NOTFOUND if none). */
int hoist_registry_logout(hoist_ctx *ctx, const char *domain,
	hoist_error **err);

#endif

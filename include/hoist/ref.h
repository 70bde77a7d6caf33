/* Docker image references: [host[:port]/]path[:tag][@digest].
 *
 * Grammar (distribution/reference):
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [domain "/"] path-component ["/" path-component]*
 *   domain     := host [":" port]   host: DNS labels joined by ".", or
 *                 "localhost", or an IPv4 address, or "[" IPv6 "]"
 *   path-component := [a-z0-9]+ (separator [a-z0-9]+)*
 *   separator  := "." | "_" | "__" | "-"+
 *   tag        := [\w][\w.-]{0,127}
 * The first component is a domain only when it contains "." or ":" or is
 * "localhost" (or has uppercase letters, which a path may not).  Names are
 * normalised: no domain -> "docker.io", single-component path on docker.io
 * -> "library/NAME"; "index.docker.io" -> "docker.io".  The whole name is
 * at most 255 characters. */
#ifndef HOIST_REF_H
#define HOIST_REF_H

#include <stdbool.h>

#include "hoist/error.h"

typedef struct hoist_ref {
	char *domain;  /* "docker.io", "localhost:5000", "[::1]:5000" */
	char *path;    /* "library/busybox" */
	char *tag;     /* NULL when the reference named none */
	char *digest;  /* NULL or a validated "sha256:..." */
	bool implicit_domain; /* the input had no domain part */
} hoist_ref;

/* Parses and normalises s.  Errors say which part is wrong, e.g.
 * "invalid reference 'Foo/bar': repository name must be lowercase". */
int hoist_ref_parse(hoist_ref **out, const char *s, hoist_error **err);
void hoist_ref_free(hoist_ref *r);
int hoist_ref_dup(hoist_ref **out, const hoist_ref *r, hoist_error **err);

/* The tag to use: the tag, else "latest" unless a digest was given (NULL). */
const char *hoist_ref_tag(const hoist_ref *r);
/* What to ask the registry for: the digest if set, else hoist_ref_tag(). */
const char *hoist_ref_reference(const hoist_ref *r);

/* "domain/path[:tag][@digest]", fully qualified. Caller frees. */
char *hoist_ref_string(const hoist_ref *r);
/* "domain/path" */
char *hoist_ref_name(const hoist_ref *r);
/* Docker's short form: "busybox:latest", "user/app", "localhost:5000/x:1". */
char *hoist_ref_familiar(const hoist_ref *r);

/* Replace tag / digest (NULL clears). */
int hoist_ref_set_tag(hoist_ref *r, const char *tag, hoist_error **err);
int hoist_ref_set_digest(hoist_ref *r, const char *digest, hoist_error **err);

/* The host to connect to: "registry-1.docker.io" for docker.io. Borrowed
 * for docker.io, else r->domain. */
const char *hoist_ref_registry_host(const hoist_ref *r);
/* localhost, 127.0.0.0/8 or [::1], with or without port: plain HTTP is
 * allowed for these without --insecure. */
bool hoist_ref_is_loopback(const hoist_ref *r);
bool hoist_host_is_loopback(const char *domain);

bool hoist_tag_valid(const char *tag);
/* Validates a repository path ("library/busybox"), no domain. */
bool hoist_repo_path_valid(const char *path);

#endif

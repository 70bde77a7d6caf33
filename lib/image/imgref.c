#include "hoist/imgref.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hoist/digest.h"
#include "util/cleanup.h"

HOIST_DEFINE_CLEANUP(hoist_ref, hoist_ref_free)
HOIST_DEFINE_CLEANUP(hoist_imgref, hoist_imgref_free)

/* A path (PATH_MAX) plus a name; longer input is refused before scanning. */
#define IMGREF_MAX_LEN 8192
#define PATH_MAX_LEN 4095

static const char docker_prefix[] = "docker://";
static const char oci_prefix[] = "oci:";
static const char archive_prefix[] = "docker-archive:";
static const char local_prefix[] = "local:";

#define KNOWN_TRANSPORTS "docker://, oci:, docker-archive:, local:"

/* skopeo transports hoist does not implement.  Input such as
 * "oci-archive:x.tar" is also a valid Docker reference (image
 * "oci-archive", tag "x.tar"); reading it that way would silently do
 * something other than asked, so these prefixes are always refused. */
static const char *const unsupported_transports[] = {
	"containers-storage", "dir", "docker-daemon", "oci-archive", "ostree",
	"sif", "tarball",
};

static bool has_prefix(const char *s, const char *p)
{
	return !strncmp(s, p, strlen(p));
}

static const char *unsupported_transport(const char *s)
{
	const char *colon = strchr(s, ':');
	if (!colon)
		return NULL;
	size_t n = (size_t)(colon - s);
	for (size_t i = 0; i < HOIST_ARRAY_SIZE(unsupported_transports); i++)
		if (strlen(unsupported_transports[i]) == n &&
			!memcmp(s, unsupported_transports[i], n))
			return unsupported_transports[i];
	return NULL;
}

/* "xyz:REST" where xyz could be a transport name ([a-z][a-z0-9-]*) and
 * REST has a '/' or ':', so that the ':' cannot be a name:tag separator
 * ("busybox:" and "app:bad tag" are references with a bad tag). */
static size_t transport_like_prefix(const char *s)
{
	size_t i = 0;
	if (!(s[0] >= 'a' && s[0] <= 'z'))
		return 0;
	while ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		s[i] == '-')
		i++;
	if (s[i] != ':' || !strpbrk(s + i + 1, "/:"))
		return 0;
	return i;
}

/* True when a bare registry reference string would be read back as
 * another transport ("oci:5000/x" is the registry "oci:5000"). */
static bool needs_docker_prefix(const char *s)
{
	return has_prefix(s, oci_prefix) || has_prefix(s, archive_prefix) ||
		has_prefix(s, local_prefix) || unsupported_transport(s);
}

static int nomem(hoist_error **err)
{
	return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
}

static int invalid(hoist_error **err, const char *s, const char *why)
{
	return hoist_error_set(err, HOIST_E_INVALID, "invalid image name '%s': %s",
		s, why);
}

/* Paths end at their first ':' (skopeo's rule), so p..end has none. */
static int set_path(hoist_imgref *r, const char *p, size_t n, hoist_error **err)
{
	if (n == 0)
		return invalid(err, r->input, "path is empty");
	if (n > PATH_MAX_LEN)
		return invalid(err, r->input, "path is longer than 4095 characters");
	r->path = strndup(p, n);
	return r->path ? 0 : nomem(err);
}

static int parse_registry(hoist_imgref *r, const char *rest, bool wrap,
	hoist_error **err)
{
	r->kind = HOIST_TRANSPORT_REGISTRY;
	if (!*rest)
		return invalid(err, r->input, "reference is empty");
	int rc = hoist_ref_parse(&r->ref, rest, err);
	if (rc < 0 && wrap)
		return hoist_error_wrap(err, -rc, "invalid image name '%s'", r->input);
	return rc;
}

static bool oci_name_ok(const char *n)
{
	if (!*n)
		return false;
	for (; *n; n++)
		if (*n <= ' ' || *n > '~')
			return false;
	return true;
}

/* oci:DIR[:NAME|@DIGEST].  DIR has no ':', so the first ':' either starts
 * NAME or sits inside "@algo:hex"; the '@' form wins only when what
 * follows it is a digest.  "@sha256:..." that is not a valid digest is an
 * error rather than a directory called "x@sha256" with a name. */
static int parse_oci(hoist_imgref *r, const char *rest, hoist_error **err)
{
	r->kind = HOIST_TRANSPORT_OCI;
	const char *colon = strchr(rest, ':');
	if (!colon)
		return set_path(r, rest, strlen(rest), err);
	const char *at = memrchr(rest, '@', (size_t)(colon - rest));
	if (at && (has_prefix(at + 1, "sha256:") || has_prefix(at + 1, "sha512:") ||
		    hoist_digest_valid(at + 1))) {
		hoist_digest dg;
		int rc = hoist_digest_parse(&dg, at + 1, err);
		if (rc < 0)
			return hoist_error_wrap(err, -rc, "invalid image name '%s'",
				r->input);
		rc = set_path(r, rest, (size_t)(at - rest), err);
		if (rc < 0)
			return rc;
		r->digest = strdup(dg.str);
		return r->digest ? 0 : nomem(err);
	}
	int rc = set_path(r, rest, (size_t)(colon - rest), err);
	if (rc < 0)
		return rc;
	const char *name = colon + 1;
	if (!*name)
		return invalid(err, r->input, "image name after ':' is empty");
	if (!oci_name_ok(name))
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid image name '%s': name '%s' must be printable ASCII without spaces",
			r->input, name);
	r->tag = strdup(name);
	return r->tag ? 0 : nomem(err);
}

/* docker-archive:FILE[:NAME[:TAG]]; the name is a Docker reference, kept
 * as docker writes RepoTags: familiar, always with a tag. */
static int parse_archive(hoist_imgref *r, const char *rest, hoist_error **err)
{
	r->kind = HOIST_TRANSPORT_ARCHIVE;
	const char *colon = strchr(rest, ':');
	int rc = set_path(r, rest, colon ? (size_t)(colon - rest) : strlen(rest),
		err);
	if (rc < 0 || !colon)
		return rc;
	if (!colon[1])
		return invalid(err, r->input, "image name after ':' is empty");
	_cleanup_(hoist_ref_freep) hoist_ref *ref = NULL;
	rc = hoist_ref_parse(&ref, colon + 1, err);
	if (rc < 0)
		return hoist_error_wrap(err, -rc, "invalid image name '%s'", r->input);
	if (ref->digest)
		return invalid(err, r->input,
			"docker-archive names cannot have a digest, only a tag");
	if (!ref->tag && (rc = hoist_ref_set_tag(ref, "latest", err)) < 0)
		return rc;
	r->tag = hoist_ref_familiar(ref);
	return r->tag ? 0 : nomem(err);
}

/* local:NAME[:TAG|@DIGEST]; a name without either means tag "latest". */
static int parse_local(hoist_imgref *r, const char *rest, hoist_error **err)
{
	r->kind = HOIST_TRANSPORT_LOCAL;
	if (!*rest)
		return invalid(err, r->input, "image name is empty");
	int rc = hoist_ref_parse(&r->ref, rest, err);
	if (rc < 0)
		return hoist_error_wrap(err, -rc, "invalid image name '%s'", r->input);
	if (!r->ref->tag && !r->ref->digest &&
		(rc = hoist_ref_set_tag(r->ref, "latest", err)) < 0)
		return rc;
	if ((r->ref->tag && !(r->tag = strdup(r->ref->tag))) ||
		(r->ref->digest && !(r->digest = strdup(r->ref->digest))))
		return nomem(err);
	return 0;
}

static int parse_bare(hoist_imgref *r, const char *s, hoist_error **err)
{
	hoist_error *e = NULL;
	int rc = parse_registry(r, s, false, &e);
	if (rc == 0)
		return 0;
	size_t tn = transport_like_prefix(s);
	if (!tn || !e) {
		if (err && !*err)
			*err = e;
		else
			hoist_error_free(e);
		return rc;
	}
	/* Say both readings failed; the reference's own reason follows
	 * without repeating the input it quotes. */
	_cleanup_free_ char *lead = NULL;
	if (asprintf(&lead, "invalid reference '%s': ", s) < 0)
		lead = NULL;
	const char *why = e->msg;
	if (lead && has_prefix(why, lead))
		why += strlen(lead);
	rc = hoist_error_set(err, HOIST_E_INVALID,
		"invalid image name '%s': unknown transport '%.*s' (known: "
		KNOWN_TRANSPORTS ") and not a valid reference: %s",
		s, (int)tn, s, why);
	hoist_error_free(e);
	return rc;
}

int hoist_imgref_parse(hoist_imgref **out, const char *s, hoist_error **err)
{
	*out = NULL;
	if (!s || !*s)
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid image name '': name is empty");
	size_t len = strnlen(s, IMGREF_MAX_LEN + 1);
	if (len > IMGREF_MAX_LEN)
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid image name '%.40s...': longer than %d characters", s,
			IMGREF_MAX_LEN);
	_cleanup_(hoist_imgref_freep) hoist_imgref *r = calloc(1, sizeof(*r));
	if (!r || !(r->input = strdup(s)))
		return nomem(err);
	int rc;
	const char *unsup;
	if (has_prefix(s, docker_prefix))
		rc = parse_registry(r, s + strlen(docker_prefix), true, err);
	else if (has_prefix(s, oci_prefix))
		rc = parse_oci(r, s + strlen(oci_prefix), err);
	else if (has_prefix(s, archive_prefix))
		rc = parse_archive(r, s + strlen(archive_prefix), err);
	else if (has_prefix(s, local_prefix))
		rc = parse_local(r, s + strlen(local_prefix), err);
	else if ((unsup = unsupported_transport(s)))
		rc = hoist_error_set(err, HOIST_E_UNSUPPORTED,
			"invalid image name '%s': transport '%s' is not supported (known: "
			KNOWN_TRANSPORTS ")", s, unsup);
	else
		rc = parse_bare(r, s, err);
	if (rc < 0)
		return rc;
	*out = steal_ptr(&r);
	return 0;
}

void hoist_imgref_free(hoist_imgref *r)
{
	if (!r)
		return;
	free(r->input);
	hoist_ref_free(r->ref);
	free(r->path);
	free(r->tag);
	free(r->digest);
	free(r);
}

char *hoist_imgref_string(const hoist_imgref *r)
{
	char *s = NULL;
	_cleanup_free_ char *inner = NULL;
	int n = -1;
	switch (r->kind) {
	case HOIST_TRANSPORT_REGISTRY:
		inner = hoist_ref_string(r->ref);
		if (!inner)
			return NULL;
		n = asprintf(&s, "%s%s",
			needs_docker_prefix(inner) ? docker_prefix : "", inner);
		break;
	case HOIST_TRANSPORT_OCI:
		n = asprintf(&s, "%s%s%s%s", oci_prefix, r->path,
			r->digest ? "@" : r->tag ? ":" : "",
			r->digest ? r->digest : r->tag ? r->tag : "");
		break;
	case HOIST_TRANSPORT_ARCHIVE:
		n = asprintf(&s, "%s%s%s%s", archive_prefix, r->path,
			r->tag ? ":" : "", r->tag ? r->tag : "");
		break;
	case HOIST_TRANSPORT_LOCAL:
		inner = hoist_ref_familiar(r->ref);
		if (!inner)
			return NULL;
		n = asprintf(&s, "%s%s", local_prefix, inner);
		break;
	}
	return n < 0 ? NULL : s;
}

const char *hoist_transport_name(hoist_transport_kind k)
{
	switch (k) {
	case HOIST_TRANSPORT_REGISTRY:
		return "docker";
	case HOIST_TRANSPORT_OCI:
		return "oci";
	case HOIST_TRANSPORT_ARCHIVE:
		return "docker-archive";
	case HOIST_TRANSPORT_LOCAL:
		return "local";
	}
	return "unknown";
}

/* Also answers for REGISTRY references, whose name is what the local
 * store is searched for (podman's rule in hoist_source_open).  With both
 * a tag and a digest the tag names the image; the digest selects. */
char *hoist_imgref_local_name(const hoist_imgref *r)
{
	if (!r->ref)
		return NULL;
	_cleanup_(hoist_ref_freep) hoist_ref *c = NULL;
	if (hoist_ref_dup(&c, r->ref, NULL) < 0)
		return NULL;
	const char *tag = hoist_ref_tag(r->ref);
	if (tag && (hoist_ref_set_digest(c, NULL, NULL) < 0 ||
			   hoist_ref_set_tag(c, tag, NULL) < 0))
		return NULL;
	return hoist_ref_familiar(c);
}

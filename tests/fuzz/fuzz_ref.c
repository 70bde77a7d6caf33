/* Fuzzes hoist_ref_parse and hoist_imgref_parse.  Beyond not crashing,
 * whatever parses must print to forms that parse back to the same thing:
 * the full string to itself, the familiar form to the same name, tag and
 * digest, and an image name's display form to itself. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hoist/digest.h"
#include "hoist/imgref.h"
#include "hoist/ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int ok, const char *what, const char *a, const char *b)
{
	if (ok)
		return;
	fprintf(stderr, "fuzz_ref: %s: '%s' / '%s'\n", what, a ? a : "(null)",
		b ? b : "(null)");
	abort();
}

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static void check_error(int rc, hoist_error *e, const char *input)
{
	require(rc < 0, "negative return on failure", input, NULL);
	require(e && e->msg && e->msg[0], "failure without message", input, NULL);
	require(e->code == -rc, "code matches return", input, e->msg);
	size_t n = strlen(e->msg);
	require(e->msg[n - 1] != '.', "message ends with a period", input, e->msg);
	/* Inputs are bounded before they are quoted back. */
	require(n < 2 * 8192 + 512, "message is bounded", input, NULL);
}

static void check_ref(const hoist_ref *r, const char *input)
{
	require(r->domain && r->path, "domain and path set", input, NULL);
	require(hoist_repo_path_valid(r->path), "path valid", input, r->path);
	require(!r->tag || hoist_tag_valid(r->tag), "tag valid", input, r->tag);
	require(!r->digest || hoist_digest_valid(r->digest), "digest valid", input,
		r->digest);
	require(hoist_ref_reference(r) != NULL, "reference set", input, NULL);

	char *s = hoist_ref_string(r);
	char *name = hoist_ref_name(r);
	require(s && name, "string", input, NULL);
	require(strlen(name) <= 255, "name length", input, name);

	hoist_ref *again = NULL;
	hoist_error *e = NULL;
	int rc = hoist_ref_parse(&again, s, &e);
	require(rc == 0, "string re-parses", s, e ? e->msg : NULL);
	char *s2 = hoist_ref_string(again);
	require(same(s, s2), "string round-trips", s, s2);

	char *fam = hoist_ref_familiar(r);
	hoist_ref *back = NULL;
	rc = hoist_ref_parse(&back, fam, &e);
	require(rc == 0, "familiar re-parses", fam, e ? e->msg : NULL);
	char *name2 = hoist_ref_name(back);
	require(same(name, name2), "familiar keeps the name", name, name2);
	require(same(r->tag, back->tag), "familiar keeps the tag", r->tag, back->tag);
	require(same(r->digest, back->digest), "familiar keeps the digest",
		r->digest, back->digest);

	hoist_ref *d = NULL;
	require(hoist_ref_dup(&d, r, NULL) == 0, "dup", input, NULL);
	char *s3 = hoist_ref_string(d);
	require(same(s, s3), "dup is equal", s, s3);

	free(s3);
	hoist_ref_free(d);
	free(name2);
	hoist_ref_free(back);
	free(fam);
	free(s2);
	hoist_ref_free(again);
	free(name);
	free(s);
}

static void check_imgref(const hoist_imgref *r, const char *input)
{
	require(same(r->input, input), "input kept", input, r->input);
	require((r->kind == HOIST_TRANSPORT_REGISTRY ||
			r->kind == HOIST_TRANSPORT_LOCAL) == (r->ref != NULL),
		"ref set for registry and local", input, NULL);
	require((r->kind == HOIST_TRANSPORT_OCI ||
			r->kind == HOIST_TRANSPORT_ARCHIVE) == (r->path != NULL),
		"path set for oci and archive", input, NULL);
	require(!r->path || (r->path[0] && !strchr(r->path, ':')),
		"path non-empty without ':'", input, r->path);
	if (r->ref)
		check_ref(r->ref, input);

	char *disp = hoist_imgref_string(r);
	require(disp != NULL, "display", input, NULL);
	hoist_imgref *again = NULL;
	hoist_error *e = NULL;
	int rc = hoist_imgref_parse(&again, disp, &e);
	require(rc == 0, "display re-parses", disp, e ? e->msg : NULL);
	require(again->kind == r->kind, "display keeps the transport", input, disp);
	char *disp2 = hoist_imgref_string(again);
	require(same(disp, disp2), "display round-trips", disp, disp2);
	require(same(r->path, again->path), "display keeps the path", r->path,
		again->path);
	require(same(r->tag, again->tag), "display keeps the tag", r->tag,
		again->tag);
	require(same(r->digest, again->digest), "display keeps the digest",
		r->digest, again->digest);

	char *local = hoist_imgref_local_name(r);
	require((local != NULL) == (r->ref != NULL), "local name", input, local);
	if (local) {
		hoist_ref *lr = NULL;
		rc = hoist_ref_parse(&lr, local, &e);
		require(rc == 0, "local name parses", local, e ? e->msg : NULL);
		hoist_ref_free(lr);
	}
	free(local);
	free(disp2);
	hoist_imgref_free(again);
	free(disp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 64 * 1024)
		return 0;
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	hoist_ref *r = NULL;
	hoist_error *e = NULL;
	int rc = hoist_ref_parse(&r, s, &e);
	if (rc == 0) {
		require(e == NULL, "no error on success", s, NULL);
		check_ref(r, s);
		hoist_ref_free(r);
	} else {
		require(r == NULL, "no result on failure", s, NULL);
		check_error(rc, e, s);
		hoist_error_free(e);
	}

	hoist_imgref *ir = NULL;
	e = NULL;
	rc = hoist_imgref_parse(&ir, s, &e);
	if (rc == 0) {
		check_imgref(ir, s);
		hoist_imgref_free(ir);
	} else {
		require(ir == NULL, "no image name on failure", s, NULL);
		check_error(rc, e, s);
		hoist_error_free(e);
	}
	free(s);
	return 0;
}

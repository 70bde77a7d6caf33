#include "hoist/transport.h"

#include <stdlib.h>
#include <string.h>

#include "hoist/layout.h"
#include "util/cleanup.h"

HOIST_DEFINE_CLEANUP(hoist_imgref, hoist_imgref_free)
HOIST_DEFINE_CLEANUP(hoist_manifest, hoist_manifest_free)

void hoist_source_free(hoist_source *s)
{
	if (s && s->ops->free)
		s->ops->free(s);
}

void hoist_dest_free(hoist_dest *d)
{
	if (d && d->ops->free)
		d->ops->free(d);
}

/* A registry name with no domain ("myapp:1") names the local store when it
 * is there: a source is looked up locally first, a destination is local. */
static bool local_has(hoist_ctx *ctx, const hoist_imgref *r)
{
	hoist_layout *l = NULL;
	if (hoist_layout_open(&l, hoist_ctx_home(ctx), false, NULL) < 0)
		return false;
	_cleanup_free_ char *name = hoist_imgref_local_name(r);
	hoist_descriptor d = { 0 };
	bool found = false;
	if (name) {
		if (r->ref->digest && !r->ref->tag) {
			hoist_digest dg;
			found = hoist_digest_parse(&dg, r->ref->digest, NULL) == 0 &&
				hoist_layout_resolve(l, NULL, &dg, &d, NULL) == 0;
		} else {
			found = hoist_layout_resolve(l, name, NULL, &d, NULL) == 0;
		}
	}
	hoist_descriptor_release(&d);
	hoist_layout_free(l);
	return found;
}

static int dup_imgref(hoist_imgref **out, const hoist_imgref *r, hoist_error **err)
{
	return hoist_imgref_parse(out, r->input, err);
}

int hoist_source_open_ref(hoist_ctx *ctx, const hoist_imgref *ref,
	hoist_source **out, hoist_error **err)
{
	_cleanup_(hoist_imgref_freep) hoist_imgref *r = NULL;
	int rc = dup_imgref(&r, ref, err);
	if (rc < 0)
		return rc;
	if (r->kind == HOIST_TRANSPORT_REGISTRY && r->ref->implicit_domain &&
		strncmp(r->input, "docker://", 9) != 0 && local_has(ctx, r))
		r->kind = HOIST_TRANSPORT_LOCAL;
	switch (r->kind) {
	case HOIST_TRANSPORT_OCI:
	case HOIST_TRANSPORT_LOCAL:
		return hoist_oci_source_open(ctx, steal_ptr(&r), out, err);
	case HOIST_TRANSPORT_ARCHIVE:
		return hoist_archive_source_open(ctx, steal_ptr(&r), out, err);
	case HOIST_TRANSPORT_REGISTRY:
		return hoist_registry_source_open(ctx, steal_ptr(&r), out, err);
	}
	return hoist_error_set(err, HOIST_E_INVALID, "unknown transport");
}

int hoist_dest_open_ref(hoist_ctx *ctx, const hoist_imgref *ref,
	hoist_dest **out, hoist_error **err)
{
	_cleanup_(hoist_imgref_freep) hoist_imgref *r = NULL;
	int rc = dup_imgref(&r, ref, err);
	if (rc < 0)
		return rc;
	if (r->kind == HOIST_TRANSPORT_REGISTRY && r->ref->implicit_domain &&
		strncmp(r->input, "docker://", 9) != 0)
		r->kind = HOIST_TRANSPORT_LOCAL;
	switch (r->kind) {
	case HOIST_TRANSPORT_OCI:
	case HOIST_TRANSPORT_LOCAL:
		return hoist_oci_dest_open(ctx, steal_ptr(&r), out, err);
	case HOIST_TRANSPORT_ARCHIVE:
		return hoist_archive_dest_open(ctx, steal_ptr(&r), out, err);
	case HOIST_TRANSPORT_REGISTRY:
		return hoist_registry_dest_open(ctx, steal_ptr(&r), out, err);
	}
	return hoist_error_set(err, HOIST_E_INVALID, "unknown transport");
}

int hoist_source_open(hoist_ctx *ctx, const char *name, hoist_source **out,
	hoist_error **err)
{
	_cleanup_(hoist_imgref_freep) hoist_imgref *r = NULL;
	int rc = hoist_imgref_parse(&r, name, err);
	if (rc < 0)
		return rc;
	return hoist_source_open_ref(ctx, r, out, err);
}

int hoist_dest_open(hoist_ctx *ctx, const char *name, hoist_dest **out,
	hoist_error **err)
{
	_cleanup_(hoist_imgref_freep) hoist_imgref *r = NULL;
	int rc = hoist_imgref_parse(&r, name, err);
	if (rc < 0)
		return rc;
	return hoist_dest_open_ref(ctx, r, out, err);
}

const char *hoist_dest_tag(const hoist_dest *d)
{
	const hoist_imgref *r = d->ref;
	switch (r->kind) {
	case HOIST_TRANSPORT_REGISTRY:
		return r->ref->tag ? r->ref->tag
			: r->ref->digest ? NULL : "latest";
	default:
		return r->tag;
	}
}

int hoist_source_manifest(hoist_source *s, const hoist_platform *platform,
	hoist_manifest **out, hoist_error **err)
{
	hoist_buf raw = HOIST_BUF_INIT(HOIST_MANIFEST_MAX);
	_cleanup_free_ char *mt = NULL;
	_cleanup_(hoist_manifest_freep) hoist_manifest *m = NULL;
	int rc = s->ops->get_manifest(s, NULL, &raw, &mt, err);
	if (rc == 0)
		rc = hoist_manifest_parse(&m, raw.data, raw.len, mt, err);
	hoist_buf_release(&raw);
	if (rc < 0)
		return rc;
	if (platform && m->kind == HOIST_MEDIA_INDEX) {
		/* Nested indexes are rare but legal: follow at most a few. */
		for (int depth = 0; m->kind == HOIST_MEDIA_INDEX; depth++) {
			const hoist_descriptor *d = NULL;
			if (depth >= 4)
				return hoist_error_set(err, HOIST_E_LIMIT,
					"image indexes nested too deeply");
			rc = hoist_manifest_select(m, platform, &d, err);
			if (rc < 0)
				return rc;
			hoist_buf child = HOIST_BUF_INIT(HOIST_MANIFEST_MAX);
			_cleanup_free_ char *cmt = NULL;
			hoist_digest dg = d->digest;
			_cleanup_free_ char *dmt = strdup(d->media_type);
			rc = s->ops->get_manifest(s, &dg, &child, &cmt, err);
			hoist_manifest *cm = NULL;
			if (rc == 0)
				rc = hoist_manifest_parse(&cm, child.data, child.len,
					cmt ? cmt : dmt, err);
			hoist_buf_release(&child);
			if (rc < 0)
				return rc;
			if (!hoist_digest_equal(&cm->digest, &dg)) {
				hoist_manifest_free(cm);
				return hoist_error_set(err, HOIST_E_DIGEST,
					"manifest %s: content has digest of another manifest",
					dg.str);
			}
			hoist_manifest_free(m);
			m = cm;
		}
	}
	*out = steal_ptr(&m);
	return 0;
}

int hoist_source_read_blob(hoist_source *s, const hoist_descriptor *d,
	size_t max, hoist_buf *out, hoist_error **err)
{
	if (d->size < 0 || (uint64_t)d->size > max)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"blob %s: size %lld exceeds the limit of %zu bytes",
			d->digest.str, (long long)d->size, max);
	hoist_reader *r = NULL;
	int rc = s->ops->open_blob(s, d, &r, err);
	if (rc < 0)
		return rc;
	size_t saved = out->max;
	out->max = max;
	rc = hoist_reader_read_all(r, out, err);
	out->max = saved;
	hoist_reader_free(r);
	return rc;
}

/* The oci: transport (an OCI image layout directory) and the local store
 * (the layout at $HOIST_HOME).  They differ only in where the layout is and
 * how images are named in index.json: a bare tag ("v1") in an oci:
 * directory, as skopeo writes it, and the familiar "name:tag" in the store. */
#include <stdlib.h>
#include <string.h>

#include "hoist/layout.h"
#include "hoist/transport.h"
#include "util/cleanup.h"

typedef struct oci_source {
	hoist_source base;
	hoist_layout *layout;
	char *name;          /* ref.name to resolve, NULL when by digest/only */
	bool have_digest;
	hoist_digest digest; /* selection by digest */
} oci_source;

typedef struct oci_dest {
	hoist_dest base;
	hoist_layout *layout;
	char *name;                 /* ref.name to set at commit, or NULL */
	bool have_pending;
	hoist_descriptor pending;   /* top manifest to name at commit */
} oci_dest;

static int layout_dir_and_name(hoist_ctx *ctx, const hoist_imgref *r,
	const char **dir, char **name, hoist_error **err)
{
	*name = NULL;
	if (r->kind == HOIST_TRANSPORT_LOCAL) {
		*dir = hoist_ctx_home(ctx);
		if (r->ref->tag || !r->ref->digest) {
			*name = hoist_imgref_local_name(r);
			if (!*name)
				return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		}
		return 0;
	}
	*dir = r->path;
	if (r->tag && !(*name = strdup(r->tag)))
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	return 0;
}

static const char *selection_digest(const hoist_imgref *r)
{
	if (r->kind == HOIST_TRANSPORT_LOCAL)
		return r->ref->digest;
	return r->digest;
}

/* source */

static int oci_resolve(oci_source *s, hoist_descriptor *out, hoist_error **err)
{
	if (s->name || s->have_digest)
		return hoist_layout_resolve(s->layout, s->name,
			s->have_digest ? &s->digest : NULL, out, err);
	/* No name: like skopeo, take the only image of the layout. */
	hoist_layout_entry *e = NULL;
	size_t n = 0;
	int rc = hoist_layout_list(s->layout, &e, &n, err);
	if (rc < 0)
		return rc;
	if (n != 1) {
		hoist_layout_entries_free(e, n);
		return hoist_error_set(err, n ? HOIST_E_INVALID : HOIST_E_NOTFOUND,
			"'%s' holds %zu images: name one (oci:DIR:NAME)",
			hoist_layout_path(s->layout), n);
	}
	rc = hoist_descriptor_copy(out, &e[0].desc, err);
	hoist_layout_entries_free(e, n);
	return rc;
}

static int oci_get_manifest(hoist_source *base, const hoist_digest *digest,
	hoist_buf *raw, char **media_type, hoist_error **err)
{
	oci_source *s = (oci_source *)base;
	*media_type = NULL;
	if (digest)
		return hoist_layout_read_blob(s->layout, digest, HOIST_MANIFEST_MAX,
			raw, err);
	hoist_descriptor d = { 0 };
	hoist_error *e = NULL;
	int rc = oci_resolve(s, &d, &e);
	/* oci:DIR@DIGEST may name a manifest that is not in index.json itself
	 * (a child of an index): read it as a blob. */
	if (rc == -HOIST_E_NOTFOUND && s->have_digest && !s->name &&
		hoist_layout_has_blob(s->layout, &s->digest)) {
		hoist_error_free(e);
		return hoist_layout_read_blob(s->layout, &s->digest,
			HOIST_MANIFEST_MAX, raw, err);
	}
	if (rc < 0) {
		if (err && !*err)
			*err = e;
		else
			hoist_error_free(e);
	}
	if (rc == 0)
		rc = hoist_layout_read_blob(s->layout, &d.digest,
			HOIST_MANIFEST_MAX, raw, err);
	if (rc == 0 && !(*media_type = strdup(d.media_type)))
		rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	hoist_descriptor_release(&d);
	return rc;
}

static int oci_open_blob(hoist_source *base, const hoist_descriptor *d,
	hoist_reader **out, hoist_error **err)
{
	oci_source *s = (oci_source *)base;
	return hoist_layout_open_blob(s->layout, &d->digest, d->size, out, err);
}

static int oci_list_tags(hoist_source *base, char ***tags, size_t *n,
	hoist_error **err)
{
	oci_source *s = (oci_source *)base;
	hoist_layout_entry *e = NULL;
	size_t ne = 0;
	*tags = NULL;
	*n = 0;
	int rc = hoist_layout_list(s->layout, &e, &ne, err);
	if (rc < 0)
		return rc;
	/* In the store, the tags of NAME are the entries "NAME:TAG". */
	_cleanup_free_ char *prefix = NULL;
	if (base->ref->kind == HOIST_TRANSPORT_LOCAL) {
		_cleanup_free_ char *fam = hoist_ref_familiar(base->ref->ref);
		char *at = fam ? strpbrk(fam, "@") : NULL;
		if (at)
			*at = '\0';
		/* strip the tag: the last ':' after the last '/' */
		char *slash = fam ? strrchr(fam, '/') : NULL;
		char *colon = fam ? strrchr(slash ? slash : fam, ':') : NULL;
		if (colon)
			*colon = '\0';
		if (!fam || asprintf(&prefix, "%s:", fam) < 0) {
			hoist_layout_entries_free(e, ne);
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		}
	}
	char **list = calloc(ne + 1, sizeof(*list));
	if (!list) {
		hoist_layout_entries_free(e, ne);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	size_t k = 0;
	for (size_t i = 0; i < ne; i++) {
		const char *nm = e[i].name;
		if (!nm)
			continue;
		if (prefix) {
			if (strncmp(nm, prefix, strlen(prefix)) != 0)
				continue;
			nm += strlen(prefix);
		}
		bool dup = false;
		for (size_t j = 0; j < k && !dup; j++)
			dup = !strcmp(list[j], nm);
		if (!dup && !(list[k++] = strdup(nm))) {
			hoist_layout_entries_free(e, ne);
			for (size_t j = 0; j + 1 < k; j++)
				free(list[j]);
			free(list);
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		}
	}
	hoist_layout_entries_free(e, ne);
	*tags = list;
	*n = k;
	return 0;
}

static void oci_source_free(hoist_source *base)
{
	oci_source *s = (oci_source *)base;
	hoist_layout_free(s->layout);
	free(s->name);
	hoist_imgref_free(base->ref);
	free(s);
}

static const hoist_source_ops oci_source_ops = {
	.get_manifest = oci_get_manifest,
	.open_blob = oci_open_blob,
	.list_tags = oci_list_tags,
	.free = oci_source_free,
};

int hoist_oci_source_open(hoist_ctx *ctx, hoist_imgref *ref, hoist_source **out,
	hoist_error **err)
{
	oci_source *s = calloc(1, sizeof(*s));
	if (!s) {
		hoist_imgref_free(ref);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	s->base.ops = &oci_source_ops;
	s->base.ref = ref;
	const char *dir = NULL;
	int rc = layout_dir_and_name(ctx, ref, &dir, &s->name, err);
	const char *dg = selection_digest(ref);
	if (rc == 0 && dg) {
		rc = hoist_digest_parse(&s->digest, dg, err);
		s->have_digest = rc == 0;
	}
	if (rc == 0)
		rc = hoist_layout_open(&s->layout, dir, false, err);
	if (rc < 0) {
		oci_source_free(&s->base);
		return rc;
	}
	*out = &s->base;
	return 0;
}

/* destination */

static int oci_has_blob(hoist_dest *base, const hoist_descriptor *desc,
	bool *out, hoist_error **err)
{
	(void)err;
	*out = hoist_layout_has_blob(((oci_dest *)base)->layout, &desc->digest);
	return 0;
}

static int oci_put_blob(hoist_dest *base, const hoist_descriptor *desc,
	hoist_reader *content, hoist_error **err)
{
	oci_dest *d = (oci_dest *)base;
	return hoist_layout_put_blob(d->layout, &desc->digest, desc->size, content,
		err);
}

static int oci_has_manifest(hoist_dest *base, const hoist_digest *dg, bool *out,
	hoist_error **err)
{
	oci_dest *d = (oci_dest *)base;
	*out = false;
	if (!d->name)
		return 0;
	hoist_descriptor cur = { 0 };
	hoist_error *e = NULL;
	int rc = hoist_layout_resolve(d->layout, d->name, NULL, &cur, &e);
	if (rc == -HOIST_E_NOTFOUND) {
		hoist_error_free(e);
		return 0;
	}
	if (rc < 0) {
		if (err && !*err)
			*err = e;
		else
			hoist_error_free(e);
		return rc;
	}
	*out = hoist_digest_equal(&cur.digest, dg) &&
		hoist_layout_has_blob(d->layout, dg);
	hoist_descriptor_release(&cur);
	return 0;
}

static int oci_put_manifest(hoist_dest *base, const hoist_manifest *m,
	bool top, hoist_error **err)
{
	oci_dest *d = (oci_dest *)base;
	hoist_digest got;
	int rc = hoist_layout_put_blob_mem(d->layout, m->raw, m->raw_len, &got, err);
	if (rc < 0)
		return rc;
	if (!top)
		return 0;
	hoist_descriptor desc = { 0 };
	desc.media_type = strdup(m->media_type);
	desc.digest = got;
	desc.size = (int64_t)m->raw_len;
	if (!desc.media_type)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	hoist_descriptor_release(&d->pending);
	d->pending = desc;
	d->have_pending = true;
	return 0;
}

static int oci_commit(hoist_dest *base, hoist_error **err)
{
	oci_dest *d = (oci_dest *)base;
	if (!d->have_pending)
		return 0;
	int rc = hoist_layout_set_ref(d->layout, d->name, &d->pending, err);
	if (rc == 0)
		d->have_pending = false;
	return rc;
}

static void oci_dest_free(hoist_dest *base)
{
	oci_dest *d = (oci_dest *)base;
	hoist_descriptor_release(&d->pending);
	hoist_layout_free(d->layout);
	free(d->name);
	hoist_imgref_free(base->ref);
	free(d);
}

static const hoist_dest_ops oci_dest_ops = {
	.has_blob = oci_has_blob,
	.mount_blob = NULL,
	.put_blob = oci_put_blob,
	.has_manifest = oci_has_manifest,
	.put_manifest = oci_put_manifest,
	.commit = oci_commit,
	.free = oci_dest_free,
};

int hoist_oci_dest_open(hoist_ctx *ctx, hoist_imgref *ref, hoist_dest **out,
	hoist_error **err)
{
	oci_dest *d = calloc(1, sizeof(*d));
	if (!d) {
		hoist_imgref_free(ref);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	d->base.ops = &oci_dest_ops;
	d->base.ref = ref;
	const char *dir = NULL;
	int rc = layout_dir_and_name(ctx, ref, &dir, &d->name, err);
	if (rc == 0 && selection_digest(ref) && !d->name)
		rc = hoist_error_set(err, HOIST_E_INVALID,
			"cannot write to '%s': a destination needs a name, not a digest",
			ref->input);
	if (rc == 0)
		rc = hoist_layout_open(&d->layout, dir, true, err);
	if (rc == 0)
		rc = hoist_layout_hold(d->layout, err);
	if (rc < 0) {
		oci_dest_free(&d->base);
		return rc;
	}
	*out = &d->base;
	return 0;
}

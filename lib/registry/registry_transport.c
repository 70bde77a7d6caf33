/* The registry transport: hoist_source / hoist_dest over the registry
 * client.  Sources and destinations borrow the ctx's client for their
 * registry (hoist_registry_shared), so a copy within one registry, or
 * several images of one command, share connections and tokens; the
 * copier's worker threads use it at once. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hoist/registry.h"
#include "hoist/transport.h"
#include "registry/internal.h"
#include "util/cleanup.h"

typedef struct reg_source {
	hoist_source base;
	hoist_registry *r; /* borrowed from the ctx */
} reg_source;

static const hoist_ref *src_ref(hoist_source *s)
{
	return s->ref->ref;
}

static int src_get_manifest(hoist_source *s, const hoist_digest *digest,
	hoist_buf *raw, char **media_type, hoist_error **err)
{
	reg_source *rs = (reg_source *)s;
	const hoist_ref *ref = src_ref(s);
	const char *reference = digest ? digest->str
		: ref->digest ? ref->digest : hoist_ref_reference(ref);
	return hoist_registry_get_manifest(rs->r, ref->path, reference, raw,
		media_type, NULL, err);
}

static int src_open_blob(hoist_source *s, const hoist_descriptor *d,
	hoist_reader **out, hoist_error **err)
{
	reg_source *rs = (reg_source *)s;
	return hoist_registry_open_blob(rs->r, src_ref(s)->path, &d->digest,
		d->size, out, err);
}

static int src_list_tags(hoist_source *s, char ***tags, size_t *n,
	hoist_error **err)
{
	reg_source *rs = (reg_source *)s;
	return hoist_registry_list_tags(rs->r, src_ref(s)->path, tags, n, err);
}

static void src_free(hoist_source *s)
{
	reg_source *rs = (reg_source *)s;
	hoist_imgref_free(s->ref);
	free(rs);
}

static const hoist_source_ops src_ops = {
	.get_manifest = src_get_manifest,
	.open_blob = src_open_blob,
	.list_tags = src_list_tags,
	.free = src_free,
};

static int check_imgref(const hoist_imgref *ref, hoist_error **err)
{
	if (!ref || ref->kind != HOIST_TRANSPORT_REGISTRY || !ref->ref)
		return hoist_error_set(err, HOIST_E_INVALID,
			"not a registry reference '%s'",
			ref && ref->input ? ref->input : "");
	return 0;
}

int hoist_registry_source_open(hoist_ctx *ctx, hoist_imgref *ref,
	hoist_source **out, hoist_error **err)
{
	int e = check_imgref(ref, err);
	reg_source *rs = e == 0 ? calloc(1, sizeof(*rs)) : NULL;
	if (e == 0 && !rs)
		e = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	if (e == 0)
		e = hoist_registry_shared(&rs->r, ctx, ref->ref->domain, err);
	if (e < 0) {
		free(rs);
		hoist_imgref_free(ref);
		return e;
	}
	rs->base.ops = &src_ops;
	rs->base.ref = ref;
	*out = &rs->base;
	return 0;
}

/* Destination */

typedef struct pending_session {
	hoist_digest digest;
	char *url;
} pending_session;

typedef struct reg_dest {
	hoist_dest base;
	hoist_registry *r; /* borrowed from the ctx */
	pthread_mutex_t lock;
	pending_session *sessions; /* declined mounts' upload sessions */
	size_t n_sessions;
} reg_dest;

static const hoist_ref *dst_ref(hoist_dest *d)
{
	return d->ref->ref;
}

static int dst_has_blob(hoist_dest *d, const hoist_descriptor *desc, bool *out,
	hoist_error **err)
{
	reg_dest *rd = (reg_dest *)d;
	int64_t size = -1;
	int e = hoist_registry_head_blob(rd->r, dst_ref(d)->path, &desc->digest,
		out, &size, err);
	/* a blob of another size under the same digest is not ours */
	if (e == 0 && *out && size >= 0 && desc->size >= 0 && size != desc->size)
		*out = false;
	return e;
}

static int dst_mount_blob(hoist_dest *d, const hoist_descriptor *desc,
	const hoist_imgref *from, bool *mounted, hoist_error **err)
{
	reg_dest *rd = (reg_dest *)d;
	*mounted = false;
	if (!from || from->kind != HOIST_TRANSPORT_REGISTRY || !from->ref ||
		strcmp(from->ref->domain, dst_ref(d)->domain) ||
		!strcmp(from->ref->path, dst_ref(d)->path))
		return 0;
	char *session = NULL;
	int e = hoist_registry_mount_blob(rd->r, dst_ref(d)->path, &desc->digest,
		from->ref->path, mounted, &session, err);
	if (e < 0)
		return e;
	if (session) {
		pthread_mutex_lock(&rd->lock);
		pending_session *v = realloc(rd->sessions,
			(rd->n_sessions + 1) * sizeof(*v));
		if (v) {
			rd->sessions = v;
			v[rd->n_sessions++] = (pending_session){ desc->digest, session };
			session = NULL;
		}
		pthread_mutex_unlock(&rd->lock);
		free(session);
	}
	return 0;
}

/* The upload session a declined mount opened for digest, if any. */
static char *take_session(reg_dest *rd, const hoist_digest *dg)
{
	char *url = NULL;
	pthread_mutex_lock(&rd->lock);
	for (size_t i = 0; i < rd->n_sessions; i++) {
		if (hoist_digest_equal(&rd->sessions[i].digest, dg)) {
			url = rd->sessions[i].url;
			rd->sessions[i] = rd->sessions[--rd->n_sessions];
			break;
		}
	}
	pthread_mutex_unlock(&rd->lock);
	return url;
}

static int dst_put_blob(hoist_dest *d, const hoist_descriptor *desc,
	hoist_reader *content, hoist_error **err)
{
	reg_dest *rd = (reg_dest *)d;
	_cleanup_free_ char *session = take_session(rd, &desc->digest);
	return hoist_registry_put_blob(rd->r, dst_ref(d)->path, &desc->digest,
		desc->size, content, session, err);
}

static const char *dst_reference(hoist_dest *d)
{
	const char *tag = hoist_dest_tag(d);
	return tag ? tag : dst_ref(d)->digest;
}

static int dst_has_manifest(hoist_dest *d, const hoist_digest *dg, bool *out,
	hoist_error **err)
{
	reg_dest *rd = (reg_dest *)d;
	*out = false;
	const char *reference = dst_reference(d);
	if (!reference)
		return 0;
	bool exists = false;
	hoist_digest have;
	int e = hoist_registry_head_manifest(rd->r, dst_ref(d)->path, reference,
		&exists, &have, NULL, NULL, err);
	if (e < 0)
		return e;
	*out = exists && hoist_digest_equal(&have, dg);
	return 0;
}

static int dst_put_manifest(hoist_dest *d, const hoist_manifest *m, bool top,
	hoist_error **err)
{
	reg_dest *rd = (reg_dest *)d;
	const char *reference = top ? hoist_dest_tag(d) : NULL;
	if (!reference) {
		/* by digest; a digest in the destination reference must be
		 * the one we store */
		const char *want = top ? dst_ref(d)->digest : NULL;
		if (want && strcmp(want, m->digest.str))
			return hoist_error_set(err, HOIST_E_DIGEST,
				"PUT manifest '%s/%s@%s': the image has digest %s",
				dst_ref(d)->domain, dst_ref(d)->path, want,
				m->digest.str);
		reference = m->digest.str;
	}
	return hoist_registry_put_manifest(rd->r, dst_ref(d)->path, reference,
		m->media_type, m->raw, m->raw_len, NULL, err);
}

static int dst_commit(hoist_dest *d, hoist_error **err)
{
	return 0;
}

static void dst_free(hoist_dest *d)
{
	reg_dest *rd = (reg_dest *)d;
	for (size_t i = 0; i < rd->n_sessions; i++)
		free(rd->sessions[i].url);
	free(rd->sessions);
	pthread_mutex_destroy(&rd->lock);
	hoist_imgref_free(d->ref);
	free(rd);
}

static const hoist_dest_ops dst_ops = {
	.has_blob = dst_has_blob,
	.mount_blob = dst_mount_blob,
	.put_blob = dst_put_blob,
	.has_manifest = dst_has_manifest,
	.put_manifest = dst_put_manifest,
	.commit = dst_commit,
	.free = dst_free,
};

int hoist_registry_dest_open(hoist_ctx *ctx, hoist_imgref *ref,
	hoist_dest **out, hoist_error **err)
{
	int e = check_imgref(ref, err);
	reg_dest *rd = e == 0 ? calloc(1, sizeof(*rd)) : NULL;
	if (e == 0 && !rd)
		e = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	if (e == 0)
		e = hoist_registry_shared(&rd->r, ctx, ref->ref->domain, err);
	if (e == 0)
		e = hoist_registry_want_push(rd->r, ref->ref->path, err);
	if (e < 0) {
		free(rd);
		hoist_imgref_free(ref);
		return e;
	}
	pthread_mutex_init(&rd->lock, NULL);
	rd->base.ops = &dst_ops;
	rd->base.ref = ref;
	*out = &rd->base;
	return 0;
}

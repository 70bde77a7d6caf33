#include "hoist/copy.h"

#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/cleanup.h"

HOIST_DEFINE_CLEANUP(hoist_manifest, hoist_manifest_free)
HOIST_DEFINE_CLEANUP(hoist_imgref, hoist_imgref_free)

#define MAX_INDEX_DEPTH 4
#define BLOB_ATTEMPTS 3

typedef struct plan {
	hoist_manifest **manifests; /* children first, top last */
	size_t n_manifests;
	hoist_descriptor *blobs;    /* unique by digest */
	size_t n_blobs;
} plan;

static void plan_release(plan *p)
{
	for (size_t i = 0; i < p->n_manifests; i++)
		hoist_manifest_free(p->manifests[i]);
	free(p->manifests);
	for (size_t i = 0; i < p->n_blobs; i++)
		hoist_descriptor_release(&p->blobs[i]);
	free(p->blobs);
}

static int plan_add_manifest(plan *p, hoist_manifest *m, hoist_error **err)
{
	for (size_t i = 0; i < p->n_manifests; i++)
		if (hoist_digest_equal(&p->manifests[i]->digest, &m->digest)) {
			hoist_manifest_free(m);
			return 0;
		}
	hoist_manifest **n = realloc(p->manifests,
		(p->n_manifests + 1) * sizeof(*n));
	if (!n) {
		hoist_manifest_free(m);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	p->manifests = n;
	p->manifests[p->n_manifests++] = m;
	return 0;
}

static int plan_add_blob(plan *p, const hoist_descriptor *d, hoist_error **err)
{
	for (size_t i = 0; i < p->n_blobs; i++)
		if (hoist_digest_equal(&p->blobs[i].digest, &d->digest))
			return 0;
	hoist_descriptor *n = realloc(p->blobs, (p->n_blobs + 1) * sizeof(*n));
	if (!n)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	p->blobs = n;
	memset(&p->blobs[p->n_blobs], 0, sizeof(*n));
	int rc = hoist_descriptor_copy(&p->blobs[p->n_blobs], d, err);
	if (rc < 0)
		return rc;
	p->n_blobs++;
	return 0;
}

static int fetch_manifest(hoist_source *src, const hoist_descriptor *d,
	hoist_manifest **out, hoist_error **err)
{
	hoist_buf raw = HOIST_BUF_INIT(HOIST_MANIFEST_MAX);
	_cleanup_free_ char *mt = NULL;
	int rc = src->ops->get_manifest(src, &d->digest, &raw, &mt, err);
	if (rc == 0)
		rc = hoist_manifest_parse(out, raw.data, raw.len,
			mt ? mt : d->media_type, err);
	hoist_buf_release(&raw);
	if (rc < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "manifest %s", d->digest.str);
	if (d->digest.algo == (*out)->digest.algo &&
		!hoist_digest_equal(&d->digest, &(*out)->digest)) {
		hoist_manifest_free(*out);
		*out = NULL;
		return hoist_error_set(err, HOIST_E_DIGEST,
			"manifest %s: content does not match its digest", d->digest.str);
	}
	return 0;
}

/* Adds m's blobs, and for an index every child (fetched by digest), to
 * the plan; m itself goes in after its children. Takes m. */
static int plan_walk(hoist_source *src, hoist_manifest *m, int depth, plan *p,
	hoist_error **err)
{
	int rc = 0;
	if (m->kind == HOIST_MEDIA_INDEX) {
		if (depth >= MAX_INDEX_DEPTH) {
			hoist_manifest_free(m);
			return hoist_error_set(err, HOIST_E_LIMIT,
				"image indexes nested more than %d deep", MAX_INDEX_DEPTH);
		}
		for (size_t i = 0; rc == 0 && i < m->n_manifests; i++) {
			hoist_manifest *child = NULL;
			rc = fetch_manifest(src, &m->manifests[i], &child, err);
			if (rc == 0)
				rc = plan_walk(src, child, depth + 1, p, err);
		}
	} else {
		rc = plan_add_blob(p, &m->config, err);
		for (size_t i = 0; rc == 0 && i < m->n_layers; i++)
			rc = plan_add_blob(p, &m->layers[i], err);
	}
	if (rc < 0) {
		hoist_manifest_free(m);
		return rc;
	}
	return plan_add_manifest(p, m, err);
}

/* A reader that reports progress of the blob it passes through. */
typedef struct progress_reader {
	hoist_reader base;
	hoist_reader *inner;
	hoist_ctx *ctx;
	const char *id;
	int64_t total;
	uint64_t done;
	struct timespec last;
	_Atomic uint64_t *bytes;
} progress_reader;

static ssize_t progress_read(hoist_reader *r, void *buf, size_t n,
	hoist_error **err)
{
	progress_reader *p = (progress_reader *)r;
	ssize_t k = hoist_reader_read(p->inner, buf, n, err);
	if (k <= 0)
		return k;
	p->done += (uint64_t)k;
	atomic_fetch_add(p->bytes, (uint64_t)k);
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long ms = (now.tv_sec - p->last.tv_sec) * 1000 +
		(now.tv_nsec - p->last.tv_nsec) / 1000000;
	if (ms >= 200) {
		p->last = now;
		hoist_progress ev = { p->id, "copy", p->done, p->total };
		hoist_ctx_progress(p->ctx, &ev);
	}
	return k;
}

static void progress_free(hoist_reader *r)
{
	progress_reader *p = (progress_reader *)r;
	hoist_reader_free(p->inner);
	free(p);
}

static const hoist_reader_ops progress_ops = { progress_read, progress_free };

typedef struct copy_job {
	hoist_ctx *ctx;
	hoist_source *src;
	hoist_dest *dst;
	plan *plan;
	pthread_mutex_t lock;
	size_t next;
	bool failed;
	hoist_error *err;
	_Atomic uint64_t bytes;
	_Atomic uint64_t copied, skipped, mounted;
} copy_job;

static bool same_registry(const hoist_imgref *a, const hoist_imgref *b)
{
	return a->kind == HOIST_TRANSPORT_REGISTRY &&
		b->kind == HOIST_TRANSPORT_REGISTRY &&
		!strcmp(a->ref->domain, b->ref->domain);
}

static void report(hoist_ctx *ctx, const hoist_descriptor *d, const char *what,
	uint64_t done)
{
	hoist_progress ev = { d->digest.str, what, done, d->size };
	hoist_ctx_progress(ctx, &ev);
}

static int copy_blob(copy_job *j, const hoist_descriptor *d, hoist_error **err)
{
	bool have = false;
	int rc = j->dst->ops->has_blob(j->dst, d, &have, err);
	if (rc < 0)
		return rc;
	if (have) {
		atomic_fetch_add(&j->skipped, 1);
		report(j->ctx, d, "skip", 0);
		return 0;
	}
	const hoist_imgref *origin = j->src->ops->blob_origin
		? j->src->ops->blob_origin(j->src, d) : j->src->ref;
	if (origin && j->dst->ops->mount_blob && same_registry(origin, j->dst->ref) &&
		strcmp(origin->ref->path, j->dst->ref->ref->path) != 0) {
		bool mounted = false;
		rc = j->dst->ops->mount_blob(j->dst, d, origin, &mounted, err);
		if (rc < 0)
			return rc;
		if (mounted) {
			atomic_fetch_add(&j->mounted, 1);
			report(j->ctx, d, "mount", 0);
			return 0;
		}
	}
	for (int attempt = 1;; attempt++) {
		hoist_reader *r = NULL;
		hoist_error *e = NULL;
		rc = j->src->ops->open_blob(j->src, d, &r, &e);
		if (rc == 0) {
			progress_reader *p = calloc(1, sizeof(*p));
			if (!p) {
				hoist_reader_free(r);
				rc = hoist_error_set(&e, HOIST_E_NOMEM, "out of memory");
			} else {
				p->base.ops = &progress_ops;
				p->inner = r;
				p->ctx = j->ctx;
				p->id = d->digest.str;
				p->total = d->size;
				p->bytes = &j->bytes;
				clock_gettime(CLOCK_MONOTONIC, &p->last);
				rc = j->dst->ops->put_blob(j->dst, d, &p->base, &e);
				hoist_reader_free(&p->base);
			}
		}
		if (rc == 0) {
			atomic_fetch_add(&j->copied, 1);
			report(j->ctx, d, "done", (uint64_t)d->size);
			return 0;
		}
		/* A stream cut mid-way cannot be resumed by put_blob (the source
		 * bytes are gone): start this blob again. */
		if (rc != -HOIST_E_NETWORK || attempt >= BLOB_ATTEMPTS) {
			*err = e;
			return rc;
		}
		hoist_log(j->ctx, HOIST_LOG_WARN, "blob %s: %s; retrying (%d/%d)",
			d->digest.str, e->msg, attempt + 1, BLOB_ATTEMPTS);
		hoist_error_free(e);
	}
}

static void *copy_worker(void *arg)
{
	copy_job *j = arg;
	for (;;) {
		pthread_mutex_lock(&j->lock);
		if (j->failed || j->next >= j->plan->n_blobs) {
			pthread_mutex_unlock(&j->lock);
			return NULL;
		}
		const hoist_descriptor *d = &j->plan->blobs[j->next++];
		pthread_mutex_unlock(&j->lock);
		hoist_error *e = NULL;
		if (copy_blob(j, d, &e) < 0) {
			report(j->ctx, d, "fail", 0);
			hoist_error_wrap(&e, HOIST_E_IO, "blob %s", d->digest.str);
			pthread_mutex_lock(&j->lock);
			if (!j->failed) {
				j->failed = true;
				j->err = e;
				e = NULL;
			}
			pthread_mutex_unlock(&j->lock);
			hoist_error_free(e);
		}
	}
}

static int copy_blobs(hoist_ctx *ctx, hoist_source *src, hoist_dest *dst,
	plan *p, hoist_copy_stats *st, hoist_error **err)
{
	copy_job j = { 0 };
	j.ctx = ctx;
	j.src = src;
	j.dst = dst;
	j.plan = p;
	pthread_mutex_init(&j.lock, NULL);
	size_t nthreads = (size_t)hoist_ctx_jobs(ctx);
	if (nthreads > p->n_blobs)
		nthreads = p->n_blobs;
	pthread_t *t = calloc(nthreads ? nthreads : 1, sizeof(*t));
	if (!t) {
		pthread_mutex_destroy(&j.lock);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	size_t started = 0;
	if (nthreads == 1) {
		copy_worker(&j);
	} else {
		for (; started < nthreads; started++)
			if (pthread_create(&t[started], NULL, copy_worker, &j) != 0)
				break;
		if (started == 0)
			copy_worker(&j);
		for (size_t i = 0; i < started; i++)
			pthread_join(t[i], NULL);
	}
	free(t);
	pthread_mutex_destroy(&j.lock);
	st->blobs_total += p->n_blobs;
	st->blobs_copied += j.copied;
	st->blobs_skipped += j.skipped;
	st->blobs_mounted += j.mounted;
	st->bytes_copied += j.bytes;
	if (j.failed) {
		if (err && !*err)
			*err = j.err;
		else
			hoist_error_free(j.err);
		return err && *err ? -(*err)->code : -HOIST_E_IO;
	}
	return 0;
}

int hoist_copy_image(hoist_ctx *ctx, hoist_source *src, hoist_dest *dst,
	const hoist_copy_opts *opts, hoist_digest *digest,
	hoist_copy_stats *stats, hoist_error **err)
{
	hoist_copy_stats local_st = { 0 };
	hoist_copy_stats *st = stats ? stats : &local_st;
	_cleanup_(hoist_manifest_freep) hoist_manifest *top = NULL;
	hoist_platform host = { 0 };
	const hoist_platform *want = opts ? opts->platform : NULL;
	int rc = hoist_source_manifest(src, NULL, &top, err);
	if (rc < 0)
		goto out;
	if (top->kind == HOIST_MEDIA_INDEX && (want || dst->single_image)) {
		hoist_manifest_free(top);
		top = NULL;
		if (!want) {
			rc = hoist_platform_host(&host, err);
			if (rc < 0)
				goto out;
			want = &host;
		}
		rc = hoist_source_manifest(src, want, &top, err);
		if (rc < 0)
			goto out;
	}
	if (digest)
		*digest = top->digest;
	if (dst->ops->has_manifest) {
		bool have = false;
		rc = dst->ops->has_manifest(dst, &top->digest, &have, err);
		if (rc < 0)
			goto out;
		if (have) {
			st->unchanged = true;
			rc = dst->ops->commit(dst, err);
			goto out;
		}
	}
	plan p = { 0 };
	rc = plan_walk(src, steal_ptr(&top), 0, &p, err);
	if (rc == 0)
		rc = copy_blobs(ctx, src, dst, &p, st, err);
	for (size_t i = 0; rc == 0 && i < p.n_manifests; i++) {
		bool is_top = i + 1 == p.n_manifests;
		rc = dst->ops->put_manifest(dst, p.manifests[i], is_top, err);
		if (rc < 0)
			hoist_error_wrap(err, HOIST_E_IO, "manifest %s",
				p.manifests[i]->digest.str);
		else
			st->manifests++;
	}
	plan_release(&p);
	if (rc == 0)
		rc = dst->ops->commit(dst, err);
out:
	hoist_platform_release(&host);
	return rc;
}

int hoist_copy_by_name(hoist_ctx *ctx, const char *src_name, const char *dst_name,
	const hoist_copy_opts *opts, hoist_digest *digest,
	hoist_copy_stats *stats, hoist_error **err)
{
	hoist_source *src = NULL;
	hoist_dest *dst = NULL;
	int rc = hoist_source_open(ctx, src_name, &src, err);
	if (rc < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "open '%s'", src_name);
	rc = hoist_dest_open(ctx, dst_name, &dst, err);
	if (rc < 0) {
		hoist_source_free(src);
		return hoist_error_wrap(err, HOIST_E_IO, "open '%s'", dst_name);
	}
	rc = hoist_copy_image(ctx, src, dst, opts, digest, stats, err);
	hoist_dest_free(dst);
	hoist_source_free(src);
	if (rc < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "copy '%s' to '%s'",
			src_name, dst_name);
	return 0;
}

int hoist_imgref_with_tag(const hoist_imgref *r, const char *tag, char **out,
	hoist_error **err)
{
	int n = -1;
	*out = NULL;
	switch (r->kind) {
	case HOIST_TRANSPORT_OCI:
		n = asprintf(out, "oci:%s:%s", r->path, tag);
		break;
	case HOIST_TRANSPORT_ARCHIVE:
	case HOIST_TRANSPORT_REGISTRY:
	case HOIST_TRANSPORT_LOCAL: {
		if (r->kind == HOIST_TRANSPORT_ARCHIVE && !r->tag)
			return hoist_error_set(err, HOIST_E_INVALID,
				"'%s' has no image name to tag", r->input);
		hoist_ref *copy = NULL;
		int rc = 0;
		if (r->kind == HOIST_TRANSPORT_ARCHIVE)
			rc = hoist_ref_parse(&copy, r->tag, err);
		else
			rc = hoist_ref_dup(&copy, r->ref, err);
		if (rc == 0)
			rc = hoist_ref_set_digest(copy, NULL, err);
		if (rc == 0)
			rc = hoist_ref_set_tag(copy, tag, err);
		if (rc < 0) {
			hoist_ref_free(copy);
			return rc;
		}
		_cleanup_free_ char *s = r->kind == HOIST_TRANSPORT_REGISTRY
			? hoist_ref_string(copy) : hoist_ref_familiar(copy);
		hoist_ref_free(copy);
		if (!s)
			break;
		if (r->kind == HOIST_TRANSPORT_REGISTRY)
			n = asprintf(out, "docker://%s", s);
		else if (r->kind == HOIST_TRANSPORT_LOCAL)
			n = asprintf(out, "local:%s", s);
		else
			n = asprintf(out, "docker-archive:%s:%s", r->path, s);
		break;
	}
	}
	if (n < 0) {
		*out = NULL;
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	return 0;
}

static void free_tags(char **tags, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(tags[i]);
	free(tags);
}

int hoist_copy_all_tags(hoist_ctx *ctx, const char *src_name,
	const char *dst_name, const char *tag_regex, const hoist_copy_opts *opts,
	hoist_copy_tag_fn on_tag, void *ud, hoist_copy_stats *total,
	hoist_error **err)
{
	_cleanup_(hoist_imgref_freep) hoist_imgref *sr = NULL;
	_cleanup_(hoist_imgref_freep) hoist_imgref *dr = NULL;
	int rc = hoist_imgref_parse(&sr, src_name, err);
	if (rc == 0)
		rc = hoist_imgref_parse(&dr, dst_name, err);
	if (rc < 0)
		return rc;
	regex_t re;
	bool have_re = false;
	if (tag_regex) {
		int e = regcomp(&re, tag_regex, REG_EXTENDED | REG_NOSUB);
		if (e != 0) {
			char msg[256];
			regerror(e, &re, msg, sizeof(msg));
			return hoist_error_set(err, HOIST_E_INVALID,
				"invalid --tag-regex '%s': %s", tag_regex, msg);
		}
		have_re = true;
	}
	hoist_source *lister = NULL;
	char **tags = NULL;
	size_t n = 0;
	rc = hoist_source_open_ref(ctx, sr, &lister, err);
	if (rc == 0 && !lister->ops->list_tags)
		rc = hoist_error_set(err, HOIST_E_UNSUPPORTED,
			"'%s' cannot list tags", src_name);
	if (rc == 0)
		rc = lister->ops->list_tags(lister, &tags, &n, err);
	hoist_source_free(lister);
	if (rc < 0) {
		if (have_re)
			regfree(&re);
		return hoist_error_wrap(err, HOIST_E_IO, "list tags of '%s'", src_name);
	}
	int failures = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (have_re && regexec(&re, tags[i], 0, NULL, 0) != 0)
			continue;
		_cleanup_free_ char *s = NULL;
		_cleanup_free_ char *d = NULL;
		rc = hoist_imgref_with_tag(sr, tags[i], &s, err);
		if (rc == 0)
			rc = hoist_imgref_with_tag(dr, tags[i], &d, err);
		if (rc < 0)
			break;
		hoist_copy_stats st = { 0 };
		hoist_digest dg = { 0 };
		hoist_error *e = NULL;
		int trc = hoist_copy_by_name(ctx, s, d, opts, &dg, &st, &e);
		if (total) {
			total->blobs_total += st.blobs_total;
			total->blobs_copied += st.blobs_copied;
			total->blobs_skipped += st.blobs_skipped;
			total->blobs_mounted += st.blobs_mounted;
			total->bytes_copied += st.bytes_copied;
			total->manifests += st.manifests;
		}
		if (trc < 0)
			failures++;
		if (on_tag)
			rc = on_tag(ud, tags[i], trc, &dg, &st, e);
		else if (trc < 0)
			rc = trc;
		if (rc < 0 && err && !*err && e)
			*err = steal_ptr(&e);
		hoist_error_free(e);
	}
	free_tags(tags, n);
	if (have_re)
		regfree(&re);
	if (rc == 0 && failures)
		rc = hoist_error_set(err, HOIST_E_IO, "%d of the tags failed to copy",
			failures);
	return rc;
}

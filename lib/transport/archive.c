/* The docker-archive: transport, the tarball of `docker save` / `docker
 * load`.
 *
 * Reading accepts both layouts docker has written: the legacy one
 * (ID/layer.tar, HEX.json, manifest.json, repositories) and the Docker 25+
 * one, which is at the same time an OCI image layout (blobs/sha256/HEX,
 * index.json, oci-layout) with a manifest.json for old loaders.  The
 * archive's manifest.json says which files make an image; when an OCI
 * index.json in the tar names a manifest with the same config, its exact
 * bytes are served (the digest survives a round trip), otherwise a Docker
 * schema 2 manifest (OCI if a layer is zstd) is synthesised from the files.
 *
 * Writing produces the Docker 25+ layout, which every loader we care about
 * accepts (docker load old and new, podman load, skopeo), into a temp file
 * renamed over the target on commit.  Entries are written with fixed
 * metadata (mode 0644, mtime 0, uid/gid 0, no owner names), so the same
 * image always gives the same bytes. */
#include "hoist/transport.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hoist/config.h"
#include "hoist/digest.h"
#include "hoist/fs.h"
#include "hoist/media.h"
#include "hoist/ref.h"
#include "util/cleanup.h"

/* Bounds on what an archive may contain. */
#define TAR_MEMBER_MAX ((int64_t)1 << 40) /* 1 TiB per member */
#define TAR_MEMBERS_MAX 100000
#define TAR_NAME_MAX 4096
#define TAR_LINK_HOPS_MAX 16
/* manifest.json lists every image of the archive, so allow more than one
 * manifest's worth. */
#define TAR_MANIFEST_JSON_MAX (16 * 1024 * 1024)
#define INDEX_DEPTH_MAX 4

HOIST_DEFINE_CLEANUP(hoist_ref, hoist_ref_free)
HOIST_DEFINE_CLEANUP(hoist_manifest, hoist_manifest_free)
HOIST_DEFINE_CLEANUP(hoist_hasher, hoist_hasher_free)
HOIST_DEFINE_CLEANUP(hoist_reader, hoist_reader_free)
HOIST_DEFINE_CLEANUP(hoist_config, hoist_config_free)
HOIST_DEFINE_CLEANUP(struct archive, archive_read_free)

static inline void buf_releasep(hoist_buf *b)
{
	hoist_buf_release(b);
}
#define _cleanup_buf_ _cleanup_(buf_releasep)

/* ------------------------------------------------------------------ */
/* Names */

/* Cleans an archive path: drops "", "." components (docker and tar write
 * "./x" as well as "x"), refuses absolute paths, and either refuses ".."
 * (member names) or resolves it lexically without leaving the root (link
 * targets).  *out is "" for the root itself. */
static int path_clean(const char *s, bool allow_dotdot, char **out,
	hoist_error **err)
{
	if (strlen(s) > TAR_NAME_MAX)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"member name '%.64s...' is longer than %d bytes", s,
			TAR_NAME_MAX);
	if (s[0] == '/')
		return hoist_error_set(err, HOIST_E_UNSAFE,
			"member name '%s' is an absolute path", s);
	hoist_buf b = HOIST_BUF_INIT(TAR_NAME_MAX + 1);
	int r = hoist_buf_append(&b, "", 0, err);
	const char *p = s;
	while (r == 0 && *p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (!allow_dotdot) {
				r = hoist_error_set(err, HOIST_E_UNSAFE,
					"member name '%s' contains '..'", s);
				break;
			}
			if (b.len == 0) {
				r = hoist_error_set(err, HOIST_E_UNSAFE,
					"path '%s' leaves the archive", s);
				break;
			}
			char *last = strrchr(b.data, '/');
			b.len = last ? (size_t)(last - b.data) : 0;
			b.data[b.len] = '\0';
		} else if (n != 0 && !(n == 1 && p[0] == '.')) {
			if (b.len)
				r = hoist_buf_append(&b, "/", 1, err);
			if (r == 0)
				r = hoist_buf_append(&b, p, n, err);
		}
		p += n;
		if (*p == '/')
			p++;
	}
	if (r < 0) {
		hoist_buf_release(&b);
		return r;
	}
	*out = hoist_buf_steal(&b, NULL);
	return 0;
}

/* The digest a "blobs/ALG/HEX" member name states, if it is one. */
static bool blob_name_digest(const char *name, hoist_digest *out)
{
	if (strncmp(name, "blobs/", 6) != 0)
		return false;
	const char *alg = name + 6;
	const char *slash = strchr(alg, '/');
	if (!slash || strchr(slash + 1, '/'))
		return false;
	char tmp[HOIST_DIGEST_STRMAX];
	int n = snprintf(tmp, sizeof(tmp), "%.*s:%s", (int)(slash - alg), alg,
		slash + 1);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return false;
	return hoist_digest_parse(out, tmp, NULL) == 0;
}

static char *blob_member_name(const hoist_digest *d)
{
	char *s = NULL;
	if (asprintf(&s, "blobs/%s/%s", hoist_digest_algo_name(d->algo),
		    hoist_digest_hex(d)) < 0)
		return NULL;
	return s;
}

/* A docker reference in familiar form with its tag ("busybox:latest"),
 * the tag defaulting to "latest"; *ref_out (optional) gets the parse. */
static int familiar_tagged(const char *s, char **out, hoist_ref **ref_out,
	hoist_error **err)
{
	_cleanup_(hoist_ref_freep) hoist_ref *r = NULL;
	int e = hoist_ref_parse(&r, s, err);
	if (e < 0)
		return e;
	if (r->digest)
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid image name '%s': a docker archive names images "
			"by tag, not digest", s);
	if (!r->tag && (e = hoist_ref_set_tag(r, "latest", err)) < 0)
		return e;
	char *f = hoist_ref_familiar(r);
	if (!f)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	*out = f;
	if (ref_out)
		*ref_out = steal_ptr(&r);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Reading tar files */

/* libarchive reports format trouble with EILSEQ (its
 * ARCHIVE_ERRNO_FILE_FORMAT on Linux) or -1 (ARCHIVE_ERRNO_MISC). */
static int tar_error(struct archive *a, hoist_error **err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int tar_error(struct archive *a, hoist_error **err, const char *fmt, ...)
{
	int e = archive_errno(a);
	const char *msg = archive_error_string(a);
	int code = e == ENOENT ? HOIST_E_NOTFOUND
		: e == ENOMEM ? HOIST_E_NOMEM
		: (e == EILSEQ || e == -1 || e == 0) ? HOIST_E_INVALID
		: HOIST_E_IO;
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *what = NULL;
	if (vasprintf(&what, fmt, ap) < 0)
		what = NULL;
	va_end(ap);
	return hoist_error_set(err, code, "%s: %s", what ? what : "read",
		msg ? msg : "unknown archive error");
}

static int tar_open(struct archive **out, const char *path, hoist_error **err)
{
	struct archive *a = archive_read_new();
	if (!a)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	archive_read_support_format_tar(a);
	/* `docker save | gzip` output is common; docker load takes it. */
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_filter_xz(a);
	archive_read_support_filter_zstd(a);
	if (archive_read_open_filename(a, path, 64 * 1024) != ARCHIVE_OK) {
		int e = archive_errno(a);
		int r = e > 0 && e != EILSEQ ? hoist_error_errno(err, e, "open")
					     : tar_error(a, err, "open");
		archive_read_free(a);
		return r;
	}
	*out = a;
	return 0;
}

/* 1 with *e set, 0 at the end, negative on error. */
static int tar_next(struct archive *a, struct archive_entry **e,
	hoist_error **err)
{
	int r = archive_read_next_header(a, e);
	if (r == ARCHIVE_EOF)
		return 0;
	if (r < ARCHIVE_WARN)
		return tar_error(a, err, "read tar");
	return 1;
}

/* Moves to the header at position `ordinal`; *pos counts the headers read
 * so far on a. */
static int tar_goto(struct archive *a, size_t *pos, size_t ordinal,
	struct archive_entry **e, hoist_error **err)
{
	if (ordinal < *pos)
		return hoist_error_set(err, HOIST_E_INVALID,
			"internal error: member %zu is behind the read position",
			ordinal);
	while (*pos <= ordinal) {
		int r = tar_next(a, e, err);
		if (r < 0)
			return r;
		if (r == 0)
			return hoist_error_set(err, HOIST_E_INVALID,
				"the file changed since it was opened: member %zu "
				"is gone",
				ordinal);
		(*pos)++;
	}
	return 0;
}

enum tar_kind { TAR_FILE, TAR_SYMLINK, TAR_HARDLINK };

typedef struct tar_member {
	char *name;       /* cleaned */
	char *link;       /* links: cleaned target path */
	enum tar_kind kind;
	size_t ordinal;   /* position among the archive's headers */
	int64_t size;
	hoist_digest digest; /* files: stated by a blobs/ name, else hashed */
	unsigned char magic[4];
	size_t n_magic;
} tar_member;

/* The members of an archive, looked up by name and by digest (archives
 * may hold many thousands of files). */
typedef struct tar_index {
	tar_member *m;
	size_t n, cap;
	json_t *by_name;   /* name -> position in m */
	json_t *by_digest; /* digest -> position of the first file with it */
} tar_index;

static void tar_index_release(tar_index *x)
{
	for (size_t i = 0; i < x->n; i++) {
		free(x->m[i].name);
		free(x->m[i].link);
	}
	free(x->m);
	json_decref(x->by_name);
	json_decref(x->by_digest);
}

static const tar_member *lookup(const tar_index *x, json_t *map,
	const char *key)
{
	json_t *v = map ? json_object_get(map, key) : NULL;
	return v ? &x->m[json_integer_value(v)] : NULL;
}

static const tar_member *member_by_name(const tar_index *x, const char *name)
{
	return lookup(x, x->by_name, name);
}

static const tar_member *member_by_digest(const tar_index *x,
	const hoist_digest *d)
{
	return lookup(x, x->by_digest, d->str);
}

/* Adds a member (name taken over); *out points into x until the next add. */
static int tar_index_add(tar_index *x, char **name, tar_member **out,
	hoist_error **err)
{
	if (!x->by_name && !(x->by_name = json_object()))
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	if (!x->by_digest && !(x->by_digest = json_object()))
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	if (json_object_get(x->by_name, *name))
		return hoist_error_set(err, HOIST_E_INVALID,
			"member '%s' appears twice", *name);
	if (x->n == x->cap) {
		size_t ncap = x->cap ? x->cap * 2 : 64;
		tar_member *m = realloc(x->m, ncap * sizeof(*m));
		if (!m)
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		x->m = m;
		x->cap = ncap;
	}
	if (json_object_set_new(x->by_name, *name,
		    json_integer((json_int_t)x->n)) < 0)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	tar_member *m = &x->m[x->n++];
	memset(m, 0, sizeof(*m));
	m->name = steal_ptr(name);
	*out = m;
	return 0;
}

static int tar_index_digest(tar_index *x, const tar_member *m,
	hoist_error **err)
{
	if (json_object_get(x->by_digest, m->digest.str))
		return 0;
	if (json_object_set_new(x->by_digest, m->digest.str,
		    json_integer((json_int_t)(m - x->m))) < 0)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	return 0;
}

/* Follows links (legacy archives link a layer.tar shared by two images to
 * the first copy, "../ID/layer.tar") to the file that holds the data. */
static int member_resolve(const tar_index *x, const char *path,
	const tar_member **out, hoist_error **err)
{
	_cleanup_free_ char *name = NULL;
	int r = path_clean(path, false, &name, err);
	if (r < 0)
		return r;
	for (int hops = 0; hops <= TAR_LINK_HOPS_MAX; hops++) {
		const tar_member *t = member_by_name(x, name);
		if (!t)
			return hoist_error_set(err, HOIST_E_NOTFOUND,
				"'%s' is not in the archive", path);
		if (t->kind == TAR_FILE) {
			*out = t;
			return 0;
		}
		char *next = strdup(t->link);
		if (!next)
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		free(name);
		name = next;
	}
	return hoist_error_set(err, HOIST_E_LIMIT,
		"'%s': more than %d links to follow", path, TAR_LINK_HOPS_MAX);
}

/* Reads the data of the current member: first bytes into magic, all of it
 * through h and into keep when given; checks it has the header's size. */
static int read_member(struct archive *a, const tar_member *m, char *chunk,
	hoist_hasher *h, hoist_buf *keep, unsigned char *magic, size_t *n_magic,
	hoist_error **err)
{
	uint64_t seen = 0;
	for (;;) {
		la_ssize_t k = archive_read_data(a, chunk, HOIST_IO_CHUNK);
		if (k < 0)
			return tar_error(a, err, "read '%s'", m->name);
		if (k == 0)
			break;
		if (magic && *n_magic < 4) {
			size_t take = 4 - *n_magic;
			if (take > (size_t)k)
				take = (size_t)k;
			memcpy(magic + *n_magic, chunk, take);
			*n_magic += take;
		}
		if (h)
			hoist_hasher_update(h, chunk, (size_t)k);
		if (keep) {
			int r = hoist_buf_append(keep, chunk, (size_t)k, err);
			if (r < 0)
				return hoist_error_wrap(err, HOIST_E_LIMIT, "read '%s'",
					m->name);
		}
		seen += (uint64_t)k;
	}
	if (seen != (uint64_t)m->size)
		return hoist_error_set(err, HOIST_E_INVALID,
			"member '%s' has %llu bytes, its header says %lld", m->name,
			(unsigned long long)seen, (long long)m->size);
	return 0;
}

/* ------------------------------------------------------------------ */
/* A reader over one member of a tar file */

typedef struct member_reader {
	hoist_reader base;
	struct archive *a;
	char *what;
} member_reader;

static ssize_t member_read(hoist_reader *r, void *buf, size_t n,
	hoist_error **err)
{
	member_reader *m = (member_reader *)r;
	la_ssize_t k = archive_read_data(m->a, buf, n);
	if (k < 0)
		return tar_error(m->a, err, "%s", m->what);
	return (ssize_t)k;
}

static void member_reader_free(hoist_reader *r)
{
	member_reader *m = (member_reader *)r;
	if (m->a)
		archive_read_free(m->a);
	free(m->what);
	free(m);
}

static const hoist_reader_ops member_reader_ops = { member_read,
	member_reader_free };

/* A (non-verifying) reader positioned on member m of the file at path. */
static int member_open(const char *path, const tar_member *m,
	hoist_reader **out, hoist_error **err)
{
	member_reader *mr = calloc(1, sizeof(*mr));
	if (!mr)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	mr->base.ops = &member_reader_ops;
	if (asprintf(&mr->what, "docker-archive '%s': read '%s'", path,
		    m->name) < 0) {
		mr->what = NULL;
		member_reader_free(&mr->base);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	int r = tar_open(&mr->a, path, err);
	size_t pos = 0;
	struct archive_entry *e = NULL;
	if (r == 0)
		r = tar_goto(mr->a, &pos, m->ordinal, &e, err);
	if (r == 0) {
		_cleanup_free_ char *name = NULL;
		const char *raw = archive_entry_pathname(e);
		if (!raw || path_clean(raw, false, &name, NULL) < 0 ||
			strcmp(name, m->name) != 0)
			r = hoist_error_set(err, HOIST_E_INVALID,
				"the file changed since it was opened: member "
				"'%s' moved",
				m->name);
	}
	if (r < 0) {
		member_reader_free(&mr->base);
		return r;
	}
	*out = &mr->base;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Source */

typedef struct known_manifest {
	hoist_digest digest;
	char *media_type;
	const tar_member *member;
} known_manifest;

typedef struct archive_source {
	hoist_source base;
	hoist_ctx *ctx;
	tar_index tar;
	/* the chosen image's manifest */
	char *raw;
	size_t raw_len;
	char *media_type;
	hoist_digest digest;
	/* manifests reachable from index.json, served by digest */
	known_manifest *known;
	size_t n_known;
} archive_source;

static const char *source_path(const archive_source *s)
{
	return s->base.ref->path;
}

/* One pass over the archive: lists the members, keeps manifest.json and
 * index.json, hashes every file whose name does not state its digest, and
 * records the first bytes of each file (layer compression). */
static int source_scan(archive_source *s, hoist_buf *mjson, bool *has_mjson,
	hoist_buf *ijson, bool *has_ijson, hoist_error **err)
{
	_cleanup_(archive_read_freep) struct archive *a = NULL;
	_cleanup_(hoist_hasher_freep) hoist_hasher *h = NULL;
	_cleanup_free_ char *chunk = malloc(HOIST_IO_CHUNK);
	if (!chunk)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	int r = tar_open(&a, source_path(s), err);
	if (r < 0)
		return r;
	r = hoist_hasher_new(&h, HOIST_DIGEST_SHA256, err);
	if (r < 0)
		return r;
	for (size_t ordinal = 0;; ordinal++) {
		struct archive_entry *e;
		r = tar_next(a, &e, err);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		if (ordinal >= TAR_MEMBERS_MAX)
			return hoist_error_set(err, HOIST_E_LIMIT,
				"more than %d members", TAR_MEMBERS_MAX);
		const char *raw = archive_entry_pathname(e);
		if (!raw)
			return hoist_error_set(err, HOIST_E_INVALID,
				"member %zu has no usable name", ordinal);
		_cleanup_free_ char *name = NULL;
		r = path_clean(raw, false, &name, err);
		if (r < 0)
			return r;
		mode_t type = archive_entry_filetype(e);
		const char *hardlink = archive_entry_hardlink(e);
		enum tar_kind kind;
		if (hardlink)
			kind = TAR_HARDLINK;
		else if (type == AE_IFLNK)
			kind = TAR_SYMLINK;
		else if (type == AE_IFREG)
			kind = TAR_FILE;
		else
			continue; /* directories, devices: nothing to serve */
		if (!*name)
			continue;
		int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e)
							    : 0;
		if (size < 0 || size > TAR_MEMBER_MAX)
			return hoist_error_set(err, HOIST_E_LIMIT,
				"member '%s' has size %lld, more than 1 TiB", name,
				(long long)size);
		tar_member *m = NULL;
		if ((r = tar_index_add(&s->tar, &name, &m, err)) < 0)
			return r;
		m->kind = kind;
		m->ordinal = ordinal;
		m->size = size;
		if (kind == TAR_HARDLINK) {
			r = path_clean(hardlink, false, &m->link, err);
		} else if (kind == TAR_SYMLINK) {
			const char *target = archive_entry_symlink(e);
			_cleanup_free_ char *joined = NULL;
			const char *slash = strrchr(m->name, '/');
			if (!target)
				return hoist_error_set(err, HOIST_E_INVALID,
					"symlink '%s' has no target", m->name);
			if (target[0] == '/')
				return hoist_error_set(err, HOIST_E_UNSAFE,
					"symlink '%s' points to the absolute path "
					"'%s'",
					m->name, target);
			if (!slash)
				joined = strdup(target);
			else if (asprintf(&joined, "%.*s/%s",
					 (int)(slash - m->name), m->name,
					 target) < 0)
				joined = NULL;
			if (!joined)
				return hoist_error_set(err, HOIST_E_NOMEM,
					"out of memory");
			r = path_clean(joined, true, &m->link, err);
			if (r < 0)
				return hoist_error_wrap(err, HOIST_E_UNSAFE,
					"symlink '%s'", m->name);
		} else {
			hoist_buf *keep = NULL;
			if (!strcmp(m->name, "manifest.json")) {
				keep = mjson;
				*has_mjson = true;
			} else if (!strcmp(m->name, "index.json")) {
				keep = ijson;
				*has_ijson = true;
			}
			bool named = blob_name_digest(m->name, &m->digest);
			if (named && !keep) {
				/* Only the first bytes; verified when served. */
				la_ssize_t k = archive_read_data(a, m->magic,
					sizeof(m->magic));
				if (k < 0)
					return tar_error(a, err, "read '%s'",
						m->name);
				m->n_magic = (size_t)k;
			} else {
				hoist_hasher_reset(h);
				r = read_member(a, m, chunk, named ? NULL : h, keep,
					m->magic, &m->n_magic, err);
				if (r == 0 && !named)
					hoist_hasher_final(h, &m->digest);
			}
			if (r == 0)
				r = tar_index_digest(&s->tar, m, err);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static const char *sniff_layer_type(const tar_member *m, bool oci)
{
	static const unsigned char gz[] = { 0x1f, 0x8b };
	static const unsigned char zst[] = { 0x28, 0xb5, 0x2f, 0xfd };
	if (m->n_magic >= 4 && !memcmp(m->magic, zst, 4))
		return HOIST_MT_OCI_LAYER_ZSTD;
	if (m->n_magic >= 2 && !memcmp(m->magic, gz, 2))
		return oci ? HOIST_MT_OCI_LAYER_GZIP : HOIST_MT_DOCKER_LAYER_GZIP;
	return oci ? HOIST_MT_OCI_LAYER : HOIST_MT_DOCKER_LAYER;
}

static json_t *descriptor_json(const char *media_type, const tar_member *m)
{
	return json_pack("{s:s, s:I, s:s}", "mediaType", media_type, "size",
		(json_int_t)m->size, "digest", m->digest.str);
}

/* The image's manifest built from its files: Docker schema 2, or OCI when
 * a layer is zstd (which schema 2 cannot say).  Key order is fixed and the
 * output compact, so the same archive always gives the same digest. */
static int source_synthesise(archive_source *s, const tar_member *config,
	const tar_member **layers, size_t n_layers, hoist_error **err)
{
	bool oci = false;
	for (size_t i = 0; i < n_layers; i++)
		if (!strcmp(sniff_layer_type(layers[i], false),
			    HOIST_MT_OCI_LAYER_ZSTD))
			oci = true;
	const char *mt = oci ? HOIST_MT_OCI_MANIFEST : HOIST_MT_DOCKER_MANIFEST;
	json_auto_t *arr = json_array();
	if (!arr)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	for (size_t i = 0; i < n_layers; i++)
		if (json_array_append_new(arr,
			    descriptor_json(sniff_layer_type(layers[i], oci),
				    layers[i])) < 0)
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	json_auto_t *root = json_pack("{s:i, s:s, s:o, s:O}", "schemaVersion", 2,
		"mediaType", mt, "config",
		descriptor_json(oci ? HOIST_MT_OCI_CONFIG : HOIST_MT_DOCKER_CONFIG,
			config),
		"layers", arr);
	if (!root)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	char *raw = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!raw)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	s->raw = raw;
	s->raw_len = strlen(raw);
	s->media_type = strdup(mt);
	if (!s->media_type)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	return hoist_digest_of(&s->digest, HOIST_DIGEST_SHA256, raw, s->raw_len,
		err);
}

typedef struct walk_cand {
	hoist_digest digest;
	char *media_type;
	const tar_member *member;
} walk_cand;

static void cands_free(walk_cand *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(c[i].media_type);
	free(c);
}

static int cand_cmp(const void *a, const void *b)
{
	const walk_cand *x = a, *y = b;
	return x->member->ordinal < y->member->ordinal ? -1
		: x->member->ordinal > y->member->ordinal ? 1
							   : 0;
}

static bool source_knows(const archive_source *s, const hoist_digest *d)
{
	for (size_t i = 0; i < s->n_known; i++)
		if (hoist_digest_equal(&s->known[i].digest, d))
			return true;
	return false;
}

typedef struct walk {
	archive_source *s;
	const hoist_digest *config;
	const tar_member **layers;
	size_t n_layers;
	/* best match so far: 2 = config and layers agree, 1 = config only */
	int match;
	hoist_manifest *chosen;
	walk_cand *next;
	size_t n_next, cap_next, total;
} walk;

static int walk_add(walk *w, const hoist_descriptor *d, hoist_error **err)
{
	hoist_media_kind k = hoist_media_kind_of(d->media_type);
	if (k != HOIST_MEDIA_MANIFEST && k != HOIST_MEDIA_INDEX)
		return 0;
	if (d->size > HOIST_MANIFEST_MAX || source_knows(w->s, &d->digest))
		return 0;
	const tar_member *m =
		member_by_digest(&w->s->tar, &d->digest);
	if (!m) /* e.g. platforms of an index that were not saved */
		return 0;
	for (size_t i = 0; i < w->n_next; i++)
		if (w->next[i].member == m)
			return 0;
	if (w->total >= HOIST_MANIFEST_MAX_ENTRIES)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"'index.json' leads to more than %d manifests",
			HOIST_MANIFEST_MAX_ENTRIES);
	if (w->n_next == w->cap_next) {
		size_t ncap = w->cap_next ? w->cap_next * 2 : 8;
		walk_cand *c = realloc(w->next, ncap * sizeof(*c));
		if (!c)
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		w->next = c;
		w->cap_next = ncap;
	}
	walk_cand *c = &w->next[w->n_next];
	c->digest = d->digest;
	c->member = m;
	c->media_type = strdup(d->media_type);
	if (!c->media_type)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	w->n_next++;
	w->total++;
	return 0;
}

static int walk_visit(walk *w, const walk_cand *c, const char *raw,
	size_t len, hoist_error **err)
{
	hoist_digest got;
	int r = hoist_digest_of(&got, c->digest.algo, raw, len, err);
	if (r < 0)
		return r;
	if (!hoist_digest_equal(&got, &c->digest))
		return hoist_error_set(err, HOIST_E_DIGEST,
			"manifest '%s': content has digest %s", c->digest.str,
			got.str);
	_cleanup_(hoist_manifest_freep) hoist_manifest *m = NULL;
	_cleanup_error_ hoist_error *perr = NULL;
	if (hoist_manifest_parse(&m, raw, len, c->media_type, &perr) < 0) {
		hoist_log(w->s->ctx, HOIST_LOG_WARN,
			"docker-archive '%s': ignoring manifest '%s': %s",
			source_path(w->s), c->digest.str, perr ? perr->msg : "?");
		return 0;
	}
	known_manifest *k = realloc(w->s->known,
		(w->s->n_known + 1) * sizeof(*k));
	if (!k)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	w->s->known = k;
	k = &w->s->known[w->s->n_known];
	k->digest = c->digest;
	k->member = c->member;
	k->media_type = strdup(m->media_type);
	if (!k->media_type)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	w->s->n_known++;
	if (m->kind == HOIST_MEDIA_INDEX) {
		for (size_t i = 0; i < m->n_manifests; i++)
			if ((r = walk_add(w, &m->manifests[i], err)) < 0)
				return r;
		return 0;
	}
	if (w->match == 2 || !hoist_digest_equal(&m->config.digest, w->config))
		return 0;
	bool layers_agree = m->n_layers == w->n_layers;
	for (size_t i = 0; layers_agree && i < m->n_layers; i++)
		layers_agree = hoist_digest_equal(&m->layers[i].digest,
			&w->layers[i]->digest);
	int match = layers_agree ? 2 : 1;
	if (match > w->match) {
		hoist_manifest_free(w->chosen);
		w->chosen = steal_ptr(&m);
		w->match = match;
	}
	return 0;
}

/* Reads the candidates of one level in a single pass over the archive. */
static int walk_level(walk *w, walk_cand *cands, size_t n, hoist_error **err)
{
	qsort(cands, n, sizeof(*cands), cand_cmp);
	_cleanup_(archive_read_freep) struct archive *a = NULL;
	_cleanup_free_ char *chunk = malloc(HOIST_IO_CHUNK);
	if (!chunk)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	int r = tar_open(&a, source_path(w->s), err);
	if (r < 0)
		return r;
	size_t pos = 0;
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e;
		if (i > 0 && cands[i].member == cands[i - 1].member)
			continue;
		r = tar_goto(a, &pos, cands[i].member->ordinal, &e, err);
		if (r < 0)
			return r;
		_cleanup_buf_ hoist_buf b = HOIST_BUF_INIT(HOIST_MANIFEST_MAX);
		r = read_member(a, cands[i].member, chunk, NULL, &b, NULL, NULL,
			err);
		if (r == 0)
			r = walk_visit(w, &cands[i], b.data ? b.data : "", b.len,
				err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Looks in the OCI index.json for the manifest of the chosen entry, so
 * its exact bytes (and digest) are served instead of a synthesised one. */
static int source_from_index(archive_source *s, const hoist_buf *ijson,
	const tar_member *config, const tar_member **layers, size_t n_layers,
	bool *found, hoist_error **err)
{
	*found = false;
	_cleanup_(hoist_manifest_freep) hoist_manifest *index = NULL;
	_cleanup_error_ hoist_error *perr = NULL;
	if (hoist_manifest_parse(&index, ijson->data ? ijson->data : "",
		    ijson->len, HOIST_MT_OCI_INDEX, &perr) < 0 ||
		index->kind != HOIST_MEDIA_INDEX) {
		hoist_log(s->ctx, HOIST_LOG_WARN,
			"docker-archive '%s': ignoring 'index.json': %s",
			source_path(s), perr ? perr->msg : "not an index");
		return 0;
	}
	walk w = { .s = s, .config = &config->digest, .layers = layers,
		.n_layers = n_layers };
	int r = 0;
	for (size_t i = 0; r == 0 && i < index->n_manifests; i++)
		r = walk_add(&w, &index->manifests[i], err);
	for (int depth = 0; r == 0 && w.n_next && depth < INDEX_DEPTH_MAX;
		depth++) {
		walk_cand *level = steal_ptr(&w.next);
		size_t n = w.n_next;
		w.n_next = w.cap_next = 0;
		r = walk_level(&w, level, n, err);
		cands_free(level, n);
	}
	cands_free(w.next, w.n_next);
	if (r == 0 && w.chosen) {
		s->raw = malloc(w.chosen->raw_len + 1);
		s->media_type = strdup(w.chosen->media_type);
		if (!s->raw || !s->media_type) {
			r = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		} else {
			memcpy(s->raw, w.chosen->raw, w.chosen->raw_len);
			s->raw[w.chosen->raw_len] = '\0';
			s->raw_len = w.chosen->raw_len;
			s->digest = w.chosen->digest;
			*found = true;
		}
	}
	hoist_manifest_free(w.chosen);
	return r;
}

static int repo_tags_list(json_t *images, hoist_buf *out, hoist_error **err)
{
	size_t i;
	json_t *img;
	int r = 0;
	json_array_foreach(images, i, img) {
		json_t *tags = json_object_get(img, "RepoTags");
		size_t j;
		json_t *t;
		if (!json_is_array(tags) || json_array_size(tags) == 0) {
			r = hoist_buf_appendf(out, err, "%s<untagged>",
				out->len ? ", " : "");
			continue;
		}
		json_array_foreach(tags, j, t) {
			if (json_is_string(t) && r == 0)
				r = hoist_buf_appendf(out, err, "%s%s",
					out->len ? ", " : "", json_string_value(t));
		}
		if (r < 0)
			return r;
	}
	return r;
}

/* The manifest.json entry the reference names. */
static int source_pick(archive_source *s, json_t *images, json_t **out,
	hoist_error **err)
{
	const char *want = s->base.ref->tag;
	size_t n = json_array_size(images);
	_cleanup_buf_ hoist_buf list = HOIST_BUF_INIT(64 * 1024);
	if (!want) {
		if (n == 1) {
			*out = json_array_get(images, 0);
			return 0;
		}
		if (n == 0)
			return hoist_error_set(err, HOIST_E_INVALID,
				"'manifest.json' lists no images");
		/* A truncated list is still a useful hint. */
		repo_tags_list(images, &list, NULL);
		return hoist_error_set(err, HOIST_E_INVALID,
			"the archive holds %zu images (%s): name one as "
			"docker-archive:%s:NAME:TAG",
			n, list.data ? list.data : "", source_path(s));
	}
	_cleanup_free_ char *norm = NULL;
	int r = familiar_tagged(want, &norm, NULL, err);
	if (r < 0)
		return r;
	size_t i;
	json_t *img;
	json_array_foreach(images, i, img) {
		json_t *tags = json_object_get(img, "RepoTags");
		size_t j;
		json_t *t;
		json_array_foreach(tags, j, t) {
			if (!json_is_string(t))
				continue;
			const char *have = json_string_value(t);
			_cleanup_free_ char *hn = NULL;
			if (familiar_tagged(have, &hn, NULL, NULL) < 0)
				hn = NULL;
			if (!strcmp(hn ? hn : have, norm)) {
				*out = img;
				return 0;
			}
		}
	}
	repo_tags_list(images, &list, NULL);
	return hoist_error_set(err, HOIST_E_NOTFOUND,
		"image '%s' is not in the archive (it holds: %s)", want,
		list.len ? list.data : "nothing");
}

static int source_load(archive_source *s, hoist_error **err)
{
	if (!s->base.ref->path || !*s->base.ref->path)
		return hoist_error_set(err, HOIST_E_INVALID, "no file name given");
	_cleanup_buf_ hoist_buf mjson = HOIST_BUF_INIT(TAR_MANIFEST_JSON_MAX);
	_cleanup_buf_ hoist_buf ijson = HOIST_BUF_INIT(HOIST_MANIFEST_MAX);
	bool has_m = false, has_i = false;
	int r = source_scan(s, &mjson, &has_m, &ijson, &has_i, err);
	if (r < 0)
		return r;
	if (!has_m)
		return hoist_error_set(err, HOIST_E_INVALID,
			"not a docker archive: it has no 'manifest.json'");
	json_error_t jerr;
	json_auto_t *images = json_loadb(mjson.data ? mjson.data : "", mjson.len,
		JSON_REJECT_DUPLICATES, &jerr);
	if (!images)
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid 'manifest.json': %s at line %d", jerr.text,
			jerr.line);
	if (!json_is_array(images))
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid 'manifest.json': expected an array");
	if (json_array_size(images) > HOIST_MANIFEST_MAX_ENTRIES)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"'manifest.json' lists more than %d images",
			HOIST_MANIFEST_MAX_ENTRIES);
	json_t *img = NULL;
	if ((r = source_pick(s, images, &img, err)) < 0)
		return r;
	const char *config_path = json_string_value(json_object_get(img, "Config"));
	json_t *jlayers = json_object_get(img, "Layers");
	if (!config_path || !json_is_array(jlayers))
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid 'manifest.json': an image needs 'Config' and "
			"'Layers'");
	size_t n_layers = json_array_size(jlayers);
	if (n_layers > HOIST_MANIFEST_MAX_ENTRIES)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"'manifest.json' lists more than %d layers",
			HOIST_MANIFEST_MAX_ENTRIES);
	const tar_member *config = NULL;
	if ((r = member_resolve(&s->tar, config_path, &config,
		     err)) < 0)
		return hoist_error_wrap(err, HOIST_E_INVALID, "config");
	_cleanup_free_ const tar_member **layers =
		calloc(n_layers ? n_layers : 1, sizeof(*layers));
	if (!layers)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	for (size_t i = 0; i < n_layers; i++) {
		const char *p = json_string_value(json_array_get(jlayers, i));
		if (!p)
			return hoist_error_set(err, HOIST_E_INVALID,
				"invalid 'manifest.json': Layers[%zu] is not a "
				"string",
				i);
		if ((r = member_resolve(&s->tar, p, &layers[i],
			     err)) < 0)
			return hoist_error_wrap(err, HOIST_E_INVALID,
				"layer %zu", i);
	}
	bool found = false;
	if (has_i && (r = source_from_index(s, &ijson, config, layers, n_layers,
			      &found, err)) < 0)
		return r;
	if (!found)
		r = source_synthesise(s, config, layers, n_layers, err);
	return r;
}

static int source_get_manifest(hoist_source *base, const hoist_digest *digest,
	hoist_buf *raw, char **media_type, hoist_error **err)
{
	archive_source *s = (archive_source *)base;
	if (!digest || hoist_digest_equal(digest, &s->digest)) {
		int r = hoist_buf_append(raw, s->raw, s->raw_len, err);
		if (r < 0)
			return hoist_error_wrap(err, HOIST_E_LIMIT,
				"docker-archive '%s': manifest", source_path(s));
		if (media_type && !(*media_type = strdup(s->media_type)))
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		return 0;
	}
	const known_manifest *k = NULL;
	for (size_t i = 0; i < s->n_known; i++)
		if (hoist_digest_equal(&s->known[i].digest, digest))
			k = &s->known[i];
	if (!k)
		return hoist_error_set(err, HOIST_E_NOTFOUND,
			"docker-archive '%s': manifest '%s' not found",
			source_path(s), digest->str);
	hoist_reader *inner = NULL, *v = NULL;
	int r = member_open(source_path(s), k->member, &inner, err);
	if (r == 0)
		r = hoist_reader_new_verify(&v, inner, &k->digest, k->member->size,
			k->digest.str, err);
	_cleanup_(hoist_reader_freep) hoist_reader *vr = v;
	if (r == 0)
		r = hoist_reader_read_all(vr, raw, err);
	if (r < 0)
		return hoist_error_wrap(err, HOIST_E_IO,
			"docker-archive '%s': manifest", source_path(s));
	if (media_type && !(*media_type = strdup(k->media_type)))
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	return 0;
}

static int source_open_blob(hoist_source *base, const hoist_descriptor *d,
	hoist_reader **out, hoist_error **err)
{
	archive_source *s = (archive_source *)base;
	const tar_member *m = member_by_digest(&s->tar, &d->digest);
	if (!m)
		return hoist_error_set(err, HOIST_E_NOTFOUND,
			"docker-archive '%s': blob '%s' not found", source_path(s),
			d->digest.str);
	_cleanup_free_ char *what = NULL;
	if (asprintf(&what, "docker-archive '%s': blob '%s'", source_path(s),
		    d->digest.str) < 0) {
		what = NULL;
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	hoist_reader *inner = NULL;
	int r = member_open(source_path(s), m, &inner, err);
	if (r < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "%s", what);
	return hoist_reader_new_verify(out, inner, &d->digest, d->size, what, err);
}

static void source_free(hoist_source *base)
{
	archive_source *s = (archive_source *)base;
	if (!s)
		return;
	tar_index_release(&s->tar);
	for (size_t i = 0; i < s->n_known; i++)
		free(s->known[i].media_type);
	free(s->known);
	free(s->raw);
	free(s->media_type);
	hoist_imgref_free(s->base.ref);
	free(s);
}

static const hoist_source_ops archive_source_ops = {
	.get_manifest = source_get_manifest,
	.open_blob = source_open_blob,
	.list_tags = NULL,
	.free = source_free,
};

int hoist_archive_source_open(hoist_ctx *ctx, hoist_imgref *ref,
	hoist_source **out, hoist_error **err)
{
	archive_source *s = calloc(1, sizeof(*s));
	if (!s) {
		hoist_imgref_free(ref);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	s->base.ops = &archive_source_ops;
	s->base.ref = ref;
	s->ctx = ctx;
	int r = source_load(s, err);
	if (r < 0) {
		r = hoist_error_wrap(err, HOIST_E_INVALID, "docker-archive '%s'",
			ref->path ? ref->path : "");
		source_free(&s->base);
		return r;
	}
	*out = &s->base;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Destination */

typedef struct kept_config {
	hoist_digest digest;
	char *data;
	size_t len;
} kept_config;

typedef struct archive_dest {
	hoist_dest base;
	hoist_ctx *ctx;
	/* Held while the tar is written to.  put_blob is called from several
	 * copy threads: the first streams into the tar, the others spool to
	 * temp files meanwhile so their sources keep flowing. */
	pthread_mutex_t lock;
	int dirfd;
	hoist_fs_tmp tmp;
	char *final;     /* base name of the target in dirfd */
	struct archive *aw;
	/* What our write callback saw: libarchive is never told about write
	 * errors (libarchive 3.6 leaks a writer freed in its fatal state), we
	 * check io_errno after each call instead.  discard drops output. */
	int io_errno;
	bool discard;
	/* The tar could not be brought back to a member boundary after a
	 * failure: nothing more can be written, commit refuses. */
	bool broken;
	bool committed;
	bool sha512_dir;
	/* names from ref->tag, NULL when untagged */
	char *repo_tag;  /* "busybox:latest" */
	char *repo_name; /* "busybox" */
	char *full_name; /* "docker.io/library/busybox:latest" */
	char *tag;       /* "latest" */
	hoist_digest *blobs;
	size_t n_blobs, cap_blobs;
	kept_config *configs;
	size_t n_configs;
	/* the image */
	char *mf_type;
	hoist_digest mf_digest;
	int64_t mf_size;
	hoist_digest mf_config;
	hoist_digest *mf_layers;
	size_t n_mf_layers;
	bool has_mf;
} archive_dest;

static const char *dest_path(const archive_dest *d)
{
	return d->base.ref->path;
}

static const char *aw_error(archive_dest *d)
{
	const char *s = d->aw ? archive_error_string(d->aw) : NULL;
	return s ? s : "unknown archive error";
}

static bool dest_has(const archive_dest *d, const hoist_digest *dg)
{
	for (size_t i = 0; i < d->n_blobs; i++)
		if (hoist_digest_equal(&d->blobs[i], dg))
			return true;
	return false;
}

static int dest_usable(const archive_dest *d, hoist_error **err)
{
	if (d->broken)
		return hoist_error_set(err, HOIST_E_IO,
			"cannot continue after an earlier failed write");
	if (d->committed || !d->aw)
		return hoist_error_set(err, HOIST_E_INVALID,
			"the archive is already committed");
	return 0;
}

static la_ssize_t tar_cb_write(struct archive *a, void *ud, const void *p,
	size_t n)
{
	archive_dest *d = ud;
	if (d->discard || d->io_errno)
		return (la_ssize_t)n;
	const char *c = p;
	size_t left = n;
	while (left) {
		ssize_t k = write(d->tmp.fd, c, left);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			d->io_errno = k < 0 ? errno : EIO;
			break;
		}
		c += k;
		left -= (size_t)k;
	}
	return (la_ssize_t)n;
}

/* 0, or an error for a libarchive call that returned r. */
static int tar_check(archive_dest *d, int r, const char *what,
	const char *name, hoist_error **err)
{
	if (d->io_errno)
		return hoist_error_errno(err, d->io_errno, "%s '%s'", what, name);
	if (r < ARCHIVE_OK)
		return hoist_error_set(err, HOIST_E_IO, "%s '%s': %s", what, name,
			aw_error(d));
	return 0;
}

/* A tar writer appending at the current offset of the temp file.  It is
 * unbuffered, so between members the file offset is a member boundary,
 * which is what rollback relies on. */
static int tar_writer_start(archive_dest *d, hoist_error **err)
{
	d->aw = archive_write_new();
	if (!d->aw)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	/* pax restricted: plain ustar headers unless a member needs more (a
	 * size over 8 GiB), which every loader reads. */
	if (archive_write_set_format_pax_restricted(d->aw) != ARCHIVE_OK ||
		archive_write_set_bytes_per_block(d->aw, 0) != ARCHIVE_OK ||
		archive_write_open2(d->aw, d, NULL, tar_cb_write, NULL, NULL) !=
			ARCHIVE_OK)
		return hoist_error_set(err, HOIST_E_IO, "start the tar: %s",
			aw_error(d));
	return 0;
}

/* Frees the writer without anything more reaching the file (it would
 * finish the open member with zeros and write the end marker). */
static void tar_writer_drop(archive_dest *d)
{
	if (!d->aw)
		return;
	d->discard = true;
	archive_write_free(d->aw);
	d->aw = NULL;
	d->discard = false;
}

/* Cuts the temp file back to `off` (where a failed member began) and
 * starts a fresh writer there: a tar is just its members in a row. */
static void tar_rollback(archive_dest *d, off_t off)
{
	tar_writer_drop(d);
	if (d->io_errno || ftruncate(d->tmp.fd, off) < 0 ||
		lseek(d->tmp.fd, off, SEEK_SET) != off ||
		tar_writer_start(d, NULL) < 0)
		d->broken = true;
}

static int write_header(archive_dest *d, const char *name, mode_t type,
	int64_t size, hoist_error **err)
{
	struct archive_entry *e = archive_entry_new();
	if (!e)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
	archive_entry_set_size(e, type == AE_IFDIR ? 0 : size);
	archive_entry_set_mtime(e, 0, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	int r = archive_write_header(d->aw, e);
	archive_entry_free(e);
	return tar_check(d, r, "write", name, err);
}

static int write_finish(archive_dest *d, const char *name, hoist_error **err)
{
	return tar_check(d, archive_write_finish_entry(d->aw), "write", name,
		err);
}

typedef int (*sink_fn)(void *ud, const void *p, size_t n, hoist_error **err);

typedef struct tar_sink {
	archive_dest *d;
	const char *name;
} tar_sink;

static int sink_tar(void *ud, const void *p, size_t n, hoist_error **err)
{
	tar_sink *t = ud;
	la_ssize_t k = archive_write_data(t->d->aw, p, n);
	int r = tar_check(t->d, k < 0 ? (int)k : ARCHIVE_OK, "write", t->name,
		err);
	if (r == 0 && (size_t)k != n)
		r = hoist_error_set(err, HOIST_E_IO, "write '%s': short write",
			t->name);
	return r;
}

static int sink_fd(void *ud, const void *p, size_t n, hoist_error **err)
{
	return hoist_write_all(*(int *)ud, p, n, err);
}

/* Moves exactly `size` bytes from content to the sink, checking them
 * against dg (when verify) and copying them to keep (optional). */
static int pump(hoist_reader *content, const hoist_digest *dg, int64_t size,
	bool verify, sink_fn sink, void *ud, hoist_buf *keep, hoist_error **err)
{
	_cleanup_free_ char *chunk = malloc(HOIST_IO_CHUNK);
	_cleanup_(hoist_hasher_freep) hoist_hasher *h = NULL;
	if (!chunk)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	int r = verify ? hoist_hasher_new(&h, dg->algo, err) : 0;
	if (r < 0)
		return r;
	uint64_t seen = 0;
	for (;;) {
		ssize_t k = hoist_reader_read(content, chunk, HOIST_IO_CHUNK, err);
		if (k < 0)
			return (int)k;
		if (k == 0)
			break;
		if (seen + (uint64_t)k > (uint64_t)size)
			return hoist_error_set(err, HOIST_E_DIGEST,
				"content is larger than its declared size %lld",
				(long long)size);
		seen += (uint64_t)k;
		if (h)
			hoist_hasher_update(h, chunk, (size_t)k);
		if (keep && (r = hoist_buf_append(keep, chunk, (size_t)k, err)) < 0)
			return r;
		if ((r = sink(ud, chunk, (size_t)k, err)) < 0)
			return r;
	}
	if (seen != (uint64_t)size)
		return hoist_error_set(err, HOIST_E_DIGEST,
			"content has %llu bytes, its declared size is %lld",
			(unsigned long long)seen, (long long)size);
	if (h) {
		hoist_digest got;
		hoist_hasher_final(h, &got);
		if (!hoist_digest_equal(&got, dg))
			return hoist_error_set(err, HOIST_E_DIGEST,
				"content has digest %s, expected %s", got.str,
				dg->str);
	}
	return 0;
}

static int record_blob(archive_dest *d, const hoist_digest *dg,
	hoist_error **err)
{
	if (d->n_blobs == d->cap_blobs) {
		size_t ncap = d->cap_blobs ? d->cap_blobs * 2 : 16;
		hoist_digest *b = realloc(d->blobs, ncap * sizeof(*b));
		if (!b)
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		d->blobs = b;
		d->cap_blobs = ncap;
	}
	d->blobs[d->n_blobs++] = *dg;
	return 0;
}

/* Appends blobs/ALG/HEX with the content (called with the lock held).  A
 * member that fails half-way is cut off again, so the tar stays whole and
 * the copier may retry the blob. */
static int write_blob(archive_dest *d, const hoist_digest *dg, int64_t size,
	hoist_reader *content, bool verify, hoist_buf *keep, hoist_error **err)
{
	_cleanup_free_ char *name = blob_member_name(dg);
	if (!name)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	int r;
	if (dg->algo == HOIST_DIGEST_SHA512 && !d->sha512_dir) {
		if ((r = write_header(d, "blobs/sha512/", AE_IFDIR, 0, err)) < 0 ||
			(r = write_finish(d, "blobs/sha512/", err)) < 0) {
			d->broken = true;
			return r;
		}
		d->sha512_dir = true;
	}
	off_t off = lseek(d->tmp.fd, 0, SEEK_CUR);
	if (off < 0)
		return hoist_error_errno(err, errno, "seek in the temp file");
	tar_sink ts = { d, name };
	r = write_header(d, name, AE_IFREG, size, err);
	if (r == 0)
		r = pump(content, dg, size, verify, sink_tar, &ts, keep, err);
	if (r == 0)
		r = write_finish(d, name, err);
	if (r < 0) {
		tar_rollback(d, off);
		return r;
	}
	return record_blob(d, dg, err);
}

/* Streams content into a temp file next to the target, verified. */
static int spool_blob(archive_dest *d, const hoist_descriptor *desc,
	hoist_reader *content, hoist_fs_tmp *t, hoist_buf *keep, int *rfd,
	hoist_error **err)
{
	int r = hoist_fs_tmp_open(t, d->dirfd, 0600, err);
	if (r < 0)
		return r;
	r = pump(content, &desc->digest, desc->size, true, sink_fd, &t->fd,
		keep, err);
	if (r < 0)
		return r;
	*rfd = openat(d->dirfd, t->name, O_RDONLY | O_CLOEXEC);
	if (*rfd < 0)
		return hoist_error_errno(err, errno, "reopen spooled blob");
	return 0;
}

static int keep_config(archive_dest *d, const hoist_digest *dg, hoist_buf *b,
	hoist_error **err)
{
	for (size_t i = 0; i < d->n_configs; i++)
		if (hoist_digest_equal(&d->configs[i].digest, dg))
			return 0;
	kept_config *c = realloc(d->configs, (d->n_configs + 1) * sizeof(*c));
	if (!c)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	d->configs = c;
	c = &d->configs[d->n_configs++];
	c->digest = *dg;
	c->data = hoist_buf_steal(b, &c->len);
	return 0;
}

static int dest_has_blob(hoist_dest *base, const hoist_descriptor *desc,
	bool *out, hoist_error **err)
{
	archive_dest *d = (archive_dest *)base;
	pthread_mutex_lock(&d->lock);
	*out = dest_has(d, &desc->digest);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

static int put_blob(archive_dest *d, const hoist_descriptor *desc,
	hoist_reader *content, hoist_error **err)
{
	pthread_mutex_lock(&d->lock);
	int r = dest_usable(d, err);
	bool have = dest_has(d, &desc->digest);
	pthread_mutex_unlock(&d->lock);
	if (r < 0 || have)
		return r;
	if (desc->size < 0 || desc->size > TAR_MEMBER_MAX)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"size %lld is out of range (0 to 1 TiB)",
			(long long)desc->size);
	/* The config is kept for the `repositories` file (its top diff_id). */
	bool keep = desc->media_type &&
		hoist_media_kind_of(desc->media_type) == HOIST_MEDIA_CONFIG &&
		desc->size <= HOIST_CONFIG_MAX;
	_cleanup_buf_ hoist_buf kb = HOIST_BUF_INIT(HOIST_CONFIG_MAX);
	if (pthread_mutex_trylock(&d->lock) == 0) {
		r = dest_usable(d, err);
		if (r == 0 && !dest_has(d, &desc->digest))
			r = write_blob(d, &desc->digest, desc->size, content, true,
				keep ? &kb : NULL, err);
	} else {
		hoist_fs_tmp t = { .fd = -1 };
		_cleanup_close_ int fd = -1;
		_cleanup_(hoist_reader_freep) hoist_reader *fr = NULL;
		r = spool_blob(d, desc, content, &t, keep ? &kb : NULL, &fd, err);
		if (r == 0)
			r = hoist_reader_new_fd(&fr, fd, false, err);
		pthread_mutex_lock(&d->lock);
		if (r == 0)
			r = dest_usable(d, err);
		/* Checked when spooled: no need to hash it twice. */
		if (r == 0 && !dest_has(d, &desc->digest))
			r = write_blob(d, &desc->digest, desc->size, fr, false, NULL,
				err);
		hoist_fs_tmp_abort(&t);
	}
	if (r == 0 && keep)
		r = keep_config(d, &desc->digest, &kb, err);
	pthread_mutex_unlock(&d->lock);
	return r;
}

static int dest_put_blob(hoist_dest *base, const hoist_descriptor *desc,
	hoist_reader *content, hoist_error **err)
{
	archive_dest *d = (archive_dest *)base;
	int r = put_blob(d, desc, content, err);
	if (r < 0)
		return hoist_error_wrap(err, HOIST_E_IO,
			"docker-archive '%s': write blob '%s'", dest_path(d),
			desc->digest.str);
	return 0;
}

static int put_manifest_locked(archive_dest *d, const hoist_manifest *m,
	bool top, hoist_error **err)
{
	int r = dest_usable(d, err);
	if (r < 0)
		return r;
	if (m->kind != HOIST_MEDIA_MANIFEST)
		return hoist_error_set(err, HOIST_E_UNSUPPORTED,
			"a docker archive holds single images, not an index "
			"('%s')",
			m->media_type ? m->media_type : "?");
	if (!dest_has(d, &m->config.digest))
		return hoist_error_set(err, HOIST_E_INVALID,
			"its config '%s' was not written first", m->config.digest.str);
	for (size_t i = 0; i < m->n_layers; i++)
		if (!dest_has(d, &m->layers[i].digest))
			return hoist_error_set(err, HOIST_E_INVALID,
				"its layer '%s' was not written first",
				m->layers[i].digest.str);
	if (!dest_has(d, &m->digest)) {
		_cleanup_(hoist_reader_freep) hoist_reader *mr = NULL;
		if ((r = hoist_reader_new_mem(&mr, m->raw, m->raw_len, err)) < 0 ||
			(r = write_blob(d, &m->digest, (int64_t)m->raw_len, mr, true,
				 NULL, err)) < 0)
			return r;
	}
	/* A child of an index is kept as a blob only; the archive names the
	 * top image. */
	if (!top)
		return 0;
	hoist_digest *layers = calloc(m->n_layers ? m->n_layers : 1,
		sizeof(*layers));
	char *mt = strdup(m->media_type ? m->media_type : HOIST_MT_OCI_MANIFEST);
	if (!layers || !mt) {
		free(layers);
		free(mt);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < m->n_layers; i++)
		layers[i] = m->layers[i].digest;
	free(d->mf_layers);
	free(d->mf_type);
	d->mf_layers = layers;
	d->n_mf_layers = m->n_layers;
	d->mf_type = mt;
	d->mf_digest = m->digest;
	d->mf_size = (int64_t)m->raw_len;
	d->mf_config = m->config.digest;
	d->has_mf = true;
	return 0;
}

static int dest_put_manifest(hoist_dest *base, const hoist_manifest *m,
	bool top, hoist_error **err)
{
	archive_dest *d = (archive_dest *)base;
	pthread_mutex_lock(&d->lock);
	int r = put_manifest_locked(d, m, top, err);
	pthread_mutex_unlock(&d->lock);
	if (r < 0)
		return hoist_error_wrap(err, HOIST_E_IO,
			"docker-archive '%s': write manifest '%s'", dest_path(d),
			m->digest.str);
	return 0;
}

static int write_json(archive_dest *d, const char *name, json_t *j,
	hoist_error **err)
{
	json_auto_t *owned = j;
	if (!j)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	_cleanup_free_ char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!s)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	size_t n = strlen(s);
	tar_sink ts = { d, name };
	int r = write_header(d, name, AE_IFREG, (int64_t)n, err);
	if (r == 0)
		r = sink_tar(&ts, s, n, err);
	if (r == 0)
		r = write_finish(d, name, err);
	return r;
}

/* The top layer's diff_id hex, from the config we kept; NULL if unknown. */
static const char *top_diff_id(const archive_dest *d, hoist_config **cfg)
{
	for (size_t i = 0; i < d->n_configs; i++) {
		if (!hoist_digest_equal(&d->configs[i].digest, &d->mf_config))
			continue;
		if (hoist_config_parse(cfg, d->configs[i].data, d->configs[i].len,
			    NULL) < 0)
			return NULL;
		size_t n = hoist_config_n_diff_ids(*cfg);
		const char *id = n ? hoist_config_diff_id(*cfg, n - 1) : NULL;
		const char *colon = id ? strchr(id, ':') : NULL;
		return colon ? colon + 1 : NULL;
	}
	return NULL;
}

static int write_metadata(archive_dest *d, hoist_error **err)
{
	_cleanup_free_ char *config_name = blob_member_name(&d->mf_config);
	json_auto_t *layers = json_array();
	if (!config_name || !layers)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	for (size_t i = 0; i < d->n_mf_layers; i++) {
		char *n = blob_member_name(&d->mf_layers[i]);
		if (!n || json_array_append_new(layers, json_string(n)) < 0) {
			free(n);
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		}
		free(n);
	}

	/* Docker 25+ and containerd name the image by these annotations. */
	json_auto_t *desc = json_pack("{s:s, s:s, s:I}", "mediaType", d->mf_type,
		"digest", d->mf_digest.str, "size", (json_int_t)d->mf_size);
	if (!desc || (d->repo_tag &&
			     json_object_set_new(desc, "annotations",
				     json_pack("{s:s, s:s}",
					     "io.containerd.image.name",
					     d->full_name,
					     "org.opencontainers.image.ref.name",
					     d->tag)) < 0))
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	int r = write_json(d, "index.json",
		json_pack("{s:i, s:s, s:[O]}", "schemaVersion", 2, "mediaType",
			HOIST_MT_OCI_INDEX, "manifests", desc),
		err);
	if (r < 0)
		return r;

	json_auto_t *tags = d->repo_tag ? json_pack("[s]", d->repo_tag)
					: json_array();
	r = write_json(d, "manifest.json",
		json_pack("[{s:s, s:O, s:O}]", "Config", config_name, "RepoTags",
			tags, "Layers", layers),
		err);
	if (r < 0)
		return r;

	r = write_json(d, "oci-layout",
		json_pack("{s:s}", "imageLayoutVersion", "1.0.0"), err);
	if (r < 0)
		return r;

	/* Only loaders older than manifest.json (Docker < 1.10) read this. */
	_cleanup_(hoist_config_freep) hoist_config *cfg = NULL;
	const char *top = d->repo_tag ? top_diff_id(d, &cfg) : NULL;
	if (top)
		r = write_json(d, "repositories",
			json_pack("{s:{s:s}}", d->repo_name, d->tag, top), err);
	return r;
}

static int commit_locked(archive_dest *d, hoist_error **err)
{
	int r = dest_usable(d, err);
	if (r < 0)
		return r;
	if (!d->has_mf)
		return hoist_error_set(err, HOIST_E_INVALID,
			"nothing to commit: no manifest was written");
	/* From here a failure leaves a tar we do not try to repair. */
	r = write_metadata(d, err);
	if (r == 0)
		r = tar_check(d, archive_write_close(d->aw), "finish", d->final,
			err);
	if (r == 0) {
		archive_write_free(d->aw);
		d->aw = NULL;
		r = hoist_fs_tmp_commit(&d->tmp, d->final, err);
	}
	if (r < 0) {
		d->broken = true;
		return r;
	}
	d->committed = true;
	return 0;
}

static int dest_commit(hoist_dest *base, hoist_error **err)
{
	archive_dest *d = (archive_dest *)base;
	pthread_mutex_lock(&d->lock);
	int r = commit_locked(d, err);
	pthread_mutex_unlock(&d->lock);
	if (r < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "docker-archive '%s': commit",
			dest_path(d));
	return 0;
}

static void dest_free(hoist_dest *base)
{
	archive_dest *d = (archive_dest *)base;
	if (!d)
		return;
	tar_writer_drop(d);
	hoist_fs_tmp_abort(&d->tmp);
	if (d->dirfd >= 0)
		close(d->dirfd);
	pthread_mutex_destroy(&d->lock);
	free(d->final);
	free(d->repo_tag);
	free(d->repo_name);
	free(d->full_name);
	free(d->tag);
	free(d->blobs);
	for (size_t i = 0; i < d->n_configs; i++)
		free(d->configs[i].data);
	free(d->configs);
	free(d->mf_type);
	free(d->mf_layers);
	hoist_imgref_free(d->base.ref);
	free(d);
}

static int dest_names(archive_dest *d, const char *name, hoist_error **err)
{
	_cleanup_(hoist_ref_freep) hoist_ref *r = NULL;
	int e = familiar_tagged(name, &d->repo_tag, &r, err);
	if (e < 0)
		return e;
	d->full_name = hoist_ref_string(r);
	d->tag = strdup(hoist_ref_tag(r));
	/* repo_tag is "NAME:TAG"; NAME is what precedes the tag. */
	size_t n = strlen(d->repo_tag), t = d->tag ? strlen(d->tag) : 0;
	d->repo_name = t < n ? strndup(d->repo_tag, n - t - 1) : NULL;
	if (!d->full_name || !d->tag || !d->repo_name)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	return 0;
}

static int dest_setup(archive_dest *d, hoist_error **err)
{
	const char *path = dest_path(d);
	if (!path || !*path)
		return hoist_error_set(err, HOIST_E_INVALID, "no file name given");
	size_t len = strlen(path);
	struct stat st;
	if (path[len - 1] == '/' || (stat(path, &st) == 0 && S_ISDIR(st.st_mode)))
		return hoist_error_set(err, HOIST_E_EXISTS,
			"'%s' is a directory, not a file name", path);
	const char *slash = strrchr(path, '/');
	_cleanup_free_ char *dir = slash ? (slash == path ? strdup("/")
							 : strndup(path, (size_t)(slash - path)))
					 : strdup(".");
	d->final = strdup(slash ? slash + 1 : path);
	if (!dir || !d->final)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	int r;
	if (d->base.ref->tag && (r = dest_names(d, d->base.ref->tag, err)) < 0)
		return r;
	d->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->dirfd < 0)
		return hoist_error_errno(err, errno, "open directory '%s'", dir);
	if ((r = hoist_fs_tmp_open(&d->tmp, d->dirfd, 0644, err)) < 0 ||
		(r = tar_writer_start(d, err)) < 0)
		return r;
	static const char *const dirs[] = { "blobs/", "blobs/sha256/" };
	for (size_t i = 0; i < HOIST_ARRAY_SIZE(dirs); i++) {
		if ((r = write_header(d, dirs[i], AE_IFDIR, 0, err)) < 0 ||
			(r = write_finish(d, dirs[i], err)) < 0)
			return r;
	}
	return 0;
}

static const hoist_dest_ops archive_dest_ops = {
	.has_blob = dest_has_blob,
	.mount_blob = NULL,
	.put_blob = dest_put_blob,
	.has_manifest = NULL,
	.put_manifest = dest_put_manifest,
	.commit = dest_commit,
	.free = dest_free,
};

int hoist_archive_dest_open(hoist_ctx *ctx, hoist_imgref *ref,
	hoist_dest **out, hoist_error **err)
{
	archive_dest *d = calloc(1, sizeof(*d));
	if (!d) {
		hoist_imgref_free(ref);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	d->base.ops = &archive_dest_ops;
	d->base.ref = ref;
	d->base.single_image = true;
	d->ctx = ctx;
	d->dirfd = -1;
	d->tmp.fd = -1;
	pthread_mutex_init(&d->lock, NULL);
	int r = dest_setup(d, err);
	if (r < 0) {
		r = hoist_error_wrap(err, HOIST_E_IO, "docker-archive '%s'",
			ref->path ? ref->path : "");
		dest_free(&d->base);
		return r;
	}
	*out = &d->base;
	return 0;
}

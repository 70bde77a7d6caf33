/* The reproducible layer writer.
 *
 * tar bytes come out of libarchive (restricted pax: an extended header only
 * where ustar cannot say it) through tar_out(), which hashes them for the
 * diff_id and pushes them into the compressor; the compressor's output goes
 * through blob_write(), which hashes and counts it on its way to the sink.
 * Every header is built here from lstat-like data, never from
 * archive_read_disk, so that nothing host-specific (user and group names,
 * atime, ctime, device and inode numbers) can reach the layer.
 *
 * What is kept of a file: its type, its permission bits exactly as on disk
 * (setuid, setgid and sticky included; the umask only matters through the
 * modes it gave the files), its size and content, a symlink's target, a
 * device's numbers (only with opts.devices), hard links between files of
 * the layer, and the xattrs user.* and security.capability.  What is
 * normalised: owners (0:0 or opts.uid/gid), mtimes (the epoch, or the
 * file's own seconds clamped to an explicit epoch with preserve_mtime),
 * order (each directory's names sorted bytewise, depth-first). */
#include "hoist/layer.h"
#include "hoist/strset.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "hoist/fs.h"
#include "layer/compress.h"
#include "util/cleanup.h"

#ifndef SYS_listxattrat
#define SYS_listxattrat 465 /* one number on every architecture */
#endif

/* Bounds on what the writer accepts: entry names, tree depth (one open
 * directory per level), symlink targets, xattrs. */
#define NAME_MAX_LEN 16384
#define TREE_DEPTH_MAX 512
#define LINK_MAX_LEN 4096
#define XATTR_LIST_MAX_LEN 65536
#define XATTR_VALUE_MAX_LEN 65536
#define ID_MAX 0x7fffffffLL

void hoist_layer_opts_init(hoist_layer_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->compression = HOIST_COMPRESSION_GZIP;
	/* -1 rather than the gzip level itself, so that choosing zstd
	 * afterwards gets zstd's default: HOIST_GZIP_LEVEL_DEFAULT (7) for
	 * gzip, HOIST_ZSTD_LEVEL_DEFAULT (3) for zstd (layer/compress.h). */
	o->level = -1;
	o->threads = 0;
	o->preserve_mtime = false;
	o->epoch = -1;
	o->uid = -1;
	o->gid = -1;
	o->devices = false;
	o->oci_media_types = true;
}

/* A set of strings with optional values (open addressing). */
typedef struct strmap_ent {
	char *key;
	char *val;
} strmap_ent;

typedef struct strmap {
	strmap_ent *e;
	size_t cap, n;
} strmap;

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static strmap_ent *strmap_find(const strmap *m, const char *key)
{
	if (!m->cap)
		return NULL;
	for (size_t i = str_hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (!m->e[i].key)
			return &m->e[i];
		if (!strcmp(m->e[i].key, key))
			return &m->e[i];
	}
}

static const char *strmap_get(const strmap *m, const char *key, bool *found)
{
	strmap_ent *e = strmap_find(m, key);
	*found = e && e->key;
	return *found ? e->val : NULL;
}

static int strmap_grow(strmap *m, hoist_error **err)
{
	size_t cap = m->cap ? m->cap * 2 : 64;
	strmap_ent *e = calloc(cap, sizeof(*e));
	if (!e)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	strmap old = *m;
	m->e = e;
	m->cap = cap;
	for (size_t i = 0; i < old.cap; i++)
		if (old.e[i].key)
			*strmap_find(m, old.e[i].key) = old.e[i];
	free(old.e);
	return 0;
}

/* Adds key (copied) with val (copied, may be NULL) unless present. */
static int strmap_put(strmap *m, const char *key, const char *val,
	hoist_error **err)
{
	if ((m->n + 1) * 4 > m->cap * 3 && strmap_grow(m, err) < 0)
		return -HOIST_E_NOMEM;
	strmap_ent *e = strmap_find(m, key);
	if (e->key)
		return 0;
	char *k = strdup(key);
	char *v = val ? strdup(val) : NULL;
	if (!k || (val && !v)) {
		free(k);
		free(v);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	e->key = k;
	e->val = v;
	m->n++;
	return 0;
}

static void strmap_release(strmap *m)
{
	for (size_t i = 0; i < m->cap; i++) {
		free(m->e[i].key);
		free(m->e[i].val);
	}
	free(m->e);
	m->e = NULL;
	m->cap = m->n = 0;
}

typedef struct blob_writer {
	hoist_writer base;
	struct hoist_layer_writer *w;
} blob_writer;

struct hoist_layer_writer {
	hoist_layer_opts o;
	int64_t epoch;
	bool clamp;      /* an epoch was given: preserved mtimes are clamped */
	int64_t uid, gid;
	uid_t euid;      /* ours, asked once (each is a system call) */
	gid_t egid;
	hoist_writer *sink;
	blob_writer out;
	hoist_hasher *diff, *blob;
	int64_t size;
	hoist_compressor *cz;
	struct archive *a;
	hoist_error *cb_err; /* failure inside tar_out, for the caller */
	bool broken, finished, discard;
	bool no_listxattrat; /* the kernel has none (before 6.13) */
	strmap dirs;  /* names of directory entries written */
	locale_t utf8; /* see utf8_enter() */
	unsigned char *buf; /* HOIST_IO_CHUNK */
};

/* libarchive converts names between the locale's charset and the UTF-8
 * of pax records, so the same name would give different bytes under
 * different locales (and "hdrcharset=BINARY" records in the C locale).
 * Its calls run under a thread-local C.UTF-8 locale instead, which the
 * process's own locale does not affect.  Without C.UTF-8 (glibc < 2.35
 * lacking the locale) names outside ASCII depend on the locale. */
static locale_t utf8_locale(void)
{
	locale_t l = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	if (!l)
		l = newlocale(LC_CTYPE_MASK, "C.utf8", (locale_t)0);
	return l;
}

static locale_t utf8_enter(locale_t l)
{
	return l ? uselocale(l) : (locale_t)0;
}

static void utf8_leave(locale_t l, locale_t old)
{
	if (l)
		uselocale(old);
}

static int blob_write(hoist_writer *bw, const void *p, size_t n,
	hoist_error **err)
{
	struct hoist_layer_writer *w = ((blob_writer *)bw)->w;
	hoist_hasher_update(w->blob, p, n);
	w->size += (int64_t)n;
	return hoist_writer_write(w->sink, p, n, err);
}

static const hoist_writer_ops blob_writer_ops = { blob_write, NULL };

static la_ssize_t tar_out(struct archive *a, void *ud, const void *buf,
	size_t n)
{
	hoist_layer_writer *w = ud;
	if (w->discard)
		return (la_ssize_t)n;
	hoist_hasher_update(w->diff, buf, n);
	if (hoist_compressor_write(w->cz, buf, n, &w->cb_err) < 0) {
		archive_set_error(a, EIO, "%s",
			w->cb_err ? w->cb_err->msg : "compression failed");
		return -1;
	}
	return (la_ssize_t)n;
}

/* SOURCE_DATE_EPOCH as reproducible-builds.org defines it: decimal
 * seconds; anything else is ignored. */
static bool parse_epoch(const char *s, int64_t *out)
{
	if (!s || !*s || strlen(s) > 19)
		return false;
	int64_t v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (__builtin_mul_overflow(v, 10, &v) ||
			__builtin_add_overflow(v, *s - '0', &v))
			return false;
	}
	*out = v;
	return true;
}

/* The epoch the options give: opts.epoch, else $SOURCE_DATE_EPOCH, else
 * 0; *given: one of the first two (preserved mtimes are then clamped). */
static int64_t resolve_epoch(const hoist_layer_opts *o, bool *given)
{
	int64_t e = 0;
	*given = true;
	if (o && o->epoch >= 0)
		return o->epoch;
	if (parse_epoch(getenv("SOURCE_DATE_EPOCH"), &e))
		return e;
	*given = false;
	return 0;
}

int64_t hoist_layer_epoch(const hoist_layer_opts *o)
{
	bool given;
	return resolve_epoch(o, &given);
}

static const char *layer_media_type(const hoist_layer_opts *o)
{
	switch (o->compression) {
	case HOIST_COMPRESSION_GZIP:
		return o->oci_media_types ? HOIST_MT_OCI_LAYER_GZIP
					  : HOIST_MT_DOCKER_LAYER_GZIP;
	case HOIST_COMPRESSION_ZSTD:
		/* Docker schema 2 has no zstd layer type; docker and
		 * containerd take the OCI one in Docker manifests too. */
		return HOIST_MT_OCI_LAYER_ZSTD;
	default:
		return o->oci_media_types ? HOIST_MT_OCI_LAYER
					  : HOIST_MT_DOCKER_LAYER;
	}
}

void hoist_layer_writer_free(hoist_layer_writer *w)
{
	if (!w)
		return;
	if (w->a) {
		/* Freeing an unfinished archive closes it; nothing of that
		 * may reach the sink. */
		w->discard = true;
		locale_t old = utf8_enter(w->utf8);
		archive_write_free(w->a);
		utf8_leave(w->utf8, old);
	}
	if (w->utf8)
		freelocale(w->utf8);
	hoist_compressor_free(w->cz);
	hoist_hasher_free(w->diff);
	hoist_hasher_free(w->blob);
	hoist_error_free(w->cb_err);
	strmap_release(&w->dirs);
	free(w->buf);
	free(w);
}

HOIST_DEFINE_CLEANUP(hoist_layer_writer, hoist_layer_writer_free)


int hoist_layer_writer_new(hoist_layer_writer **out, const hoist_layer_opts *o,
	hoist_writer *sink, hoist_error **err)
{
	if (o->compression != HOIST_COMPRESSION_NONE &&
		o->compression != HOIST_COMPRESSION_GZIP &&
		o->compression != HOIST_COMPRESSION_ZSTD)
		return hoist_error_set(err, HOIST_E_UNSUPPORTED,
			"unsupported layer compression %d", (int)o->compression);
	if (o->uid < -1 || o->uid > ID_MAX || o->gid < -1 || o->gid > ID_MAX)
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid layer owner %lld:%lld", (long long)o->uid,
			(long long)o->gid);
	if (o->epoch < -1)
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid layer epoch %lld", (long long)o->epoch);
	if (o->threads < 0)
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid number of compression threads %d", o->threads);

	_cleanup_(hoist_layer_writer_freep) hoist_layer_writer *w =
		calloc(1, sizeof(*w));
	if (!w)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	w->o = *o;
	w->sink = sink;
	w->uid = o->uid >= 0 ? o->uid : 0;
	w->gid = o->gid >= 0 ? o->gid : 0;
	w->euid = geteuid();
	w->egid = getegid();
	w->epoch = resolve_epoch(o, &w->clamp);
	w->out.base.ops = &blob_writer_ops;
	w->out.w = w;
	w->buf = malloc(HOIST_IO_CHUNK);
	if (!w->buf)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	int r = hoist_hasher_new(&w->diff, HOIST_DIGEST_SHA256, err);
	if (r == 0)
		r = hoist_hasher_new(&w->blob, HOIST_DIGEST_SHA256, err);
	if (r == 0)
		r = hoist_compressor_new(&w->cz, o->compression, o->level,
			o->threads, &w->out.base, err);
	if (r < 0)
		return hoist_error_wrap(err, HOIST_E_INVALID, "new layer");

	w->utf8 = utf8_locale();
	w->a = archive_write_new();
	if (!w->a)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	/* The tar ends with its two zero blocks, not padded to a 10 KiB
	 * record (as Go's archive/tar writes layers). */
	if (archive_write_set_format_pax_restricted(w->a) != ARCHIVE_OK ||
		archive_write_set_bytes_in_last_block(w->a, 1) != ARCHIVE_OK)
		return hoist_error_set(err, HOIST_E_IO, "new layer: set up tar: %s",
			archive_error_string(w->a));
	/* Only SCHILY.xattr records, the ones Go's archive/tar (docker,
	 * containerd) reads; an older libarchive without the option also
	 * writes LIBARCHIVE.xattr ones, which readers ignore. */
	archive_write_set_format_option(w->a, "pax", "xattrheader", "SCHILY");
	archive_clear_error(w->a);
	if (archive_write_open2(w->a, w, NULL, tar_out, NULL, NULL) != ARCHIVE_OK)
		return hoist_error_set(err, HOIST_E_IO, "new layer: open tar: %s",
			archive_error_string(w->a));
	*out = steal_ptr(&w);
	return 0;
}

static int check_usable(hoist_layer_writer *w, hoist_error **err)
{
	if (w->finished)
		return hoist_error_set(err, HOIST_E_INVALID,
			"layer writer used after finish");
	if (w->broken)
		return hoist_error_set(err, HOIST_E_INVALID,
			"layer writer unusable after an earlier write error");
	return 0;
}

/* A failure of libarchive while writing: the tar may be half written, so
 * the writer refuses further use. */
static int la_fail(hoist_layer_writer *w, const char *name, hoist_error **err)
{
	w->broken = true;
	if (w->cb_err) {
		hoist_error *e = steal_ptr(&w->cb_err);
		if (err && !*err)
			*err = e;
		else
			hoist_error_free(e);
		return hoist_error_wrap(err, HOIST_E_IO, "write '%s'", name);
	}
	const char *m = archive_error_string(w->a);
	return hoist_error_set(err, HOIST_E_IO, "write '%s': %s", name,
		m ? m : "tar write failed");
}

/* Canonical entry name: no leading "/" or "./", no empty or "." component,
 * no trailing "/"; a ".." component is refused (HOIST_E_UNSAFE).  The root
 * becomes "". */
static int norm_name(const char *in, char **out, hoist_error **err)
{
	size_t n = strlen(in);
	if (n > NAME_MAX_LEN)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"name '%.64s...' longer than %d bytes", in, NAME_MAX_LEN);
	char *o = malloc(n + 1);
	if (!o)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	size_t ol = 0;
	const char *p = in;
	for (;;) {
		while (*p == '/')
			p++;
		const char *s = p;
		while (*p && *p != '/')
			p++;
		size_t cl = (size_t)(p - s);
		if (cl == 0)
			break;
		if (cl == 1 && s[0] == '.')
			continue;
		if (cl == 2 && s[0] == '.' && s[1] == '.') {
			free(o);
			return hoist_error_set(err, HOIST_E_UNSAFE,
				"unsafe name '%s': it has a '..' component", in);
		}
		if (ol)
			o[ol++] = '/';
		memcpy(o + ol, s, cl);
		ol += cl;
	}
	o[ol] = '\0';
	*out = o;
	return 0;
}

static int64_t entry_mtime(const hoist_layer_writer *w, int64_t mtime)
{
	if (!w->o.preserve_mtime)
		return w->epoch;
	if (w->clamp && mtime > w->epoch)
		return w->epoch;
	return mtime;
}

/* A fresh header: nothing but what is set here reaches the tar.  Whole
 * seconds only: a fraction would cost a pax header per entry. */
static struct archive_entry *new_entry(hoist_layer_writer *w, const char *name,
	mode_t type, mode_t perm, int64_t mtime, hoist_error **err)
{
	struct archive_entry *e = archive_entry_new();
	if (!e) {
		hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		return NULL;
	}
	archive_entry_copy_pathname(e, name);
	archive_entry_set_filetype(e, (unsigned int)type);
	archive_entry_set_perm(e, perm & 07777);
	archive_entry_set_uid(e, w->uid);
	archive_entry_set_gid(e, w->gid);
	archive_entry_set_mtime(e, entry_mtime(w, mtime), 0);
	return e;
}

HOIST_DEFINE_CLEANUP(struct archive_entry, archive_entry_free)

/* keep_owner: the owner on disk, our own ids standing for root's when we
 * are not root (what a rootless sandbox's root wrote). */
static void disk_owner(const hoist_layer_writer *w, struct archive_entry *e,
	const struct stat *st)
{
	int64_t u, g;
	if (w->o.owner && w->o.owner(w->o.owner_ud, archive_entry_pathname(e), st, &u, &g)) {
		archive_entry_set_uid(e, u);
		archive_entry_set_gid(e, g);
		return;
	}
	if (!w->o.keep_owner)
		return;
	uid_t me = w->euid;
	gid_t mygid = w->egid;
	archive_entry_set_uid(e, me != 0 && st->st_uid == me ? 0 : st->st_uid);
	archive_entry_set_gid(e, me != 0 && st->st_gid == mygid ? 0 : st->st_gid);
}

/* Whether xattr `name` is overlay bookkeeping of an upper dir. */
static bool overlay_xattr(const hoist_layer_writer *w, const char *name)
{
	const char *p = w->o.overlay_xattr_prefix;
	return p && !strncmp(name, p, strlen(p));
}

static int write_header(hoist_layer_writer *w, struct archive_entry *e,
	hoist_error **err)
{
	const char *name = archive_entry_pathname(e);
	locale_t old = utf8_enter(w->utf8);
	int r = archive_write_header(w->a, e);
	utf8_leave(w->utf8, old);
	if (r == ARCHIVE_OK || r == ARCHIVE_WARN)
		return 0;
	if (r == ARCHIVE_FAILED)
		return hoist_error_set(err, HOIST_E_INVALID, "write '%s': %s",
			name, archive_error_string(w->a));
	return la_fail(w, name, err);
}

static int write_data(hoist_layer_writer *w, const char *name, const void *p,
	size_t n, hoist_error **err)
{
	while (n) {
		la_ssize_t k = archive_write_data(w->a, p, n);
		if (k <= 0)
			return la_fail(w, name, err);
		p = (const char *)p + k;
		n -= (size_t)k;
	}
	return 0;
}

static int note_dir(hoist_layer_writer *w, const char *name, hoist_error **err)
{
	return strmap_put(&w->dirs, name, NULL, err);
}

static bool keep_xattr(const char *name)
{
	return !strncmp(name, "user.", 5) || !strcmp(name, "security.capability");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The xattrs worth keeping of an open file, in name order. */
static int add_xattrs_fd(hoist_layer_writer *w, struct archive_entry *e, int fd,
	const char *name, hoist_error **err)
{
	ssize_t n = flistxattr(fd, NULL, 0);
	if (n < 0 && (errno == ENOTSUP || errno == ENODATA))
		return 0;
	if (n < 0)
		return hoist_error_errno(err, errno, "list xattrs of '%s'", name);
	if (n == 0)
		return 0;
	if (n > XATTR_LIST_MAX_LEN)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"xattr names of '%s' exceed %d bytes", name, XATTR_LIST_MAX_LEN);
	_cleanup_free_ char *list = malloc((size_t)n + 1);
	_cleanup_free_ char **names = calloc((size_t)n, sizeof(char *));
	_cleanup_free_ char *val = malloc(XATTR_VALUE_MAX_LEN);
	if (!list || !names || !val)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	n = flistxattr(fd, list, (size_t)n);
	if (n < 0)
		return hoist_error_errno(err, errno, "list xattrs of '%s'", name);
	list[n] = '\0';
	size_t count = 0;
	for (char *p = list; p < list + n; p += strlen(p) + 1)
		if (*p && keep_xattr(p) && !overlay_xattr(w, p))
			names[count++] = p;
	/* libarchive writes the list back to front: add it reversed to get
	 * the records in name order. */
	qsort(names, count, sizeof(*names), cmp_str);
	for (size_t i = count; i-- > 0;) {
		ssize_t vn = fgetxattr(fd, names[i], val, XATTR_VALUE_MAX_LEN);
		if (vn < 0 && errno == ENODATA)
			continue;
		if (vn < 0 && errno == ERANGE)
			return hoist_error_set(err, HOIST_E_LIMIT,
				"xattr '%s' of '%s' exceeds %d bytes", names[i], name,
				XATTR_VALUE_MAX_LEN);
		if (vn < 0)
			return hoist_error_errno(err, errno, "read xattr '%s' of '%s'",
				names[i], name);
		archive_entry_xattr_add_entry(e, names[i], val, (size_t)vn);
	}
	return 0;
}

static int emit_dir(hoist_layer_writer *w, const char *name,
	const struct stat *st, int fd, hoist_error **err)
{
	_cleanup_(archive_entry_freep) struct archive_entry *e =
		new_entry(w, name, AE_IFDIR, st->st_mode, st->st_mtim.tv_sec, err);
	if (!e)
		return -HOIST_E_NOMEM;
	disk_owner(w, e, st);
	int r = fd >= 0 ? add_xattrs_fd(w, e, fd, name, err) : 0;
	if (r == 0)
		r = write_header(w, e, err);
	if (r == 0)
		r = note_dir(w, name, err);
	return r;
}

/* Parents of a non-empty dest that no entry has made yet, as 0755 dirs. */
static int add_parents(hoist_layer_writer *w, const char *dest,
	hoist_error **err)
{
	_cleanup_free_ char *p = strdup(dest);
	if (!p)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	for (char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		bool found;
		strmap_get(&w->dirs, p, &found);
		if (!found) {
			_cleanup_(archive_entry_freep) struct archive_entry *e =
				new_entry(w, p, AE_IFDIR, 0755, w->epoch, err);
			if (!e)
				return -HOIST_E_NOMEM;
			int r = write_header(w, e, err);
			if (r == 0)
				r = note_dir(w, p, err);
			if (r < 0)
				return r;
		}
		*s = '/';
	}
	return 0;
}

static int open_file(int dfd, const char *base)
{
	int fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	return fd;
}

/* Copies exactly size bytes of fd into the current entry. */
static int copy_fd(hoist_layer_writer *w, int fd, int64_t size,
	const char *name, hoist_error **err)
{
	int64_t left = size;
	while (left > 0) {
		size_t want = left < HOIST_IO_CHUNK ? (size_t)left : HOIST_IO_CHUNK;
		ssize_t k = read(fd, w->buf, want);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			w->broken = true;
			return hoist_error_errno(err, errno, "read '%s'", name);
		}
		if (k == 0) {
			w->broken = true;
			return hoist_error_set(err, HOIST_E_IO,
				"'%s' shrank while being read: %lld of %lld bytes",
				name, (long long)(size - left), (long long)size);
		}
		int r = write_data(w, name, w->buf, (size_t)k, err);
		if (r < 0)
			return r;
		left -= k;
	}
	return 0;
}

/* emit_nondir's openfd for a regular file known to be empty and without
 * xattrs: nothing to open. */
#define EMPTY_BARE (-2)

/* One non-directory: dfd/base on the host, `name` in the layer, st from
 * fstatat(AT_SYMLINK_NOFOLLOW).  `where` names it in messages.  links
 * (NULL: none) maps "dev:ino" to the entry that has the content of a file
 * seen before under another name. */
static int emit_nondir(hoist_layer_writer *w, int dfd, const char *base,
	const char *name, const struct stat *st, int openfd, const char *where,
	strmap *links, hoist_error **err)
{
	/* openfd (>= 0, taken over): the file open already, st its fstat;
	 * EMPTY_BARE: see above; -1: open it here */
	bool bare = openfd == EMPTY_BARE;
	_cleanup_close_ int fd = bare ? -1 : openfd;
	mode_t fmt = st->st_mode & S_IFMT;
	if (fmt == S_IFSOCK)
		return 0;
	if ((fmt == S_IFCHR || fmt == S_IFBLK) && !w->o.devices)
		return 0;
	if (fmt != S_IFREG && fmt != S_IFLNK && fmt != S_IFIFO &&
		fmt != S_IFCHR && fmt != S_IFBLK)
		return 0;

	char key[48];
	bool linked = links && fmt == S_IFREG && st->st_nlink > 1;
	if (linked) {
		snprintf(key, sizeof(key), "%llx:%llx",
			(unsigned long long)st->st_dev,
			(unsigned long long)st->st_ino);
		bool found;
		const char *first = strmap_get(links, key, &found);
		if (found) {
			_cleanup_(archive_entry_freep) struct archive_entry *e =
				new_entry(w, name, AE_IFREG, st->st_mode,
					st->st_mtim.tv_sec, err);
			if (!e)
				return -HOIST_E_NOMEM;
			disk_owner(w, e, st);
			archive_entry_copy_hardlink(e, first);
			archive_entry_set_size(e, 0);
			return write_header(w, e, err);
		}
	}

	_cleanup_(archive_entry_freep) struct archive_entry *e = NULL;
	struct stat fst = *st;
	int r = 0;
	if (fmt == S_IFREG && fd < 0 && !bare) {
		fd = open_file(dfd, base);
		if (fd < 0)
			return hoist_error_errno(err, errno, "open '%s'", where);
		if (fstat(fd, &fst) < 0)
			return hoist_error_errno(err, errno, "stat '%s'", where);
		if (!S_ISREG(fst.st_mode) || fst.st_ino != st->st_ino)
			return hoist_error_set(err, HOIST_E_IO,
				"'%s' was replaced while being read", where);
	}
	if (fmt == S_IFREG && fst.st_size > (1LL << 20))
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	e = new_entry(w, name, fmt, fst.st_mode, fst.st_mtim.tv_sec, err);
	if (!e)
		return -HOIST_E_NOMEM;
	disk_owner(w, e, &fst);
	if (fmt == S_IFREG) {
		archive_entry_set_size(e, fst.st_size);
		if (!bare)
			r = add_xattrs_fd(w, e, fd, where, err);
	} else if (fmt == S_IFLNK) {
		char *t = (char *)w->buf;
		ssize_t n = readlinkat(dfd, base, t, LINK_MAX_LEN + 1);
		if (n < 0)
			return hoist_error_errno(err, errno, "read link '%s'", where);
		if (n > LINK_MAX_LEN)
			return hoist_error_set(err, HOIST_E_LIMIT,
				"target of link '%s' longer than %d bytes", where,
				LINK_MAX_LEN);
		t[n] = '\0';
		archive_entry_copy_symlink(e, t);
	} else if (fmt == S_IFCHR || fmt == S_IFBLK) {
		archive_entry_set_rdev(e, fst.st_rdev);
	}
	if (r == 0)
		r = write_header(w, e, err);
	if (r == 0 && fmt == S_IFREG && !bare)
		r = copy_fd(w, fd, fst.st_size, where, err);
	if (r == 0 && linked)
		r = strmap_put(links, key, name, err);
	return r;
}

/* Hard links are looked for within one tree: two trees (or two adds of
 * one file) give independent files, as two COPYs would. */
typedef struct walk {
	hoist_layer_writer *w;
	hoist_layer_exclude_fn exclude;
	void *ud;
	char *name;        /* entry name being built: dest "/" relpath */
	size_t len;
	size_t rel_off;    /* where relpath starts in name */
	strmap links;
} walk;

/* The path relative to the tree's root names an entry in messages (the
 * caller's wrap names the root). */
static const char *walk_where(const walk *k)
{
	const char *rel = k->name + k->rel_off;
	return *rel ? rel : ".";
}

static int walk_dir(walk *k, int dfd, int depth, hoist_error **err);

static int walk_one(walk *k, int dfd, const char *base, unsigned char type,
	int depth, hoist_error **err)
{
	struct stat st;
	_cleanup_close_ int fd = -1;
	bool asked = false, have_st = false;
	if (type == DT_REG) {
		/* readdir says a regular file: the exclude rules can be asked
		 * before any stat. */
		if (k->exclude && k->exclude(k->ud, k->name + k->rel_off, false))
			return 0;
		asked = true;
	}
	if (type == DT_REG && !k->w->no_listxattrat) {
		/* Opening a file costs more than anything else done per file: an
		 * empty one without xattrs (listxattrat, Linux 6.13) needs no
		 * open at all. */
		if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				return 0; /* vanished since readdir */
			return hoist_error_errno(err, errno, "stat '%s'", walk_where(k));
		}
		have_st = true;
		if (S_ISREG(st.st_mode) && st.st_size == 0) {
			long n = syscall(SYS_listxattrat, dfd, base, AT_SYMLINK_NOFOLLOW,
				NULL, (size_t)0);
			if (n == 0)
				return emit_nondir(k->w, dfd, base, k->name, &st, EMPTY_BARE,
					walk_where(k), &k->links, err);
			if (n < 0 && errno == ENOSYS)
				k->w->no_listxattrat = true;
		}
	} else if (type == DT_REG) {
		/* Without listxattrat: open it straight away (one lookup
		 * instead of two); anything else by then (a race) goes the
		 * long way. */
		fd = open_file(dfd, base);
		if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
			close(fd);
			fd = -1;
		}
		if (fd >= 0)
			return emit_nondir(k->w, dfd, base, k->name, &st, steal_fd(&fd),
				walk_where(k), &k->links, err);
	}
	if (!have_st && fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0; /* vanished since readdir */
		return hoist_error_errno(err, errno, "stat '%s'", walk_where(k));
	}
	bool is_dir = S_ISDIR(st.st_mode);
	if (k->exclude && (!asked || is_dir) &&
	    k->exclude(k->ud, k->name + k->rel_off, is_dir))
		return 0;
	if (k->w->o.overlay_xattr_prefix && S_ISCHR(st.st_mode) && st.st_rdev == 0)
		return hoist_layer_writer_add_whiteout(k->w, k->name, false, err);
	if (!is_dir)
		return emit_nondir(k->w, dfd, base, k->name, &st, -1, walk_where(k),
			&k->links, err);
	_cleanup_close_ int cfd = openat(dfd, base,
		O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (cfd < 0)
		return hoist_error_errno(err, errno, "open directory '%s'",
			walk_where(k));
	if (fstat(cfd, &st) < 0)
		return hoist_error_errno(err, errno, "stat '%s'", walk_where(k));
	int r = emit_dir(k->w, k->name, &st, cfd, err);
	if (r == 0 && k->w->o.overlay_xattr_prefix) {
		char attr[64], v[8];
		snprintf(attr, sizeof(attr), "%sopaque", k->w->o.overlay_xattr_prefix);
		ssize_t n = fgetxattr(cfd, attr, v, sizeof(v));
		if (n == 1 && v[0] == 'y')
			r = hoist_layer_writer_add_whiteout(k->w, k->name, true, err);
	}
	if (r == 0)
		r = walk_dir(k, cfd, depth + 1, err);
	return r;
}

static int walk_dir(walk *k, int dfd, int depth, hoist_error **err)
{
	if (depth > TREE_DEPTH_MAX)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"'%s' is nested deeper than %d directories", walk_where(k),
			TREE_DEPTH_MAX);
	hoist_fs_dirlist l;
	int r = hoist_fs_dirlist_read(&l, dfd, walk_where(k), err);
	if (r < 0)
		return r;
	size_t base_len = k->len;
	for (size_t i = 0; i < l.n && r == 0; i++) {
		const char *nm = hoist_fs_dirlist_name(&l, i);
		size_t nl = strlen(nm);
		size_t sep = base_len ? 1 : 0;
		if (base_len + sep + nl > NAME_MAX_LEN) {
			r = hoist_error_set(err, HOIST_E_LIMIT,
				"name of '%s/%s' longer than %d bytes", walk_where(k),
				nm, NAME_MAX_LEN);
			break;
		}
		if (sep)
			k->name[base_len] = '/';
		memcpy(k->name + base_len + sep, nm, nl + 1);
		k->len = base_len + sep + nl;
		r = walk_one(k, dfd, nm, l.v[i].type, depth, err);
		k->len = base_len;
		k->name[base_len] = '\0';
	}
	hoist_fs_dirlist_release(&l);
	return r;
}

int hoist_layer_writer_add_tree(hoist_layer_writer *w, const char *dir,
	const char *dest, hoist_layer_exclude_fn exclude, void *ud,
	hoist_error **err)
{
	int r = check_usable(w, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *nd = NULL;
	if ((r = norm_name(dest ? dest : "", &nd, err)) < 0)
		return hoist_error_wrap(err, HOIST_E_INVALID, "add '%s'", dir);
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return hoist_error_errno(err, errno, "add '%s': open", dir);
	_cleanup_free_ char *name = malloc(NAME_MAX_LEN + 1);
	if (!name)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	size_t dl = strlen(nd);
	memcpy(name, nd, dl + 1);
	walk k = {
		.w = w, .exclude = exclude, .ud = ud, .name = name, .len = dl,
		.rel_off = dl ? dl + 1 : 0,
	};
	if (dl) {
		struct stat st;
		if (fstat(dfd, &st) < 0)
			return hoist_error_errno(err, errno, "add '%s': stat", dir);
		r = add_parents(w, nd, err);
		if (r == 0)
			r = emit_dir(w, nd, &st, dfd, err);
	}
	if (r == 0)
		r = walk_dir(&k, dfd, 0, err);
	strmap_release(&k.links);
	if (r < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "add '%s' as '/%s'", dir,
			nd);
	return 0;
}

int hoist_layer_writer_add_path(hoist_layer_writer *w, const char *host_path,
	const char *dest, hoist_error **err)
{
	int r = check_usable(w, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *nd = NULL;
	if ((r = norm_name(dest, &nd, err)) < 0)
		return hoist_error_wrap(err, HOIST_E_INVALID, "add '%s'", host_path);
	if (!*nd)
		return hoist_error_set(err, HOIST_E_INVALID,
			"add '%s': destination '%s' is the root", host_path, dest);
	struct stat st;
	if (lstat(host_path, &st) < 0)
		return hoist_error_errno(err, errno, "add '%s': stat", host_path);
	if (S_ISDIR(st.st_mode)) {
		_cleanup_close_ int fd = open(host_path,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0)
			return hoist_error_errno(err, errno, "add '%s': open",
				host_path);
		r = emit_dir(w, nd, &st, fd, err);
	} else {
		r = emit_nondir(w, AT_FDCWD, host_path, nd, &st, -1, host_path,
			NULL, err);
	}
	if (r < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "add '%s' as '/%s'",
			host_path, nd);
	return 0;
}

/* Entries not backed by a host file: dest normalised and non-root. */
static int synthetic(hoist_layer_writer *w, const char *dest, mode_t type,
	mode_t mode, struct archive_entry **out, char **name, hoist_error **err)
{
	int r = check_usable(w, err);
	if (r < 0)
		return r;
	if ((r = norm_name(dest, name, err)) < 0)
		return r;
	if (!**name) {
		free(*name);
		*name = NULL;
		return hoist_error_set(err, HOIST_E_INVALID,
			"'%s' names the root, not an entry", dest);
	}
	*out = new_entry(w, *name, type, mode, w->epoch, err);
	return *out ? 0 : -HOIST_E_NOMEM;
}

int hoist_layer_writer_add_data(hoist_layer_writer *w, const char *dest,
	const void *data, size_t len, mode_t mode, hoist_error **err)
{
	_cleanup_(archive_entry_freep) struct archive_entry *e = NULL;
	_cleanup_free_ char *name = NULL;
	int r = synthetic(w, dest, AE_IFREG, mode, &e, &name, err);
	if (r == 0) {
		archive_entry_set_size(e, (la_int64_t)len);
		r = write_header(w, e, err);
	}
	if (r == 0)
		r = write_data(w, name, data, len, err);
	if (r < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "add file '%s'", dest);
	return 0;
}

int hoist_layer_writer_add_dir(hoist_layer_writer *w, const char *dest,
	mode_t mode, hoist_error **err)
{
	_cleanup_(archive_entry_freep) struct archive_entry *e = NULL;
	_cleanup_free_ char *name = NULL;
	int r = synthetic(w, dest, AE_IFDIR, mode, &e, &name, err);
	if (r == 0)
		r = write_header(w, e, err);
	if (r == 0)
		r = note_dir(w, name, err);
	if (r < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "add directory '%s'", dest);
	return 0;
}

int hoist_layer_writer_add_symlink(hoist_layer_writer *w, const char *dest,
	const char *target, hoist_error **err)
{
	if (!target || !*target || strlen(target) > LINK_MAX_LEN)
		return hoist_error_set(err, HOIST_E_INVALID,
			"add symlink '%s': target must be 1 to %d bytes", dest,
			LINK_MAX_LEN);
	_cleanup_(archive_entry_freep) struct archive_entry *e = NULL;
	_cleanup_free_ char *name = NULL;
	int r = synthetic(w, dest, AE_IFLNK, 0777, &e, &name, err);
	if (r == 0) {
		archive_entry_copy_symlink(e, target);
		r = write_header(w, e, err);
	}
	if (r < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "add symlink '%s'", dest);
	return 0;
}

int hoist_layer_writer_add_whiteout(hoist_layer_writer *w, const char *dest,
	bool opaque, hoist_error **err)
{
	_cleanup_free_ char *nd = NULL;
	int r = norm_name(dest, &nd, err);
	if (r < 0)
		return hoist_error_wrap(err, HOIST_E_INVALID, "add whiteout");
	_cleanup_free_ char *wh = NULL;
	if (opaque) {
		r = asprintf(&wh, "%s%s.wh..wh..opq", nd, *nd ? "/" : "");
	} else {
		if (!*nd)
			return hoist_error_set(err, HOIST_E_INVALID,
				"add whiteout '%s': the root cannot be deleted", dest);
		char *slash = strrchr(nd, '/');
		if (slash) {
			*slash = '\0';
			r = asprintf(&wh, "%s/.wh.%s", nd, slash + 1);
		} else {
			r = asprintf(&wh, ".wh.%s", nd);
		}
	}
	if (r < 0)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	_cleanup_(archive_entry_freep) struct archive_entry *e = NULL;
	_cleanup_free_ char *name = NULL;
	r = synthetic(w, wh, AE_IFREG, 0644, &e, &name, err);
	if (r == 0)
		r = write_header(w, e, err);
	if (r < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "add whiteout for '%s'",
			dest);
	return 0;
}

/* add_tar: the caller keeps its reader, so the decompressor gets a
 * wrapper it may free. */
typedef struct borrowed_reader {
	hoist_reader base;
	hoist_reader *inner;
} borrowed_reader;

static ssize_t borrowed_read(hoist_reader *r, void *buf, size_t n,
	hoist_error **err)
{
	return hoist_reader_read(((borrowed_reader *)r)->inner, buf, n, err);
}

static void borrowed_free(hoist_reader *r)
{
	free(r);
}

static const hoist_reader_ops borrowed_reader_ops = { borrowed_read,
	borrowed_free };

typedef struct tar_src {
	hoist_reader *r;
	unsigned char *buf;
	hoist_error *err;
	/* What the tar made so far, to refuse entries that only make sense
	 * as attacks on whoever applies the layer. */
	hoist_strset symlinks;
	hoist_strset files;
} tar_src;

/* A tar that plants a symlink and then writes below it, links to a file
 * it never had, or whites out "." or "..": refused here already, so that
 * no such layer is made (the applier refuses them too). */
static int check_tar_entry(tar_src *src, const char *path, const char *name,
	const char *link, hoist_error **err)
{
	_cleanup_free_ char *p = strdup(name);
	if (!p)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	for (char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (hoist_strset_has(&src->symlinks, p))
			return hoist_error_set(err, HOIST_E_UNSAFE,
				"tar entry '%s' is below the symlink '%s' the same tar made",
				path, p);
		*s = '/';
	}
	const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
	if (!strcmp(base, ".wh.") || !strcmp(base, ".wh..") || !strcmp(base, ".wh..."))
		return hoist_error_set(err, HOIST_E_UNSAFE,
			"tar entry '%s' is a whiteout of '.' or '..'", path);
	if (link && !hoist_strset_has(&src->files, link))
		return hoist_error_set(err, HOIST_E_UNSAFE,
			"hard link '%s' to '%s', which is not an earlier file of the tar",
			path, link);
	return 0;
}

static la_ssize_t tar_in(struct archive *a, void *ud, const void **out)
{
	tar_src *s = ud;
	ssize_t k = hoist_reader_read(s->r, s->buf, HOIST_IO_CHUNK, &s->err);
	if (k < 0) {
		archive_set_error(a, EIO, "%s", s->err ? s->err->msg : "read failed");
		return -1;
	}
	*out = s->buf;
	return (la_ssize_t)k;
}

static void archive_read_freep(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
}

/* Moves the reader's error (if any) into err, else archive's message. */
static int tar_read_fail(tar_src *s, struct archive *ra, hoist_error **err)
{
	if (s->err) {
		hoist_error *e = steal_ptr(&s->err);
		if (err && !*err)
			*err = e;
		else
			hoist_error_free(e);
		return -(*err ? (*err)->code : HOIST_E_IO);
	}
	const char *m = archive_error_string(ra);
	return hoist_error_set(err, HOIST_E_INVALID, "read tar: %s",
		m ? m : "invalid tar");
}

static int copy_tar_entry(hoist_layer_writer *w, struct archive *ra,
	tar_src *src, struct archive_entry *in, hoist_error **err)
{
	const char *path = archive_entry_pathname(in);
	if (!path)
		return hoist_error_set(err, HOIST_E_INVALID,
			"tar entry without a name");
	_cleanup_free_ char *name = NULL;
	int r = norm_name(path, &name, err);
	if (r < 0)
		return r;
	const char *hl = archive_entry_hardlink(in);
	_cleanup_free_ char *link = NULL;
	if (hl) {
		if ((r = norm_name(hl, &link, err)) < 0)
			return hoist_error_wrap(err, HOIST_E_UNSAFE,
				"hard link '%s'", path);
		if (!*link)
			return hoist_error_set(err, HOIST_E_UNSAFE,
				"hard link '%s' points at the root", path);
	}
	mode_t type = archive_entry_filetype(in);
	if (link)
		type = AE_IFREG;
	if (*name && (r = check_tar_entry(src, path, name, link, err)) < 0)
		return r;
	if (*name && (type == AE_IFLNK ? hoist_strset_add(&src->symlinks, name)
			: type == AE_IFREG && !link ? hoist_strset_add(&src->files, name) : 0) < 0)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	if (!*name) {
		if (type == AE_IFDIR)
			return 0; /* "./": the root itself */
		return hoist_error_set(err, HOIST_E_UNSAFE,
			"tar entry '%s' names the root", path);
	}
	switch (type) {
	case AE_IFREG:
	case AE_IFDIR:
	case AE_IFLNK:
	case AE_IFIFO:
		break;
	case AE_IFCHR:
	case AE_IFBLK:
		if (!w->o.devices)
			return 0;
		break;
	default:
		return 0; /* sockets and unknown types */
	}
	_cleanup_(archive_entry_freep) struct archive_entry *e = new_entry(w,
		name, type, archive_entry_perm(in), archive_entry_mtime(in), err);
	if (!e)
		return -HOIST_E_NOMEM;
	int64_t size = 0;
	if (link) {
		archive_entry_copy_hardlink(e, link);
	} else if (type == AE_IFREG) {
		size = archive_entry_size(in);
		if (size < 0)
			return hoist_error_set(err, HOIST_E_INVALID,
				"tar entry '%s' has a negative size", path);
		archive_entry_set_size(e, size);
	} else if (type == AE_IFLNK) {
		const char *t = archive_entry_symlink(in);
		if (!t || !*t || strlen(t) > LINK_MAX_LEN)
			return hoist_error_set(err, HOIST_E_INVALID,
				"tar entry '%s' has an empty or too long link target",
				path);
		archive_entry_copy_symlink(e, t);
	} else if (type == AE_IFCHR || type == AE_IFBLK) {
		archive_entry_set_rdev(e, archive_entry_rdev(in));
	}
	/* The same xattrs as from a tree, in name order. */
	int nx = archive_entry_xattr_reset(in);
	if (nx > 0) {
		_cleanup_free_ char **names = calloc((size_t)nx, sizeof(char *));
		_cleanup_free_ const void **vals = calloc((size_t)nx, sizeof(void *));
		_cleanup_free_ size_t *sizes = calloc((size_t)nx, sizeof(size_t));
		if (!names || !vals || !sizes)
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		int kept = 0;
		for (int i = 0; i < nx; i++) {
			const char *xn;
			const void *xv;
			size_t xs;
			if (archive_entry_xattr_next(in, &xn, &xv, &xs) != ARCHIVE_OK)
				break;
			if (keep_xattr(xn) && xs <= XATTR_VALUE_MAX_LEN)
				names[kept++] = (char *)xn;
		}
		qsort(names, (size_t)kept, sizeof(*names), cmp_str);
		for (int i = kept; i-- > 0;) {
			/* Look the value up again for the sorted name. */
			archive_entry_xattr_reset(in);
			const char *xn;
			const void *xv;
			size_t xs;
			while (archive_entry_xattr_next(in, &xn, &xv, &xs) ==
				ARCHIVE_OK)
				if (xn == names[i]) {
					archive_entry_xattr_add_entry(e, xn, xv, xs);
					break;
				}
		}
	}
	if ((r = write_header(w, e, err)) < 0)
		return r;
	if (type == AE_IFDIR)
		return note_dir(w, name, err);
	if (type != AE_IFREG || link)
		return 0;
	int64_t done = 0;
	for (;;) {
		la_ssize_t k = archive_read_data(ra, w->buf, HOIST_IO_CHUNK);
		if (k < 0) {
			w->broken = true;
			r = tar_read_fail(src, ra, err);
			return hoist_error_wrap(err, HOIST_E_INVALID, "read '%s'",
				path);
		}
		if (k == 0)
			break;
		if (k > size - done) {
			w->broken = true;
			return hoist_error_set(err, HOIST_E_INVALID,
				"tar entry '%s' has more data than its size %lld",
				path, (long long)size);
		}
		if ((r = write_data(w, name, w->buf, (size_t)k, err)) < 0)
			return r;
		done += k;
	}
	if (done != size) {
		w->broken = true;
		return hoist_error_set(err, HOIST_E_INVALID,
			"tar entry '%s' ends after %lld of its %lld bytes", path,
			(long long)done, (long long)size);
	}
	return 0;
}

int hoist_layer_writer_add_tar(hoist_layer_writer *w, hoist_reader *tar,
	hoist_error **err)
{
	int r = check_usable(w, err);
	if (r < 0)
		return r;
	borrowed_reader *b = calloc(1, sizeof(*b));
	if (!b)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	b->base.ops = &borrowed_reader_ops;
	b->inner = tar;
	hoist_reader *dr = NULL;
	if ((r = hoist_layer_decompress(&dr, &b->base, err)) < 0)
		return hoist_error_wrap(err, HOIST_E_NOMEM, "add tar");
	_cleanup_free_ unsigned char *buf = malloc(HOIST_IO_CHUNK);
	tar_src src = { .r = dr, .buf = buf };
	__attribute__((cleanup(archive_read_freep))) struct archive *ra =
		archive_read_new();
	if (!buf || !ra) {
		hoist_reader_free(dr);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	archive_read_support_format_tar(ra);
	archive_read_support_format_empty(ra);
	if (archive_read_open(ra, &src, NULL, tar_in, NULL) != ARCHIVE_OK) {
		r = tar_read_fail(&src, ra, err);
	} else {
		for (;;) {
			struct archive_entry *in;
			locale_t old = utf8_enter(w->utf8);
			int lr = archive_read_next_header(ra, &in);
			utf8_leave(w->utf8, old);
			if (lr == ARCHIVE_EOF)
				break;
			if (lr < ARCHIVE_WARN) {
				r = tar_read_fail(&src, ra, err);
				break;
			}
			if ((r = copy_tar_entry(w, ra, &src, in, err)) < 0)
				break;
		}
	}
	hoist_error_free(src.err);
	hoist_strset_release(&src.symlinks);
	hoist_strset_release(&src.files);
	archive_read_free(ra);
	ra = NULL;
	hoist_reader_free(dr);
	if (r < 0)
		return hoist_error_wrap(err, HOIST_E_INVALID, "add tar");
	return 0;
}

int hoist_layer_writer_finish(hoist_layer_writer *w, hoist_layer_info *info,
	hoist_error **err)
{
	int r = check_usable(w, err);
	if (r < 0)
		return r;
	if (archive_write_close(w->a) != ARCHIVE_OK) {
		la_fail(w, "end of archive", err);
		return hoist_error_wrap(err, HOIST_E_IO, "finish layer");
	}
	if ((r = hoist_compressor_finish(w->cz, err)) < 0) {
		w->broken = true;
		return hoist_error_wrap(err, HOIST_E_IO, "finish layer");
	}
	w->finished = true;
	hoist_hasher_final(w->diff, &info->diff_id);
	hoist_hasher_final(w->blob, &info->digest);
	info->size = w->size;
	info->media_type = layer_media_type(&w->o);
	return 0;
}

/* COPY and ADD: Docker's copy rules over file-system views, written into a
 * snapshot directory, with the content key of the step.  See
 * hoist/buildcopy.h.
 *
 * The plan walks the sources and the destination and yields every entry
 * the step writes, in creation order, with its final metadata.  Each
 * entry is then at once either written (the file read once, hashed as it
 * is copied) or, for the key alone, only hashed, and added to the key;
 * nothing is kept per file, so memory does not grow with the number of
 * files copied.  Both ways being one code path for the plan is what makes
 * hoist_build_copy_key_only agree with hoist_build_copy by construction.
 * Errors found late (a later source colliding with an earlier one) leave
 * a partly written snapshot, which the caller deletes. */
#include "hoist/buildcopy.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "build/buildcopy_internal.h"
#include "hoist/buf.h"
#include "hoist/io.h"
#include "hoist/layer.h"
#include "hoist/strset.h"
#include "sandbox/internal.h"
#include "util/cleanup.h"

HOIST_DEFINE_CLEANUP(hoist_dockerignore, hoist_dockerignore_free)
HOIST_DEFINE_CLEANUP(hoist_fsview, hoist_fsview_free)
HOIST_DEFINE_CLEANUP(hoist_hasher, hoist_hasher_free)
HOIST_DEFINE_CLEANUP(hoist_reader, hoist_reader_free)

#define KEY_VERSION "hoist-buildcopy/2"
#define UNNAMED "__unnamed__"

enum ekind {
	E_KEEP,    /* a directory of the stage (a parent of the destination):
	              its metadata as the stage has it */
	E_NEWDIR,  /* a missing destination directory: 0755, --chown or root */
	E_DIR,     /* a copied directory */
	E_FILE,
	E_HARDLINK,
	E_SYMLINK,
	E_NODE,    /* fifo, character or block device */
	E_ARCHIVE, /* ADD of a local archive, extracted into dst */
	E_URL,
	E_INLINE,
};

typedef struct entry {
	int kind;
	char *dst;            /* canonical path in the image */
	mode_t mode;          /* type and permission bits in effect */
	uid_t uid;
	gid_t gid;
	struct timespec mtime; /* tv_nsec UTIME_OMIT: leave as created */
	dev_t rdev;
	fsv_node src;         /* E_FILE, E_ARCHIVE */
	const hoist_fsview *view;
	char *link;           /* symlink target; hard link: first dst; URL */
	const hoist_build_copy_inline *inl;
	fsv_xattrs xattrs;
	int64_t owner_uid;    /* E_ARCHIVE: --chown, -1 none */
	int64_t owner_gid;
	char content[HOIST_DIGEST_STRMAX]; /* filled when hashed */
} entry;

typedef struct hl_slot {
	dev_t dev;
	ino_t ino;
	char *first; /* the first destination; NULL: empty */
} hl_slot;

typedef struct exec exec;

/* The plan is not kept: each entry, once planned, is written (or only
 * hashed) and added to the key, so memory does not grow with the number
 * of files.  What stays: the directories (their metadata is set last),
 * hard-linked files, and, with several sources, the paths written. */
typedef struct plan {
	const hoist_build_copy_req *req;
	const char *op;               /* "COPY" / "ADD" */
	const hoist_fsview *target;
	int64_t uid, gid;             /* --chown in effect, -1 none */
	hoist_dockerignore *excl;
	exec *x;                      /* writing; NULL: hashing only */
	char *buf;                    /* hashing only: HOIST_IO_CHUNK bytes */
	hoist_hasher *key;            /* the step's key, entry by entry */
	entry *dv;                    /* directories written, for fix_dirs */
	size_t dn, dcap;
	entry *pending;               /* directories waiting for content */
	size_t n_pending, cap_pending;
	hoist_strset dirs;            /* planned directories */
	hoist_strset nondirs;         /* planned everything else (several
	                                 sources only: one tree cannot
	                                 collide with itself) */
	bool track_nondirs;
	hl_slot *hl;
	size_t hl_cap, hl_n;
} plan;

/* A source after pattern expansion. */
enum ikind { I_PATH, I_URL, I_INLINE };
typedef struct item {
	int kind;
	const char *word;   /* as written (borrowed) */
	fsv_node node;      /* I_PATH: symlinks followed */
	char *name;         /* base name for a directory destination */
	char *excl_rel;     /* a pattern match: its path for --exclude */
	const hoist_build_copy_inline *inl;
} item;

static int nomem(hoist_error **err)
{
	return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
}

static const char *rel_of(const char *path)
{
	return path[1] ? path + 1 : ".";
}

static char *path_join(const char *dir, const char *name)
{
	char *p = NULL;
	if (asprintf(&p, "%s%s%s", dir, dir[1] ? "/" : "", name) < 0)
		return NULL;
	return p;
}

static const char *base_of(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

static void entry_release(entry *e)
{
	free(e->dst);
	free(e->link);
	fsv_node_release(&e->src);
	fsv_xattrs_release(&e->xattrs);
}

static void plan_release(plan *p)
{
	for (size_t i = 0; i < p->dn; i++)
		entry_release(&p->dv[i]);
	for (size_t i = 0; i < p->n_pending; i++)
		entry_release(&p->pending[i]);
	for (size_t i = 0; i < p->hl_cap; i++)
		free(p->hl[i].first);
	free(p->dv);
	free(p->pending);
	free(p->hl);
	free(p->buf);
	hoist_hasher_free(p->key);
	hoist_strset_release(&p->dirs);
	hoist_strset_release(&p->nondirs);
	hoist_dockerignore_free(p->excl);
}

static void item_release(item *it)
{
	fsv_node_release(&it->node);
	free(it->name);
	free(it->excl_rel);
}

static bool is_dir_kind(int k)
{
	return k == E_KEEP || k == E_NEWDIR || k == E_DIR;
}

/* Room for more than n elements of size in *v. */
static int grow(void **v, size_t *cap, size_t n, size_t size,
	hoist_error **err)
{
	if (n < *cap)
		return 0;
	size_t nc = *cap ? *cap : 64;
	while (nc <= n)
		nc *= 2;
	void *nv = realloc(*v, nc * size);
	if (!nv)
		return nomem(err);
	*v = nv;
	*cap = nc;
	return 0;
}

static int mark(plan *p, const entry *e, hoist_error **err)
{
	bool dir = is_dir_kind(e->kind) || e->kind == E_ARCHIVE;
	if (!dir && !p->track_nondirs)
		return 0;
	int a = hoist_strset_add(dir ? &p->dirs : &p->nondirs, e->dst);
	return a < 0 ? nomem(err) : 0;
}

static int exec_entry(exec *x, entry *e, hoist_error **err);
static int hash_entry(plan *p, entry *e, hoist_error **err);
static void key_entry(hoist_hasher *h, const entry *e);

/* One planned entry (moved): written or hashed, then into the key; a
 * written directory is kept for fix_dirs. */
static int emit(plan *p, entry *e, hoist_error **err)
{
	int r = mark(p, e, err);
	if (r == 0)
		r = p->x ? exec_entry(p->x, e, err) : hash_entry(p, e, err);
	if (r == 0)
		key_entry(p->key, e);
	if (r == 0 && p->x && is_dir_kind(e->kind)) {
		r = grow((void **)&p->dv, &p->dcap, p->dn, sizeof(*p->dv), err);
		if (r == 0) {
			fsv_node_release(&e->src);
			p->dv[p->dn++] = *e;
			memset(e, 0, sizeof(*e));
			return 0;
		}
	}
	entry_release(e);
	memset(e, 0, sizeof(*e));
	return r;
}

/* Adds e (moved) after the directories waiting for content above it. */
static int plan_add(plan *p, entry *e, hoist_error **err)
{
	int r = 0;
	size_t i = 0;
	for (; i < p->n_pending && r == 0; i++)
		r = emit(p, &p->pending[i], err);
	for (; i < p->n_pending; i++)
		entry_release(&p->pending[i]);
	p->n_pending = 0;
	if (r < 0) {
		entry_release(e);
		return r;
	}
	return emit(p, e, err);
}

/* What a path holds so far: what this step planned, else the stage. */
enum { T_NONE, T_DIR, T_OTHER };

static int existing(plan *p, const char *path, const fsv_node *tnode,
	bool have_tnode, int *out, hoist_error **err)
{
	if (hoist_strset_has(&p->dirs, path)) {
		*out = T_DIR;
		return 0;
	}
	if (hoist_strset_has(&p->nondirs, path)) {
		*out = T_OTHER;
		return 0;
	}
	if (have_tnode) {
		*out = !tnode ? T_NONE : S_ISDIR(tnode->st.st_mode) ? T_DIR : T_OTHER;
		return 0;
	}
	fsv_node n;
	int r = fsv_resolve(p->target, path, false, &n, err);
	if (r == -HOIST_E_NOTFOUND || r == -HOIST_E_INVALID) {
		/* Below something that is not a directory: nothing there. */
		hoist_error_freep(err);
		*out = T_NONE;
		return 0;
	}
	if (r < 0)
		return r;
	*out = S_ISDIR(n.st.st_mode) ? T_DIR : T_OTHER;
	fsv_node_release(&n);
	return 0;
}

static int check_dir(plan *p, const char *path, const fsv_node *tnode,
	bool have_tnode, hoist_error **err)
{
	int t;
	int r = existing(p, path, tnode, have_tnode, &t, err);
	if (r < 0)
		return r;
	if (t == T_OTHER)
		return hoist_error_set(err, HOIST_E_EXISTS,
			"%s failed: cannot copy to non-directory: '%s'", p->op, path);
	return 0;
}

static int check_nondir(plan *p, const char *path, const fsv_node *tnode,
	bool have_tnode, hoist_error **err)
{
	int t;
	int r = existing(p, path, tnode, have_tnode, &t, err);
	if (r < 0)
		return r;
	if (t == T_DIR)
		return hoist_error_set(err, HOIST_E_EXISTS,
			"%s failed: cannot replace directory '%s' with a file", p->op,
			path);
	return 0;
}

static void owner_of(const plan *p, const hoist_fsview *view,
	const struct stat *st, uid_t *uid, gid_t *gid)
{
	if (p->uid >= 0) {
		*uid = (uid_t)p->uid;
		*gid = (gid_t)p->gid;
	} else if (view && !fsv_is_context(view) && st) {
		*uid = st->st_uid;
		*gid = st->st_gid;
	} else {
		*uid = 0;
		*gid = 0;
	}
}

static mode_t perm_of(const plan *p, mode_t mode)
{
	if (S_ISLNK(mode))
		return mode;
	mode_t perm = p->req->chmod >= 0 ? (mode_t)p->req->chmod : mode;
	return (mode & S_IFMT) | (perm & 07777);
}

static int new_dir_entry(plan *p, const char *dst, entry *e, hoist_error **err)
{
	memset(e, 0, sizeof(*e));
	e->kind = E_NEWDIR;
	if (!(e->dst = strdup(dst)))
		return nomem(err);
	e->mode = S_IFDIR | 0755;
	owner_of(p, NULL, NULL, &e->uid, &e->gid);
	e->mtime.tv_nsec = UTIME_OMIT;
	return 0;
}

static int keep_entry(const char *dst, const struct stat *st, entry *e,
	hoist_error **err)
{
	memset(e, 0, sizeof(*e));
	e->kind = E_KEEP;
	if (!(e->dst = strdup(dst)))
		return nomem(err);
	e->mode = S_IFDIR | (st->st_mode & 07777);
	e->uid = st->st_uid;
	e->gid = st->st_gid;
	e->mtime = st->st_mtim;
	return 0;
}

/* Plans dir and every directory above it: those of the stage as they are,
 * missing ones new.  A directory planned already is left alone. */
static int plan_dir_chain(plan *p, const char *dir, hoist_error **err)
{
	fsv_node cur;
	int r = fsv_root(p->target, &cur, err);
	if (r < 0)
		return r;
	bool have = true; /* cur is the stage's node for the path so far */
	_cleanup_free_ char *path = strdup("/");
	if (!path) {
		fsv_node_release(&cur);
		return nomem(err);
	}
	const char *s = dir;
	for (;;) {
		if (!hoist_strset_has(&p->dirs, path)) {
			r = check_dir(p, path, have ? &cur : NULL, true, err);
			entry e;
			if (r == 0)
				r = have ? keep_entry(path, &cur.st, &e, err)
					: new_dir_entry(p, path, &e, err);
			if (r == 0)
				r = plan_add(p, &e, err);
			if (r < 0)
				break;
		}
		while (*s == '/')
			s++;
		if (!*s)
			break;
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		_cleanup_free_ char *name = strndup(s, n);
		if (!name) {
			r = nomem(err);
			break;
		}
		s += n;
		char *np = path_join(path, name);
		if (!np) {
			r = nomem(err);
			break;
		}
		free(path);
		path = np;
		if (have) {
			fsv_node next;
			int lr = fsv_lookup(p->target, &cur, name, &next, err);
			fsv_node_release(&cur);
			if (lr == -HOIST_E_NOTFOUND) {
				have = false;
			} else if (lr < 0) {
				return lr;
			} else {
				cur = next;
				if (!S_ISDIR(cur.st.st_mode) &&
				    !hoist_strset_has(&p->dirs, path)) {
					fsv_node_release(&cur);
					return hoist_error_set(err, HOIST_E_EXISTS,
						"%s failed: cannot copy to non-directory: '%s'",
						p->op, path);
				}
			}
		}
	}
	if (have)
		fsv_node_release(&cur);
	return r;
}

/* Hard links: the first destination of each (dev, ino) with nlink > 1. */
static size_t hl_hash(dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9E3779B97F4A7C15ull ^ (uint64_t)dev;
	return (size_t)(h ^ (h >> 29));
}

static int hl_find_or_add(plan *p, dev_t dev, ino_t ino, const char *dst,
	const char **found, hoist_error **err)
{
	if ((p->hl_n + 1) * 2 > p->hl_cap) {
		size_t nc = p->hl_cap ? p->hl_cap * 2 : 64;
		hl_slot *ns = calloc(nc, sizeof(*ns));
		if (!ns)
			return nomem(err);
		for (size_t i = 0; i < p->hl_cap; i++) {
			if (!p->hl[i].first)
				continue;
			size_t j = hl_hash(p->hl[i].dev, p->hl[i].ino) & (nc - 1);
			while (ns[j].first)
				j = (j + 1) & (nc - 1);
			ns[j] = p->hl[i];
		}
		free(p->hl);
		p->hl = ns;
		p->hl_cap = nc;
	}
	size_t j = hl_hash(dev, ino) & (p->hl_cap - 1);
	while (p->hl[j].first) {
		if (p->hl[j].dev == dev && p->hl[j].ino == ino) {
			*found = p->hl[j].first;
			return 1;
		}
		j = (j + 1) & (p->hl_cap - 1);
	}
	char *first = strdup(dst);
	if (!first)
		return nomem(err);
	p->hl[j] = (hl_slot){ dev, ino, first };
	p->hl_n++;
	return 0;
}

/* One non-directory entry of a source at dst (node n is moved when kept). */
static int plan_leaf(plan *p, const hoist_fsview *view, fsv_node *n,
	const char *dst, const fsv_node *tnode, bool have_tnode,
	hoist_error **err)
{
	if (S_ISSOCK(n->st.st_mode))
		return 0;
	/* In the snapshot (an overlay lower dir, then a layer) it would
	 * delete dst instead. */
	if (S_ISCHR(n->st.st_mode) && n->st.st_rdev == makedev(0, 0))
		return hoist_error_set(err, HOIST_E_UNSUPPORTED,
			"%s failed: cannot copy '%s': a 0:0 character device is an "
			"overlay whiteout", p->op, n->path);
	int r = check_nondir(p, dst, tnode, have_tnode, err);
	if (r < 0)
		return r;
	entry e = { 0 };
	e.view = view;
	e.mode = perm_of(p, n->st.st_mode);
	owner_of(p, view, &n->st, &e.uid, &e.gid);
	e.mtime = n->st.st_mtim;
	if (!(e.dst = strdup(dst)))
		return nomem(err);
	if (S_ISREG(n->st.st_mode)) {
		e.kind = E_FILE;
		if (n->st.st_nlink > 1) {
			const char *first = NULL;
			r = hl_find_or_add(p, n->st.st_dev, n->st.st_ino, dst,
				&first, err);
			if (r < 0) {
				entry_release(&e);
				return r;
			}
			if (r == 1) {
				e.kind = E_HARDLINK;
				if (!(e.link = strdup(first))) {
					entry_release(&e);
					return nomem(err);
				}
			}
		}
		if (e.kind == E_FILE) {
			r = fsv_get_xattrs(view, n, &e.xattrs, err);
			if (r < 0) {
				entry_release(&e);
				return r;
			}
			e.src = *n;
			memset(n, 0, sizeof(*n));
		}
	} else if (S_ISLNK(n->st.st_mode)) {
		e.kind = E_SYMLINK;
		e.mode = S_IFLNK | 0777;
		r = fsv_readlink(view, n, &e.link, err);
		if (r < 0) {
			entry_release(&e);
			return r;
		}
	} else {
		e.kind = E_NODE;
		e.rdev = n->st.st_rdev;
	}
	return plan_add(p, &e, err);
}

static bool excluded(plan *p, const char *rel, bool is_dir, bool *descend)
{
	*descend = false;
	if (!p->excl || !rel)
		return false;
	if (!hoist_dockerignore_matches(p->excl, rel))
		return false;
	*descend = is_dir && hoist_dockerignore_may_reinclude(p->excl, rel);
	return true;
}

/* The content of source directory s into dst.  tdir: the stage's node
 * for dst (NULL when dst is new).  rel: the path of s below the copied
 * source, for --exclude ("" at the top). */
static int plan_tree(plan *p, const hoist_fsview *view, const fsv_node *s,
	const char *dst, const fsv_node *tdir, const char *rel,
	hoist_error **err)
{
	fsv_node *kids = NULL;
	size_t n = 0;
	int r = fsv_list(view, s, &kids, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r == 0; i++) {
		fsv_node *k = &kids[i];
		const char *name = base_of(k->path);
		_cleanup_free_ char *krel = NULL;
		_cleanup_free_ char *kdst = path_join(dst, name);
		if (!kdst || asprintf(&krel, "%s%s%s", rel, *rel ? "/" : "", name) < 0) {
			r = nomem(err);
			break;
		}
		bool is_dir = S_ISDIR(k->st.st_mode);
		bool descend;
		bool lazy = excluded(p, krel, is_dir, &descend);
		if (lazy && !descend)
			continue;
		fsv_node tk;
		bool have_tk = false;
		if (tdir && S_ISDIR(tdir->st.st_mode)) {
			r = fsv_lookup(p->target, tdir, name, &tk, err);
			if (r == -HOIST_E_NOTFOUND)
				r = 0;
			else if (r == 0)
				have_tk = true;
			else
				break;
		}
		if (!is_dir) {
			r = plan_leaf(p, view, k, kdst, have_tk ? &tk : NULL, true, err);
		} else {
			r = check_dir(p, kdst, have_tk ? &tk : NULL, true, err);
			entry e = { 0 };
			if (r == 0) {
				e.kind = E_DIR;
				e.mode = perm_of(p, k->st.st_mode);
				owner_of(p, view, &k->st, &e.uid, &e.gid);
				e.mtime = k->st.st_mtim;
				if (!(e.dst = strdup(kdst)))
					r = nomem(err);
			}
			if (r == 0)
				r = fsv_get_xattrs(view, k, &e.xattrs, err);
			size_t mark_pending = p->n_pending;
			if (r == 0 && lazy) {
				/* Excluded, but an exception may bring back something
				 * below: made only if that happens. */
				r = grow((void **)&p->pending, &p->cap_pending,
					p->n_pending, sizeof(*p->pending), err);
				if (r == 0) {
					p->pending[p->n_pending++] = e;
					memset(&e, 0, sizeof(e));
				}
			} else if (r == 0) {
				r = plan_add(p, &e, err);
			}
			entry_release(&e);
			if (r == 0)
				r = plan_tree(p, view, k, kdst, have_tk ? &tk : NULL, krel,
					err);
			if (r == 0 && lazy && p->n_pending > mark_pending) {
				/* Nothing came back: drop it. */
				while (p->n_pending > mark_pending)
					entry_release(&p->pending[--p->n_pending]);
			}
		}
		if (have_tk)
			fsv_node_release(&tk);
	}
	fsv_nodes_free(kids, n);
	return r;
}

/* Go's filepath.Match for one path component (no '/' in name). */

static int utf8_decode(const char *s, size_t len, uint32_t *r)
{
	const unsigned char *u = (const unsigned char *)s;
	if (len == 0) {
		*r = 0xFFFD;
		return 0;
	}
	if (u[0] < 0x80) {
		*r = u[0];
		return 1;
	}
	int n = (u[0] & 0xE0) == 0xC0 ? 2 : (u[0] & 0xF0) == 0xE0 ? 3
		: (u[0] & 0xF8) == 0xF0 ? 4 : 0;
	if (n == 0 || (size_t)n > len) {
		*r = 0xFFFD;
		return 1;
	}
	uint32_t v = u[0] & (0x7F >> n);
	for (int i = 1; i < n; i++) {
		if ((u[i] & 0xC0) != 0x80) {
			*r = 0xFFFD;
			return 1;
		}
		v = (v << 6) | (u[i] & 0x3F);
	}
	*r = v;
	return n;
}

/* One class item; -1 on a bad pattern. */
static int get_esc(const char **chunk, size_t *clen, uint32_t *r)
{
	const char *c = *chunk;
	size_t n = *clen;
	if (n == 0 || c[0] == '-' || c[0] == ']')
		return -1;
	if (c[0] == '\\') {
		c++;
		n--;
		if (n == 0)
			return -1;
	}
	int k = utf8_decode(c, n, r);
	if (*r == 0xFFFD && k == 1 && (unsigned char)c[0] >= 0x80)
		return -1;
	c += k;
	n -= (size_t)k;
	if (n == 0)
		return -1;
	*chunk = c;
	*clen = n;
	return 0;
}

/* 1 and *rest when chunk matches a prefix of s, 0 if not, -1 bad. */
static int match_chunk(const char *chunk, size_t clen, const char *s,
	size_t slen, size_t *rest)
{
	bool failed = false;
	while (clen > 0) {
		if (!failed && slen == 0)
			failed = true;
		switch (chunk[0]) {
		case '[': {
			uint32_t r = 0;
			if (!failed) {
				int k = utf8_decode(s, slen, &r);
				s += k;
				slen -= (size_t)k;
			}
			chunk++;
			clen--;
			bool negated = false;
			if (clen > 0 && chunk[0] == '^') {
				negated = true;
				chunk++;
				clen--;
			}
			bool match = false;
			int nrange = 0;
			for (;;) {
				if (clen > 0 && chunk[0] == ']' && nrange > 0) {
					chunk++;
					clen--;
					break;
				}
				uint32_t lo, hi;
				if (get_esc(&chunk, &clen, &lo) < 0)
					return -1;
				hi = lo;
				if (chunk[0] == '-') {
					chunk++;
					clen--;
					if (get_esc(&chunk, &clen, &hi) < 0)
						return -1;
				}
				if (lo <= r && r <= hi)
					match = true;
				nrange++;
			}
			if (match == negated)
				failed = true;
			break;
		}
		case '?':
			if (!failed) {
				uint32_t r;
				int k = utf8_decode(s, slen, &r);
				s += k;
				slen -= (size_t)k;
			}
			chunk++;
			clen--;
			break;
		case '\\':
			chunk++;
			clen--;
			if (clen == 0)
				return -1;
			/* fall through */
		default:
			if (!failed) {
				if (chunk[0] != s[0])
					failed = true;
				s++;
				slen--;
			}
			chunk++;
			clen--;
			break;
		}
	}
	if (failed)
		return 0;
	*rest = slen;
	return 1;
}

static void scan_chunk(const char **pat, bool *star, const char **chunk,
	size_t *clen)
{
	const char *p = *pat;
	*star = false;
	while (*p == '*') {
		p++;
		*star = true;
	}
	bool inrange = false;
	size_t i = 0;
	for (; p[i]; i++) {
		if (p[i] == '\\') {
			if (p[i + 1])
				i++;
		} else if (p[i] == '[') {
			inrange = true;
		} else if (p[i] == ']') {
			inrange = false;
		} else if (p[i] == '*' && !inrange) {
			break;
		}
	}
	*chunk = p;
	*clen = i;
	*pat = p + i;
}

static int glob_match(const char *pattern, const char *name)
{
	size_t nlen = strlen(name);
	const char *pat = pattern;
	while (*pat) {
		bool star;
		const char *chunk;
		size_t clen;
		scan_chunk(&pat, &star, &chunk, &clen);
		if (star && clen == 0)
			return 1; /* no '/' in a component */
		size_t rest = 0;
		int m = match_chunk(chunk, clen, name, nlen, &rest);
		if (m < 0)
			return -1;
		if (m == 1 && (rest == 0 || *pat)) {
			name += nlen - rest;
			nlen = rest;
			continue;
		}
		bool again = false;
		if (star) {
			for (size_t i = 0; i < nlen; i++) {
				m = match_chunk(chunk, clen, name + i + 1, nlen - i - 1,
					&rest);
				if (m < 0)
					return -1;
				if (m == 1) {
					if (!*pat && rest > 0)
						continue;
					name += nlen - rest;
					nlen = rest;
					again = true;
					break;
				}
			}
		}
		if (again)
			continue;
		/* Whether the rest of the pattern is well formed. */
		while (*pat) {
			scan_chunk(&pat, &star, &chunk, &clen);
			if (match_chunk(chunk, clen, "", 0, &rest) < 0)
				return -1;
		}
		return 0;
	}
	return nlen == 0;
}

static bool has_wildcard(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '*' || s[i] == '?' || s[i] == '[')
			return true;
	}
	return false;
}

static bool is_url(const char *s)
{
	return !strncmp(s, "http://", 7) || !strncmp(s, "https://", 8);
}

typedef struct items {
	item *v;
	size_t n, cap;
} items;

static void items_release(items *it)
{
	for (size_t i = 0; i < it->n; i++)
		item_release(&it->v[i]);
	free(it->v);
}

static int items_add(items *it, item *x, hoist_error **err)
{
	int r = grow((void **)&it->v, &it->cap, it->n, sizeof(*it->v), err);
	if (r < 0) {
		item_release(x);
		return r;
	}
	it->v[it->n++] = *x;
	memset(x, 0, sizeof(*x));
	return 0;
}

static int not_found(plan *p, const char *word, hoist_error **err)
{
	if (fsv_is_context(p->req->src))
		return hoist_error_set(err, HOIST_E_NOTFOUND,
			"%s failed: file not found in build context or excluded by "
			".dockerignore: stat %s: file does not exist", p->op, word);
	return hoist_error_set(err, HOIST_E_NOTFOUND,
		"%s failed: file not found in source stage: stat %s: file does not "
		"exist", p->op, word);
}

/* The entries matching pats[i..] below dir, in bytewise order. */
static int glob_walk(plan *p, const char *word, const fsv_node *dir,
	char **pats, size_t i, size_t npats, size_t base_len, items *out,
	hoist_error **err)
{
	const hoist_fsview *view = p->req->src;
	fsv_node *kids = NULL;
	size_t n = 0;
	int r = fsv_list(view, dir, &kids, &n, err);
	if (r < 0)
		return r;
	for (size_t k = 0; k < n && r == 0; k++) {
		int m = glob_match(pats[i], base_of(kids[k].path));
		if (m < 0) {
			r = hoist_error_set(err, HOIST_E_INVALID,
				"%s failed: bad pattern '%s'", p->op, word);
			break;
		}
		if (!m)
			continue;
		if (i + 1 < npats) {
			/* Like filepath.Walk: symlinks are not descended into. */
			if (S_ISDIR(kids[k].st.st_mode))
				r = glob_walk(p, word, &kids[k], pats, i + 1, npats,
					base_len, out, err);
			continue;
		}
		item x = { .kind = I_PATH, .word = word };
		const char *mpath = kids[k].path;
		x.name = strdup(base_of(mpath));
		x.excl_rel = strdup(mpath + base_len);
		if (!x.name || !x.excl_rel) {
			item_release(&x);
			r = nomem(err);
			break;
		}
		if (S_ISLNK(kids[k].st.st_mode)) {
			r = fsv_resolve(view, mpath, true, &x.node, err);
			if (r == -HOIST_E_NOTFOUND) {
				hoist_error_freep(err);
				r = not_found(p, mpath, err);
			}
			if (r < 0) {
				item_release(&x);
				break;
			}
		} else {
			x.node = kids[k];
			memset(&kids[k], 0, sizeof(kids[k]));
		}
		r = items_add(out, &x, err);
	}
	fsv_nodes_free(kids, n);
	return r;
}

static int expand_word(plan *p, const char *word, items *out,
	hoist_error **err)
{
	const hoist_fsview *view = p->req->src;
	if (!view)
		return hoist_error_set(err, HOIST_E_INVALID,
			"%s failed: no source to read '%s' from", p->op, word);
	_cleanup_free_ char *clean = fsv_clean(word);
	if (!clean)
		return nomem(err);
	/* The literal directory before the first component with a pattern. */
	size_t split = 0;
	const char *s = clean;
	bool pattern = false;
	while (*s) {
		while (*s == '/')
			s++;
		const char *e = s;
		while (*e && *e != '/')
			e++;
		if (has_wildcard(s, (size_t)(e - s))) {
			pattern = true;
			break;
		}
		split = (size_t)(e - clean);
		s = e;
	}
	if (!pattern) {
		item x = { .kind = I_PATH, .word = word };
		int r = fsv_resolve(view, clean, true, &x.node, err);
		if (r == -HOIST_E_NOTFOUND || r == -HOIST_E_INVALID) {
			hoist_error_freep(err);
			return not_found(p, word, err);
		}
		if (r < 0)
			return r;
		x.name = strdup(base_of(clean));
		if (!x.name) {
			item_release(&x);
			return nomem(err);
		}
		return items_add(out, &x, err);
	}
	_cleanup_free_ char *base = split ? strndup(clean, split) : strdup("/");
	if (!base)
		return nomem(err);
	/* The pattern components. */
	char *pats[FSV_PATH_MAX / 2];
	size_t npats = 0;
	_cleanup_free_ char *rest = strdup(clean + split);
	if (!rest)
		return nomem(err);
	for (char *q = rest; *q;) {
		while (*q == '/')
			*q++ = '\0';
		if (!*q)
			break;
		if (npats == HOIST_ARRAY_SIZE(pats))
			return hoist_error_set(err, HOIST_E_LIMIT,
				"%s failed: pattern '%s' is too deep", p->op, word);
		pats[npats++] = q;
		while (*q && *q != '/')
			q++;
	}
	for (size_t i = 0; i < npats; i++)
		if (glob_match(pats[i], "") < 0)
			return hoist_error_set(err, HOIST_E_INVALID,
				"%s failed: bad pattern '%s'", p->op, word);
	fsv_node dir;
	int r = fsv_resolve(view, base, true, &dir, err);
	if (r == -HOIST_E_NOTFOUND || r == -HOIST_E_INVALID) {
		hoist_error_freep(err);
		r = 0;
		memset(&dir, 0, sizeof(dir));
	} else if (r < 0) {
		return r;
	}
	size_t before = out->n;
	if (dir.path && S_ISDIR(dir.st.st_mode))
		r = glob_walk(p, word, &dir, pats, 0, npats,
			strlen(dir.path) + (dir.path[1] ? 1 : 0) , out, err);
	fsv_node_release(&dir);
	if (r < 0)
		return r;
	if (out->n == before && !p->req->allow_empty_glob)
		return not_found(p, word, err);
	/* A match that --exclude names is not copied at all. */
	for (size_t i = before; i < out->n;) {
		bool d;
		if (excluded(p, out->v[i].excl_rel, false, &d)) {
			item_release(&out->v[i]);
			memmove(&out->v[i], &out->v[i + 1],
				(out->n - i - 1) * sizeof(*out->v));
			out->n--;
		} else {
			i++;
		}
	}
	return 0;
}

/* ADD: whether a local file is a tar archive (plain, gzip or zstd): its
 * first block decompresses to a tar header with a valid checksum. */
static int is_archive(const hoist_fsview *view, const fsv_node *n, bool *yes,
	hoist_error **err)
{
	*yes = false;
	int fd = -1;
	int r = fsv_open(view, n, O_RDONLY, &fd, err);
	if (r < 0)
		return r;
	hoist_reader *raw = NULL;
	r = hoist_reader_new_fd(&raw, fd, true, err);
	if (r < 0)
		return r;
	_cleanup_(hoist_reader_freep) hoist_reader *dec = NULL;
	r = hoist_layer_decompress(&dec, raw, err);
	if (r < 0)
		return r;
	unsigned char h[512];
	_cleanup_error_ hoist_error *ignored = NULL;
	ssize_t k = hoist_reader_read_full(dec, h, sizeof(h), &ignored);
	if (k != (ssize_t)sizeof(h))
		return 0;
	uint64_t sum = 0;
	bool zero = true;
	for (size_t i = 0; i < sizeof(h); i++) {
		if (h[i])
			zero = false;
		sum += (i >= 148 && i < 156) ? ' ' : h[i];
	}
	if (zero)
		return 0;
	size_t i = 148;
	while (i < 156 && h[i] == ' ')
		i++;
	uint64_t want = 0;
	size_t digits = 0;
	for (; i < 156 && h[i] >= '0' && h[i] <= '7'; i++, digits++)
		want = want * 8 + (uint64_t)(h[i] - '0');
	*yes = digits > 0 && want == sum;
	return 0;
}

/* The name a download gets in a directory: the last segment of the URL
 * path, as Go's path.Base of the decoded path. */
static int url_filename(const char *url, char **out, hoist_error **err)
{
	CURLU *u = curl_url();
	if (!u)
		return nomem(err);
	char *path = NULL;
	int r = 0;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		r = hoist_error_set(err, HOIST_E_INVALID, "ADD failed: invalid URL '%s'",
			url);
	} else if (curl_url_get(u, CURLUPART_PATH, &path, CURLU_URLDECODE) !=
		   CURLUE_OK) {
		path = NULL;
	}
	curl_url_cleanup(u);
	if (r < 0)
		return r;
	size_t len = path ? strlen(path) : 0;
	while (len > 0 && path[len - 1] == '/')
		len--;
	size_t start = len;
	while (start > 0 && path[start - 1] != '/')
		start--;
	char *name = len > start ? strndup(path + start, len - start)
		: strdup(UNNAMED);
	curl_free(path);
	if (!name)
		return nomem(err);
	if (!strcmp(name, ".") || !strcmp(name, "..")) {
		free(name);
		name = strdup(UNNAMED);
		if (!name)
			return nomem(err);
	}
	*out = name;
	return 0;
}

static int dest_path(const hoist_build_copy_req *req, char **out, bool *dir_hint,
	hoist_error **err)
{
	const char *d = req->dest ? req->dest : "";
	size_t n = strlen(d);
	*dir_hint = n == 0 || !strcmp(d, ".") || d[n - 1] == '/';
	_cleanup_free_ char *full = NULL;
	if (d[0] == '/')
		full = strdup(d);
	else if (asprintf(&full, "%s/%s", req->workdir ? req->workdir : "/", d) < 0)
		full = NULL;
	if (!full)
		return nomem(err);
	*out = fsv_clean(full);
	return *out ? 0 : nomem(err);
}

static int make_plan(plan *p, const hoist_build_copy_req *req,
	hoist_fsview *empty, hoist_error **err)
{
	p->req = req;
	p->op = req->is_add ? "ADD" : "COPY";
	p->target = req->target ? req->target : empty;
	p->uid = req->uid;
	p->gid = req->uid >= 0 && req->gid < 0 ? req->uid : req->gid;
	if (req->uid < 0 && req->gid >= 0)
		p->uid = 0;
	if (p->uid > (int64_t)INT32_MAX || p->gid > (int64_t)INT32_MAX)
		return hoist_error_set(err, HOIST_E_INVALID,
			"%s: --chown ids must be below 2^31", p->op);
	if (req->chmod > 07777)
		return hoist_error_set(err, HOIST_E_INVALID,
			"%s: invalid --chmod %#" PRIo64 ": it should be between 0 and 07777",
			p->op, (uint64_t)req->chmod);
	if (req->n_sources + req->n_inlines == 0)
		return hoist_error_set(err, HOIST_E_INVALID,
			"%s failed: no source files were specified", p->op);
	if (req->checksum) {
		if (!req->is_add)
			return hoist_error_set(err, HOIST_E_INVALID,
				"checksum can't be specified for COPY");
		if (req->n_sources != 1 || req->n_inlines || !is_url(req->sources[0]))
			return hoist_error_set(err, HOIST_E_INVALID,
				"ADD: checksum requires a single HTTP(S) source");
		hoist_digest d;
		int r = hoist_digest_parse(&d, req->checksum, err);
		if (r < 0)
			return hoist_error_wrap(err, -r, "ADD: --checksum");
	}
	if (req->n_excludes > 0) {
		hoist_buf b = HOIST_BUF_INIT(HOIST_DOCKERIGNORE_MAX);
		int r = 0;
		for (size_t i = 0; i < req->n_excludes && r == 0; i++) {
			r = hoist_buf_appends(&b, req->excludes[i], err);
			if (r == 0)
				r = hoist_buf_appends(&b, "\n", err);
		}
		if (r == 0)
			r = hoist_dockerignore_parse(&p->excl, "--exclude",
				b.data ? b.data : "", b.len, err);
		hoist_buf_release(&b);
		if (r < 0)
			return hoist_error_wrap(err, -r, "%s", p->op);
	}

	_cleanup_free_ char *dclean = NULL;
	bool dir_hint;
	int r = dest_path(req, &dclean, &dir_hint, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *canon = NULL;
	bool exists;
	fsv_node tdest;
	r = fsv_resolve_create(p->target, dclean, &canon, &exists, &tdest, err);
	if (r < 0)
		return hoist_error_wrap(err, -r, "%s failed: destination '%s'", p->op,
			req->dest);
	bool exists_dir = exists && S_ISDIR(tdest.st.st_mode);
	bool dest_is_dir = dir_hint || exists_dir;
	if (exists)
		fsv_node_release(&tdest);

	items it = { 0 };
	for (size_t i = 0; i < req->n_sources && r == 0; i++) {
		const char *w = req->sources[i];
		if (is_url(w)) {
			if (!req->is_add) {
				r = hoist_error_set(err, HOIST_E_INVALID,
					"COPY failed: source can't be a URL for COPY: '%s'", w);
				break;
			}
			item x = { .kind = I_URL, .word = w };
			r = url_filename(w, &x.name, err);
			if (r == 0)
				r = items_add(&it, &x, err);
		} else {
			r = expand_word(p, w, &it, err);
		}
	}
	for (size_t i = 0; i < req->n_inlines && r == 0; i++) {
		const hoist_build_copy_inline *in = &req->inlines[i];
		item x = { .kind = I_INLINE, .word = in->name, .inl = in };
		x.name = strdup(base_of(in->name));
		r = x.name ? items_add(&it, &x, err) : nomem(err);
	}
	if (r == 0 && it.n > 1 && !dest_is_dir)
		r = hoist_error_set(err, HOIST_E_INVALID,
			"When using %s with more than one source file, the destination "
			"must be a directory and end with a /", p->op);
	if (r < 0 || it.n == 0) {
		items_release(&it);
		return r;
	}

	p->track_nondirs = it.n > 1;
	/* The destination directory (or the one holding the destination
	 * file) and everything above it. */
	_cleanup_free_ char *holder = NULL;
	if (dest_is_dir) {
		holder = strdup(canon);
	} else {
		const char *sl = strrchr(canon, '/');
		holder = sl == canon ? strdup("/") : strndup(canon,
			(size_t)(sl - canon));
	}
	if (!holder) {
		items_release(&it);
		return nomem(err);
	}
	r = plan_dir_chain(p, holder, err);

	for (size_t i = 0; i < it.n && r == 0; i++) {
		item *x = &it.v[i];
		_cleanup_free_ char *dst = dest_is_dir ? path_join(canon, x->name)
			: strdup(canon);
		if (!dst) {
			r = nomem(err);
			break;
		}
		if (x->kind == I_URL || x->kind == I_INLINE) {
			r = check_nondir(p, dst, NULL, false, err);
			if (r < 0)
				break;
			entry e = { .kind = x->kind == I_URL ? E_URL : E_INLINE };
			e.dst = steal_ptr(&dst);
			e.mode = S_IFREG | (req->chmod >= 0 ? (mode_t)req->chmod
				: x->kind == I_URL ? 0600 : 0644);
			owner_of(p, NULL, NULL, &e.uid, &e.gid);
			e.mtime.tv_sec = 0;
			e.mtime.tv_nsec = 0;
			e.inl = x->inl;
			if (x->kind == I_URL && !(e.link = strdup(x->word))) {
				entry_release(&e);
				r = nomem(err);
				break;
			}
			r = plan_add(p, &e, err);
			continue;
		}
		const hoist_fsview *view = req->src;
		bool archive = false;
		if (req->is_add && S_ISREG(x->node.st.st_mode)) {
			r = is_archive(view, &x->node, &archive, err);
			if (r < 0)
				break;
		}
		if (archive || S_ISDIR(x->node.st.st_mode)) {
			/* Into canon, made if missing. */
			if (!dest_is_dir && !hoist_strset_has(&p->dirs, canon)) {
				r = check_dir(p, canon, NULL, false, err);
				if (r == 0)
					r = plan_dir_chain(p, canon, err);
				if (r < 0)
					break;
			}
		}
		if (archive) {
			entry e = { .kind = E_ARCHIVE, .view = view };
			e.dst = strdup(canon);
			e.mode = S_IFDIR;
			e.owner_uid = p->uid;
			e.owner_gid = p->gid;
			e.src = x->node;
			memset(&x->node, 0, sizeof(x->node));
			r = e.dst ? plan_add(p, &e, err) : nomem(err);
			if (!e.dst)
				entry_release(&e);
			continue;
		}
		if (S_ISDIR(x->node.st.st_mode)) {
			fsv_node td;
			bool have_td = false;
			r = fsv_resolve(p->target, canon, false, &td, err);
			if (r == 0)
				have_td = true;
			else if (r == -HOIST_E_NOTFOUND || r == -HOIST_E_INVALID)
				hoist_error_freep(err);
			else
				break;
			r = plan_tree(p, view, &x->node, canon, have_td ? &td : NULL, "",
				err);
			if (have_td)
				fsv_node_release(&td);
			continue;
		}
		r = plan_leaf(p, view, &x->node, dst, NULL, false, err);
	}
	items_release(&it);
	return r;
}

/* Hashing. */

typedef struct hash_reader {
	hoist_reader base;
	hoist_reader *inner;
	hoist_hasher *h; /* borrowed */
} hash_reader;

static ssize_t hash_read(hoist_reader *rd, void *buf, size_t n,
	hoist_error **err)
{
	hash_reader *h = (hash_reader *)rd;
	ssize_t k = hoist_reader_read(h->inner, buf, n, err);
	if (k > 0)
		hoist_hasher_update(h->h, buf, (size_t)k);
	return k;
}

static void hash_free(hoist_reader *rd)
{
	hash_reader *h = (hash_reader *)rd;
	hoist_reader_free(h->inner);
	free(h);
}

static const hoist_reader_ops hash_reader_ops = { hash_read, hash_free };

/* Reads fd to the end into h, writing to out (when >= 0), through buf
 * (HOIST_IO_CHUNK bytes). */
static int pump(int fd, int out, hoist_hasher *h, char *buf, uint64_t *bytes,
	const char *what, hoist_error **err)
{
	for (;;) {
		ssize_t k = read(fd, buf, HOIST_IO_CHUNK);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return hoist_error_errno(err, errno, "read '%s'", what);
		}
		if (k == 0)
			return 0;
		hoist_hasher_update(h, buf, (size_t)k);
		if (out >= 0) {
			int r = hoist_write_all(out, buf, (size_t)k, err);
			if (r < 0)
				return hoist_error_wrap(err, -r, "write '%s'", what);
		}
		*bytes += (uint64_t)k;
	}
}

/* Downloads. */

typedef struct dl {
	int fd;
	hoist_hasher *h;
	uint64_t n, max;
	bool over;
	int werr;
} dl;

static size_t dl_write(char *p, size_t size, size_t nmemb, void *ud)
{
	dl *d = ud;
	size_t n = size * nmemb;
	if (d->n + n > d->max) {
		d->over = true;
		return 0;
	}
	hoist_hasher_update(d->h, p, n);
	if (d->fd >= 0) {
		size_t off = 0;
		while (off < n) {
			ssize_t k = write(d->fd, p + off, n - off);
			if (k < 0) {
				if (errno == EINTR)
					continue;
				d->werr = errno;
				return 0;
			}
			off += (size_t)k;
		}
	}
	d->n += n;
	return n;
}

static int download(const char *url, int fd, hoist_hasher *h, uint64_t max,
	uint64_t *bytes, hoist_error **err)
{
	CURL *c = curl_easy_init();
	if (!c)
		return hoist_error_set(err, HOIST_E_NOMEM, "ADD failed: curl init");
	char errbuf[CURL_ERROR_SIZE] = "";
	dl d = { .fd = fd, .h = h, .max = max };
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 120L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "hoist");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, dl_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &d);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max);
	CURLcode cc = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	*bytes = d.n;
	if (cc == CURLE_OK)
		return 0;
	if (d.over || cc == CURLE_FILESIZE_EXCEEDED)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"ADD failed: '%s': larger than %" PRIu64 " bytes", url, max);
	if (d.werr)
		return hoist_error_errno(err, d.werr, "ADD failed: '%s': write", url);
	if (cc == CURLE_HTTP_RETURNED_ERROR)
		return hoist_error_set(err, status == 404 ? HOIST_E_NOTFOUND
			: HOIST_E_NETWORK, "ADD failed: GET '%s': HTTP %ld", url, status);
	return hoist_error_set(err, HOIST_E_NETWORK, "ADD failed: GET '%s': %s", url,
		errbuf[0] ? errbuf : curl_easy_strerror(cc));
}

/* The digest a URL entry gets: the checksum's algorithm, else sha256. */
static int url_algo(const hoist_build_copy_req *req, hoist_digest_algo *a,
	hoist_digest *want, hoist_error **err)
{
	*a = HOIST_DIGEST_SHA256;
	if (!req->checksum)
		return 0;
	int r = hoist_digest_parse(want, req->checksum, err);
	if (r < 0)
		return r;
	*a = want->algo;
	return 0;
}

/* Writing. */

struct exec {
	const hoist_build_copy_req *req;
	int snapfd;
	bool root;
	int pfd;          /* cached parent directory */
	char *pdir;
	char *buf;        /* HOIST_IO_CHUNK bytes to copy through */
	hoist_build_copy_result *res;
};

static int parent_fd(exec *x, const char *dst, int *pfd, const char **base,
	hoist_error **err)
{
	const char *sl = strrchr(dst, '/');
	size_t plen = sl == dst ? 1 : (size_t)(sl - dst);
	*base = sl + 1;
	if (x->pdir && strlen(x->pdir) == plen && !strncmp(x->pdir, dst, plen)) {
		*pfd = x->pfd;
		return 0;
	}
	_cleanup_free_ char *parent = strndup(dst, plen);
	if (!parent)
		return nomem(err);
	int fd = sbx_open_nofollow(x->snapfd, rel_of(parent), O_PATH | O_DIRECTORY);
	if (fd < 0)
		return hoist_error_errno(err, -fd, "open '%s' in the snapshot", parent);
	if (x->pfd >= 0)
		close(x->pfd);
	free(x->pdir);
	x->pfd = fd;
	x->pdir = steal_ptr(&parent);
	*pfd = fd;
	return 0;
}

/* Makes room for a non-directory at pfd/base. */
static int clear_nondir(int pfd, const char *base, const char *dst,
	hoist_error **err)
{
	struct stat st;
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return hoist_error_errno(err, errno, "stat '%s'", dst);
	}
	if (S_ISDIR(st.st_mode))
		return hoist_error_set(err, HOIST_E_EXISTS,
			"cannot replace directory '%s' with a file", dst);
	if (unlinkat(pfd, base, 0) < 0)
		return hoist_error_errno(err, errno, "remove '%s'", dst);
	return 0;
}

static int set_xattrs(int fd, const entry *e, hoist_error **err)
{
	for (size_t i = 0; i < e->xattrs.n; i++) {
		if (fsetxattr(fd, e->xattrs.names[i], e->xattrs.values[i],
			e->xattrs.lens[i], 0) < 0) {
			/* As BuildKit: an xattr we may not set is not fatal. */
			if (errno == EPERM || errno == ENOTSUP || errno == EACCES)
				continue;
			return hoist_error_errno(err, errno, "set xattr '%s' on '%s'",
				e->xattrs.names[i], e->dst);
		}
	}
	return 0;
}

/* Owner, mode, xattrs, times of an open entry; chown first (it clears
 * set-id bits and capabilities). */
static int finish_fd(exec *x, int fd, const entry *e, hoist_error **err)
{
	if (x->root && fchown(fd, e->uid, e->gid) < 0)
		return hoist_error_errno(err, errno, "chown '%s'", e->dst);
	if (fchmod(fd, e->mode & 07777) < 0)
		return hoist_error_errno(err, errno, "chmod '%s'", e->dst);
	int r = set_xattrs(fd, e, err);
	if (r < 0)
		return r;
	if (e->mtime.tv_nsec != UTIME_OMIT) {
		struct timespec ts[2] = { e->mtime, e->mtime };
		if (futimens(fd, ts) < 0)
			return hoist_error_errno(err, errno, "set times of '%s'", e->dst);
	}
	return 0;
}

static int write_file(exec *x, entry *e, hoist_error **err)
{
	int pfd;
	const char *base;
	int r = parent_fd(x, e->dst, &pfd, &base, err);
	if (r == 0)
		r = clear_nondir(pfd, base, e->dst, err);
	if (r < 0)
		return r;
	_cleanup_close_ int out = openat(pfd, base,
		O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		return hoist_error_errno(err, errno, "create '%s'", e->dst);
	_cleanup_(hoist_hasher_freep) hoist_hasher *h = NULL;
	r = hoist_hasher_new(&h, HOIST_DIGEST_SHA256, err);
	if (r < 0)
		return r;
	hoist_digest d;
	if (e->kind == E_INLINE) {
		hoist_hasher_update(h, e->inl->data, e->inl->len);
		r = hoist_write_all(out, e->inl->data, e->inl->len, err);
		if (r < 0)
			return hoist_error_wrap(err, -r, "write '%s'", e->dst);
		x->res->bytes += e->inl->len;
	} else {
		_cleanup_close_ int in = -1;
		r = fsv_open(e->view, &e->src, O_RDONLY, &in, err);
		if (r < 0)
			return r;
		r = pump(in, out, h, x->buf, &x->res->bytes, e->src.path, err);
		if (r < 0)
			return r;
	}
	hoist_hasher_final(h, &d);
	memcpy(e->content, d.str, sizeof(d.str));
	return finish_fd(x, out, e, err);
}

static int write_url(exec *x, entry *e, hoist_error **err)
{
	int pfd;
	const char *base;
	int r = parent_fd(x, e->dst, &pfd, &base, err);
	if (r == 0)
		r = clear_nondir(pfd, base, e->dst, err);
	if (r < 0)
		return r;
	hoist_digest_algo algo;
	hoist_digest want;
	r = url_algo(x->req, &algo, &want, err);
	if (r < 0)
		return r;
	_cleanup_(hoist_hasher_freep) hoist_hasher *h = NULL;
	r = hoist_hasher_new(&h, algo, err);
	if (r < 0)
		return r;
	_cleanup_close_ int out = openat(pfd, base,
		O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		return hoist_error_errno(err, errno, "create '%s'", e->dst);
	uint64_t n = 0;
	uint64_t max = x->req->max_download ? x->req->max_download
		: HOIST_BUILD_COPY_DOWNLOAD_MAX;
	r = download(e->link, out, h, max, &n, err);
	hoist_digest got;
	hoist_hasher_final(h, &got);
	if (r == 0 && x->req->checksum && !hoist_digest_equal(&got, &want))
		r = hoist_error_set(err, HOIST_E_DIGEST,
			"ADD failed: '%s': checksum mismatch: expected %s, got %s",
			e->link, want.str, got.str);
	if (r < 0) {
		unlinkat(pfd, base, 0);
		return r;
	}
	x->res->bytes += n;
	memcpy(e->content, got.str, sizeof(got.str));
	return finish_fd(x, out, e, err);
}

static int write_dir(exec *x, const entry *e, hoist_error **err)
{
	if (!strcmp(e->dst, "/"))
		return 0;
	int pfd;
	const char *base;
	int r = parent_fd(x, e->dst, &pfd, &base, err);
	if (r < 0)
		return r;
	/* Private until its metadata is set, after its content. */
	if (mkdirat(pfd, base, 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return hoist_error_errno(err, errno, "mkdir '%s'", e->dst);
	struct stat st;
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return hoist_error_errno(err, errno, "stat '%s'", e->dst);
	if (!S_ISDIR(st.st_mode))
		return hoist_error_set(err, HOIST_E_EXISTS,
			"cannot copy to non-directory: '%s'", e->dst);
	return 0;
}

static int write_symlink_or_node(exec *x, const entry *e, hoist_error **err)
{
	int pfd;
	const char *base;
	int r = parent_fd(x, e->dst, &pfd, &base, err);
	if (r == 0)
		r = clear_nondir(pfd, base, e->dst, err);
	if (r < 0)
		return r;
	if (e->kind == E_SYMLINK) {
		if (symlinkat(e->link, pfd, base) < 0)
			return hoist_error_errno(err, errno, "symlink '%s'", e->dst);
	} else if (e->kind == E_HARDLINK) {
		/* The first name may live in another directory. */
		const char *sl = strrchr(e->link, '/');
		char *odir = strndup(e->link, sl == e->link ? 1
			: (size_t)(sl - e->link));
		if (!odir)
			return nomem(err);
		int opfd = sbx_open_nofollow(x->snapfd, rel_of(odir),
			O_PATH | O_DIRECTORY);
		free(odir);
		if (opfd < 0)
			return hoist_error_errno(err, -opfd, "open '%s'", e->link);
		int lr = linkat(opfd, sl + 1, pfd, base, 0);
		int le = errno;
		close(opfd);
		if (lr < 0)
			return hoist_error_errno(err, le, "link '%s' to '%s'", e->dst,
				e->link);
		return 0;
	} else {
		if (mknodat(pfd, base, (e->mode & S_IFMT) | 0600, e->rdev) < 0)
			return hoist_error_errno(err, errno, "mknod '%s'", e->dst);
	}
	if (x->root && fchownat(pfd, base, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return hoist_error_errno(err, errno, "chown '%s'", e->dst);
	if (e->kind == E_NODE && fchmodat(pfd, base, e->mode & 07777, 0) < 0)
		return hoist_error_errno(err, errno, "chmod '%s'", e->dst);
	struct timespec ts[2] = { e->mtime, e->mtime };
	if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return hoist_error_errno(err, errno, "set times of '%s'", e->dst);
	return 0;
}

typedef struct chown_list {
	char **v;
	size_t n, cap;
	bool failed;
} chown_list;

static void collect_change(void *ud, hoist_change_kind kind, const char *path,
	int64_t size)
{
	(void)size;
	chown_list *l = ud;
	if (kind == HOIST_CHANGE_DELETE || l->failed)
		return;
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 64;
		char **nv = realloc(l->v, nc * sizeof(*nv));
		if (!nv) {
			l->failed = true;
			return;
		}
		l->v = nv;
		l->cap = nc;
	}
	if (!(l->v[l->n] = strdup(path)))
		l->failed = true;
	else
		l->n++;
}

static void chown_list_release(chown_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

/* ADD --chown of an extracted archive: every entry it wrote, without
 * following links, keeping the modes chown would clear. */
static int chown_extracted(int dirfd, const chown_list *l, uid_t uid,
	gid_t gid, hoist_error **err)
{
	for (size_t i = 0; i < l->n; i++) {
		const char *p = l->v[i];
		const char *sl = strrchr(p, '/');
		_cleanup_free_ char *dir = sl ? strndup(p, (size_t)(sl - p))
			: strdup(".");
		if (!dir)
			return nomem(err);
		_cleanup_close_ int pfd = sbx_open_nofollow(dirfd, dir,
			O_PATH | O_DIRECTORY);
		if (pfd < 0)
			continue; /* replaced by a later entry */
		const char *base = sl ? sl + 1 : p;
		struct stat st;
		if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
			return hoist_error_errno(err, errno, "chown '%s'", p);
		if (!S_ISLNK(st.st_mode) &&
		    fchmodat(pfd, base, st.st_mode & 07777, 0) < 0)
			return hoist_error_errno(err, errno, "chmod '%s'", p);
	}
	return 0;
}

static int write_archive(exec *x, entry *e, hoist_error **err)
{
	_cleanup_close_ int dirfd = sbx_open_nofollow(x->snapfd, rel_of(e->dst),
		O_RDONLY | O_DIRECTORY);
	if (dirfd < 0)
		return hoist_error_errno(err, -dirfd, "open '%s' in the snapshot",
			e->dst);
	int fd = -1;
	int r = fsv_open(e->view, &e->src, O_RDONLY, &fd, err);
	if (r < 0)
		return r;
	_cleanup_(hoist_hasher_freep) hoist_hasher *h = NULL;
	r = hoist_hasher_new(&h, HOIST_DIGEST_SHA256, err);
	if (r < 0) {
		close(fd);
		return r;
	}
	hoist_reader *raw = NULL;
	r = hoist_reader_new_fd(&raw, fd, true, err);
	if (r < 0)
		return r;
	hash_reader *hr = calloc(1, sizeof(*hr));
	if (!hr) {
		hoist_reader_free(raw);
		return nomem(err);
	}
	hr->base.ops = &hash_reader_ops;
	hr->inner = raw;
	hr->h = h;
	_cleanup_(hoist_reader_freep) hoist_reader *dec = NULL;
	r = hoist_layer_decompress(&dec, &hr->base, err);
	if (r < 0)
		return r;
	hoist_apply_opts o = {
		.keep_owner = x->root,
		.devices = x->root,
		.xattrs = true,
	};
	chown_list cl = { 0 };
	bool want_chown = x->root && e->owner_uid >= 0;
	r = hoist_layer_apply(dirfd, dec, &o, want_chown ? collect_change : NULL,
		&cl, err);
	if (r == 0 && cl.failed)
		r = nomem(err);
	if (r == 0 && want_chown)
		r = chown_extracted(dirfd, &cl, (uid_t)e->owner_uid,
			(gid_t)e->owner_gid, err);
	chown_list_release(&cl);
	if (r < 0)
		return hoist_error_wrap(err, -r, "ADD failed: extract '%s'",
			e->src.path);
	/* The key covers the whole archive, whatever the reader left. */
	for (;;) {
		ssize_t k = hoist_reader_read(&hr->base, x->buf, HOIST_IO_CHUNK, err);
		if (k < 0)
			return k;
		if (k == 0)
			break;
	}
	hoist_digest d;
	hoist_hasher_final(h, &d);
	memcpy(e->content, d.str, sizeof(d.str));
	return 0;
}

/* Directory metadata, once everything is in place; the last plan entry
 * of a path wins. */
static int fix_dirs(exec *x, const plan *p, hoist_error **err)
{
	hoist_strset done = HOIST_STRSET_INIT;
	int r = 0;
	for (size_t i = p->dn; i-- > 0 && r == 0;) {
		const entry *e = &p->dv[i];
		int a = hoist_strset_add(&done, e->dst);
		if (a < 0) {
			r = nomem(err);
			break;
		}
		if (a == 0)
			continue;
		int fd = sbx_open_nofollow(x->snapfd, rel_of(e->dst),
			O_RDONLY | O_DIRECTORY);
		if (fd < 0) {
			r = hoist_error_errno(err, -fd, "open '%s' in the snapshot",
				e->dst);
			break;
		}
		r = finish_fd(x, fd, e, err);
		close(fd);
	}
	hoist_strset_release(&done);
	return r;
}

static int exec_entry(exec *x, entry *e, hoist_error **err)
{
	int r;
	switch (e->kind) {
	case E_KEEP:
	case E_NEWDIR:
	case E_DIR:
		r = write_dir(x, e, err);
		break;
	case E_FILE:
	case E_INLINE:
		r = write_file(x, e, err);
		break;
	case E_URL:
		r = write_url(x, e, err);
		break;
	case E_ARCHIVE:
		r = write_archive(x, e, err);
		break;
	default:
		r = write_symlink_or_node(x, e, err);
		break;
	}
	if (r == 0)
		x->res->entries++;
	return r;
}

/* The key without writing: the content of an entry hashed. */
static int hash_entry(plan *p, entry *e, hoist_error **err)
{
	if (e->kind != E_FILE && e->kind != E_INLINE && e->kind != E_ARCHIVE &&
	    e->kind != E_URL)
		return 0;
	hoist_digest_algo algo = HOIST_DIGEST_SHA256;
	hoist_digest want;
	if (e->kind == E_URL) {
		int r = url_algo(p->req, &algo, &want, err);
		if (r < 0)
			return r;
		if (p->req->checksum) {
			memcpy(e->content, want.str, sizeof(want.str));
			return 0;
		}
	}
	_cleanup_(hoist_hasher_freep) hoist_hasher *h = NULL;
	int r = hoist_hasher_new(&h, algo, err);
	if (r < 0)
		return r;
	uint64_t n = 0;
	if (e->kind == E_INLINE) {
		hoist_hasher_update(h, e->inl->data, e->inl->len);
	} else if (e->kind == E_URL) {
		uint64_t max = p->req->max_download ? p->req->max_download
			: HOIST_BUILD_COPY_DOWNLOAD_MAX;
		r = download(e->link, -1, h, max, &n, err);
	} else {
		_cleanup_close_ int fd = -1;
		r = fsv_open(e->view, &e->src, O_RDONLY, &fd, err);
		if (r == 0)
			r = pump(fd, -1, h, p->buf, &n, e->src.path, err);
	}
	if (r < 0)
		return r;
	hoist_digest d;
	hoist_hasher_final(h, &d);
	memcpy(e->content, d.str, sizeof(d.str));
	return 0;
}

static int key_field(hoist_hasher *h, const void *p, size_t n)
{
	char len[24];
	int k = snprintf(len, sizeof(len), "%zu:", n);
	hoist_hasher_update(h, len, (size_t)k);
	hoist_hasher_update(h, p, n);
	return 0;
}

static void key_str(hoist_hasher *h, const char *s)
{
	key_field(h, s, strlen(s));
}

static void key_u64(hoist_hasher *h, uint64_t v)
{
	char b[32];
	snprintf(b, sizeof(b), "%" PRIu64, v);
	key_str(h, b);
}

static void key_i64(hoist_hasher *h, int64_t v)
{
	char b[32];
	snprintf(b, sizeof(b), "%" PRId64, v);
	key_str(h, b);
}

/* One entry into the key, in the order written (for a path written
 * twice both count: the key still changes whenever the result does). */
static void key_entry(hoist_hasher *h, const entry *e)
{
	static const char kinds[] = {
		[E_KEEP] = 'p', [E_NEWDIR] = 'n', [E_DIR] = 'd', [E_FILE] = 'f',
		[E_HARDLINK] = 'h', [E_SYMLINK] = 'l', [E_NODE] = 'c',
		[E_ARCHIVE] = 'a', [E_URL] = 'f', [E_INLINE] = 'f',
	};
	char kind[2] = { kinds[e->kind], 0 };
	key_str(h, kind);
	key_str(h, e->dst);
	key_u64(h, (uint64_t)e->mode);
	if (e->kind == E_ARCHIVE) {
		key_i64(h, e->owner_uid);
		key_i64(h, e->owner_gid);
	} else {
		key_u64(h, e->uid);
		key_u64(h, e->gid);
	}
	switch (e->kind) {
	case E_FILE:
	case E_URL:
	case E_INLINE:
	case E_ARCHIVE:
		key_str(h, e->content);
		break;
	case E_SYMLINK:
	case E_HARDLINK:
		key_str(h, e->link);
		break;
	case E_NODE: {
		char b[48];
		snprintf(b, sizeof(b), "%u,%u", major(e->rdev), minor(e->rdev));
		key_str(h, b);
		break;
	}
	default:
		break;
	}
	key_u64(h, e->xattrs.n);
	for (size_t i = 0; i < e->xattrs.n; i++) {
		key_str(h, e->xattrs.names[i]);
		key_field(h, e->xattrs.values[i], e->xattrs.lens[i]);
	}
}

static int run(const hoist_build_copy_req *req, bool write,
	hoist_build_copy_result *res, hoist_error **err)
{
	_cleanup_(hoist_fsview_freep) hoist_fsview *empty = NULL;
	int r = 0;
	if (write && !req->snapshot)
		return hoist_error_set(err, HOIST_E_INVALID, "%s: no snapshot directory",
			req->is_add ? "ADD" : "COPY");
	if (!req->target) {
		r = hoist_fsview_new_lowers(&empty, NULL, 0, NULL, err);
		if (r < 0)
			return r;
	}
	_cleanup_free_ char *buf = malloc(HOIST_IO_CHUNK);
	if (!buf)
		return nomem(err);
	exec x = { .req = req, .pfd = -1, .snapfd = -1, .res = res, .root = geteuid() == 0,
		.buf = buf };
	plan p;
	memset(&p, 0, sizeof(p));
	if (write) {
		x.snapfd = open(req->snapshot, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (x.snapfd < 0)
			return hoist_error_errno(err, errno, "open snapshot '%s'",
				req->snapshot);
		p.x = &x;
	} else {
		p.buf = steal_ptr(&buf);
	}
	r = hoist_hasher_new(&p.key, HOIST_DIGEST_SHA256, err);
	if (r == 0) {
		key_str(p.key, KEY_VERSION);
		r = make_plan(&p, req, empty, err);
	}
	if (r == 0 && write)
		r = fix_dirs(&x, &p, err);
	if (r == 0)
		hoist_hasher_final(p.key, &res->key);
	res->owner_applied = x.root;
	plan_release(&p);
	if (x.pfd >= 0)
		close(x.pfd);
	free(x.pdir);
	if (x.snapfd >= 0)
		close(x.snapfd);
	return r;
}

int hoist_build_copy(hoist_build_copy_result *out,
	const hoist_build_copy_req *req, hoist_error **err)
{
	memset(out, 0, sizeof(*out));
	return run(req, true, out, err);
}

int hoist_build_copy_key_only(hoist_digest *key,
	const hoist_build_copy_req *req, hoist_error **err)
{
	hoist_build_copy_result res = { 0 };
	int r = run(req, false, &res, err);
	if (r == 0)
		*key = res.key;
	return r;
}

/* RUN on a plain copy of the stage's files instead of an overlay.
 *
 * Overlayfs adds to every file a command creates: a second lookup of the
 * name in the upper directory and an overlay inode (on this project's test
 * machine, `seq 1 100000 | xargs touch` takes 2.2 s on ext4 and 3.3 s
 * through an overlay), and unmounting frees all of those again (0.27 s of
 * CPU for 100,000 files).  Where the stage is small, a step therefore runs
 * faster on a copy: the stage's layers are unpacked into a new directory,
 * every entry of it is recorded, and after the command whatever changed is
 * moved out into a directory laid out as an overlay upper dir would be
 * (new and changed entries, whiteouts as 0:0 character devices, replaced
 * directories marked opaque with the xattr "<prefix>opaque"), which then
 * becomes the layer and the snapshot exactly as an upper dir does.  The
 * same path serves where no overlay can be mounted at all.
 *
 * What counts as changed.  A non-directory changed when its inode number,
 * type or ctime differ from the record: every write, truncate, chmod,
 * chown, xattr change, link count change and rename sets the ctime, and no
 * process can set it back.  (So that a change within the clock tick of the
 * copy cannot keep the old ctime, the command starts only once the coarse
 * clock has passed every recorded ctime: hoist_sandbox_opts.start_after.)  A directory was replaced
 * when its inode number or type differ; otherwise its entry is written
 * when its mode, owner, mtime or xattrs differ or anything below it
 * changed.  A directory's ctime is no guide: the sandbox creates and
 * removes missing mount points in it (and puts its mtime back).  This is
 * what overlay's copy-up gives, except that a file opened for writing and
 * closed unchanged is copied up by an overlay and not written here, and
 * that a changed file with several names is written under all of them.
 *
 * Rootless with subordinate ids, the copy's files belong to ids the caller
 * cannot act as: the copy is unpacked, recorded, compared, moved out and
 * deleted by a helper process in a user namespace mapped like the
 * sandbox's (hoist_sandbox_helper), which keeps the record in its memory
 * between rundir_record and rundir_extract. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "build/internal.h"
#include "hoist/fs.h"
#include "hoist/layer.h"
#include "hoist/layout.h"
#include "hoist/sandbox.h"
#include "util/cleanup.h"

#define XATTR_MAX (64 * 1024)

typedef struct rnode {
	char *name;
	ino_t ino;
	struct timespec btime; /* birth time, {0, 0} where unknown */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	struct timespec mtime, ctime;
	char *xattrs;       /* directories: names and values, sorted; or NULL */
	size_t xattrs_len;
	struct rnode *kids; /* directories: sorted by name */
	size_t n_kids;
} rnode;

struct rundir {
	rnode root;
	const char *prefix; /* overlay xattr prefix for opaque directories */
	int dfd;            /* the diff dir, during rundir_extract */
	struct timespec newest; /* the latest ctime recorded */
	bool fine;          /* some ctime had a fraction of a second */
	size_t n;           /* entries recorded */
	/* Rootless with subordinate ids: the copy's files belong to ids only
	 * a helper in a user namespace can act as; the record is made and
	 * kept there, and the helper deletes the copy when it is done. */
	hoist_sandbox_helper *helper;
	char *path;         /* the copy */
};

static int nomem(hoist_error **err)
{
	return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
}

static void rnode_release(rnode *n)
{
	for (size_t i = 0; i < n->n_kids; i++)
		rnode_release(&n->kids[i]);
	free(n->kids);
	free(n->name);
	free(n->xattrs);
}

void rundir_free(rundir *r)
{
	if (!r)
		return;
	hoist_sandbox_helper_wait(r->helper, NULL);
	rnode_release(&r->root);
	free(r->path);
	free(r);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A directory's xattrs as one comparable blob: "name\0" + 4-byte length
 * + value, by name.  *out NULL when it has none. */
static int read_xattrs(int fd, const char *what, char **out, size_t *len,
	hoist_error **err)
{
	*out = NULL;
	*len = 0;
	_cleanup_free_ char *names = malloc(XATTR_MAX);
	_cleanup_free_ char *val = malloc(XATTR_MAX);
	if (!names || !val)
		return nomem(err);
	ssize_t nl = flistxattr(fd, names, XATTR_MAX);
	if (nl < 0) {
		if (errno == ENOTSUP)
			return 0;
		return hoist_error_errno(err, errno, "list the xattrs of '%s'", what);
	}
	if (nl == 0)
		return 0;
	size_t nv = 0;
	for (const char *p = names; p < names + nl; p += strlen(p) + 1)
		nv++;
	_cleanup_free_ const char **v = calloc(nv, sizeof(*v));
	if (!v)
		return nomem(err);
	nv = 0;
	for (const char *p = names; p < names + nl; p += strlen(p) + 1)
		v[nv++] = p;
	qsort(v, nv, sizeof(*v), cmp_name);
	hoist_buf b = HOIST_BUF_INIT(1 << 20);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < nv; i++) {
		ssize_t n = fgetxattr(fd, v[i], val, XATTR_MAX);
		if (n < 0) {
			rc = hoist_error_errno(err, errno, "read xattr '%s' of '%s'", v[i], what);
			break;
		}
		uint32_t n32 = (uint32_t)n;
		rc = hoist_buf_append(&b, v[i], strlen(v[i]) + 1, err);
		if (rc == 0)
			rc = hoist_buf_append(&b, &n32, sizeof(n32), err);
		if (rc == 0)
			rc = hoist_buf_append(&b, val, (size_t)n, err);
	}
	if (rc < 0) {
		hoist_buf_release(&b);
		return rc;
	}
	*out = hoist_buf_steal(&b, len);
	return 0;
}

/* lstat of name in dfd, with the birth time where the file system keeps
 * one (an inode number can be reused by a file made anew; its birth time
 * is new). */
static int stat_at(int dfd, const char *name, struct stat *st, struct timespec *btime)
{
	struct statx x;
	if (statx(dfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | (*name ? 0 : AT_EMPTY_PATH),
		    STATX_BASIC_STATS | STATX_BTIME, &x) < 0)
		return -1;
	memset(st, 0, sizeof(*st));
	st->st_dev = makedev(x.stx_dev_major, x.stx_dev_minor);
	st->st_ino = x.stx_ino;
	st->st_mode = x.stx_mode;
	st->st_nlink = x.stx_nlink;
	st->st_uid = x.stx_uid;
	st->st_gid = x.stx_gid;
	st->st_size = (off_t)x.stx_size;
	st->st_atim = (struct timespec){ x.stx_atime.tv_sec, x.stx_atime.tv_nsec };
	st->st_mtim = (struct timespec){ x.stx_mtime.tv_sec, x.stx_mtime.tv_nsec };
	st->st_ctim = (struct timespec){ x.stx_ctime.tv_sec, x.stx_ctime.tv_nsec };
	*btime = (x.stx_mask & STATX_BTIME)
		? (struct timespec){ x.stx_btime.tv_sec, x.stx_btime.tv_nsec }
		: (struct timespec){ 0, 0 };
	return 0;
}

static bool ts_after(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec != b->tv_sec ? a->tv_sec > b->tv_sec : a->tv_nsec > b->tv_nsec;
}

static bool ts_eq(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static void rnode_set(rundir *r, rnode *n, const struct stat *st,
	const struct timespec *btime)
{
	n->ino = st->st_ino;
	n->btime = *btime;
	n->mode = st->st_mode;
	n->uid = st->st_uid;
	n->gid = st->st_gid;
	n->mtime = st->st_mtim;
	n->ctime = st->st_ctim;
	if (ts_after(&st->st_ctim, &r->newest))
		r->newest = st->st_ctim;
	if (st->st_ctim.tv_nsec)
		r->fine = true;
}

static int record_dir(rundir *r, rnode *node, int dfd, const char *what,
	hoist_error **err)
{
	hoist_fs_dirlist l;
	int rc = hoist_fs_dirlist_read(&l, dfd, what, err);
	if (rc < 0)
		return rc;
	if (l.n && !(node->kids = calloc(l.n, sizeof(*node->kids)))) {
		hoist_fs_dirlist_release(&l);
		return nomem(err);
	}
	for (size_t i = 0; i < l.n; i++) {
		rnode *k = &node->kids[node->n_kids++];
		r->n++;
		if (!(k->name = strdup(hoist_fs_dirlist_name(&l, i)))) {
			rc = nomem(err);
			break;
		}
		struct stat st;
		struct timespec bt;
		if (stat_at(dfd, k->name, &st, &bt) < 0) {
			rc = hoist_error_errno(err, errno, "stat '%s/%s'", what, k->name);
			break;
		}
		rnode_set(r, k, &st, &bt);
		if (!S_ISDIR(st.st_mode))
			continue;
		_cleanup_free_ char *sub = NULL;
		if (asprintf(&sub, "%s/%s", what, k->name) < 0) {
			rc = nomem(err);
			break;
		}
		_cleanup_close_ int fd = openat(dfd, k->name,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			rc = hoist_error_errno(err, errno, "open '%s'", sub);
			break;
		}
		rc = read_xattrs(fd, sub, &k->xattrs, &k->xattrs_len, err);
		if (rc == 0)
			rc = record_dir(r, k, fd, sub, err);
		if (rc < 0)
			break;
	}
	hoist_fs_dirlist_release(&l);
	return rc;
}

static int record_local(rundir *r, const char *root, hoist_error **err)
{
	_cleanup_close_ int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat st;
	struct timespec bt;
	int rc = fd < 0 || stat_at(fd, "", &st, &bt) < 0
		? hoist_error_errno(err, errno, "open '%s'", root) : 0;
	if (rc == 0) {
		rnode_set(r, &r->root, &st, &bt);
		rc = record_dir(r, &r->root, fd, root, err);
	}
	return rc;
}

static int extract_local(rundir *r, const char *diff, hoist_error **err);

/* ---- the helper (rootless with subordinate ids) ---- */

typedef struct helper_reply {
	int32_t rc;
	int32_t code;
	uint64_t n;
	int64_t sec, nsec;
	bool fine;
	char msg[1024];
} helper_reply;

static int read_exact(int fd, void *buf, size_t n)
{
	char *p = buf;
	while (n) {
		ssize_t k = read(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static void send_reply(int sock, const rundir *r, int rc, const hoist_error *e)
{
	helper_reply m = { 0 };
	m.rc = rc;
	m.code = e ? e->code : 0;
	m.n = r->n;
	m.sec = r->newest.tv_sec;
	m.nsec = r->newest.tv_nsec;
	m.fine = r->fine;
	if (e)
		snprintf(m.msg, sizeof(m.msg), "%s", e->msg);
	if (hoist_write_all(sock, &m, sizeof(m), NULL) < 0) {
		/* the caller is gone: nothing to tell */
	}
}

static int read_reply(rundir *r, hoist_error **err)
{
	helper_reply m;
	if (read_exact(hoist_sandbox_helper_sock(r->helper), &m, sizeof(m)) < 0)
		return hoist_error_set(err, HOIST_E_IO,
			"the copy's helper in a user namespace did not answer");
	r->n = m.n;
	r->newest = (struct timespec){ (time_t)m.sec, (long)m.nsec };
	r->fine = m.fine;
	if (m.rc == 0)
		return 0;
	m.msg[sizeof(m.msg) - 1] = '\0';
	return hoist_error_set(err, m.code ? m.code : HOIST_E_IO, "%s", m.msg);
}

/* In the helper: record, answer, then wait for the word to extract (or
 * for the caller to go), and delete the copy. */
static int helper_main(void *ud, int sock)
{
	rundir *r = ud;
	hoist_error *e = NULL;
	int rc = record_local(r, r->path, &e);
	send_reply(sock, r, rc, e);
	hoist_error_free(e);
	e = NULL;
	char cmd = 0;
	uint32_t len = 0;
	if (rc == 0 && read_exact(sock, &cmd, 1) == 0 && cmd == 'x' &&
		read_exact(sock, &len, sizeof(len)) == 0 && len < 4096) {
		char diff[4096];
		if (read_exact(sock, diff, len) == 0) {
			diff[len] = '\0';
			rc = extract_local(r, diff, &e);
			send_reply(sock, r, rc, e);
			hoist_error_free(e);
		}
	}
	hoist_fs_rm_rf(AT_FDCWD, r->path, NULL);
	return rc;
}

int rundir_record(rundir **out, const char *root, const char *xattr_prefix,
	hoist_error **err)
{
	*out = NULL;
	rundir *r = calloc(1, sizeof(*r));
	if (!r)
		return nomem(err);
	r->prefix = xattr_prefix;
	r->dfd = -1;
	r->path = strdup(root);
	int rc = !r->path ? nomem(err) : 0;
	if (rc == 0 && hoist_sandbox_needs_helper()) {
		rc = hoist_sandbox_helper_start(&r->helper, helper_main, r, err);
		if (rc == 0)
			rc = read_reply(r, err);
	} else if (rc == 0) {
		rc = record_local(r, root, err);
	}
	if (rc < 0) {
		rundir_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

size_t rundir_entries(const rundir *r)
{
	return r->n;
}

struct timespec rundir_newest(const rundir *r)
{
	/* A file system that keeps whole seconds (ext4 with 128-byte inodes,
	 * say): a change is seen only in the next second. */
	if (!r->fine)
		return (struct timespec){ r->newest.tv_sec, 999999999 };
	return r->newest;
}

bool rundir_fine_times(const rundir *r)
{
	return r->fine;
}

/* ---- after the command: moving the changes out ---- */

/* One directory of the copy being compared, and its place in the diff. */
typedef struct level {
	struct level *up; /* NULL: the root */
	int fd;           /* the directory in the copy */
	const char *path; /* relative to the root ("" for the root) */
	struct stat st;   /* as it was before anything was moved out of it */
	bool made;        /* exists in the diff */
} level;

static char *join(const char *dir, const char *name)
{
	char *p = NULL;
	if (asprintf(&p, "%s%s%s", dir, *dir ? "/" : "", name) < 0)
		return NULL;
	return p;
}

static bool overlay_xattr(const char *name)
{
	return !strncmp(name, "trusted.overlay.", 16) || !strncmp(name, "user.overlay.", 13);
}

/* Gives the diff's copy of a directory the copy's owner and xattrs. */
static int copy_dir_meta(int from, int to, const char *path, const struct stat *st,
	hoist_error **err)
{
	if (fchown(to, st->st_uid, st->st_gid) < 0 && errno != EPERM)
		return hoist_error_errno(err, errno, "chown '/%s' in the diff", path);
	_cleanup_free_ char *names = malloc(XATTR_MAX);
	_cleanup_free_ char *val = malloc(XATTR_MAX);
	if (!names || !val)
		return nomem(err);
	ssize_t nl = flistxattr(from, names, XATTR_MAX);
	for (const char *p = names; nl > 0 && p < names + nl; p += strlen(p) + 1) {
		if (overlay_xattr(p))
			continue;
		ssize_t n = fgetxattr(from, p, val, XATTR_MAX);
		if (n < 0 || fsetxattr(to, p, val, (size_t)n, 0) < 0)
			return hoist_error_errno(err, errno, "copy xattr '%s' of '/%s'", p, path);
	}
	return 0;
}

/* Makes the level's directory (and those above it) in the diff: made
 * 0700 so that entries can be moved in, its mode set by finish(). */
static int ensure(rundir *r, level *lv, hoist_error **err)
{
	if (lv->made)
		return 0;
	int rc = ensure(r, lv->up, err);
	if (rc < 0)
		return rc;
	if (mkdirat(r->dfd, lv->path, 0700) < 0)
		return hoist_error_errno(err, errno, "create '/%s' in the diff", lv->path);
	_cleanup_close_ int fd = openat(r->dfd, lv->path,
		O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return hoist_error_errno(err, errno, "open '/%s' in the diff", lv->path);
	rc = copy_dir_meta(lv->fd, fd, lv->path, &lv->st, err);
	if (rc == 0)
		lv->made = true;
	return rc;
}

/* The directory's mode and times, once everything is in it. */
static int finish(rundir *r, level *lv, hoist_error **err)
{
	if (!lv->made || !lv->up)
		return 0;
	if (fchmodat(r->dfd, lv->path, lv->st.st_mode & 07777, 0) < 0)
		return hoist_error_errno(err, errno, "chmod '/%s' in the diff", lv->path);
	struct timespec t[2] = { lv->st.st_atim, lv->st.st_mtim };
	if (utimensat(r->dfd, lv->path, t, AT_SYMLINK_NOFOLLOW) < 0)
		return hoist_error_errno(err, errno, "set the times of '/%s' in the diff",
			lv->path);
	return 0;
}

/* The path of name of lv in the diff, lv's directory made there. */
static int diff_path(rundir *r, level *lv, const char *name, char **out,
	hoist_error **err)
{
	int rc = ensure(r, lv, err);
	if (rc < 0)
		return rc;
	*out = join(lv->path, name);
	return *out ? 0 : nomem(err);
}

/* Moves name (and all below it) from the copy into the diff. */
static int move(rundir *r, level *lv, const char *name, bool opaque,
	hoist_error **err)
{
	_cleanup_free_ char *p = NULL;
	int rc = diff_path(r, lv, name, &p, err);
	if (rc < 0)
		return rc;
	if (renameat(lv->fd, name, r->dfd, p) < 0) {
		/* a directory without write permission, owned by us (rootless):
		 * the copy is thrown away, its mode does not matter */
		if (errno != EACCES || fchmod(lv->fd, (lv->st.st_mode & 07777) | 0700) < 0 ||
			renameat(lv->fd, name, r->dfd, p) < 0)
			return hoist_error_errno(err, errno, "move '/%s' into the diff", p);
	}
	if (!opaque)
		return 0;
	char xa[64];
	snprintf(xa, sizeof(xa), "%sopaque", r->prefix);
	_cleanup_close_ int fd = openat(r->dfd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW
		| O_CLOEXEC);
	if (fd < 0 || fsetxattr(fd, xa, "y", 1, 0) < 0)
		return hoist_error_errno(err, errno, "mark '/%s' opaque in the diff", p);
	return 0;
}

static int whiteout(rundir *r, level *lv, const char *name, hoist_error **err)
{
	_cleanup_free_ char *p = NULL;
	int rc = diff_path(r, lv, name, &p, err);
	if (rc < 0)
		return rc;
	if (mknodat(r->dfd, p, S_IFCHR | 0, makedev(0, 0)) < 0)
		return hoist_error_errno(err, errno, "create the whiteout '/%s'", p);
	return 0;
}

/* Whether a directory kept from the copy changed itself (not below). */
static int dir_changed(const level *lv, const rnode *k, bool *out,
	hoist_error **err)
{
	const struct stat *st = &lv->st;
	*out = true;
	if (st->st_mode != k->mode || st->st_uid != k->uid || st->st_gid != k->gid ||
		!ts_eq(&st->st_mtim, &k->mtime))
		return 0;
	*out = false;
	if (ts_eq(&st->st_ctim, &k->ctime))
		return 0;
	_cleanup_free_ char *x = NULL;
	size_t n = 0;
	int rc = read_xattrs(lv->fd, lv->path, &x, &n, err);
	if (rc < 0)
		return rc;
	*out = n != k->xattrs_len || (n && memcmp(x, k->xattrs, n) != 0);
	return 0;
}

static int extract_dir(rundir *r, const rnode *rec, level *lv, hoist_error **err)
{
	hoist_fs_dirlist l;
	int rc = hoist_fs_dirlist_read(&l, lv->fd, *lv->path ? lv->path : "/", err);
	if (rc < 0)
		return rc;
	size_t i = 0, j = 0;
	while (rc == 0 && (i < l.n || j < rec->n_kids)) {
		const rnode *k = j < rec->n_kids ? &rec->kids[j] : NULL;
		int c = i == l.n ? 1 : !k ? -1 : strcmp(hoist_fs_dirlist_name(&l, i), k->name);
		if (c > 0) { /* recorded, gone */
			rc = whiteout(r, lv, k->name, err);
			j++;
			continue;
		}
		const char *name = hoist_fs_dirlist_name(&l, i++);
		if (c < 0) { /* new */
			rc = move(r, lv, name, false, err);
			continue;
		}
		j++;
		level sub = { .up = lv, .fd = -1 };
		struct timespec bt;
		if (stat_at(lv->fd, name, &sub.st, &bt) < 0) {
			rc = hoist_error_errno(err, errno, "stat '/%s%s%s'", lv->path,
				*lv->path ? "/" : "", name);
			break;
		}
		bool dir = S_ISDIR(sub.st.st_mode);
		if ((sub.st.st_mode & S_IFMT) != (k->mode & S_IFMT) || sub.st.st_ino != k->ino ||
			!ts_eq(&bt, &k->btime)) {
			/* replaced: a directory hides what was below it */
			rc = move(r, lv, name, dir, err);
			continue;
		}
		if (!dir) {
			if (!ts_eq(&sub.st.st_ctim, &k->ctime))
				rc = move(r, lv, name, false, err);
			continue;
		}
		_cleanup_free_ char *path = join(lv->path, name);
		if (!path) {
			rc = nomem(err);
			break;
		}
		sub.path = path;
		sub.fd = openat(lv->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub.fd < 0) {
			rc = hoist_error_errno(err, errno, "open '/%s'", path);
			break;
		}
		bool changed = false;
		rc = extract_dir(r, k, &sub, err);
		if (rc == 0 && !sub.made)
			rc = dir_changed(&sub, k, &changed, err);
		if (rc == 0 && changed)
			rc = ensure(r, &sub, err);
		if (rc == 0)
			rc = finish(r, &sub, err);
		close(sub.fd);
	}
	hoist_fs_dirlist_release(&l);
	return rc;
}

static int extract_local(rundir *r, const char *diff, hoist_error **err)
{
	const char *root = r->path;
	_cleanup_close_ int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		return hoist_error_errno(err, errno, "open '%s'", root);
	_cleanup_close_ int dfd = open(diff, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return hoist_error_errno(err, errno, "open '%s'", diff);
	level top = { .fd = rfd, .path = "", .made = true };
	if (fstat(rfd, &top.st) < 0)
		return hoist_error_errno(err, errno, "stat '%s'", root);
	r->dfd = dfd;
	int rc = extract_dir(r, &r->root, &top, err);
	r->dfd = -1;
	return rc;
}

int rundir_extract(rundir *r, const char *diff, hoist_error **err)
{
	if (!r->helper)
		return extract_local(r, diff, err);
	uint32_t len = (uint32_t)strlen(diff);
	if (len >= 4096)
		return hoist_error_set(err, HOIST_E_LIMIT, "path too long: '%s'", diff);
	int sock = hoist_sandbox_helper_sock(r->helper);
	if (hoist_write_all(sock, "x", 1, NULL) < 0 ||
		hoist_write_all(sock, &len, sizeof(len), NULL) < 0 ||
		hoist_write_all(sock, diff, len, NULL) < 0)
		return hoist_error_set(err, HOIST_E_IO,
			"the copy's helper in a user namespace is gone");
	return read_reply(r, err);
}

/* ---- before the command: the copy ---- */

/* The copy's bounds, over all its layers: entries are counted as they are
 * applied (where that is in this process), bytes as the tars are read. */
typedef struct budget {
	const rundir_limits *lim;
	size_t entries;
	uint64_t bytes;
	bool over;
} budget;

typedef struct budget_reader {
	hoist_reader base;
	hoist_reader *inner;
	budget *b;
} budget_reader;

static ssize_t budget_read(hoist_reader *rd, void *buf, size_t n, hoist_error **err)
{
	budget *b = ((budget_reader *)rd)->b;
	const rundir_limits *lim = b->lim;
	if ((lim->max_entries && b->entries > lim->max_entries) ||
		(lim->max_bytes && b->bytes > lim->max_bytes)) {
		b->over = true;
		return hoist_error_set(err, HOIST_E_LIMIT, "larger than a copy for RUN may be");
	}
	ssize_t k = hoist_reader_read(((budget_reader *)rd)->inner, buf, n, err);
	if (k > 0)
		b->bytes += (uint64_t)k;
	return k;
}

static void budget_free(hoist_reader *rd)
{
	budget_reader *br = (budget_reader *)rd;
	hoist_reader_free(br->inner);
	free(br);
}

static const hoist_reader_ops budget_ops = { budget_read, budget_free };

static int budget_wrap(void *ud, hoist_reader **tar, hoist_error **err)
{
	budget_reader *br = calloc(1, sizeof(*br));
	if (!br)
		return nomem(err);
	*br = (budget_reader){ { &budget_ops }, *tar, ud };
	*tar = &br->base;
	return 0;
}

static void count_entry(void *ud, hoist_change_kind kind, const char *path,
	int64_t size)
{
	(void)kind;
	(void)path;
	(void)size;
	((budget *)ud)->entries++;
}

/* The marker that the layers of s are too large for a copy. */
static char *large_marker(build *b, stage *s, size_t n)
{
	char hex[65];
	rootfs_key(s, n, hex);
	char *p = NULL;
	if (asprintf(&p, "%s/rootfs/%s.large", b->home, hex) < 0)
		return NULL;
	return p;
}

/* Whether every layer of s is a blob of the local store (a copy of a
 * registry base would download it again for every step). */
static bool layers_local(build *b, stage *s)
{
	hoist_layout *l = NULL;
	if (hoist_layout_open(&l, b->home, false, NULL) < 0)
		return false;
	bool all = true;
	for (size_t i = 0; all && i < hoist_compose_n_layers(s->img); i++)
		all = hoist_layout_has_blob(l, &hoist_compose_layer(s->img, i)->digest);
	hoist_layout_free(l);
	return all;
}

static void write_marker(build *b, const char *marker)
{
	_cleanup_free_ char *dir = NULL;
	if (marker && asprintf(&dir, "%s/rootfs", b->home) >= 0 &&
		hoist_fs_mkdir_p(AT_FDCWD, dir, 0755, NULL) == 0)
		hoist_fs_write_atomic(AT_FDCWD, marker, "", 0, 0644, NULL);
}

void rundir_mark_large(build *b, stage *s)
{
	_cleanup_free_ char *marker = large_marker(b, s, hoist_compose_n_layers(s->img));
	write_marker(b, marker);
}

int rundir_unpack(build *b, stage *s, const char *root, const rundir_limits *lim,
	hoist_error **err)
{
	size_t n = hoist_compose_n_layers(s->img);
	bool bounded = lim->max_entries || lim->max_bytes;
	_cleanup_free_ char *marker = bounded ? large_marker(b, s, n) : NULL;
	if (bounded && (!marker || hoist_fs_exists(AT_FDCWD, marker) || !layers_local(b, s)))
		return 0;
	if (mkdir(root, 0755) < 0)
		return hoist_error_errno(err, errno, "create '%s'", root);
	_cleanup_close_ int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return hoist_error_errno(err, errno, "open '%s'", root);
	budget b_ = { lim, 0, 0, false };
	layer_hooks h = { budget_wrap, count_entry, &b_ };
	int rc = apply_layers(s, n, fd, &h, err);
	bool over = b_.over || (rc == 0 && lim->max_entries && b_.entries > lim->max_entries);
	if (over) {
		if (err) {
			hoist_error_free(*err);
			*err = NULL;
		}
		hoist_sandbox_rm_rf(root, NULL);
		write_marker(b, marker);
		return 0;
	}
	return rc < 0 ? rc : 1;
}

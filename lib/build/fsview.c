/* Read-only views of a build context or of a stack of overlay lower dirs,
 * with paths resolved inside the view the way the kernel resolves them in
 * a chroot.  See hoist/buildcopy.h. */
#include "build/buildcopy_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "hoist/buf.h"
#include "hoist/sandbox.h"
#include "hoist/strset.h"
#include "sandbox/internal.h"
#include "util/cleanup.h"

#define MAX_SYMLINKS 40
/* xattrs of one entry we are willing to copy: names and values. */
#define XATTR_LIST_MAX_BYTES (64 * 1024)
#define XATTR_VALUE_MAX_BYTES (64 * 1024)

struct hoist_fsview {
	bool context;
	const hoist_dockerignore *ignore; /* borrowed */
	char *prefix;                     /* overlay xattr prefix */
	size_t n;
	int *fds;                         /* O_PATH roots of the lowers */
	char **paths;                     /* their canonical host paths */
};

static int nomem(hoist_error **err)
{
	return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
}

void fsv_node_release(fsv_node *n)
{
	if (!n)
		return;
	free(n->path);
	free(n->layers);
	n->path = NULL;
	n->layers = NULL;
	n->n_layers = 0;
}

void fsv_nodes_free(fsv_node *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		fsv_node_release(&v[i]);
	free(v);
}

bool fsv_is_context(const hoist_fsview *v)
{
	return v->context;
}

char *fsv_clean(const char *in)
{
	size_t cap = strlen(in) + 2;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	size_t len = 0;
	const char *p = in;
	while (*p) {
		while (*p == '/')
			p++;
		const char *e = p;
		while (*e && *e != '/')
			e++;
		size_t n = (size_t)(e - p);
		if (n == 0 || (n == 1 && p[0] == '.')) {
			/* nothing */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			while (len > 0 && out[len - 1] != '/')
				len--;
			if (len > 0)
				len--;
		} else {
			out[len++] = '/';
			memcpy(out + len, p, n);
			len += n;
		}
		p = e;
	}
	if (len == 0)
		out[len++] = '/';
	out[len] = '\0';
	return out;
}

/* What the *at() calls get for a canonical path. */
static const char *rel_of(const char *path)
{
	return path[1] ? path + 1 : ".";
}

static char *child_path(const char *dir, const char *name)
{
	char *p = NULL;
	if (asprintf(&p, "%s%s%s", dir, dir[1] ? "/" : "", name) < 0)
		return NULL;
	return p;
}

static bool is_whiteout(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && major(st->st_rdev) == 0 &&
		minor(st->st_rdev) == 0;
}

static bool is_opaque(const hoist_fsview *v, uint32_t li, const char *path)
{
	_cleanup_free_ char *host = NULL;
	_cleanup_free_ char *name = NULL;
	if (asprintf(&host, "%s/%s", v->paths[li], rel_of(path)) < 0 ||
	    asprintf(&name, "%sopaque", v->prefix) < 0)
		return false;
	char val[4];
	ssize_t k = lgetxattr(host, name, val, sizeof(val));
	return k == 1 && val[0] == 'y';
}

void hoist_fsview_free(hoist_fsview *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++) {
		if (v->fds && v->fds[i] >= 0)
			close(v->fds[i]);
		if (v->paths)
			free(v->paths[i]);
	}
	free(v->fds);
	free(v->paths);
	free(v->prefix);
	free(v);
}

HOIST_DEFINE_CLEANUP(hoist_fsview, hoist_fsview_free)

static int view_alloc(hoist_fsview **out, size_t n, hoist_error **err)
{
	hoist_fsview *v = calloc(1, sizeof(*v));
	if (!v)
		return nomem(err);
	v->fds = calloc(n ? n : 1, sizeof(*v->fds));
	v->paths = calloc(n ? n : 1, sizeof(*v->paths));
	if (!v->fds || !v->paths) {
		hoist_fsview_free(v);
		return nomem(err);
	}
	for (size_t i = 0; i < n; i++)
		v->fds[i] = -1;
	v->n = n;
	*out = v;
	return 0;
}

static int view_open_layer(hoist_fsview *v, size_t i, const char *dir,
	hoist_error **err)
{
	v->fds[i] = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (v->fds[i] < 0)
		return hoist_error_errno(err, errno, "open '%s'", dir);
	v->paths[i] = realpath(dir, NULL);
	if (!v->paths[i])
		return hoist_error_errno(err, errno, "resolve '%s'", dir);
	return 0;
}

int hoist_fsview_new_dir(hoist_fsview **out, const char *dir,
	const hoist_dockerignore *ignore, hoist_error **err)
{
	_cleanup_(hoist_fsview_freep) hoist_fsview *v = NULL;
	int r = view_alloc(&v, 1, err);
	if (r < 0)
		return r;
	v->context = true;
	v->ignore = ignore;
	r = view_open_layer(v, 0, dir, err);
	if (r < 0)
		return r;
	*out = steal_ptr(&v);
	return 0;
}

int hoist_fsview_new_lowers(hoist_fsview **out, const char *const *lowers,
	size_t n, const char *xattr_prefix, hoist_error **err)
{
	_cleanup_(hoist_fsview_freep) hoist_fsview *v = NULL;
	if (n > UINT32_MAX)
		return hoist_error_set(err, HOIST_E_LIMIT, "too many lower dirs");
	int r = view_alloc(&v, n, err);
	if (r < 0)
		return r;
	v->prefix = strdup(xattr_prefix ? xattr_prefix
		: hoist_sandbox_overlay_xattr_prefix());
	if (!v->prefix)
		return nomem(err);
	for (size_t i = 0; i < n; i++) {
		r = view_open_layer(v, i, lowers[i], err);
		if (r < 0)
			return r;
	}
	*out = steal_ptr(&v);
	return 0;
}

int fsv_root(const hoist_fsview *v, fsv_node *out, hoist_error **err)
{
	memset(out, 0, sizeof(*out));
	out->path = strdup("/");
	out->layers = calloc(v->n ? v->n : 1, sizeof(*out->layers));
	if (!out->path || !out->layers) {
		fsv_node_release(out);
		return nomem(err);
	}
	if (v->n == 0) {
		/* FROM scratch: an empty root directory. */
		out->st.st_mode = S_IFDIR | 0755;
		out->st.st_nlink = 2;
		return 0;
	}
	if (fstat(v->fds[0], &out->st) < 0) {
		int e = errno;
		fsv_node_release(out);
		return hoist_error_errno(err, e, "stat '%s'", v->paths[0]);
	}
	for (size_t i = 0; i < v->n; i++)
		out->layers[out->n_layers++] = (uint32_t)i;
	return 0;
}

static bool bad_name(const char *name)
{
	return !*name || strchr(name, '/') || !strcmp(name, ".") ||
		!strcmp(name, "..");
}

static int lookup_raw(const hoist_fsview *v, const fsv_node *dir,
	const char *name, fsv_node *out, hoist_error **err)
{
	memset(out, 0, sizeof(*out));
	if (!S_ISDIR(dir->st.st_mode) || bad_name(name))
		return -HOIST_E_NOTFOUND;
	_cleanup_free_ char *path = child_path(dir->path, name);
	_cleanup_free_ uint32_t *layers = calloc(dir->n_layers ? dir->n_layers : 1,
		sizeof(*layers));
	if (!path || !layers)
		return nomem(err);
	if (strlen(path) >= FSV_PATH_MAX)
		return hoist_error_set(err, HOIST_E_LIMIT, "path '%s' is too long",
			path);
	size_t nl = 0;
	const char *rel = rel_of(path);
	for (size_t i = 0; i < dir->n_layers; i++) {
		uint32_t li = dir->layers[i];
		struct stat st;
		if (fstatat(v->fds[li], rel, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT || errno == ENOTDIR)
				continue;
			return hoist_error_errno(err, errno, "stat '%s' in '%s'",
				path, v->paths[li]);
		}
		bool wh = !v->context && is_whiteout(&st);
		if (nl == 0) {
			if (wh)
				return -HOIST_E_NOTFOUND;
			out->st = st;
			layers[nl++] = li;
			if (!S_ISDIR(st.st_mode))
				break;
		} else {
			/* Below a directory, only directories merge. */
			if (wh || !S_ISDIR(st.st_mode))
				break;
			layers[nl++] = li;
		}
		if (!v->context && is_opaque(v, li, path))
			break;
	}
	if (nl == 0)
		return -HOIST_E_NOTFOUND;
	out->path = steal_ptr(&path);
	out->layers = steal_ptr(&layers);
	out->n_layers = nl;
	return 0;
}

static int list_names(const hoist_fsview *v, const fsv_node *dir,
	char ***names_out, size_t *n_out, hoist_error **err);
static void strv_free(char **v, size_t n);

/* An ignored directory stays in a context's view when something below it
 * is re-included; the search stops at the first such entry. */
static int has_visible_child(const hoist_fsview *v, const fsv_node *dir,
	bool *yes, hoist_error **err)
{
	char **names = NULL;
	size_t n = 0;
	*yes = false;
	int r = list_names(v, dir, &names, &n, err);
	for (size_t i = 0; r == 0 && i < n && !*yes; i++) {
		fsv_node kid;
		r = fsv_lookup(v, dir, names[i], &kid, err);
		if (r == -HOIST_E_NOTFOUND) {
			r = 0;
			continue;
		}
		if (r == 0) {
			*yes = true;
			fsv_node_release(&kid);
		}
	}
	strv_free(names, n);
	return r;
}

int fsv_lookup(const hoist_fsview *v, const fsv_node *dir, const char *name,
	fsv_node *out, hoist_error **err)
{
	int r = lookup_raw(v, dir, name, out, err);
	if (r < 0 || !v->context || !v->ignore)
		return r;
	const char *rel = out->path + 1;
	if (!hoist_dockerignore_matches(v->ignore, rel))
		return 0;
	bool keep = false;
	if (S_ISDIR(out->st.st_mode) &&
	    hoist_dockerignore_may_reinclude(v->ignore, rel)) {
		r = has_visible_child(v, out, &keep, err);
		if (r < 0) {
			fsv_node_release(out);
			return r;
		}
	}
	if (!keep) {
		fsv_node_release(out);
		return -HOIST_E_NOTFOUND;
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/* The raw names of every layer of dir, deduplicated and sorted. */
static int list_names(const hoist_fsview *v, const fsv_node *dir,
	char ***names_out, size_t *n_out, hoist_error **err)
{
	hoist_strset seen = HOIST_STRSET_INIT;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int r = 0;
	for (size_t i = 0; i < dir->n_layers && r == 0; i++) {
		uint32_t li = dir->layers[i];
		int fd = sbx_open_nofollow(v->fds[li], rel_of(dir->path),
			O_RDONLY | O_DIRECTORY);
		if (fd < 0) {
			r = hoist_error_errno(err, -fd, "open directory '%s' in '%s'",
				dir->path, v->paths[li]);
			break;
		}
		DIR *d = fdopendir(fd);
		if (!d) {
			r = hoist_error_errno(err, errno, "read directory '%s'",
				dir->path);
			close(fd);
			break;
		}
		struct dirent *de;
		errno = 0;
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			int a = hoist_strset_add(&seen, de->d_name);
			if (a < 0) {
				r = nomem(err);
				break;
			}
			if (a == 0)
				continue;
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 16;
				char **nv = realloc(names, nc * sizeof(*nv));
				if (!nv) {
					r = nomem(err);
					break;
				}
				names = nv;
				cap = nc;
			}
			if (!(names[n] = strdup(de->d_name))) {
				r = nomem(err);
				break;
			}
			n++;
			errno = 0;
		}
		if (r == 0 && errno)
			r = hoist_error_errno(err, errno, "read directory '%s'",
				dir->path);
		closedir(d);
	}
	hoist_strset_release(&seen);
	if (r < 0) {
		strv_free(names, n);
		return r;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_str);
	*names_out = names;
	*n_out = n;
	return 0;
}

int fsv_list(const hoist_fsview *v, const fsv_node *dir, fsv_node **out,
	size_t *n_out, hoist_error **err)
{
	*out = NULL;
	*n_out = 0;
	if (!S_ISDIR(dir->st.st_mode))
		return hoist_error_set(err, HOIST_E_INVALID,
			"'%s' is not a directory", dir->path);
	char **names = NULL;
	size_t n = 0;
	int r = list_names(v, dir, &names, &n, err);
	if (r < 0)
		return r;
	fsv_node *nodes = calloc(n ? n : 1, sizeof(*nodes));
	if (!nodes) {
		strv_free(names, n);
		return nomem(err);
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		r = fsv_lookup(v, dir, names[i], &nodes[k], err);
		if (r == -HOIST_E_NOTFOUND)
			continue;
		if (r < 0)
			break;
		k++;
	}
	strv_free(names, n);
	if (r < 0 && r != -HOIST_E_NOTFOUND) {
		fsv_nodes_free(nodes, k);
		return r;
	}
	*out = nodes;
	*n_out = k;
	return 0;
}

int fsv_open(const hoist_fsview *v, const fsv_node *n, int flags, int *fd,
	hoist_error **err)
{
	if (n->n_layers == 0)
		return hoist_error_set(err, HOIST_E_NOTFOUND,
			"'%s': nothing to open in an empty view", n->path);
	uint32_t li = n->layers[0];
	int r = sbx_open_nofollow(v->fds[li], rel_of(n->path), flags);
	if (r < 0)
		return hoist_error_errno(err, -r, "open '%s'", n->path);
	*fd = r;
	return 0;
}

/* The parent directory of n in its topmost layer and n's base name. */
static int open_parent(const hoist_fsview *v, const fsv_node *n, int *pfd,
	const char **base, hoist_error **err)
{
	const char *slash = strrchr(n->path, '/');
	_cleanup_free_ char *parent = strndup(n->path,
		(size_t)(slash - n->path) + (slash == n->path));
	if (!parent)
		return nomem(err);
	int r = sbx_open_nofollow(v->fds[n->layers[0]], rel_of(parent),
		O_PATH | O_DIRECTORY);
	if (r < 0)
		return hoist_error_errno(err, -r, "open '%s'", parent);
	*pfd = r;
	*base = slash + 1;
	return 0;
}

int fsv_readlink(const hoist_fsview *v, const fsv_node *n, char **out,
	hoist_error **err)
{
	if (!S_ISLNK(n->st.st_mode) || n->n_layers == 0)
		return hoist_error_set(err, HOIST_E_INVALID,
			"'%s' is not a symlink", n->path);
	_cleanup_close_ int pfd = -1;
	const char *base = NULL;
	int r = open_parent(v, n, &pfd, &base, err);
	if (r < 0)
		return r;
	char buf[PATH_MAX];
	ssize_t k = readlinkat(pfd, base, buf, sizeof(buf));
	if (k < 0)
		return hoist_error_errno(err, errno, "readlink '%s'", n->path);
	if ((size_t)k >= sizeof(buf))
		return hoist_error_set(err, HOIST_E_LIMIT,
			"symlink '%s' is too long", n->path);
	*out = strndup(buf, (size_t)k);
	return *out ? 0 : nomem(err);
}

void fsv_xattrs_release(fsv_xattrs *x)
{
	for (size_t i = 0; i < x->n; i++) {
		free(x->names[i]);
		free(x->values[i]);
	}
	free(x->names);
	free(x->values);
	free(x->lens);
	memset(x, 0, sizeof(*x));
}

static bool xattr_wanted(const char *name)
{
	if (!strncmp(name, "user.overlay.", 13))
		return false;
	return !strncmp(name, "user.", 5) || !strcmp(name, "security.capability");
}

int fsv_get_xattrs(const hoist_fsview *v, const fsv_node *n, fsv_xattrs *out,
	hoist_error **err)
{
	memset(out, 0, sizeof(*out));
	if (v->context || n->n_layers == 0 ||
	    !(S_ISREG(n->st.st_mode) || S_ISDIR(n->st.st_mode)))
		return 0;
	_cleanup_free_ char *host = NULL;
	if (asprintf(&host, "%s/%s", v->paths[n->layers[0]], rel_of(n->path)) < 0)
		return nomem(err);
	_cleanup_free_ char *list = malloc(XATTR_LIST_MAX_BYTES);
	if (!list)
		return nomem(err);
	ssize_t len = llistxattr(host, list, XATTR_LIST_MAX_BYTES);
	if (len < 0) {
		if (errno == ENOTSUP)
			return 0;
		return hoist_error_errno(err, errno, "list xattrs of '%s'", n->path);
	}
	size_t cnt = 0;
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(list + i) + 1)
		if (xattr_wanted(list + i))
			cnt++;
	if (cnt == 0)
		return 0;
	out->names = calloc(cnt, sizeof(*out->names));
	out->values = calloc(cnt, sizeof(*out->values));
	out->lens = calloc(cnt, sizeof(*out->lens));
	if (!out->names || !out->values || !out->lens) {
		fsv_xattrs_release(out);
		return nomem(err);
	}
	int r = 0;
	for (ssize_t i = 0; i < len && r == 0; i += (ssize_t)strlen(list + i) + 1) {
		const char *name = list + i;
		if (!xattr_wanted(name))
			continue;
		char *val = malloc(XATTR_VALUE_MAX_BYTES);
		if (!val) {
			r = nomem(err);
			break;
		}
		ssize_t k = lgetxattr(host, name, val, XATTR_VALUE_MAX_BYTES);
		if (k < 0) {
			free(val);
			if (errno == ENODATA)
				continue;
			r = hoist_error_errno(err, errno, "read xattr '%s' of '%s'",
				name, n->path);
			break;
		}
		out->names[out->n] = strdup(name);
		out->values[out->n] = val;
		out->lens[out->n] = (size_t)k;
		out->n++;
		if (!out->names[out->n - 1])
			r = nomem(err);
	}
	if (r < 0)
		fsv_xattrs_release(out);
	return r;
}

/* Path resolution.  A stack of nodes from the root down to the current
 * directory; ".." pops; a symlink splices its target in front of what is
 * left of the path (from the root for an absolute one). */

typedef struct walk {
	fsv_node *stack;
	size_t depth;  /* nodes on the stack; [0] is the root */
	size_t cap;
	char **missing; /* create mode: components past the existing part */
	size_t n_missing;
} walk;

static void walk_release(walk *w)
{
	fsv_nodes_free(w->stack, w->depth);
	strv_free(w->missing, w->n_missing);
	memset(w, 0, sizeof(*w));
}

static int walk_push(walk *w, fsv_node *n, hoist_error **err)
{
	if (w->depth == w->cap) {
		size_t nc = w->cap ? w->cap * 2 : 16;
		fsv_node *ns = realloc(w->stack, nc * sizeof(*ns));
		if (!ns)
			return nomem(err);
		w->stack = ns;
		w->cap = nc;
	}
	w->stack[w->depth++] = *n;
	memset(n, 0, sizeof(*n));
	return 0;
}

static void walk_pop_to(walk *w, size_t depth)
{
	while (w->depth > depth)
		fsv_node_release(&w->stack[--w->depth]);
}

static bool only_slashes(const char *s)
{
	for (; *s; s++)
		if (*s != '/')
			return false;
	return true;
}

/* The core of every lookup.  create: a missing component is not an error
 * (the rest is taken lexically). */
static int walk_path(const hoist_fsview *v, const char *path, bool follow_last,
	bool create, walk *w, hoist_error **err)
{
	memset(w, 0, sizeof(*w));
	fsv_node root;
	int r = fsv_root(v, &root, err);
	if (r < 0)
		return r;
	r = walk_push(w, &root, err);
	if (r < 0) {
		fsv_node_release(&root);
		return r;
	}
	size_t plen = strlen(path);
	if (plen >= FSV_PATH_MAX)
		return hoist_error_set(err, HOIST_E_LIMIT, "path '%.64s...' is too long",
			path);
	_cleanup_free_ char *rest = strdup(path);
	if (!rest)
		return nomem(err);
	int links = 0;
	char *p = rest;
	for (;;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		char *e = p;
		while (*e && *e != '/')
			e++;
		size_t n = (size_t)(e - p);
		bool last = only_slashes(e);
		char save = *e;
		*e = '\0';
		if (n == 1 && p[0] == '.') {
			*e = save;
			p = e;
			continue;
		}
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			*e = save;
			p = e;
			if (w->n_missing > 0)
				free(w->missing[--w->n_missing]);
			else if (w->depth > 1)
				walk_pop_to(w, w->depth - 1);
			continue;
		}
		if (w->n_missing > 0) {
			char **nm = realloc(w->missing, (w->n_missing + 1) * sizeof(*nm));
			if (!nm)
				return nomem(err);
			w->missing = nm;
			if (!(w->missing[w->n_missing] = strdup(p)))
				return nomem(err);
			w->n_missing++;
			*e = save;
			p = e;
			continue;
		}
		fsv_node child;
		fsv_node *top = &w->stack[w->depth - 1];
		if (!S_ISDIR(top->st.st_mode))
			return hoist_error_set(err, HOIST_E_INVALID,
				"'%s' is not a directory", top->path);
		r = fsv_lookup(v, top, p, &child, err);
		if (r == -HOIST_E_NOTFOUND) {
			if (!create) {
				_cleanup_free_ char *cp = child_path(top->path, p);
				return hoist_error_set(err, HOIST_E_NOTFOUND,
					"'%s': no such file or directory", cp ? cp : p);
			}
			w->missing = calloc(1, sizeof(*w->missing));
			if (!w->missing || !(w->missing[0] = strdup(p)))
				return nomem(err);
			w->n_missing = 1;
			*e = save;
			p = e;
			continue;
		}
		if (r < 0)
			return r;
		*e = save;
		if (S_ISLNK(child.st.st_mode) && (!last || follow_last)) {
			char *target = NULL;
			r = fsv_readlink(v, &child, &target, err);
			if (r < 0) {
				fsv_node_release(&child);
				return r;
			}
			if (++links > MAX_SYMLINKS) {
				hoist_error_set(err, HOIST_E_INVALID,
					"'%s': too many levels of symbolic links", path);
				free(target);
				fsv_node_release(&child);
				return -HOIST_E_INVALID;
			}
			fsv_node_release(&child);
			char *spliced = NULL;
			int k = asprintf(&spliced, "%s/%s", target, e);
			bool abs = target[0] == '/';
			free(target);
			if (k < 0)
				return nomem(err);
			if ((size_t)k >= 2 * FSV_PATH_MAX) {
				free(spliced);
				return hoist_error_set(err, HOIST_E_LIMIT,
					"'%s': path too long after symlinks", path);
			}
			free(rest);
			rest = spliced;
			p = rest;
			if (abs)
				walk_pop_to(w, 1);
			continue;
		}
		r = walk_push(w, &child, err);
		if (r < 0) {
			fsv_node_release(&child);
			return r;
		}
		p = e;
	}
	return 0;
}

int fsv_resolve(const hoist_fsview *v, const char *path, bool follow_last,
	fsv_node *out, hoist_error **err)
{
	walk w;
	int r = walk_path(v, path, follow_last, false, &w, err);
	if (r == 0) {
		*out = w.stack[w.depth - 1];
		w.depth--;
	}
	walk_release(&w);
	return r;
}

int fsv_resolve_create(const hoist_fsview *v, const char *path, char **canon,
	bool *exists, fsv_node *out, hoist_error **err)
{
	walk w;
	int r = walk_path(v, path, true, true, &w, err);
	if (r < 0) {
		walk_release(&w);
		return r;
	}
	fsv_node *top = &w.stack[w.depth - 1];
	if (w.n_missing > 0 && !S_ISDIR(top->st.st_mode)) {
		r = hoist_error_set(err, HOIST_E_INVALID, "'%s' is not a directory",
			top->path);
		walk_release(&w);
		return r;
	}
	hoist_buf b = HOIST_BUF_INIT(4 * FSV_PATH_MAX);
	r = hoist_buf_appends(&b, top->path, err);
	for (size_t i = 0; r == 0 && i < w.n_missing; i++) {
		if (b.len > 1)
			r = hoist_buf_appends(&b, "/", err);
		if (r == 0)
			r = hoist_buf_appends(&b, w.missing[i], err);
	}
	if (r < 0) {
		hoist_buf_release(&b);
		walk_release(&w);
		return r;
	}
	*canon = hoist_buf_steal(&b, NULL);
	*exists = w.n_missing == 0;
	memset(out, 0, sizeof(*out));
	if (*exists) {
		*out = *top;
		w.depth--;
	}
	walk_release(&w);
	return 0;
}

/* The public, path-based interface. */

static int resolve_public(const hoist_fsview *v, const char *what,
	const char *path, bool follow, fsv_node *n, hoist_error **err)
{
	_cleanup_free_ char *clean = fsv_clean(path);
	if (!clean)
		return nomem(err);
	int r = fsv_resolve(v, clean, follow, n, err);
	if (r < 0)
		return hoist_error_wrap(err, -r, "%s '%s'", what, path);
	return 0;
}

int hoist_fsview_lstat(const hoist_fsview *v, const char *path,
	struct stat *st, hoist_error **err)
{
	fsv_node n;
	int r = resolve_public(v, "lstat", path, false, &n, err);
	if (r < 0)
		return r;
	*st = n.st;
	fsv_node_release(&n);
	return 0;
}

int hoist_fsview_stat(const hoist_fsview *v, const char *path,
	struct stat *st, hoist_error **err)
{
	fsv_node n;
	int r = resolve_public(v, "stat", path, true, &n, err);
	if (r < 0)
		return r;
	*st = n.st;
	fsv_node_release(&n);
	return 0;
}

int hoist_fsview_realpath(const hoist_fsview *v, const char *path,
	char **out, hoist_error **err)
{
	fsv_node n;
	int r = resolve_public(v, "resolve", path, true, &n, err);
	if (r < 0)
		return r;
	*out = steal_ptr(&n.path);
	fsv_node_release(&n);
	return 0;
}

int hoist_fsview_open(const hoist_fsview *v, const char *path, int *fd,
	hoist_error **err)
{
	fsv_node n;
	int r = resolve_public(v, "open", path, true, &n, err);
	if (r < 0)
		return r;
	if (!S_ISREG(n.st.st_mode))
		r = hoist_error_set(err, HOIST_E_INVALID,
			"open '%s': not a regular file", path);
	else
		r = fsv_open(v, &n, O_RDONLY, fd, err);
	fsv_node_release(&n);
	return r;
}

int hoist_fsview_list(const hoist_fsview *v, const char *path,
	char ***names, size_t *n_out, hoist_error **err)
{
	fsv_node n;
	int r = resolve_public(v, "list", path, true, &n, err);
	if (r < 0)
		return r;
	fsv_node *kids = NULL;
	size_t k = 0;
	r = fsv_list(v, &n, &kids, &k, err);
	fsv_node_release(&n);
	if (r < 0)
		return hoist_error_wrap(err, -r, "list '%s'", path);
	char **out = calloc(k ? k : 1, sizeof(*out));
	if (!out) {
		fsv_nodes_free(kids, k);
		return nomem(err);
	}
	for (size_t i = 0; i < k; i++) {
		const char *base = strrchr(kids[i].path, '/') + 1;
		if (!(out[i] = strdup(base))) {
			strv_free(out, i);
			fsv_nodes_free(kids, k);
			return nomem(err);
		}
	}
	fsv_nodes_free(kids, k);
	*names = out;
	*n_out = k;
	return 0;
}

void hoist_fsview_names_free(char **names, size_t n)
{
	strv_free(names, n);
}

int hoist_fsview_readlink(const hoist_fsview *v, const char *path,
	char **target, hoist_error **err)
{
	fsv_node n;
	int r = resolve_public(v, "readlink", path, false, &n, err);
	if (r < 0)
		return r;
	r = fsv_readlink(v, &n, target, err);
	fsv_node_release(&n);
	if (r < 0)
		return hoist_error_wrap(err, -r, "readlink '%s'", path);
	return 0;
}

/* Internal to lib/build COPY/ADD: the node-level interface of file-system
 * views (fsview.c) that the copier (buildcopy.c) walks trees with, so that
 * a child is looked up from its parent instead of from the root. */
#ifndef HOIST_BUILD_BUILDCOPY_INTERNAL_H
#define HOIST_BUILD_BUILDCOPY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "hoist/buildcopy.h"
#include "hoist/error.h"

/* Longest image path a view handles. */
#define FSV_PATH_MAX 4096

/* One entry of a view. */
typedef struct fsv_node {
	char *path;        /* canonical: "/" or "/a/b" (owned) */
	struct stat st;    /* lstat of the topmost host entry */
	uint32_t *layers;  /* lowers holding it, topmost first: one for a
	                      non-directory; for a directory all that merge */
	size_t n_layers;
} fsv_node;

void fsv_node_release(fsv_node *n);
void fsv_nodes_free(fsv_node *v, size_t n);

/* The root directory of the view. */
int fsv_root(const hoist_fsview *v, fsv_node *out, hoist_error **err);

/* Child name of directory dir.  Returns 0 and fills out, or
 * -HOIST_E_NOTFOUND (without setting *err) when there is none. */
int fsv_lookup(const hoist_fsview *v, const fsv_node *dir, const char *name,
	fsv_node *out, hoist_error **err);

/* Resolves path (cleaned and taken from the root); follow_last follows a
 * final symlink.  -HOIST_E_NOTFOUND (with *err set) when missing. */
int fsv_resolve(const hoist_fsview *v, const char *path, bool follow_last,
	fsv_node *out, hoist_error **err);

/* Like fsv_resolve following every symlink, but a missing tail is not an
 * error: *canon gets the canonical path (existing part resolved, the rest
 * appended), *exists whether it all exists, and out (when it does) the
 * node.  A non-directory in the middle is HOIST_E_INVALID. */
int fsv_resolve_create(const hoist_fsview *v, const char *path,
	char **canon, bool *exists, fsv_node *out, hoist_error **err);

/* The children of directory dir, sorted by name (the last component of
 * each node's path). */
int fsv_list(const hoist_fsview *v, const fsv_node *dir, fsv_node **out,
	size_t *n, hoist_error **err);

/* Opens the host entry of n (O_NOFOLLOW; flags as for open). */
int fsv_open(const hoist_fsview *v, const fsv_node *n, int flags, int *fd,
	hoist_error **err);
int fsv_readlink(const hoist_fsview *v, const fsv_node *n, char **out,
	hoist_error **err);

/* The xattrs worth copying from n: user.* and security.capability,
 * without the overlay's own.  names/values are parallel arrays; each
 * value is vlen[i] bytes.  Nothing (n = 0) for a context view. */
typedef struct fsv_xattrs {
	char **names;
	char **values;
	size_t *lens;
	size_t n;
} fsv_xattrs;
int fsv_get_xattrs(const hoist_fsview *v, const fsv_node *n, fsv_xattrs *out,
	hoist_error **err);
void fsv_xattrs_release(fsv_xattrs *x);

/* Whether the view is a build context (else a stage's lowers). */
bool fsv_is_context(const hoist_fsview *v);

/* Lexical clean of "/" + p (Go's path.Clean): into a new string. */
char *fsv_clean(const char *p);

#endif

/* Internal to lib/sandbox: the plan the parent builds and the child
 * executes, the parent/child message protocol, in-root path resolution,
 * the malloc-free user resolver and the rootless id mapping.
 *
 * The child is made with a raw clone3 (to get all namespaces and a pidfd
 * in one step), so glibc's fork handlers do not run in it: it must not
 * allocate (a lock held by another thread of the caller would never be
 * released) and uses only what the parent prepared plus fixed buffers. */
#ifndef HOIST_SANDBOX_INTERNAL_H
#define HOIST_SANDBOX_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "hoist/error.h"
#include "hoist/sandbox.h"

#define SBX_PATH_MAX 4096
/* overlayfs stacks at most 500 layers; one is ours (the stub layer). */
#define SBX_MAX_LOWERS 499

/* Messages on the SOCK_SEQPACKET pair; one datagram each. */
enum sbx_msg_kind {
	SBX_MSG_READY = 1, /* child -> parent: unshared, waiting for id maps */
	SBX_MSG_GO,        /* parent -> child: maps written, carry on */
	SBX_MSG_ERROR,     /* child failed at `text` (+ strerror(err) if err);
	                      level: the HOIST_E_* code (0: HOIST_E_IO) */
	SBX_MSG_LOG,       /* child notice for the log, level in `level` */
	SBX_MSG_CREATED,   /* child made mount point `text` in the root */
	SBX_MSG_EXEC,      /* child is about to execve */
};

typedef struct sbx_msg {
	uint32_t kind;
	int32_t err;
	int32_t level;
	uint32_t is_dir;
	/* CREATED: mtime of the directory holding it, before and after. */
	struct timespec parent_before;
	struct timespec parent_after;
	char text[SBX_PATH_MAX + 512];
} sbx_msg;

enum sbx_mnt_kind {
	SBX_MNT_PROC,
	SBX_MNT_DEV,
	SBX_MNT_SYS,
	SBX_MNT_BIND, /* also /etc/resolv.conf, /etc/hosts */
	SBX_MNT_TMPFS,
	SBX_MNT_SECRET,
};

typedef struct sbx_mnt {
	int kind;
	char *source;  /* absolute, symlink-free host path (owned) */
	char *target;  /* lexically clean absolute path inside (owned) */
	bool dir;      /* the mount point is a directory */
	bool readonly;
	mode_t mode;
	uint64_t size;
	uid_t uid;
	gid_t gid;
	/* Child only: the target resolved in the root.  A mount point under
	 * an earlier mount is created in that mount, never as a stub. */
	char canon[SBX_PATH_MAX];
	size_t stub_miss; /* overlay probe: where canon's missing part starts */
	bool stubbed;     /* its mount point is in the stub layer */
	bool mounted;
} sbx_mnt;

typedef struct sbx_plan {
	const hoist_sandbox_opts *o;
	bool overlay;       /* else directory mode */
	bool userns;        /* a new user namespace is made */
	bool userxattr;     /* overlay needs the userxattr option */
	bool harden_dev;    /* real root: nodev on the root filesystem */
	bool setgroups_ok;  /* setgroups(2) is allowed in the sandbox */
	char **lowers;      /* absolute host paths (owned) */
	size_t n_lowers;
	char *upper;
	char *work;
	char *rootfs;
	const char *base;   /* host directory the staging tmpfs goes on */
	const char *hostname;
	sbx_mnt *mnts;
	size_t n_mnts;
	int sock;           /* child's end of the socket pair */
	int parent_sock;    /* parent's end, closed by the child */
} sbx_plan;

/* Child side (child.c).  Never returns. */
_Noreturn void sbx_child_main(sbx_plan *p);

/* Paths (path.c).  All return 0 or -errno and never allocate. */

/* Lexically cleans the absolute path in: collapses "//", drops "." and
 * resolves ".." (never above "/").  -EINVAL unless absolute. */
int sbx_path_clean(const char *in, char *out, size_t cap);

/* Resolves path inside the tree at rootfd as if rootfd were "/": symlinks
 * (absolute or relative, the last one too) and ".." never leave it.  canon
 * gets the canonical path ("/" or "/a/b": real directories, then the last
 * component) and *missing the offset in canon where the components that
 * do not exist start (strlen(canon) when all exist).  The components
 * after a missing one are taken lexically.  -ENOTDIR when a non-directory
 * is in the middle, -ELOOP after 40 symlinks. */
int sbx_path_resolve(int rootfd, const char *path, char *canon, size_t cap,
	size_t *missing);

/* Opens path inside the tree at rootfd (openat2 RESOLVE_IN_ROOT, or
 * sbx_path_resolve then openat with O_NOFOLLOW).  Returns an fd or
 * -errno. */
int sbx_open_in_root(int rootfd, const char *path, int flags);

/* Opens path beneath dirfd without following any symlink (openat2
 * RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, or a component walk with
 * O_NOFOLLOW).  Returns an fd or -errno. */
int sbx_open_nofollow(int dirfd, const char *path, int flags);

/* True when path equals dir or lies below it (both canonical). */
bool sbx_path_under(const char *path, const char *dir);

/* USER resolution without allocating (user.c): on failure returns
 * -HOIST_E_* and writes the message to msg. */
int sbx_user_resolve(hoist_sandbox_user *out, int rootfd, const char *spec,
	char *msg, size_t msglen);

/* Rootless id mapping (idmap.c), done by the parent. */
#define SBX_MAX_RANGES 32
typedef struct sbx_idrange {
	uint32_t start;
	uint32_t count;
} sbx_idrange;

typedef struct sbx_idmap {
	uid_t uid;
	gid_t gid;
	char *name;          /* the caller's user name, or NULL */
	bool subids;         /* newuidmap/newgidmap with the ranges below */
	char *newuidmap;
	char *newgidmap;
	sbx_idrange uranges[SBX_MAX_RANGES];
	size_t n_uranges;
	sbx_idrange granges[SBX_MAX_RANGES];
	size_t n_granges;
} sbx_idmap;

/* Decides how the caller maps into a new user namespace: reads
 * /etc/subuid, /etc/subgid (subuid_path/subgid_path) and looks for
 * newuidmap/newgidmap. */
int sbx_idmap_plan(sbx_idmap *m, const char *subuid_path,
	const char *subgid_path, hoist_error **err);
/* Writes the maps of process pid (in its new user namespace). */
int sbx_idmap_apply(const sbx_idmap *m, pid_t pid, hoist_error **err);
void sbx_idmap_release(sbx_idmap *m);

/* True when this process is in the initial user namespace. */
bool sbx_in_initial_userns(void);

/* helper.c: 1 when a rootless sandbox's files belong to subordinate ids
 * (acting on them needs a hoist_sandbox_helper), 0 when not (real root,
 * or one id mapped), or a negative HOIST_E_* code. */
int sbx_need_helper(hoist_error **err);

#endif

/* The sandbox that RUN steps and `hoist run` execute in: one command in new
 * mount, pid, ipc and uts namespaces (plus a user namespace when not run by
 * real root, and optionally an empty network namespace), on a root
 * filesystem that is either an overlay (caller's lower dirs + upper + work)
 * or a plain directory used in place.
 *
 * User namespace.  As real root in the initial user namespace no user
 * namespace is made: files written by a RUN step then get exactly the
 * ownership the image asks for (chown 1000 gives uid 1000 on disk), the
 * overlay uses the standard trusted.overlay.* xattrs every other tool
 * writes, and nothing depends on /etc/subuid.  The command's power is cut
 * instead: its capability bounding set is Docker's default set (no
 * CAP_SYS_ADMIN, so no mount, pivot_root or escape from the mount
 * namespace), no_new_privs is set, the root filesystem and /dev are nodev
 * (a mknod'ed disk device cannot be opened), and /proc/sys, /proc/sysrq-
 * trigger etc. are read-only with /proc/kcore and friends masked, as Docker
 * does.  Run by anyone else, the sandbox makes a user namespace in which
 * the caller is root: with subordinate ids in /etc/subuid and /etc/subgid
 * and newuidmap/newgidmap installed, inside id 0 maps to the caller and
 * 1..N to the subordinate ranges; otherwise only 0 -> caller is mapped
 * (setgroups denied) and a warning is logged once per context that steps
 * changing ownership to other ids will fail.
 *
 * Overlay.  The upper dir ends up holding exactly the diff of the run:
 * new and changed files, whiteouts as 0:0 character devices and opaque
 * directories marked with the xattr "<prefix>opaque" = "y", where <prefix>
 * is hoist_sandbox_overlay_xattr_prefix() ("trusted.overlay." as real root,
 * "user.overlay." with the `userxattr` option otherwise).  Other
 * <prefix>* xattrs the kernel leaves in the upper dir (origin, impure) are
 * overlay bookkeeping, not content, and must be skipped by the caller.  The
 * overlay is mounted with index=off, metacopy=off, redirect_dir=nofollow,
 * so renaming a lower directory copies it up whole instead of leaving a
 * redirect that a layer could not express.
 *
 * Mount points.  /proc, /dev, /sys, /etc/resolv.conf, /etc/hosts and the
 * caller's mount targets often do not exist in the image.  In overlay mode
 * they are never created in the upper dir: the sandbox first looks at the
 * tree read-only, then puts the missing mount points (and copies of the
 * existing directories above them, with their owner, mode and times) in a
 * private tmpfs that it stacks as the topmost lower layer.  A step that
 * writes next to a mount point therefore copies up the directory exactly as
 * it was in the image, and the upper dir stays the true diff.  In directory
 * mode the mount points have to be created in the tree itself; the sandbox
 * removes them again after the run (only if they are still empty) and puts
 * back the modification time of the directory holding each of them when
 * the step did not touch that directory.  Mount targets that lie under an
 * earlier mount (e.g. a cache mount inside another) are created inside that
 * mount.  Mount targets are resolved inside the root the way the kernel
 * would resolve them there: a symlink /etc/resolv.conf -> ../run/x gets the
 * mount on /run/x.
 *
 * The command runs as pid 1 of its pid namespace, like `docker build` RUN
 * steps: it does not get SIGINT/SIGTERM unless it handles them.  While it
 * runs, SIGINT and SIGTERM are blocked in the calling thread and read from
 * a signalfd: the first one is forwarded to the command, and if it has not
 * exited `stop_timeout_ms` later (or a second signal comes) it is killed
 * with SIGKILL, which ends every process of the sandbox.  (A multithreaded
 * caller must block SIGINT/SIGTERM in its other threads for this to see
 * them.)  The child is made with exit signal 0, so the caller's SIGCHLD
 * handler and waitpid(-1) loops never see it; it is always reaped here.
 *
 * Errors.  Everything that goes wrong while setting up the sandbox (a
 * mount, the id mapping, the working directory, the user, exec) is sent by
 * the child over a CLOEXEC socket before it exits, and returned as
 * HOIST_E_IO "sandbox: <step>: <reason>" (HOIST_E_UNSUPPORTED when the
 * kernel refuses to mount the overlay: nothing ran, and directory mode
 * may serve); a command that ran and failed is not an error but an exit
 * status. */
#ifndef HOIST_SANDBOX_H
#define HOIST_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hoist/ctx.h"
#include "hoist/error.h"
#include "hoist/io.h"

typedef enum hoist_sandbox_net {
	HOIST_SANDBOX_NET_HOST = 0, /* share the host's network namespace */
	HOIST_SANDBOX_NET_NONE,     /* a new namespace with only lo, up */
} hoist_sandbox_net;

typedef enum hoist_sandbox_mount_type {
	/* source (a host file or directory) bound on target, recursively.
	 * RUN --mount=type=cache (read-write) and type=bind (readonly). */
	HOIST_SANDBOX_MOUNT_BIND = 0,
	/* a fresh tmpfs on target: mode (0: 01777), size (0: kernel
	 * default), readonly. */
	HOIST_SANDBOX_MOUNT_TMPFS,
	/* RUN --mount=type=secret: the contents of the host file source are
	 * copied into a private tmpfs (never into the image) and that copy
	 * is bound read-only on target, owned uid:gid with mode (0: 0400). */
	HOIST_SANDBOX_MOUNT_SECRET,
} hoist_sandbox_mount_type;

typedef struct hoist_sandbox_mount {
	hoist_sandbox_mount_type type;
	const char *source; /* host path: BIND, SECRET */
	const char *target; /* absolute path inside the sandbox */
	bool readonly;      /* BIND, TMPFS (SECRET is always read-only) */
	mode_t mode;        /* TMPFS, SECRET */
	uint64_t size;      /* TMPFS, bytes */
	uid_t uid;          /* SECRET: owner inside the sandbox */
	gid_t gid;
} hoist_sandbox_mount;

/* Do not mount /sys (else sysfs read-only, or a read-only bind of the
 * host's /sys where sysfs may not be mounted). */
#define HOIST_SANDBOX_NO_SYS 0x1u
/* Do not bind /etc/resolv.conf and /etc/hosts. */
#define HOIST_SANDBOX_NO_NETFILES 0x2u

/* Everything is borrowed for the duration of hoist_sandbox_run. */
typedef struct hoist_sandbox_opts {
	hoist_ctx *ctx; /* log sink for warnings; may be NULL */

	/* Root filesystem, overlay mode: lower dirs, topmost first (may be
	 * empty, for FROM scratch), and the upper and work dirs (same
	 * filesystem, caller-owned, upper normally empty). */
	const char *const *lowers;
	size_t n_lowers;
	const char *upper;
	const char *work;
	/* Root filesystem, directory mode (when upper is NULL): this
	 * directory, modified in place. */
	const char *rootfs;

	/* The command.  argv[0] without a '/' is looked up in the PATH of
	 * env (else the usual default PATH) inside the root. */
	const char *const *argv;
	/* The environment, exactly (NULL-terminated; NULL: empty).  Nothing
	 * is inherited from the caller. */
	const char *const *env;
	const char *cwd;      /* absolute; NULL: "/"; must exist unless: */
	bool make_cwd;        /* create it (and its parents, 0755, as root) */
	const char *user;     /* "name", "uid", "name:group", "uid:gid"; NULL: root */
	const char *hostname; /* NULL: "hoist" */
	hoist_sandbox_net net;

	/* Extra mounts, done in this order after /proc, /dev, /sys,
	 * /etc/resolv.conf and /etc/hosts (so put parents before children). */
	const hoist_sandbox_mount *mounts;
	size_t n_mounts;
	/* Host files bound read-only on /etc/resolv.conf and /etc/hosts;
	 * NULL: the host's own.  A default file the host lacks is skipped. */
	const char *resolv_conf;
	const char *hosts;
	unsigned flags; /* HOIST_SANDBOX_* */

	/* The command's stdin, stdout, stderr: caller fds (not closed here),
	 * or -1 for /dev/null.  hoist_sandbox_opts_init sets 0, 1, 2. */
	int stdin_fd;
	int stdout_fd;
	int stderr_fd;

	/* Non-zero: the command starts only once CLOCK_REALTIME_COARSE has
	 * passed this time (so that any file it changes gets a ctime after
	 * it), waiting at most 5 s. */
	struct timespec start_after;

	/* After forwarding SIGINT/SIGTERM, how long to wait before SIGKILL;
	 * 0: 10000. */
	int stop_timeout_ms;

	/* Non-NULL: do not wait for the sandbox's mounts to go.  Unmounting
	 * an overlay root takes time in proportion to the files the command
	 * touched (0.2-0.3 s for 100,000 new files) and otherwise delays the
	 * return.  With this set, the mount namespace is kept alive past the
	 * command's end and released by a background thread, which
	 * hoist_sandbox_run returns in *unmount (NULL when nothing was
	 * deferred); the caller may read the upper directory at once, but
	 * must call hoist_sandbox_unmount_wait before deleting the work
	 * directory (the overlay holds it until unmounted). */
	struct hoist_sandbox_unmount **unmount;
} hoist_sandbox_opts;

typedef struct hoist_sandbox_unmount hoist_sandbox_unmount;

/* Waits until the deferred unmount is done and frees u (NULL: nothing). */
void hoist_sandbox_unmount_wait(hoist_sandbox_unmount *u);

/* Zeroes o and sets the stdio fds to 0, 1, 2. */
void hoist_sandbox_opts_init(hoist_sandbox_opts *o);

/* Runs opts->argv in a new sandbox and waits for it.  Returns 0 when the
 * command ran, with *exit_status its exit code, or 128+N when a signal N
 * killed it.  Returns HOIST_E_INVALID for bad options, HOIST_E_IO when
 * the sandbox could not be set up or the command could not be started
 * (*exit_status = -1; the message says which step failed, e.g. "sandbox:
 * exec 'make': executable file not found in $PATH"), and
 * HOIST_E_INTERRUPTED when SIGINT/SIGTERM arrived during the run (the
 * command was stopped; *exit_status still holds how it ended). */
int hoist_sandbox_run(const hoist_sandbox_opts *opts, int *exit_status,
	hoist_error **err);

/* The xattr prefix the overlay uses for whiteout bookkeeping in the upper
 * dir when run by this process: "trusted.overlay." or "user.overlay."
 * (static string). */
const char *hoist_sandbox_overlay_xattr_prefix(void);

/* USER resolution, as Docker (runc) does it. */
#define HOIST_SANDBOX_MAX_GROUPS 1024
typedef struct hoist_sandbox_user {
	uid_t uid;
	gid_t gid;
	size_t n_groups; /* supplementary groups, not counting gid */
	gid_t groups[HOIST_SANDBOX_MAX_GROUPS];
} hoist_sandbox_user;

/* Resolves spec ("name", "uid", "name:group", "uid:gid", "name:gid",
 * "uid:group"; NULL or "" is root) against etc/passwd and etc/group of the
 * tree at rootfd, opened inside it (symlinks cannot lead out).  A name
 * must have an entry (HOIST_E_NOTFOUND "unable to find user NAME: no
 * matching entries in passwd file", likewise for groups); numeric ids need
 * none, but a uid found in passwd takes its gid from there.  Supplementary
 * groups are those of /etc/group that list the user's name, only when no
 * group was given. Ids above 2^31-1 are HOIST_E_INVALID. */
int hoist_sandbox_user_resolve(hoist_sandbox_user *out, int rootfd,
	const char *spec, hoist_error **err);

/* Applies a layer (hoist_layer_apply) so that its files get the owners the
 * layer asks for, as a sandbox will see them: as real root directly; as
 * anyone else with subordinate ids inside a user namespace mapped like the
 * sandbox's (newuidmap), so files owned by uid 1000 in the layer are owned
 * by the matching subordinate id on disk; with no subordinate ids, as the
 * caller (owners cannot be kept). */
struct hoist_apply_opts;
int hoist_sandbox_apply_layer(int rootfd, hoist_reader *tar,
	const struct hoist_apply_opts *o, hoist_error **err);

/* A helper: a fork of the caller that entered a user namespace mapped as
 * the sandbox's (newuidmap with the caller's subordinate ids) and became
 * its root, to create, chown, move or delete files of a rootless
 * sandbox's ids, which the caller itself may not.  It runs fn(ud, sock)
 * and exits (0 when fn returned 0); sock is a stream socket to the caller
 * (hoist_sandbox_helper_sock).  Meant for callers without root that have
 * subordinate ids (hoist_sandbox_needs_helper). */
typedef struct hoist_sandbox_helper hoist_sandbox_helper;
/* Whether a sandbox's files may belong to ids the caller cannot act as:
 * not real root, and subordinate ids to map (through newuidmap). */
bool hoist_sandbox_needs_helper(void);
typedef int (*hoist_sandbox_helper_fn)(void *ud, int sock);
int hoist_sandbox_helper_start(hoist_sandbox_helper **out,
	hoist_sandbox_helper_fn fn, void *ud, hoist_error **err);
int hoist_sandbox_helper_sock(const hoist_sandbox_helper *h);
/* Closes the caller's end of the socket, waits for the helper to exit
 * and frees h; fails unless the helper's function returned 0. */
int hoist_sandbox_helper_wait(hoist_sandbox_helper *h, hoist_error **err);

/* Deletes the tree at path, which may hold files of a rootless sandbox's
 * subordinate ids (through a helper when the caller cannot). */
int hoist_sandbox_rm_rf(const char *path, hoist_error **err);

/* The ids a rootless sandbox's files carry on disk, mapped back to the ids
 * they had inside (for the layer made of a RUN's upper dir): the caller's
 * id is 0, subordinate ids count from 1 in /etc/subuid order.  As real
 * root (no user namespace) ids map to themselves.  Unmapped ids give -1. */
typedef struct hoist_sandbox_idmap hoist_sandbox_idmap;
int hoist_sandbox_idmap_new(hoist_sandbox_idmap **out, hoist_error **err);
void hoist_sandbox_idmap_free(hoist_sandbox_idmap *m);
int64_t hoist_sandbox_idmap_uid(const hoist_sandbox_idmap *m, uint32_t host);
int64_t hoist_sandbox_idmap_gid(const hoist_sandbox_idmap *m, uint32_t host);

#endif

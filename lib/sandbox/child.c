/* The sandbox child: runs in the new namespaces, builds the root, drops
 * privileges and execs.  It never returns and never fails silently: every
 * failure is sent to the parent (step + errno) before _exit(127).  It does
 * not allocate (see internal.h).
 *
 * Layout while building, after the first pivot_root into a private tmpfs
 * (bubblewrap's trick, so host paths stay reachable under /oldroot even
 * where the tmpfs was mounted):
 *   /oldroot   the host's root
 *   /newroot   the root being built (overlay or bind of the directory)
 *   /stubs     the stub lower layer: missing mount points (overlay mode)
 *   /empty     an empty lower layer for FROM scratch
 *   /secrets   copies of secret files
 *   /l0.. /u /w  short symlinks to the layers, to keep the overlay option
 *              string within a page whatever the host paths are
 * then the second pivot_root(".", ".") into /newroot and a lazy unmount of
 * everything else (runc's way). */
#include "sandbox/internal.h"
#include "util/cleanup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Docker's default capability set, which RUN steps get. */
static const int keep_caps[] = {
	CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID, CAP_FOWNER, CAP_MKNOD,
	CAP_NET_RAW, CAP_SETGID, CAP_SETUID, CAP_SETFCAP, CAP_SETPCAP,
	CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_KILL, CAP_AUDIT_WRITE,
};

/* Docker's masked and read-only paths of /proc. */
static const char *const proc_masked[] = {
	"acpi", "asound", "interrupts", "kcore", "keys", "latency_stats",
	"timer_list", "timer_stats", "sched_debug", "scsi",
};
static const char *const proc_readonly[] = {
	"bus", "fs", "irq", "sys", "sysrq-trigger",
};

static const char *const dev_nodes[] = {
	"null", "zero", "full", "random", "urandom", "tty",
};

static void send_msg(const sbx_plan *p, sbx_msg *m)
{
	size_t n = offsetof(sbx_msg, text) + strlen(m->text) + 1;
	while (send(p->sock, m, n, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

/* Reports the failure of step fmt (with strerror(e) unless 0) as a
 * HOIST_E_* code (0: HOIST_E_IO) and ends the child. */
static _Noreturn void vdie(const sbx_plan *p, int e, int code, const char *fmt,
	va_list ap)
{
	sbx_msg m = { .kind = SBX_MSG_ERROR, .err = e, .level = code };
	vsnprintf(m.text, sizeof(m.text), fmt, ap);
	send_msg(p, &m);
	_exit(127);
}

__attribute__((format(printf, 3, 4)))
static _Noreturn void die(const sbx_plan *p, int e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vdie(p, e, 0, fmt, ap);
}

/* The kernel refused to mount the overlay: HOIST_E_UNSUPPORTED (nothing
 * ran; the caller may use directory mode instead). */
__attribute__((format(printf, 3, 4)))
static _Noreturn void die_no_overlay(const sbx_plan *p, int e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vdie(p, e, HOIST_E_UNSUPPORTED, fmt, ap);
}

__attribute__((format(printf, 4, 5)))
static void say(const sbx_plan *p, int level, int e, const char *fmt, ...)
{
	sbx_msg m = { .kind = SBX_MSG_LOG, .err = e, .level = level };
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m.text, sizeof(m.text), fmt, ap);
	va_end(ap);
	send_msg(p, &m);
}

/* snprintf into a path buffer, or die: a path that does not fit is a
 * failure to report, not to truncate. */
__attribute__((format(printf, 4, 5)))
static void pathf(const sbx_plan *p, char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap)
		die(p, ENAMETOOLONG, "path '%s'", buf);
}

static const char *rel(const char *canon)
{
	return canon[1] ? canon + 1 : ".";
}

static void make_readonly(const sbx_plan *p, const char *path, bool recursive,
	const char *what)
{
	struct mount_attr a = { .attr_set = MOUNT_ATTR_RDONLY };
	if (syscall(SYS_mount_setattr, AT_FDCWD, path,
		    recursive ? AT_RECURSIVE : 0, &a, sizeof(a)) == 0)
		return;
	if (errno != ENOSYS)
		die(p, errno, "make %s read-only", what);
	/* Before 5.12: a remount must repeat the flags that are locked in a
	 * user namespace. */
	struct statvfs sv;
	if (statvfs(path, &sv) < 0)
		die(p, errno, "statvfs %s", what);
	unsigned long fl = MS_REMOUNT | MS_BIND | MS_RDONLY;
	fl |= (sv.f_flag & ST_NOSUID ? MS_NOSUID : 0)
		| (sv.f_flag & ST_NODEV ? MS_NODEV : 0)
		| (sv.f_flag & ST_NOEXEC ? MS_NOEXEC : 0)
		| (sv.f_flag & ST_NOATIME ? MS_NOATIME : 0)
		| (sv.f_flag & ST_NODIRATIME ? MS_NODIRATIME : 0)
		| (sv.f_flag & ST_RELATIME ? MS_RELATIME : 0);
	if (mount(NULL, path, NULL, fl, NULL) < 0)
		die(p, errno, "make %s read-only", what);
}

static void reset_signals(void)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	struct sigaction sa = { .sa_handler = SIG_DFL };
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &sa, NULL);
}

/* Waits for the parent to write our id maps (or just to say go). */
static void handshake(const sbx_plan *p)
{
	sbx_msg m = { .kind = SBX_MSG_READY };
	send_msg(p, &m);
	char go = 0;
	ssize_t k;
	do {
		k = recv(p->sock, &go, 1, 0);
	} while (k < 0 && errno == EINTR);
	if (k != 1 || go != SBX_MSG_GO)
		_exit(127); /* the parent gave up and reports why */
}

/* Overlay options: the common part. */
static void overlay_opts(const sbx_plan *p, char *buf, size_t cap,
	const char *lowers, bool with_upper)
{
	pathf(p, buf, cap, "lowerdir=%s%s%s,index=off,metacopy=off,"
		"redirect_dir=nofollow", lowers,
		with_upper ? ",upperdir=/u,workdir=/w" : "",
		p->userxattr ? ",userxattr" : "");
}

/* first (if any), then the caller's lowers; "/empty" stands in for
 * none, so that even FROM scratch has the lower the kernel requires (two
 * for the read-only probe, which has no upper). */
static void lower_list(const sbx_plan *p, char *buf, size_t cap,
	const char *first)
{
	size_t n = 0;
	buf[0] = '\0';
	if (first) {
		pathf(p, buf, cap, "%s", first);
		n = strlen(buf);
	}
	for (size_t i = 0; i < p->n_lowers; i++) {
		int w = snprintf(buf + n, cap - n, "%s/l%zu", n ? ":" : "", i);
		if (w < 0 || (size_t)w >= cap - n)
			die(p, E2BIG, "overlay lower list");
		n += (size_t)w;
	}
	if (p->n_lowers == 0)
		pathf(p, buf + n, cap - n, "%s/empty", n ? ":" : "");
}

/* Puts the missing part of m->canon (found in the read-only view at
 * viewfd) into the stub layer at stubsfd: directories as they are in the
 * view for the existing part, new ones for the rest, and the mount point
 * itself. */
static void stub_create(const sbx_plan *p, int stubsfd, const sbx_mnt *m)
{
	size_t miss = m->stub_miss;
	char part[SBX_PATH_MAX];
	size_t len = strlen(m->canon);
	for (size_t i = 1; i <= len; i++) {
		if (m->canon[i] != '/' && m->canon[i] != '\0')
			continue;
		memcpy(part, m->canon, i);
		part[i] = '\0';
		bool last = i == len;
		if (last && !m->dir) {
			int fd = openat(stubsfd, part + 1,
				O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
			if (fd < 0)
				die(p, errno, "create mount point stub '%s'", part);
			close(fd);
		} else if (mkdirat(stubsfd, part + 1, i <= miss ? 0700 : 0755) < 0
			&& errno != EEXIST) {
			die(p, errno, "create mount point stub '%s'", part);
		}
	}
}

/* Gives the stub copies of existing directories the owner, mode and times
 * of the originals, since the topmost layer decides them in the merged
 * view.  Runs after all stubs exist: creating entries changes mtimes. */
static void stub_copy_meta(const sbx_plan *p, int viewfd, int stubsfd,
	const sbx_mnt *m)
{
	size_t miss = m->stub_miss;
	char part[SBX_PATH_MAX];
	/* Not the root: the upper dir's own root always tops it. */
	for (size_t i = 1; i <= miss; i++) {
		if (m->canon[i] != '/' && m->canon[i] != '\0')
			continue;
		memcpy(part, m->canon, i);
		part[i] = '\0';
		struct stat st;
		if (fstatat(viewfd, rel(part), &st, AT_SYMLINK_NOFOLLOW) < 0)
			die(p, errno, "stat '%s'", part);
		/* An owner outside our id mapping cannot be set; the merged
		 * directory then shows the stub's owner, root. */
		if (fchownat(stubsfd, rel(part), st.st_uid, st.st_gid,
			    AT_SYMLINK_NOFOLLOW) < 0
			&& errno != EINVAL && errno != EPERM)
			die(p, errno, "chown mount point stub '%s'", part);
		if (fchmodat(stubsfd, rel(part), st.st_mode & 07777, 0) < 0)
			die(p, errno, "chmod mount point stub '%s'", part);
		struct timespec ts[2] = { st.st_atim, st.st_mtim };
		if (utimensat(stubsfd, rel(part), ts, AT_SYMLINK_NOFOLLOW) < 0)
			die(p, errno, "set times of mount point stub '%s'", part);
	}
}

static bool under_earlier(const sbx_plan *p, size_t i, bool only_mounted)
{
	for (size_t j = 0; j < i; j++) {
		const sbx_mnt *o = &p->mnts[j];
		if ((!only_mounted || o->mounted) && o->canon[0]
			&& sbx_path_under(p->mnts[i].canon, o->canon))
			return true;
	}
	return false;
}

/* Overlay mode: looks at upper + lowers read-only, makes the stub layer
 * for missing mount points, then mounts the real overlay. */
static void mount_overlay(const sbx_plan *p)
{
	char lowers[SBX_PATH_MAX], opts[SBX_PATH_MAX];
	char link[SBX_PATH_MAX + 16], name[32];
	for (size_t i = 0; i < p->n_lowers; i++) {
		snprintf(name, sizeof(name), "/l%zu", i);
		pathf(p, link, sizeof(link), "/oldroot%s", p->lowers[i]);
		if (symlink(link, name) < 0)
			die(p, errno, "symlink '%s'", name);
	}
	pathf(p, link, sizeof(link), "/oldroot%s", p->upper);
	if (symlink(link, "/u") < 0)
		die(p, errno, "symlink '/u'");
	pathf(p, link, sizeof(link), "/oldroot%s", p->work);
	if (symlink(link, "/w") < 0)
		die(p, errno, "symlink '/w'");

	lower_list(p, lowers, sizeof(lowers), "/u");
	overlay_opts(p, opts, sizeof(opts), lowers, false);
	/* Tests make the kernel refuse the overlay with this errno (the
	 * fallback to a copy cannot be tested otherwise on a host that has
	 * overlayfs). */
	const char *inject = getenv("HOIST_SANDBOX_TEST_OVERLAY_ERRNO");
	long refuse = inject ? strtol(inject, NULL, 10) : 0;
	if (refuse > 0)
		errno = (int)refuse;
	if (refuse > 0 ||
		mount("overlay", "/newroot", "overlay", MS_RDONLY, opts) < 0)
		die_no_overlay(p, errno, "mount read-only overlay of upper '%s' and %zu lower "
			"dirs", p->upper, p->n_lowers);
	int viewfd = open("/newroot", O_PATH | O_DIRECTORY | O_CLOEXEC);
	int stubsfd = open("/stubs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (viewfd < 0 || stubsfd < 0)
		die(p, errno, "open the staging directories");

	bool any = false;
	for (size_t i = 0; i < p->n_mnts; i++) {
		sbx_mnt *m = &p->mnts[i];
		int r = sbx_path_resolve(viewfd, m->target, m->canon,
			sizeof(m->canon), &m->stub_miss);
		if (r < 0)
			die(p, -r, "mount point '%s'", m->target);
		m->stubbed = m->canon[m->stub_miss] != '\0'
			&& !under_earlier(p, i, false);
		if (m->stubbed) {
			stub_create(p, stubsfd, m);
			any = true;
		}
	}
	for (size_t i = 0; i < p->n_mnts; i++)
		if (p->mnts[i].stubbed)
			stub_copy_meta(p, viewfd, stubsfd, &p->mnts[i]);
	close(viewfd);
	close(stubsfd);
	if (umount2("/newroot", 0) < 0)
		die(p, errno, "unmount the read-only overlay");

	lower_list(p, lowers, sizeof(lowers), any ? "/stubs" : NULL);
	overlay_opts(p, opts, sizeof(opts), lowers, true);
	if (mount("overlay", "/newroot", "overlay",
		    p->harden_dev ? MS_NODEV : 0, opts) < 0)
		die_no_overlay(p, errno, "mount overlay with upper '%s', work '%s' and %zu "
			"lower dirs", p->upper, p->work, p->n_lowers);
}

static void mount_dir_root(const sbx_plan *p)
{
	char src[SBX_PATH_MAX + 16];
	pathf(p, src, sizeof(src), "/oldroot%s", p->rootfs);
	if (mount(src, "/newroot", NULL, MS_BIND | MS_REC, NULL) < 0)
		die(p, errno, "bind the root directory '%s'", p->rootfs);
	if (p->harden_dev) {
		struct mount_attr a = { .attr_set = MOUNT_ATTR_NODEV };
		if (syscall(SYS_mount_setattr, AT_FDCWD, "/newroot", AT_RECURSIVE,
			    &a, sizeof(a)) < 0
			&& mount(NULL, "/newroot", NULL, MS_REMOUNT | MS_BIND | MS_NODEV,
				   NULL) < 0)
			die(p, errno, "make the root directory nodev");
	}
}

/* Creates what is missing of m->canon in the current view (mount points
 * under earlier mounts, and in directory mode everything) and reports
 * those made in the root itself, so the parent removes them afterwards. */
static void make_mount_point(const sbx_plan *p, int rootfd, sbx_mnt *m,
	size_t miss, bool report)
{
	char part[SBX_PATH_MAX];
	size_t len = strlen(m->canon);
	for (size_t i = miss + 1; i <= len; i++) {
		if (m->canon[i] != '/' && m->canon[i] != '\0')
			continue;
		memcpy(part, m->canon, i);
		part[i] = '\0';
		bool last = i == len;
		sbx_msg msg = { .kind = SBX_MSG_CREATED, .is_dir = !(last && !m->dir) };
		char parent[SBX_PATH_MAX];
		memcpy(parent, part, i);
		parent[i] = '\0';
		char *slash = strrchr(parent, '/');
		if (slash == parent)
			slash[1] = '\0';
		else
			*slash = '\0';
		struct stat st;
		if (fstatat(rootfd, rel(parent), &st, 0) < 0)
			die(p, errno, "stat '%s'", parent);
		msg.parent_before = st.st_mtim;
		if (msg.is_dir) {
			if (mkdirat(rootfd, part + 1, 0755) < 0)
				die(p, errno, "create mount point '%s'", part);
		} else {
			int fd = openat(rootfd, part + 1, O_WRONLY | O_CREAT | O_EXCL
				| O_CLOEXEC | O_NOFOLLOW, 0644);
			if (fd < 0)
				die(p, errno, "create mount point '%s'", part);
			close(fd);
		}
		if (fstatat(rootfd, rel(parent), &st, 0) < 0)
			die(p, errno, "stat '%s'", parent);
		msg.parent_after = st.st_mtim;
		if (report) {
			pathf(p, msg.text, sizeof(msg.text), "%s", part);
			send_msg(p, &msg);
		}
	}
}

static void mask_proc(const sbx_plan *p, const char *proc)
{
	char path[SBX_PATH_MAX];
	struct stat st;
	for (size_t i = 0; i < HOIST_ARRAY_SIZE(proc_masked); i++) {
		pathf(p, path, sizeof(path), "%s/%s", proc, proc_masked[i]);
		if (lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID
				    | MS_NODEV | MS_NOEXEC, "size=0") < 0)
				die(p, errno, "mask '/proc/%s'", proc_masked[i]);
		} else if (mount("/oldroot/dev/null", path, NULL, MS_BIND, NULL) < 0) {
			die(p, errno, "mask '/proc/%s'", proc_masked[i]);
		}
	}
	for (size_t i = 0; i < HOIST_ARRAY_SIZE(proc_readonly); i++) {
		pathf(p, path, sizeof(path), "%s/%s", proc, proc_readonly[i]);
		if (lstat(path, &st) < 0)
			continue;
		if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
			die(p, errno, "bind '/proc/%s'", proc_readonly[i]);
		char what[64];
		snprintf(what, sizeof(what), "'/proc/%s'", proc_readonly[i]);
		make_readonly(p, path, true, what);
	}
}

static void setup_dev(const sbx_plan *p, const char *dev)
{
	char path[SBX_PATH_MAX], src[64];
	if (mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV
		    | MS_STRICTATIME, "mode=0755,size=65536k") < 0)
		die(p, errno, "mount tmpfs on '/dev'");
	int dfd = open(dev, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		die(p, errno, "open '/dev'");
	for (size_t i = 0; i < HOIST_ARRAY_SIZE(dev_nodes); i++) {
		snprintf(src, sizeof(src), "/oldroot/dev/%s", dev_nodes[i]);
		struct stat st;
		int e = stat(src, &st) < 0 ? errno : S_ISCHR(st.st_mode) ? 0 : ENODEV;
		if (e) {
			/* A host without /dev/tty (no console) is common;
			 * the rest are not optional. */
			if (strcmp(dev_nodes[i], "tty") == 0)
				continue;
			die(p, e, "host device '/dev/%s'", dev_nodes[i]);
		}
		int fd = openat(dfd, dev_nodes[i], O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
		if (fd < 0)
			die(p, errno, "create '/dev/%s'", dev_nodes[i]);
		close(fd);
		pathf(p, path, sizeof(path), "%s/%s", dev, dev_nodes[i]);
		if (mount(src, path, NULL, MS_BIND, NULL) < 0)
			die(p, errno, "bind '/dev/%s'", dev_nodes[i]);
	}
	if (mkdirat(dfd, "pts", 0755) < 0 || mkdirat(dfd, "shm", 01777) < 0)
		die(p, errno, "mkdir in '/dev'");
	pathf(p, path, sizeof(path), "%s/pts", dev);
	/* gid=5 (tty) only exists where gid 5 is mapped. */
	if (mount("devpts", path, "devpts", MS_NOSUID | MS_NOEXEC,
		    "newinstance,ptmxmode=0666,mode=0620,gid=5") < 0
		&& mount("devpts", path, "devpts", MS_NOSUID | MS_NOEXEC,
			   "newinstance,ptmxmode=0666,mode=0620") < 0) {
		say(p, HOIST_LOG_DEBUG, errno, "no /dev/pts: mount devpts");
	} else if (symlinkat("pts/ptmx", dfd, "ptmx") < 0) {
		die(p, errno, "symlink '/dev/ptmx'");
	}
	pathf(p, path, sizeof(path), "%s/shm", dev);
	if (mount("shm", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		    "mode=1777,size=65536k") < 0)
		die(p, errno, "mount tmpfs on '/dev/shm'");
	static const char *const links[][2] = {
		{ "/proc/self/fd", "fd" },
		{ "/proc/self/fd/0", "stdin" },
		{ "/proc/self/fd/1", "stdout" },
		{ "/proc/self/fd/2", "stderr" },
	};
	for (size_t i = 0; i < HOIST_ARRAY_SIZE(links); i++)
		if (symlinkat(links[i][0], dfd, links[i][1]) < 0)
			die(p, errno, "symlink '/dev/%s'", links[i][1]);
	close(dfd);
}

static void setup_sys(const sbx_plan *p, const char *sys)
{
	/* sysfs needs a network namespace we own; else bind the host's. */
	if (mount("sysfs", sys, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV
		    | MS_NOEXEC, NULL) < 0) {
		int e = errno;
		if (mount("/oldroot/sys", sys, NULL, MS_BIND | MS_REC, NULL) < 0)
			die(p, e, "mount sysfs on '/sys' (and the bind fallback: "
				"errno %d)", errno);
		make_readonly(p, sys, true, "'/sys'");
	}
	char path[SBX_PATH_MAX];
	pathf(p, path, sizeof(path), "%s/firmware", sys);
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)
		&& mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV
			   | MS_NOEXEC, "size=0") < 0)
		die(p, errno, "mask '/sys/firmware'");
}

static void setup_secret(const sbx_plan *p, size_t i, const sbx_mnt *m,
	const char *full)
{
	char src[SBX_PATH_MAX + 16], copy[64];
	pathf(p, src, sizeof(src), "/oldroot%s", m->source);
	snprintf(copy, sizeof(copy), "/secrets/%zu", i);
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		die(p, errno, "open secret '%s'", m->source);
	int out = open(copy, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		die(p, errno, "create copy of secret '%s'", m->source);
	char buf[16384];
	for (;;) {
		ssize_t k = read(in, buf, sizeof(buf));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			die(p, errno, "read secret '%s'", m->source);
		if (k == 0)
			break;
		for (ssize_t off = 0; off < k;) {
			ssize_t w = write(out, buf + off, (size_t)(k - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				die(p, errno, "copy secret '%s'", m->source);
			off += w;
		}
	}
	close(in);
	if (fchown(out, m->uid, m->gid) < 0)
		die(p, errno, "chown secret '%s' to %u:%u", m->target,
			(unsigned)m->uid, (unsigned)m->gid);
	if (fchmod(out, m->mode ? m->mode : 0400) < 0)
		die(p, errno, "chmod secret '%s'", m->target);
	close(out);
	if (mount(copy, full, NULL, MS_BIND, NULL) < 0)
		die(p, errno, "bind secret on '%s'", m->target);
	char what[SBX_PATH_MAX + 16];
	pathf(p, what, sizeof(what), "'%s'", m->target);
	make_readonly(p, full, false, what);
}

static void do_mounts(const sbx_plan *p)
{
	int rootfd = open("/newroot", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		die(p, errno, "open the new root");
	char full[SBX_PATH_MAX + 16], src[SBX_PATH_MAX + 16], what[SBX_PATH_MAX + 16];
	for (size_t i = 0; i < p->n_mnts; i++) {
		sbx_mnt *m = &p->mnts[i];
		size_t miss;
		/* Again, in the view with the stubs and earlier mounts. */
		int r = sbx_path_resolve(rootfd, m->target, m->canon,
			sizeof(m->canon), &miss);
		if (r < 0)
			die(p, -r, "mount point '%s'", m->target);
		/* Reported (and removed afterwards) only when it lands in
		 * the root itself, not inside an earlier mount. */
		if (m->canon[miss] != '\0')
			make_mount_point(p, rootfd, m, miss,
				!under_earlier(p, i, true));
		/* mount(2) takes the canonical path as a string: each of
		 * its components was just seen to be a real directory (no
		 * symlink to follow out of the root), and nothing else runs
		 * in the new root yet to change that. */
		pathf(p, full, sizeof(full), "/newroot%s", m->canon);
		pathf(p, what, sizeof(what), "'%s'", m->target);
		switch (m->kind) {
		case SBX_MNT_PROC:
			if (mount("proc", full, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
				    NULL) < 0)
				die(p, errno, "mount proc on '%s'", m->target);
			mask_proc(p, full);
			break;
		case SBX_MNT_DEV:
			setup_dev(p, full);
			break;
		case SBX_MNT_SYS:
			setup_sys(p, full);
			break;
		case SBX_MNT_BIND:
			pathf(p, src, sizeof(src), "/oldroot%s", m->source);
			if (mount(src, full, NULL, MS_BIND | MS_REC, NULL) < 0)
				die(p, errno, "bind '%s' on '%s'", m->source, m->target);
			if (m->readonly)
				make_readonly(p, full, true, what);
			break;
		case SBX_MNT_TMPFS: {
			char o[96];
			if (m->size)
				snprintf(o, sizeof(o), "mode=%04o,size=%llu",
					(unsigned)(m->mode ? m->mode : 01777),
					(unsigned long long)m->size);
			else
				snprintf(o, sizeof(o), "mode=%04o",
					(unsigned)(m->mode ? m->mode : 01777));
			if (mount("tmpfs", full, "tmpfs", MS_NOSUID | MS_NODEV
				    | (m->readonly ? MS_RDONLY : 0), o) < 0)
				die(p, errno, "mount tmpfs on '%s'", m->target);
			break;
		}
		case SBX_MNT_SECRET:
			setup_secret(p, i, m, full);
			break;
		}
		m->mounted = true;
	}
	close(rootfd);
}

static void loopback_up(const sbx_plan *p)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		die(p, errno, "socket for bringing up 'lo'");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		die(p, errno, "get flags of 'lo'");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		die(p, errno, "bring up 'lo'");
	close(s);
}

static bool keep_cap(int c)
{
	for (size_t i = 0; i < HOIST_ARRAY_SIZE(keep_caps); i++)
		if (keep_caps[i] == c)
			return true;
	return false;
}

static void drop_caps(const sbx_plan *p)
{
	for (int c = 0; c < 64; c++) {
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) < 0)
			break; /* past the kernel's last capability */
		if (!keep_cap(c) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
			die(p, errno, "drop capability %d from the bounding set", c);
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0
		&& errno != EINVAL)
		die(p, errno, "clear ambient capabilities");
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) < 0)
		die(p, errno, "capget");
	uint32_t keep[2] = { 0, 0 };
	for (size_t i = 0; i < HOIST_ARRAY_SIZE(keep_caps); i++)
		keep[keep_caps[i] / 32] |= 1u << (keep_caps[i] % 32);
	for (int i = 0; i < 2; i++) {
		d[i].effective &= keep[i];
		d[i].permitted &= keep[i];
		d[i].inheritable &= keep[i];
	}
	if (syscall(SYS_capset, &h, d) < 0)
		die(p, errno, "capset");
}

static void set_user(const sbx_plan *p)
{
	const char *spec = p->o->user;
	int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		die(p, errno, "open '/'");
	hoist_sandbox_user u;
	char msg[512];
	if (sbx_user_resolve(&u, rootfd, spec, msg, sizeof(msg)) < 0)
		die(p, 0, "resolve user: %s", msg);
	close(rootfd);
	if (p->setgroups_ok && setgroups(u.n_groups, u.groups) < 0)
		die(p, errno, "setgroups for user '%s'", spec ? spec : "root");
	if (setresgid(u.gid, u.gid, u.gid) < 0)
		die(p, errno, "setgid %u for user '%s'%s", (unsigned)u.gid,
			spec ? spec : "root", p->userns && !p->setgroups_ok
			? " (only id 0 is mapped: no subordinate ids)" : "");
	if (setresuid(u.uid, u.uid, u.uid) < 0)
		die(p, errno, "setuid %u for user '%s'%s", (unsigned)u.uid,
			spec ? spec : "root", p->userns && !p->setgroups_ok
			? " (only id 0 is mapped: no subordinate ids)" : "");
}

/* stdin/stdout/stderr from the caller's fds (or /dev/null), moved out of
 * the way first so that any overlap of numbers is harmless. */
static void setup_stdio(const sbx_plan *p)
{
	int want[3] = { p->o->stdin_fd, p->o->stdout_fd, p->o->stderr_fd };
	int tmp[3];
	static const char *const names[3] = { "stdin", "stdout", "stderr" };
	for (int i = 0; i < 3; i++) {
		int src = want[i];
		bool opened = false;
		if (src < 0) {
			src = open("/dev/null", O_RDWR | O_CLOEXEC);
			if (src < 0)
				die(p, errno, "open '/dev/null' for %s", names[i]);
			opened = true;
		}
		tmp[i] = fcntl(src, F_DUPFD_CLOEXEC, 3);
		if (tmp[i] < 0)
			die(p, errno, "%s fd %d", names[i], want[i]);
		if (opened)
			close(src);
	}
	for (int i = 0; i < 3; i++)
		if (dup2(tmp[i], i) < 0)
			die(p, errno, "dup2 %s", names[i]);
}

static void close_fds(const sbx_plan *p)
{
	if (syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) == 0)
		return;
	int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		die(p, errno, "open '/proc/self/fd'");
	char buf[4096] __attribute__((aligned(8)));
	for (;;) {
		long n = syscall(SYS_getdents64, dfd, buf, sizeof(buf));
		if (n < 0)
			die(p, errno, "read '/proc/self/fd'");
		if (n == 0)
			break;
		for (long off = 0; off < n;) {
			struct dirent64 *de = (void *)(buf + off);
			char *end;
			long fd = strtol(de->d_name, &end, 10);
			if (*de->d_name && !*end && fd > 2 && fd != dfd)
				fcntl((int)fd, F_SETFD, FD_CLOEXEC);
			off += de->d_reclen;
		}
	}
	close(dfd);
}

static const char *env_path(const sbx_plan *p)
{
	const char *const *env = p->o->env;
	for (size_t i = 0; env && env[i]; i++)
		if (strncmp(env[i], "PATH=", 5) == 0)
			return env[i] + 5;
	return DEFAULT_PATH;
}

/* The working directory and its missing parents, as root of the new root
 * (0755, like Docker's WORKDIR); an overlay copies up the parents. */
static void make_cwd(const sbx_plan *p, const char *cwd)
{
	char part[SBX_PATH_MAX];
	size_t len = strlen(cwd);
	if (len >= sizeof(part))
		die(p, ENAMETOOLONG, "working directory '%s'", cwd);
	mode_t old = umask(022);
	for (size_t i = 1; i <= len; i++) {
		if (cwd[i] != '/' && cwd[i] != '\0')
			continue;
		memcpy(part, cwd, i);
		part[i] = '\0';
		if (mkdir(part, 0755) < 0 && errno != EEXIST)
			die(p, errno, "create working directory '%s'", part);
	}
	umask(old);
}

static _Noreturn void do_exec(const sbx_plan *p)
{
	static const char *const empty_env[] = { NULL };
	const char *const *argv = p->o->argv;
	char *const *av = (char *const *)argv;
	char *const *ev = (char *const *)(p->o->env ? p->o->env : empty_env);
	/* RUN on a copy: whatever the command changes must get a later ctime
	 * than the copy's files had (timestamps come from the coarse clock);
	 * waiting here overlaps the wait with setting up the sandbox */
	const struct timespec *after = &p->o->start_after;
	/* (at most 5 s: a clock set back must not hang the build) */
	for (int i = 0; (after->tv_sec || after->tv_nsec) && i < 10000; i++) {
		struct timespec now, ms = { 0, 500000 };
		clock_gettime(CLOCK_REALTIME_COARSE, &now);
		if (now.tv_sec > after->tv_sec ||
			(now.tv_sec == after->tv_sec && now.tv_nsec > after->tv_nsec))
			break;
		nanosleep(&ms, NULL);
	}
	sbx_msg m = { .kind = SBX_MSG_EXEC };
	send_msg(p, &m);
	if (strchr(argv[0], '/')) {
		execve(argv[0], av, ev);
		die(p, errno, "exec '%s'", argv[0]);
	}
	/* Like Go's exec.LookPath (what Docker does): the first regular,
	 * executable file in PATH; its exec error is the answer. */
	const char *path = env_path(p);
	bool eacces = false;
	char file[SBX_PATH_MAX];
	while (*path) {
		const char *e = strchr(path, ':');
		size_t n = e ? (size_t)(e - path) : strlen(path);
		if (n > 0) {
			int w = snprintf(file, sizeof(file), "%.*s/%s", (int)n, path,
				argv[0]);
			struct stat st;
			if (w > 0 && (size_t)w < sizeof(file) && stat(file, &st) == 0
				&& S_ISREG(st.st_mode)) {
				if (access(file, X_OK) == 0) {
					execve(file, av, ev);
					die(p, errno, "exec '%s'", file);
				}
				eacces = true;
			}
		}
		path += n;
		if (*path == ':')
			path++;
	}
	if (eacces)
		die(p, EACCES, "exec '%s'", argv[0]);
	die(p, 0, "exec '%s': executable file not found in $PATH", argv[0]);
}

_Noreturn void sbx_child_main(sbx_plan *p)
{
	const hoist_sandbox_opts *o = p->o;
	close(p->parent_sock);
	reset_signals();
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	/* A caller that dropped privileges is not dumpable, which would make
	 * our /proc/PID/uid_map root's and unwritable for the parent. */
	if (p->userns)
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	handshake(p);

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die(p, errno, "make the mount namespace private");
	if (mount("tmpfs", p->base, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
		die(p, errno, "mount the staging tmpfs on '%s'", p->base);
	if (chdir(p->base) < 0)
		die(p, errno, "chdir to the staging tmpfs");
	static const char *const dirs[] = { "oldroot", "newroot", "stubs", "empty",
		"secrets" };
	for (size_t i = 0; i < HOIST_ARRAY_SIZE(dirs); i++)
		if (mkdir(dirs[i], 0755) < 0)
			die(p, errno, "mkdir '%s' in the staging tmpfs", dirs[i]);
	if (syscall(SYS_pivot_root, ".", "oldroot") < 0)
		die(p, errno, "pivot_root into the staging tmpfs");
	if (chdir("/") < 0)
		die(p, errno, "chdir to '/'");

	if (p->overlay)
		mount_overlay(p);
	else
		mount_dir_root(p);
	do_mounts(p);
	if (o->net == HOIST_SANDBOX_NET_NONE)
		loopback_up(p);
	const char *hn = p->hostname;
	if (sethostname(hn, strlen(hn)) < 0)
		die(p, errno, "set hostname '%s'", hn);

	if (chdir("/newroot") < 0)
		die(p, errno, "chdir to the new root");
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		die(p, errno, "pivot_root into the new root");
	if (umount2(".", MNT_DETACH) < 0)
		die(p, errno, "unmount the old root");
	if (chdir("/") < 0)
		die(p, errno, "chdir to '/'");

	const char *cwd = o->cwd ? o->cwd : "/";
	if (o->make_cwd)
		make_cwd(p, cwd);
	drop_caps(p);
	set_user(p);
	if (chdir(cwd) < 0) {
		if (errno == ENOENT)
			die(p, 0, "working directory '%s' does not exist", cwd);
		die(p, errno, "chdir to working directory '%s'", cwd);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die(p, errno, "set no_new_privs");
	/* Changing credentials cleared it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	umask(022);
	setup_stdio(p);
	close_fds(p);
	do_exec(p);
}

/* The parent side of the sandbox: checks the options and turns them into a
 * plan (absolute, symlink-free host paths), makes the child with clone3
 * (all namespaces and a pidfd at once), writes its id maps, forwards
 * SIGINT/SIGTERM, reads its messages, reaps it and tidies up the mount
 * points it had to create. */
#include "hoist/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hoist/buf.h"
#include "hoist/ctx.h"
#include "hoist/fs.h"
#include "sandbox/internal.h"
#include "util/cleanup.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

#define DEFAULT_HOSTNAME "hoist"
#define DEFAULT_STOP_MS 10000

/* Where the staging tmpfs may go: any host directory works, since it is
 * only mounted over inside our own mount namespace and pivoted away at
 * once. */
static const char *const base_candidates[] = {
	"/tmp", "/var/tmp", "/run", "/mnt", "/opt", "/srv", "/home", "/root",
};

void hoist_sandbox_opts_init(hoist_sandbox_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->stdin_fd = 0;
	o->stdout_fd = 1;
	o->stderr_fd = 2;
}

const char *hoist_sandbox_overlay_xattr_prefix(void)
{
	return geteuid() == 0 && sbx_in_initial_userns() ? "trusted.overlay."
							 : "user.overlay.";
}

static void plan_release(sbx_plan *p)
{
	for (size_t i = 0; i < p->n_lowers; i++)
		free(p->lowers[i]);
	free(p->lowers);
	free(p->upper);
	free(p->work);
	free(p->rootfs);
	for (size_t i = 0; i < p->n_mnts; i++) {
		free(p->mnts[i].source);
		free(p->mnts[i].target);
	}
	free(p->mnts);
}

/* realpath of a host path, which must exist (and be a directory when
 * want_dir, a regular file when want_file). */
static int host_path(char **out, const char *what, const char *path,
	bool want_dir, bool want_file, hoist_error **err)
{
	if (!path || !*path)
		return hoist_error_set(err, HOIST_E_INVALID, "sandbox: empty %s path",
			what);
	char *r = realpath(path, NULL);
	if (!r)
		return hoist_error_set(err, HOIST_E_INVALID, "sandbox: %s '%s': %s",
			what, path, strerror(errno));
	struct stat st;
	if (stat(r, &st) < 0) {
		int e = errno;
		free(r);
		return hoist_error_set(err, HOIST_E_INVALID, "sandbox: %s '%s': %s",
			what, path, strerror(e));
	}
	if ((want_dir && !S_ISDIR(st.st_mode)) || (want_file && !S_ISREG(st.st_mode))) {
		free(r);
		return hoist_error_set(err, HOIST_E_INVALID,
			"sandbox: %s '%s' is not a %s", what, path,
			want_dir ? "directory" : "regular file");
	}
	*out = r;
	return 0;
}

static int add_mnt(sbx_plan *p, int kind, char *source, const char *target,
	bool dir, hoist_error **err)
{
	char clean[SBX_PATH_MAX];
	sbx_mnt *m = &p->mnts[p->n_mnts];
	if (sbx_path_clean(target, clean, sizeof(clean)) < 0) {
		free(source);
		return hoist_error_set(err, HOIST_E_INVALID,
			"sandbox: mount target '%s' is not an absolute path", target);
	}
	if (!strcmp(clean, "/")) {
		free(source);
		return hoist_error_set(err, HOIST_E_INVALID,
			"sandbox: cannot mount over '/'");
	}
	if (!(m->target = strdup(clean))) {
		free(source);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	m->kind = kind;
	m->source = source;
	m->dir = dir;
	p->n_mnts++;
	return 0;
}

/* The host's /etc/resolv.conf or /etc/hosts (skipped when missing), or the
 * caller's file (which must exist). */
static int add_netfile(sbx_plan *p, const char *given, const char *host,
	const char *target, hoist_error **err)
{
	char *src = NULL;
	if (given) {
		int r = host_path(&src, target, given, false, false, err);
		if (r < 0)
			return r;
	} else {
		src = realpath(host, NULL);
		struct stat st;
		if (!src || stat(src, &st) < 0 || S_ISDIR(st.st_mode)) {
			free(src);
			return 0;
		}
	}
	int r = add_mnt(p, SBX_MNT_BIND, src, target, false, err);
	if (r == 0)
		p->mnts[p->n_mnts - 1].readonly = true;
	return r;
}

static int plan_build(sbx_plan *p, const hoist_sandbox_opts *o, hoist_error **err)
{
	int r;
	p->o = o;
	if (!o->argv || !o->argv[0] || !o->argv[0][0])
		return hoist_error_set(err, HOIST_E_INVALID, "sandbox: no command");
	if (o->cwd && o->cwd[0] != '/')
		return hoist_error_set(err, HOIST_E_INVALID,
			"sandbox: working directory '%s' is not absolute", o->cwd);
	p->hostname = o->hostname ? o->hostname : DEFAULT_HOSTNAME;
	if (strlen(p->hostname) > HOST_NAME_MAX)
		return hoist_error_set(err, HOIST_E_INVALID,
			"sandbox: hostname '%s' is too long", p->hostname);

	if (o->upper) {
		if (o->rootfs)
			return hoist_error_set(err, HOIST_E_INVALID,
				"sandbox: both an overlay and a root directory given");
		if (o->n_lowers > SBX_MAX_LOWERS)
			return hoist_error_set(err, HOIST_E_LIMIT,
				"sandbox: %zu lower dirs, at most %d are supported",
				o->n_lowers, SBX_MAX_LOWERS);
		p->overlay = true;
		if ((r = host_path(&p->upper, "upper dir", o->upper, true, false, err)) < 0
			|| (r = host_path(&p->work, "work dir", o->work, true, false, err)) < 0)
			return r;
		if (o->n_lowers && !(p->lowers = calloc(o->n_lowers, sizeof(char *))))
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		for (size_t i = 0; i < o->n_lowers; i++) {
			r = host_path(&p->lowers[i], "lower dir", o->lowers[i], true,
				false, err);
			if (r < 0)
				return r;
			p->n_lowers++;
		}
	} else if (o->rootfs) {
		if ((r = host_path(&p->rootfs, "root directory", o->rootfs, true,
			     false, err)) < 0)
			return r;
	} else {
		return hoist_error_set(err, HOIST_E_INVALID,
			"sandbox: no root filesystem (neither upper nor rootfs)");
	}

	p->mnts = calloc(5 + o->n_mounts, sizeof(*p->mnts));
	if (!p->mnts)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	if ((r = add_mnt(p, SBX_MNT_PROC, NULL, "/proc", true, err)) < 0
		|| (r = add_mnt(p, SBX_MNT_DEV, NULL, "/dev", true, err)) < 0)
		return r;
	if (!(o->flags & HOIST_SANDBOX_NO_SYS)
		&& (r = add_mnt(p, SBX_MNT_SYS, NULL, "/sys", true, err)) < 0)
		return r;
	if (!(o->flags & HOIST_SANDBOX_NO_NETFILES)) {
		if ((r = add_netfile(p, o->resolv_conf, "/etc/resolv.conf",
			     "/etc/resolv.conf", err)) < 0
			|| (r = add_netfile(p, o->hosts, "/etc/hosts", "/etc/hosts",
				    err)) < 0)
			return r;
	}
	for (size_t i = 0; i < o->n_mounts; i++) {
		const hoist_sandbox_mount *u = &o->mounts[i];
		char *src = NULL;
		bool dir = false;
		int kind;
		switch (u->type) {
		case HOIST_SANDBOX_MOUNT_BIND: {
			kind = SBX_MNT_BIND;
			if ((r = host_path(&src, "bind source", u->source, false,
				     false, err)) < 0)
				return r;
			struct stat st;
			dir = stat(src, &st) == 0 && S_ISDIR(st.st_mode);
			break;
		}
		case HOIST_SANDBOX_MOUNT_TMPFS:
			kind = SBX_MNT_TMPFS;
			dir = true;
			break;
		case HOIST_SANDBOX_MOUNT_SECRET:
			kind = SBX_MNT_SECRET;
			if ((r = host_path(&src, "secret", u->source, false, true,
				     err)) < 0)
				return r;
			break;
		default:
			return hoist_error_set(err, HOIST_E_INVALID,
				"sandbox: mount %zu: unknown type %d", i, (int)u->type);
		}
		if (!u->target)
			return hoist_error_set(err, HOIST_E_INVALID,
				"sandbox: mount %zu has no target", i);
		if ((r = add_mnt(p, kind, src, u->target, dir, err)) < 0)
			return r;
		sbx_mnt *m = &p->mnts[p->n_mnts - 1];
		m->readonly = u->readonly || kind == SBX_MNT_SECRET;
		m->mode = u->mode & 07777;
		m->size = u->size;
		m->uid = u->uid;
		m->gid = u->gid;
	}

	for (size_t i = 0; i < HOIST_ARRAY_SIZE(base_candidates) && !p->base; i++) {
		struct stat st;
		if (lstat(base_candidates[i], &st) == 0 && S_ISDIR(st.st_mode))
			p->base = base_candidates[i];
	}
	if (!p->base)
		return hoist_error_set(err, HOIST_E_IO,
			"sandbox: no directory for the staging tmpfs (tried /tmp, "
			"/var/tmp, /run, ...)");

	bool initial = sbx_in_initial_userns();
	p->userns = geteuid() != 0;
	p->userxattr = p->userns || !initial;
	p->harden_dev = !p->userns && initial;
	if (!p->userns) {
		/* Root in a user namespace that denies setgroups (a rootless
		 * container) cannot change its groups either. */
		hoist_buf b = HOIST_BUF_INIT(64);
		p->setgroups_ok = !(hoist_fs_read_file(AT_FDCWD, "/proc/self/setgroups",
					    &b, NULL) == 0 && b.data
			&& !strncmp(b.data, "deny", 4));
		hoist_buf_release(&b);
	}
	return 0;
}

typedef struct created {
	char *path;
	bool dir;
	struct timespec before;
	struct timespec after;
} created;

typedef struct run_state {
	sbx_plan *p;
	const sbx_idmap *idm;
	pid_t pid;
	int pidfd;
	int sock;
	int sigfd;
	bool eof;
	bool exited;
	bool exec_seen;
	int signo;          /* first SIGINT/SIGTERM received */
	struct timespec kill_at;
	bool kill_pending;
	char *child_err;    /* first error the child reported */
	int child_code;     /* its HOIST_E_* code, 0: HOIST_E_IO */
	hoist_error *perr;  /* an error of ours while it ran */
	created *created;
	size_t n_created;
	int mntns;          /* the child's mount namespace (opts->unmount) */
} run_state;

static void send_signal(run_state *s, int sig)
{
	if (syscall(SYS_pidfd_send_signal, s->pidfd, sig, NULL, 0) < 0
		&& errno == ENOSYS)
		kill(s->pid, sig);
}

static void log_child(const sbx_plan *p, const sbx_msg *m)
{
	if (m->err)
		hoist_log(p->o->ctx, m->level, "sandbox: %s: %s", m->text,
			strerror(m->err));
	else
		hoist_log(p->o->ctx, m->level, "sandbox: %s", m->text);
}

static void handle_msg(run_state *s, sbx_msg *m, size_t n)
{
	if (n < offsetof(sbx_msg, text) + 1)
		return;
	if (n < sizeof(*m))
		((char *)m)[n] = '\0';
	m->text[sizeof(m->text) - 1] = '\0';
	switch (m->kind) {
	case SBX_MSG_READY: {
		int r = 0;
		if (s->p->o->unmount && s->mntns < 0) {
			/* Opened while the child waits (still dumpable, still our
			 * uid): holding it keeps the namespace, and so its mounts,
			 * alive after the child's exit. */
			char path[64];
			snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)s->pid);
			s->mntns = open(path, O_RDONLY | O_CLOEXEC);
		}
		if (s->p->userns)
			r = sbx_idmap_apply(s->idm, s->pid, &s->perr);
		if (r < 0) {
			hoist_error_wrap(&s->perr, HOIST_E_IO, "sandbox: id mapping");
			send_signal(s, SIGKILL);
			break;
		}
		char go = SBX_MSG_GO;
		if (send(s->sock, &go, 1, MSG_NOSIGNAL) != 1) {
			hoist_error_errno(&s->perr, errno, "sandbox: start the child");
			send_signal(s, SIGKILL);
		}
		break;
	}
	case SBX_MSG_ERROR:
		if (!s->child_err) {
			s->child_code = m->level;
			int k = m->err ? asprintf(&s->child_err, "%s: %s", m->text,
						 strerror(m->err))
				       : asprintf(&s->child_err, "%s", m->text);
			if (k < 0)
				s->child_err = NULL;
		}
		break;
	case SBX_MSG_LOG:
		log_child(s->p, m);
		break;
	case SBX_MSG_CREATED: {
		created *c = realloc(s->created, (s->n_created + 1) * sizeof(*c));
		if (!c)
			break;
		s->created = c;
		c = &c[s->n_created];
		if (!(c->path = strdup(m->text)))
			break;
		c->dir = m->is_dir;
		c->before = m->parent_before;
		c->after = m->parent_after;
		s->n_created++;
		break;
	}
	case SBX_MSG_EXEC:
		s->exec_seen = true;
		break;
	}
}

static int64_t ms_until(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t ms = (int64_t)(t->tv_sec - now.tv_sec) * 1000
		+ (t->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms;
}

static void on_signal(run_state *s)
{
	struct signalfd_siginfo si;
	while (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (!s->signo) {
			s->signo = (int)si.ssi_signo;
			send_signal(s, s->signo);
			int ms = s->p->o->stop_timeout_ms > 0 ? s->p->o->stop_timeout_ms
							      : DEFAULT_STOP_MS;
			clock_gettime(CLOCK_MONOTONIC, &s->kill_at);
			s->kill_at.tv_sec += ms / 1000;
			s->kill_at.tv_nsec += (long)(ms % 1000) * 1000000;
			if (s->kill_at.tv_nsec >= 1000000000) {
				s->kill_at.tv_sec++;
				s->kill_at.tv_nsec -= 1000000000;
			}
			s->kill_pending = true;
		} else {
			send_signal(s, SIGKILL);
			s->kill_pending = false;
		}
	}
}

/* Reads messages and signals until the child is gone and its socket
 * closed (at exec or exit). */
static void event_loop(run_state *s)
{
	sbx_msg *m = malloc(sizeof(*m));
	if (!m) {
		/* Cannot read its messages: stop it rather than hang. */
		hoist_error_set(&s->perr, HOIST_E_NOMEM, "out of memory");
		send_signal(s, SIGKILL);
		return;
	}
	while (!(s->eof && s->exited)) {
		struct pollfd pf[3] = {
			{ .fd = s->eof ? -1 : s->sock, .events = POLLIN },
			{ .fd = s->sigfd, .events = POLLIN },
			{ .fd = s->exited ? -1 : s->pidfd, .events = POLLIN },
		};
		int timeout = s->kill_pending ? (int)ms_until(&s->kill_at) : -1;
		int n = poll(pf, 3, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* Stop it and block in waitid instead. */
			hoist_error_errno(&s->perr, errno, "sandbox: poll");
			send_signal(s, SIGKILL);
			break;
		}
		if (n == 0 && s->kill_pending) {
			send_signal(s, SIGKILL);
			s->kill_pending = false;
		}
		if (pf[0].revents) {
			ssize_t k = recv(s->sock, m, sizeof(*m), MSG_DONTWAIT);
			if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
				s->eof = true;
			else if (k > 0)
				handle_msg(s, m, (size_t)k);
		}
		if (pf[1].revents)
			on_signal(s);
		if (pf[2].revents)
			s->exited = true;
	}
	free(m);
}

static int reap(run_state *s, int *status, hoist_error **err)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	int r;
	do {
		r = waitid((idtype_t)P_PIDFD, (id_t)s->pidfd, &si, WEXITED | __WALL);
	} while (r < 0 && errno == EINTR);
	if (r < 0 && errno == EINVAL) {
		int st;
		do {
			r = waitpid(s->pid, &st, __WALL);
		} while (r < 0 && errno == EINTR);
		if (r >= 0) {
			*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			return 0;
		}
	}
	if (r < 0)
		return hoist_error_errno(err, errno, "sandbox: wait for the child");
	*status = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
	return 0;
}

static bool ts_eq(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* Removes the mount points the child made in the root (directory mode),
 * newest first, if they are still what it made: an empty file or an empty
 * directory.  Puts back the mtime of the directory holding each when
 * nothing else changed it. */
static void remove_created(run_state *s)
{
	const sbx_plan *p = s->p;
	hoist_ctx *ctx = p->o->ctx;
	const char *base = p->overlay ? p->upper : p->rootfs;
	_cleanup_close_ int basefd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (basefd < 0) {
		hoist_log(ctx, HOIST_LOG_WARN, "sandbox: open '%s' to remove mount "
			"points: %s", base, strerror(errno));
		return;
	}
	for (size_t i = s->n_created; i-- > 0;) {
		const created *c = &s->created[i];
		char parent[SBX_PATH_MAX];
		snprintf(parent, sizeof(parent), "%s", c->path);
		char *slash = strrchr(parent, '/');
		if (!slash || !slash[1])
			continue;
		const char *name = c->path + (slash - parent) + 1;
		*slash = '\0';
		int pfd = parent[0] ? sbx_open_nofollow(basefd, parent + 1,
					      O_RDONLY | O_DIRECTORY)
				    : fcntl(basefd, F_DUPFD_CLOEXEC, 3);
		if (pfd < 0) {
			hoist_log(ctx, HOIST_LOG_WARN, "sandbox: remove mount point "
				"'%s': %s", c->path, strerror(pfd == -1 ? errno : -pfd));
			continue;
		}
		struct stat st, pst;
		bool restore = fstat(pfd, &pst) == 0 && ts_eq(pst.st_mtim, c->after);
		int r = -1;
		if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (c->dir && S_ISDIR(st.st_mode))
				r = unlinkat(pfd, name, AT_REMOVEDIR);
			else if (!c->dir && S_ISREG(st.st_mode) && st.st_size == 0)
				r = unlinkat(pfd, name, 0);
			else
				errno = EEXIST;
		}
		if (r < 0 && errno != ENOENT) {
			hoist_log(ctx, HOIST_LOG_WARN, "sandbox: mount point '%s' left "
				"in '%s': %s", c->path, base,
				errno == EEXIST ? "replaced by the command" : strerror(errno));
		} else if (r == 0 && restore) {
			struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, c->before };
			futimens(pfd, ts);
		}
		close(pfd);
	}
}

static pid_t clone_child(uint64_t flags, int *pidfd)
{
	/* struct clone_args, version 0. */
	struct {
		uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack,
			stack_size, tls;
	} a;
	memset(&a, 0, sizeof(a));
	a.flags = flags | CLONE_PIDFD;
	a.pidfd = (uint64_t)(uintptr_t)pidfd;
	/* exit signal 0: the caller's SIGCHLD handling never sees it. */
	a.exit_signal = 0;
	long r = syscall(SYS_clone3, &a, sizeof(a));
	if (r < 0 && errno == ENOSYS)
		r = syscall(SYS_clone, (unsigned long)(flags | CLONE_PIDFD), NULL,
			pidfd, NULL, NULL);
	return (pid_t)r;
}

static void warn_single_mapping(hoist_ctx *ctx, const sbx_idmap *m)
{
	static const char key[] = "sandbox.single-id-mapping-warned";
	if (!ctx || hoist_ctx_attached(ctx, key))
		return;
	void *out = NULL;
	hoist_error *e = NULL;
	hoist_ctx_attach(ctx, key, (void *)key, NULL, &out, &e);
	hoist_error_free(e);
	const char *why = m->n_uranges && m->n_granges
		? "newuidmap/newgidmap not found"
		: "no subordinate ids in /etc/subuid and /etc/subgid";
	hoist_log(ctx, HOIST_LOG_WARN,
		"sandbox: %s for user '%s': only root inside is mapped (to uid %u, "
		"gid %u); RUN steps that change ownership to other ids or switch "
		"to another USER will fail", why, m->name ? m->name : "?",
		(unsigned)m->uid, (unsigned)m->gid);
}

struct hoist_sandbox_unmount {
	pthread_t thread;
	int fd;
};

/* The last reference to a mount namespace going away unmounts its mounts,
 * in the task that dropped it, on its way back from close(): here a
 * thread of its own. */
static void *unmount_main(void *arg)
{
	hoist_sandbox_unmount *u = arg;
	close(u->fd);
	return NULL;
}

static void defer_unmount(const hoist_sandbox_opts *o, int fd)
{
	hoist_sandbox_unmount *u = o->unmount ? calloc(1, sizeof(*u)) : NULL;
	if (u) {
		u->fd = fd;
		/* Without signals: the caller's SIGINT/SIGTERM stay the caller's. */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		int r = pthread_create(&u->thread, NULL, unmount_main, u);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (r == 0) {
			*o->unmount = u;
			return;
		}
		free(u);
	}
	close(fd);
}

void hoist_sandbox_unmount_wait(hoist_sandbox_unmount *u)
{
	if (!u)
		return;
	pthread_join(u->thread, NULL);
	free(u);
}

static int run_child(sbx_plan *p, const sbx_idmap *idm, int *exit_status,
	hoist_error **err)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return hoist_error_errno(err, errno, "sandbox: socketpair");
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	run_state s = { .p = p, .idm = idm, .pidfd = -1, .sock = sv[0], .mntns = -1 };
	s.sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	int r = 0;
	if (s.sigfd < 0) {
		r = hoist_error_errno(err, errno, "sandbox: signalfd");
		goto out;
	}

	p->parent_sock = sv[0];
	p->sock = sv[1];
	uint64_t flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;
	if (p->userns)
		flags |= CLONE_NEWUSER;
	if (p->o->net == HOIST_SANDBOX_NET_NONE)
		flags |= CLONE_NEWNET;
	s.pid = clone_child(flags, &s.pidfd);
	if (s.pid == 0)
		sbx_child_main(p);
	int clone_errno = errno;
	close(sv[1]);
	sv[1] = -1;
	if (s.pid < 0) {
		const char *hint = p->userns && (clone_errno == EPERM
			|| clone_errno == ENOSPC || clone_errno == EINVAL)
			? " (are unprivileged user namespaces enabled? see "
			  "user.max_user_namespaces)" : "";
		r = hoist_error_set(err, HOIST_E_IO, "sandbox: clone: %s%s",
			strerror(clone_errno), hint);
		goto out;
	}

	event_loop(&s);
	int status = -1;
	r = reap(&s, &status, err);
	if (r < 0)
		goto out;
	if (s.n_created)
		remove_created(&s);

	if (s.perr) {
		r = hoist_error_set(err, s.perr->code, "%s", s.perr->msg);
	} else if (s.child_err) {
		r = hoist_error_set(err, s.child_code ? s.child_code : HOIST_E_IO,
			"sandbox: %s", s.child_err);
	} else if (!s.exec_seen) {
		r = s.signo ? hoist_error_set(err, HOIST_E_INTERRUPTED,
				      "sandbox: interrupted by %s while starting",
				      s.signo == SIGINT ? "SIGINT" : "SIGTERM")
			    : hoist_error_set(err, HOIST_E_IO, "sandbox: the setup "
				      "process ended (status %d) without starting '%s'",
				      status, p->o->argv[0]);
	} else {
		*exit_status = status;
		if (s.signo)
			r = hoist_error_set(err, HOIST_E_INTERRUPTED,
				"sandbox: '%s' stopped by %s (exit status %d)",
				p->o->argv[0], s.signo == SIGINT ? "SIGINT" : "SIGTERM",
				status);
	}

out:
	if (s.mntns >= 0)
		defer_unmount(p->o, s.mntns);
	if (s.pidfd >= 0)
		close(s.pidfd);
	if (s.sigfd >= 0)
		close(s.sigfd);
	close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	for (size_t i = 0; i < s.n_created; i++)
		free(s.created[i].path);
	free(s.created);
	free(s.child_err);
	hoist_error_free(s.perr);
	return r;
}

int hoist_sandbox_run(const hoist_sandbox_opts *o, int *exit_status,
	hoist_error **err)
{
	int ignored;
	if (!exit_status)
		exit_status = &ignored;
	*exit_status = -1;
	if (!o)
		return hoist_error_set(err, HOIST_E_INVALID, "sandbox: no options");
	if (o->unmount)
		*o->unmount = NULL;
	sbx_plan p;
	memset(&p, 0, sizeof(p));
	p.sock = p.parent_sock = -1;
	sbx_idmap idm;
	memset(&idm, 0, sizeof(idm));
	int r = plan_build(&p, o, err);
	if (r == 0 && p.userns) {
		r = sbx_idmap_plan(&idm, "/etc/subuid", "/etc/subgid", err);
		if (r == 0) {
			p.setgroups_ok = idm.subids;
			if (!idm.subids)
				warn_single_mapping(o->ctx, &idm);
		}
	}
	if (r == 0)
		r = run_child(&p, &idm, exit_status, err);
	sbx_idmap_release(&idm);
	plan_release(&p);
	return r;
}

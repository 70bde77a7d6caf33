/* Rootless id mapping, done by the parent once the child has made its user
 * namespace: either newuidmap/newgidmap with the caller's subordinate
 * ranges (inside 0 -> caller, 1..N -> the ranges, in file order) or, when
 * there are none, the one mapping an unprivileged process may write itself
 * (0 -> caller, with setgroups denied as the kernel requires). */
#include "sandbox/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hoist/buf.h"
#include "hoist/fs.h"
#include "hoist/io.h"
#include "util/cleanup.h"

static const char *const helper_dirs[] = {
	"/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin",
};

static char *find_helper(const char *name)
{
	for (size_t i = 0; i < HOIST_ARRAY_SIZE(helper_dirs); i++) {
		char *p = NULL;
		if (asprintf(&p, "%s/%s", helper_dirs[i], name) < 0)
			return NULL;
		struct stat st;
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

/* The ranges of "name_or_uid:start:count" lines for this user. */
static int read_ranges(const char *path, const char *name, uint32_t id,
	sbx_idrange *out, size_t *n_out, hoist_error **err)
{
	hoist_buf b = HOIST_BUF_INIT(1 << 20);
	_cleanup_error_ hoist_error *e = NULL;
	*n_out = 0;
	int r = hoist_fs_read_file(AT_FDCWD, path, &b, &e);
	if (r < 0) {
		hoist_buf_release(&b);
		if (r == -HOIST_E_NOTFOUND)
			return 0; /* no file: no ranges */
		return hoist_error_set(err, -r, "%s", e ? e->msg : "read failed");
	}
	char idstr[16];
	snprintf(idstr, sizeof(idstr), "%" PRIu32, id);
	char *save = NULL;
	for (char *line = b.data ? strtok_r(b.data, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c1 = '\0';
		if (strcmp(line, idstr) != 0 && (!name || strcmp(line, name) != 0))
			continue;
		char *e1 = NULL, *e2 = NULL;
		errno = 0;
		unsigned long long start = strtoull(c1 + 1, &e1, 10);
		unsigned long long count = strtoull(c2 + 1, &e2, 10);
		if (errno || e1 != c2 || e1 == c1 + 1 || e2 == c2 + 1
			|| (*e2 && *e2 != ' ' && *e2 != '\t' && *e2 != '\r')
			|| count == 0 || start > UINT32_MAX || count > UINT32_MAX
			|| start + count > (unsigned long long)UINT32_MAX + 1)
			continue;
		if (*n_out == SBX_MAX_RANGES)
			break;
		out[(*n_out)++] = (sbx_idrange){ (uint32_t)start, (uint32_t)count };
	}
	hoist_buf_release(&b);
	return 0;
}

int sbx_idmap_plan(sbx_idmap *m, const char *subuid_path,
	const char *subgid_path, hoist_error **err)
{
	memset(m, 0, sizeof(*m));
	m->uid = getuid();
	m->gid = getgid();
	struct passwd pw, *res = NULL;
	char buf[4096];
	if (getpwuid_r(m->uid, &pw, buf, sizeof(buf), &res) == 0 && res
		&& !(m->name = strdup(res->pw_name)))
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	int r = read_ranges(subuid_path, m->name, m->uid, m->uranges,
		&m->n_uranges, err);
	if (r == 0)
		r = read_ranges(subgid_path, m->name, m->uid, m->granges,
			&m->n_granges, err);
	if (r < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "subordinate ids");
	if (m->n_uranges && m->n_granges) {
		m->newuidmap = find_helper("newuidmap");
		m->newgidmap = find_helper("newgidmap");
		m->subids = m->newuidmap && m->newgidmap;
	}
	return 0;
}

void sbx_idmap_release(sbx_idmap *m)
{
	free(m->name);
	free(m->newuidmap);
	free(m->newgidmap);
	memset(m, 0, sizeof(*m));
}

/* Runs helper with args (argv[0] included), its stderr captured for the
 * error message. */
static int run_helper(const char *helper, char *const *argv, hoist_error **err)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return hoist_error_errno(err, errno, "pipe");
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(pfd[0]);
		close(pfd[1]);
		return hoist_error_errno(err, e, "fork for '%s'", helper);
	}
	if (pid == 0) {
		/* The caller's thread has SIGINT/SIGTERM blocked meanwhile. */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
		}
		dup2(pfd[1], 2);
		char *const envp[] = { NULL };
		execve(helper, argv, envp);
		dprintf(2, "exec: %s", strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	char out[1024];
	size_t n = 0;
	for (;;) {
		ssize_t k = read(pfd[0], out + n, sizeof(out) - 1 - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		n += (size_t)k;
		if (n == sizeof(out) - 1)
			break;
	}
	close(pfd[0]);
	out[n] = '\0';
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
		out[--n] = '\0';
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return hoist_error_errno(err, errno, "wait for '%s'", helper);
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFEXITED(st))
		return hoist_error_set(err, HOIST_E_IO, "'%s' exited with status %d%s%s",
			helper, WEXITSTATUS(st), n ? ": " : "", out);
	return hoist_error_set(err, HOIST_E_IO, "'%s' killed by signal %d",
		helper, WTERMSIG(st));
}

/* newuidmap PID 0 ID 1 [INSIDE START COUNT]... */
static int map_with_helper(const char *helper, pid_t pid, uint32_t id,
	const sbx_idrange *ranges, size_t n, hoist_error **err)
{
	/* argv: helper pid + 3 per line, as strings in one arena. */
	char arena[(SBX_MAX_RANGES + 1) * 3 * 12 + 16];
	char *argv[3 + (SBX_MAX_RANGES + 1) * 3 + 1];
	size_t used = 0, a = 0;
	argv[a++] = (char *)helper;
#define PUSH(fmtv, val)                                                      \
	do {                                                                  \
		int w = snprintf(arena + used, sizeof(arena) - used, fmtv, val); \
		argv[a++] = arena + used;                                     \
		used += (size_t)w + 1;                                        \
	} while (0)
	PUSH("%d", (int)pid);
	PUSH("%" PRIu32, (uint32_t)0);
	PUSH("%" PRIu32, id);
	PUSH("%" PRIu32, (uint32_t)1);
	uint64_t inside = 1;
	for (size_t i = 0; i < n && inside <= UINT32_MAX; i++) {
		uint64_t count = ranges[i].count;
		if (inside + count > (uint64_t)UINT32_MAX + 1)
			count = (uint64_t)UINT32_MAX + 1 - inside;
		PUSH("%" PRIu64, inside);
		PUSH("%" PRIu32, ranges[i].start);
		PUSH("%" PRIu64, count);
		inside += count;
	}
#undef PUSH
	argv[a] = NULL;
	return run_helper(helper, argv, err);
}

static int write_proc(pid_t pid, const char *file, const char *data,
	hoist_error **err)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return hoist_error_errno(err, errno, "open '%s'", path);
	size_t n = strlen(data);
	ssize_t k = write(fd, data, n);
	if (k < 0)
		return hoist_error_errno(err, errno, "write '%s'", path);
	if ((size_t)k != n)
		return hoist_error_set(err, HOIST_E_IO, "short write to '%s'", path);
	return 0;
}

int sbx_idmap_apply(const sbx_idmap *m, pid_t pid, hoist_error **err)
{
	if (m->subids) {
		int r = map_with_helper(m->newuidmap, pid, m->uid, m->uranges,
			m->n_uranges, err);
		if (r == 0)
			r = map_with_helper(m->newgidmap, pid, m->gid, m->granges,
				m->n_granges, err);
		return r;
	}
	char line[64];
	int r = write_proc(pid, "setgroups", "deny", err);
	if (r < 0)
		return r;
	snprintf(line, sizeof(line), "0 %u 1\n", (unsigned)m->uid);
	r = write_proc(pid, "uid_map", line, err);
	if (r < 0)
		return r;
	snprintf(line, sizeof(line), "0 %u 1\n", (unsigned)m->gid);
	return write_proc(pid, "gid_map", line, err);
}

bool sbx_in_initial_userns(void)
{
	hoist_buf b = HOIST_BUF_INIT(1 << 16);
	bool initial = false;
	if (hoist_fs_read_file(AT_FDCWD, "/proc/self/uid_map", &b, NULL) == 0
		&& b.data) {
		unsigned long a = 1, c = 1, d = 0;
		initial = sscanf(b.data, "%lu %lu %lu", &a, &c, &d) == 3 && a == 0
			&& c == 0 && d == 4294967295ul;
	}
	hoist_buf_release(&b);
	return initial;
}

struct hoist_sandbox_idmap {
	bool identity;
	sbx_idmap m;
};

int hoist_sandbox_idmap_new(hoist_sandbox_idmap **out, hoist_error **err)
{
	hoist_sandbox_idmap *x = calloc(1, sizeof(*x));
	if (!x)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	x->identity = geteuid() == 0 && sbx_in_initial_userns();
	if (!x->identity) {
		int r = sbx_idmap_plan(&x->m, "/etc/subuid", "/etc/subgid", err);
		if (r < 0) {
			free(x);
			return r;
		}
	}
	*out = x;
	return 0;
}

void hoist_sandbox_idmap_free(hoist_sandbox_idmap *x)
{
	if (!x)
		return;
	sbx_idmap_release(&x->m);
	free(x);
}

static int64_t back(bool identity, bool subids, uint32_t me, const sbx_idrange *r,
	size_t n, uint32_t host)
{
	if (identity)
		return host;
	if (host == me)
		return 0;
	if (!subids)
		return -1;
	int64_t inside = 1;
	for (size_t i = 0; i < n; i++) {
		if (host >= r[i].start && host - r[i].start < r[i].count)
			return inside + (host - r[i].start);
		inside += r[i].count;
	}
	return -1;
}

int64_t hoist_sandbox_idmap_uid(const hoist_sandbox_idmap *x, uint32_t host)
{
	return back(x->identity, x->m.subids, x->m.uid, x->m.uranges, x->m.n_uranges, host);
}

int64_t hoist_sandbox_idmap_gid(const hoist_sandbox_idmap *x, uint32_t host)
{
	return back(x->identity, x->m.subids, x->m.gid, x->m.granges, x->m.n_granges, host);
}

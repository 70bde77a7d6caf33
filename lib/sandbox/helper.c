/* Helper processes in a user namespace mapped like the sandbox's.  A
 * rootless caller with subordinate ids cannot create, chown, move or
 * delete files that belong to those ids; root of a user namespace mapped
 * through newuidmap can.  The helper is a fork of the caller that entered
 * such a namespace and became its root; it runs one function and talks to
 * the caller over a socket. */

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hoist/fs.h"
#include "hoist/sandbox.h"
#include "sandbox/internal.h"

struct hoist_sandbox_helper {
	pid_t pid;
	int sock;
};

static _Noreturn void helper_main(int sock, hoist_sandbox_helper_fn fn, void *ud)
{
	char c;
	if (unshare(CLONE_NEWUSER) < 0)
		_exit(126);
	/* tell the parent to write our maps, wait until it has */
	if (write(sock, "r", 1) != 1 || read(sock, &c, 1) != 1 || c != 'g')
		_exit(126);
	if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
		_exit(126);
	/* a caller that went away makes writes fail, not kill the helper */
	signal(SIGPIPE, SIG_IGN);
	_exit(fn(ud, sock) == 0 ? 0 : 1);
}

int hoist_sandbox_helper_start(hoist_sandbox_helper **out,
	hoist_sandbox_helper_fn fn, void *ud, hoist_error **err)
{
	*out = NULL;
	sbx_idmap m;
	int rc = sbx_idmap_plan(&m, "/etc/subuid", "/etc/subgid", err);
	if (rc < 0)
		return rc;
	hoist_sandbox_helper *h = calloc(1, sizeof(*h));
	int sv[2];
	if (!h || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		rc = h ? hoist_error_errno(err, errno, "socketpair")
		       : hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		free(h);
		sbx_idmap_release(&m);
		return rc;
	}
	pid_t pid = fork();
	if (pid < 0) {
		rc = hoist_error_errno(err, errno, "fork");
		close(sv[0]);
		close(sv[1]);
		free(h);
		sbx_idmap_release(&m);
		return rc;
	}
	if (pid == 0) {
		close(sv[0]);
		helper_main(sv[1], fn, ud);
	}
	close(sv[1]);
	h->pid = pid;
	h->sock = sv[0];
	char c;
	if (read(h->sock, &c, 1) != 1 || c != 'r')
		rc = hoist_error_set(err, HOIST_E_IO,
			"the helper in a user namespace did not start");
	if (rc == 0)
		rc = sbx_idmap_apply(&m, pid, err);
	if (rc == 0 && write(h->sock, "g", 1) != 1)
		rc = hoist_error_errno(err, errno, "start the helper in a user namespace");
	sbx_idmap_release(&m);
	if (rc < 0) {
		kill(pid, SIGKILL);
		hoist_sandbox_helper_wait(h, NULL);
		return rc;
	}
	*out = h;
	return 0;
}

int hoist_sandbox_helper_sock(const hoist_sandbox_helper *h)
{
	return h->sock;
}

int hoist_sandbox_helper_wait(hoist_sandbox_helper *h, hoist_error **err)
{
	if (!h)
		return 0;
	close(h->sock);
	int status = 0;
	while (waitpid(h->pid, &status, 0) < 0 && errno == EINTR)
		;
	free(h);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	return hoist_error_set(err, HOIST_E_IO, "the helper in a user namespace %s %d",
		WIFEXITED(status) ? "exited with" : "was killed by signal",
		WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

static int rm_in_helper(void *ud, int sock)
{
	(void)sock;
	return hoist_fs_rm_rf(AT_FDCWD, ud, NULL);
}

int sbx_need_helper(hoist_error **err)
{
	if (geteuid() == 0 && sbx_in_initial_userns())
		return 0;
	sbx_idmap m;
	int rc = sbx_idmap_plan(&m, "/etc/subuid", "/etc/subgid", err);
	if (rc < 0)
		return rc;
	bool subids = m.subids;
	sbx_idmap_release(&m);
	return subids ? 1 : 0;
}

bool hoist_sandbox_needs_helper(void)
{
	return sbx_need_helper(NULL) > 0;
}

int hoist_sandbox_rm_rf(const char *path, hoist_error **err)
{
	if (hoist_fs_rm_rf(AT_FDCWD, path, NULL) == 0 || !hoist_fs_exists(AT_FDCWD, path))
		return 0;
	int rc = sbx_need_helper(err);
	if (rc <= 0)
		return rc < 0 ? rc : hoist_fs_rm_rf(AT_FDCWD, path, err);
	hoist_sandbox_helper *h = NULL;
	rc = hoist_sandbox_helper_start(&h, rm_in_helper, (void *)path, err);
	if (rc == 0)
		rc = hoist_sandbox_helper_wait(h, err);
	return rc < 0 ? hoist_error_wrap(err, HOIST_E_IO, "delete '%s'", path) : 0;
}

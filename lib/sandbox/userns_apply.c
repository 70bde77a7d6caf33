/* Applying a layer inside a user namespace: an unprivileged caller cannot
 * give files the owners a layer asks for (its subordinate ids), but root of
 * a user namespace mapped through newuidmap can.  The parent streams the
 * tar into a pipe; a forked child that entered the namespace applies it
 * with owners kept, and reports its error back over a second pipe. */

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hoist/io.h"
#include "hoist/layer.h"
#include "hoist/sandbox.h"
#include "sandbox/internal.h"
#include "util/cleanup.h"

static void child_main(int rootfd, int data_fd, int sync_fd, int err_fd,
	const hoist_apply_opts *o)
{
	char c;
	hoist_error *e = NULL;
	int rc = 0;
	if (unshare(CLONE_NEWUSER) < 0) {
		rc = hoist_error_errno(&e, errno, "unshare a user namespace");
	} else {
		/* tell the parent to write our maps, wait until it has */
		if (write(sync_fd, "r", 1) != 1 || read(sync_fd, &c, 1) != 1 || c != 'g')
			rc = hoist_error_set(&e, HOIST_E_IO, "id mapping was not set up");
	}
	if (rc == 0 && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
		rc = hoist_error_errno(&e, errno, "become root in the user namespace");
	hoist_reader *r = NULL;
	if (rc == 0)
		rc = hoist_reader_new_fd(&r, data_fd, false, &e);
	if (rc == 0) {
		hoist_apply_opts ao = *o;
		ao.keep_owner = true;
		rc = hoist_layer_apply(rootfd, r, &ao, NULL, NULL, &e);
	}
	hoist_reader_free(r);
	if (rc < 0 && e) {
		size_t n = strlen(e->msg);
		if (write(err_fd, e->msg, n) < 0) {
			/* nothing more to do: the exit status says it failed */
		}
	}
	_exit(rc < 0 ? 1 : 0);
}

int hoist_sandbox_apply_layer(int rootfd, hoist_reader *tar,
	const hoist_apply_opts *o, hoist_error **err)
{
	if (geteuid() == 0 && sbx_in_initial_userns()) {
		hoist_apply_opts ao = *o;
		ao.keep_owner = true;
		return hoist_layer_apply(rootfd, tar, &ao, NULL, NULL, err);
	}
	sbx_idmap m;
	_cleanup_free_ char *buf = NULL; /* before any goto */
	int rc = sbx_idmap_plan(&m, "/etc/subuid", "/etc/subgid", err);
	if (rc < 0)
		return rc;
	if (!m.subids) {
		/* One id: owners cannot be kept anyway; do it here. */
		sbx_idmap_release(&m);
		return hoist_layer_apply(rootfd, tar, o, NULL, NULL, err);
	}
	int data[2], sync[2], errp[2];
	if (pipe2(data, O_CLOEXEC) < 0)
		return hoist_error_errno(err, errno, "pipe");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sync) < 0 ||
		pipe2(errp, O_CLOEXEC) < 0) {
		close(data[0]);
		close(data[1]);
		sbx_idmap_release(&m);
		return hoist_error_errno(err, errno, "pipe");
	}
	pid_t pid = fork();
	if (pid < 0) {
		rc = hoist_error_errno(err, errno, "fork");
		goto done;
	}
	if (pid == 0) {
		close(data[1]);
		close(sync[0]);
		close(errp[0]);
		child_main(rootfd, data[0], sync[1], errp[1], o);
	}
	close(data[0]);
	data[0] = -1;
	close(sync[1]);
	sync[1] = -1;
	close(errp[1]);
	errp[1] = -1;
	char c;
	if (read(sync[0], &c, 1) != 1 || c != 'r')
		rc = hoist_error_set(err, HOIST_E_IO, "apply layer: the child did not start");
	if (rc == 0)
		rc = sbx_idmap_apply(&m, pid, err);
	if (rc == 0 && write(sync[0], "g", 1) != 1)
		rc = hoist_error_errno(err, errno, "apply layer: sync");
	/* stream the tar; a child that stopped reading makes write fail (EPIPE
	 * is an error return: SIGPIPE is ignored for the duration) */
	struct sigaction ign = { 0 }, old;
	ign.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &ign, &old);
	if (rc == 0)
		buf = malloc(HOIST_IO_CHUNK);
	while (rc == 0) {
		if (!buf) {
			rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
			break;
		}
		ssize_t k = hoist_reader_read(tar, buf, HOIST_IO_CHUNK, err);
		if (k < 0) {
			rc = (int)k;
			break;
		}
		if (k == 0)
			break;
		if (hoist_write_all(data[1], buf, (size_t)k, NULL) < 0)
			break; /* the child failed: its message says why */
	}
	close(data[1]);
	data[1] = -1;
	sigaction(SIGPIPE, &old, NULL);
	char msg[1024];
	ssize_t n = read(errp[0], msg, sizeof(msg) - 1);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		msg[n > 0 ? n : 0] = '\0';
		rc = hoist_error_set(err, HOIST_E_IO, "%s",
			n > 0 ? msg : "apply layer in the user namespace: failed");
	}
done:
	for (int i = 0; i < 2; i++) {
		if (data[i] >= 0)
			close(data[i]);
		if (sync[i] >= 0)
			close(sync[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	sbx_idmap_release(&m);
	return rc;
}

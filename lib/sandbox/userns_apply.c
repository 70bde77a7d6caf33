/* Applying a layer inside a user namespace: an unprivileged caller cannot
 * give files the owners a layer asks for (its subordinate ids), but root of
 * a user namespace mapped through newuidmap can.  The parent streams the
 * tar to a helper (helper.c) that applies it with owners kept and sends
 * back its error. */

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

typedef struct apply_job {
	int rootfd;
	const hoist_apply_opts *o;
} apply_job;

/* In the helper: the tar comes over the socket until the parent shuts
 * its side; an error goes back the same way. */
static int apply_in_helper(void *ud, int sock)
{
	apply_job *j = ud;
	hoist_error *e = NULL;
	hoist_reader *r = NULL;
	int rc = hoist_reader_new_fd(&r, sock, false, &e);
	if (rc == 0) {
		hoist_apply_opts ao = *j->o;
		ao.keep_owner = true;
		rc = hoist_layer_apply(j->rootfd, r, &ao, NULL, NULL, &e);
	}
	hoist_reader_free(r);
	if (rc < 0 && e && write(sock, e->msg, strlen(e->msg)) < 0) {
		/* nothing more to do: the exit status says it failed */
	}
	return rc;
}

int hoist_sandbox_apply_layer(int rootfd, hoist_reader *tar,
	const hoist_apply_opts *o, hoist_error **err)
{
	if (geteuid() == 0 && sbx_in_initial_userns()) {
		hoist_apply_opts ao = *o;
		ao.keep_owner = true;
		return hoist_layer_apply(rootfd, tar, &ao, NULL, NULL, err);
	}
	int rc = sbx_need_helper(err);
	if (rc < 0)
		return rc;
	if (rc == 0) /* One id: owners cannot be kept anyway; do it here. */
		return hoist_layer_apply(rootfd, tar, o, NULL, NULL, err);
	apply_job job = { rootfd, o };
	hoist_sandbox_helper *h = NULL;
	rc = hoist_sandbox_helper_start(&h, apply_in_helper, &job, err);
	if (rc < 0)
		return rc;
	int sock = hoist_sandbox_helper_sock(h);
	/* stream the tar; a helper that stopped reading makes write fail
	 * (EPIPE is an error return: SIGPIPE is ignored for the duration) */
	struct sigaction ign = { 0 }, old;
	ign.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &ign, &old);
	_cleanup_free_ char *buf = malloc(HOIST_IO_CHUNK);
	if (!buf)
		rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	while (rc == 0) {
		ssize_t k = hoist_reader_read(tar, buf, HOIST_IO_CHUNK, err);
		if (k < 0) {
			rc = (int)k;
			break;
		}
		if (k == 0)
			break;
		if (hoist_write_all(sock, buf, (size_t)k, NULL) < 0)
			break; /* the helper failed: its message says why */
	}
	shutdown(sock, SHUT_WR);
	sigaction(SIGPIPE, &old, NULL);
	char msg[1024];
	ssize_t n = read(sock, msg, sizeof(msg) - 1);
	hoist_error *e = NULL;
	if (hoist_sandbox_helper_wait(h, &e) < 0 && rc == 0) {
		msg[n > 0 ? n : 0] = '\0';
		rc = hoist_error_set(err, HOIST_E_IO, "%s",
			n > 0 ? msg : "apply layer in the user namespace: failed");
	}
	hoist_error_free(e);
	return rc;
}

/* hoist run: an image's command in the sandbox. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build/internal.h"
#include "hoist/fs.h"
#include "util/cleanup.h"

static int push_json(char ***v, size_t *n, json_t *arr)
{
	size_t i;
	json_t *x;
	json_array_foreach(arr, i, x)
		if (json_string_value(x) && strv_push(v, n, json_string_value(x)) < 0)
			return -1;
	return 0;
}

/* Replaces or adds KEY=V in env. */
static int set_env(char ***env, size_t *n, const char *kv)
{
	const char *eq = strchr(kv, '=');
	size_t kl = eq ? (size_t)(eq - kv) : strlen(kv);
	for (size_t i = 0; i < *n; i++)
		if (!strncmp((*env)[i], kv, kl) && (*env)[i][kl] == '=') {
			char *d = strdup(kv);
			if (!d)
				return -1;
			free((*env)[i]);
			(*env)[i] = d;
			return 0;
		}
	return strv_push(env, n, kv);
}

int hoist_run(hoist_ctx *ctx, const hoist_run_opts *o, int *exit_status,
	hoist_error **err)
{
	build b = { 0 };
	hoist_build_opts bo = { 0 };
	bo.progress = HOIST_BUILD_PROGRESS_QUIET;
	b.ctx = ctx;
	b.o = &bo;
	b.log = stderr;
	b.home = hoist_ctx_home(ctx);
	stage s = { 0 };
	char **argv = NULL, **env = NULL, **lowers = NULL;
	size_t argc = 0, n_env = 0, n_lowers = 0;
	_cleanup_free_ char *dir = NULL, *upper = NULL, *work = NULL;
	int rc = asprintf(&b.tmp, "%s/tmp", b.home) < 0
		? hoist_error_set(err, HOIST_E_NOMEM, "out of memory")
		: hoist_fs_mkdir_p(AT_FDCWD, b.tmp, 0700, err);
	if (rc == 0)
		rc = hoist_compose_new(&s.img, ctx, o->image, o->platform, err);
	if (rc < 0)
		goto out;
	hoist_config *c = hoist_compose_config(s.img);
	if (o->entrypoint && *o->entrypoint)
		rc = strv_push(&argv, &argc, o->entrypoint);
	else if (!o->entrypoint && hoist_config_entrypoint(c))
		rc = push_json(&argv, &argc, hoist_config_entrypoint(c));
	if (rc == 0 && o->n_cmd)
		for (size_t i = 0; rc == 0 && i < o->n_cmd; i++)
			rc = strv_push(&argv, &argc, o->cmd[i]);
	else if (rc == 0 && hoist_config_cmd(c))
		rc = push_json(&argv, &argc, hoist_config_cmd(c));
	if (rc == 0 && hoist_config_env(c))
		rc = push_json(&env, &n_env, hoist_config_env(c));
	for (size_t i = 0; rc == 0 && i < o->n_env; i++)
		rc = set_env(&env, &n_env, o->env[i]);
	if (rc < 0) {
		rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		goto out;
	}
	if (!argc) {
		rc = hoist_error_set(err, HOIST_E_INVALID,
			"'%s' has no entrypoint or command: give one", o->image);
		goto out;
	}
	rc = stage_lowers(&b, &s, &lowers, &n_lowers, err);
	if (rc == 0 && (asprintf(&dir, "%s/run-XXXXXX", b.tmp) < 0 || !mkdtemp(dir) ||
			       asprintf(&upper, "%s/diff", dir) < 0 ||
			       asprintf(&work, "%s/work", dir) < 0 ||
			       mkdir(upper, 0755) < 0 || mkdir(work, 0700) < 0))
		rc = hoist_error_errno(err, errno, "create the run directories");
	if (rc == 0) {
		const char *wd = o->workdir ? o->workdir : stage_workdir(&s);
		hoist_sandbox_opts so;
		hoist_sandbox_opts_init(&so);
		so.ctx = ctx;
		so.lowers = (const char *const *)lowers;
		so.n_lowers = n_lowers;
		so.upper = upper;
		so.work = work;
		so.argv = (const char *const *)argv;
		so.env = (const char *const *)env;
		so.cwd = wd;
		so.make_cwd = true; /* as a RUN step would */
		so.user = o->user ? o->user : stage_user(&s);
		so.net = o->network;
		so.mounts = o->mounts;
		so.n_mounts = o->n_mounts;
		so.stdin_fd = o->stdin_fd;
		so.stdout_fd = o->stdout_fd;
		so.stderr_fd = o->stderr_fd;
		rc = hoist_sandbox_run(&so, exit_status, err);
	}
out:
	if (dir) /* (files the command made as another id, rootless) */
		hoist_sandbox_rm_rf(dir, NULL);
	strv_free(argv, argc);
	strv_free(env, n_env);
	strv_free(lowers, n_lowers);
	stage_release(&s);
	free(b.tmp);
	if (rc < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "run '%s'", o->image);
	return 0;
}

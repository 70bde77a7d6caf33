/* RUN: a command in the sandbox on an overlay of the stage; the overlay's
 * upper dir is the step's diff. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build/internal.h"
#include "hoist/fs.h"
#include "hoist/sandbox.h"
#include "util/cleanup.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define MAX_MOUNTS 64

typedef struct run_ctx {
	char **argv;
	size_t argc;
	char **env;
	size_t n_env;
	hoist_sandbox_mount mounts[MAX_MOUNTS];
	size_t n_mounts;
	char *strings[4 * MAX_MOUNTS]; /* owned strings the mounts point at */
	size_t n_strings;
	int locks[MAX_MOUNTS];         /* flocks on cache mounts */
	size_t n_locks;
	char *private_dirs[MAX_MOUNTS]; /* cache dirs to delete afterwards */
	size_t n_private;
	char *script;                  /* a "#!" heredoc, written to a file */
} run_ctx;

static void run_ctx_release(run_ctx *r)
{
	strv_free(r->argv, r->argc);
	strv_free(r->env, r->n_env);
	for (size_t i = 0; i < r->n_strings; i++)
		free(r->strings[i]);
	for (size_t i = 0; i < r->n_locks; i++)
		close(r->locks[i]);
	for (size_t i = 0; i < r->n_private; i++) {
		hoist_fs_rm_rf(AT_FDCWD, r->private_dirs[i], NULL);
		free(r->private_dirs[i]);
	}
	if (r->script) {
		unlink(r->script);
		free(r->script);
	}
}

static const char *own(run_ctx *r, char *s)
{
	if (!s || r->n_strings == HOIST_ARRAY_SIZE(r->strings)) {
		free(s);
		return NULL;
	}
	r->strings[r->n_strings++] = s;
	return s;
}

/* Is the shell-form text nothing but one heredoc marker ("<<EOF")? */
static bool only_heredoc(const hoist_df_instr *x)
{
	if (x->n_heredocs != 1 || !x->cmdline)
		return false;
	const char *p = x->cmdline;
	while (*p == ' ' || *p == '\t')
		p++;
	while (*p >= '0' && *p <= '9')
		p++;
	if (strncmp(p, "<<", 2) != 0)
		return false;
	for (p += 2; *p; p++)
		if (*p == ' ' || *p == '\t' || *p == '\n')
			break;
	while (*p == ' ' || *p == '\t' || *p == '\n')
		p++;
	return *p == '\0';
}

static int make_argv(build *b, stage *s, const hoist_df_instr *x, run_ctx *r,
	hoist_error **err)
{
	if (x->json) {
		for (size_t i = 0; i < x->n_args; i++)
			if (strv_push(&r->argv, &r->argc, x->args[i]) < 0)
				return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		if (!r->argc)
			return hoist_error_set(err, HOIST_E_INVALID, "%s:%d: RUN: empty command",
				b->df->name, x->line);
		return 0;
	}
	size_t i;
	json_t *v;
	_cleanup_free_ char *script = NULL;
	if (only_heredoc(x)) {
		const char *body = x->heredocs[0].content;
		if (!strncmp(body, "#!", 2)) {
			/* A script with its own interpreter runs as a file. */
			if (asprintf(&r->script, "%s/heredoc-XXXXXX", b->tmp) < 0)
				return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
			int fd = mkstemp(r->script);
			if (fd < 0)
				return hoist_error_errno(err, errno, "write heredoc script");
			int rc = hoist_write_all(fd, body, strlen(body), err);
			close(fd);
			if (rc < 0)
				return rc;
			hoist_sandbox_mount *m = &r->mounts[r->n_mounts++];
			m->type = HOIST_SANDBOX_MOUNT_SECRET;
			m->source = r->script;
			m->target = "/dev/pipes/hoist-heredoc";
			m->mode = 0755;
			return strv_push(&r->argv, &r->argc, m->target) < 0
				? hoist_error_set(err, HOIST_E_NOMEM, "out of memory") : 0;
		}
		script = strdup(body);
	} else {
		hoist_buf sb = HOIST_BUF_INIT(16 << 20);
		int rc = hoist_buf_appends(&sb, x->cmdline ? x->cmdline : "", err);
		for (size_t k = 0; rc == 0 && k < x->n_heredocs; k++)
			rc = hoist_buf_appendf(&sb, err, "\n%s%s", x->heredocs[k].content,
				x->heredocs[k].name);
		if (rc < 0) {
			hoist_buf_release(&sb);
			return rc;
		}
		script = hoist_buf_steal(&sb, NULL);
	}
	if (!script)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	json_array_foreach(s->shell, i, v)
		if (strv_push(&r->argv, &r->argc, json_string_value(v)) < 0)
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	if (strv_push(&r->argv, &r->argc, script) < 0)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	return 0;
}

static const hoist_build_secret *find_secret(build *b, const char *id)
{
	for (size_t i = 0; i < b->o->n_secrets; i++)
		if (!strcmp(b->o->secrets[i].id, id))
			return &b->o->secrets[i];
	return NULL;
}

/* A cache mount's directory: persistent under $HOIST_HOME/cache-mounts,
 * locked as the sharing mode says. */
static int cache_mount_dir(build *b, const hoist_df_mount *m, run_ctx *r,
	char **out, hoist_error **err)
{
	const char *id = m->id && *m->id ? m->id : m->target;
	hoist_digest d;
	hoist_digest_of(&d, HOIST_DIGEST_SHA256, id, strlen(id), NULL);
	_cleanup_free_ char *dir = NULL, *lock = NULL;
	if (asprintf(&dir, "%s/cache-mounts/%.32s", b->home, hoist_digest_hex(&d)) < 0 ||
		asprintf(&lock, "%s.lock", dir) < 0)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	bool fresh = !hoist_fs_exists(AT_FDCWD, dir);
	int rc = hoist_fs_mkdir_p(AT_FDCWD, dir, 0755, err);
	if (rc < 0)
		return rc;
	if (fresh && (m->uid >= 0 || m->gid >= 0))
		if (chown(dir, m->uid >= 0 ? (uid_t)m->uid : (uid_t)-1,
			    m->gid >= 0 ? (gid_t)m->gid : (gid_t)-1) < 0 && geteuid() == 0)
			return hoist_error_errno(err, errno, "chown cache mount '%s'", id);
	if (fresh && m->mode >= 0)
		chmod(dir, (mode_t)m->mode);
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return hoist_error_errno(err, errno, "open '%s'", lock);
	int how = m->sharing == HOIST_DF_SHARING_SHARED ? LOCK_SH
		: m->sharing == HOIST_DF_SHARING_LOCKED ? LOCK_EX : LOCK_EX | LOCK_NB;
	if (m->sharing == HOIST_DF_SHARING_LOCKED &&
		flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK)
		build_say(b, "      waiting for cache mount '%s' (sharing=locked)\n", id);
	while (flock(fd, how) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK) {
			/* private: another build has it; use a fresh one */
			close(fd);
			char *tmp = NULL;
			if (asprintf(&tmp, "%s/cache-private-XXXXXX", b->tmp) < 0 || !mkdtemp(tmp)) {
				free(tmp);
				return hoist_error_errno(err, errno, "private cache mount");
			}
			r->private_dirs[r->n_private++] = tmp;
			*out = strdup(tmp);
			return *out ? 0 : hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		}
		int e = errno;
		close(fd);
		return hoist_error_errno(err, e, "lock cache mount '%s'", id);
	}
	r->locks[r->n_locks++] = fd;
	*out = steal_ptr(&dir);
	return 0;
}

/* The host path a bind mount shows: a path of the context, or of another
 * stage's or image's filesystem (merged).  Read-only content goes into the
 * key; a context path by its content. */
static int bind_source(build *b, stage *s, const hoist_df_instr *x,
	const hoist_df_mount *m, char **out, build_key *k, hoist_error **err)
{
	const char *src = m->source ? m->source : "/";
	while (*src == '/')
		src++;
	for (const char *p = src; *p;) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return hoist_error_set(err, HOIST_E_UNSAFE,
				"%s:%d: RUN: bind mount source '%s' leaves its root", b->df->name,
				x->line, m->source);
		p += n + (e ? 1 : 0);
	}
	if (!m->from) {
		char hex[65];
		int rc = context_key(b, *src ? src : ".", hex, err);
		if (rc < 0)
			return instr_wrap(b, x, err);
		key_add(k, "bind-context", hex);
		return asprintf(out, "%s/%s", b->o->context, src) < 0
			? hoist_error_set(err, HOIST_E_NOMEM, "out of memory") : 0;
	}
	stage *from = NULL;
	int rc = from_stage(b, s, m->from, &from, err);
	_cleanup_free_ char *root = NULL;
	if (rc == 0)
		rc = merged_rootfs(b, from, hoist_compose_n_layers(from->img), &root, err);
	if (rc < 0)
		return instr_wrap(b, x, err);
	key_add(k, "bind-from", from->chain);
	key_add(k, "bind-source", src);
	return asprintf(out, "%s/%s", root, src) < 0
		? hoist_error_set(err, HOIST_E_NOMEM, "out of memory") : 0;
}

static int add_mounts(build *b, stage *s, const hoist_df_instr *x, run_ctx *r,
	build_key *k, hoist_error **err)
{
	for (size_t i = 0; i < x->n_mounts; i++) {
		const hoist_df_mount *m = &x->mounts[i];
		if (r->n_mounts + 1 >= MAX_MOUNTS)
			return hoist_error_set(err, HOIST_E_LIMIT, "%s:%d: RUN: too many mounts",
				b->df->name, x->line);
		hoist_sandbox_mount *sm = &r->mounts[r->n_mounts];
		memset(sm, 0, sizeof(*sm));
		char desc[64];
		switch (m->type) {
		case HOIST_DF_MOUNT_CACHE: {
			if (!m->target)
				return hoist_error_set(err, HOIST_E_INVALID,
					"%s:%d: RUN: --mount=type=cache needs a target", b->df->name, x->line);
			char *dir = NULL;
			int rc = cache_mount_dir(b, m, r, &dir, err);
			if (rc < 0)
				return rc;
			sm->type = HOIST_SANDBOX_MOUNT_BIND;
			sm->source = own(r, dir);
			sm->target = m->target;
			sm->readonly = m->readonly;
			/* the content of a cache mount is not part of the key */
			snprintf(desc, sizeof(desc), "cache");
			key_add(k, desc, m->id ? m->id : m->target);
			key_add(k, "target", m->target);
			break;
		}
		case HOIST_DF_MOUNT_TMPFS:
			if (!m->target)
				return hoist_error_set(err, HOIST_E_INVALID,
					"%s:%d: RUN: --mount=type=tmpfs needs a target", b->df->name, x->line);
			sm->type = HOIST_SANDBOX_MOUNT_TMPFS;
			sm->target = m->target;
			sm->size = m->size;
			key_add(k, "tmpfs", m->target);
			break;
		case HOIST_DF_MOUNT_SECRET: {
			const char *id = m->id ? m->id : NULL;
			if (!id && m->target) {
				const char *slash = strrchr(m->target, '/');
				id = slash ? slash + 1 : m->target;
			}
			const hoist_build_secret *sec = id ? find_secret(b, id) : NULL;
			if (!sec) {
				if (m->required)
					return hoist_error_set(err, HOIST_E_NOTFOUND,
						"%s:%d: RUN: secret '%s' is required but was not given "
						"(--secret id=%s,src=FILE)", b->df->name, x->line,
						id ? id : "?", id ? id : "ID");
				continue;
			}
			char *target = NULL;
			if (m->target)
				target = strdup(m->target);
			else if (asprintf(&target, "/run/secrets/%s", id) < 0)
				target = NULL;
			sm->type = HOIST_SANDBOX_MOUNT_SECRET;
			sm->source = sec->src;
			sm->target = own(r, target);
			sm->mode = m->mode >= 0 ? (mode_t)m->mode : 0400;
			sm->uid = m->uid >= 0 ? (uid_t)m->uid : 0;
			sm->gid = m->gid >= 0 ? (gid_t)m->gid : 0;
			if (!sm->target)
				return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
			/* which secret, never its content */
			key_add(k, "secret", id);
			key_add(k, "target", sm->target);
			break;
		}
		case HOIST_DF_MOUNT_BIND: {
			if (!m->target)
				return hoist_error_set(err, HOIST_E_INVALID,
					"%s:%d: RUN: --mount=type=bind needs a target", b->df->name, x->line);
			char *src = NULL;
			int rc = bind_source(b, s, x, m, &src, k, err);
			if (rc < 0)
				return rc;
			sm->type = HOIST_SANDBOX_MOUNT_BIND;
			sm->source = own(r, src);
			sm->target = m->target;
			sm->readonly = m->readonly;
			key_add(k, "bind", m->target);
			break;
		}
		case HOIST_DF_MOUNT_SSH:
			return hoist_error_set(err, HOIST_E_UNSUPPORTED,
				"%s:%d: RUN: --mount=type=ssh is not supported", b->df->name, x->line);
		}
		if (!sm->source && sm->type != HOIST_SANDBOX_MOUNT_TMPFS)
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		r->n_mounts++;
	}
	return 0;
}

static int make_env(stage *s, run_ctx *r, hoist_error **err)
{
	char **env = NULL;
	size_t n = 0;
	int rc = hoist_df_scope_run_env(s->scope, &env, &n, err);
	if (rc < 0)
		return rc;
	bool have_path = false;
	for (size_t i = 0; i < n; i++)
		have_path |= !strncmp(env[i], "PATH=", 5);
	for (size_t i = 0; i < n; i++)
		if (strv_push(&r->env, &r->n_env, env[i]) < 0)
			rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	if (rc == 0 && !have_path && strv_push(&r->env, &r->n_env, DEFAULT_PATH) < 0)
		rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	hoist_df_strv_free(env, n);
	return rc;
}

static char *created_by(const hoist_df_instr *x, char *const *argv, size_t argc)
{
	hoist_buf b = HOIST_BUF_INIT(1 << 20);
	hoist_buf_appends(&b, "RUN ", NULL);
	if (x->json) {
		json_t *a = json_array();
		for (size_t i = 0; i < argc; i++)
			json_array_append_new(a, json_string(argv[i]));
		char *s = json_dumps(a, JSON_COMPACT);
		hoist_buf_appends(&b, s ? s : "", NULL);
		free(s);
		json_decref(a);
	} else {
		for (size_t i = 0; i < argc; i++)
			hoist_buf_appendf(&b, NULL, "%s%s", i ? " " : "", argv[i]);
	}
	hoist_buf_appends(&b, " # buildkit", NULL);
	return hoist_buf_steal(&b, NULL);
}

/* How RUN gets its root filesystem.  An overlay of the stage's layers is
 * the default; a plain copy (rundir.c) where the stage is small, where no
 * overlay can be mounted, or when HOIST_RUN_ROOTFS says so ("overlay" or
 * "copy").  The bounds weigh what a copy costs against what it saves
 * (measured on ext4, 2 cores): making, comparing and deleting the copy
 * costs about 45 us per entry of the stage (a step that creates nothing:
 * 6 ms on a 20-entry busybox stage, 30 ms on 500 entries, 50 ms on 1000,
 * where an overlay takes 10 ms), while an overlay adds about 12 us to
 * every file the command creates (100,000 files: 3.3 s instead of 2.2 s,
 * and 0.27 s of CPU to unmount).  At 512 entries a copy pays off from
 * about 2,000 new files on; on a busybox-size stage from about 400. */
#define COPY_MAX_ENTRIES 512
#define COPY_MAX_BYTES (16ull << 20)

typedef enum root_mode { ROOT_AUTO, ROOT_OVERLAY, ROOT_COPY } root_mode;

static int env_root_mode(root_mode *out, hoist_error **err)
{
	const char *e = getenv("HOIST_RUN_ROOTFS");
	*out = ROOT_AUTO;
	if (!e || !*e)
		return 0;
	if (!strcmp(e, "overlay"))
		*out = ROOT_OVERLAY;
	else if (!strcmp(e, "copy"))
		*out = ROOT_COPY;
	else
		return hoist_error_set(err, HOIST_E_INVALID,
			"HOIST_RUN_ROOTFS='%s': expected 'overlay' or 'copy'", e);
	return 0;
}

/* Runs the command once, in dir: on a copy of the stage in dir/root (then
 * *copy is its record) or on an overlay with dir/diff as upper dir (then
 * *refused says whether the kernel refused to mount it: nothing ran). */
static int run_on(build *b, stage *s, run_ctx *r, hoist_sandbox_net net,
	const char *dir, const char *diff, rundir **copy, hoist_sandbox_unmount **um,
	bool *refused, int *status, hoist_error **err)
{
	root_mode mode = ROOT_COPY;
	if (!b->no_overlay) {
		int e = env_root_mode(&mode, err);
		if (e < 0)
			return e;
	}
	_cleanup_free_ char *root = NULL, *work = NULL;
	if (asprintf(&root, "%s/root", dir) < 0 || asprintf(&work, "%s/work", dir) < 0)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	double t0 = now_s();
	const char *wd = stage_workdir(s);
	int rc = 0;
	if (mode != ROOT_OVERLAY) {
		rundir_limits lim = { 0 };
		if (mode == ROOT_AUTO)
			lim = (rundir_limits){ COPY_MAX_ENTRIES, COPY_MAX_BYTES };
		rc = rundir_unpack(b, s, root, &lim, err);
		if (rc > 0)
			rc = rundir_record(copy, root, hoist_sandbox_overlay_xattr_prefix(), err);
		if (rc < 0)
			return rc;
		bool large = *copy && lim.max_entries && rundir_entries(*copy) > lim.max_entries;
		/* whole-second times would make every step wait for the next
		 * second: not worth it where an overlay may serve */
		if (*copy && (large || (mode == ROOT_AUTO && !rundir_fine_times(*copy)))) {
			rundir_free(*copy);
			*copy = NULL;
			hoist_sandbox_rm_rf(root, NULL);
			if (large) /* (counted only now where a helper unpacked it) */
				rundir_mark_large(b, s);
		}
	}
	if (*copy && b->o->progress == HOIST_BUILD_PROGRESS_PLAIN)
		build_say(b, "      on a copy of the stage (%zu entries, made in %.2fs)\n",
			rundir_entries(*copy), now_s() - t0);
	char **lowers = NULL;
	size_t n_lowers = 0;
	if (!*copy)
		rc = stage_lowers(b, s, &lowers, &n_lowers, err);
	if (rc == 0 && (mkdir(diff, 0755) < 0 || (!*copy && mkdir(work, 0700) < 0)))
		rc = hoist_error_errno(err, errno, "create '%s'", diff);
	if (rc == 0) {
		hoist_sandbox_opts so;
		hoist_sandbox_opts_init(&so);
		so.ctx = b->ctx;
		if (*copy) {
			so.rootfs = root;
			so.start_after = rundir_newest(*copy);
		} else {
			so.lowers = (const char *const *)lowers;
			so.n_lowers = n_lowers;
			so.upper = diff;
			so.work = work;
			so.unmount = um;
		}
		so.argv = (const char *const *)r->argv;
		so.env = (const char *const *)r->env;
		so.cwd = wd;
		/* WORKDIR makes its directory when a step first needs it (in
		 * the root the command sees: an overlay copies up its parents
		 * with their owners) */
		so.make_cwd = true;
		so.user = stage_user(s);
		so.net = net;
		so.mounts = r->mounts;
		so.n_mounts = r->n_mounts;
		so.stdin_fd = -1;
		int out = b->o->progress == HOIST_BUILD_PROGRESS_QUIET ? -1 : fileno(b->log);
		so.stdout_fd = out;
		so.stderr_fd = out;
		rc = hoist_sandbox_run(&so, status, err);
		*refused = rc == -HOIST_E_UNSUPPORTED && !*copy;
	}
	strv_free(lowers, n_lowers);
	return rc;
}

int run_step(build *b, stage *s, const hoist_df_instr *x, hoist_error **err)
{
	run_ctx r = { 0 };
	build_key k;
	key_init(&k, s->chain);
	key_add(&k, "op", "RUN");
	int rc = make_argv(b, s, x, &r, err);
	if (rc == 0)
		rc = make_env(s, &r, err);
	const char *net_flag = hoist_df_instr_flag(x, "network");
	hoist_sandbox_net net = b->o->network;
	if (net_flag && !strcmp(net_flag, "none"))
		net = HOIST_SANDBOX_NET_NONE;
	else if (net_flag && strcmp(net_flag, "default") && strcmp(net_flag, "host"))
		rc = rc < 0 ? rc : hoist_error_set(err, HOIST_E_INVALID,
			"%s:%d: RUN: unknown --network '%s'", b->df->name, x->line, net_flag);
	if (rc == 0) {
		key_addv(&k, "argv", r.argv, r.argc);
		key_addv(&k, "env", r.env, r.n_env);
		key_add(&k, "user", stage_user(s));
		key_add(&k, "workdir", stage_workdir(s));
		key_add(&k, "network", net == HOIST_SANDBOX_NET_NONE ? "none" : "host");
		rc = add_mounts(b, s, x, &r, &k, err);
	}
	char key[65];
	key_final(&k, key);
	_cleanup_free_ char *by = rc == 0 ? created_by(x, r.argv, r.argc) : NULL;
	if (rc < 0) {
		run_ctx_release(&r);
		return rc;
	}
	b->res->steps++;
	cache_rec cr;
	rc = cache_lookup(b, key, &cr, err);
	if (rc < 0) {
		run_ctx_release(&r);
		return rc;
	}
	if (cr.hit) {
		if (b->o->progress == HOIST_BUILD_PROGRESS_PLAIN)
			build_say(b, "      CACHED (%s, key %.12s)\n", cr.where, key);
		else
			build_say(b, "      CACHED\n");
		rc = use_cached(b, s, &cr, key, by, err);
		cache_rec_release(&cr);
		run_ctx_release(&r);
		if (rc == 0)
			b->res->cached++;
		return rc;
	}
	if (b->o->progress == HOIST_BUILD_PROGRESS_PLAIN)
		build_say(b, "      cache miss: %s (key %.12s)\n",
			b->o->no_cache ? "--no-cache" : "no earlier build of this step with this parent, command, environment and mounts",
			key);
	_cleanup_free_ char *dir = NULL, *diff = NULL;
	if (asprintf(&dir, "%s/run-XXXXXX", b->tmp) < 0 || !mkdtemp(dir) ||
		asprintf(&diff, "%s/diff", dir) < 0)
		rc = hoist_error_errno(err, errno, "create the RUN directories");
	int status = -1;
	/* An overlay is unmounted while the layer is made from its upper
	 * directory (they need not wait for each other). */
	hoist_sandbox_unmount *um = NULL;
	rundir *copy = NULL;
	bool refused = false;
	if (rc == 0) {
		rc = run_on(b, s, &r, net, dir, diff, &copy, &um, &refused, &status, err);
		if (refused) {
			/* nothing ran: the sandbox stopped at the mount */
			build_say(b, "      overlayfs cannot be mounted here (%s): RUN steps run "
				"on a copy of the stage\n", err && *err ? (*err)->msg : "refused");
			if (err) {
				hoist_error_free(*err);
				*err = NULL;
			}
			b->no_overlay = true;
			hoist_sandbox_rm_rf(dir, NULL);
			rc = mkdir(dir, 0700) < 0
				? hoist_error_errno(err, errno, "create '%s'", dir)
				: run_on(b, s, &r, net, dir, diff, &copy, &um, &refused, &status, err);
		}
		if (rc < 0)
			instr_wrap(b, x, err);
	}
	run_ctx_release(&r);
	if (rc == 0 && status != 0)
		rc = hoist_error_set(err, HOIST_E_INVALID,
			"%s:%d: RUN: process \"%s\" did not complete successfully: exit code %d",
			b->df->name, x->line, x->json ? "(exec form)" : (x->cmdline ? x->cmdline : ""),
			status);
	if (rc == 0 && copy) {
		double t0 = now_s();
		rc = rundir_extract(copy, diff, err);
		if (rc < 0)
			instr_wrap(b, x, err);
		else if (b->o->progress == HOIST_BUILD_PROGRESS_PLAIN)
			build_say(b, "      changes taken from the copy in %.2fs\n", now_s() - t0);
	}
	rundir_free(copy);
	if (rc == 0) {
		b->res->ran++;
		rc = commit_dir(b, s, diff, true, -1, -1, by, key, err);
	}
	hoist_sandbox_unmount_wait(um);
	if (dir)
		hoist_sandbox_rm_rf(dir, NULL);
	return rc;
}

/* COPY and ADD steps: the files (hoist/buildcopy.h) into a snapshot dir
 * that becomes the layer and a lower dir of later steps. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build/internal.h"
#include "hoist/buildcopy.h"
#include "hoist/fs.h"
#include "hoist/sandbox.h"
#include "util/cleanup.h"

HOIST_DEFINE_CLEANUP(hoist_fsview, hoist_fsview_free)

/* --chown=USER[:GROUP]: numbers as they are, names from the stage's
 * /etc/passwd and /etc/group (the topmost lower that has them). */
static int resolve_owner(char *const *lowers, size_t n, const char *spec,
	int64_t *uid, int64_t *gid, hoist_error **err)
{
	bool numeric = true;
	for (const char *p = spec; *p; p++)
		if (!((*p >= '0' && *p <= '9') || *p == ':'))
			numeric = false;
	if (numeric) {
		char *end = NULL;
		errno = 0;
		long long u = strtoll(spec, &end, 10);
		long long g = u;
		if (!errno && end && *end == ':')
			g = strtoll(end + 1, &end, 10);
		if (errno || !end || *end || u < 0 || g < 0 || u > 0x7fffffff || g > 0x7fffffff)
			return hoist_error_set(err, HOIST_E_INVALID, "invalid --chown '%s'", spec);
		*uid = u;
		*gid = g;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *pw = NULL;
		if (asprintf(&pw, "%s/etc/passwd", lowers[i]) < 0)
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		if (access(pw, F_OK) != 0)
			continue;
		_cleanup_close_ int fd = open(lowers[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		hoist_sandbox_user u;
		if (fd < 0 || hoist_sandbox_user_resolve(&u, fd, spec, err) < 0)
			return hoist_error_wrap(err, HOIST_E_INVALID, "--chown '%s'", spec);
		*uid = u.uid;
		*gid = u.gid;
		return 0;
	}
	return hoist_error_set(err, HOIST_E_NOTFOUND,
		"--chown '%s': the stage has no /etc/passwd to find it in", spec);
}

int context_key(build *b, const char *path, char out[65], hoist_error **err)
{
	_cleanup_(hoist_fsview_freep) hoist_fsview *v = NULL;
	int rc = hoist_fsview_new_dir(&v, b->o->context, b->ignore, err);
	if (rc < 0)
		return rc;
	hoist_build_copy_req req = { 0 };
	const char *src[1] = { path };
	req.src = v;
	req.sources = src;
	req.n_sources = 1;
	req.dest = "/mnt/";
	req.uid = req.gid = req.chmod = -1;
	hoist_digest d;
	rc = hoist_build_copy_key_only(&d, &req, err);
	if (rc == 0)
		snprintf(out, 65, "%s", hoist_digest_hex(&d));
	return rc;
}

/* The step's key: the stage's chain (which pins the filesystem the copy
 * lands on), the instruction, and what it copies: from the context, the
 * content key of the files (read and hashed, never mtimes); from another
 * stage or image, that stage's chain (which pins its files) and the
 * sources.  Neither needs any base layer unpacked. */
static int step_key(build *b, stage *s, const hoist_df_instr *x, stage *fs,
	hoist_build_copy_req *req, bool linked, const char *chown_spec, char key[65],
	char content_out[HOIST_DIGEST_STRMAX], hoist_error **err)
{
	build_key k;
	key_init(&k, s->chain);
	key_add(&k, "op", x->kind == HOIST_DF_ADD ? "ADD" : "COPY");
	content_out[0] = '\0';
	if (fs) {
		key_add(&k, "from", fs->chain);
		key_addv(&k, "sources", (char *const *)req->sources, req->n_sources);
		char mode[32];
		snprintf(mode, sizeof(mode), "%lld:%lld:%llo", (long long)req->uid,
			(long long)req->gid, (long long)req->chmod);
		key_add(&k, "owner-mode", mode);
		for (size_t i = 0; i < req->n_excludes; i++)
			key_add(&k, "exclude", req->excludes[i]);
	} else {
		hoist_digest content;
		const hoist_fsview *target = req->target;
		req->target = NULL;
		int rc = hoist_build_copy_key_only(&content, req, err);
		req->target = target;
		if (rc < 0) {
			hoist_hasher_free(k.h);
			return rc;
		}
		key_add(&k, "content", content.str);
		snprintf(content_out, HOIST_DIGEST_STRMAX, "%s", content.str);
	}
	key_add(&k, "chown", chown_spec ? chown_spec : "");
	key_add(&k, "dest", req->dest);
	key_add(&k, "workdir", req->workdir);
	key_add(&k, "link", linked ? "1" : "0");
	key_final(&k, key);
	return 0;
}

/* Not root, the snapshot's files are ours: the layer gets --chown's ids
 * (or root's) for what the copy made, and root's for the directories above
 * the destination that the stage already had (as the copy left them). */
typedef struct copy_owner {
	const hoist_fsview *target;
	char *dest;       /* the destination in the image, no leading '/' */
	int64_t uid, gid;
} copy_owner;

static bool copy_owner_of(const void *ud, const char *name, const struct stat *st,
	int64_t *uid, int64_t *gid)
{
	const copy_owner *o = ud;
	size_t n = strlen(name);
	bool above = S_ISDIR(st->st_mode) && !strncmp(o->dest, name, n) &&
		(o->dest[n] == '/' || o->dest[n] == '\0');
	struct stat vs;
	_cleanup_free_ char *p = NULL;
	if (above && o->target && asprintf(&p, "/%s", name) >= 0 &&
		hoist_fsview_lstat(o->target, p, &vs, NULL) == 0) {
		*uid = 0;
		*gid = 0;
		return true;
	}
	*uid = o->uid >= 0 ? o->uid : 0;
	*gid = o->uid >= 0 ? (o->gid >= 0 ? o->gid : o->uid) : 0;
	return true;
}

int copy_step(build *b, stage *s, const hoist_df_instr *x, hoist_error **err)
{
	bool add = x->kind == HOIST_DF_ADD;
	const char *what = add ? "ADD" : "COPY";
	if (x->n_args < 2)
		return hoist_error_set(err, HOIST_E_INVALID, "%s:%d: %s: needs a source and a destination",
			b->df->name, x->line, what);
	if (hoist_df_instr_flag(x, "parents"))
		return hoist_error_set(err, HOIST_E_UNSUPPORTED, "%s:%d: %s: --parents is not supported",
			b->df->name, x->line, what);
	const char *from = add ? NULL : hoist_df_instr_flag(x, "from");
	const char *link = hoist_df_instr_flag(x, "link");
	bool linked = link && strcmp(link, "false") != 0;
	char **src_lowers = NULL, **dst_lowers = NULL;
	size_t n_src = 0, n_dst = 0;
	_cleanup_(hoist_fsview_freep) hoist_fsview *srcv = NULL;
	_cleanup_(hoist_fsview_freep) hoist_fsview *dstv = NULL;
	stage *fs = NULL;
	/* declared before any goto: cleanup runs at every exit */
	_cleanup_free_ char *snap = NULL;
	_cleanup_free_ char *by = NULL;
	int rc = 0;
	if (from)
		rc = from_stage(b, s, from, &fs, err);
	else
		rc = hoist_fsview_new_dir(&srcv, b->o->context, b->ignore, err);
	hoist_build_copy_req req = { 0 };
	req.uid = req.gid = req.chmod = -1;
	const char *chown_s = hoist_df_instr_flag(x, "chown");
	const char *chmod_s = hoist_df_instr_flag(x, "chmod");
	if (rc == 0 && chmod_s) {
		char *end = NULL;
		long m = strtol(chmod_s, &end, 8);
		if (!end || *end || m < 0 || m > 07777)
			rc = hoist_error_set(err, HOIST_E_INVALID, "invalid --chmod '%s': want octal",
				chmod_s);
		req.chmod = m;
	}
	/* sources, heredoc files, excludes */
	size_t ns = x->n_args - 1;
	const char **sources = calloc(ns + 1, sizeof(*sources));
	hoist_build_copy_inline *inl = calloc(ns + 1, sizeof(*inl));
	const char **excl = calloc(x->n_flags + 1, sizeof(*excl));
	size_t n_sources = 0, n_inl = 0, n_excl = 0;
	if (rc == 0 && (!sources || !inl || !excl))
		rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	for (size_t i = 0; rc == 0 && i < ns; i++) {
		const hoist_df_heredoc *h = hoist_df_instr_heredoc(x, x->args[i]);
		if (h) {
			inl[n_inl].name = h->name;
			inl[n_inl].data = h->content;
			inl[n_inl++].len = strlen(h->content);
		} else {
			sources[n_sources++] = x->args[i];
		}
	}
	for (size_t i = 0; rc == 0 && i < x->n_flags; i++)
		if (!strcmp(x->flags[i].name, "exclude"))
			excl[n_excl++] = x->flags[i].value;
	req.src = srcv;
	req.sources = sources;
	req.n_sources = n_sources;
	req.inlines = inl;
	req.n_inlines = n_inl;
	req.dest = x->args[x->n_args - 1];
	req.workdir = stage_workdir(s);
	req.is_add = add;
	req.checksum = hoist_df_instr_flag(x, "checksum");
	req.excludes = excl;
	req.n_excludes = n_excl;
	char key[65], content[HOIST_DIGEST_STRMAX];
	/* --chown goes into the key as written (names are resolved against
	 * the stage only when the copy runs) */
	if (rc == 0)
		rc = step_key(b, s, x, fs, &req, linked, chown_s, key, content, err);
	if (rc == 0 && asprintf(&by, "%s # buildkit", x->original) < 0)
		rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	cache_rec cr = { 0 };
	if (rc == 0) {
		b->res->steps++;
		rc = cache_lookup(b, key, &cr, err);
	}
	if (rc == 0 && cr.hit) {
		if (b->o->progress == HOIST_BUILD_PROGRESS_PLAIN)
			build_say(b, "      CACHED (%s, key %.12s)\n", cr.where, key);
		else
			build_say(b, "      CACHED\n");
		rc = use_cached(b, s, &cr, key, by, err);
		if (rc == 0)
			b->res->cached++;
		goto out;
	}
	if (rc < 0)
		goto out;
	if (b->o->progress == HOIST_BUILD_PROGRESS_PLAIN)
		build_say(b, "      cache miss: %s (%s%.19s, key %.12s)\n",
			b->o->no_cache ? "--no-cache" : "no earlier build copied this content here",
			*content ? "content " : "from a stage", content, key);
	/* Now the files: the source stage's and (without --link) this
	 * stage's, which decides whether the destination is a directory and
	 * what its parents look like. */
	if (fs) {
		rc = stage_lowers(b, fs, &src_lowers, &n_src, err);
		if (rc == 0)
			rc = hoist_fsview_new_lowers(&srcv, (const char *const *)src_lowers, n_src,
				NULL, err);
		req.src = srcv;
	}
	if (rc == 0 && !linked)
		rc = stage_lowers(b, s, &dst_lowers, &n_dst, err);
	if (rc == 0 && !linked)
		rc = hoist_fsview_new_lowers(&dstv, (const char *const *)dst_lowers, n_dst, NULL, err);
	req.target = dstv;
	if (rc == 0 && chown_s)
		rc = resolve_owner(dst_lowers, n_dst, chown_s, &req.uid, &req.gid, err);
	if (rc == 0 && (asprintf(&snap, "%s/copy-XXXXXX", b->tmp) < 0 || !mkdtemp(snap)))
		rc = hoist_error_errno(err, errno, "create a directory in '%s'", b->tmp);
	hoist_build_copy_result res = { 0 };
	req.snapshot = snap;
	if (rc == 0)
		rc = hoist_build_copy(&res, &req, err);
	if (rc == 0 && res.owner_applied) {
		rc = commit_dir(b, s, snap, false, -1, -1, by, key, err);
	} else if (rc == 0) {
		copy_owner co = { dstv, NULL, req.uid, req.gid };
		const char *d = req.dest;
		_cleanup_free_ char *abs = d[0] == '/' ? strdup(d) : NULL;
		if (!abs && asprintf(&abs, "%s/%s", req.workdir, d) < 0)
			abs = NULL;
		co.dest = abs;
		while (co.dest && *co.dest == '/')
			co.dest++;
		rc = co.dest ? commit_dir_owner(b, s, snap, false, -1, -1, copy_owner_of, &co,
				      by, key, err)
			     : hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	} else if (snap) {
		hoist_fs_rm_rf(AT_FDCWD, snap, NULL);
	}
out:
	cache_rec_release(&cr);
	free(sources);
	free(inl);
	free(excl);
	strv_free(src_lowers, n_src);
	strv_free(dst_lowers, n_dst);
	if (rc < 0)
		return instr_wrap(b, x, err);
	return 0;
}

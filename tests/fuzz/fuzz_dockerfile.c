/* Fuzzes the Dockerfile front end: the parser, the expansion of every
 * instruction, the ARG/ENV scopes, the shell lexer on raw text and the
 * .dockerignore matcher.  Beyond not crashing or leaking: a failure has a
 * well-formed message that names the file, a success has a consistent AST
 * (lines in order and within the file, stages with a base, names valid). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hoist/dockerfile.h"
#include "hoist/dockerignore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int ok, const char *what, const char *detail)
{
	if (ok)
		return;
	fprintf(stderr, "fuzz_dockerfile: %s: %s\n", what, detail ? detail : "");
	abort();
}

static void check_error(int rc, hoist_error *e)
{
	require(rc < 0, "negative return on failure", NULL);
	require(e && e->msg && e->msg[0], "failure without message", NULL);
	require(e->code == -rc, "code matches return", e->msg);
	size_t n = strlen(e->msg);
	require(e->msg[n - 1] != '.', "message ends with a period", e->msg);
	require(n < 4096, "message is bounded", e->msg);
}

static const char *lookup(void *ud, const char *name)
{
	(void)ud;
	static const char *const env[][2] = {
		{ "A", "a" }, { "SPACE", "x  y" }, { "EMPTY", "" }, { "PATH", "/bin:/usr/bin" },
		{ "Q", "'\"" },
	};
	for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++)
		if (!strcmp(env[i][0], name))
			return env[i][1];
	return NULL;
}

static void check_instr(const hoist_dockerfile *df, const hoist_df_instr *in,
	int lines, int *last)
{
	require(in->line >= 1 && in->line <= lines, "line within the file", in->original);
	require(in->end_line >= in->line && in->end_line <= lines, "end line", in->original);
	require(in->line > *last, "lines increase", in->original);
	*last = in->end_line;
	require(in->original != NULL, "original kept", NULL);
	require(strcmp(hoist_df_kind_name(in->kind), "?") != 0, "kind valid", in->original);
	if (in->kind == HOIST_DF_ONBUILD)
		require(in->onbuild && in->onbuild->kind != HOIST_DF_FROM &&
			in->onbuild->kind != HOIST_DF_ONBUILD &&
			in->onbuild->kind != HOIST_DF_MAINTAINER, "ONBUILD trigger", in->original);
	if (in->kind == HOIST_DF_COPY || in->kind == HOIST_DF_ADD)
		require(in->n_args >= 2, "COPY has a destination", in->original);
	if (in->kind == HOIST_DF_SHELL)
		require(in->json && in->n_args >= 1, "SHELL is JSON", in->original);
	for (size_t i = 0; i < in->n_heredocs; i++)
		require(in->heredocs[i].name && in->heredocs[i].content, "heredoc body", NULL);

	hoist_df_instr *x = NULL;
	hoist_error *e = NULL;
	int rc = hoist_df_instr_expand(&x, df, in, lookup, NULL, &e);
	if (rc == 0) {
		require(x && x->kind == in->kind && x->line == in->line, "copy", NULL);
		hoist_df_instr_free(x);
	} else {
		require(x == NULL, "no result on failure", NULL);
		check_error(rc, e);
		require(!strncmp(e->msg, "Dockerfile:", 11), "expand error names the file",
			e->msg);
		hoist_error_free(e);
	}
}

static void check_scopes(const hoist_dockerfile *df)
{
	hoist_df_kv build_args[] = { { "A", "b" }, { "HTTP_PROXY", "p" }, { "X", "y" } };
	hoist_df_kv platform[] = { { "TARGETARCH", "amd64" }, { "BUILDOS", "linux" } };
	hoist_df_scope *g = NULL;
	hoist_error *e = NULL;
	int rc = hoist_df_scope_new_global(&g, df, build_args, 3, platform, 2, &e);
	if (rc < 0) {
		check_error(rc, e);
		hoist_error_free(e);
		return;
	}
	hoist_df_scope *prev = NULL;
	for (size_t i = 0; i < df->n_stages; i++) {
		hoist_df_scope *s = NULL;
		char *base = NULL;
		if (hoist_df_expand_word(&base, df->stages[i].base, df->escape,
				hoist_df_scope_lookup, g, &e) == 0)
			free(base);
		hoist_error_freep(&e);
		require(hoist_df_scope_new_stage(&s, g, prev, &e) == 0, "new stage", NULL);
		for (size_t k = 0; k < df->stages[i].n_instrs; k++) {
			const hoist_df_instr *in = &df->stages[i].instrs[k];
			if (in->kind == HOIST_DF_ARG) {
				rc = hoist_df_scope_apply_arg(s, in, &e);
			} else if (in->kind == HOIST_DF_ENV) {
				hoist_df_instr *x = NULL;
				rc = hoist_df_instr_expand(&x, df, in, hoist_df_scope_lookup, s, &e);
				for (size_t j = 0; rc == 0 && j < x->n_kvs; j++)
					rc = hoist_df_scope_set_env(s, x->kvs[j].key, x->kvs[j].value, &e);
				hoist_df_instr_free(x);
			} else {
				continue;
			}
			if (rc < 0) {
				check_error(rc, e);
				hoist_error_freep(&e);
			}
		}
		char **v = NULL;
		size_t n = 0;
		require(hoist_df_scope_run_env(s, &v, &n, &e) == 0, "run env", NULL);
		for (size_t j = 0; j < n; j++)
			require(strchr(v[j], '=') != NULL, "K=V", v[j]);
		hoist_df_strv_free(v, n);
		hoist_df_scope_free(prev);
		prev = s;
	}
	hoist_df_scope_free(prev);
	char **v = NULL;
	size_t n = 0;
	require(hoist_df_scope_unused_build_args(g, &v, &n, &e) == 0, "unused", NULL);
	hoist_df_strv_free(v, n);
	hoist_df_scope_free(g);
}

static void check_dockerfile(const char *s, size_t size)
{
	hoist_dockerfile *df = NULL;
	hoist_error *e = NULL;
	int rc = hoist_dockerfile_parse(&df, "Dockerfile", s, size, &e);
	if (rc < 0) {
		require(df == NULL, "no result on failure", NULL);
		check_error(rc, e);
		require(!strncmp(e->msg, "Dockerfile", 10), "error names the file", e->msg);
		hoist_error_free(e);
		return;
	}
	int lines = 1;
	for (size_t i = 0; i < size; i++)
		lines += s[i] == '\n';
	require(df->n_stages >= 1, "at least one stage", NULL);
	require(df->escape == '\\' || df->escape == '`', "escape", NULL);
	int last = 0;
	for (size_t i = 0; i < df->n_global_args; i++) {
		require(df->global_args[i].kind == HOIST_DF_ARG, "global ARG", NULL);
		check_instr(df, &df->global_args[i], lines, &last);
	}
	for (size_t i = 0; i < df->n_stages; i++) {
		const hoist_df_stage *st = &df->stages[i];
		require(st->base && st->base[0], "stage base", NULL);
		require(!st->name || (st->name[0] >= 'a' && st->name[0] <= 'z'), "stage name",
			st->name);
		if (st->name)
			require(hoist_dockerfile_stage(df, st->name) == st, "stage lookup", st->name);
		check_instr(df, &st->from, lines, &last);
		for (size_t k = 0; k < st->n_instrs; k++)
			check_instr(df, &st->instrs[k], lines, &last);
	}
	check_scopes(df);
	hoist_dockerfile_free(df);
}

static void check_ignore(const char *s, size_t size)
{
	hoist_dockerignore *d = NULL;
	hoist_error *e = NULL;
	int rc = hoist_dockerignore_parse(&d, ".dockerignore", s, size, &e);
	if (rc < 0) {
		check_error(rc, e);
		hoist_error_free(e);
		return;
	}
	static const char *const paths[] = {
		"a", "a/b", "a/b/c.md", ".git/config", "node_modules/x/y.js", "Dockerfile",
		"docs/README.md", "x\ny", "\xce\xb1/\xce\xb2",
	};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		bool m = hoist_dockerignore_matches(d, paths[i]);
		bool r = hoist_dockerignore_may_reinclude(d, paths[i]);
		/* a directory that is excluded and cannot get anything back means
		 * every path below it is excluded */
		if (m && !r) {
			char sub[64];
			snprintf(sub, sizeof(sub), "%s/zz/f", paths[i]);
			require(hoist_dockerignore_matches(d, sub), "skipped directory excluded",
				sub);
		}
	}
	for (size_t i = 0; i < hoist_dockerignore_n_patterns(d); i++)
		require(hoist_dockerignore_pattern(d, i) != NULL, "pattern", NULL);
	hoist_dockerignore_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 256 * 1024)
		return 0;
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	check_dockerfile(s, size);
	check_ignore(s, size);

	if (!memchr(s, '\0', size) && size < 8192) {
		char **w = NULL;
		size_t n = 0;
		hoist_error *e = NULL;
		int rc = hoist_df_expand_words(&w, &n, s, '\\', lookup, NULL, &e);
		if (rc == 0)
			hoist_df_strv_free(w, n);
		else {
			check_error(rc, e);
			hoist_error_freep(&e);
		}
		char *out = NULL;
		rc = hoist_df_expand_heredoc(&out, s, lookup, NULL, &e);
		if (rc == 0)
			free(out);
		else {
			check_error(rc, e);
			hoist_error_free(e);
		}
	}
	free(s);
	return 0;
}

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "hoist/dockerfile.h"
#include "hoist/error.h"

static hoist_dockerfile *parse_ok(const char *src)
{
	hoist_dockerfile *df = NULL;
	hoist_error *err = NULL;
	int r = hoist_dockerfile_parse(&df, "Dockerfile", src, strlen(src), &err);
	if (r != 0) {
		fprintf(stderr, "unexpected parse error: %s\n", err ? err->msg : "?");
		hoist_error_free(err);
		fail();
	}
	assert_null(err);
	assert_non_null(df);
	return df;
}

static void parse_err(const char *src, const char *want)
{
	hoist_dockerfile *df = NULL;
	hoist_error *err = NULL;
	int r = hoist_dockerfile_parse(&df, "Dockerfile", src, strlen(src), &err);
	assert_int_equal(r, -HOIST_E_INVALID);
	assert_null(df);
	assert_non_null(err);
	if (strcmp(err->msg, want))
		fprintf(stderr, "got:  %s\nwant: %s\n", err->msg, want);
	assert_string_equal(err->msg, want);
	hoist_error_free(err);
}

static const hoist_df_instr *instr(const hoist_dockerfile *df, size_t stage,
	size_t i)
{
	assert_true(stage < df->n_stages);
	assert_true(i < df->stages[stage].n_instrs);
	return &df->stages[stage].instrs[i];
}

static void test_every_instruction(void **state)
{
	(void)state;
	const char *src =
		"# syntax=docker/dockerfile:1\n"
		"ARG BASE=alpine\n"
		"from --platform=$BUILDPLATFORM ${BASE}:3.19 AS Build\n"
		"RUN apk add gcc\n"
		"CMD [\"/bin/app\", \"-v\"]\n"
		"LABEL a=b \"c d\"=\"e f\"\n"
		"MAINTAINER someone <a@b.c>\n"
		"EXPOSE 80/tcp 443\n"
		"ENV PATH=/x:$PATH HOME=/root\n"
		"ADD --chown=1:2 --chmod=644 --link --checksum=sha256:abc https://x/y /y\n"
		"COPY --from=build --link=false a b /dst/\n"
		"ENTRYPOINT exec app\n"
		"VOLUME [\"/data\", \"/logs\"]\n"
		"VOLUME /a /b\n"
		"USER app:app\n"
		"WORKDIR /src\n"
		"ARG V1 V2=two\n"
		"ONBUILD RUN echo triggered\n"
		"STOPSIGNAL SIGTERM\n"
		"HEALTHCHECK --interval=30s --timeout=1m30s --start-period=5s "
		"--start-interval=100ms --retries=3 CMD curl -f http://localhost/\n"
		"SHELL [\"/bin/bash\", \"-c\"]\n"
		"FROM build\n"
		"HEALTHCHECK NONE\n";
	hoist_dockerfile *df = parse_ok(src);
	assert_string_equal(df->syntax, "docker/dockerfile:1");
	assert_int_equal(df->escape, '\\');
	assert_int_equal(df->n_global_args, 1);
	assert_string_equal(df->global_args[0].kvs[0].key, "BASE");
	assert_string_equal(df->global_args[0].kvs[0].value, "alpine");
	assert_int_equal(df->n_stages, 2);

	const hoist_df_stage *s = &df->stages[0];
	assert_string_equal(s->base, "${BASE}:3.19");
	assert_string_equal(s->name, "build");
	assert_string_equal(s->platform, "$BUILDPLATFORM");
	assert_int_equal(s->line, 3);
	assert_int_equal(s->from.kind, HOIST_DF_FROM);
	assert_int_equal(s->n_instrs, 18);
	assert_ptr_equal(hoist_dockerfile_stage(df, "BUILD"), s);
	assert_null(hoist_dockerfile_stage(df, "nope"));

	const hoist_df_instr *i = instr(df, 0, 0);
	assert_int_equal(i->kind, HOIST_DF_RUN);
	assert_int_equal(i->line, 4);
	assert_false(i->json);
	assert_string_equal(i->cmdline, "apk add gcc");
	assert_string_equal(i->original, "RUN apk add gcc");

	i = instr(df, 0, 1);
	assert_int_equal(i->kind, HOIST_DF_CMD);
	assert_true(i->json);
	assert_int_equal(i->n_args, 2);
	assert_string_equal(i->args[0], "/bin/app");
	assert_string_equal(i->args[1], "-v");

	i = instr(df, 0, 2);
	assert_int_equal(i->kind, HOIST_DF_LABEL);
	assert_int_equal(i->n_kvs, 2);
	assert_string_equal(i->kvs[1].key, "\"c d\"");
	assert_string_equal(i->kvs[1].value, "\"e f\"");

	i = instr(df, 0, 3);
	assert_int_equal(i->kind, HOIST_DF_MAINTAINER);
	assert_string_equal(i->args[0], "someone <a@b.c>");
	assert_int_equal(df->n_warnings, 1);
	assert_non_null(strstr(df->warnings[0], "Dockerfile:7: MAINTAINER is deprecated"));

	i = instr(df, 0, 4);
	assert_int_equal(i->kind, HOIST_DF_EXPOSE);
	assert_int_equal(i->n_args, 2);
	assert_string_equal(i->args[0], "80/tcp");

	i = instr(df, 0, 5);
	assert_int_equal(i->kind, HOIST_DF_ENV);
	assert_int_equal(i->n_kvs, 2);
	assert_string_equal(i->kvs[0].key, "PATH");
	assert_string_equal(i->kvs[0].value, "/x:$PATH");

	i = instr(df, 0, 6);
	assert_int_equal(i->kind, HOIST_DF_ADD);
	assert_int_equal(i->n_flags, 4);
	assert_string_equal(hoist_df_instr_flag(i, "chown"), "1:2");
	assert_string_equal(hoist_df_instr_flag(i, "chmod"), "644");
	assert_string_equal(hoist_df_instr_flag(i, "link"), "true");
	assert_string_equal(hoist_df_instr_flag(i, "checksum"), "sha256:abc");
	assert_int_equal(i->n_args, 2);
	assert_string_equal(i->args[1], "/y");

	i = instr(df, 0, 7);
	assert_int_equal(i->kind, HOIST_DF_COPY);
	assert_string_equal(hoist_df_instr_flag(i, "from"), "build");
	assert_string_equal(hoist_df_instr_flag(i, "link"), "false");
	assert_int_equal(i->n_args, 3);
	assert_string_equal(i->args[2], "/dst/");

	i = instr(df, 0, 8);
	assert_int_equal(i->kind, HOIST_DF_ENTRYPOINT);
	assert_string_equal(i->cmdline, "exec app");

	i = instr(df, 0, 9);
	assert_int_equal(i->kind, HOIST_DF_VOLUME);
	assert_true(i->json);
	assert_string_equal(i->args[1], "/logs");
	i = instr(df, 0, 10);
	assert_false(i->json);
	assert_int_equal(i->n_args, 2);
	assert_string_equal(i->args[0], "/a");

	i = instr(df, 0, 11);
	assert_int_equal(i->kind, HOIST_DF_USER);
	assert_string_equal(i->args[0], "app:app");
	i = instr(df, 0, 12);
	assert_int_equal(i->kind, HOIST_DF_WORKDIR);
	assert_string_equal(i->args[0], "/src");

	i = instr(df, 0, 13);
	assert_int_equal(i->kind, HOIST_DF_ARG);
	assert_int_equal(i->n_kvs, 2);
	assert_string_equal(i->kvs[0].key, "V1");
	assert_null(i->kvs[0].value);
	assert_string_equal(i->kvs[1].value, "two");

	i = instr(df, 0, 14);
	assert_int_equal(i->kind, HOIST_DF_ONBUILD);
	assert_non_null(i->onbuild);
	assert_int_equal(i->onbuild->kind, HOIST_DF_RUN);
	assert_string_equal(i->onbuild->cmdline, "echo triggered");
	assert_string_equal(i->cmdline, "RUN echo triggered");

	i = instr(df, 0, 15);
	assert_int_equal(i->kind, HOIST_DF_STOPSIGNAL);
	assert_string_equal(i->args[0], "SIGTERM");

	i = instr(df, 0, 16);
	assert_int_equal(i->kind, HOIST_DF_HEALTHCHECK);
	assert_false(i->health.none);
	assert_int_equal(i->health.interval, 30000000000LL);
	assert_int_equal(i->health.timeout, 90000000000LL);
	assert_int_equal(i->health.start_period, 5000000000LL);
	assert_int_equal(i->health.start_interval, 100000000LL);
	assert_int_equal(i->health.retries, 3);
	assert_string_equal(i->cmdline, "curl -f http://localhost/");

	i = instr(df, 0, 17);
	assert_int_equal(i->kind, HOIST_DF_SHELL);
	assert_true(i->json);
	assert_string_equal(i->args[0], "/bin/bash");

	assert_string_equal(df->stages[1].base, "build");
	assert_null(df->stages[1].name);
	i = instr(df, 1, 0);
	assert_int_equal(i->kind, HOIST_DF_HEALTHCHECK);
	assert_true(i->health.none);
	hoist_dockerfile_free(df);
}

static void test_forms(void **state)
{
	(void)state;
	hoist_dockerfile *df = parse_ok(
		"FROM scratch\n"
		"RUN [\"echo\", \"a b\"]\n"
		"RUN [\"echo\", \"x\"] && true\n"
		"RUN [not json\n"
		"CMD []\n"
		"ENTRYPOINT [\"a\", \"\\u00e9\\n\"]\n"
		"ENV OLD the value  with spaces\n"
		"LABEL version 1.0\n"
		"ENV a=\"quoted value\" b='single' c=esc\\ aped\n"
		"COPY [\"a b\", \"/c d/\"]\n"
		"HEALTHCHECK CMD [\"/bin/check\", \"-q\"]\n"
		"run   echo   case   \n");
	const hoist_df_instr *i = instr(df, 0, 0);
	assert_true(i->json);
	assert_string_equal(i->args[1], "a b");
	i = instr(df, 0, 1);
	assert_false(i->json);
	assert_string_equal(i->cmdline, "[\"echo\", \"x\"] && true");
	i = instr(df, 0, 2);
	assert_false(i->json);
	assert_string_equal(i->cmdline, "[not json");
	i = instr(df, 0, 3);
	assert_true(i->json);
	assert_int_equal(i->n_args, 0);
	i = instr(df, 0, 4);
	assert_string_equal(i->args[1], "\xc3\xa9\n");
	i = instr(df, 0, 5);
	assert_int_equal(i->n_kvs, 1);
	assert_string_equal(i->kvs[0].key, "OLD");
	assert_string_equal(i->kvs[0].value, "the value  with spaces");
	i = instr(df, 0, 6);
	assert_string_equal(i->kvs[0].key, "version");
	assert_string_equal(i->kvs[0].value, "1.0");
	i = instr(df, 0, 7);
	assert_int_equal(i->n_kvs, 3);
	assert_string_equal(i->kvs[0].value, "\"quoted value\"");
	assert_string_equal(i->kvs[1].value, "'single'");
	assert_string_equal(i->kvs[2].value, "esc\\ aped");
	i = instr(df, 0, 8);
	assert_true(i->json);
	assert_string_equal(i->args[0], "a b");
	assert_string_equal(i->args[1], "/c d/");
	i = instr(df, 0, 9);
	assert_true(i->json);
	assert_int_equal(i->n_args, 2);
	i = instr(df, 0, 10);
	assert_int_equal(i->kind, HOIST_DF_RUN);
	assert_string_equal(i->cmdline, "echo   case");
	hoist_dockerfile_free(df);
}

static void test_continuations(void **state)
{
	(void)state;
	hoist_dockerfile *df = parse_ok(
		"FROM alpine\n"
		"RUN apk add \\\n"
		"    curl \\   \t\n"
		"# a comment inside\n"
		"\n"
		"  # indented comment\n"
		"    git\n"
		"RUN echo a\\\\\n"
		"RUN echo done\n"
		"\\\n"
		"RUN last \\\n");
	const hoist_df_instr *i = instr(df, 0, 0);
	assert_int_equal(i->line, 2);
	assert_string_equal(i->cmdline, "apk add     curl     git");
	assert_int_equal(df->n_warnings, 1);
	assert_string_equal(df->warnings[0], "Dockerfile:2: empty continuation line");
	/* an escaped escape does not continue the line */
	i = instr(df, 0, 1);
	assert_int_equal(i->line, 8);
	assert_string_equal(i->cmdline, "echo a\\\\");
	i = instr(df, 0, 2);
	assert_int_equal(i->line, 9);
	/* a lone "\" line continues into the next instruction line */
	i = instr(df, 0, 3);
	assert_int_equal(i->line, 10);
	assert_string_equal(i->cmdline, "last");
	hoist_dockerfile_free(df);

	/* escape=` : backslashes are ordinary, ` continues */
	df = parse_ok(
		"# escape=`\n"
		"FROM mcr.microsoft.com/windows\n"
		"RUN dir c:\\ `\n"
		"    && echo done\n"
		"COPY C:\\src\\ C:\\dst\\\n");
	assert_int_equal(df->escape, '`');
	i = instr(df, 0, 0);
	assert_string_equal(i->cmdline, "dir c:\\     && echo done");
	assert_int_equal(i->line, 3);
	i = instr(df, 0, 1);
	assert_int_equal(i->line, 5);
	assert_int_equal(i->n_args, 2);
	assert_string_equal(i->args[1], "C:\\dst\\");
	hoist_dockerfile_free(df);
}

static void test_directives_and_comments(void **state)
{
	(void)state;
	/* directives are only recognised before anything else */
	hoist_dockerfile *df = parse_ok(
		"\xef\xbb\xbf# Syntax = docker/dockerfile:1.7\n"
		"#check=skip=all\n"
		"# escape=\\\n"
		"# a comment\n"
		"# escape=`\n"
		"FROM a\n"
		"RUN echo # not a comment\n"
		"   # comment with indentation\n"
		"RUN x\n");
	assert_string_equal(df->syntax, "docker/dockerfile:1.7");
	assert_int_equal(df->escape, '\\');
	assert_string_equal(instr(df, 0, 0)->cmdline, "echo # not a comment");
	assert_int_equal(instr(df, 0, 1)->line, 9);
	hoist_dockerfile_free(df);

	df = parse_ok("# comment first\n# syntax=x\nFROM a\n");
	assert_null(df->syntax);
	hoist_dockerfile_free(df);

	parse_err("# escape=`\n# escape=\\\nFROM a\n",
		"Dockerfile:2: only one 'escape' parser directive can be used");
	parse_err("# escape=x\nFROM a\n",
		"Dockerfile:1: invalid escape token 'x': must be '\\' or '`'");
}

static void test_heredocs(void **state)
{
	(void)state;
	hoist_dockerfile *df = parse_ok(
		"FROM alpine\n"
		"RUN <<EOF\n"
		"echo $HOME\n"
		"  indented\n"
		"EOF\n"
		"RUN <<-EOT\n"
		"\techo tabbed\n"
		"\t\tdeeper\n"
		"\tEOT\n"
		"RUN <<\"Q\" cat > /a && 3<<'S' python3\n"
		"$not_expanded\n"
		"Q\n"
		"print(1)\n"
		"S\n"
		"COPY <<EOF /etc/conf\n"
		"key=$VALUE\n"
		"EOF\n"
		"COPY --chmod=755 <<a.txt <<b.txt /dir/\n"
		"A\n"
		"a.txt\n"
		"B\n"
		"b.txt\n"
		"RUN [\"<<EOF\"]\n"
		"RUN echo after\n");
	const hoist_df_instr *i = instr(df, 0, 0);
	assert_string_equal(i->cmdline, "<<EOF");
	assert_int_equal(i->n_heredocs, 1);
	assert_string_equal(i->heredocs[0].name, "EOF");
	assert_string_equal(i->heredocs[0].content, "echo $HOME\n  indented\n");
	assert_true(i->heredocs[0].expand);
	assert_false(i->heredocs[0].chomp);
	assert_int_equal(i->line, 2);
	assert_int_equal(i->end_line, 5);

	i = instr(df, 0, 1);
	assert_true(i->heredocs[0].chomp);
	assert_string_equal(i->heredocs[0].name, "EOT");
	assert_string_equal(i->heredocs[0].content, "echo tabbed\ndeeper\n");

	i = instr(df, 0, 2);
	assert_int_equal(i->n_heredocs, 2);
	assert_string_equal(i->heredocs[0].name, "Q");
	assert_false(i->heredocs[0].expand);
	assert_string_equal(i->heredocs[0].content, "$not_expanded\n");
	assert_string_equal(i->heredocs[1].name, "S");
	assert_false(i->heredocs[1].expand);
	assert_int_equal(i->heredocs[1].fd, 3);
	assert_string_equal(i->heredocs[1].content, "print(1)\n");
	assert_int_equal(i->end_line, 14);

	i = instr(df, 0, 3);
	assert_int_equal(i->kind, HOIST_DF_COPY);
	assert_int_equal(i->line, 15);
	assert_string_equal(i->args[0], "<<EOF");
	const hoist_df_heredoc *h = hoist_df_instr_heredoc(i, i->args[0]);
	assert_non_null(h);
	assert_string_equal(h->content, "key=$VALUE\n");
	assert_null(hoist_df_instr_heredoc(i, i->args[1]));

	i = instr(df, 0, 4);
	assert_int_equal(i->n_args, 3);
	assert_int_equal(i->n_heredocs, 2);
	assert_string_equal(hoist_df_instr_heredoc(i, "<<b.txt")->content, "B\n");
	assert_string_equal(hoist_df_instr_heredoc(i, "<<a.txt")->content, "A\n");
	assert_string_equal(i->args[2], "/dir/");

	/* JSON form takes no heredocs */
	i = instr(df, 0, 5);
	assert_true(i->json);
	assert_int_equal(i->n_heredocs, 0);
	assert_int_equal(instr(df, 0, 6)->line, 24);
	hoist_dockerfile_free(df);

	/* ONBUILD carries its heredoc to the trigger and the wrapped RUN */
	df = parse_ok("FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\nUSER x\n");
	i = instr(df, 0, 0);
	assert_string_equal(i->cmdline, "RUN <<EOF\necho hi\nEOF");
	assert_int_equal(i->onbuild->n_heredocs, 1);
	assert_string_equal(i->onbuild->heredocs[0].content, "echo hi\n");
	assert_int_equal(instr(df, 0, 1)->line, 5);
	hoist_dockerfile_free(df);

	parse_err("FROM a\nRUN echo\nRUN <<EOF\nline\nEOFX\n",
		"Dockerfile:3: RUN: unterminated heredoc 'EOF'");
	parse_err("FROM a\nCOPY <<A <<B /x\nA\nA\nmissing\n",
		"Dockerfile:2: COPY: unterminated heredoc 'B'");
	parse_err("FROM a\nCOPY x <<EOF\nEOF\n",
		"Dockerfile:2: COPY: a heredoc cannot be the destination");
}

static void test_flags(void **state)
{
	(void)state;
	hoist_dockerfile *df = parse_ok(
		"FROM --platform=linux/arm64 busybox AS b\n"
		"RUN --mount=type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0755,uid=1000 "
		"--mount=type=secret,id=token,dst=/run/t,required "
		"--mount=type=bind,from=b,source=/src,target=/s,rw "
		"--mount=type=tmpfs,target=/tmp,size=64m "
		"--mount='type=ssh,\"target=/a,b\"' "
		"--network=none --security=insecure make\n"
		"COPY --parents --exclude=*.tmp --exclude=.git --chown=app a /b\n"
		"ADD --keep-git-dir=true https://github.com/x/y.git /y\n");
	const hoist_df_instr *i = instr(df, 0, 0);
	assert_int_equal(i->n_mounts, 5);
	const hoist_df_mount *m = &i->mounts[0];
	assert_int_equal(m->type, HOIST_DF_MOUNT_CACHE);
	assert_string_equal(m->target, "/root/.cache");
	assert_string_equal(m->id, "pip");
	assert_int_equal(m->sharing, HOIST_DF_SHARING_LOCKED);
	assert_int_equal(m->mode, 0755);
	assert_int_equal(m->uid, 1000);
	assert_int_equal(m->gid, -1);
	assert_false(m->readonly);
	m = &i->mounts[1];
	assert_int_equal(m->type, HOIST_DF_MOUNT_SECRET);
	assert_string_equal(m->target, "/run/t");
	assert_true(m->required);
	assert_true(m->readonly);
	m = &i->mounts[2];
	assert_int_equal(m->type, HOIST_DF_MOUNT_BIND);
	assert_string_equal(m->from, "b");
	assert_string_equal(m->source, "/src");
	assert_false(m->readonly);
	m = &i->mounts[3];
	assert_int_equal(m->type, HOIST_DF_MOUNT_TMPFS);
	assert_int_equal(m->size, 64u << 20);
	/* a quoted CSV field keeps its comma */
	m = &i->mounts[4];
	assert_int_equal(m->type, HOIST_DF_MOUNT_SSH);
	assert_string_equal(m->target, "/a,b");
	assert_string_equal(hoist_df_instr_flag(i, "network"), "none");
	assert_string_equal(hoist_df_instr_flag(i, "security"), "insecure");
	assert_string_equal(i->cmdline, "make");

	i = instr(df, 0, 1);
	assert_int_equal(i->n_flags, 4);
	assert_string_equal(i->flags[0].name, "parents");
	assert_string_equal(i->flags[0].value, "true");
	assert_string_equal(i->flags[1].value, "*.tmp");
	assert_string_equal(i->flags[2].value, ".git");
	assert_string_equal(hoist_df_instr_flag(i, "exclude"), ".git");
	i = instr(df, 0, 2);
	assert_string_equal(hoist_df_instr_flag(i, "keep-git-dir"), "true");
	hoist_dockerfile_free(df);

	parse_err("FROM a\n\n\n\n\n\n\n\nCOPY --frm=x a b\n",
		"Dockerfile:9: COPY: unknown flag '--frm'");
	parse_err("FROM a\nCOPY --from=a --from=b a b\n",
		"Dockerfile:2: COPY: duplicate flag '--from'");
	parse_err("FROM a\nCOPY --link=maybe a b\n",
		"Dockerfile:2: COPY: expecting a boolean value for flag '--link', not 'maybe'");
	parse_err("FROM a\nCOPY --from a b\n",
		"Dockerfile:2: COPY: missing a value on flag '--from'");
	parse_err("FROM a\nENV --x=1 a=b\n", "Dockerfile:2: ENV: unknown flag '--x'");
	parse_err("FROM a\nRUN --mount=type=nfs,target=/x true\n",
		"Dockerfile:2: RUN: --mount 'type=nfs,target=/x': unsupported mount type 'nfs'");
	parse_err("FROM a\nRUN --mount=target=/x,bogus=1 true\n",
		"Dockerfile:2: RUN: --mount 'target=/x,bogus=1': unexpected key 'bogus' in 'bogus=1'");
	parse_err("FROM a\nRUN --mount=type=bind,sharing=locked true\n",
		"Dockerfile:2: RUN: --mount 'type=bind,sharing=locked': 'sharing' is not allowed for bind mounts");
	parse_err("FROM a\nRUN --network=bridge true\n",
		"Dockerfile:2: RUN: unsupported network mode 'bridge' (default, none or host)");
	parse_err("FROM a\nHEALTHCHECK --interval=5 CMD true\n",
		"Dockerfile:2: HEALTHCHECK: invalid duration '5' for '--interval'");
	parse_err("FROM a\nHEALTHCHECK --retries=-1 CMD true\n",
		"Dockerfile:2: HEALTHCHECK: '--retries' cannot be negative");
}

static void test_errors(void **state)
{
	(void)state;
	parse_err("FROM a\n\n\n\n\n\nFRUM b\n", "Dockerfile:7: unknown instruction 'FRUM'");
	parse_err("ARG A=1\n# only args\n", "Dockerfile:2: no FROM instruction");
	parse_err("", "Dockerfile:1: no FROM instruction");
	parse_err("ARG A\nRUN echo\nFROM a\n",
		"Dockerfile:2: RUN: instruction before the first FROM");
	parse_err("FROM a\nSHELL /bin/sh -c\n",
		"Dockerfile:2: SHELL: requires the arguments in JSON form: SHELL [\"executable\", \"parameters\"]");
	parse_err("FROM a\nCMD [\"a\", 1]\n",
		"Dockerfile:2: CMD: a JSON array must hold strings only");
	parse_err("FROM a\nONBUILD FROM b\n",
		"Dockerfile:2: ONBUILD: 'FROM' is not allowed as an ONBUILD trigger");
	parse_err("FROM a\nONBUILD onbuild RUN x\n",
		"Dockerfile:2: ONBUILD: chaining ONBUILD via 'ONBUILD ONBUILD' is not allowed");
	parse_err("FROM a\nONBUILD maintainer x\n",
		"Dockerfile:2: ONBUILD: 'maintainer' is not allowed as an ONBUILD trigger");
	parse_err("FROM a\nONBUILD COPY --x=1 a b\n",
		"Dockerfile:2: ONBUILD: COPY: unknown flag '--x'");
	parse_err("FROM a\nONBUILD BLAH\n", "Dockerfile:2: ONBUILD: unknown instruction 'BLAH'");
	parse_err("FROM a\nCOPY onlyone\n",
		"Dockerfile:2: COPY: requires at least two arguments: sources and a destination");
	parse_err("FROM a b\n",
		"Dockerfile:1: FROM: requires either one or three arguments (image AS name)");
	parse_err("FROM a AS 1st\n",
		"Dockerfile:1: FROM: invalid stage name '1st': it must start with a letter and hold only letters, digits, '-', '_' and '.'");
	parse_err("FROM a AS x\nFROM b AS X\n", "Dockerfile:2: FROM: duplicate stage name 'x'");
	parse_err("FROM a\nENV novalue\n", "Dockerfile:2: ENV: must have two arguments");
	parse_err("FROM a\nENV a=1 b\n",
		"Dockerfile:2: ENV: missing '=' in 'b': must be of the form name=value");
	parse_err("FROM a\nARG =x\n", "Dockerfile:2: ARG: names can not be blank");
	parse_err("FROM a\nWORKDIR\n", "Dockerfile:2: WORKDIR: requires exactly one argument");
	parse_err("FROM a\nEXPOSE\n", "Dockerfile:2: EXPOSE: requires at least one argument");
	parse_err("FROM a\nHEALTHCHECK NONE x\n", "Dockerfile:2: HEALTHCHECK: NONE takes no arguments");
	parse_err("FROM a\nHEALTHCHECK TEST x\n",
		"Dockerfile:2: HEALTHCHECK: unknown type 'TEST' (try CMD or NONE)");
	parse_err("FROM a\nRUN\n", "Dockerfile:2: RUN: requires at least one argument");

	/* a name given by the caller appears in messages */
	hoist_dockerfile *df = NULL;
	hoist_error *err = NULL;
	const char *src = "FROM a\nBOGUS\n";
	assert_int_equal(hoist_dockerfile_parse(&df, "ci/app.Dockerfile", src,
		strlen(src), &err), -HOIST_E_INVALID);
	assert_string_equal(err->msg, "ci/app.Dockerfile:2: unknown instruction 'BOGUS'");
	hoist_error_free(err);
	err = NULL;
	assert_int_equal(hoist_dockerfile_parse(&df, "Dockerfile", "FROM a\0", 7, &err),
		-HOIST_E_INVALID);
	assert_string_equal(err->msg, "Dockerfile:1: NUL byte in file");
	hoist_error_free(err);
}

/* Lookup over a NULL-terminated "K=V" list. */
static const char *env_lookup(void *ud, const char *name)
{
	const char *const *env = ud;
	size_t n = strlen(name);
	for (; env && *env; env++)
		if (!strncmp(*env, name, n) && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

static const char *const base_env[] = {
	"PWD=/home", "SHELL=bash", "KOREAN=\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4", NULL,
};

typedef struct xcase {
	const char *in;
	const char *want; /* NULL: error */
} xcase;

/* BuildKit's shell/envVarTest (the platform-independent "A" lines). */
static const xcase envvar_cases[] = {
	{ "hello", "hello" },
	{ "he'll'o", "hello" },
	{ "he'llo", NULL },
	{ "he\\'llo", "he'llo" },
	{ "he\\\\'llo", NULL },
	{ "abc\\tdef", "abctdef" },
	{ "\"abc\\tdef\"", "abc\\tdef" },
	{ "\"abc\\\\tdef\"", "abc\\tdef" },
	{ "'abc\\tdef'", "abc\\tdef" },
	{ "hello\\", "hello" },
	{ "hello\\\\", "hello\\" },
	{ "\"hello", NULL },
	{ "\"hello\\\"", NULL },
	{ "\"hel'lo\"", "hel'lo" },
	{ "'hello", NULL },
	{ "'hello\\'", "hello\\" },
	{ "'hello\\there'", "hello\\there" },
	{ "'hello\\\\there'", "hello\\\\there" },
	{ "\"''\"", "''" },
	{ "$.", "$." },
	{ "$1", "" },
	{ "he$1x", "hex" },
	{ "he$.x", "he$.x" },
	{ "he$pwd.", "he." },
	{ "he$PWD", "he/home" },
	{ "he\\$PWD", "he$PWD" },
	{ "he\\\\$PWD", "he\\/home" },
	{ "\"he\\$PWD\"", "he$PWD" },
	{ "\"he\\\\$PWD\"", "he\\/home" },
	{ "\\${}", "${}" },
	{ "\\${}aaa", "${}aaa" },
	{ "he\\${}", "he${}" },
	{ "he\\${}xx", "he${}xx" },
	{ "${}", NULL },
	{ "${}aaa", NULL },
	{ "he${}", NULL },
	{ "he${}xx", NULL },
	{ "he${hi}", "he" },
	{ "he${hi}xx", "hexx" },
	{ "he${PWD}", "he/home" },
	{ "he${.}", NULL },
	{ "he${XXX:-000}xx", "he000xx" },
	{ "he${PWD:-000}xx", "he/homexx" },
	{ "he${XXX:-$PWD}xx", "he/homexx" },
	{ "he${XXX:-${PWD:-yyy}}xx", "he/homexx" },
	{ "he${XXX:-${YYY:-yyy}}xx", "heyyyxx" },
	{ "he${XXX:YYY}", NULL },
	{ "he${XXX:+${PWD}}xx", "hexx" },
	{ "he${PWD:+${XXX}}xx", "hexx" },
	{ "he${PWD:+${SHELL}}xx", "hebashxx" },
	{ "he${XXX:+000}xx", "hexx" },
	{ "he${PWD:+000}xx", "he000xx" },
	{ "'he${XX}'", "he${XX}" },
	{ "\"he${PWD}\"", "he/home" },
	{ "\"he'$PWD'\"", "he'/home'" },
	{ "\"$PWD\"", "/home" },
	{ "'$PWD'", "$PWD" },
	{ "'\\$PWD'", "\\$PWD" },
	{ "'\"hello\"'", "\"hello\"" },
	{ "'he\\$PWD'", "he\\$PWD" },
	{ "he${PWD", NULL },
	{ "he${PWD:=000}xx", NULL },
	{ "he${PWD:+${PWD}:}xx", "he/home:xx" },
	{ "he${XXX:-\\$PWD:}xx", "he$PWD:xx" },
	{ "he${XXX:-\\${PWD}z}xx", "he${PWDz}xx" },
	{ "\xec\x95\x88'\xeb\x85\x95'\xed\x95\x98\xec\x84\xb8\xec\x9a\x94",
	  "\xec\x95\x88\xeb\x85\x95\xed\x95\x98\xec\x84\xb8\xec\x9a\x94" },
	{ "\xec\x95\x88'\xeb\x85\x95\xed\x95\x98\xec\x84\xb8\xec\x9a\x94", NULL },
	{ "\xec\x95\x88\xeb\x85\x95\\t\xed\x95\x98", "\xec\x95\x88\xeb\x85\x95t\xed\x95\x98" },
	{ "\xec\x95\x88\xeb\x85\x95$KOREAN",
	  "\xec\x95\x88\xeb\x85\x95\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4" },
	{ "$KOREAN", "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4" },
	{ "${{aaa}", NULL },
	{ "${aaa}}", "}" },
	{ "${aaa", NULL },
	{ "${{aaa:-bbb}", NULL },
	{ "${aaa:-bbb}}", "bbb}" },
	{ "${aaa:-bbb", NULL },
	{ "${aaa:-bbb}", "bbb" },
	{ "${aaa:-${bbb:-ccc}}", "ccc" },
	{ "${aaa:-bbb ${foo}", NULL },
	{ "${aaa:-bbb {foo}", "bbb {foo" },
	{ "${:}", NULL },
	{ "${:-bbb}", NULL },
	{ "${:+bbb}", NULL },
};

typedef struct mcase {
	const char *in;
	const char *const *env;
	const char *want;
} mcase;

static const char *const e_foo_bar[] = { "FOO=xxx", "BAR=", NULL };
static const char *const e_xxyy[] = { "FOO=xxyy", NULL };
static const char *const e_xxyy_x[] = { "FOO=xxyy", "BAR=x", NULL };
static const char *const e_xxyy_e[] = { "FOO=xxyy", "BAR=", NULL };
static const char *const e_stars[] = { "FOO=xx**", NULL };
static const char *const e_stars2[] = { "FOO=a***yy*", NULL };
static const char *const e_qq[] = { "FOO=???y", NULL };
static const char *const e_re[] = { "FOO=()[]{}^$.*?|\\x", NULL };
static const char *const e_wild[] = { "FOO=/foo*/*/*.txt", "NEEDLE=\\*/", NULL };
static const char *const e_tmp[] = { "FOO=/tmp/tmp/bar.txt", "NEEDLE=/tmp", NULL };
static const char *const e_any[] = { "FOO=/a/foo/b/c.txt", "NEEDLE=/?/", "REPLACEMENT=/", NULL };
static const char *const e_url[] = { "FOO=http://google.de", "NEEDLE=http://", "REPLACEMENT=https://", NULL };
static const char *const e_slash[] = { "FOO=/tmp/foo.txt", NULL };
static const char *const e_plain[] = { "VAR=plain", "ARG=x", NULL };
static const char *const e_empty[] = { "VAR=", "ARG=x", NULL };
static const char *const e_unset[] = { "ARG=x", NULL };
static const char *const e_plat[] = { "VERSION=v1.2.3", "TARGETOS=linux", "TARGETARCH=arm",
	"TARGETVARIANT=v7", NULL };

/* BuildKit's TestProcessWithMatches and TestShellParserMandatoryEnvVars. */
static const mcase match_cases[] = {
	{ "x ${UNUSED}", e_foo_bar, "x " },
	{ "${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", e_foo_bar, "xxx  ccc" },
	{ "${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", e_foo_bar, "xxx bbb ccc" },
	{ "${FOO:-}", e_foo_bar, "xxx" },
	{ "${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", e_foo_bar, "aaa bbb " },
	{ "${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", e_foo_bar, "aaa  " },
	{ "${FOO?aaa}", e_foo_bar, "xxx" },
	{ "${BAR?bbb}", e_foo_bar, "" },
	{ "${BAZ?ccc}", e_foo_bar, NULL },
	{ "${FOO:?aaa}", e_foo_bar, "xxx" },
	{ "${BAR:?bbb}", e_foo_bar, NULL },
	{ "${BAZ:?ccc}", e_foo_bar, NULL },
	{ "${BAZ:?}", e_foo_bar, NULL },
	{ "${FOO=aaa}", e_foo_bar, NULL },
	{ "${FOO=:aaa}", e_foo_bar, NULL },
	{ "${FOO#()[]{\\}^$.\\*\\?|\\\\}", e_re, "x" },
	{ "${FOO%%\\**}", e_stars, "xx" },
	{ "${FOO#*x*y}", e_xxyy, "y" },
	{ "${FOO#*}", e_xxyy, "xxyy" },
	{ "${FOO#$BAR}", e_xxyy_x, "xyy" },
	{ "${FOO#$BAR}", e_xxyy_e, "xxyy" },
	{ "${FOO#}", e_xxyy, "xxyy" },
	{ "${FOO##*x}", e_xxyy, "yy" },
	{ "${FOO##}", e_xxyy, "xxyy" },
	{ "${FOO#?\\?}", e_qq, "?y" },
	{ "${ABC:-.}${FOO%x}${ABC:-.}", e_xxyy, ".xxyy." },
	{ "${FOO%%\\**\\*}", e_stars2, "a" },
	{ "${FOO%}", e_xxyy, "xxyy" },
	{ "${FOO%%$BAR}", e_xxyy_e, "xxyy" },
	{ "${FOO%y}", e_xxyy, "xxy" },
	{ "${FOO%%y*}", e_xxyy, "xx" },
	{ "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}", e_wild, "/foo.*/*.txt - /foo..*.txt" },
	{ "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}", e_tmp, "/tmp/bar.txt - /bar.txt" },
	{ "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}", e_any,
	  "/foo/b/c.txt - /foo/c.txt" },
	{ "${FOO/$NEEDLE/$REPLACEMENT}", e_url, "https://google.de" },
	{ "${FOO//\\//\\/}", e_slash, "\\/tmp\\/foo.txt" },
	{ "${FOO/$BAR/ww}", e_xxyy_e, "wwxxyy" },
	{ "${FOO//ww}", e_xxyy, NULL },
	{ "${FOO//}", e_xxyy, NULL },
	{ "${FOO///}", e_xxyy, "xxyy" },
	{ "${FOO///}", NULL, "" },
	{ "${VAR:?message here$ARG}", e_plain, "plain" },
	{ "${VAR:?message here$ARG}", e_empty, NULL },
	{ "${VAR?message here$ARG}", e_empty, "" },
	{ "${VAR?message here$ARG}", e_unset, NULL },
	{ "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
	  e_plat, "something-v1.2.3.linux-arm-v7.tar.gz" },
};

static void check_word(const char *in, const char *const *env, const char *want)
{
	char *out = NULL;
	hoist_error *err = NULL;
	int r = hoist_df_expand_word(&out, in, '\\', env_lookup, (void *)env, &err);
	if (want && r != 0)
		fprintf(stderr, "expand [%s]: %s\n", in, err ? err->msg : "?");
	if (!want && r == 0)
		fprintf(stderr, "expand [%s]: expected an error, got [%s]\n", in, out);
	if (want) {
		assert_int_equal(r, 0);
		if (strcmp(out, want))
			fprintf(stderr, "expand [%s]: got [%s] want [%s]\n", in, out, want);
		assert_string_equal(out, want);
		free(out);
	} else {
		assert_true(r < 0);
		assert_non_null(err);
		assert_null(out);
		assert_non_null(strstr(err->msg, "expand '"));
		hoist_error_free(err);
	}
}

static void test_expand_table(void **state)
{
	(void)state;
	size_t n = sizeof(envvar_cases) / sizeof(envvar_cases[0]);
	assert_true(n >= 40);
	for (size_t i = 0; i < n; i++)
		check_word(envvar_cases[i].in, base_env, envvar_cases[i].want);
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++)
		check_word(match_cases[i].in, match_cases[i].env, match_cases[i].want);
}

static void check_words(const char *in, const char *const *env,
	const char *const *want)
{
	char **w = NULL;
	size_t n = 0;
	hoist_error *err = NULL;
	int r = hoist_df_expand_words(&w, &n, in, '\\', env_lookup, (void *)env, &err);
	if (r)
		fprintf(stderr, "words [%s]: %s\n", in, err->msg);
	assert_int_equal(r, 0);
	size_t k = 0;
	while (want[k])
		k++;
	if (n != k) {
		fprintf(stderr, "words [%s]: got %zu words:", in, n);
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, " [%s]", w[i]);
		fprintf(stderr, "\n");
	}
	assert_int_equal(n, k);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(w[i], want[i]);
	hoist_df_strv_free(w, n);
}

#define W(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void test_expand_words(void **state)
{
	(void)state;
	/* after BuildKit's shell/wordsTest */
	static const char *const env[] = {
		"hi=hi", "space=abc  def", "leading=  ab c", "trailing=ab c   ",
		"tab=ab\tc", "quote=\"q\"", "empty=", NULL,
	};
	check_words("hello", env, W("hello"));
	check_words("hello${nope}bye", env, W("hellobye"));
	check_words("hello${hi}bye", env, W("hellohibye"));
	check_words("hello${space}bye", env, W("helloabc", "defbye"));
	check_words("hello\"${space}\"bye", env, W("helloabc  defbye"));
	check_words("hello \"${space}\"bye", env, W("hello", "abc  defbye"));
	check_words("hello${leading}def", env, W("hello", "ab", "cdef"));
	check_words("hello\"${leading}\" def", env, W("hello  ab c", "def"));
	check_words("hello\"${leading}\"", env, W("hello  ab c"));
	check_words("hello${leading}", env, W("hello", "ab", "c"));
	check_words("hello${trailing}", env, W("helloab", "c"));
	check_words("hello${trailing}d", env, W("helloab", "c", "d"));
	check_words("hello\"${trailing}\"d", env, W("helloab c   d"));
	check_words("hello${tab}", env, W("helloab", "c"));
	check_words("x${quote}y", env, W("x\"q\"y"));
	check_words("  a   b  ", env, W("a", "b"));
	check_words("a\\ b 'c d' \"e f\"", env, W("a b", "c d", "e f"));
	check_words("'' a \"\" ${empty} b", env, W("a", "b"));
	check_words("80 ${space}/tcp", env, W("80", "abc", "def/tcp"));
	char **w = (char **)1;
	size_t n = 99;
	assert_int_equal(hoist_df_expand_words(&w, &n, "", '\\', NULL, NULL, NULL), 0);
	assert_int_equal(n, 0);
	assert_null(w);
}

static void test_expand_errors_and_escape(void **state)
{
	(void)state;
	char *out = NULL;
	hoist_error *err = NULL;
	assert_int_equal(hoist_df_expand_word(&out, "${V:?must be set}", '\\',
		env_lookup, NULL, &err), -HOIST_E_INVALID);
	assert_string_equal(err->msg, "expand '${V:?must be set}': variable 'V': must be set");
	hoist_error_free(err);
	err = NULL;
	static const char *const e[] = { "V=", NULL };
	assert_true(hoist_df_expand_word(&out, "${V:?}", '\\', env_lookup, (void *)e,
		&err) < 0);
	assert_string_equal(err->msg, "expand '${V:?}': variable 'V' is not allowed to be empty");
	hoist_error_free(err);
	err = NULL;
	assert_true(hoist_df_expand_word(&out, "'open", '\\', NULL, NULL, &err) < 0);
	assert_string_equal(err->msg,
		"expand ''open': unexpected end of text looking for a matching single quote");
	hoist_error_free(err);
	err = NULL;

	/* with escape=` the backslash is an ordinary character */
	static const char *const p[] = { "P=C:\\x", NULL };
	assert_int_equal(hoist_df_expand_word(&out, "c:\\dir\\`$P `\"q`\"", '`',
		env_lookup, (void *)p, NULL), 0);
	assert_string_equal(out, "c:\\dir\\$P \"q\"");
	free(out);

	/* nesting is bounded */
	char deep[64 * 8 + 64] = "";
	for (int i = 0; i < 70; i++)
		strncat(deep, "${a:-", sizeof(deep) - strlen(deep) - 1);
	assert_int_equal(hoist_df_expand_word(&out, deep, '\\', NULL, NULL, &err),
		-HOIST_E_LIMIT);
	hoist_error_free(err);
	err = NULL;

	/* heredoc bodies: variables and escapes, quotes stay */
	static const char *const h[] = { "NAME=world", NULL };
	assert_int_equal(hoist_df_expand_heredoc(&out,
		"echo \"hello $NAME\" '${NAME}' \\$HOME\n", env_lookup, (void *)h, NULL), 0);
	assert_string_equal(out, "echo \"hello world\" 'world' $HOME\n");
	free(out);
}

static void test_instr_expand(void **state)
{
	(void)state;
	hoist_dockerfile *df = parse_ok(
		"FROM --platform=$P img:$TAG AS s\n"
		"COPY --chown=$U:$U --from=$STAGE ${SRC} $DST /\n"
		"ENV A=$U B=\"${U} two\" $KEY=v\n"
		"EXPOSE $PORTS 9000\n"
		"WORKDIR /home/$U\n"
		"RUN echo $U\n"
		"COPY <<EOF <<'RAW' /x/\n"
		"user=$U\n"
		"EOF\n"
		"user=$U\n"
		"RAW\n"
		"RUN --mount=type=cache,target=/c/$U,id=$U true\n"
		"LABEL \"$KEY\"=\"$U\"\n"
		"STOPSIGNAL ${SIG:-SIGQUIT}\n"
		"ENV X=\"${MISSING:?set MISSING}\"\n");
	static const char *const env[] = {
		"P=linux/amd64", "TAG=3", "U=app", "STAGE=b", "SRC=src/", "DST=/d",
		"KEY=k", "PORTS=80 443/udp", NULL,
	};
	hoist_df_instr *x = NULL;
	hoist_error *err = NULL;
	assert_int_equal(hoist_df_instr_expand(&x, df, &df->stages[0].from, env_lookup,
		(void *)env, &err), 0);
	assert_string_equal(x->args[0], "img:3");
	assert_string_equal(x->args[2], "s");
	assert_string_equal(hoist_df_instr_flag(x, "platform"), "linux/amd64");
	hoist_df_instr_free(x);

	assert_int_equal(hoist_df_instr_expand(&x, df, instr(df, 0, 0), env_lookup,
		(void *)env, &err), 0);
	assert_string_equal(hoist_df_instr_flag(x, "chown"), "app:app");
	assert_string_equal(hoist_df_instr_flag(x, "from"), "b");
	assert_int_equal(x->n_args, 3);
	assert_string_equal(x->args[0], "src/");
	assert_string_equal(x->args[1], "/d");
	assert_string_equal(x->args[2], "/");
	hoist_df_instr_free(x);

	assert_int_equal(hoist_df_instr_expand(&x, df, instr(df, 0, 1), env_lookup,
		(void *)env, &err), 0);
	assert_string_equal(x->kvs[0].value, "app");
	assert_string_equal(x->kvs[1].value, "app two");
	assert_string_equal(x->kvs[2].key, "k");
	hoist_df_instr_free(x);

	assert_int_equal(hoist_df_instr_expand(&x, df, instr(df, 0, 2), env_lookup,
		(void *)env, &err), 0);
	assert_int_equal(x->n_args, 3);
	assert_string_equal(x->args[0], "80");
	assert_string_equal(x->args[1], "443/udp");
	assert_string_equal(x->args[2], "9000");
	hoist_df_instr_free(x);

	assert_int_equal(hoist_df_instr_expand(&x, df, instr(df, 0, 3), env_lookup,
		(void *)env, &err), 0);
	assert_string_equal(x->args[0], "/home/app");
	hoist_df_instr_free(x);

	/* RUN is the shell's business */
	assert_int_equal(hoist_df_instr_expand(&x, df, instr(df, 0, 4), env_lookup,
		(void *)env, &err), 0);
	assert_string_equal(x->cmdline, "echo $U");
	hoist_df_instr_free(x);

	assert_int_equal(hoist_df_instr_expand(&x, df, instr(df, 0, 5), env_lookup,
		(void *)env, &err), 0);
	assert_string_equal(x->heredocs[0].content, "user=app\n");
	assert_string_equal(x->heredocs[1].content, "user=$U\n");
	assert_string_equal(hoist_df_instr_heredoc(x, "<<'RAW'")->content, "user=$U\n");
	hoist_df_instr_free(x);

	assert_int_equal(hoist_df_instr_expand(&x, df, instr(df, 0, 6), env_lookup,
		(void *)env, &err), 0);
	assert_string_equal(x->mounts[0].target, "/c/app");
	assert_string_equal(x->mounts[0].id, "app");
	assert_string_equal(x->cmdline, "true");
	hoist_df_instr_free(x);

	assert_int_equal(hoist_df_instr_expand(&x, df, instr(df, 0, 7), env_lookup,
		(void *)env, &err), 0);
	assert_string_equal(x->kvs[0].key, "k");
	assert_string_equal(x->kvs[0].value, "app");
	hoist_df_instr_free(x);

	assert_int_equal(hoist_df_instr_expand(&x, df, instr(df, 0, 8), env_lookup,
		(void *)env, &err), 0);
	assert_string_equal(x->args[0], "SIGQUIT");
	hoist_df_instr_free(x);

	x = NULL;
	assert_int_equal(hoist_df_instr_expand(&x, df, instr(df, 0, 9), env_lookup,
		(void *)env, &err), -HOIST_E_INVALID);
	assert_null(x);
	assert_string_equal(err->msg, "Dockerfile:15: ENV: expand '\"${MISSING:?set MISSING}\"': "
		"variable 'MISSING': set MISSING");
	hoist_error_free(err);
	hoist_dockerfile_free(df);
}

static char *expand(hoist_df_scope *s, const char *word)
{
	char *out = NULL;
	hoist_error *err = NULL;
	if (hoist_df_expand_word(&out, word, '\\', hoist_df_scope_lookup, s, &err)) {
		fprintf(stderr, "%s\n", err->msg);
		hoist_error_free(err);
		fail();
	}
	return out;
}

static void assert_expands(hoist_df_scope *s, const char *word, const char *want)
{
	char *got = expand(s, word);
	if (strcmp(got, want))
		fprintf(stderr, "[%s] -> [%s], want [%s]\n", word, got, want);
	assert_string_equal(got, want);
	free(got);
}

static bool strv_has(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], s))
			return true;
	return false;
}

/* Runs the ARG and ENV instructions of stage i through scope s, as an
 * executor would. */
static void run_stage(hoist_dockerfile *df, size_t i, hoist_df_scope *s)
{
	for (size_t k = 0; k < df->stages[i].n_instrs; k++) {
		const hoist_df_instr *in = &df->stages[i].instrs[k];
		hoist_error *err = NULL;
		if (in->kind == HOIST_DF_ARG) {
			assert_int_equal(hoist_df_scope_apply_arg(s, in, &err), 0);
		} else if (in->kind == HOIST_DF_ENV) {
			hoist_df_instr *x = NULL;
			assert_int_equal(hoist_df_instr_expand(&x, df, in,
				hoist_df_scope_lookup, s, &err), 0);
			for (size_t j = 0; j < x->n_kvs; j++)
				assert_int_equal(hoist_df_scope_set_env(s, x->kvs[j].key,
					x->kvs[j].value, &err), 0);
			hoist_df_instr_free(x);
		}
	}
}

static void test_scope(void **state)
{
	(void)state;
	hoist_dockerfile *df = parse_ok(
		"ARG VERSION=1.0\n"
		"ARG BASE=alpine:${VERSION}\n"
		"ARG NODEF\n"
		"ARG OVER=default\n"
		"FROM --platform=$BUILDPLATFORM ${BASE} AS one\n"
		"ARG OVER\n"
		"ARG LOCAL=l-${VERSION:-unset}\n"
		"ARG VERSION\n"
		"ARG TARGETARCH\n"
		"ARG WITHDEF=x-$LOCAL USED\n"
		"ENV LOCAL=from-env\n"
		"FROM one AS two\n"
		"ARG HTTP_PROXY\n");
	hoist_df_kv build_args[] = {
		{ "OVER", "cli" }, { "USED", "u" }, { "UNUSED", "zz" },
		{ "HTTP_PROXY", "http://proxy:3128" }, { "no_proxy", "localhost" },
	};
	hoist_df_kv platform[] = {
		{ "BUILDPLATFORM", "linux/amd64" }, { "TARGETARCH", "arm64" },
		{ "TARGETPLATFORM", "linux/arm64" },
	};
	hoist_df_scope *g = NULL, *s1 = NULL, *s2 = NULL;
	hoist_error *err = NULL;
	assert_int_equal(hoist_df_scope_new_global(&g, df, build_args, 5, platform, 3,
		&err), 0);

	/* global scope: for FROM lines */
	assert_expands(g, "${BASE}", "alpine:1.0");
	assert_expands(g, "$BUILDPLATFORM/$TARGETARCH", "linux/amd64/arm64");
	assert_expands(g, "${OVER}", "cli");
	assert_expands(g, "${NODEF-unset}", "unset");
	assert_expands(g, "${USED-none}", "none");
	assert_expands(g, "${HTTP_PROXY-none}", "none");

	/* stage: global ARGs invisible until re-declared */
	assert_int_equal(hoist_df_scope_new_stage(&s1, g, NULL, &err), 0);
	assert_int_equal(hoist_df_scope_set_env(s1, "PATH", "/bin", &err), 0);
	assert_expands(s1, "${VERSION:-none} $PATH ${TARGETARCH:-none}", "none /bin none");
	const hoist_df_stage *st = &df->stages[0];
	assert_int_equal(hoist_df_scope_apply_arg(s1, &st->instrs[0], &err), 0);
	/* build-arg overrides the global default on re-declaration */
	assert_expands(s1, "$OVER", "cli");
	assert_int_equal(hoist_df_scope_apply_arg(s1, &st->instrs[1], &err), 0);
	/* declared before VERSION: its default does not see it */
	assert_expands(s1, "$LOCAL", "l-unset");
	assert_int_equal(hoist_df_scope_apply_arg(s1, &st->instrs[2], &err), 0);
	assert_expands(s1, "$VERSION", "1.0");
	assert_int_equal(hoist_df_scope_apply_arg(s1, &st->instrs[3], &err), 0);
	assert_expands(s1, "$TARGETARCH", "arm64");
	assert_expands(s1, "${TARGETPLATFORM:-none}", "none");
	assert_int_equal(hoist_df_scope_apply_arg(s1, &st->instrs[4], &err), 0);
	assert_expands(s1, "$WITHDEF $USED", "x-l-unset u");
	/* ENV wins over an ARG of the same name */
	hoist_df_instr *x = NULL;
	assert_int_equal(hoist_df_instr_expand(&x, df, &st->instrs[5],
		hoist_df_scope_lookup, s1, &err), 0);
	assert_int_equal(hoist_df_scope_set_env(s1, x->kvs[0].key, x->kvs[0].value, &err), 0);
	hoist_df_instr_free(x);
	assert_expands(s1, "$LOCAL", "from-env");

	char **v = NULL;
	size_t n = 0;
	assert_int_equal(hoist_df_scope_run_env(s1, &v, &n, &err), 0);
	assert_string_equal(v[0], "PATH=/bin");
	assert_string_equal(v[1], "LOCAL=from-env");
	assert_true(strv_has(v, n, "OVER=cli"));
	assert_true(strv_has(v, n, "TARGETARCH=arm64"));
	assert_false(strv_has(v, n, "LOCAL=l-unset"));
	/* predefined proxy args reach RUN without an ARG */
	assert_true(strv_has(v, n, "HTTP_PROXY=http://proxy:3128"));
	assert_true(strv_has(v, n, "no_proxy=localhost"));
	hoist_df_strv_free(v, n);
	/* ...but not the builder's expansion, nor the history */
	assert_expands(s1, "${HTTP_PROXY-none}", "none");
	assert_int_equal(hoist_df_scope_build_args(s1, &v, &n, &err), 0);
	assert_string_equal(v[0], "OVER=cli");
	assert_false(strv_has(v, n, "HTTP_PROXY=http://proxy:3128"));
	assert_true(strv_has(v, n, "USED=u"));
	hoist_df_strv_free(v, n);

	/* a stage built FROM another inherits its scope */
	assert_int_equal(hoist_df_scope_new_stage(&s2, g, s1, &err), 0);
	assert_expands(s2, "$LOCAL $OVER", "from-env cli");
	run_stage(df, 1, s2);
	assert_int_equal(hoist_df_scope_build_args(s2, &v, &n, &err), 0);
	assert_true(strv_has(v, n, "HTTP_PROXY=http://proxy:3128"));
	hoist_df_strv_free(v, n);

	assert_int_equal(hoist_df_scope_unused_build_args(g, &v, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0], "UNUSED");
	hoist_df_strv_free(v, n);

	hoist_df_scope_free(s2);
	hoist_df_scope_free(s1);
	hoist_df_scope_free(g);
	hoist_dockerfile_free(df);

	/* a failing default names its line */
	df = parse_ok("FROM a\nARG X\nARG Y=\"${X:?X is required}\"\n");
	assert_int_equal(hoist_df_scope_new_global(&g, df, NULL, 0, NULL, 0, &err), 0);
	assert_int_equal(hoist_df_scope_new_stage(&s1, g, NULL, &err), 0);
	assert_int_equal(hoist_df_scope_apply_arg(s1, &df->stages[0].instrs[0], &err), 0);
	assert_int_equal(hoist_df_scope_apply_arg(s1, &df->stages[0].instrs[1], &err),
		-HOIST_E_INVALID);
	assert_string_equal(err->msg,
		"Dockerfile:3: ARG: expand '\"${X:?X is required}\"': variable 'X': X is required");
	hoist_error_free(err);
	err = NULL;
	hoist_df_scope_free(s1);
	hoist_df_scope_free(g);

	/* ...and so does a failing global one */
	hoist_dockerfile_free(df);
	df = parse_ok("ARG G=${NOPE:?}\nFROM a\n");
	assert_int_equal(hoist_df_scope_new_global(&g, df, NULL, 0, NULL, 0, &err),
		-HOIST_E_INVALID);
	assert_string_equal(err->msg,
		"Dockerfile:1: ARG: expand '${NOPE:?}': variable 'NOPE' is not allowed to be unset");
	hoist_error_free(err);
	/* a build arg replaces the default without evaluating it */
	hoist_df_kv ba[] = { { "G", "given" } };
	assert_int_equal(hoist_df_scope_new_global(&g, df, ba, 1, NULL, 0, NULL), 0);
	assert_expands(g, "$G", "given");
	hoist_df_scope_free(g);
	hoist_dockerfile_free(df);
}

static void test_load(void **state)
{
	(void)state;
	char dir[] = "/tmp/hoist-df-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/Dockerfile", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("FROM a\nRUN b\n", f);
	fclose(f);
	hoist_dockerfile *df = NULL;
	hoist_error *err = NULL;
	assert_int_equal(hoist_dockerfile_load(&df, AT_FDCWD, path, &err), 0);
	assert_string_equal(df->name, path);
	assert_int_equal(df->stages[0].n_instrs, 1);
	hoist_dockerfile_free(df);
	unlink(path);
	assert_int_equal(hoist_dockerfile_load(&df, AT_FDCWD, path, &err), -HOIST_E_NOTFOUND);
	assert_non_null(strstr(err->msg, "read '"));
	hoist_error_free(err);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_instruction),
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_continuations),
		cmocka_unit_test(test_directives_and_comments),
		cmocka_unit_test(test_heredocs),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_expand_table),
		cmocka_unit_test(test_expand_words),
		cmocka_unit_test(test_expand_errors_and_escape),
		cmocka_unit_test(test_instr_expand),
		cmocka_unit_test(test_scope),
		cmocka_unit_test(test_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

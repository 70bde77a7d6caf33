/* The Dockerfile language: parser, variable expansion and ARG/ENV scoping,
 * following BuildKit's frontend (parser, instructions and shell lexer).
 *
 * Parsing gives an AST that keeps every word as written (unexpanded, quotes
 * kept): which words the builder expands, and how, depends on the scope the
 * executor is in when it reaches the instruction.  hoist_df_instr_expand
 * applies Docker's rules to one instruction given a lookup callback, and
 * hoist_df_scope provides that callback with Docker's scoping.  An executor
 * does, per stage:
 *
 *   global = hoist_df_scope_new_global(df, build args, platform args)
 *   for each stage:
 *     expand stage->from with (hoist_df_scope_lookup, global)
 *     scope = hoist_df_scope_new_stage(global, parent stage scope or NULL)
 *     hoist_df_scope_set_env(scope, ...) for each Env entry of the base image
 *     for each instruction:
 *       ARG: hoist_df_scope_apply_arg(scope, instr)
 *       else: hoist_df_instr_expand(&x, df, instr, hoist_df_scope_lookup, scope)
 *             ENV: hoist_df_scope_set_env for each pair of x
 *             RUN: environment from hoist_df_scope_run_env
 *   warn about hoist_df_scope_unused_build_args(global)
 *
 * Every error about the Dockerfile reads "NAME:LINE: INSTRUCTION: what is
 * wrong", NAME being the name the caller gave the parser. */
#ifndef HOIST_DOCKERFILE_H
#define HOIST_DOCKERFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hoist/error.h"

/* Bounds on input: a Dockerfile larger than this is refused (HOIST_E_LIMIT);
 * so is a word whose expansion grows past HOIST_DF_EXPAND_MAX bytes or nests
 * ${...} deeper than HOIST_DF_NEST_MAX. */
#define HOIST_DOCKERFILE_MAX (4 * 1024 * 1024)
#define HOIST_DF_EXPAND_MAX (1024 * 1024)
#define HOIST_DF_NEST_MAX 64

typedef enum hoist_df_kind {
	HOIST_DF_FROM,
	HOIST_DF_RUN,
	HOIST_DF_CMD,
	HOIST_DF_LABEL,
	HOIST_DF_MAINTAINER,
	HOIST_DF_EXPOSE,
	HOIST_DF_ENV,
	HOIST_DF_ADD,
	HOIST_DF_COPY,
	HOIST_DF_ENTRYPOINT,
	HOIST_DF_VOLUME,
	HOIST_DF_USER,
	HOIST_DF_WORKDIR,
	HOIST_DF_ARG,
	HOIST_DF_ONBUILD,
	HOIST_DF_STOPSIGNAL,
	HOIST_DF_HEALTHCHECK,
	HOIST_DF_SHELL,
} hoist_df_kind;

/* "RUN", "COPY", ... (static). */
const char *hoist_df_kind_name(hoist_df_kind kind);

/* A flag, "--name=value".  name without the dashes.  Boolean flags are
 * normalised: "--link" gives value "true", "--link=FALSE" gives "false". */
typedef struct hoist_df_flag {
	char *name;
	char *value;
} hoist_df_flag;

/* A KEY=VALUE pair of ENV, LABEL or ARG.  value NULL only for an ARG
 * without a default. */
typedef struct hoist_df_kv {
	char *key;
	char *value;
} hoist_df_kv;

/* A here-document: "<<EOF", "<<-EOF" (chomp), "<<'EOF'" / "<<\"EOF\""
 * (no expansion), "3<<EOF" (fd 3). */
typedef struct hoist_df_heredoc {
	char *name;    /* the terminator word, quotes removed: "EOF" */
	char *content; /* the body, every line with its newline; with chomp the
	                * leading tabs of each line are already removed */
	bool expand;   /* no quote in the word: $VARs in the body expand */
	bool chomp;    /* <<- */
	int fd;        /* the digits before <<, 0 when none */
} hoist_df_heredoc;

typedef enum hoist_df_mount_type {
	HOIST_DF_MOUNT_BIND,
	HOIST_DF_MOUNT_CACHE,
	HOIST_DF_MOUNT_TMPFS,
	HOIST_DF_MOUNT_SECRET,
	HOIST_DF_MOUNT_SSH,
} hoist_df_mount_type;

typedef enum hoist_df_sharing {
	HOIST_DF_SHARING_SHARED,
	HOIST_DF_SHARING_PRIVATE,
	HOIST_DF_SHARING_LOCKED,
} hoist_df_sharing;

/* RUN --mount=type=cache,target=/root/.cache,sharing=locked (a CSV list of
 * key=value; keys case-insensitive).  The string fields are as written
 * (hoist_df_instr_expand expands them); the others are checked when
 * parsing.  Defaults as BuildKit: type bind, sharing shared, readonly for
 * bind/secret/ssh unless rw. */
typedef struct hoist_df_mount {
	hoist_df_mount_type type;
	char *target;  /* target, dst, destination; NULL when not given */
	char *source;  /* source, src */
	char *from;    /* stage or image */
	char *id;      /* cache or secret id */
	hoist_df_sharing sharing;
	bool readonly; /* readonly, ro (rw, readwrite invert it) */
	bool required; /* secret and ssh only */
	int64_t mode;  /* octal "mode=0755"; -1 when not given */
	int64_t uid;   /* -1 when not given */
	int64_t gid;   /* -1 when not given */
	uint64_t size; /* tmpfs size in bytes ("64m"), 0 when not given */
} hoist_df_mount;

/* HEALTHCHECK options; durations in nanoseconds, 0 when not given. */
typedef struct hoist_df_health {
	bool none;     /* HEALTHCHECK NONE */
	int64_t interval;
	int64_t timeout;
	int64_t start_period;
	int64_t start_interval;
	int retries;   /* 0 when not given */
} hoist_df_health;

/* One instruction.  What is set, per kind (everything else zero/NULL):
 *
 * FROM         args = {image} or {image, "AS", name} as written; flag
 *              "platform".  hoist_df_stage has the same, split out.
 * RUN          flags "mount" (repeatable; parsed into mounts[]),
 *              "network" (default|none|host), "security" (sandbox|
 *              insecure).  json: exec form in args.  Else cmdline, the
 *              shell text as written, which still holds the heredoc
 *              markers ("<<EOF"); heredocs[] holds their bodies.  As
 *              BuildKit: if cmdline is exactly one heredoc marker, the body
 *              is the script (run a "#!" body as a file, else pass the body
 *              to the shell); otherwise give the shell cmdline followed, for
 *              each heredoc, by "\n" + content + name.  Not expanded by the
 *              builder.
 * CMD, ENTRYPOINT  json: args (may be empty: CMD []).  Else cmdline.
 * SHELL        json args, at least one.
 * HEALTHCHECK  health; unless none: json args or cmdline (the command
 *              after CMD); flags interval, timeout, start-period,
 *              start-interval, retries (also parsed into health).
 * ADD, COPY    args = sources..., destination (at least two; the
 *              destination is last).  Shell form: whitespace-separated
 *              words as written; json: the array's strings.  A heredoc
 *              source appears in args as its marker ("<<a.txt") and in
 *              heredocs[] (hoist_df_instr_heredoc finds it); it is a file
 *              named after the heredoc (a.txt) holding its content, copied
 *              to the destination like any source.  Flags: COPY
 *              from, chown, chmod, link, parents, exclude (repeatable);
 *              ADD chown, chmod, link, keep-git-dir, checksum, exclude.
 * ENV, LABEL   kvs, values as written (quotes kept).  The old "ENV k v"
 *              form gives one pair whose value is the rest of the line.
 * ARG          kvs; value NULL without a default.
 * EXPOSE       args, whitespace-separated.
 * VOLUME       json args or whitespace-separated args.
 * USER, WORKDIR, STOPSIGNAL, MAINTAINER
 *              args = {the rest of the line}.
 * ONBUILD      onbuild, the wrapped instruction (never FROM, MAINTAINER or
 *              ONBUILD); cmdline, the trigger text to store in the image
 *              config (the line without "ONBUILD", then each heredoc as
 *              "\n" + body + name). */
typedef struct hoist_df_instr hoist_df_instr;
struct hoist_df_instr {
	hoist_df_kind kind;
	int line;       /* first line, 1-based */
	int end_line;   /* last line, heredoc bodies included */
	char *original; /* the line as written, continuations joined */
	hoist_df_flag *flags;
	size_t n_flags;
	bool json;
	char **args;
	size_t n_args;
	char *cmdline;
	hoist_df_kv *kvs;
	size_t n_kvs;
	hoist_df_heredoc *heredocs;
	size_t n_heredocs;
	hoist_df_mount *mounts;
	size_t n_mounts;
	hoist_df_health health;
	hoist_df_instr *onbuild;
};

typedef struct hoist_df_stage {
	hoist_df_instr from; /* the FROM line itself */
	char *base;          /* image as written ("golang:${GO}", "scratch",
	                      * or an earlier stage's name) */
	char *name;          /* "AS name", lowercased; NULL without one */
	char *platform;      /* --platform as written, or NULL */
	int line;
	hoist_df_instr *instrs;
	size_t n_instrs;
} hoist_df_stage;

typedef struct hoist_dockerfile {
	char *name;    /* as given to the parser, for messages */
	char escape;   /* '\\', or '`' with "# escape=`" */
	char *syntax;  /* "# syntax=" value, or NULL (recorded, not acted on) */
	hoist_df_instr *global_args; /* ARG instructions before the first FROM */
	size_t n_global_args;
	hoist_df_stage *stages;      /* at least one */
	size_t n_stages;
	char **warnings;             /* "NAME:LINE: ..." (empty continuation
	                              * lines, MAINTAINER) */
	size_t n_warnings;
} hoist_dockerfile;

/* Parses a Dockerfile.  name is used in messages ("Dockerfile",
 * "build/app.Dockerfile").  Fails with HOIST_E_INVALID and
 * "NAME:LINE: INSTRUCTION: what is wrong", HOIST_E_LIMIT past
 * HOIST_DOCKERFILE_MAX. */
int hoist_dockerfile_parse(hoist_dockerfile **out, const char *name,
	const char *data, size_t len, hoist_error **err);
/* Reads dirfd/path (AT_FDCWD for the cwd) and parses it under name path. */
int hoist_dockerfile_load(hoist_dockerfile **out, int dirfd, const char *path,
	hoist_error **err);
void hoist_dockerfile_free(hoist_dockerfile *df);

/* The stage named name (case-insensitive), or NULL.  Borrowed. */
const hoist_df_stage *hoist_dockerfile_stage(const hoist_dockerfile *df,
	const char *name);
/* The value of the last flag called name, or NULL.  Borrowed. */
const char *hoist_df_instr_flag(const hoist_df_instr *i, const char *name);
/* For an ADD/COPY source word "<<NAME" (or "<<-NAME", "<<'NAME'"), the
 * heredoc holding its content; NULL when arg is not a heredoc marker. */
const hoist_df_heredoc *hoist_df_instr_heredoc(const hoist_df_instr *i,
	const char *arg);

/* Variable expansion (BuildKit's shell lexer).
 *
 * $V, ${V}, ${V:-w}, ${V-w}, ${V:+w}, ${V+w}, ${V:?msg}, ${V?msg},
 * ${V#p}, ${V##p}, ${V%p}, ${V%%p}, ${V/p/r}, ${V//p/r} (p: *, ?, \ ).
 * Single quotes keep everything literal; double quotes keep everything but
 * $ and escapes of " $ and the escape character; outside quotes the escape
 * character escapes the next character.  Quotes are removed.  Unset
 * variables expand to "". */

/* Value of name in the caller's scope, NULL when unset.  Borrowed: valid
 * until the expansion call returns. */
typedef const char *(*hoist_df_lookup_fn)(void *ud, const char *name);

/* One word: "${A:-x}'$B'" -> "x$B". */
int hoist_df_expand_word(char **out, const char *word, char escape,
	hoist_df_lookup_fn lookup, void *ud, hoist_error **err);
/* A word list, split at unquoted blanks after expansion (an expanded
 * variable's blanks split too, quoted ones do not): with A="x y",
 * `$A "$A" z` -> {"x", "y", "x y", "z"}.  Free with hoist_df_strv_free. */
int hoist_df_expand_words(char ***out, size_t *n, const char *text, char escape,
	hoist_df_lookup_fn lookup, void *ud, hoist_error **err);
/* A heredoc body: $ expansions and \ escapes only, quotes left alone (as
 * BuildKit expands COPY <<EOF bodies). */
int hoist_df_expand_heredoc(char **out, const char *content,
	hoist_df_lookup_fn lookup, void *ud, hoist_error **err);
void hoist_df_strv_free(char **v, size_t n);

/* A deep copy of in with the words the builder expands expanded, by kind:
 * FROM image and --platform; ADD/COPY sources, destination, --chown,
 * --chmod, --from, --checksum, --exclude and the bodies of heredocs with
 * expand set; ENV and LABEL keys and values; EXPOSE (each word may split
 * into several); VOLUME, USER, WORKDIR, STOPSIGNAL words; RUN mount
 * target/source/from/id.  RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK,
 * MAINTAINER and ONBUILD are copied unchanged, and so is ARG (use
 * hoist_df_scope_apply_arg).  Errors name the line: "Dockerfile:4: ENV:
 * expand '${V:?}': variable 'V' is not allowed to be unset". */
int hoist_df_instr_expand(hoist_df_instr **out, const hoist_dockerfile *df,
	const hoist_df_instr *in, hoist_df_lookup_fn lookup, void *ud,
	hoist_error **err);
/* Frees an instruction from hoist_df_instr_expand. */
void hoist_df_instr_free(hoist_df_instr *i);

/* Scoping (Docker's rules).
 *
 * Global scope, for FROM lines: the automatic platform args, then the
 * global ARGs (before the first FROM) in order, each with its build-arg
 * value if one is given, else its default expanded in the scope so far.
 *
 * Stage scope: starts empty (with a parent stage, as a copy of the
 * parent's).  ARG NAME declares NAME from that line on: value = the
 * build-arg if given, else the default (expanded at that point), else -
 * without a default - the global ARG or platform arg of that name, else
 * declared without a value (unset).  ENV always wins over an ARG of the
 * same name.  Lookup order: ENV, then declared ARGs.
 *
 * Predefined args HTTP_PROXY, HTTPS_PROXY, FTP_PROXY, NO_PROXY, ALL_PROXY
 * (and lower case): given as build args they reach RUN's environment
 * without an ARG, are not expanded by the builder, and stay out of
 * hoist_df_scope_build_args (history) unless declared.
 *
 * Build args only set declared ARGs; those no ARG declares are reported by
 * hoist_df_scope_unused_build_args. */
typedef struct hoist_df_scope hoist_df_scope;

/* build_args: --build-arg KEY=VALUE (value NULL: ignored, as an unset
 * variable).  platform_args: TARGETPLATFORM, TARGETOS, TARGETARCH,
 * TARGETVARIANT, BUILDPLATFORM, BUILDOS, BUILDARCH, BUILDVARIANT as the
 * executor computes them.  Both copied.  df must outlive the scope. */
int hoist_df_scope_new_global(hoist_df_scope **out, const hoist_dockerfile *df,
	const hoist_df_kv *build_args, size_t n_build_args,
	const hoist_df_kv *platform_args, size_t n_platform_args,
	hoist_error **err);
/* A stage's scope.  global must outlive it (declarations are recorded
 * there for the unused-build-arg report).  parent: the scope of the stage
 * this one is built FROM, or NULL for an image. */
int hoist_df_scope_new_stage(hoist_df_scope **out, hoist_df_scope *global,
	const hoist_df_scope *parent, hoist_error **err);
void hoist_df_scope_free(hoist_df_scope *s);

/* A hoist_df_lookup_fn over a scope (ud is the hoist_df_scope *). */
const char *hoist_df_scope_lookup(void *scope, const char *name);
/* Sets an environment variable (base image Env, expanded ENV pairs). */
int hoist_df_scope_set_env(hoist_df_scope *s, const char *key,
	const char *value, hoist_error **err);
/* Applies an ARG instruction of the stage (see above). */
int hoist_df_scope_apply_arg(hoist_df_scope *s, const hoist_df_instr *arg,
	hoist_error **err);
/* RUN's environment as "K=V": ENV, then valued ARGs that no ENV shadows,
 * then undeclared proxy build args.  Free with hoist_df_strv_free. */
int hoist_df_scope_run_env(const hoist_df_scope *s, char ***out, size_t *n,
	hoist_error **err);
/* The declared ARGs with a value, "K=V" in declaration order (BuildKit's
 * "|N K=V" RUN history prefix). */
int hoist_df_scope_build_args(const hoist_df_scope *s, char ***out, size_t *n,
	hoist_error **err);
/* Build args that no ARG declared (predefined proxy args excepted), in
 * the order given.  On the global scope, after all stages ran. */
int hoist_df_scope_unused_build_args(const hoist_df_scope *global, char ***out,
	size_t *n, hoist_error **err);

#endif

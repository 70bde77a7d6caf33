/* The hoist command line: option parsing and printing only; every action
 * is a libhoist call. */
#ifndef HOIST_CLI_H
#define HOIST_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "hoist/ctx.h"
#include "hoist/error.h"

typedef struct cli_globals {
	bool quiet;
	bool verbose;
	bool json;
} cli_globals;

extern cli_globals cli;

typedef int (*cli_cmd_fn)(hoist_ctx *ctx, int argc, char **argv);

/* Prints "hoist: error: MSG" to stderr and returns the exit status for it. */
int cli_fail(hoist_error *err);
int cli_failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Usage error: prints the message and the command's usage, returns 2. */
int cli_usage_error(const char *usage, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void cli_log(void *ud, int level, const char *msg);
/* Human-readable size "12.3 MB". buf at least 32 bytes. */
const char *cli_human_size(long long bytes, char *buf, size_t n);

#endif

#include <getopt.h>
#include <jansson.h>

/* Options every command accepts (registry access, parallelism, output).
 * Append CLI_COMMON_LONGOPTS to a command's option table and pass unknown
 * option codes to cli_common_option. */
enum {
	CLI_OPT_INSECURE = 1000,
	CLI_OPT_CA_FILE,
	CLI_OPT_AUTHFILE,
	CLI_OPT_JOBS,
	CLI_OPT_RETRIES,
	CLI_OPT_TIMEOUT,
	CLI_OPT_HOME,
	CLI_OPT_QUIET,
	CLI_OPT_VERBOSE,
	CLI_OPT_FIRST_COMMAND_SPECIFIC = 1100,
};
#define CLI_COMMON_LONGOPTS                                                   \
	{ "insecure", required_argument, NULL, CLI_OPT_INSECURE },            \
	{ "ca-file", required_argument, NULL, CLI_OPT_CA_FILE },              \
	{ "authfile", required_argument, NULL, CLI_OPT_AUTHFILE },            \
	{ "jobs", required_argument, NULL, CLI_OPT_JOBS },                    \
	{ "retries", required_argument, NULL, CLI_OPT_RETRIES },              \
	{ "timeout", required_argument, NULL, CLI_OPT_TIMEOUT },              \
	{ "home", required_argument, NULL, CLI_OPT_HOME },                    \
	{ "quiet", no_argument, NULL, CLI_OPT_QUIET },                        \
	{ "verbose", no_argument, NULL, CLI_OPT_VERBOSE },                    \
	{ "help", no_argument, NULL, 'h' }

/* Handles a common option; returns 0, or an exit status (2 for a bad
 * value, after printing why) — callers return it when non-zero. */
int cli_common_option(hoist_ctx *ctx, int opt, const char *arg, const char *usage);
/* For an unknown option / missing argument getopt reported. */
int cli_bad_option(const char *usage);
int cli_parse_int(const char *s, long min, long max, long *out);

/* Pretty JSON to stdout with a trailing newline. */
void cli_print_json(json_t *j);

/* Transfer progress on stderr: live lines on a terminal, plain lines in a
 * pipe, nothing with --quiet. */
void cli_progress_start(hoist_ctx *ctx);
void cli_progress_finish(void);

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

int cli_parse_int(const char *s, long min, long max, long *out)
{
	char *end = NULL;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || !end || *end || end == s || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int cli_bad_option(const char *usage)
{
	if (usage)
		fprintf(stderr, "usage: %s\n", usage);
	return 2;
}

int cli_common_option(hoist_ctx *ctx, int opt, const char *arg, const char *usage)
{
	hoist_error *err = NULL;
	long v;
	switch (opt) {
	case CLI_OPT_INSECURE:
		if (hoist_ctx_add_insecure(ctx, arg, &err) < 0)
			return cli_fail(err);
		return 0;
	case CLI_OPT_CA_FILE:
		if (access(arg, R_OK) != 0)
			return cli_usage_error(usage, "cannot read --ca-file '%s': %s",
				arg, strerror(errno));
		if (hoist_ctx_set_ca_file(ctx, arg, &err) < 0)
			return cli_fail(err);
		return 0;
	case CLI_OPT_AUTHFILE:
		if (hoist_ctx_set_auth_file(ctx, arg, &err) < 0)
			return cli_fail(err);
		return 0;
	case CLI_OPT_JOBS:
		if (cli_parse_int(arg, 1, 64, &v) < 0)
			return cli_usage_error(usage, "invalid --jobs '%s': want 1..64", arg);
		hoist_ctx_set_jobs(ctx, (int)v);
		return 0;
	case CLI_OPT_RETRIES:
		if (cli_parse_int(arg, 0, 100, &v) < 0)
			return cli_usage_error(usage, "invalid --retries '%s': want 0..100", arg);
		hoist_ctx_set_retries(ctx, (int)v);
		return 0;
	case CLI_OPT_TIMEOUT:
		if (cli_parse_int(arg, 1, 86400, &v) < 0)
			return cli_usage_error(usage, "invalid --timeout '%s': want seconds", arg);
		hoist_ctx_set_timeout(ctx, (int)v);
		return 0;
	case CLI_OPT_HOME:
		if (hoist_ctx_set_home(ctx, arg, &err) < 0)
			return cli_fail(err);
		return 0;
	case CLI_OPT_QUIET:
		cli.quiet = true;
		hoist_ctx_set_log(ctx, cli_log, NULL, HOIST_LOG_ERROR);
		return 0;
	case CLI_OPT_VERBOSE:
		cli.verbose = true;
		hoist_ctx_set_log(ctx, cli_log, NULL, HOIST_LOG_DEBUG);
		return 0;
	case 'h':
		printf("usage: %s\n", usage);
		exit(0);
	default:
		return cli_bad_option(usage);
	}
}

void cli_print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (s) {
		fputs(s, stdout);
		fputc('\n', stdout);
		free(s);
	}
}

/* Progress: one line per blob.  On a terminal the lines of blobs in flight
 * are redrawn in place (at most every 100 ms); in a pipe each blob gets a
 * line when it is skipped, mounted, done or failed. */
#define MAX_LIVE 64

typedef struct live_blob {
	char id[24];
	char what[8];
	unsigned long long done;
	long long total;
	struct timespec start;
	bool finished;
} live_blob;

static struct {
	pthread_mutex_t lock;
	bool tty;
	bool on;
	live_blob blobs[MAX_LIVE];
	int n;
	int drawn;
	struct timespec last_draw;
	struct timespec start;
	unsigned long long bytes;
	int copied, skipped, mounted;
} prog = { .lock = PTHREAD_MUTEX_INITIALIZER };

static double secs_since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

static void draw(bool force)
{
	if (!force && secs_since(&prog.last_draw) < 0.1)
		return;
	clock_gettime(CLOCK_MONOTONIC, &prog.last_draw);
	if (prog.drawn)
		fprintf(stderr, "\033[%dA", prog.drawn);
	for (int i = 0; i < prog.n; i++) {
		live_blob *b = &prog.blobs[i];
		char d[32], t[32], r[32];
		double s = secs_since(&b->start);
		cli_human_size((long long)b->done, d, sizeof(d));
		cli_human_size(b->total, t, sizeof(t));
		cli_human_size(s > 0 ? (long long)((double)b->done / s) : 0, r, sizeof(r));
		fprintf(stderr, "\033[2K%s  %-6s %s / %s  %s/s\n", b->id, b->what, d, t, r);
	}
	prog.drawn = prog.n;
	fflush(stderr);
}

static void on_progress(void *ud, const hoist_progress *p)
{
	(void)ud;
	pthread_mutex_lock(&prog.lock);
	live_blob *b = NULL;
	char id[24];
	snprintf(id, sizeof(id), "%.19s", p->id ? p->id : "?");
	for (int i = 0; i < prog.n; i++)
		if (!strcmp(prog.blobs[i].id, id))
			b = &prog.blobs[i];
	if (!b && prog.n < MAX_LIVE) {
		b = &prog.blobs[prog.n++];
		memset(b, 0, sizeof(*b));
		snprintf(b->id, sizeof(b->id), "%s", id);
		clock_gettime(CLOCK_MONOTONIC, &b->start);
	}
	bool final = !strcmp(p->what, "done") || !strcmp(p->what, "skip") ||
		!strcmp(p->what, "mount") || !strcmp(p->what, "fail");
	if (!strcmp(p->what, "done"))
		prog.copied++;
	else if (!strcmp(p->what, "skip"))
		prog.skipped++;
	else if (!strcmp(p->what, "mount"))
		prog.mounted++;
	if (b) {
		snprintf(b->what, sizeof(b->what), "%s",
			!strcmp(p->what, "copy") ? "copy" : !strcmp(p->what, "skip") ? "exists"
			: !strcmp(p->what, "mount") ? "mount" : !strcmp(p->what, "fail") ? "FAIL"
			: "done");
		if (p->done > b->done)
			b->done = p->done;
		b->total = p->total;
		b->finished = final;
	}
	if (prog.tty) {
		draw(final);
	} else if (final && b) {
		char sz[32];
		fprintf(stderr, "%s  %s  %s\n", b->id, b->what,
			cli_human_size(b->total, sz, sizeof(sz)));
	}
	pthread_mutex_unlock(&prog.lock);
}

void cli_progress_start(hoist_ctx *ctx)
{
	if (cli.quiet)
		return;
	prog.tty = isatty(STDERR_FILENO);
	prog.on = true;
	prog.n = prog.drawn = 0;
	clock_gettime(CLOCK_MONOTONIC, &prog.start);
	hoist_ctx_set_progress(ctx, on_progress, NULL);
}

void cli_progress_finish(void)
{
	if (!prog.on)
		return;
	pthread_mutex_lock(&prog.lock);
	if (prog.tty && prog.n)
		draw(true);
	pthread_mutex_unlock(&prog.lock);
	prog.on = false;
}

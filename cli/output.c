#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

cli_globals cli;

int cli_fail(hoist_error *err)
{
	fprintf(stderr, "hoist: error: %s\n", err && err->msg ? err->msg : "failed");
	int code = err ? err->code : 1;
	hoist_error_free(err);
	/* 1 for ordinary failures; usage errors use 2 (cli_usage_error). */
	return code == 0 ? 0 : 1;
}

int cli_failf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("hoist: error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return 1;
}

int cli_usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("hoist: error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	if (usage)
		fprintf(stderr, "usage: %s\n", usage);
	return 2;
}

void cli_log(void *ud, int level, const char *msg)
{
	(void)ud;
	static const char *const names[] = { "error", "warning", "info", "debug" };
	fprintf(stderr, "hoist: %s: %s\n", names[level < 0 ? 0 : level > 3 ? 3 : level], msg);
}

const char *cli_human_size(long long bytes, char *buf, size_t n)
{
	static const char *const units[] = { "B", "kB", "MB", "GB", "TB" };
	double v = (double)bytes;
	size_t u = 0;
	while (v >= 1000 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1000;
		u++;
	}
	if (u == 0)
		snprintf(buf, n, "%lld B", bytes);
	else
		snprintf(buf, n, "%.1f %s", v, units[u]);
	return buf;
}

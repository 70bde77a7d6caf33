#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cmds.h"
#include "hoist/copy.h"
#include <fcntl.h>

#include "hoist/fs.h"
#include "util/cleanup.h"

static const char usage[] =
	"hoist cp [--platform OS/ARCH[/VARIANT]] [--all-tags [--tag-regex RE]]\n"
	"         [--digestfile FILE] [--jobs N] [--insecure HOST] [--ca-file F] SRC DST";

enum { OPT_PLATFORM = CLI_OPT_FIRST_COMMAND_SPECIFIC, OPT_ALL_TAGS, OPT_TAG_REGEX,
	OPT_DIGESTFILE };

static void summary(const char *what, const hoist_copy_stats *st, double secs)
{
	if (cli.quiet)
		return;
	char sz[32];
	fprintf(stderr, "%s: %llu blobs copied (%s), %llu already present, %llu mounted, "
		"%llu manifests, %.2fs\n", what,
		(unsigned long long)st->blobs_copied,
		cli_human_size((long long)st->bytes_copied, sz, sizeof(sz)),
		(unsigned long long)st->blobs_skipped, (unsigned long long)st->blobs_mounted,
		(unsigned long long)st->manifests, secs);
}

static int on_tag(void *ud, const char *tag, int rc, const hoist_digest *dg,
	const hoist_copy_stats *st, const hoist_error *err)
{
	(void)ud;
	if (rc < 0)
		fprintf(stderr, "hoist: error: tag '%s': %s\n", tag, err ? err->msg : "failed");
	else if (!cli.quiet)
		fprintf(stderr, "%s: %s %s\n", tag, st->unchanged ? "unchanged" : "copied", dg->str);
	return 0;
}

int cmd_cp(hoist_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "platform", required_argument, NULL, OPT_PLATFORM },
		{ "all-tags", no_argument, NULL, OPT_ALL_TAGS },
		{ "tag-regex", required_argument, NULL, OPT_TAG_REGEX },
		{ "digestfile", required_argument, NULL, OPT_DIGESTFILE },
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	hoist_platform plat = { 0 };
	bool have_plat = false, all_tags = false;
	const char *tag_regex = NULL, *digestfile = NULL;
	hoist_error *err = NULL;
	int c, rc;
	while ((c = getopt_long(argc, argv, "hqv", opts, NULL)) != -1) {
		switch (c) {
		case OPT_PLATFORM:
			hoist_platform_release(&plat);
			if (hoist_platform_parse(&plat, optarg, &err) < 0)
				return cli_fail(err);
			have_plat = true;
			break;
		case OPT_ALL_TAGS:
			all_tags = true;
			break;
		case OPT_TAG_REGEX:
			tag_regex = optarg;
			break;
		case OPT_DIGESTFILE:
			digestfile = optarg;
			break;
		case 'q':
			c = CLI_OPT_QUIET;
			/* fall through */
		default:
			if (c == 'v')
				c = CLI_OPT_VERBOSE;
			if ((rc = cli_common_option(ctx, c, optarg, usage)) != 0) {
				hoist_platform_release(&plat);
				return rc;
			}
		}
	}
	if (argc - optind != 2) {
		hoist_platform_release(&plat);
		return cli_usage_error(usage, "cp needs SRC and DST");
	}
	if (tag_regex && !all_tags) {
		hoist_platform_release(&plat);
		return cli_usage_error(usage, "--tag-regex needs --all-tags");
	}
	const char *src = argv[optind], *dst = argv[optind + 1];
	hoist_copy_opts o = { have_plat ? &plat : NULL };
	hoist_copy_stats st = { 0 };
	hoist_digest dg = { 0 };
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cli_progress_start(ctx);
	if (all_tags)
		rc = hoist_copy_all_tags(ctx, src, dst, tag_regex, &o, on_tag, NULL, &st, &err);
	else
		rc = hoist_copy_by_name(ctx, src, dst, &o, &dg, &st, &err);
	cli_progress_finish();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	hoist_platform_release(&plat);
	if (rc < 0)
		return cli_fail(err);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (!all_tags && st.unchanged && !cli.quiet)
		fprintf(stderr, "%s is up to date (%s)\n", dst, dg.str);
	else
		summary(all_tags ? "all tags" : dg.str, &st, secs);
	if (digestfile && !all_tags) {
		char line[HOIST_DIGEST_STRMAX + 1];
		int n = snprintf(line, sizeof(line), "%s", dg.str);
		if (hoist_fs_write_atomic(AT_FDCWD, digestfile, line, (size_t)n, 0644, &err) < 0)
			return cli_fail(err);
	}
	return 0;
}

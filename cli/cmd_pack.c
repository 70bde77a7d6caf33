/* hoist pack: a minimal, non-root image from compiled programs. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cmds.h"
#include "hoist/compose.h"
#include "hoist/pack.h"
#include "util/cleanup.h"

HOIST_DEFINE_CLEANUP(hoist_compose, hoist_compose_free)
HOIST_DEFINE_CLEANUP(hoist_pack_plan, hoist_pack_plan_free)

enum { OPT_BASE = CLI_OPT_FIRST_COMMAND_SPECIFIC, OPT_CA_CERTS, OPT_BIN_DIR,
	OPT_SYSROOT, OPT_COMPRESSION };

int cmd_pack(hoist_ctx *ctx, int argc, char **argv)
{
	static const char usage[] =
		"hoist pack BINARY... -t DST [--base REF] [--with-ca-certs] [--bin-dir DIR]\n"
		"         [--sysroot DIR] [--compression gzip|zstd|none]";
	static const struct option opts[] = {
		{ "tag", required_argument, NULL, 't' },
		{ "base", required_argument, NULL, OPT_BASE },
		{ "with-ca-certs", no_argument, NULL, OPT_CA_CERTS },
		{ "bin-dir", required_argument, NULL, OPT_BIN_DIR },
		{ "sysroot", required_argument, NULL, OPT_SYSROOT },
		{ "compression", required_argument, NULL, OPT_COMPRESSION },
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	const char *dst = NULL, *base = NULL;
	hoist_pack_opts po;
	hoist_pack_opts_init(&po);
	hoist_compression comp = HOIST_COMPRESSION_GZIP;
	int c, rc;
	while ((c = getopt_long(argc, argv, "hqvt:", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			dst = optarg;
			break;
		case OPT_BASE:
			base = optarg;
			break;
		case OPT_CA_CERTS:
			po.ca_certs = true;
			break;
		case OPT_BIN_DIR:
			if (optarg[0] != '/')
				return cli_usage_error(usage, "--bin-dir must be absolute");
			po.bin_dir = optarg;
			break;
		case OPT_SYSROOT:
			po.sysroot = optarg;
			break;
		case OPT_COMPRESSION:
			comp = !strcmp(optarg, "zstd") ? HOIST_COMPRESSION_ZSTD
				: !strcmp(optarg, "none") ? HOIST_COMPRESSION_NONE
				: !strcmp(optarg, "gzip") ? HOIST_COMPRESSION_GZIP
				: HOIST_COMPRESSION_UNKNOWN;
			if (comp == HOIST_COMPRESSION_UNKNOWN)
				return cli_usage_error(usage, "invalid --compression '%s'", optarg);
			break;
		default:
			c = c == 'q' ? CLI_OPT_QUIET : c == 'v' ? CLI_OPT_VERBOSE : c;
			if ((rc = cli_common_option(ctx, c, optarg, usage)) != 0)
				return rc;
		}
	}
	if (optind >= argc || !dst)
		return cli_usage_error(usage, "pack needs at least one BINARY and -t DST");
	if (base) {
		/* A base brings its own users and directories (maybe merged /usr
		 * symlinks a directory entry would replace). */
		po.no_parent_dirs = true;
		po.no_user_files = true;
	}
	hoist_error *err = NULL;
	_cleanup_(hoist_pack_plan_freep) hoist_pack_plan *plan = NULL;
	if (hoist_pack_plan_new(&plan, (const char *const *)argv + optind,
		    (size_t)(argc - optind), &po, &err) < 0)
		return cli_fail(err);
	const hoist_pack_config *pc = hoist_pack_plan_config(plan);
	_cleanup_(hoist_compose_freep) hoist_compose *comp_img = NULL;
	if (hoist_compose_new(&comp_img, ctx, base, &pc->platform, &err) < 0)
		return cli_fail(err);
	hoist_layer_opts lo;
	hoist_compose_layer_opts(comp_img, &lo);
	lo.compression = comp;
	hoist_layer_writer *w = NULL;
	_cleanup_free_ char *by = NULL;
	/* Names only: the history must not depend on where the checkout is. */
	const char *prog = strrchr(argv[optind], '/') ? strrchr(argv[optind], '/') + 1 : argv[optind];
	if (asprintf(&by, "hoist pack %s", prog) < 0)
		return cli_failf("out of memory");
	rc = hoist_compose_begin_layer(comp_img, &lo, &w, &err);
	if (rc == 0 && (rc = hoist_pack_plan_write_layer(plan, w, &err)) < 0)
		hoist_layer_writer_free(w);
	hoist_layer_info info;
	if (rc == 0)
		rc = hoist_compose_end_layer(comp_img, w, by, &info, &err);
	if (rc == 0)
		rc = hoist_pack_plan_apply_config(plan, hoist_compose_config(comp_img), &err);
	if (rc < 0)
		return cli_fail(err);
	if (!cli.quiet) {
		for (size_t i = 0; i < hoist_pack_plan_size(plan); i++) {
			const hoist_pack_entry *e = hoist_pack_plan_entry(plan, i);
			if (e->host_path && cli.verbose)
				fprintf(stderr, "  %s <- %s\n", e->path, e->host_path);
		}
		fprintf(stderr, "layer %s (%lld bytes, %zu entries)\n", info.digest.str,
			(long long)info.size, hoist_pack_plan_size(plan));
	}
	hoist_digest dg;
	hoist_copy_stats st = { 0 };
	cli_progress_start(ctx);
	rc = hoist_compose_write(comp_img, dst, &dg, &st, &err);
	cli_progress_finish();
	if (rc < 0)
		return cli_fail(err);
	printf("%s\n", dg.str);
	return 0;
}

/* hoist export | ls-layer: the files of an image. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cmds.h"
#include "hoist/export.h"
#include "hoist/image.h"
#include "util/cleanup.h"

HOIST_DEFINE_CLEANUP(hoist_image, hoist_image_free)

enum { OPT_PLATFORM = CLI_OPT_FIRST_COMMAND_SPECIFIC };

static int parse(hoist_ctx *ctx, int argc, char **argv, const char *usage,
	hoist_platform *plat, bool *have_plat)
{
	static const struct option opts[] = {
		{ "platform", required_argument, NULL, OPT_PLATFORM },
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	hoist_error *err = NULL;
	int c, rc;
	while ((c = getopt_long(argc, argv, "hqv", opts, NULL)) != -1) {
		if (c == OPT_PLATFORM) {
			hoist_platform_release(plat);
			if (hoist_platform_parse(plat, optarg, &err) < 0)
				return cli_fail(err);
			*have_plat = true;
			continue;
		}
		c = c == 'q' ? CLI_OPT_QUIET : c == 'v' ? CLI_OPT_VERBOSE : c;
		if ((rc = cli_common_option(ctx, c, optarg, usage)) != 0)
			return rc;
	}
	return 0;
}

static int load(hoist_ctx *ctx, const char *name, const hoist_platform *plat,
	hoist_source **src, hoist_image **img)
{
	hoist_error *err = NULL;
	if (hoist_source_open(ctx, name, src, &err) < 0 ||
		hoist_image_load(*src, plat, img, &err) < 0) {
		hoist_error_wrap(&err, HOIST_E_IO, "'%s'", name);
		return cli_fail(err);
	}
	return 0;
}

int cmd_export(hoist_ctx *ctx, int argc, char **argv)
{
	static const char usage[] = "hoist export [--platform P] REF DIR|-";
	hoist_platform plat = { 0 };
	bool have_plat = false;
	int rc = parse(ctx, argc, argv, usage, &plat, &have_plat);
	if (rc)
		goto out;
	if (argc - optind != 2) {
		rc = cli_usage_error(usage, "export needs REF and a directory (or - for a tar on stdout)");
		goto out;
	}
	const char *name = argv[optind], *to = argv[optind + 1];
	if (!strcmp(to, "-") && isatty(STDOUT_FILENO)) {
		rc = cli_usage_error(usage, "refusing to write a tar stream to a terminal");
		goto out;
	}
	hoist_source *src = NULL;
	_cleanup_(hoist_image_freep) hoist_image *img = NULL;
	if ((rc = load(ctx, name, have_plat ? &plat : NULL, &src, &img))) {
		hoist_source_free(src);
		goto out;
	}
	hoist_error *err = NULL;
	if (!strcmp(to, "-")) {
		hoist_writer *w = NULL;
		rc = hoist_writer_new_fd(&w, STDOUT_FILENO, false, &err);
		if (rc == 0)
			rc = hoist_image_export_tar(src, img, w, &err);
		hoist_writer_free(w);
	} else {
		hoist_apply_opts o = { 0 };
		o.keep_owner = geteuid() == 0;
		o.xattrs = true;
		rc = hoist_image_export_dir(src, img, to, &o, &err);
	}
	hoist_source_free(src);
	if (rc < 0) {
		hoist_error_wrap(&err, HOIST_E_IO, "export '%s'", name);
		rc = cli_fail(err);
	}
out:
	hoist_platform_release(&plat);
	return rc;
}

typedef struct ls_state {
	const hoist_manifest *m;
	size_t last;
	bool started;
} ls_state;

static void on_file(void *ud, size_t layer, hoist_change_kind kind, const char *path,
	int64_t size)
{
	ls_state *s = ud;
	if (!s->started || layer != s->last) {
		char sz[32];
		printf("%slayer %zu  %s  %s\n", s->started ? "\n" : "", layer + 1,
			s->m->layers[layer].digest.str,
			cli_human_size(s->m->layers[layer].size, sz, sizeof(sz)));
		s->started = true;
		s->last = layer;
	}
	if (kind == HOIST_CHANGE_DELETE)
		printf("  D /%s\n", path);
	else
		printf("  %c /%s  %lld\n", (char)kind, path, (long long)size);
}

int cmd_ls_layer(hoist_ctx *ctx, int argc, char **argv)
{
	static const char usage[] = "hoist ls-layer [--platform P] REF";
	hoist_platform plat = { 0 };
	bool have_plat = false;
	int rc = parse(ctx, argc, argv, usage, &plat, &have_plat);
	if (rc)
		goto out;
	if (argc - optind != 1) {
		rc = cli_usage_error(usage, "ls-layer needs one REF");
		goto out;
	}
	hoist_source *src = NULL;
	_cleanup_(hoist_image_freep) hoist_image *img = NULL;
	if ((rc = load(ctx, argv[optind], have_plat ? &plat : NULL, &src, &img))) {
		hoist_source_free(src);
		goto out;
	}
	ls_state s = { img->manifest, 0, false };
	hoist_error *err = NULL;
	rc = hoist_image_list_files(src, img, on_file, &s, &err);
	hoist_source_free(src);
	if (rc < 0)
		rc = cli_fail(err);
out:
	hoist_platform_release(&plat);
	return rc;
}

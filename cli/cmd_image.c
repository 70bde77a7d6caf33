/* hoist append | mutate | rebase: new images from old ones, no Dockerfile,
 * no container run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmds.h"
#include "hoist/compose.h"
#include "util/cleanup.h"

HOIST_DEFINE_CLEANUP(hoist_compose, hoist_compose_free)

enum {
	OPT_TAG = 't',
	OPT_LAYER = CLI_OPT_FIRST_COMMAND_SPECIFIC,
	OPT_COMPRESSION, OPT_LEVEL, OPT_PRESERVE_MTIME, OPT_CHOWN, OPT_PLATFORM,
	OPT_ENTRYPOINT, OPT_CMD, OPT_ENV, OPT_USER, OPT_WORKDIR, OPT_LABEL,
	OPT_EXPOSE, OPT_ANNOTATION, OPT_OLD_BASE, OPT_NEW_BASE, OPT_VOLUME,
	OPT_STOPSIGNAL,
};

#define MAX_ITEMS 256

typedef struct image_args {
	const char *dst;
	const char *layers[MAX_ITEMS];
	size_t n_layers;
	hoist_layer_opts lopts;
	hoist_platform plat;
	bool have_plat;
	/* config edits, applied in command-line order */
	int edit_opt[MAX_ITEMS];
	const char *edit_val[MAX_ITEMS];
	size_t n_edits;
	const char *old_base, *new_base;
} image_args;

static const struct option image_opts[] = {
	{ "tag", required_argument, NULL, OPT_TAG },
	{ "layer", required_argument, NULL, OPT_LAYER },
	{ "compression", required_argument, NULL, OPT_COMPRESSION },
	{ "level", required_argument, NULL, OPT_LEVEL },
	{ "preserve-mtime", no_argument, NULL, OPT_PRESERVE_MTIME },
	{ "chown", required_argument, NULL, OPT_CHOWN },
	{ "platform", required_argument, NULL, OPT_PLATFORM },
	{ "entrypoint", required_argument, NULL, OPT_ENTRYPOINT },
	{ "cmd", required_argument, NULL, OPT_CMD },
	{ "env", required_argument, NULL, OPT_ENV },
	{ "user", required_argument, NULL, OPT_USER },
	{ "workdir", required_argument, NULL, OPT_WORKDIR },
	{ "label", required_argument, NULL, OPT_LABEL },
	{ "expose", required_argument, NULL, OPT_EXPOSE },
	{ "volume", required_argument, NULL, OPT_VOLUME },
	{ "stop-signal", required_argument, NULL, OPT_STOPSIGNAL },
	{ "annotation", required_argument, NULL, OPT_ANNOTATION },
	{ "old-base", required_argument, NULL, OPT_OLD_BASE },
	{ "new-base", required_argument, NULL, OPT_NEW_BASE },
	CLI_COMMON_LONGOPTS,
	{ NULL, 0, NULL, 0 },
};

static int parse_owner(const char *s, int64_t *uid, int64_t *gid)
{
	long u, g;
	_cleanup_free_ char *copy = strdup(s);
	if (!copy)
		return -1;
	char *colon = strchr(copy, ':');
	if (colon)
		*colon = '\0';
	if (cli_parse_int(copy, 0, 0x7fffffff, &u) < 0)
		return -1;
	g = u;
	if (colon && cli_parse_int(colon + 1, 0, 0x7fffffff, &g) < 0)
		return -1;
	*uid = u;
	*gid = g;
	return 0;
}

static int parse_image_args(hoist_ctx *ctx, int argc, char **argv,
	const char *usage, image_args *a)
{
	memset(a, 0, sizeof(*a));
	hoist_layer_opts_init(&a->lopts);
	hoist_error *err = NULL;
	int c, rc;
	long v;
	while ((c = getopt_long(argc, argv, "hqvt:", image_opts, NULL)) != -1) {
		switch (c) {
		case OPT_TAG:
			a->dst = optarg;
			break;
		case OPT_LAYER:
			if (a->n_layers == MAX_ITEMS)
				return cli_usage_error(usage, "too many --layer options");
			a->layers[a->n_layers++] = optarg;
			break;
		case OPT_COMPRESSION:
			if (!strcmp(optarg, "gzip"))
				a->lopts.compression = HOIST_COMPRESSION_GZIP;
			else if (!strcmp(optarg, "zstd"))
				a->lopts.compression = HOIST_COMPRESSION_ZSTD;
			else if (!strcmp(optarg, "none"))
				a->lopts.compression = HOIST_COMPRESSION_NONE;
			else
				return cli_usage_error(usage,
					"invalid --compression '%s': want gzip, zstd or none", optarg);
			break;
		case OPT_LEVEL:
			if (cli_parse_int(optarg, 0, 22, &v) < 0)
				return cli_usage_error(usage, "invalid --level '%s'", optarg);
			a->lopts.level = (int)v;
			break;
		case OPT_PRESERVE_MTIME:
			a->lopts.preserve_mtime = true;
			break;
		case OPT_CHOWN:
			if (parse_owner(optarg, &a->lopts.uid, &a->lopts.gid) < 0)
				return cli_usage_error(usage,
					"invalid --chown '%s': want UID[:GID] (numbers)", optarg);
			break;
		case OPT_PLATFORM:
			hoist_platform_release(&a->plat);
			if (hoist_platform_parse(&a->plat, optarg, &err) < 0)
				return cli_fail(err);
			a->have_plat = true;
			break;
		case OPT_OLD_BASE:
			a->old_base = optarg;
			break;
		case OPT_NEW_BASE:
			a->new_base = optarg;
			break;
		case OPT_ENTRYPOINT: case OPT_CMD: case OPT_ENV: case OPT_USER:
		case OPT_WORKDIR: case OPT_LABEL: case OPT_EXPOSE: case OPT_VOLUME:
		case OPT_STOPSIGNAL: case OPT_ANNOTATION:
			if (a->n_edits == MAX_ITEMS)
				return cli_usage_error(usage, "too many config options");
			a->edit_opt[a->n_edits] = c;
			a->edit_val[a->n_edits++] = optarg;
			break;
		default:
			c = c == 'q' ? CLI_OPT_QUIET : c == 'v' ? CLI_OPT_VERBOSE : c;
			if ((rc = cli_common_option(ctx, c, optarg, usage)) != 0)
				return rc;
		}
	}
	return 0;
}

/* "[\"a\",\"b\"]" as JSON, else words split on blanks. */
static json_t *parse_argv(const char *s)
{
	if (s[0] == '[') {
		json_error_t je;
		json_t *j = json_loads(s, 0, &je);
		size_t i;
		json_t *v;
		if (!json_is_array(j)) {
			json_decref(j);
			return NULL;
		}
		json_array_foreach(j, i, v)
			if (!json_is_string(v)) {
				json_decref(j);
				return NULL;
			}
		return j;
	}
	json_t *arr = json_array();
	_cleanup_free_ char *copy = strdup(s);
	char *save = NULL;
	for (char *w = copy ? strtok_r(copy, " \t", &save) : NULL; w;
		w = strtok_r(NULL, " \t", &save))
		json_array_append_new(arr, json_string(w));
	return arr;
}

static int split_kv(const char *s, const char *what, char **key, const char **value)
{
	const char *eq = strchr(s, '=');
	if (!eq || eq == s)
		return cli_failf("invalid %s '%s': want KEY=VALUE", what, s);
	*key = strndup(s, (size_t)(eq - s));
	*value = eq + 1;
	return *key ? 0 : cli_failf("out of memory");
}

static int apply_edits(hoist_compose *c, const image_args *a)
{
	hoist_config *cfg = hoist_compose_config(c);
	hoist_error *err = NULL;
	for (size_t i = 0; i < a->n_edits; i++) {
		const char *v = a->edit_val[i];
		int rc = 0;
		switch (a->edit_opt[i]) {
		case OPT_ENTRYPOINT:
		case OPT_CMD: {
			json_t *arr = *v ? parse_argv(v) : NULL;
			if (*v && !arr)
				return cli_failf("invalid %s '%s': want a JSON array of strings or words",
					a->edit_opt[i] == OPT_CMD ? "--cmd" : "--entrypoint", v);
			rc = a->edit_opt[i] == OPT_CMD ? hoist_config_set_cmd(cfg, arr, &err)
				: hoist_config_set_entrypoint(cfg, arr, &err);
			json_decref(arr);
			break;
		}
		case OPT_ENV:
			if (!strchr(v, '=') || v[0] == '=')
				return cli_failf("invalid --env '%s': want KEY=VALUE", v);
			rc = hoist_config_set_env(cfg, v, &err);
			break;
		case OPT_USER:
			rc = hoist_config_set_user(cfg, *v ? v : NULL, &err);
			break;
		case OPT_WORKDIR:
			if (*v && v[0] != '/')
				return cli_failf("invalid --workdir '%s': must be an absolute path", v);
			rc = hoist_config_set_workdir(cfg, *v ? v : NULL, &err);
			break;
		case OPT_LABEL:
		case OPT_ANNOTATION: {
			_cleanup_free_ char *k = NULL;
			const char *val = NULL;
			if ((rc = split_kv(v, a->edit_opt[i] == OPT_LABEL ? "--label" : "--annotation",
				     &k, &val)))
				return rc;
			rc = a->edit_opt[i] == OPT_LABEL ? hoist_config_set_label(cfg, k, val, &err)
				: hoist_compose_set_annotation(c, k, val, &err);
			break;
		}
		case OPT_EXPOSE:
			rc = hoist_config_add_exposed_port(cfg, v, &err);
			break;
		case OPT_VOLUME:
			rc = hoist_config_add_volume(cfg, v, &err);
			break;
		case OPT_STOPSIGNAL:
			rc = hoist_config_set_stop_signal(cfg, v, &err);
			break;
		}
		if (rc < 0)
			return cli_fail(err);
	}
	return 0;
}

static int finish(hoist_ctx *ctx, hoist_compose *c, const char *dst)
{
	hoist_error *err = NULL;
	hoist_digest dg;
	hoist_copy_stats st = { 0 };
	cli_progress_start(ctx);
	int rc = hoist_compose_write(c, dst, &dg, &st, &err);
	cli_progress_finish();
	if (rc < 0)
		return cli_fail(err);
	if (!cli.quiet) {
		char sz[32];
		fprintf(stderr, "%s: %llu blobs written (%s), %llu already there, %llu mounted\n",
			dst, (unsigned long long)st.blobs_copied,
			cli_human_size((long long)st.bytes_copied, sz, sizeof(sz)),
			(unsigned long long)st.blobs_skipped, (unsigned long long)st.blobs_mounted);
	}
	printf("%s\n", dg.str);
	return 0;
}

static int open_compose(hoist_ctx *ctx, const char *base, image_args *a,
	hoist_compose **c)
{
	hoist_error *err = NULL;
	if (hoist_compose_new(c, ctx, base, a->have_plat ? &a->plat : NULL, &err) < 0)
		return cli_fail(err);
	return 0;
}

int cmd_append(hoist_ctx *ctx, int argc, char **argv)
{
	static const char usage[] =
		"hoist append BASE|scratch --layer DIR|TARBALL[:DEST]... -t DST\n"
		"         [--compression gzip|zstd|none] [--level N] [--preserve-mtime]\n"
		"         [--chown UID[:GID]] [--platform P] [config options of 'hoist mutate']";
	image_args a;
	int rc = parse_image_args(ctx, argc, argv, usage, &a);
	if (rc)
		goto out;
	if (argc - optind != 1) {
		rc = cli_usage_error(usage, "append needs one BASE (or 'scratch')");
		goto out;
	}
	if (!a.dst || !a.n_layers) {
		rc = cli_usage_error(usage, "append needs -t DST and at least one --layer");
		goto out;
	}
	_cleanup_(hoist_compose_freep) hoist_compose *c = NULL;
	if ((rc = open_compose(ctx, argv[optind], &a, &c)))
		goto out;
	hoist_layer_opts o;
	hoist_compose_layer_opts(c, &o);
	o.compression = a.lopts.compression;
	o.level = a.lopts.level;
	o.preserve_mtime = a.lopts.preserve_mtime;
	o.uid = a.lopts.uid;
	o.gid = a.lopts.gid;
	for (size_t i = 0; i < a.n_layers; i++) {
		/* PATH[:DEST] — the last ':' followed by '/' starts DEST. */
		_cleanup_free_ char *path = strdup(a.layers[i]);
		if (!path) {
			rc = cli_failf("out of memory");
			goto out;
		}
		char *sep = strstr(path, ":/");
		const char *dest = "/";
		if (sep) {
			*sep = '\0';
			dest = sep + 1;
		}
		_cleanup_free_ char *by = NULL;
		if (asprintf(&by, "hoist append --layer %s%s%s", strrchr(path, '/') ? strrchr(path, '/') + 1 : path,
			    sep ? ":" : "", sep ? dest : "") < 0) {
			rc = cli_failf("out of memory");
			goto out;
		}
		hoist_error *err = NULL;
		hoist_layer_info info;
		if (hoist_compose_add_path(c, path, dest, &o, by, &info, &err) < 0) {
			rc = cli_fail(err);
			goto out;
		}
		if (!cli.quiet)
			fprintf(stderr, "layer %s: %s (%lld bytes, diff_id %s)\n", a.layers[i],
				info.digest.str, (long long)info.size, info.diff_id.str);
	}
	if ((rc = apply_edits(c, &a)))
		goto out;
	rc = finish(ctx, c, a.dst);
out:
	hoist_platform_release(&a.plat);
	return rc;
}

int cmd_mutate(hoist_ctx *ctx, int argc, char **argv)
{
	static const char usage[] =
		"hoist mutate REF [-t DST] [--entrypoint E] [--cmd C] [--env K=V]...\n"
		"         [--user U] [--workdir DIR] [--label K=V]... [--expose PORT[/PROTO]]...\n"
		"         [--volume DIR]... [--stop-signal SIG] [--annotation K=V]... [--platform P]";
	image_args a;
	int rc = parse_image_args(ctx, argc, argv, usage, &a);
	if (rc)
		goto out;
	if (argc - optind != 1) {
		rc = cli_usage_error(usage, "mutate needs one REF");
		goto out;
	}
	if (a.n_layers) {
		rc = cli_usage_error(usage, "--layer belongs to 'hoist append'");
		goto out;
	}
	_cleanup_(hoist_compose_freep) hoist_compose *c = NULL;
	if ((rc = open_compose(ctx, argv[optind], &a, &c)))
		goto out;
	if ((rc = apply_edits(c, &a)))
		goto out;
	rc = finish(ctx, c, a.dst ? a.dst : argv[optind]);
out:
	hoist_platform_release(&a.plat);
	return rc;
}

int cmd_rebase(hoist_ctx *ctx, int argc, char **argv)
{
	static const char usage[] =
		"hoist rebase REF --old-base OLD --new-base NEW [-t DST] [--platform P]";
	image_args a;
	int rc = parse_image_args(ctx, argc, argv, usage, &a);
	if (rc)
		goto out;
	if (argc - optind != 1 || !a.old_base || !a.new_base) {
		rc = cli_usage_error(usage, "rebase needs REF, --old-base and --new-base");
		goto out;
	}
	_cleanup_(hoist_compose_freep) hoist_compose *c = NULL;
	if ((rc = open_compose(ctx, argv[optind], &a, &c)))
		goto out;
	hoist_error *err = NULL;
	if (hoist_compose_rebase(c, a.old_base, a.new_base, &err) < 0) {
		hoist_error_wrap(&err, HOIST_E_INVALID, "rebase '%s'", argv[optind]);
		rc = cli_fail(err);
		goto out;
	}
	if ((rc = apply_edits(c, &a)))
		goto out;
	rc = finish(ctx, c, a.dst ? a.dst : argv[optind]);
out:
	hoist_platform_release(&a.plat);
	return rc;
}

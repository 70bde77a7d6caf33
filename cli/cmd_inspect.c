/* hoist inspect | manifest | config | digest | history: reading one image. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cmds.h"
#include "hoist/image.h"
#include "hoist/transport.h"
#include "util/cleanup.h"

HOIST_DEFINE_CLEANUP(hoist_manifest, hoist_manifest_free)

enum { OPT_PLATFORM = CLI_OPT_FIRST_COMMAND_SPECIFIC, OPT_JSON, OPT_NO_TRUNC };

typedef struct read_args {
	const char *name;
	hoist_platform plat;
	bool have_plat;
	bool json;
	bool no_trunc;
} read_args;

/* Parses "[--platform P] [--json] REF"; returns 0 or an exit status. */
static int parse_read_args(hoist_ctx *ctx, int argc, char **argv,
	const char *usage, bool allow_json, read_args *a)
{
	static const struct option opts[] = {
		{ "platform", required_argument, NULL, OPT_PLATFORM },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "no-trunc", no_argument, NULL, OPT_NO_TRUNC },
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	memset(a, 0, sizeof(*a));
	hoist_error *err = NULL;
	int c, rc;
	while ((c = getopt_long(argc, argv, "hqv", opts, NULL)) != -1) {
		switch (c) {
		case OPT_PLATFORM:
			hoist_platform_release(&a->plat);
			if (hoist_platform_parse(&a->plat, optarg, &err) < 0)
				return cli_fail(err);
			a->have_plat = true;
			break;
		case OPT_JSON:
			if (!allow_json)
				return cli_usage_error(usage, "--json is not an option here");
			a->json = true;
			break;
		case OPT_NO_TRUNC:
			a->no_trunc = true;
			break;
		default:
			c = c == 'q' ? CLI_OPT_QUIET : c == 'v' ? CLI_OPT_VERBOSE : c;
			if ((rc = cli_common_option(ctx, c, optarg, usage)) != 0)
				return rc;
		}
	}
	if (argc - optind != 1) {
		hoist_platform_release(&a->plat);
		return cli_usage_error(usage, "expected one image name");
	}
	a->name = argv[optind];
	return 0;
}

static int open_source(hoist_ctx *ctx, const char *name, hoist_source **src)
{
	hoist_error *err = NULL;
	if (hoist_source_open(ctx, name, src, &err) < 0) {
		hoist_error_wrap(&err, HOIST_E_IO, "open '%s'", name);
		return cli_fail(err);
	}
	return 0;
}

static int load_image(hoist_ctx *ctx, read_args *a, hoist_image **img)
{
	hoist_source *src = NULL;
	int rc = open_source(ctx, a->name, &src);
	if (rc)
		return rc;
	hoist_error *err = NULL;
	rc = hoist_image_load(src, a->have_plat ? &a->plat : NULL, img, &err);
	hoist_source_free(src);
	if (rc < 0) {
		hoist_error_wrap(&err, HOIST_E_IO, "inspect '%s'", a->name);
		return cli_fail(err);
	}
	return 0;
}

static void print_strings(const char *label, json_t *arr, bool as_json)
{
	if (!arr || !json_array_size(arr))
		return;
	if (as_json) {
		char *s = json_dumps(arr, JSON_COMPACT);
		printf("%-13s %s\n", label, s ? s : "");
		free(s);
		return;
	}
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
		printf("%-13s %s\n", i ? "" : label, json_string_value(v) ? json_string_value(v) : "");
}

static void print_human(json_t *s)
{
	char sz[32];
	printf("%-13s %s\n", "Name:", json_string_value(json_object_get(s, "name")));
	printf("%-13s %s\n", "Digest:", json_string_value(json_object_get(s, "digest")));
	printf("%-13s %s\n", "MediaType:", json_string_value(json_object_get(s, "mediaType")));
	json_t *ms = json_object_get(s, "manifests");
	if (ms) {
		size_t i;
		json_t *e;
		json_array_foreach(ms, i, e)
			printf("%-13s %-16s %s\n", i ? "" : "Platforms:",
				json_is_string(json_object_get(e, "platform"))
					? json_string_value(json_object_get(e, "platform")) : "-",
				json_string_value(json_object_get(e, "digest")));
		printf("%-13s %s\n", "Image:", json_string_value(json_object_get(s, "manifestDigest")));
	}
	const char *keys[][2] = { { "platform", "Platform:" }, { "created", "Created:" },
		{ "user", "User:" }, { "workingDir", "WorkingDir:" },
		{ "stopSignal", "StopSignal:" } };
	for (size_t i = 0; i < HOIST_ARRAY_SIZE(keys); i++) {
		const char *v = json_string_value(json_object_get(s, keys[i][0]));
		if (v && *v)
			printf("%-13s %s\n", keys[i][1], v);
	}
	if (!json_object_get(s, "user"))
		printf("%-13s %s\n", "User:", "(root)");
	print_strings("Entrypoint:", json_object_get(s, "entrypoint"), true);
	print_strings("Cmd:", json_object_get(s, "cmd"), true);
	print_strings("Env:", json_object_get(s, "env"), false);
	print_strings("ExposedPorts:", json_object_get(s, "exposedPorts"), false);
	print_strings("Volumes:", json_object_get(s, "volumes"), false);
	json_t *labels = json_object_get(s, "labels");
	if (labels && json_object_size(labels)) {
		const char *k;
		json_t *v;
		bool first = true;
		json_object_foreach(labels, k, v) {
			printf("%-13s %s=%s\n", first ? "Labels:" : "", k,
				json_string_value(v) ? json_string_value(v) : "");
			first = false;
		}
	}
	json_t *layers = json_object_get(s, "layers");
	printf("%-13s %zu, %s\n", "Layers:", json_array_size(layers),
		cli_human_size(json_integer_value(json_object_get(s, "size")), sz, sizeof(sz)));
	size_t i;
	json_t *l;
	json_array_foreach(layers, i, l)
		printf("  %s  %10s  %s\n", json_string_value(json_object_get(l, "digest")),
			cli_human_size(json_integer_value(json_object_get(l, "size")), sz, sizeof(sz)),
			json_string_value(json_object_get(l, "mediaType")));
}

int cmd_inspect(hoist_ctx *ctx, int argc, char **argv)
{
	static const char usage[] = "hoist inspect [--platform P] [--json] REF";
	read_args a;
	int rc = parse_read_args(ctx, argc, argv, usage, true, &a);
	if (rc)
		return rc;
	hoist_image *img = NULL;
	rc = load_image(ctx, &a, &img);
	if (rc == 0) {
		json_t *s = hoist_image_summary(img, a.name);
		if (a.json)
			cli_print_json(s);
		else
			print_human(s);
		json_decref(s);
	}
	hoist_image_free(img);
	hoist_platform_release(&a.plat);
	return rc;
}

/* manifest / digest: the manifest REF names (a platform's out of an
 * index with --platform), printed raw or as its digest. */
static int print_manifest(hoist_ctx *ctx, int argc, char **argv, const char *usage,
	bool digest_only)
{
	read_args a;
	int rc = parse_read_args(ctx, argc, argv, usage, false, &a);
	if (rc)
		return rc;
	hoist_source *src = NULL;
	rc = open_source(ctx, a.name, &src);
	hoist_error *err = NULL;
	_cleanup_(hoist_manifest_freep) hoist_manifest *m = NULL;
	if (rc == 0 && hoist_source_manifest(src, a.have_plat ? &a.plat : NULL, &m, &err) < 0) {
		hoist_error_wrap(&err, HOIST_E_IO, "%s of '%s'",
			digest_only ? "digest" : "manifest", a.name);
		rc = cli_fail(err);
	}
	if (rc == 0 && digest_only)
		printf("%s\n", m->digest.str);
	else if (rc == 0)
		fwrite(m->raw, 1, m->raw_len, stdout);
	hoist_source_free(src);
	hoist_platform_release(&a.plat);
	return rc;
}

int cmd_manifest(hoist_ctx *ctx, int argc, char **argv)
{
	return print_manifest(ctx, argc, argv, "hoist manifest [--platform P] REF", false);
}

int cmd_digest(hoist_ctx *ctx, int argc, char **argv)
{
	return print_manifest(ctx, argc, argv, "hoist digest [--platform P] REF", true);
}

int cmd_config(hoist_ctx *ctx, int argc, char **argv)
{
	static const char usage[] = "hoist config [--platform P] REF";
	read_args a;
	int rc = parse_read_args(ctx, argc, argv, usage, false, &a);
	if (rc)
		return rc;
	hoist_image *img = NULL;
	rc = load_image(ctx, &a, &img);
	if (rc == 0)
		fwrite(img->config_raw, 1, img->config_len, stdout);
	hoist_image_free(img);
	hoist_platform_release(&a.plat);
	return rc;
}

int cmd_history(hoist_ctx *ctx, int argc, char **argv)
{
	static const char usage[] = "hoist history [--platform P] [--json] [--no-trunc] REF";
	read_args a;
	int rc = parse_read_args(ctx, argc, argv, usage, true, &a);
	if (rc)
		return rc;
	hoist_image *img = NULL;
	rc = load_image(ctx, &a, &img);
	if (rc == 0) {
		json_t *s = hoist_image_summary(img, a.name);
		json_t *h = json_object_get(s, "history");
		if (a.json) {
			cli_print_json(h);
		} else {
			printf("%-14s %-22s %-10s %s\n", "LAYER", "CREATED", "SIZE", "CREATED BY");
			/* newest first, like docker history */
			for (size_t i = json_array_size(h); i-- > 0;) {
				json_t *e = json_array_get(h, i);
				const char *layer = json_string_value(json_object_get(e, "layer"));
				const char *by = json_string_value(json_object_get(e, "createdBy"));
				const char *created = json_string_value(json_object_get(e, "created"));
				const char *comment = json_string_value(json_object_get(e, "comment"));
				char sz[32] = "0 B";
				if (layer)
					cli_human_size(json_integer_value(json_object_get(e, "size")), sz, sizeof(sz));
				char shortby[61];
				snprintf(shortby, sizeof(shortby), "%s", by ? by : "");
				printf("%-14.14s %-22.22s %-10s %s%s%s\n",
					layer ? layer + 7 : "<missing>", created ? created : "",
					sz, a.no_trunc ? (by ? by : "") : shortby,
					comment && *comment ? "  # " : "", comment ? comment : "");
			}
		}
		json_decref(s);
	}
	hoist_image_free(img);
	hoist_platform_release(&a.plat);
	return rc;
}

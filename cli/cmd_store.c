/* hoist images | rmi | gc: the local store. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cmds.h"
#include "hoist/fs.h"
#include "hoist/imgref.h"
#include "hoist/layout.h"
#include "util/cleanup.h"

enum { OPT_JSON = CLI_OPT_FIRST_COMMAND_SPECIFIC, OPT_NO_PRUNE };

static int simple_opts(hoist_ctx *ctx, int argc, char **argv, const char *usage,
	bool *json, bool *no_prune)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "no-prune", no_argument, NULL, OPT_NO_PRUNE },
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	int c, rc;
	while ((c = getopt_long(argc, argv, "hqv", opts, NULL)) != -1) {
		if (c == OPT_JSON && json)
			*json = true;
		else if (c == OPT_NO_PRUNE && no_prune)
			*no_prune = true;
		else if (c == OPT_JSON || c == OPT_NO_PRUNE)
			return cli_usage_error(usage, "'%s' is not an option here", argv[optind - 1]);
		else if ((rc = cli_common_option(ctx,
				  c == 'q' ? CLI_OPT_QUIET : c == 'v' ? CLI_OPT_VERBOSE : c,
				  optarg, usage)) != 0)
			return rc;
	}
	return 0;
}

static int open_store(hoist_ctx *ctx, bool create, hoist_layout **l)
{
	hoist_error *err = NULL;
	if (hoist_layout_open(l, hoist_ctx_home(ctx), create, &err) < 0) {
		hoist_error_wrap(&err, HOIST_E_IO, "local store");
		return cli_fail(err);
	}
	return 0;
}

static int64_t image_size(hoist_layout *l, const hoist_descriptor *d)
{
	hoist_buf b = HOIST_BUF_INIT(HOIST_MANIFEST_MAX);
	hoist_manifest *m = NULL;
	int64_t size = -1;
	if (hoist_layout_read_blob(l, &d->digest, HOIST_MANIFEST_MAX, &b, NULL) == 0 &&
		hoist_manifest_parse(&m, b.data, b.len, d->media_type, NULL) == 0)
		size = hoist_manifest_size(m);
	hoist_manifest_free(m);
	hoist_buf_release(&b);
	return size;
}

int cmd_images(hoist_ctx *ctx, int argc, char **argv)
{
	static const char usage[] = "hoist images [--json]";
	bool json = false;
	int rc = simple_opts(ctx, argc, argv, usage, &json, NULL);
	if (rc)
		return rc;
	if (optind != argc)
		return cli_usage_error(usage, "unexpected argument '%s'", argv[optind]);
	hoist_layout *l = NULL;
	if (!hoist_fs_exists(AT_FDCWD, hoist_ctx_home(ctx))) {
		/* An empty store is not an error. */
		if (json)
			printf("[]\n");
		else
			printf("%-40s %-20s %-19s %s\n", "NAME", "TAG", "DIGEST", "SIZE");
		return 0;
	}
	if ((rc = open_store(ctx, false, &l)))
		return rc;
	hoist_layout_entry *e = NULL;
	size_t n = 0;
	hoist_error *err = NULL;
	if (hoist_layout_list(l, &e, &n, &err) < 0) {
		hoist_layout_free(l);
		return cli_fail(err);
	}
	json_t *arr = json ? json_array() : NULL;
	if (!json)
		printf("%-40s %-20s %-19s %s\n", "NAME", "TAG", "DIGEST", "SIZE");
	for (size_t i = 0; i < n; i++) {
		const char *nm = e[i].name ? e[i].name : "<none>";
		_cleanup_free_ char *name = strdup(nm);
		if (!name)
			continue;
		/* "name:tag": the tag follows the last ':' after the last '/' */
		char *slash = strrchr(name, '/');
		char *colon = strrchr(slash ? slash : name, ':');
		const char *tag = "<none>";
		if (colon) {
			*colon = '\0';
			tag = colon + 1;
		}
		int64_t size = image_size(l, &e[i].desc);
		if (json) {
			json_t *o = json_object();
			json_object_set_new(o, "name", json_string(name));
			json_object_set_new(o, "tag", json_string(tag));
			json_object_set_new(o, "digest", json_string(e[i].desc.digest.str));
			json_object_set_new(o, "mediaType", json_string(e[i].desc.media_type));
			json_object_set_new(o, "size", json_integer(size));
			json_array_append_new(arr, o);
		} else {
			char sz[32];
			printf("%-40s %-20s %-19.19s %s\n", name, tag,
				hoist_digest_hex(&e[i].desc.digest),
				size >= 0 ? cli_human_size(size, sz, sizeof(sz)) : "?");
		}
	}
	if (json) {
		cli_print_json(arr);
		json_decref(arr);
	}
	hoist_layout_entries_free(e, n);
	hoist_layout_free(l);
	return 0;
}

static int run_gc(hoist_layout *l)
{
	uint64_t blobs = 0, bytes = 0;
	hoist_error *err = NULL;
	if (hoist_layout_gc(l, &blobs, &bytes, &err) < 0) {
		hoist_error_wrap(&err, HOIST_E_IO, "gc");
		return cli_fail(err);
	}
	if (!cli.quiet) {
		char sz[32];
		fprintf(stderr, "removed %llu unreferenced blobs (%s)\n",
			(unsigned long long)blobs, cli_human_size((long long)bytes, sz, sizeof(sz)));
	}
	return 0;
}

int cmd_rmi(hoist_ctx *ctx, int argc, char **argv)
{
	static const char usage[] = "hoist rmi [--no-prune] NAME[:TAG]...";
	bool no_prune = false;
	int rc = simple_opts(ctx, argc, argv, usage, NULL, &no_prune);
	if (rc)
		return rc;
	if (optind >= argc)
		return cli_usage_error(usage, "rmi needs at least one image name");
	hoist_layout *l = NULL;
	if ((rc = open_store(ctx, false, &l)))
		return rc;
	int status = 0;
	for (int i = optind; i < argc; i++) {
		hoist_error *err = NULL;
		hoist_imgref *r = NULL;
		_cleanup_free_ char *s = NULL;
		const char *arg = argv[i];
		if (strncmp(arg, "local:", 6) != 0 && asprintf(&s, "local:%s", arg) < 0)
			return cli_failf("out of memory");
		if (hoist_imgref_parse(&r, s ? s : arg, &err) < 0) {
			status = cli_fail(err);
			continue;
		}
		_cleanup_free_ char *name = hoist_imgref_local_name(r);
		hoist_imgref_free(r);
		if (!name || hoist_layout_remove_ref(l, name, &err) < 0) {
			hoist_error_wrap(&err, HOIST_E_NOTFOUND, "rmi '%s'", arg);
			status = cli_fail(err);
			continue;
		}
		if (!cli.quiet)
			printf("untagged: %s\n", name);
	}
	if (!no_prune && status == 0)
		status = run_gc(l);
	hoist_layout_free(l);
	return status;
}

int cmd_gc(hoist_ctx *ctx, int argc, char **argv)
{
	static const char usage[] = "hoist gc";
	int rc = simple_opts(ctx, argc, argv, usage, NULL, NULL);
	if (rc)
		return rc;
	if (optind != argc)
		return cli_usage_error(usage, "unexpected argument '%s'", argv[optind]);
	hoist_layout *l = NULL;
	if ((rc = open_store(ctx, true, &l)))
		return rc;
	rc = run_gc(l);
	hoist_layout_free(l);
	return rc;
}

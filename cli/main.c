#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmds.h"
#include "util/cleanup.h"

typedef struct cli_command {
	const char *name;
	cli_cmd_fn fn;
	const char *summary;
} cli_command;

static const cli_command commands[] = {
	{ "build", cmd_build, "build an image from a Dockerfile, without a daemon or root" },
	{ "run", cmd_run, "run a command in an image's filesystem (sandboxed)" },
	{ "cp", cmd_cp, "copy an image between registries, layouts, archives, the store" },
	{ "inspect", cmd_inspect, "summarise an image (--json for machines)" },
	{ "manifest", cmd_manifest, "print the raw manifest" },
	{ "config", cmd_config, "print the raw image configuration" },
	{ "digest", cmd_digest, "print the digest of an image" },
	{ "history", cmd_history, "list the layers and the steps that made them" },
	{ "images", cmd_images, "list the images of the local store" },
	{ "rmi", cmd_rmi, "remove names from the local store" },
	{ "gc", cmd_gc, "delete unreferenced blobs of the local store" },
	{ "tag", cmd_tag, "give an image another tag (registry: manifest PUT only)" },
	{ "ls", cmd_ls, "list the tags of a repository" },
	{ "catalog", cmd_catalog, "list the repositories of a registry" },
	{ "delete", cmd_delete, "delete an image from a registry" },
	{ "login", cmd_login, "store credentials for a registry" },
	{ "logout", cmd_logout, "remove stored credentials" },
	{ "append", cmd_append, "add directories or tarballs as layers to an image" },
	{ "mutate", cmd_mutate, "change an image's config (entrypoint, env, user, ...)" },
	{ "rebase", cmd_rebase, "swap the base layers of an image for a new base" },
	{ "pack", cmd_pack, "a minimal non-root image from compiled programs" },
	{ "export", cmd_export, "write the flattened filesystem to a directory or a tar" },
	{ "ls-layer", cmd_ls_layer, "list the files each layer adds, changes, deletes" },
	{ NULL, NULL, NULL },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: hoist [--home DIR] [-v] [-q] COMMAND [ARGS]\n\n"
		   "Build, move and inspect OCI container images without a daemon.\n\n"
		   "commands:\n");
	for (const cli_command *c = commands; c->name; c++)
		fprintf(f, "  %-10s %s\n", c->name, c->summary);
	fprintf(f, "\nImage names: REF (registry), oci:DIR[:TAG], "
		   "docker-archive:FILE[:TAG], local:NAME[:TAG]\n");
}

int main(int argc, char **argv)
{
	hoist_ctx *ctx = NULL;
	hoist_error *err = NULL;
	if (hoist_ctx_new(&ctx, &err) < 0)
		return cli_fail(err);

	int i = 1;
	int rc = 0;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--home") && i + 1 < argc) {
			if (hoist_ctx_set_home(ctx, argv[++i], &err) < 0) {
				rc = cli_fail(err);
				goto out;
			}
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			cli.verbose = true;
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			cli.quiet = true;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			goto out;
		} else if (!strcmp(a, "--version")) {
			printf("hoist 0.1.0\n");
			goto out;
		} else {
			rc = cli_usage_error(NULL, "unknown global option '%s'", a);
			usage(stderr);
			goto out;
		}
	}
	hoist_ctx_set_log(ctx, cli_log, NULL,
		cli.verbose ? HOIST_LOG_DEBUG : cli.quiet ? HOIST_LOG_ERROR : HOIST_LOG_WARN);
	if (i >= argc) {
		usage(stderr);
		rc = 2;
		goto out;
	}
	for (const cli_command *c = commands; c->name; c++) {
		if (!strcmp(c->name, argv[i])) {
			rc = c->fn(ctx, argc - i, argv + i);
			goto out;
		}
	}
	rc = cli_usage_error(NULL, "unknown command '%s' (see 'hoist --help')", argv[i]);
out:
	hoist_ctx_free(ctx);
	return rc;
}

/* hoist build | run. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cmds.h"
#include "hoist/build.h"
#include "hoist/fs.h"
#include "util/cleanup.h"

enum {
	OPT_BUILD_ARG = CLI_OPT_FIRST_COMMAND_SPECIFIC, OPT_TARGET, OPT_PLATFORM,
	OPT_NO_CACHE, OPT_PROGRESS, OPT_IIDFILE, OPT_METADATA, OPT_NETWORK,
	OPT_SECRET, OPT_RM, OPT_USER, OPT_WORKDIR, OPT_ENTRYPOINT, OPT_ENV,
	OPT_VOLUME, OPT_CACHE_REPO, OPT_CACHE_FROM, OPT_CACHE_TO, OPT_CACHE_TTL,
};

/* "type=registry,ref=R" (buildx) or a bare R; NULL for other types. */
static const char *cache_ref(const char *s)
{
	if (!strchr(s, '='))
		return s;
	const char *ref = strstr(s, "ref=");
	if (strstr(s, "type=") && !strstr(s, "type=registry"))
		return NULL;
	if (!ref || (ref != s && ref[-1] != ','))
		return NULL;
	static __thread char buf[1024];
	snprintf(buf, sizeof(buf), "%s", ref + 4);
	char *comma = strchr(buf, ',');
	if (comma)
		*comma = '\0';
	return buf;
}

/* "90s", "30m", "24h", "7d" */
static long long parse_duration(const char *s)
{
	char *end = NULL;
	long long v = strtoll(s, &end, 10);
	if (!end || end == s || v <= 0)
		return -1;
	if (!strcmp(end, "s") || !*end)
		return v;
	if (!strcmp(end, "m"))
		return v * 60;
	if (!strcmp(end, "h"))
		return v * 3600;
	if (!strcmp(end, "d"))
		return v * 86400;
	return -1;
}

#define MAX_ITEMS 256

static int parse_net(const char *s, hoist_sandbox_net *out)
{
	if (!strcmp(s, "none"))
		*out = HOIST_SANDBOX_NET_NONE;
	else if (!strcmp(s, "host") || !strcmp(s, "default"))
		*out = HOIST_SANDBOX_NET_HOST;
	else
		return -1;
	return 0;
}

/* "id=x,src=path" (also "source", and "type=file") */
static int parse_secret(char *s, hoist_build_secret *out)
{
	out->id = out->src = NULL;
	char *save = NULL;
	for (char *kv = strtok_r(s, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		if (!eq)
			return -1;
		*eq = '\0';
		if (!strcmp(kv, "id"))
			out->id = eq + 1;
		else if (!strcmp(kv, "src") || !strcmp(kv, "source"))
			out->src = eq + 1;
		else if (strcmp(kv, "type") || strcmp(eq + 1, "file"))
			return -1;
	}
	if (!out->id)
		return -1;
	if (!out->src)
		out->src = out->id;
	return access(out->src, R_OK) == 0 ? 0 : -2;
}

int cmd_build(hoist_ctx *ctx, int argc, char **argv)
{
	static const char usage[] =
		"hoist build [-f Dockerfile] [-t DST]... [--build-arg K=V]... [--target STAGE]\n"
		"         [--platform P] [--no-cache] [--progress auto|plain|quiet]\n"
		"         [--network host|none] [--secret id=ID,src=FILE]...\n"
		"         [--cache-repo REG/REPO] [--cache-from REPO|IMAGE]... [--cache-to REPO|type=inline]\n"
		"         [--cache-ttl DUR]\n"
		"         [--iidfile FILE] [--metadata-file FILE] [CONTEXT]";
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "tag", required_argument, NULL, 't' },
		{ "build-arg", required_argument, NULL, OPT_BUILD_ARG },
		{ "target", required_argument, NULL, OPT_TARGET },
		{ "platform", required_argument, NULL, OPT_PLATFORM },
		{ "no-cache", no_argument, NULL, OPT_NO_CACHE },
		{ "progress", required_argument, NULL, OPT_PROGRESS },
		{ "iidfile", required_argument, NULL, OPT_IIDFILE },
		{ "metadata-file", required_argument, NULL, OPT_METADATA },
		{ "network", required_argument, NULL, OPT_NETWORK },
		{ "secret", required_argument, NULL, OPT_SECRET },
		{ "cache-repo", required_argument, NULL, OPT_CACHE_REPO },
		{ "cache-from", required_argument, NULL, OPT_CACHE_FROM },
		{ "cache-to", required_argument, NULL, OPT_CACHE_TO },
		{ "cache-ttl", required_argument, NULL, OPT_CACHE_TTL },
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	hoist_build_opts o = { 0 };
	const char *tags[MAX_ITEMS];
	hoist_df_kv args[MAX_ITEMS];
	hoist_build_secret secrets[MAX_ITEMS];
	size_t n_tags = 0, n_args = 0, n_secrets = 0;
	const char *iidfile = NULL, *metadata = NULL;
	char *cache_from[MAX_ITEMS];
	size_t n_cache_from = 0;
	char *cache_to = NULL;
	hoist_platform plat = { 0 };
	bool have_plat = false;
	hoist_error *err = NULL;
	int c, rc = 0;
	while ((c = getopt_long(argc, argv, "hqvf:t:", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			o.dockerfile = optarg;
			break;
		case 't':
			if (n_tags == MAX_ITEMS)
				return cli_usage_error(usage, "too many -t");
			tags[n_tags++] = optarg;
			break;
		case OPT_BUILD_ARG: {
			if (n_args == MAX_ITEMS)
				return cli_usage_error(usage, "too many --build-arg");
			char *eq = strchr(optarg, '=');
			if (eq == optarg)
				return cli_usage_error(usage, "invalid --build-arg '%s'", optarg);
			/* "K" alone takes K from the environment, as docker does */
			args[n_args].key = eq ? strndup(optarg, (size_t)(eq - optarg)) : strdup(optarg);
			const char *v = eq ? eq + 1 : getenv(optarg);
			args[n_args].value = v ? strdup(v) : NULL;
			n_args++;
			break;
		}
		case OPT_TARGET:
			o.target = optarg;
			break;
		case OPT_PLATFORM:
			hoist_platform_release(&plat);
			if (hoist_platform_parse(&plat, optarg, &err) < 0)
				return cli_fail(err);
			have_plat = true;
			break;
		case OPT_NO_CACHE:
			o.no_cache = true;
			break;
		case OPT_PROGRESS:
			if (!strcmp(optarg, "plain"))
				o.progress = HOIST_BUILD_PROGRESS_PLAIN;
			else if (!strcmp(optarg, "auto") || !strcmp(optarg, "tty"))
				o.progress = HOIST_BUILD_PROGRESS_AUTO;
			else if (!strcmp(optarg, "quiet"))
				o.progress = HOIST_BUILD_PROGRESS_QUIET;
			else
				return cli_usage_error(usage, "invalid --progress '%s'", optarg);
			break;
		case OPT_IIDFILE:
			iidfile = optarg;
			break;
		case OPT_METADATA:
			metadata = optarg;
			break;
		case OPT_NETWORK:
			if (parse_net(optarg, &o.network) < 0)
				return cli_usage_error(usage, "invalid --network '%s': want host or none", optarg);
			break;
		case OPT_CACHE_REPO:
		case OPT_CACHE_FROM:
		case OPT_CACHE_TO: {
			if (c == OPT_CACHE_TO && !strcmp(optarg, "type=inline")) {
				o.cache_inline = true;
				break;
			}
			const char *r = cache_ref(optarg);
			if (!r || !*r) {
				rc = cli_usage_error(usage, "invalid cache '%s': want REG/REPO or type=registry,ref=REG/REPO", optarg);
				goto out;
			}
			if (c != OPT_CACHE_TO && n_cache_from < MAX_ITEMS)
				cache_from[n_cache_from++] = strdup(r);
			if (c != OPT_CACHE_FROM) {
				free(cache_to);
				cache_to = strdup(r);
			}
			break;
		}
		case OPT_CACHE_TTL:
			if ((o.cache_ttl = parse_duration(optarg)) < 0) {
				rc = cli_usage_error(usage, "invalid --cache-ttl '%s': want e.g. 30m, 24h, 7d", optarg);
				goto out;
			}
			break;
		case OPT_SECRET: {
			if (n_secrets == MAX_ITEMS)
				return cli_usage_error(usage, "too many --secret");
			int r = parse_secret(optarg, &secrets[n_secrets]);
			if (r == -1)
				return cli_usage_error(usage, "invalid --secret: want id=ID,src=FILE");
			if (r == -2)
				return cli_failf("--secret id=%s: cannot read '%s'", secrets[n_secrets].id,
					secrets[n_secrets].src);
			n_secrets++;
			break;
		}
		default:
			c = c == 'q' ? CLI_OPT_QUIET : c == 'v' ? CLI_OPT_VERBOSE : c;
			if ((rc = cli_common_option(ctx, c, optarg, usage)) != 0)
				goto out;
		}
	}
	if (argc - optind > 1) {
		rc = cli_usage_error(usage, "build takes one CONTEXT directory");
		goto out;
	}
	o.context = optind < argc ? argv[optind] : ".";
	o.tags = tags;
	o.n_tags = n_tags;
	o.build_args = args;
	o.n_build_args = n_args;
	o.platform = have_plat ? &plat : NULL;
	o.secrets = secrets;
	o.n_secrets = n_secrets;
	o.cache_from = (const char *const *)cache_from;
	o.n_cache_from = n_cache_from;
	o.cache_to = cache_to;
	if (cli.quiet)
		o.progress = HOIST_BUILD_PROGRESS_QUIET;
	hoist_build_result res;
	if (hoist_build(ctx, &o, &res, &err) < 0) {
		rc = cli_fail(err);
		goto out;
	}
	printf("%s\n", res.digest.str);
	if (iidfile && hoist_fs_write_atomic(AT_FDCWD, iidfile, res.config.str,
			       strlen(res.config.str), 0644, &err) < 0) {
		rc = cli_fail(err);
		goto out;
	}
	if (metadata) {
		json_t *m = json_pack("{s:s,s:s}", "containerimage.digest", res.digest.str,
			"containerimage.config.digest", res.config.str);
		char *s = json_dumps(m, JSON_INDENT(2));
		json_decref(m);
		rc = s && hoist_fs_write_atomic(AT_FDCWD, metadata, s, strlen(s), 0644, &err) == 0
			? 0 : cli_fail(err);
		free(s);
	}
out:
	for (size_t i = 0; i < n_args; i++) {
		free(args[i].key);
		free(args[i].value);
	}
	for (size_t i = 0; i < n_cache_from; i++)
		free(cache_from[i]);
	free(cache_to);
	hoist_platform_release(&plat);
	return rc;
}

int cmd_run(hoist_ctx *ctx, int argc, char **argv)
{
	static const char usage[] =
		"hoist run [--rm] [--user U] [--workdir DIR] [-e K=V]... [--entrypoint E]\n"
		"         [--network host|none] [-v HOSTDIR:DIR[:ro]]... [--platform P] IMAGE [CMD...]";
	static const struct option opts[] = {
		{ "rm", no_argument, NULL, OPT_RM },
		{ "user", required_argument, NULL, 'u' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "env", required_argument, NULL, 'e' },
		{ "entrypoint", required_argument, NULL, OPT_ENTRYPOINT },
		{ "network", required_argument, NULL, OPT_NETWORK },
		{ "volume", required_argument, NULL, 'v' },
		{ "platform", required_argument, NULL, OPT_PLATFORM },
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	hoist_run_opts o = { 0 };
	const char *env[MAX_ITEMS];
	hoist_sandbox_mount mounts[MAX_ITEMS];
	char *mount_strs[2 * MAX_ITEMS];
	size_t n_env = 0, n_mounts = 0, n_strs = 0;
	hoist_platform plat = { 0 };
	bool have_plat = false;
	hoist_error *err = NULL;
	int c, rc = 0;
	/* "+": options end at IMAGE; what follows is the command */
	while ((c = getopt_long(argc, argv, "+hqu:w:e:v:", opts, NULL)) != -1) {
		switch (c) {
		case OPT_RM:
			break; /* runs never leave anything behind */
		case 'u':
			o.user = optarg;
			break;
		case 'w':
			if (optarg[0] != '/')
				return cli_usage_error(usage, "--workdir must be absolute");
			o.workdir = optarg;
			break;
		case 'e':
			if (n_env == MAX_ITEMS || !strchr(optarg, '=') || optarg[0] == '=')
				return cli_usage_error(usage, "invalid -e '%s': want KEY=VALUE", optarg);
			env[n_env++] = optarg;
			break;
		case OPT_ENTRYPOINT:
			o.entrypoint = optarg;
			break;
		case OPT_NETWORK:
			if (parse_net(optarg, &o.network) < 0)
				return cli_usage_error(usage, "invalid --network '%s'", optarg);
			break;
		case 'v': {
			char *host = strdup(optarg);
			char *ctr = host ? strchr(host, ':') : NULL;
			if (!ctr || n_mounts == MAX_ITEMS || host[0] != '/' || ctr[1] != '/') {
				free(host);
				return cli_usage_error(usage, "invalid -v '%s': want /HOST:/DIR[:ro]", optarg);
			}
			*ctr++ = '\0';
			char *mode = strchr(ctr, ':');
			hoist_sandbox_mount *m = &mounts[n_mounts++];
			memset(m, 0, sizeof(*m));
			m->type = HOIST_SANDBOX_MOUNT_BIND;
			m->source = host;
			m->target = ctr;
			if (mode) {
				*mode++ = '\0';
				m->readonly = !strcmp(mode, "ro");
			}
			mount_strs[n_strs++] = host;
			break;
		}
		case OPT_PLATFORM:
			hoist_platform_release(&plat);
			if (hoist_platform_parse(&plat, optarg, &err) < 0)
				return cli_fail(err);
			have_plat = true;
			break;
		default:
			c = c == 'q' ? CLI_OPT_QUIET : c;
			if ((rc = cli_common_option(ctx, c, optarg, usage)) != 0)
				goto out;
		}
	}
	if (optind >= argc) {
		rc = cli_usage_error(usage, "run needs an IMAGE");
		goto out;
	}
	o.image = argv[optind];
	o.cmd = (const char *const *)argv + optind + 1;
	o.n_cmd = (size_t)(argc - optind - 1);
	o.env = env;
	o.n_env = n_env;
	o.mounts = mounts;
	o.n_mounts = n_mounts;
	o.platform = have_plat ? &plat : NULL;
	o.stdin_fd = 0;
	o.stdout_fd = 1;
	o.stderr_fd = 2;
	int status = 0;
	if (hoist_run(ctx, &o, &status, &err) < 0)
		rc = cli_fail(err) ? 125 : 125;
	else
		rc = status;
out:
	for (size_t i = 0; i < n_strs; i++)
		free(mount_strs[i]);
	hoist_platform_release(&plat);
	return rc;
}

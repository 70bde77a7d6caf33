/* hoist tag | ls | catalog | delete | login | logout. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "cmds.h"
#include "hoist/copy.h"
#include "hoist/imgref.h"
#include "hoist/layout.h"
#include "hoist/registry.h"
#include "hoist/transport.h"
#include "util/cleanup.h"

HOIST_DEFINE_CLEANUP(hoist_imgref, hoist_imgref_free)
HOIST_DEFINE_CLEANUP(hoist_ref, hoist_ref_free)

enum { OPT_USER = CLI_OPT_FIRST_COMMAND_SPECIFIC, OPT_PASSWORD, OPT_PASSWORD_STDIN,
	OPT_JSON };

/* Common options only; returns 0 or an exit status. */
static int only_common(hoist_ctx *ctx, int argc, char **argv, const char *usage,
	bool *json)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	int c, rc;
	while ((c = getopt_long(argc, argv, "hqv", opts, NULL)) != -1) {
		if (c == OPT_JSON && json) {
			*json = true;
			continue;
		}
		if (c == OPT_JSON)
			return cli_usage_error(usage, "--json is not an option here");
		c = c == 'q' ? CLI_OPT_QUIET : c == 'v' ? CLI_OPT_VERBOSE : c;
		if ((rc = cli_common_option(ctx, c, optarg, usage)) != 0)
			return rc;
	}
	return 0;
}

/* A registry reference: "docker://" optional, a bare name means Docker Hub
 * here (these commands talk to registries). */
static int parse_registry_ref(const char *s, hoist_ref **out)
{
	hoist_error *err = NULL;
	if (!strncmp(s, "docker://", 9))
		s += 9;
	if (hoist_ref_parse(out, s, &err) < 0)
		return cli_fail(err);
	return 0;
}

static int tag_in_layout(hoist_ctx *ctx, const hoist_imgref *r, const char *newtag)
{
	hoist_error *err = NULL;
	hoist_source *src = NULL;
	if (hoist_source_open_ref(ctx, r, &src, &err) < 0)
		return cli_fail(err);
	hoist_buf raw = HOIST_BUF_INIT(HOIST_MANIFEST_MAX);
	_cleanup_free_ char *mt = NULL;
	hoist_manifest *m = NULL;
	int rc = src->ops->get_manifest(src, NULL, &raw, &mt, &err);
	if (rc == 0)
		rc = hoist_manifest_parse(&m, raw.data, raw.len, mt, &err);
	hoist_buf_release(&raw);
	hoist_source_free(src);
	if (rc < 0)
		return cli_fail(err);
	_cleanup_free_ char *dst = NULL;
	rc = hoist_imgref_with_tag(r, newtag, &dst, &err);
	hoist_dest *d = NULL;
	if (rc == 0)
		rc = hoist_dest_open(ctx, dst, &d, &err);
	if (rc == 0)
		rc = d->ops->put_manifest(d, m, true, &err);
	if (rc == 0)
		rc = d->ops->commit(d, &err);
	hoist_dest_free(d);
	hoist_manifest_free(m);
	if (rc < 0)
		return cli_fail(err);
	if (!cli.quiet)
		printf("%s\n", dst);
	return 0;
}

int cmd_tag(hoist_ctx *ctx, int argc, char **argv)
{
	static const char usage[] = "hoist tag REF NEWTAG";
	int rc = only_common(ctx, argc, argv, usage, NULL);
	if (rc)
		return rc;
	if (argc - optind != 2)
		return cli_usage_error(usage, "tag needs REF and NEWTAG");
	const char *name = argv[optind], *newtag = argv[optind + 1];
	if (!hoist_tag_valid(newtag))
		return cli_usage_error(usage, "invalid tag '%s': want [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", newtag);
	hoist_error *err = NULL;
	_cleanup_(hoist_imgref_freep) hoist_imgref *r = NULL;
	if (hoist_imgref_parse(&r, name, &err) < 0)
		return cli_fail(err);
	bool registry = r->kind == HOIST_TRANSPORT_REGISTRY &&
		(!r->ref->implicit_domain || !strncmp(name, "docker://", 9));
	if (r->kind == HOIST_TRANSPORT_REGISTRY && !registry)
		r->kind = HOIST_TRANSPORT_LOCAL;
	if (!registry) {
		if (r->kind == HOIST_TRANSPORT_ARCHIVE)
			return cli_failf("cannot tag inside a docker-archive: copy it with 'hoist cp'");
		return tag_in_layout(ctx, r, newtag);
	}
	if (hoist_registry_retag(ctx, r->ref, newtag, &err) < 0) {
		hoist_error_wrap(&err, HOIST_E_IO, "tag '%s' as '%s'", name, newtag);
		return cli_fail(err);
	}
	if (!cli.quiet) {
		_cleanup_(hoist_ref_freep) hoist_ref *n = NULL;
		if (hoist_ref_dup(&n, r->ref, NULL) == 0 && hoist_ref_set_digest(n, NULL, NULL) == 0 &&
			hoist_ref_set_tag(n, newtag, NULL) == 0) {
			_cleanup_free_ char *s = hoist_ref_string(n);
			printf("%s\n", s ? s : newtag);
		}
	}
	return 0;
}

int cmd_ls(hoist_ctx *ctx, int argc, char **argv)
{
	static const char usage[] = "hoist ls [--json] REPO";
	bool json = false;
	int rc = only_common(ctx, argc, argv, usage, &json);
	if (rc)
		return rc;
	if (argc - optind != 1)
		return cli_usage_error(usage, "ls needs one repository");
	const char *name = argv[optind];
	hoist_error *err = NULL;
	hoist_source *src = NULL;
	char **tags = NULL;
	size_t n = 0;
	if (hoist_source_open(ctx, name, &src, &err) < 0)
		return cli_fail(err);
	if (!src->ops->list_tags)
		rc = hoist_error_set(&err, HOIST_E_UNSUPPORTED, "'%s' cannot list tags", name);
	else
		rc = src->ops->list_tags(src, &tags, &n, &err);
	hoist_source_free(src);
	if (rc < 0) {
		hoist_error_wrap(&err, HOIST_E_IO, "list tags of '%s'", name);
		return cli_fail(err);
	}
	json_t *arr = json ? json_array() : NULL;
	for (size_t i = 0; i < n; i++) {
		if (json)
			json_array_append_new(arr, json_string(tags[i]));
		else
			printf("%s\n", tags[i]);
		free(tags[i]);
	}
	free(tags);
	if (json) {
		cli_print_json(arr);
		json_decref(arr);
	}
	return 0;
}

int cmd_catalog(hoist_ctx *ctx, int argc, char **argv)
{
	static const char usage[] = "hoist catalog [--json] REGISTRY";
	bool json = false;
	int rc = only_common(ctx, argc, argv, usage, &json);
	if (rc)
		return rc;
	if (argc - optind != 1)
		return cli_usage_error(usage, "catalog needs one registry host");
	const char *host = argv[optind];
	if (!strncmp(host, "docker://", 9))
		host += 9;
	/* Validate the host by parsing it as the domain of a reference. */
	_cleanup_free_ char *probe = NULL;
	_cleanup_(hoist_ref_freep) hoist_ref *ref = NULL;
	hoist_error *err = NULL;
	if (asprintf(&probe, "%s/x", host) < 0)
		return cli_failf("out of memory");
	if (strchr(host, '/') || hoist_ref_parse(&ref, probe, &err) < 0 || ref->implicit_domain) {
		hoist_error_free(err);
		return cli_usage_error(usage, "invalid registry host '%s'", host);
	}
	hoist_registry *reg = NULL;
	char **repos = NULL;
	size_t n = 0;
	rc = hoist_registry_new(&reg, ctx, ref->domain, &err);
	if (rc == 0)
		rc = hoist_registry_catalog(reg, &repos, &n, &err);
	hoist_registry_free(reg);
	if (rc < 0) {
		hoist_error_wrap(&err, HOIST_E_IO, "catalog of '%s'", host);
		return cli_fail(err);
	}
	json_t *arr = json ? json_array() : NULL;
	for (size_t i = 0; i < n; i++) {
		if (json)
			json_array_append_new(arr, json_string(repos[i]));
		else
			printf("%s\n", repos[i]);
	}
	hoist_registry_strv_free(repos, n);
	if (json) {
		cli_print_json(arr);
		json_decref(arr);
	}
	return 0;
}

int cmd_delete(hoist_ctx *ctx, int argc, char **argv)
{
	static const char usage[] = "hoist delete REF";
	int rc = only_common(ctx, argc, argv, usage, NULL);
	if (rc)
		return rc;
	if (argc - optind != 1)
		return cli_usage_error(usage, "delete needs one reference");
	_cleanup_(hoist_ref_freep) hoist_ref *ref = NULL;
	if ((rc = parse_registry_ref(argv[optind], &ref)))
		return rc;
	hoist_error *err = NULL;
	if (hoist_registry_delete(ctx, ref, &err) < 0) {
		hoist_error_wrap(&err, HOIST_E_IO, "delete '%s'", argv[optind]);
		return cli_fail(err);
	}
	if (!cli.quiet) {
		_cleanup_free_ char *s = hoist_ref_string(ref);
		printf("deleted: %s\n", s ? s : argv[optind]);
	}
	return 0;
}

/* Reads one line from fd without echo when it is a terminal. */
static char *read_secret(FILE *in, bool prompt)
{
	struct termios old, noecho;
	bool tty = isatty(fileno(in));
	if (tty && prompt) {
		fprintf(stderr, "Password: ");
		tcgetattr(fileno(in), &old);
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fileno(in), TCSANOW, &noecho);
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, in);
	if (tty && prompt) {
		tcsetattr(fileno(in), TCSANOW, &old);
		fputc('\n', stderr);
	}
	if (n < 0) {
		free(line);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

static int registry_domain(const char *arg, char **out)
{
	const char *host = arg;
	if (!strncmp(host, "docker://", 9))
		host += 9;
	if (!strncmp(host, "https://", 8))
		host += 8;
	else if (!strncmp(host, "http://", 7))
		host += 7;
	_cleanup_free_ char *h = strdup(host);
	if (!h)
		return cli_failf("out of memory");
	char *slash = strchr(h, '/');
	if (slash)
		*slash = '\0';
	_cleanup_free_ char *probe = NULL;
	_cleanup_(hoist_ref_freep) hoist_ref *ref = NULL;
	if (asprintf(&probe, "%s/x", h) < 0)
		return cli_failf("out of memory");
	hoist_error *err = NULL;
	if (hoist_ref_parse(&ref, probe, &err) < 0 || ref->implicit_domain) {
		/* "docker.io" alone parses as a path: accept the hub names. */
		hoist_error_free(err);
		if (!strcmp(h, "docker.io") || !strcmp(h, "index.docker.io") ||
			!strcmp(h, "registry-1.docker.io")) {
			*out = strdup("docker.io");
			return *out ? 0 : cli_failf("out of memory");
		}
		return cli_failf("invalid registry host '%s'", arg);
	}
	*out = strdup(ref->domain);
	return *out ? 0 : cli_failf("out of memory");
}

int cmd_login(hoist_ctx *ctx, int argc, char **argv)
{
	static const char usage[] =
		"hoist login [-u USER] [-p PASSWORD | --password-stdin] REGISTRY";
	static const struct option opts[] = {
		{ "username", required_argument, NULL, 'u' },
		{ "password", required_argument, NULL, 'p' },
		{ "password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN },
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	const char *user = NULL;
	_cleanup_free_ char *password = NULL;
	bool from_stdin = false;
	int c, rc;
	while ((c = getopt_long(argc, argv, "hqvu:p:", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			user = optarg;
			break;
		case 'p':
			free(password);
			password = strdup(optarg);
			break;
		case OPT_PASSWORD_STDIN:
			from_stdin = true;
			break;
		default:
			c = c == 'q' ? CLI_OPT_QUIET : c == 'v' ? CLI_OPT_VERBOSE : c;
			if ((rc = cli_common_option(ctx, c, optarg, usage)) != 0)
				return rc;
		}
	}
	if (argc - optind != 1)
		return cli_usage_error(usage, "login needs one registry host");
	if (from_stdin && password)
		return cli_usage_error(usage, "--password and --password-stdin exclude each other");
	_cleanup_free_ char *domain = NULL;
	if ((rc = registry_domain(argv[optind], &domain)))
		return rc;
	_cleanup_free_ char *user_line = NULL;
	if (!user) {
		if (from_stdin || !isatty(STDIN_FILENO))
			return cli_usage_error(usage, "login needs --username when not on a terminal");
		fprintf(stderr, "Username: ");
		user_line = read_secret(stdin, false);
		if (!user_line || !*user_line)
			return cli_failf("login: no username given");
		user = user_line;
	}
	if (!password) {
		if (!from_stdin && !isatty(STDIN_FILENO))
			return cli_usage_error(usage, "login needs --password-stdin when not on a terminal");
		password = read_secret(stdin, !from_stdin);
		if (!password)
			return cli_failf("login: no password given");
	}
	hoist_error *err = NULL;
	rc = hoist_registry_login(ctx, domain, user, password, &err);
	explicit_bzero(password, strlen(password));
	if (rc < 0)
		return cli_fail(err);
	if (!cli.quiet)
		printf("Login Succeeded\n");
	return 0;
}

int cmd_logout(hoist_ctx *ctx, int argc, char **argv)
{
	static const char usage[] = "hoist logout REGISTRY";
	int rc = only_common(ctx, argc, argv, usage, NULL);
	if (rc)
		return rc;
	if (argc - optind != 1)
		return cli_usage_error(usage, "logout needs one registry host");
	_cleanup_free_ char *domain = NULL;
	if ((rc = registry_domain(argv[optind], &domain)))
		return rc;
	hoist_error *err = NULL;
	if (hoist_registry_logout(ctx, domain, &err) < 0) {
		hoist_error_wrap(&err, HOIST_E_IO, "logout from '%s'", domain);
		return cli_fail(err);
	}
	if (!cli.quiet)
		printf("Removed login credentials for %s\n", domain);
	return 0;
}

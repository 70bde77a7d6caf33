/* Platforms: "os/arch[/variant]" with the aliases that uname and distros
 * use mapped to the GOOS/GOARCH names the image spec uses. */
#include "hoist/media.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>

#include "util/cleanup.h"

#define PLATFORM_MAX 255

/* Architecture aliases and the variant each implies (NULL: none). */
static const struct {
	const char *alias, *arch, *variant;
} arch_aliases[] = {
	{ "x86_64", "amd64", NULL },
	{ "x86-64", "amd64", NULL },
	{ "aarch64", "arm64", NULL },
	{ "armhf", "arm", "v7" },
	{ "armv7l", "arm", "v7" },
	{ "armv7", "arm", "v7" },
	{ "armel", "arm", "v6" },
	{ "armv6l", "arm", "v6" },
	{ "armv6", "arm", "v6" },
	{ "armv5l", "arm", "v5" },
	{ "armv5tel", "arm", "v5" },
	{ "armv8l", "arm", "v8" },
	{ "i386", "386", NULL },
	{ "i486", "386", NULL },
	{ "i586", "386", NULL },
	{ "i686", "386", NULL },
	{ "x86", "386", NULL },
};

static const struct {
	const char *alias, *os;
} os_aliases[] = {
	{ "macos", "darwin" },
};

/* "7" means "v7" for arm; the spec's variants all carry the "v". */
static const char *const bare_variants[][2] = {
	{ "5", "v5" }, { "6", "v6" }, { "7", "v7" }, { "8", "v8" },
};

typedef struct norm {
	const char *os, *arch, *variant;
} norm;

/* Maps aliases to canonical names.  The result points at static strings or
 * at p's own; comparisons on it are case-insensitive. */
static norm normalise(const char *os, const char *arch, const char *variant)
{
	norm n = { os ? os : "", arch ? arch : "", variant };
	if (n.variant && !*n.variant)
		n.variant = NULL;
	for (size_t i = 0; i < HOIST_ARRAY_SIZE(os_aliases); i++)
		if (!strcasecmp(n.os, os_aliases[i].alias))
			n.os = os_aliases[i].os;
	for (size_t i = 0; i < HOIST_ARRAY_SIZE(arch_aliases); i++) {
		if (strcasecmp(n.arch, arch_aliases[i].alias))
			continue;
		n.arch = arch_aliases[i].arch;
		if (!n.variant)
			n.variant = arch_aliases[i].variant;
		break;
	}
	if (n.variant && (!strcasecmp(n.arch, "arm") || !strcasecmp(n.arch, "arm64")))
		for (size_t i = 0; i < HOIST_ARRAY_SIZE(bare_variants); i++)
			if (!strcmp(n.variant, bare_variants[i][0]))
				n.variant = bare_variants[i][1];
	return n;
}

static bool component_ok(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '_' && c != '-' && c != '.')
			return false;
	}
	return true;
}

static char *dup_lower(const char *s)
{
	char *d = strdup(s);
	if (d)
		for (char *p = d; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	return d;
}

/* Fills out from possibly aliased, any-case names. */
static int platform_set(hoist_platform *out, const char *os, const char *arch,
	const char *variant, hoist_error **err)
{
	norm n = normalise(os, arch, variant);
	hoist_platform p = { 0 };
	p.os = dup_lower(n.os);
	p.architecture = dup_lower(n.arch);
	if (n.variant)
		p.variant = dup_lower(n.variant);
	if (!p.os || !p.architecture || (n.variant && !p.variant)) {
		hoist_platform_release(&p);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	*out = p;
	return 0;
}

int hoist_platform_parse(hoist_platform *out, const char *s, hoist_error **err)
{
	if (!s || !*s)
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid platform '': expected OS/ARCH[/VARIANT]");
	size_t len = strlen(s);
	if (len > PLATFORM_MAX)
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid platform '%.32s...': longer than %d characters", s,
			PLATFORM_MAX);
	char parts[3][PLATFORM_MAX + 1];
	size_t n = 0;
	const char *p = s;
	for (;;) {
		size_t k = strcspn(p, "/");
		if (n == 3)
			return hoist_error_set(err, HOIST_E_INVALID,
				"invalid platform '%s': expected OS/ARCH[/VARIANT]", s);
		if (!component_ok(p, k))
			return hoist_error_set(err, HOIST_E_INVALID,
				"invalid platform '%s': %s must be a non-empty name of "
				"letters, digits, '.', '_' or '-'",
				s, n == 0 ? "os" : n == 1 ? "architecture" : "variant");
		memcpy(parts[n], p, k);
		parts[n][k] = '\0';
		n++;
		if (p[k] == '\0')
			break;
		p += k + 1;
	}
	if (n < 2)
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid platform '%s': expected OS/ARCH[/VARIANT]", s);
	int r = platform_set(out, parts[0], parts[1], n == 3 ? parts[2] : NULL, err);
	if (r < 0)
		return hoist_error_wrap(err, -r, "platform '%s'", s);
	return 0;
}

int hoist_platform_host(hoist_platform *out, hoist_error **err)
{
	struct utsname u;
	if (uname(&u) < 0)
		return hoist_error_errno(err, errno, "uname");
	return platform_set(out, u.sysname, u.machine, NULL, err);
}

void hoist_platform_release(hoist_platform *p)
{
	if (!p)
		return;
	free(p->os);
	free(p->architecture);
	free(p->variant);
	free(p->os_version);
	memset(p, 0, sizeof(*p));
}

static int dup_opt(char **out, const char *s)
{
	*out = NULL;
	if (s && !(*out = strdup(s)))
		return -1;
	return 0;
}

int hoist_platform_copy(hoist_platform *dst, const hoist_platform *src,
	hoist_error **err)
{
	hoist_platform p = { 0 };
	if (dup_opt(&p.os, src->os) < 0 || dup_opt(&p.architecture, src->architecture) < 0 ||
		dup_opt(&p.variant, src->variant) < 0 ||
		dup_opt(&p.os_version, src->os_version) < 0) {
		hoist_platform_release(&p);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	*dst = p;
	return 0;
}

char *hoist_platform_string(const hoist_platform *p)
{
	char *s = NULL;
	const char *os = p->os && *p->os ? p->os : "unknown";
	const char *arch = p->architecture && *p->architecture ? p->architecture : "unknown";
	int n = p->variant && *p->variant
		? asprintf(&s, "%s/%s/%s", os, arch, p->variant)
		: asprintf(&s, "%s/%s", os, arch);
	return n < 0 ? NULL : s;
}

/* arm64 images are v8 unless they say otherwise. */
static const char *effective_variant(const norm *n)
{
	if (!n->variant && !strcasecmp(n->arch, "arm64"))
		return "v8";
	return n->variant;
}

bool hoist_platform_match(const hoist_platform *want, const hoist_platform *have)
{
	if (!want || !have)
		return false;
	norm w = normalise(want->os, want->architecture, want->variant);
	norm h = normalise(have->os, have->architecture, have->variant);
	if (strcasecmp(w.os, h.os) || strcasecmp(w.arch, h.arch))
		return false;
	/* A want without a variant takes any; "arm64" and "arm64/v8" are the
	 * same platform either way round. */
	const char *wv = w.variant;
	if (wv) {
		const char *hv = effective_variant(&h);
		if (!hv || strcasecmp(wv, hv))
			return false;
	}
	/* Windows images differ by build; only checked when asked for. */
	if (want->os_version && *want->os_version &&
		(!have->os_version || strcmp(want->os_version, have->os_version)))
		return false;
	return true;
}

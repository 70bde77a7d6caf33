#include "hoist/ref.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hoist/digest.h"
#include "util/cleanup.h"

HOIST_DEFINE_CLEANUP(hoist_ref, hoist_ref_free)

#define NAME_MAX_LEN 255
#define TAG_MAX_LEN 128
/* The longest valid reference is about 530 bytes (a 255-byte name, a
 * 128-byte tag, a sha512 digest, plus "index." that normalises away), so
 * anything much longer is refused before it is scanned or quoted back. */
#define INPUT_MAX_LEN 1024
#define LABEL_MAX_LEN 63

static const char default_domain[] = "docker.io";
static const char legacy_domain[] = "index.docker.io";
static const char default_host[] = "registry-1.docker.io";
static const char official_prefix[] = "library/";

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_word(char c)
{
	return is_alnum(c) || c == '_';
}

static bool is_hex64(const char *s, size_t n)
{
	if (n != 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_digit(s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return false;
	return true;
}

/* The reasons below are returned as static strings (NULL: valid) so that
 * one checker serves the parser, the setters and the *_valid predicates. */

static const char *tag_problem(const char *t, size_t n)
{
	if (n == 0)
		return "tag is empty";
	if (n > TAG_MAX_LEN)
		return "tag is longer than 128 characters";
	if (!is_word(t[0]))
		return "a tag must start with a letter, a digit or '_'";
	for (size_t i = 1; i < n; i++)
		if (!is_word(t[i]) && t[i] != '.' && t[i] != '-')
			return "a tag may only contain letters, digits, '_', '.' and '-'";
	return NULL;
}

/* path-component := [a-z0-9]+ (separator [a-z0-9]+)*
 * separator      := "." | "_" | "__" | "-"+
 * Uppercase is checked by the caller, which reports it on its own. */
static const char *component_problem(const char *c, size_t n)
{
	if (n == 0)
		return "empty path component";
	for (size_t i = 0; i < n; i++)
		if (!is_lower_alnum(c[i]) && c[i] != '.' && c[i] != '_' &&
			c[i] != '-')
			return "a path component may only contain lowercase letters, digits, '.', '_' and '-'";
	if (!is_lower_alnum(c[0]) || !is_lower_alnum(c[n - 1]))
		return "a path component must start and end with a lowercase letter or digit";
	for (size_t i = 0; i < n;) {
		if (is_lower_alnum(c[i])) {
			i++;
			continue;
		}
		size_t j = i;
		bool dashes = true;
		while (j < n && !is_lower_alnum(c[j])) {
			dashes = dashes && c[j] == '-';
			j++;
		}
		size_t run = j - i;
		bool ok = dashes || (run == 1) ||
			(run == 2 && c[i] == '_' && c[i + 1] == '_');
		if (!ok)
			return "separators are '.', '_', '__' or a run of '-'";
		i = j;
	}
	return NULL;
}

static const char lowercase_msg[] = "repository name must be lowercase";

static bool has_upper(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			return true;
	return false;
}

/* Checks every '/'-separated component of a repository path. *bad and
 * *bad_n point at the offending component when a reason is returned. */
static const char *path_problem(const char *p, size_t n, const char **bad,
	size_t *bad_n)
{
	*bad = p;
	*bad_n = n;
	if (has_upper(p, n))
		return lowercase_msg;
	const char *end = p + n;
	for (const char *c = p;;) {
		const char *slash = memchr(c, '/', (size_t)(end - c));
		const char *ce = slash ? slash : end;
		const char *why = component_problem(c, (size_t)(ce - c));
		if (why) {
			*bad = c;
			*bad_n = (size_t)(ce - c);
			return why;
		}
		if (!slash)
			return NULL;
		c = slash + 1;
	}
}

static const char *port_problem(const char *p, size_t n)
{
	if (n == 0)
		return "missing port number after ':'";
	if (n > 5)
		return "port must be a number from 1 to 65535";
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(p[i]))
			return "port must be a number from 1 to 65535";
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	if (v == 0 || v > 65535)
		return "port must be a number from 1 to 65535";
	return NULL;
}

static bool ipv6_literal_ok(const char *s, size_t n, struct in6_addr *out)
{
	char buf[INET6_ADDRSTRLEN];
	if (n == 0 || n >= sizeof(buf))
		return false;
	/* Only hex digits and ':' (no zone ids, no embedded IPv4), like the
	 * distribution grammar; inet_pton then rejects malformed groups. */
	for (size_t i = 0; i < n; i++)
		if (!is_digit(s[i]) && !((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'f') &&
			s[i] != ':')
			return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	struct in6_addr a;
	if (inet_pton(AF_INET6, buf, &a) != 1)
		return false;
	if (out)
		*out = a;
	return true;
}

/* Splits a domain into host and port ([v6] keeps its brackets in host).
 * Returns a reason on malformed brackets. */
static const char *split_host_port(const char *d, size_t n, size_t *host_n,
	const char **port, size_t *port_n)
{
	*port = NULL;
	*port_n = 0;
	const char *colon;
	if (n && d[0] == '[') {
		const char *close = memchr(d, ']', n);
		if (!close)
			return "missing ']' after IPv6 address";
		*host_n = (size_t)(close - d) + 1;
		if (*host_n == n)
			return NULL;
		if (close[1] != ':')
			return "only ':' and a port may follow ']'";
		colon = close + 1;
	} else {
		colon = memchr(d, ':', n);
		*host_n = colon ? (size_t)(colon - d) : n;
		if (!colon)
			return NULL;
	}
	*port = colon + 1;
	*port_n = n - (size_t)(*port - d);
	return NULL;
}

/* domain := host [":" port]; host: DNS labels joined by ".", or "[" IPv6 "]" */
static const char *domain_problem(const char *d, size_t n)
{
	size_t hn, pn;
	const char *port;
	const char *why = split_host_port(d, n, &hn, &port, &pn);
	if (why)
		return why;
	if (hn == 0)
		return "host name is empty";
	if (d[0] == '[') {
		if (!ipv6_literal_ok(d + 1, hn - 2, NULL))
			return "invalid IPv6 address";
	} else {
		const char *end = d + hn;
		for (const char *l = d;;) {
			const char *dot = memchr(l, '.', (size_t)(end - l));
			const char *le = dot ? dot : end;
			size_t ln = (size_t)(le - l);
			if (ln == 0)
				return "host name has an empty label";
			if (ln > LABEL_MAX_LEN)
				return "host name label is longer than 63 characters";
			if (!is_alnum(l[0]) || !is_alnum(l[ln - 1]))
				return "host name labels must start and end with a letter or digit";
			for (size_t i = 0; i < ln; i++)
				if (!is_alnum(l[i]) && l[i] != '-')
					return "host names may only contain letters, digits, '-' and '.'";
			if (!dot)
				break;
			l = dot + 1;
		}
	}
	if (port)
		return port_problem(port, pn);
	return NULL;
}

/* A first component names a registry when it could not be a repository
 * path component of Docker Hub: it has a '.' or ':' or is "localhost".
 * Docker also takes a component with uppercase letters as a domain ("a
 * path may not have them"); hoist reports such input ("Foo/bar") as an
 * uppercase repository name instead, which is what the user almost always
 * meant, rather than trying to reach a host called "Foo". */
static bool looks_like_domain(const char *c, size_t n)
{
	return memchr(c, '.', n) || memchr(c, ':', n) ||
		(n == 9 && !memcmp(c, "localhost", 9));
}

static int fail(hoist_error **err, const char *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(hoist_error **err, const char *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *m = NULL;
	int n = vasprintf(&m, fmt, ap);
	va_end(ap);
	if (n < 0)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	return hoist_error_set(err, HOIST_E_INVALID, "invalid reference '%s': %s",
		s, m);
}

static int nomem(hoist_error **err)
{
	return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
}

int hoist_ref_parse(hoist_ref **out, const char *s, hoist_error **err)
{
	*out = NULL;
	if (!s || !*s)
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid reference '': reference is empty");
	size_t len = strnlen(s, INPUT_MAX_LEN + 1);
	if (len > INPUT_MAX_LEN)
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid reference '%.40s...': longer than %d characters", s,
			INPUT_MAX_LEN);
	if (s[0] == '[' && !strchr(s, '/'))
		return fail(err, s,
			"an IPv6 domain must be followed by '/' and a repository path");

	/* Neither names nor tags contain '@', so the first '@' starts the
	 * digest; a tag is what follows the last ':' after the last '/'. */
	const char *at = strchr(s, '@');
	const char *name_end = at ? at : s + len;
	hoist_digest dg;
	if (at) {
		if (at[1] == '\0')
			return fail(err, s, "'@' must be followed by a digest");
		int r = hoist_digest_parse(&dg, at + 1, err);
		if (r < 0)
			return hoist_error_wrap(err, -r, "invalid reference '%s'", s);
	}
	const char *colon = memrchr(s, ':', (size_t)(name_end - s));
	const char *last_slash = memrchr(s, '/', (size_t)(name_end - s));
	const char *tag = NULL;
	size_t tag_n = 0;
	if (colon && (!last_slash || colon > last_slash)) {
		tag = colon + 1;
		tag_n = (size_t)(name_end - tag);
		name_end = colon;
		const char *why = tag_problem(tag, tag_n);
		if (why)
			return fail(err, s, "invalid tag '%.*s': %s", (int)tag_n, tag,
				why);
	}
	size_t name_n = (size_t)(name_end - s);
	if (name_n == 0)
		return fail(err, s, "repository name is missing");

	const char *domain = default_domain;
	size_t domain_n = sizeof(default_domain) - 1;
	const char *rest = s;
	size_t rest_n = name_n;
	bool implicit = true;
	const char *slash = memchr(s, '/', name_n);
	if (slash && looks_like_domain(s, (size_t)(slash - s))) {
		domain = s;
		domain_n = (size_t)(slash - s);
		rest = slash + 1;
		rest_n = name_n - domain_n - 1;
		implicit = false;
		const char *why = domain_problem(domain, domain_n);
		if (why)
			return fail(err, s, "invalid domain '%.*s': %s", (int)domain_n,
				domain, why);
		if (domain_n == sizeof(legacy_domain) - 1 &&
			!memcmp(domain, legacy_domain, domain_n)) {
			domain = default_domain;
			domain_n = sizeof(default_domain) - 1;
		}
	}
	const char *bad;
	size_t bad_n;
	const char *why = path_problem(rest, rest_n, &bad, &bad_n);
	if (why) {
		if (bad_n == 0 || why == lowercase_msg)
			return fail(err, s, "%s", why);
		return fail(err, s, "invalid path component '%.*s': %s",
			(int)bad_n, bad, why);
	}
	if (implicit && !tag && !at && is_hex64(s, len))
		return fail(err, s,
			"a 64-character hexadecimal string is an image id, not a repository name");

	bool official = domain_n == sizeof(default_domain) - 1 &&
		!memcmp(domain, default_domain, domain_n) &&
		!memchr(rest, '/', rest_n);
	size_t full_n = domain_n + 1 + rest_n +
		(official ? sizeof(official_prefix) - 1 : 0);
	if (full_n > NAME_MAX_LEN)
		return fail(err, s,
			"the name with its domain is %zu characters long, the limit is %d",
			full_n, NAME_MAX_LEN);

	_cleanup_(hoist_ref_freep) hoist_ref *r = calloc(1, sizeof(*r));
	if (!r)
		return nomem(err);
	r->implicit_domain = implicit;
	r->domain = strndup(domain, domain_n);
	if (asprintf(&r->path, "%s%.*s", official ? official_prefix : "",
		    (int)rest_n, rest) < 0)
		r->path = NULL;
	if (tag)
		r->tag = strndup(tag, tag_n);
	if (at)
		r->digest = strdup(dg.str);
	if (!r->domain || !r->path || (tag && !r->tag) || (at && !r->digest))
		return nomem(err);
	*out = steal_ptr(&r);
	return 0;
}

void hoist_ref_free(hoist_ref *r)
{
	if (!r)
		return;
	free(r->domain);
	free(r->path);
	free(r->tag);
	free(r->digest);
	free(r);
}

static int dup_opt(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -1;
}

int hoist_ref_dup(hoist_ref **out, const hoist_ref *r, hoist_error **err)
{
	*out = NULL;
	_cleanup_(hoist_ref_freep) hoist_ref *d = calloc(1, sizeof(*d));
	if (!d)
		return nomem(err);
	d->implicit_domain = r->implicit_domain;
	if (dup_opt(&d->domain, r->domain) < 0 || dup_opt(&d->path, r->path) < 0 ||
		dup_opt(&d->tag, r->tag) < 0 || dup_opt(&d->digest, r->digest) < 0)
		return nomem(err);
	*out = steal_ptr(&d);
	return 0;
}

const char *hoist_ref_tag(const hoist_ref *r)
{
	if (r->tag)
		return r->tag;
	return r->digest ? NULL : "latest";
}

const char *hoist_ref_reference(const hoist_ref *r)
{
	return r->digest ? r->digest : hoist_ref_tag(r);
}

static char *with_suffix(const char *name, const hoist_ref *r)
{
	char *s = NULL;
	if (asprintf(&s, "%s%s%s%s%s", name, r->tag ? ":" : "",
		    r->tag ? r->tag : "", r->digest ? "@" : "",
		    r->digest ? r->digest : "") < 0)
		return NULL;
	return s;
}

char *hoist_ref_name(const hoist_ref *r)
{
	char *s = NULL;
	if (asprintf(&s, "%s/%s", r->domain, r->path) < 0)
		return NULL;
	return s;
}

char *hoist_ref_string(const hoist_ref *r)
{
	_cleanup_free_ char *name = hoist_ref_name(r);
	return name ? with_suffix(name, r) : NULL;
}

/* Docker's FamiliarName: Docker Hub names lose "docker.io/" and official
 * images their "library/".  Unlike Docker, the domain stays when dropping
 * it would change what the name parses back to: a Hub path whose first
 * component looks like a registry ("docker.io/example.com/x") and an
 * official image named like an image id (64 hex characters). */
static const char *familiar_name(const hoist_ref *r, bool *keep_domain)
{
	*keep_domain = true;
	if (strcmp(r->domain, default_domain) != 0)
		return r->path;
	const char *p = r->path;
	size_t pre = sizeof(official_prefix) - 1;
	if (!strncmp(p, official_prefix, pre) && !strchr(p + pre, '/') &&
		!is_hex64(p + pre, strlen(p + pre)))
		p += pre;
	const char *slash = strchr(p, '/');
	if (slash && looks_like_domain(p, (size_t)(slash - p)))
		return r->path;
	*keep_domain = false;
	return p;
}

char *hoist_ref_familiar(const hoist_ref *r)
{
	bool keep;
	const char *p = familiar_name(r, &keep);
	if (!keep)
		return with_suffix(p, r);
	_cleanup_free_ char *name = hoist_ref_name(r);
	return name ? with_suffix(name, r) : NULL;
}

int hoist_ref_set_tag(hoist_ref *r, const char *tag, hoist_error **err)
{
	char *t = NULL;
	if (tag) {
		size_t n = strnlen(tag, TAG_MAX_LEN + 1);
		const char *why = tag_problem(tag, n);
		if (why)
			return hoist_error_set(err, HOIST_E_INVALID,
				"invalid tag '%.*s%s': %s", TAG_MAX_LEN, tag,
				n > TAG_MAX_LEN ? "..." : "", why);
		t = strdup(tag);
		if (!t)
			return nomem(err);
	}
	free(r->tag);
	r->tag = t;
	return 0;
}

int hoist_ref_set_digest(hoist_ref *r, const char *digest, hoist_error **err)
{
	char *d = NULL;
	if (digest) {
		hoist_digest dg;
		int rc = hoist_digest_parse(&dg, digest, err);
		if (rc < 0)
			return rc;
		d = strdup(dg.str);
		if (!d)
			return nomem(err);
	}
	free(r->digest);
	r->digest = d;
	return 0;
}

const char *hoist_ref_registry_host(const hoist_ref *r)
{
	if (!strcmp(r->domain, default_domain))
		return default_host;
	return r->domain;
}

bool hoist_ref_is_loopback(const hoist_ref *r)
{
	return r && hoist_host_is_loopback(r->domain);
}

bool hoist_host_is_loopback(const char *domain)
{
	if (!domain || !*domain)
		return false;
	size_t n = strnlen(domain, INPUT_MAX_LEN + 1);
	if (n > INPUT_MAX_LEN)
		return false;
	/* A bare IPv6 address (no brackets, so no port) as given to
	 * --insecure or found in a URL host. */
	if (domain[0] != '[' && memchr(domain, ':', n) &&
		strchr(domain, ':') != strrchr(domain, ':')) {
		struct in6_addr a;
		return ipv6_literal_ok(domain, n, &a) && IN6_IS_ADDR_LOOPBACK(&a);
	}
	size_t hn, pn;
	const char *port;
	if (split_host_port(domain, n, &hn, &port, &pn) || hn == 0)
		return false;
	if (port && port_problem(port, pn))
		return false;
	if (domain[0] == '[') {
		struct in6_addr a;
		return ipv6_literal_ok(domain + 1, hn - 2, &a) &&
			IN6_IS_ADDR_LOOPBACK(&a);
	}
	if (hn == 9 && !strncasecmp(domain, "localhost", 9))
		return true;
	char buf[INET_ADDRSTRLEN];
	if (hn >= sizeof(buf))
		return false;
	memcpy(buf, domain, hn);
	buf[hn] = '\0';
	struct in_addr a4;
	if (inet_pton(AF_INET, buf, &a4) != 1)
		return false;
	return (ntohl(a4.s_addr) >> 24) == 127;
}

bool hoist_tag_valid(const char *tag)
{
	return tag && !tag_problem(tag, strnlen(tag, TAG_MAX_LEN + 1));
}

bool hoist_repo_path_valid(const char *path)
{
	if (!path)
		return false;
	size_t n = strnlen(path, NAME_MAX_LEN + 1);
	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	const char *bad;
	size_t bad_n;
	return path_problem(path, n, &bad, &bad_n) == NULL;
}

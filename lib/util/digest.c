#include "hoist/digest.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "util/cleanup.h"

struct hoist_hasher {
	hoist_digest_algo algo;
	EVP_MD_CTX *ctx;
};

static const EVP_MD *md_for(hoist_digest_algo a)
{
	return a == HOIST_DIGEST_SHA512 ? EVP_sha512() : EVP_sha256();
}

const char *hoist_digest_algo_name(hoist_digest_algo a)
{
	return a == HOIST_DIGEST_SHA512 ? "sha512" : "sha256";
}

static bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* algorithm ::= component (separator component)*
 * component ::= [a-z0-9]+   separator ::= [+._-]
 * encoded   ::= [a-zA-Z0-9=_-]+ */
static bool grammar_ok(const char *s, size_t *colon)
{
	const char *c = strchr(s, ':');
	if (!c || c == s || c[1] == '\0')
		return false;
	bool prev_sep = true;
	for (const char *p = s; p < c; p++) {
		bool alnum = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9');
		bool sep = *p == '+' || *p == '.' || *p == '_' || *p == '-';
		if (alnum)
			prev_sep = false;
		else if (sep && !prev_sep)
			prev_sep = true;
		else
			return false;
	}
	if (prev_sep)
		return false;
	for (const char *p = c + 1; *p; p++) {
		char ch = *p;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			    (ch >= '0' && ch <= '9') || ch == '=' || ch == '_' ||
			    ch == '-'))
			return false;
	}
	*colon = (size_t)(c - s);
	return true;
}

int hoist_digest_parse(hoist_digest *out, const char *s, hoist_error **err)
{
	size_t colon;
	if (!s || !grammar_ok(s, &colon))
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid digest '%s': expected ALGORITHM:HEX", s ? s : "");
	hoist_digest_algo a;
	size_t want;
	if (colon == 6 && !strncmp(s, "sha256", 6)) {
		a = HOIST_DIGEST_SHA256;
		want = 64;
	} else if (colon == 6 && !strncmp(s, "sha512", 6)) {
		a = HOIST_DIGEST_SHA512;
		want = 128;
	} else {
		return hoist_error_set(err, HOIST_E_UNSUPPORTED,
			"unsupported digest algorithm '%.*s' in '%s'", (int)colon,
			s, s);
	}
	const char *hex = s + colon + 1;
	size_t n = strlen(hex);
	if (n != want)
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid digest '%s': %s needs %zu hex characters, got %zu",
			s, hoist_digest_algo_name(a), want, n);
	for (size_t i = 0; i < n; i++)
		if (!is_lower_hex(hex[i]))
			return hoist_error_set(err, HOIST_E_INVALID,
				"invalid digest '%s': encoded part must be lowercase hex",
				s);
	if (out) {
		out->algo = a;
		memcpy(out->str, s, colon + 1 + n + 1);
	}
	return 0;
}

bool hoist_digest_valid(const char *s)
{
	return hoist_digest_parse(NULL, s, NULL) == 0;
}

const char *hoist_digest_hex(const hoist_digest *d)
{
	const char *c = strchr(d->str, ':');
	return c ? c + 1 : d->str;
}

bool hoist_digest_equal(const hoist_digest *a, const hoist_digest *b)
{
	return a->algo == b->algo && strcmp(a->str, b->str) == 0;
}

int hoist_hasher_new(hoist_hasher **out, hoist_digest_algo a, hoist_error **err)
{
	hoist_hasher *h = calloc(1, sizeof(*h));
	if (!h)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	h->algo = a;
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || EVP_DigestInit_ex(h->ctx, md_for(a), NULL) != 1) {
		hoist_hasher_free(h);
		return hoist_error_set(err, HOIST_E_NOMEM, "cannot initialise %s",
			hoist_digest_algo_name(a));
	}
	*out = h;
	return 0;
}

void hoist_hasher_update(hoist_hasher *h, const void *p, size_t n)
{
	if (n)
		EVP_DigestUpdate(h->ctx, p, n);
}

void hoist_hasher_final(hoist_hasher *h, hoist_digest *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_DigestFinal_ex(h->ctx, md, &mdlen);
	out->algo = h->algo;
	const char *name = hoist_digest_algo_name(h->algo);
	size_t off = strlen(name);
	memcpy(out->str, name, off);
	out->str[off++] = ':';
	static const char hx[] = "0123456789abcdef";
	for (unsigned int i = 0; i < mdlen; i++) {
		out->str[off++] = hx[md[i] >> 4];
		out->str[off++] = hx[md[i] & 15];
	}
	out->str[off] = '\0';
	hoist_hasher_reset(h);
}

void hoist_hasher_reset(hoist_hasher *h)
{
	EVP_DigestInit_ex(h->ctx, md_for(h->algo), NULL);
}

void hoist_hasher_free(hoist_hasher *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

int hoist_digest_of(hoist_digest *out, hoist_digest_algo a, const void *p,
	size_t n, hoist_error **err)
{
	hoist_hasher *h = NULL;
	int r = hoist_hasher_new(&h, a, err);
	if (r < 0)
		return r;
	hoist_hasher_update(h, p, n);
	hoist_hasher_final(h, out);
	hoist_hasher_free(h);
	return 0;
}

/* Content digests (OCI image spec "Digests"): algorithm ":" encoded.
 * sha256 is the default and what hoist writes; sha512 is accepted where the
 * spec allows it.  Hashing is streaming (OpenSSL EVP). */
#ifndef HOIST_DIGEST_H
#define HOIST_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#include "hoist/error.h"

typedef enum hoist_digest_algo {
	HOIST_DIGEST_SHA256 = 0,
	HOIST_DIGEST_SHA512 = 1,
} hoist_digest_algo;

/* "sha512:" + 128 hex + NUL */
#define HOIST_DIGEST_STRMAX 136

typedef struct hoist_digest {
	hoist_digest_algo algo;
	char str[HOIST_DIGEST_STRMAX]; /* canonical "algo:hex" */
} hoist_digest;

/* Parses and validates "sha256:<64 lowercase hex>" or "sha512:<128>".
 * Other well-formed algorithms give HOIST_E_UNSUPPORTED, anything not
 * matching the digest grammar HOIST_E_INVALID. */
int hoist_digest_parse(hoist_digest *out, const char *s, hoist_error **err);
/* True when s is a valid digest string hoist supports. */
bool hoist_digest_valid(const char *s);
/* The encoded (hex) part; borrowed from d. */
const char *hoist_digest_hex(const hoist_digest *d);
const char *hoist_digest_algo_name(hoist_digest_algo a);
bool hoist_digest_equal(const hoist_digest *a, const hoist_digest *b);

/* One-shot digest of a buffer. */
int hoist_digest_of(hoist_digest *out, hoist_digest_algo a, const void *p,
	size_t n, hoist_error **err);

typedef struct hoist_hasher hoist_hasher;
int hoist_hasher_new(hoist_hasher **out, hoist_digest_algo a, hoist_error **err);
void hoist_hasher_update(hoist_hasher *h, const void *p, size_t n);
/* Finishes the hash; the hasher may be reset and reused after this. */
void hoist_hasher_final(hoist_hasher *h, hoist_digest *out);
void hoist_hasher_reset(hoist_hasher *h);
void hoist_hasher_free(hoist_hasher *h);

#endif

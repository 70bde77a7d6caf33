/* Errors that carry context.
 *
 * Every fallible libhoist function returns 0 on success and a negative
 * HOIST_E_* code on failure, and fills *err (when err is not NULL) with a
 * message.  Callers higher up wrap the message with what they were doing, so
 * the user reads "push 'r/app:1': PUT manifest: 400 MANIFEST_INVALID: ..."
 * instead of a bare code.  Messages are lowercase, quote their subject and
 * have no trailing period. */
#ifndef HOIST_ERROR_H
#define HOIST_ERROR_H

#include <stdarg.h>

enum {
	HOIST_OK = 0,
	HOIST_E_INVALID = 1,    /* malformed input: reference, digest, JSON, flag */
	HOIST_E_NOTFOUND = 2,   /* no such image, tag, blob, file */
	HOIST_E_IO = 3,         /* read/write/fsync/rename failed */
	HOIST_E_DIGEST = 4,     /* content does not match its digest or size */
	HOIST_E_UNSUPPORTED = 5,/* valid but not handled (media type, algorithm) */
	HOIST_E_EXISTS = 6,     /* already present where it must not be */
	HOIST_E_NOMEM = 7,
	HOIST_E_REGISTRY = 8,   /* the registry answered with an error */
	HOIST_E_AUTH = 9,       /* authentication or authorisation failed */
	HOIST_E_NETWORK = 10,   /* connection, TLS, timeout */
	HOIST_E_LIMIT = 11,     /* input exceeds a bound (size, count, depth) */
	HOIST_E_UNSAFE = 12,    /* hostile input: path escape, bad link */
	HOIST_E_BUSY = 13,      /* lock held */
	HOIST_E_INTERRUPTED = 14,
};

typedef struct hoist_error {
	int code;  /* positive HOIST_E_* value */
	char *msg; /* owned, never NULL once set */
} hoist_error;

/* Sets *err (if err != NULL and *err == NULL) to a new error and returns
 * -code.  If *err is already set, the old error is kept and -code returned,
 * so the first (most precise) failure wins. */
int hoist_error_set(hoist_error **err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int hoist_error_setv(hoist_error **err, int code, const char *fmt, va_list ap);

/* Like hoist_error_set, appending ": strerror(errnum)". */
int hoist_error_errno(hoist_error **err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefixes the message of *err with "<fmt>: " and returns -(*err)->code.
 * If *err is NULL (caller failed without setting it), creates a generic
 * error with code `fallback`. */
int hoist_error_wrap(hoist_error **err, int fallback, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

void hoist_error_free(hoist_error *err);
/* Frees *err and sets it to NULL; for cleanup attributes. */
void hoist_error_freep(hoist_error **err);

const char *hoist_error_code_name(int code);

#endif

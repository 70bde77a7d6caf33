/* A growable byte buffer with a hard maximum (like curl's dynbuf): anything
 * that comes from outside (a manifest, a token response) is read into one of
 * these and can never make us allocate without bound. */
#ifndef HOIST_BUF_H
#define HOIST_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "hoist/error.h"

typedef struct hoist_buf {
	char *data; /* always NUL-terminated when non-NULL */
	size_t len;
	size_t cap;
	size_t max; /* appends past this fail with HOIST_E_LIMIT */
} hoist_buf;

#define HOIST_BUF_INIT(maxbytes) { NULL, 0, 0, (maxbytes) }

void hoist_buf_init(hoist_buf *b, size_t max);
void hoist_buf_release(hoist_buf *b);
void hoist_buf_reset(hoist_buf *b);
int hoist_buf_append(hoist_buf *b, const void *p, size_t n, hoist_error **err);
int hoist_buf_appends(hoist_buf *b, const char *s, hoist_error **err);
int hoist_buf_appendf(hoist_buf *b, hoist_error **err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Hands the data to the caller (NUL-terminated, possibly NULL when empty)
 * and resets the buffer. */
char *hoist_buf_steal(hoist_buf *b, size_t *len);

#endif

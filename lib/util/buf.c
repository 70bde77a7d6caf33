#include "hoist/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hoist_buf_init(hoist_buf *b, size_t max)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max;
}

void hoist_buf_release(hoist_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void hoist_buf_reset(hoist_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

static int reserve(hoist_buf *b, size_t extra, hoist_error **err)
{
	size_t need;
	if (__builtin_add_overflow(b->len, extra, &need) || need > b->max)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"data exceeds the limit of %zu bytes", b->max);
	if (need + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need + 1)
		cap = cap > SIZE_MAX / 2 ? need + 1 : cap * 2;
	char *p = realloc(b->data, cap);
	if (!p)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	b->data = p;
	b->cap = cap;
	return 0;
}

int hoist_buf_append(hoist_buf *b, const void *p, size_t n, hoist_error **err)
{
	int r = reserve(b, n, err);
	if (r < 0)
		return r;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int hoist_buf_appends(hoist_buf *b, const char *s, hoist_error **err)
{
	return hoist_buf_append(b, s, strlen(s), err);
}

int hoist_buf_appendf(hoist_buf *b, hoist_error **err, const char *fmt, ...)
{
	va_list ap, ap2;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		va_end(ap2);
		return hoist_error_set(err, HOIST_E_INVALID, "bad format");
	}
	int r = reserve(b, (size_t)n, err);
	if (r < 0) {
		va_end(ap2);
		return r;
	}
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	b->len += (size_t)n;
	return 0;
}

char *hoist_buf_steal(hoist_buf *b, size_t *len)
{
	char *d = b->data;
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return d;
}

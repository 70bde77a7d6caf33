#include "hoist/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"

static char *vformat(const char *fmt, va_list ap)
{
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		return NULL;
	return s;
}

int hoist_error_setv(hoist_error **err, int code, const char *fmt, va_list ap)
{
	if (code < 0)
		code = -code;
	if (code == 0)
		code = HOIST_E_INVALID;
	if (!err || *err)
		return -code;
	hoist_error *e = calloc(1, sizeof(*e));
	if (!e)
		return -HOIST_E_NOMEM;
	e->code = code;
	e->msg = vformat(fmt, ap);
	if (!e->msg)
		e->msg = strdup("out of memory formatting error");
	*err = e;
	return -code;
}

int hoist_error_set(hoist_error **err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = hoist_error_setv(err, code, fmt, ap);
	va_end(ap);
	return r;
}

int hoist_error_errno(hoist_error **err, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *m = vformat(fmt, ap);
	va_end(ap);
	int code = errnum == ENOMEM ? HOIST_E_NOMEM
		: errnum == ENOENT ? HOIST_E_NOTFOUND
		: errnum == EEXIST ? HOIST_E_EXISTS
		: errnum == EINTR ? HOIST_E_INTERRUPTED
		: errnum == EWOULDBLOCK ? HOIST_E_BUSY
		: HOIST_E_IO;
	return hoist_error_set(err, code, "%s: %s", m ? m : "?", strerror(errnum));
}

int hoist_error_wrap(hoist_error **err, int fallback, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *prefix = vformat(fmt, ap);
	va_end(ap);
	if (!err)
		return -(fallback > 0 ? fallback : HOIST_E_IO);
	if (!*err)
		return hoist_error_set(err, fallback > 0 ? fallback : HOIST_E_IO,
			"%s: failed", prefix ? prefix : "?");
	char *m = NULL;
	if (prefix && asprintf(&m, "%s: %s", prefix, (*err)->msg) >= 0) {
		free((*err)->msg);
		(*err)->msg = m;
	}
	return -(*err)->code;
}

void hoist_error_free(hoist_error *err)
{
	if (!err)
		return;
	free(err->msg);
	free(err);
}

void hoist_error_freep(hoist_error **err)
{
	if (err && *err) {
		hoist_error_free(*err);
		*err = NULL;
	}
}

const char *hoist_error_code_name(int code)
{
	if (code < 0)
		code = -code;
	static const char *const names[] = {
		"ok", "invalid", "not found", "io", "digest mismatch",
		"unsupported", "exists", "out of memory", "registry", "auth",
		"network", "limit", "unsafe", "busy", "interrupted",
	};
	if ((size_t)code < sizeof(names) / sizeof(names[0]))
		return names[code];
	return "unknown";
}

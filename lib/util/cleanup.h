/* Scope-bound cleanup helpers (systemd/crun style).
 * _cleanup_free_ char *p = ...;  released when p goes out of scope.
 * Move ownership out with steal_ptr(&p). */
#ifndef HOIST_UTIL_CLEANUP_H
#define HOIST_UTIL_CLEANUP_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <errno.h>

static inline void hoist_freep(void *p)
{
	free(*(void **)p);
}
static inline void hoist_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
static inline void hoist_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
static inline void hoist_closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(hoist_freep)
#define _cleanup_close_ _cleanup_(hoist_closep)
#define _cleanup_fclose_ _cleanup_(hoist_fclosep)
#define _cleanup_closedir_ _cleanup_(hoist_closedirp)
#define _cleanup_error_ _cleanup_(hoist_error_freep)

/* Define a cleanup function for a type with a T_free(T *) destructor:
 * HOIST_DEFINE_CLEANUP(hoist_ref, hoist_ref_free) gives hoist_ref_freep. */
#define HOIST_DEFINE_CLEANUP(type, fn)                                        \
	static inline void fn##p(type **p)                                    \
	{                                                                     \
		if (*p) {                                                     \
			fn(*p);                                               \
			*p = NULL;                                            \
		}                                                             \
	}

static inline void *hoist_steal_ptr(void *pp)
{
	void **p = (void **)pp;
	void *v = *p;
	*p = NULL;
	return v;
}
#define steal_ptr(pp) hoist_steal_ptr(pp)

static inline int hoist_steal_fd(int *fd)
{
	int v = *fd;
	*fd = -1;
	return v;
}
#define steal_fd(p) hoist_steal_fd(p)

#define HOIST_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif

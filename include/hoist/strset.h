/* A set of strings (open addressing, grows by doubling); for path sets
 * when flattening layers. Memory grows with the number of members only. */
#ifndef HOIST_STRSET_H
#define HOIST_STRSET_H

#include <stdbool.h>
#include <stddef.h>

typedef struct hoist_strset {
	char **slots;
	size_t cap;
	size_t n;
} hoist_strset;

#define HOIST_STRSET_INIT { NULL, 0, 0 }

/* 1 when added, 0 when present already, -1 out of memory. */
int hoist_strset_add(hoist_strset *s, const char *key);
bool hoist_strset_has(const hoist_strset *s, const char *key);
void hoist_strset_release(hoist_strset *s);

#endif

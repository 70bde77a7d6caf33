#include "hoist/strset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash(const char *s)
{
	/* FNV-1a */
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

static size_t find(char **slots, size_t cap, const char *key)
{
	size_t i = (size_t)hash(key) & (cap - 1);
	while (slots[i] && strcmp(slots[i], key) != 0)
		i = (i + 1) & (cap - 1);
	return i;
}

static int grow(hoist_strset *s)
{
	size_t cap = s->cap ? s->cap * 2 : 64;
	char **slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -1;
	for (size_t i = 0; i < s->cap; i++)
		if (s->slots[i])
			slots[find(slots, cap, s->slots[i])] = s->slots[i];
	free(s->slots);
	s->slots = slots;
	s->cap = cap;
	return 0;
}

int hoist_strset_add(hoist_strset *s, const char *key)
{
	if ((s->n + 1) * 4 > s->cap * 3 && grow(s) < 0)
		return -1;
	size_t i = find(s->slots, s->cap, key);
	if (s->slots[i])
		return 0;
	if (!(s->slots[i] = strdup(key)))
		return -1;
	s->n++;
	return 1;
}

bool hoist_strset_has(const hoist_strset *s, const char *key)
{
	if (!s->cap)
		return false;
	return s->slots[find(s->slots, s->cap, key)] != NULL;
}

void hoist_strset_release(hoist_strset *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->slots[i]);
	free(s->slots);
	s->slots = NULL;
	s->cap = s->n = 0;
}

/* Fuzz target for the WWW-Authenticate parser: any bytes must parse or
 * fail cleanly, and whatever parses must be internally consistent. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hoist/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	hoist_auth_challenge *c = NULL;
	size_t n = 0;
	hoist_error *err = NULL;
	if (hoist_auth_parse_challenges(&c, &n, s, &err) == 0) {
		if (n == 0 || n > HOIST_AUTH_CHALLENGES_MAX || err != NULL)
			abort();
		for (size_t i = 0; i < n; i++) {
			if (!c[i].scheme || !*c[i].scheme ||
				c[i].n_params > HOIST_AUTH_PARAMS_MAX)
				abort();
			for (size_t j = 0; j < c[i].n_params; j++) {
				if (!c[i].params[j].name || !c[i].params[j].value)
					abort();
				if (hoist_auth_challenge_param(&c[i],
					    c[i].params[j].name) == NULL)
					abort();
			}
		}
		hoist_auth_challenges_free(c, n);
	} else if (!err || c || n) {
		abort();
	}
	hoist_error_free(err);
	free(s);
	return 0;
}

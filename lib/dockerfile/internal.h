/* Shared between the files of lib/dockerfile: growth of arrays, UTF-8,
 * the shell lexer with all of BuildKit's modes, instruction copies. */
#ifndef HOIST_DOCKERFILE_INTERNAL_H
#define HOIST_DOCKERFILE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "hoist/dockerfile.h"
#include "hoist/error.h"

/* Makes room for element n of *arr (which holds n elements): capacity is
 * implied by n (4, 8, 16, ...), so arrays carry no separate capacity. */
static inline int df_grow_(void **arr, size_t n, size_t elem)
{
	if (n != 0 && (n < 4 || (n & (n - 1)) != 0))
		return 0;
	size_t cap = n == 0 ? 4 : n * 2, bytes;
	if (cap < n || __builtin_mul_overflow(cap, elem, &bytes))
		return -1;
	void *p = realloc(*arr, bytes);
	if (!p)
		return -1;
	*arr = p;
	return 0;
}
#define df_grow(arrp, n) df_grow_((void **)(arrp), (n), sizeof(**(arrp)))

/* Appends s (taken over; freed on failure) to the string vector. */
int df_strv_push(char ***v, size_t *n, char *s);
int df_strv_pushdup(char ***v, size_t *n, const char *s);

/* Decodes the UTF-8 sequence at s[0..len) (len > 0): returns its length
 * (1 for an invalid byte, whose code point is then 0xFFFD). */
size_t df_utf8_decode(const char *s, size_t len, uint32_t *cp);
/* Go's unicode.IsSpace. */
bool df_is_space(uint32_t cp);

/* The shell lexer (lex.c) with BuildKit's switches: raw_quotes keeps the
 * quote characters, raw_escapes the escape characters, skip_unset leaves
 * references to unset variables as written, skip_quotes treats quotes as
 * ordinary characters. */
typedef struct df_lex_opts {
	uint32_t escape;
	bool raw_quotes;
	bool raw_escapes;
	bool skip_unset;
	bool skip_quotes;
} df_lex_opts;

/* result (may be NULL): the processed text; words (may be NULL): the
 * split words.  Errors carry no prefix ("missing '}'"); callers add one. */
int df_lex(const df_lex_opts *o, const char *text, hoist_df_lookup_fn lookup,
	void *ud, char **result, char ***words, size_t *n_words,
	hoist_error **err);

/* Instruction helpers (instr.c). */
void df_instr_release(hoist_df_instr *i);
int df_instr_copy(hoist_df_instr *dst, const hoist_df_instr *src);
void df_mount_release(hoist_df_mount *m);
/* Parses one --mount value into m (released by the caller). */
int df_mount_parse(hoist_df_mount *m, const char *spec, hoist_error **err);

/* Whether word is a heredoc marker ("<<EOF", "3<<-'EOF'"): 1 with its
 * name (caller frees) and properties, 0 when not, <0 on a lexing error. */
int df_heredoc_word(const char *word, char **name, bool *expand, bool *chomp,
	int *fd, hoist_error **err);

/* A short, printable rendering of s for messages (at most ~80 bytes
 * shown). Caller frees; never NULL unless out of memory. */
char *df_quote_short(const char *s);

/* Go's path.Clean. Caller frees. */
char *df_path_clean(const char *p);

#endif

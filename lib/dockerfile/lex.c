/* Variable expansion and word splitting: BuildKit's shell lexer
 * (frontend/dockerfile/shell/lex.go), rule for rule, including its modes
 * (raw quotes, raw escapes, leaving unset variables, ignoring quotes) that
 * the parser needs to find heredocs and the builder to expand their
 * bodies.
 *
 * The text is read rune by rune (UTF-8) so that blanks and variable names
 * follow Go's unicode classes; bytes are copied through unchanged.
 *
 * ${V#p} and friends use shell patterns ('*', '?', '\'-escapes), which
 * BuildKit compiles to Go regexps; here they run as a small NFA over the
 * pattern's tokens, leftmost-longest (or shortest where BuildKit asks for
 * a lazy match), in time linear in the value for each search. */
#include "dockerfile/internal.h"

#include <stdio.h>
#include <string.h>

#include "hoist/buf.h"
#include "util/cleanup.h"

#define LEX_EOF UINT32_MAX
/* Steps a pattern search may take in one expansion (each step is one
 * pattern state times one character): keeps ${V//p/r} over a large value
 * from running for minutes. */
#define PATTERN_BUDGET (64u * 1024 * 1024)

size_t df_utf8_decode(const char *s, size_t len, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *)s;
	if (u[0] < 0x80) {
		*cp = u[0];
		return 1;
	}
	size_t n;
	uint32_t c, min;
	if ((u[0] & 0xe0) == 0xc0) {
		n = 2;
		c = u[0] & 0x1f;
		min = 0x80;
	} else if ((u[0] & 0xf0) == 0xe0) {
		n = 3;
		c = u[0] & 0x0f;
		min = 0x800;
	} else if ((u[0] & 0xf8) == 0xf0) {
		n = 4;
		c = u[0] & 0x07;
		min = 0x10000;
	} else {
		*cp = 0xfffd;
		return 1;
	}
	if (len < n) {
		*cp = 0xfffd;
		return 1;
	}
	for (size_t i = 1; i < n; i++) {
		if ((u[i] & 0xc0) != 0x80) {
			*cp = 0xfffd;
			return 1;
		}
		c = (c << 6) | (u[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
		*cp = 0xfffd;
		return 1;
	}
	*cp = c;
	return n;
}

bool df_is_space(uint32_t c)
{
	switch (c) {
	case '\t': case '\n': case '\v': case '\f': case '\r': case ' ':
	case 0x85: case 0xa0: case 0x1680: case 0x2028: case 0x2029:
	case 0x202f: case 0x205f: case 0x3000:
		return true;
	}
	return c >= 0x2000 && c <= 0x200a;
}

/* Go's unicode.IsLetter, approximated outside ASCII: every character that
 * is not a blank or punctuation of the common punctuation blocks. */
static bool is_letter(uint32_t c)
{
	if (c < 0x80)
		return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
	if (df_is_space(c) || c == 0xfffd || c < 0xc0 || c == 0xd7 || c == 0xf7)
		return false;
	if ((c >= 0x2000 && c <= 0x2bff) || (c >= 0x3000 && c <= 0x303f) ||
	    (c >= 0xff00 && c <= 0xff0f) || (c >= 0xfe30 && c <= 0xfe4f))
		return false;
	return true;
}

static bool is_digit(uint32_t c)
{
	return c >= '0' && c <= '9';
}

char *df_quote_short(const char *s)
{
	hoist_buf b = HOIST_BUF_INIT(512);
	size_t n = strlen(s);
	size_t shown = n > 80 ? 80 : n;
	/* do not cut a UTF-8 sequence */
	while (shown < n && shown > 0 && ((unsigned char)s[shown] & 0xc0) == 0x80)
		shown--;
	for (size_t i = 0; i < shown; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\n')
			hoist_buf_appends(&b, "\\n", NULL);
		else if (c == '\t')
			hoist_buf_appends(&b, "\\t", NULL);
		else if (c < 0x20 || c == 0x7f)
			hoist_buf_appendf(&b, NULL, "\\x%02x", c);
		else
			hoist_buf_append(&b, &s[i], 1, NULL);
	}
	if (shown < n)
		hoist_buf_appends(&b, "...", NULL);
	if (!b.data)
		return strdup("");
	return hoist_buf_steal(&b, NULL);
}

int df_strv_push(char ***v, size_t *n, char *s)
{
	if (!s || df_grow(v, *n) < 0) {
		free(s);
		return -HOIST_E_NOMEM;
	}
	(*v)[(*n)++] = s;
	return 0;
}

int df_strv_pushdup(char ***v, size_t *n, const char *s)
{
	return df_strv_push(v, n, strdup(s));
}

void hoist_df_strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

typedef struct lexer {
	const df_lex_opts *o;
	const char *s;
	size_t len;
	size_t pos;
	bool raw_escapes;
	hoist_df_lookup_fn lookup;
	void *ud;
	int depth;
	uint64_t budget;
	hoist_error *e;
} lexer;

typedef struct words {
	hoist_buf word;
	bool in_word;
	char **v;
	size_t n;
} words;

static int nomem(lexer *l)
{
	return hoist_error_set(&l->e, HOIST_E_NOMEM, "out of memory");
}

static uint32_t peek(lexer *l)
{
	if (l->pos >= l->len)
		return LEX_EOF;
	uint32_t c;
	df_utf8_decode(l->s + l->pos, l->len - l->pos, &c);
	return c;
}

/* Consumes one rune; its bytes are s[*start, *start + *n). */
static uint32_t next(lexer *l, size_t *start, size_t *n)
{
	if (l->pos >= l->len) {
		*start = l->pos;
		*n = 0;
		return LEX_EOF;
	}
	uint32_t c;
	size_t k = df_utf8_decode(l->s + l->pos, l->len - l->pos, &c);
	*start = l->pos;
	*n = k;
	l->pos += k;
	return c;
}

static int put(lexer *l, hoist_buf *b, const char *p, size_t n)
{
	return hoist_buf_append(b, p, n, &l->e);
}

static int puts_(lexer *l, hoist_buf *b, const char *s)
{
	return hoist_buf_appends(b, s, &l->e);
}

static int w_push(lexer *l, words *w)
{
	char *s = strndup(w->word.data ? w->word.data : "", w->word.len);
	if (df_strv_push(&w->v, &w->n, s) < 0)
		return nomem(l);
	hoist_buf_reset(&w->word);
	w->in_word = false;
	return 0;
}

static int w_add_raw(lexer *l, words *w, const char *p, size_t n)
{
	if (!w)
		return 0;
	w->in_word = true;
	return put(l, &w->word, p, n);
}

static int w_add_char(lexer *l, words *w, uint32_t c, const char *p, size_t n)
{
	if (!w)
		return 0;
	if (df_is_space(c)) {
		if (w->in_word && w->word.len)
			return w_push(l, w);
		return 0;
	}
	return w_add_raw(l, w, p, n);
}

static int w_add_string(lexer *l, words *w, const char *s, size_t len)
{
	if (!w)
		return 0;
	for (size_t i = 0; i < len;) {
		uint32_t c;
		size_t k = df_utf8_decode(s + i, len - i, &c);
		int r = w_add_char(l, w, c, s + i, k);
		if (r < 0)
			return r;
		i += k;
	}
	return 0;
}

static int process_stop_on(lexer *l, uint32_t stop, bool raw_escapes,
	hoist_buf *result, words *w);

static int process_name(lexer *l, hoist_buf *name)
{
	size_t st, n;
	uint32_t c;
	while ((c = peek(l)) != LEX_EOF) {
		if (name->len == 0 && is_digit(c)) {
			while (is_digit(peek(l))) {
				next(l, &st, &n);
				if (put(l, name, l->s + st, n) < 0)
					return -1;
			}
			return 0;
		}
		if (name->len == 0 && (c == '@' || c == '*' || c == '#' || c == '?' ||
				c == '-' || c == '$' || c == '!')) {
			next(l, &st, &n);
			return put(l, name, l->s + st, n);
		}
		if (!is_letter(c) && !is_digit(c) && c != '_')
			break;
		next(l, &st, &n);
		if (put(l, name, l->s + st, n) < 0)
			return -1;
	}
	/* an empty name still needs a buffer to point at */
	return put(l, name, "", 0);
}

static const char *get_env(lexer *l, const char *name)
{
	return l->lookup ? l->lookup(l->ud, name) : NULL;
}

/* Shell patterns ('*', '?', '\' escapes), as a token list. */
enum { P_LIT, P_ANY, P_STAR };
typedef struct ptok {
	int kind;
	uint32_t cp;
} ptok;

static int compile_pattern(lexer *l, const char *p, size_t len, ptok **out,
	size_t *m)
{
	ptok *t = NULL;
	size_t n = 0;
	for (size_t i = 0; i < len;) {
		uint32_t c;
		size_t k = df_utf8_decode(p + i, len - i, &c);
		i += k;
		ptok tok = { P_LIT, c };
		if (c == '*') {
			tok.kind = P_STAR;
		} else if (c == '?') {
			tok.kind = P_ANY;
		} else if (c == '\\') {
			/* "\}" and "\/" only keep the delimiter out of ${}: the
			 * escape is not part of the pattern */
			if (i < len && (p[i] == '}' || p[i] == '/'))
				continue;
			uint32_t e = LEX_EOF;
			if (i < len)
				i += df_utf8_decode(p + i, len - i, &e);
			if (e != '*' && e != '?' && e != '\\') {
				free(t);
				return hoist_error_set(&l->e, HOIST_E_INVALID,
					"invalid escape in pattern '%.*s'",
					(int)(len > 80 ? 80 : len), p);
			}
			tok.cp = e;
		}
		if (df_grow(&t, n) < 0) {
			free(t);
			return nomem(l);
		}
		t[n++] = tok;
	}
	*out = t;
	*m = n;
	return 0;
}

#define NONE SIZE_MAX

/* Finds a match of t[0..m) in v[from..len): anchored at from, or the
 * leftmost; among matches at that start the longest or the shortest.
 * Returns 1 with [*ms, *me), 0 when none, <0 when over budget. */
static int pat_find(lexer *l, const ptok *t, size_t m, const char *v,
	size_t len, size_t from, bool anchored, bool longest, size_t *ms,
	size_t *me)
{
	size_t *cur = malloc((m + 1) * sizeof(*cur));
	size_t *nxt = malloc((m + 1) * sizeof(*nxt));
	if (!cur || !nxt) {
		free(cur);
		free(nxt);
		return nomem(l);
	}
	for (size_t i = 0; i <= m; i++)
		cur[i] = NONE;
	size_t best_s = NONE, best_e = 0, pos = from;
	int rc = 0;
	for (;;) {
		if (best_s == NONE && (!anchored || pos == from) && cur[0] == NONE)
			cur[0] = pos;
		for (size_t i = 0; i < m; i++)
			if (t[i].kind == P_STAR && cur[i] != NONE && cur[i] < cur[i + 1])
				cur[i + 1] = cur[i];
		if (cur[m] != NONE) {
			if (best_s == NONE || cur[m] < best_s) {
				best_s = cur[m];
				best_e = pos;
			} else if (cur[m] == best_s) {
				best_e = pos;
			}
			if (!longest)
				break;
		}
		bool alive = false;
		for (size_t i = 0; i <= m; i++) {
			if (best_s != NONE && cur[i] != NONE && cur[i] > best_s)
				cur[i] = NONE;
			if (cur[i] != NONE && i < m)
				alive = true;
		}
		if (pos >= len || (!alive && (best_s != NONE || anchored)))
			break;
		uint32_t c;
		size_t k = df_utf8_decode(v + pos, len - pos, &c);
		if (l->budget < m + 1) {
			rc = hoist_error_set(&l->e, HOIST_E_LIMIT,
				"pattern matching takes too long");
			goto out;
		}
		l->budget -= m + 1;
		for (size_t i = 0; i <= m; i++)
			nxt[i] = NONE;
		for (size_t i = 0; i < m; i++) {
			if (cur[i] == NONE)
				continue;
			size_t to = NONE;
			if (t[i].kind == P_LIT && t[i].cp == c)
				to = i + 1;
			else if (t[i].kind == P_ANY && c != '\n')
				to = i + 1;
			else if (t[i].kind == P_STAR && c != '\n')
				to = i;
			if (to != NONE && cur[i] < nxt[to])
				nxt[to] = cur[i];
		}
		size_t *tmp = cur;
		cur = nxt;
		nxt = tmp;
		pos += k;
	}
	if (best_s != NONE) {
		*ms = best_s;
		*me = best_e;
		rc = 1;
	}
out:
	free(cur);
	free(nxt);
	return rc;
}

/* v with its runes in reverse order. */
static char *reverse_runes(const char *v, size_t len)
{
	char *r = malloc(len + 1);
	if (!r)
		return NULL;
	size_t o = len;
	for (size_t i = 0; i < len;) {
		uint32_t c;
		size_t k = df_utf8_decode(v + i, len - i, &c);
		o -= k;
		memcpy(r + o, v + i, k);
		i += k;
	}
	r[len] = '\0';
	return r;
}

/* ${V#p} ${V##p} ${V%p} ${V%%p} */
static int trim_value(lexer *l, hoist_buf *out, const char *value,
	const char *pat, size_t plen, bool suffix, bool greedy)
{
	_cleanup_free_ ptok *t = NULL;
	size_t m;
	if (compile_pattern(l, pat, plen, &t, &m) < 0)
		return -1;
	size_t len = strlen(value), ms, me;
	if (!suffix) {
		int r = pat_find(l, t, m, value, len, 0, true, greedy, &ms, &me);
		if (r < 0)
			return r;
		return put(l, out, value + (r ? me : 0), len - (r ? me : 0));
	}
	for (size_t i = 0; i < m / 2; i++) {
		ptok x = t[i];
		t[i] = t[m - 1 - i];
		t[m - 1 - i] = x;
	}
	_cleanup_free_ char *rev = reverse_runes(value, len);
	if (!rev)
		return nomem(l);
	int r = pat_find(l, t, m, rev, len, 0, true, greedy, &ms, &me);
	if (r < 0)
		return r;
	return put(l, out, value, len - (r ? me : 0));
}

/* ${V/p/r} ${V//p/r}, with Go's ReplaceAllString rules for empty
 * matches. */
static int replace_value(lexer *l, hoist_buf *out, const char *value,
	const char *pat, size_t plen, const char *repl, bool all)
{
	_cleanup_free_ ptok *t = NULL;
	size_t m;
	if (compile_pattern(l, pat, plen, &t, &m) < 0)
		return -1;
	size_t len = strlen(value), ms, me;
	if (!all) {
		int r = pat_find(l, t, m, value, len, 0, false, true, &ms, &me);
		if (r < 0)
			return r;
		if (!r)
			return puts_(l, out, value);
		if (put(l, out, value, ms) < 0 || puts_(l, out, repl) < 0)
			return -1;
		return put(l, out, value + me, len - me);
	}
	size_t search = 0, last_end = 0;
	bool matched_before = false;
	while (search <= len) {
		int r = pat_find(l, t, m, value, len, search, false, true, &ms, &me);
		if (r < 0)
			return r;
		if (!r)
			break;
		if (put(l, out, value + last_end, ms - last_end) < 0)
			return -1;
		if (me > last_end || ms == 0 || !matched_before)
			if (puts_(l, out, repl) < 0)
				return -1;
		matched_before = true;
		last_end = me;
		size_t width = 0;
		if (search < len) {
			uint32_t c;
			width = df_utf8_decode(value + search, len - search, &c);
		}
		if (search + width > me)
			search += width;
		else if (search + 1 > me)
			search++;
		else
			search = me;
	}
	return put(l, out, value + last_end, len - last_end);
}

static int process_dollar(lexer *l, hoist_buf *out)
{
	size_t st, n;
	next(l, &st, &n); /* '$' */
	hoist_buf name = HOIST_BUF_INIT(HOIST_DF_EXPAND_MAX);
	hoist_buf word = HOIST_BUF_INIT(HOIST_DF_EXPAND_MAX);
	hoist_buf repl = HOIST_BUF_INIT(HOIST_DF_EXPAND_MAX);
	int r = -1;

	if (peek(l) != '{') {
		if (process_name(l, &name) < 0)
			goto done;
		if (name.len == 0) {
			r = puts_(l, out, "$");
			goto done;
		}
		const char *v = get_env(l, name.data);
		if (!v && l->o->skip_unset) {
			r = puts_(l, out, "$");
			if (r == 0)
				r = puts_(l, out, name.data);
			goto done;
		}
		r = puts_(l, out, v ? v : "");
		goto done;
	}
	next(l, &st, &n); /* '{' */
	if (++l->depth > HOIST_DF_NEST_MAX) {
		r = hoist_error_set(&l->e, HOIST_E_LIMIT,
			"${...} nested more than %d deep", HOIST_DF_NEST_MAX);
		goto done;
	}
	uint32_t c = peek(l);
	if (c == LEX_EOF) {
		r = hoist_error_set(&l->e, HOIST_E_INVALID, "missing '}'");
		goto done;
	}
	if (c == '{' || c == '}' || c == ':') {
		r = hoist_error_set(&l->e, HOIST_E_INVALID, "bad substitution");
		goto done;
	}
	if (process_name(l, &name) < 0)
		goto done;
	size_t mst, mn;
	c = next(l, &mst, &mn);
	char chs[16];
	size_t chs_len = 0;
	if (c == LEX_EOF) {
		r = hoist_error_set(&l->e, HOIST_E_INVALID, "missing '}'");
		goto done;
	}
	memcpy(chs, l->s + mst, mn);
	chs_len = mn;
	bool null_is_unset = false;
	const char *v;

	switch (c) {
	case '}':
		v = get_env(l, name.data);
		if (!v && l->o->skip_unset) {
			r = hoist_buf_appendf(out, &l->e, "${%s}", name.data);
			goto done;
		}
		r = puts_(l, out, v ? v : "");
		goto done;
	case '/': {
		bool all = peek(l) == '/';
		if (all)
			next(l, &st, &n);
		if (process_stop_on(l, '/', true, &word, NULL) < 0) {
			if (peek(l) == LEX_EOF) {
				hoist_error_freep(&l->e);
				r = hoist_error_set(&l->e, HOIST_E_INVALID,
					"missing '/' in ${}");
			}
			goto done;
		}
		if (process_stop_on(l, '}', true, &repl, NULL) < 0) {
			if (peek(l) == LEX_EOF) {
				hoist_error_freep(&l->e);
				r = hoist_error_set(&l->e, HOIST_E_INVALID, "missing '}'");
			}
			goto done;
		}
		v = get_env(l, name.data);
		const char *pat = word.data ? word.data : "";
		const char *rep = repl.data ? repl.data : "";
		if (!v && l->o->skip_unset) {
			r = hoist_buf_appendf(out, &l->e, "${%s/%s/%s}", name.data,
				pat, rep);
			goto done;
		}
		r = replace_value(l, out, v ? v : "", pat, word.len, rep, all);
		goto done;
	}
	case ':':
		null_is_unset = true;
		c = next(l, &mst, &mn);
		if (mn) {
			memcpy(chs + chs_len, l->s + mst, mn);
			chs_len += mn;
		}
		break;
	case '+': case '-': case '?': case '#': case '%':
		break;
	default:
		r = hoist_error_set(&l->e, HOIST_E_INVALID,
			"unsupported modifier '%.*s' in substitution", (int)chs_len, chs);
		goto done;
	}

	if (process_stop_on(l, '}', c == '#' || c == '%', &word, NULL) < 0) {
		if (peek(l) == LEX_EOF) {
			hoist_error_freep(&l->e);
			r = hoist_error_set(&l->e, HOIST_E_INVALID, "missing '}'");
		}
		goto done;
	}
	const char *w = word.data ? word.data : "";
	v = get_env(l, name.data);
	bool set = v != NULL;
	if (!set && l->o->skip_unset) {
		r = hoist_buf_appendf(out, &l->e, "${%s%.*s%s}", name.data,
			(int)chs_len, chs, w);
		goto done;
	}
	bool empty = !set || !v[0];
	switch (c) {
	case '-':
		r = puts_(l, out, (!set || (null_is_unset && empty)) ? w : v);
		break;
	case '+':
		r = puts_(l, out, (!set || (null_is_unset && empty)) ? "" : w);
		break;
	case '?':
		if (!set || (null_is_unset && empty)) {
			if (w[0])
				r = hoist_error_set(&l->e, HOIST_E_INVALID,
					"variable '%s': %s", name.data, w);
			else
				r = hoist_error_set(&l->e, HOIST_E_INVALID,
					"variable '%s' is not allowed to be %s", name.data,
					set ? "empty" : "unset");
			break;
		}
		r = puts_(l, out, v);
		break;
	case '#': case '%': {
		bool greedy = w[0] == (char)c;
		const char *p = greedy ? w + 1 : w;
		r = trim_value(l, out, set ? v : "", p, strlen(p), c == '%', greedy);
		break;
	}
	default:
		r = hoist_error_set(&l->e, HOIST_E_INVALID,
			"unsupported modifier '%.*s' in substitution", (int)chs_len, chs);
	}
done:
	/* l->depth is restored by the caller */
	hoist_buf_release(&name);
	hoist_buf_release(&word);
	hoist_buf_release(&repl);
	return r < 0 ? -1 : 0;
}

static int process_single_quote(lexer *l, hoist_buf *out)
{
	size_t st, n;
	next(l, &st, &n);
	if (l->o->raw_quotes && put(l, out, "'", 1) < 0)
		return -1;
	for (;;) {
		uint32_t c = next(l, &st, &n);
		if (c == LEX_EOF)
			return hoist_error_set(&l->e, HOIST_E_INVALID,
				"unexpected end of text looking for a matching single quote");
		if (c == '\'')
			return l->o->raw_quotes ? put(l, out, "'", 1) : 0;
		if (put(l, out, l->s + st, n) < 0)
			return -1;
	}
}

static int process_double_quote(lexer *l, hoist_buf *out)
{
	size_t st, n;
	next(l, &st, &n);
	if (l->o->raw_quotes && put(l, out, "\"", 1) < 0)
		return -1;
	for (;;) {
		uint32_t c = peek(l);
		if (c == LEX_EOF)
			return hoist_error_set(&l->e, HOIST_E_INVALID,
				"unexpected end of text looking for a matching double quote");
		if (c == '"') {
			next(l, &st, &n);
			return l->o->raw_quotes ? put(l, out, "\"", 1) : 0;
		}
		if (c == '$') {
			int depth = l->depth;
			int r = process_dollar(l, out);
			l->depth = depth;
			if (r < 0)
				return r;
			continue;
		}
		c = next(l, &st, &n);
		if (c == l->o->escape) {
			if (l->raw_escapes && put(l, out, l->s + st, n) < 0)
				return -1;
			uint32_t p = peek(l);
			if (p == LEX_EOF)
				continue;
			if (p == '"' || p == '$' || p == l->o->escape)
				next(l, &st, &n);
		}
		if (put(l, out, l->s + st, n) < 0)
			return -1;
	}
}

static int process_stop_on(lexer *l, uint32_t stop, bool raw_escapes,
	hoist_buf *result, words *w)
{
	bool saved = l->raw_escapes;
	l->raw_escapes = raw_escapes;
	hoist_buf tmp = HOIST_BUF_INIT(HOIST_DF_EXPAND_MAX);
	int r = 0;
	uint32_t c;
	size_t st, n;
	while ((c = peek(l)) != LEX_EOF) {
		if (stop != LEX_EOF && c == stop) {
			next(l, &st, &n);
			goto out;
		}
		if (c == '$' || (!l->o->skip_quotes && (c == '\'' || c == '"'))) {
			hoist_buf_reset(&tmp);
			int depth = l->depth;
			r = c == '$' ? process_dollar(l, &tmp)
				: c == '\'' ? process_single_quote(l, &tmp)
				: process_double_quote(l, &tmp);
			l->depth = depth;
			if (r < 0)
				goto out;
			const char *d = tmp.data ? tmp.data : "";
			if ((r = put(l, result, d, tmp.len)) < 0)
				goto out;
			r = c == '$' ? w_add_string(l, w, d, tmp.len)
				: w_add_raw(l, w, d, tmp.len);
			if (r < 0)
				goto out;
			continue;
		}
		c = next(l, &st, &n);
		if (c == l->o->escape) {
			if (l->raw_escapes) {
				if ((r = w_add_raw(l, w, l->s + st, n)) < 0 ||
				    (r = put(l, result, l->s + st, n)) < 0)
					goto out;
			}
			c = next(l, &st, &n);
			if (c == LEX_EOF)
				break;
			r = w_add_raw(l, w, l->s + st, n);
		} else {
			r = w_add_char(l, w, c, l->s + st, n);
		}
		if (r < 0 || (r = put(l, result, l->s + st, n)) < 0)
			goto out;
	}
	if (stop != LEX_EOF) {
		char s[8];
		s[0] = (char)stop;
		s[1] = '\0';
		r = hoist_error_set(&l->e, HOIST_E_INVALID,
			"unexpected end of text looking for a matching '%s'", s);
	}
out:
	hoist_buf_release(&tmp);
	l->raw_escapes = saved;
	return r < 0 ? -1 : 0;
}

int df_lex(const df_lex_opts *o, const char *text, hoist_df_lookup_fn lookup,
	void *ud, char **result, char ***words_out, size_t *n_words,
	hoist_error **err)
{
	lexer l = {
		.o = o, .s = text, .len = strlen(text), .raw_escapes = o->raw_escapes,
		.lookup = lookup, .ud = ud, .budget = PATTERN_BUDGET,
	};
	hoist_buf res = HOIST_BUF_INIT(HOIST_DF_EXPAND_MAX);
	words w = { .word = HOIST_BUF_INIT(HOIST_DF_EXPAND_MAX) };
	int r = process_stop_on(&l, LEX_EOF, o->raw_escapes, &res,
		words_out ? &w : NULL);
	if (r == 0 && words_out && w.word.len)
		r = w_push(&l, &w);
	if (r < 0) {
		int code = l.e ? -l.e->code : -HOIST_E_INVALID;
		if (err && !*err)
			*err = l.e;
		else
			hoist_error_free(l.e);
		hoist_buf_release(&res);
		hoist_buf_release(&w.word);
		hoist_df_strv_free(w.v, w.n);
		return code;
	}
	hoist_buf_release(&w.word);
	if (result) {
		*result = res.data ? hoist_buf_steal(&res, NULL) : strdup("");
		if (!*result) {
			hoist_df_strv_free(w.v, w.n);
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		}
	}
	hoist_buf_release(&res);
	if (words_out) {
		*words_out = w.v;
		*n_words = w.n;
	}
	return 0;
}

static int wrap_expand(hoist_error **err, int r, const char *word)
{
	_cleanup_free_ char *q = df_quote_short(word);
	return hoist_error_wrap(err, -r, "expand '%s'", q ? q : "?");
}

int hoist_df_expand_word(char **out, const char *word, char escape,
	hoist_df_lookup_fn lookup, void *ud, hoist_error **err)
{
	df_lex_opts o = { .escape = (unsigned char)escape };
	int r = df_lex(&o, word, lookup, ud, out, NULL, NULL, err);
	return r < 0 ? wrap_expand(err, r, word) : 0;
}

int hoist_df_expand_words(char ***out, size_t *n, const char *text, char escape,
	hoist_df_lookup_fn lookup, void *ud, hoist_error **err)
{
	df_lex_opts o = { .escape = (unsigned char)escape };
	int r = df_lex(&o, text, lookup, ud, NULL, out, n, err);
	return r < 0 ? wrap_expand(err, r, text) : 0;
}

int hoist_df_expand_heredoc(char **out, const char *content,
	hoist_df_lookup_fn lookup, void *ud, hoist_error **err)
{
	df_lex_opts o = { .escape = '\\', .skip_quotes = true };
	int r = df_lex(&o, content, lookup, ud, out, NULL, NULL, err);
	return r < 0 ? hoist_error_wrap(err, -r, "expand heredoc") : 0;
}

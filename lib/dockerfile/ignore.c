/* .dockerignore, after moby/patternmatcher and its ignorefile reader.
 *
 * patternmatcher compiles each pattern to a Go regexp, except for three
 * shortcuts whose results differ from the regexp at the edges and which we
 * therefore keep: a pattern without wildcards compares for equality, one
 * that is literal but for a trailing "**" is a prefix test, and one that
 * starts with "**" and is literal after it is a suffix test ("**.md"
 * matches "a/b.md", "**" + "/x" also matches "x").  The regexp cases run
 * here as an NFA over the pattern's tokens: the same language, and the
 * same machinery answers "could this pattern match something below this
 * directory?" for the context walker. */
#include "hoist/dockerignore.h"

#include <fcntl.h>
#include <string.h>

#include "dockerfile/internal.h"
#include "hoist/buf.h"
#include "hoist/fs.h"
#include "util/cleanup.h"

enum {
	T_LIT,      /* one code point */
	T_ANY,      /* '?': one code point but '/' */
	T_STAR,     /* '*': any run without '/' */
	T_DSTAR,    /* "**" inside: any run of directories, or none */
	T_DSTAR_END,/* "**" at the end: .* */
	T_CLASS,    /* [...] */
};

enum { M_EXACT, M_PREFIX, M_SUFFIX, M_REGEXP };

typedef struct range {
	uint32_t lo, hi;
} range;

typedef struct tok {
	int kind;
	uint32_t cp;
	bool negated;    /* T_CLASS */
	range *ranges;   /* T_CLASS */
	size_t n_ranges;
} tok;

typedef struct pattern {
	char *text;      /* cleaned, without '!' */
	char *shown;     /* as listed: "!" + text for exceptions */
	bool exception;
	int mode;
	tok *toks;
	size_t n_toks;
} pattern;

struct hoist_dockerignore {
	pattern *pats;
	size_t n_pats;
	bool exceptions;
};

static void pattern_release(pattern *p)
{
	free(p->text);
	free(p->shown);
	for (size_t i = 0; i < p->n_toks; i++)
		free(p->toks[i].ranges);
	free(p->toks);
}

void hoist_dockerignore_free(hoist_dockerignore *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_pats; i++)
		pattern_release(&d->pats[i]);
	free(d->pats);
	free(d);
}

char *df_path_clean(const char *path)
{
	size_t n = strlen(path);
	if (n == 0)
		return strdup(".");
	bool rooted = path[0] == '/';
	char *out = malloc(n + 2);
	if (!out)
		return NULL;
	size_t w = 0, r = 0, dotdot = 0;
	if (rooted) {
		out[w++] = '/';
		r = dotdot = 1;
	}
	while (r < n) {
		if (path[r] == '/') {
			r++;
		} else if (path[r] == '.' && (r + 1 == n || path[r + 1] == '/')) {
			r++;
		} else if (path[r] == '.' && path[r + 1] == '.' &&
			   (r + 2 == n || path[r + 2] == '/')) {
			r += 2;
			if (w > dotdot) {
				w--;
				while (w > dotdot && out[w] != '/')
					w--;
			} else if (!rooted) {
				if (w > 0)
					out[w++] = '/';
				out[w++] = '.';
				out[w++] = '.';
				dotdot = w;
			}
		} else {
			if ((rooted && w != 1) || (!rooted && w != 0))
				out[w++] = '/';
			for (; r < n && path[r] != '/'; r++)
				out[w++] = path[r];
		}
	}
	if (w == 0)
		out[w++] = '.';
	out[w] = '\0';
	return out;
}

/* One element of a class, with Go's filepath.Match rules ('-' and ']'
 * must be escaped, a '\' needs a character after it). */
static int class_char(const char *p, size_t len, size_t *i, uint32_t *c)
{
	if (*i >= len || p[*i] == '-' || p[*i] == ']')
		return -1;
	if (p[*i] == '\\') {
		(*i)++;
		if (*i >= len)
			return -1;
	}
	*i += df_utf8_decode(p + *i, len - *i, c);
	return 0;
}

static int push_tok(pattern *pt, tok t)
{
	if (df_grow(&pt->toks, pt->n_toks) < 0) {
		free(t.ranges);
		return -1;
	}
	pt->toks[pt->n_toks++] = t;
	return 0;
}

/* 0 ok, -1 bad pattern, -2 out of memory */
static int compile(pattern *pt)
{
	const char *p = pt->text;
	size_t len = strlen(p);
	int mode = M_EXACT;
	for (size_t i = 0, iter = 0; i < len; iter++) {
		uint32_t c;
		i += df_utf8_decode(p + i, len - i, &c);
		tok t = { .kind = T_LIT, .cp = c };
		if (c == '*' && i < len && p[i] == '*') {
			i++;
			if (i < len && p[i] == '/')
				i++;
			if (i >= len) {
				t.kind = T_DSTAR_END;
				mode = mode == M_EXACT ? M_PREFIX : M_REGEXP;
			} else {
				t.kind = T_DSTAR;
				mode = M_REGEXP;
			}
			if (iter == 0)
				mode = M_SUFFIX;
		} else if (c == '*') {
			t.kind = T_STAR;
			mode = M_REGEXP;
		} else if (c == '?') {
			t.kind = T_ANY;
			mode = M_REGEXP;
		} else if (c == '\\') {
			if (i >= len)
				return -1;
			i += df_utf8_decode(p + i, len - i, &t.cp);
			mode = M_REGEXP;
		} else if (c == '[') {
			t.kind = T_CLASS;
			mode = M_REGEXP;
			if (i < len && p[i] == '^') {
				t.negated = true;
				i++;
			}
			for (;;) {
				if (i < len && p[i] == ']' && t.n_ranges > 0) {
					i++;
					break;
				}
				range rg;
				if (class_char(p, len, &i, &rg.lo) < 0) {
					free(t.ranges);
					return -1;
				}
				rg.hi = rg.lo;
				if (i < len && p[i] == '-') {
					i++;
					if (class_char(p, len, &i, &rg.hi) < 0) {
						free(t.ranges);
						return -1;
					}
				}
				if (df_grow(&t.ranges, t.n_ranges) < 0) {
					free(t.ranges);
					return -2;
				}
				t.ranges[t.n_ranges++] = rg;
			}
		} else if (c == ']') {
			mode = M_REGEXP;
		}
		if (push_tok(pt, t) < 0)
			return -2;
	}
	pt->mode = mode;
	return 0;
}

static bool class_has(const tok *t, uint32_t c)
{
	bool in = false;
	for (size_t i = 0; i < t->n_ranges && !in; i++)
		in = c >= t->ranges[i].lo && c <= t->ranges[i].hi;
	return in != t->negated;
}

/* NFA states: 0..n (n accepts); for T_DSTAR at i, state n+1+i is "inside
 * the run of directories, before its closing slash". */
typedef struct nfa {
	const pattern *p;
	size_t n;
	bool *cur;
	bool *nxt;
} nfa;

static void closure(nfa *m, bool *set)
{
	for (size_t i = 0; i < m->n; i++) {
		int k = m->p->toks[i].kind;
		if (set[i] && (k == T_STAR || k == T_DSTAR || k == T_DSTAR_END))
			set[i + 1] = true;
	}
}

static void step(nfa *m, uint32_t c)
{
	size_t n = m->n;
	memset(m->nxt, 0, (2 * n + 1) * sizeof(bool));
	for (size_t i = 0; i < n; i++) {
		const tok *t = &m->p->toks[i];
		bool here = m->cur[i], inside = t->kind == T_DSTAR && m->cur[n + 1 + i];
		if (!here && !inside)
			continue;
		switch (t->kind) {
		case T_LIT:
			if (c == t->cp)
				m->nxt[i + 1] = true;
			break;
		case T_ANY:
			if (c != '/')
				m->nxt[i + 1] = true;
			break;
		case T_CLASS:
			if (class_has(t, c))
				m->nxt[i + 1] = true;
			break;
		case T_STAR:
			if (c != '/')
				m->nxt[i] = true;
			break;
		case T_DSTAR_END:
			if (c != '\n')
				m->nxt[i] = true;
			break;
		case T_DSTAR:
			if (c == '\n')
				break;
			m->nxt[n + 1 + i] = true;
			if (c == '/')
				m->nxt[i + 1] = true;
			break;
		}
	}
	bool *x = m->cur;
	m->cur = m->nxt;
	m->nxt = x;
	closure(m, m->cur);
}

/* Runs the NFA over s; *alive: some state other than the final one is
 * still active (a longer string could match). */
static bool run_nfa(const pattern *p, const char *s, size_t len, bool *alive)
{
	size_t n = p->n_toks;
	bool *mem = calloc(2 * (2 * n + 1), sizeof(bool));
	if (!mem) {
		if (alive)
			*alive = true;
		return false;
	}
	nfa m = { p, n, mem, mem + 2 * n + 1 };
	m.cur[0] = true;
	closure(&m, m.cur);
	for (size_t i = 0; i < len;) {
		uint32_t c;
		i += df_utf8_decode(s + i, len - i, &c);
		step(&m, c);
	}
	bool ok = m.cur[n];
	if (alive) {
		*alive = false;
		for (size_t i = 0; i < 2 * n + 1; i++)
			if (m.cur[i] && i != n)
				*alive = true;
	}
	free(mem);
	return ok;
}

static bool has_prefix(const char *s, size_t len, const char *pre, size_t plen)
{
	return len >= plen && !memcmp(s, pre, plen);
}

static bool pattern_match(const pattern *p, const char *s, size_t len)
{
	size_t tl = strlen(p->text);
	switch (p->mode) {
	case M_EXACT:
		return len == tl && !memcmp(s, p->text, len);
	case M_PREFIX:
		return has_prefix(s, len, p->text, tl - 2);
	case M_SUFFIX: {
		const char *suf = p->text + 2;
		size_t sl = tl - 2;
		if (len >= sl && !memcmp(s + len - sl, suf, sl))
			return true;
		return sl > 0 && suf[0] == '/' && len == sl - 1 &&
			!memcmp(s, suf + 1, sl - 1);
	}
	default:
		return run_nfa(p, s, len, NULL);
	}
}

/* The path or one of its parent directories matches. */
static bool match_or_parent(const pattern *p, const char *path)
{
	size_t len = strlen(path);
	if (pattern_match(p, path, len))
		return true;
	for (size_t i = 0; i < len; i++)
		if (path[i] == '/' && pattern_match(p, path, i))
			return true;
	return false;
}

static char *clean_rel(const char *path)
{
	char *c = df_path_clean(path);
	if (c && c[0] == '/') {
		/* the context root is "/" to nobody: treat "/a" as "a" */
		memmove(c, c + 1, strlen(c));
		if (!c[0]) {
			free(c);
			c = strdup(".");
		}
	}
	return c;
}

bool hoist_dockerignore_matches(const hoist_dockerignore *d, const char *path)
{
	_cleanup_free_ char *f = clean_rel(path);
	if (!f || !strcmp(f, "."))
		return false;
	bool matched = false;
	for (size_t i = 0; i < d->n_pats; i++) {
		const pattern *p = &d->pats[i];
		if (p->exception != matched)
			continue;
		if (match_or_parent(p, f))
			matched = !p->exception;
	}
	return matched;
}

/* Could p match some path strictly below dir? */
static bool may_match_below(const pattern *p, const char *dir)
{
	_cleanup_free_ char *pre = NULL;
	if (asprintf(&pre, "%s/", dir) < 0)
		return true;
	size_t pl = strlen(pre), tl = strlen(p->text);
	switch (p->mode) {
	case M_EXACT:
		return has_prefix(p->text, tl, pre, pl);
	case M_PREFIX:
		return has_prefix(p->text, tl - 2, pre, pl) ||
			has_prefix(pre, pl, p->text, tl - 2);
	case M_SUFFIX:
		return true;
	default: {
		bool alive;
		bool ok = run_nfa(p, pre, pl, &alive);
		return ok || alive;
	}
	}
}

bool hoist_dockerignore_may_reinclude(const hoist_dockerignore *d,
	const char *dir)
{
	_cleanup_free_ char *f = clean_rel(dir);
	if (!f)
		return true;
	if (!strcmp(f, "."))
		return d->exceptions;
	for (size_t i = 0; i < d->n_pats; i++) {
		const pattern *p = &d->pats[i];
		if (!p->exception)
			continue;
		if (match_or_parent(p, f) || may_match_below(p, f))
			return true;
	}
	return false;
}

bool hoist_dockerignore_has_exceptions(const hoist_dockerignore *d)
{
	return d->exceptions;
}

size_t hoist_dockerignore_n_patterns(const hoist_dockerignore *d)
{
	return d->n_pats;
}

const char *hoist_dockerignore_pattern(const hoist_dockerignore *d, size_t i)
{
	return i < d->n_pats ? d->pats[i].shown : NULL;
}

/* ASCII blanks (Go's TrimSpace also trims Unicode spaces; see
 * df_is_space). */
static void trim(const char **s, size_t *n)
{
	uint32_t c;
	while (*n) {
		size_t k = df_utf8_decode(*s, *n, &c);
		if (!df_is_space(c))
			break;
		*s += k;
		*n -= k;
	}
	size_t end = 0;
	for (size_t j = 0; j < *n;) {
		j += df_utf8_decode(*s + j, *n - j, &c);
		if (!df_is_space(c))
			end = j;
	}
	*n = end;
}

static int add_line(hoist_dockerignore *d, const char *name, int line,
	const char *s, size_t n, hoist_error **err)
{
	/* ignorefile.ReadAll */
	if (n && s[0] == '#')
		return 0;
	trim(&s, &n);
	if (n == 0)
		return 0;
	bool invert = s[0] == '!';
	if (invert) {
		s++;
		n--;
		trim(&s, &n);
	}
	_cleanup_free_ char *raw = strndup(s, n);
	if (!raw)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	_cleanup_free_ char *text = NULL;
	if (n) {
		text = df_path_clean(raw);
		if (text && strlen(text) > 1 && text[0] == '/')
			memmove(text, text + 1, strlen(text));
	} else {
		text = strdup("");
	}
	if (!text)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	/* patternmatcher.New: "!" alone is an error; the rest is cleaned once
	 * more (a no-op on a clean path) */
	if (invert && !text[0])
		return hoist_error_set(err, HOIST_E_INVALID,
			"%s:%d: illegal exclusion pattern '!'", name, line);
	if (strlen(text) > HOIST_DOCKERIGNORE_PATTERN_MAX)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"%s:%d: pattern longer than %d bytes", name, line,
			HOIST_DOCKERIGNORE_PATTERN_MAX);
	if (df_grow(&d->pats, d->n_pats) < 0)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	pattern *p = &d->pats[d->n_pats];
	memset(p, 0, sizeof(*p));
	p->exception = invert;
	p->text = steal_ptr(&text);
	if (asprintf(&p->shown, "%s%s", invert ? "!" : "", p->text) < 0) {
		p->shown = NULL;
		pattern_release(p);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	int r = compile(p);
	if (r < 0) {
		_cleanup_free_ char *q = df_quote_short(p->text);
		pattern_release(p);
		if (r == -2)
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		return hoist_error_set(err, HOIST_E_INVALID, "%s:%d: bad pattern '%s'",
			name, line, q ? q : "?");
	}
	d->n_pats++;
	d->exceptions |= invert;
	return 0;
}

int hoist_dockerignore_parse(hoist_dockerignore **out, const char *name,
	const char *data, size_t len, hoist_error **err)
{
	if (len > HOIST_DOCKERIGNORE_MAX)
		return hoist_error_set(err, HOIST_E_LIMIT, "%s: larger than %d bytes",
			name, HOIST_DOCKERIGNORE_MAX);
	hoist_dockerignore *d = calloc(1, sizeof(*d));
	if (!d)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	int line = 0;
	for (size_t pos = 0; pos < len;) {
		const char *s = data + pos;
		const char *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos;
		pos += n + (nl ? 1 : 0);
		line++;
		if (line == 1 && n >= 3 && !memcmp(s, "\xef\xbb\xbf", 3)) {
			s += 3;
			n -= 3;
		}
		if (n && s[n - 1] == '\r')
			n--;
		if (memchr(s, '\0', n)) {
			hoist_dockerignore_free(d);
			return hoist_error_set(err, HOIST_E_INVALID, "%s:%d: NUL byte",
				name, line);
		}
		int r = add_line(d, name, line, s, n, err);
		if (r < 0) {
			hoist_dockerignore_free(d);
			return r;
		}
	}
	*out = d;
	return 0;
}

int hoist_dockerignore_load(hoist_dockerignore **out, int context_dirfd,
	const char *dockerfile, hoist_error **err)
{
	hoist_buf b = HOIST_BUF_INIT(HOIST_DOCKERIGNORE_MAX);
	_cleanup_free_ char *alt = NULL;
	const char *name = ".dockerignore";
	int r = -HOIST_E_NOTFOUND;
	if (dockerfile) {
		if (asprintf(&alt, "%s.dockerignore", dockerfile) < 0)
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		hoist_error *e = NULL;
		r = hoist_fs_read_file(AT_FDCWD, alt, &b, &e);
		if (r < 0 && r != -HOIST_E_NOTFOUND) {
			hoist_buf_release(&b);
			if (err && !*err)
				*err = e;
			else
				hoist_error_free(e);
			return hoist_error_wrap(err, -r, "read '%s'", alt);
		}
		hoist_error_free(e);
		if (r == 0)
			name = alt;
	}
	if (r < 0) {
		hoist_error *e = NULL;
		hoist_buf_reset(&b);
		r = hoist_fs_read_file(context_dirfd, ".dockerignore", &b, &e);
		if (r == -HOIST_E_NOTFOUND) {
			hoist_error_free(e);
			hoist_buf_release(&b);
			return hoist_dockerignore_parse(out, name, "", 0, err);
		}
		if (r < 0) {
			hoist_buf_release(&b);
			if (err && !*err)
				*err = e;
			else
				hoist_error_free(e);
			return hoist_error_wrap(err, -r, "read '.dockerignore'");
		}
	}
	r = hoist_dockerignore_parse(out, name, b.data ? b.data : "", b.len, err);
	hoist_buf_release(&b);
	return r;
}

/* The Dockerfile parser, after BuildKit's frontend/dockerfile/parser and
 * instructions packages: the same line handling (parser directives, the
 * escape character as line continuation, comment and empty lines inside
 * continuations, heredocs), the same per-instruction argument forms (JSON
 * when the whole rest is a JSON array of strings, words that keep their
 * quotes for the builder to process, key=value pairs and their old forms)
 * and the same flag rules.  Unlike BuildKit, every instruction is checked
 * here, so an executor never meets a malformed one. */
#include "dockerfile/internal.h"

#include <ctype.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "hoist/buf.h"
#include "hoist/fs.h"
#include "hoist/strset.h"
#include "util/cleanup.h"

typedef struct reader {
	const char *data;
	size_t len;
	size_t pos;
	int line; /* lines consumed so far */
} reader;

typedef struct parser {
	const char *name;
	hoist_dockerfile *df;
	uint32_t escape;
	bool directives_done;
	bool seen_escape;
	bool seen_syntax;
	bool seen_check;
	hoist_strset stage_names;
	hoist_error **err;
} parser;

static bool read_line(reader *r, const char **p, size_t *n)
{
	if (r->pos >= r->len)
		return false;
	const char *s = r->data + r->pos;
	const char *nl = memchr(s, '\n', r->len - r->pos);
	size_t k = nl ? (size_t)(nl - s) + 1 : r->len - r->pos;
	*p = s;
	*n = k;
	r->pos += k;
	r->line++;
	return true;
}

static size_t trim_newline(const char *p, size_t n)
{
	while (n && (p[n - 1] == '\n' || p[n - 1] == '\r'))
		n--;
	return n;
}

/* Bytes of leading white space (Go's unicode.IsSpace). */
static size_t lspace(const char *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint32_t c;
		size_t k = df_utf8_decode(p + i, n - i, &c);
		if (!df_is_space(c))
			break;
		i += k;
	}
	return i;
}

/* strings.TrimSpace */
static void trim_space(const char **p, size_t *n)
{
	size_t i = lspace(*p, *n);
	*p += i;
	*n -= i;
	size_t end = 0;
	for (size_t j = 0; j < *n;) {
		uint32_t c;
		j += df_utf8_decode(*p + j, *n - j, &c);
		if (!df_is_space(c))
			end = j;
	}
	*n = end;
}

/* The blanks of BuildKit's `[\t\v\f\r ]+` separator. */
static bool is_sep(char c)
{
	return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

/* RE2's \s */
static bool is_re_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static int nomem(parser *p)
{
	return hoist_error_set(p->err, HOIST_E_NOMEM, "out of memory");
}

/* "NAME:LINE: WHAT: message" (WHAT may be NULL). */
static int perr(parser *p, int line, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int perr(parser *p, int line, const char *what, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = NULL;
	int k = vasprintf(&m, fmt, ap);
	va_end(ap);
	if (k < 0)
		return nomem(p);
	int r = what
		? hoist_error_set(p->err, HOIST_E_INVALID, "%s:%d: %s: %s", p->name,
			line, what, m)
		: hoist_error_set(p->err, HOIST_E_INVALID, "%s:%d: %s", p->name, line, m);
	free(m);
	return r;
}

static int warn(parser *p, int line, const char *msg)
{
	char *w = NULL;
	if (asprintf(&w, "%s:%d: %s", p->name, line, msg) < 0)
		return nomem(p);
	if (df_strv_push(&p->df->warnings, &p->df->n_warnings, w) < 0)
		return nomem(p);
	return 0;
}

/* Parser directives: `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` on the
 * lines before anything else; the first line that is not one ends them. */
static int directive(parser *p, const char *s, size_t n, int line)
{
	if (p->directives_done)
		return 0;
	_cleanup_free_ char *key = NULL;
	_cleanup_free_ char *val = NULL;
	size_t i = 1;
	if (n == 0 || s[0] != '#')
		goto done;
	while (i < n && is_re_space(s[i]))
		i++;
	size_t ks = i;
	if (i >= n || !isalpha((unsigned char)s[i]))
		goto done;
	while (i < n && isalnum((unsigned char)s[i]))
		i++;
	size_t ke = i;
	while (i < n && is_re_space(s[i]))
		i++;
	if (i >= n || s[i] != '=')
		goto done;
	i++;
	size_t ws = i;
	while (i < n && is_re_space(s[i]))
		i++;
	size_t vs = i, ve = n;
	while (ve > vs && is_re_space(s[ve - 1]))
		ve--;
	if (ve == vs) {
		/* (.+?) still takes one character: the last blank */
		if (n == ws)
			goto done;
		vs = n - 1;
		ve = n;
	}
	key = strndup(s + ks, ke - ks);
	val = strndup(s + vs, ve - vs);
	if (!key || !val)
		return nomem(p);
	for (char *c = key; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	bool *seen = !strcmp(key, "escape") ? &p->seen_escape
		: !strcmp(key, "syntax") ? &p->seen_syntax
		: !strcmp(key, "check") ? &p->seen_check : NULL;
	if (!seen)
		goto done;
	if (*seen)
		return perr(p, line, NULL, "only one '%s' parser directive can be used",
			key);
	*seen = true;
	if (!strcmp(key, "escape")) {
		if (strcmp(val, "\\") && strcmp(val, "`"))
			return perr(p, line, NULL,
				"invalid escape token '%s': must be '\\' or '`'", val);
		p->escape = (unsigned char)val[0];
		p->df->escape = val[0];
	} else if (!strcmp(key, "syntax")) {
		p->df->syntax = steal_ptr(&val);
	}
	return 0;
done:
	p->directives_done = true;
	return 0;
}

/* The escape character at the end of a line (before blanks) continues it,
 * unless it is itself escaped.  Returns the length to keep. */
static size_t trim_continuation(parser *p, const char *s, size_t n, bool *cont)
{
	size_t e = n;
	while (e && (s[e - 1] == ' ' || s[e - 1] == '\t'))
		e--;
	*cont = false;
	if (e == 0 || (unsigned char)s[e - 1] != p->escape)
		return n;
	if (e >= 2 && (unsigned char)s[e - 2] == p->escape)
		return n;
	*cont = true;
	return e - 1;
}

typedef struct kind_def {
	const char *name;
	hoist_df_kind kind;
} kind_def;

static const kind_def kinds[] = {
	{ "from", HOIST_DF_FROM }, { "run", HOIST_DF_RUN }, { "cmd", HOIST_DF_CMD },
	{ "label", HOIST_DF_LABEL }, { "maintainer", HOIST_DF_MAINTAINER },
	{ "expose", HOIST_DF_EXPOSE }, { "env", HOIST_DF_ENV }, { "add", HOIST_DF_ADD },
	{ "copy", HOIST_DF_COPY }, { "entrypoint", HOIST_DF_ENTRYPOINT },
	{ "volume", HOIST_DF_VOLUME }, { "user", HOIST_DF_USER },
	{ "workdir", HOIST_DF_WORKDIR }, { "arg", HOIST_DF_ARG },
	{ "onbuild", HOIST_DF_ONBUILD }, { "stopsignal", HOIST_DF_STOPSIGNAL },
	{ "healthcheck", HOIST_DF_HEALTHCHECK }, { "shell", HOIST_DF_SHELL },
};

enum { F_BOOL, F_STRING, F_STRINGS };
typedef struct flag_def {
	hoist_df_kind kind;
	const char *name;
	int type;
} flag_def;

static const flag_def flag_defs[] = {
	{ HOIST_DF_FROM, "platform", F_STRING },
	{ HOIST_DF_RUN, "mount", F_STRINGS },
	{ HOIST_DF_RUN, "network", F_STRING },
	{ HOIST_DF_RUN, "security", F_STRING },
	{ HOIST_DF_COPY, "from", F_STRING },
	{ HOIST_DF_COPY, "chown", F_STRING },
	{ HOIST_DF_COPY, "chmod", F_STRING },
	{ HOIST_DF_COPY, "link", F_BOOL },
	{ HOIST_DF_COPY, "parents", F_BOOL },
	{ HOIST_DF_COPY, "exclude", F_STRINGS },
	{ HOIST_DF_ADD, "chown", F_STRING },
	{ HOIST_DF_ADD, "chmod", F_STRING },
	{ HOIST_DF_ADD, "link", F_BOOL },
	{ HOIST_DF_ADD, "keep-git-dir", F_BOOL },
	{ HOIST_DF_ADD, "checksum", F_STRING },
	{ HOIST_DF_ADD, "exclude", F_STRINGS },
	{ HOIST_DF_HEALTHCHECK, "interval", F_STRING },
	{ HOIST_DF_HEALTHCHECK, "timeout", F_STRING },
	{ HOIST_DF_HEALTHCHECK, "start-period", F_STRING },
	{ HOIST_DF_HEALTHCHECK, "start-interval", F_STRING },
	{ HOIST_DF_HEALTHCHECK, "retries", F_STRING },
};

/* BuildKit's extractBuilderFlags: the leading "--words" (quotes removed,
 * '\' escapes) up to the first word not starting with "--", or "--". */
static int extract_flags(parser *p, const char *line, char ***words, size_t *nw,
	const char **rest)
{
	enum { IN_SPACES, IN_WORD, IN_QUOTE } phase = IN_SPACES;
	hoist_buf word = HOIST_BUF_INIT(HOIST_DOCKERFILE_MAX);
	bool blank_ok = false;
	char quote = 0;
	size_t len = strlen(line);
	*rest = line + len;
	int r = 0;
	for (size_t pos = 0; pos <= len; pos++) {
		char ch = pos < len ? line[pos] : 0;
		bool sp = df_is_space((unsigned char)ch);
		if (phase == IN_SPACES) {
			if (pos == len)
				break;
			if (sp)
				continue;
			if (ch != '-' || pos + 1 == len || line[pos + 1] != '-') {
				*rest = line + pos;
				break;
			}
			phase = IN_WORD;
		}
		bool dashdash = word.len == 2 && !memcmp(word.data, "--", 2);
		if (pos == len) {
			if (!dashdash && (blank_ok || word.len))
				r = df_strv_push(words, nw, strndup(word.data ? word.data : "",
					word.len));
			break;
		}
		if (phase == IN_WORD) {
			if (sp) {
				phase = IN_SPACES;
				if (dashdash) {
					*rest = line + pos;
					break;
				}
				if (blank_ok || word.len)
					if ((r = df_strv_push(words, nw, strndup(word.data ?
							word.data : "", word.len))) < 0)
						break;
				hoist_buf_reset(&word);
				blank_ok = false;
				continue;
			}
			if (ch == '\'' || ch == '"') {
				quote = ch;
				blank_ok = true;
				phase = IN_QUOTE;
				continue;
			}
			if (ch == '\\') {
				if (pos + 1 == len)
					continue;
				ch = line[++pos];
			}
		} else {
			if (ch == quote) {
				phase = IN_WORD;
				continue;
			}
			if (ch == '\\') {
				if (pos + 1 == len) {
					phase = IN_WORD;
					continue;
				}
				ch = line[++pos];
			}
		}
		if ((r = hoist_buf_append(&word, &ch, 1, p->err)) < 0)
			break;
	}
	hoist_buf_release(&word);
	return r < 0 ? nomem(p) : 0;
}

/* BuildKit's parseWords: words at unquoted blanks, quotes and escapes
 * kept for the builder's lexer. */
static int parse_words(parser *p, const char *rest, char ***out, size_t *n)
{
	enum { IN_SPACES, IN_WORD, IN_QUOTE } phase = IN_SPACES;
	hoist_buf word = HOIST_BUF_INIT(HOIST_DOCKERFILE_MAX);
	bool blank_ok = false;
	uint32_t quote = 0, ch = 0;
	size_t len = strlen(rest), w = 0;
	int r = 0;
	for (size_t pos = 0; pos <= len; pos += w) {
		if (pos != len)
			w = df_utf8_decode(rest + pos, len - pos, &ch);
		if (phase == IN_SPACES) {
			if (pos == len)
				break;
			if (df_is_space(ch))
				continue;
			phase = IN_WORD;
		}
		if (pos == len) {
			if (blank_ok || word.len)
				r = df_strv_push(out, n, strndup(word.data ? word.data : "",
					word.len));
			break;
		}
		size_t at = pos;
		if (phase == IN_WORD) {
			if (df_is_space(ch)) {
				phase = IN_SPACES;
				if (blank_ok || word.len)
					if ((r = df_strv_push(out, n, strndup(word.data ?
							word.data : "", word.len))) < 0)
						break;
				hoist_buf_reset(&word);
				blank_ok = false;
				continue;
			}
			if (ch == '\'' || ch == '"') {
				quote = ch;
				blank_ok = true;
				phase = IN_QUOTE;
			}
			if (ch == p->escape) {
				if (pos + w == len)
					continue;
				if ((r = hoist_buf_append(&word, rest + pos, w, NULL)) < 0)
					break;
				pos += w;
				at = pos;
				w = df_utf8_decode(rest + pos, len - pos, &ch);
			}
		} else {
			if (ch == quote)
				phase = IN_WORD;
			if (ch == p->escape && quote != '\'') {
				if (pos + w == len) {
					phase = IN_WORD;
					continue;
				}
				if ((r = hoist_buf_append(&word, rest + pos, w, NULL)) < 0)
					break;
				pos += w;
				at = pos;
				w = df_utf8_decode(rest + pos, len - pos, &ch);
			}
		}
		if ((r = hoist_buf_append(&word, rest + at, w, NULL)) < 0)
			break;
	}
	hoist_buf_release(&word);
	return r < 0 ? nomem(p) : 0;
}

static int split_blanks(parser *p, const char *rest, char ***out, size_t *n)
{
	const char *s = rest;
	while (*s) {
		while (*s && is_sep(*s))
			s++;
		if (!*s)
			break;
		const char *e = s;
		while (*e && !is_sep(*e))
			e++;
		if (df_strv_push(out, n, strndup(s, (size_t)(e - s))) < 0)
			return nomem(p);
		s = e;
	}
	return 0;
}

/* JSON form: 1 when rest is a JSON array of strings (into args), 0 when
 * it is not JSON, <0 when it is a JSON array holding something else. */
static int parse_json(parser *p, const char *rest, hoist_df_instr *in,
	const char *what)
{
	if (rest[0] != '[')
		return 0;
	json_error_t je;
	json_t *j = json_loads(rest, 0, &je);
	if (!j)
		return 0;
	if (!json_is_array(j)) {
		json_decref(j);
		return 0;
	}
	size_t i;
	json_t *v;
	json_array_foreach(j, i, v) {
		if (!json_is_string(v)) {
			json_decref(j);
			hoist_df_strv_free(in->args, in->n_args);
			in->args = NULL;
			in->n_args = 0;
			return perr(p, in->line, what,
				"a JSON array must hold strings only");
		}
		if (df_strv_pushdup(&in->args, &in->n_args, json_string_value(v)) < 0) {
			json_decref(j);
			return nomem(p);
		}
	}
	json_decref(j);
	in->json = true;
	return 1;
}

/* parseMaybeJSON: JSON, else the raw text as cmdline. */
static int parse_maybe_json(parser *p, const char *rest, hoist_df_instr *in,
	const char *what)
{
	if (!rest[0])
		return 0;
	int r = parse_json(p, rest, in, what);
	if (r != 0)
		return r < 0 ? r : 0;
	if (!(in->cmdline = strdup(rest)))
		return nomem(p);
	return 0;
}

/* parseMaybeJSONToList: JSON, else blank-separated words. */
static int parse_maybe_json_list(parser *p, const char *rest, hoist_df_instr *in,
	const char *what)
{
	int r = parse_json(p, rest, in, what);
	if (r != 0)
		return r < 0 ? r : 0;
	return split_blanks(p, rest, &in->args, &in->n_args);
}

static int push_kv(parser *p, hoist_df_instr *in, const char *k, size_t klen,
	const char *v)
{
	if (df_grow(&in->kvs, in->n_kvs) < 0)
		return nomem(p);
	hoist_df_kv *kv = &in->kvs[in->n_kvs];
	kv->key = strndup(k, klen);
	kv->value = v ? strdup(v) : NULL;
	in->n_kvs++;
	if (!kv->key || (v && !kv->value))
		return nomem(p);
	return 0;
}

/* ENV and LABEL: "k=v k2='v 2'" or the old "k the value". */
static int parse_name_val(parser *p, const char *rest, hoist_df_instr *in,
	const char *what)
{
	char **words = NULL;
	size_t n = 0;
	int r = parse_words(p, rest, &words, &n);
	if (r < 0 || n == 0)
		goto out;
	if (!strchr(words[0], '=')) {
		const char *e = rest;
		while (*e && !is_sep(*e))
			e++;
		const char *v = e;
		while (*v && is_sep(*v))
			v++;
		if (!*e || !*v) {
			r = perr(p, in->line, what, "must have two arguments");
			goto out;
		}
		r = push_kv(p, in, rest, (size_t)(e - rest), v);
		goto out;
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		const char *eq = strchr(words[i], '=');
		if (!eq) {
			_cleanup_free_ char *q = df_quote_short(words[i]);
			r = perr(p, in->line, what,
				"missing '=' in '%s': must be of the form name=value", q);
			break;
		}
		r = push_kv(p, in, words[i], (size_t)(eq - words[i]), eq + 1);
	}
out:
	hoist_df_strv_free(words, n);
	return r;
}

static int parse_arg(parser *p, const char *rest, hoist_df_instr *in)
{
	char **words = NULL;
	size_t n = 0;
	int r = parse_words(p, rest, &words, &n);
	for (size_t i = 0; i < n && r == 0; i++) {
		const char *eq = strchr(words[i], '=');
		r = push_kv(p, in, words[i], eq ? (size_t)(eq - words[i])
			: strlen(words[i]), eq ? eq + 1 : NULL);
	}
	hoist_df_strv_free(words, n);
	return r;
}

/* Go's time.ParseDuration, in nanoseconds. */
static int parse_duration(const char *s, int64_t *out)
{
	const char *p = s;
	bool neg = false;
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (!strcmp(p, "0")) {
		*out = 0;
		return 0;
	}
	if (!*p)
		return -1;
	double total = 0;
	while (*p) {
		if (!(isdigit((unsigned char)*p) || (*p == '.' &&
				isdigit((unsigned char)p[1]))))
			return -1;
		double v = 0;
		while (isdigit((unsigned char)*p))
			v = v * 10 + (*p++ - '0');
		if (*p == '.') {
			double scale = 0.1;
			for (p++; isdigit((unsigned char)*p); p++, scale /= 10)
				v += (*p - '0') * scale;
		}
		static const struct { const char *u; double ns; } units[] = {
			{ "ns", 1 }, { "us", 1e3 }, { "\xc2\xb5s", 1e3 }, { "\xce\xbcs", 1e3 },
			{ "ms", 1e6 }, { "s", 1e9 }, { "m", 60e9 }, { "h", 3600e9 },
		};
		size_t best = 0, blen = 0;
		for (size_t i = 0; i < HOIST_ARRAY_SIZE(units); i++) {
			size_t l = strlen(units[i].u);
			if (!strncmp(p, units[i].u, l) && l > blen) {
				best = i;
				blen = l;
			}
		}
		if (!blen)
			return -1;
		total += v * units[best].ns;
		p += blen;
		if (total > 9.2e18)
			return -1;
	}
	*out = (int64_t)(neg ? -total : total);
	return 0;
}

static int parse_health(parser *p, const char *rest, hoist_df_instr *in)
{
	size_t sep = 0;
	while (rest[sep] && !df_is_space((unsigned char)rest[sep]))
		sep++;
	size_t nx = sep;
	while (rest[nx] && df_is_space((unsigned char)rest[nx]))
		nx++;
	if (sep == 0)
		return perr(p, in->line, "HEALTHCHECK", "requires at least one argument");
	if (sep == 4 && !strncasecmp(rest, "NONE", 4)) {
		if (rest[nx])
			return perr(p, in->line, "HEALTHCHECK", "NONE takes no arguments");
		in->health.none = true;
		return 0;
	}
	if (!(sep == 3 && !strncasecmp(rest, "CMD", 3))) {
		return perr(p, in->line, "HEALTHCHECK",
			"unknown type '%.*s' (try CMD or NONE)", (int)(sep > 40 ? 40 : sep),
			rest);
	}
	int r = parse_maybe_json(p, rest + nx, in, "HEALTHCHECK");
	if (r < 0)
		return r;
	if (!in->cmdline && (!in->json || in->n_args == 0))
		return perr(p, in->line, "HEALTHCHECK", "missing command after CMD");
	static const char *const names[] = {
		"interval", "timeout", "start-period", "start-interval",
	};
	int64_t *fields[] = {
		&in->health.interval, &in->health.timeout, &in->health.start_period,
		&in->health.start_interval,
	};
	for (size_t i = 0; i < HOIST_ARRAY_SIZE(names); i++) {
		const char *v = hoist_df_instr_flag(in, names[i]);
		if (!v || !v[0])
			continue;
		if (parse_duration(v, fields[i]) < 0)
			return perr(p, in->line, "HEALTHCHECK",
				"invalid duration '%s' for '--%s'", v, names[i]);
		if (*fields[i] != 0 && *fields[i] < 1000000)
			return perr(p, in->line, "HEALTHCHECK",
				"'--%s' cannot be less than 1ms", names[i]);
	}
	const char *rv = hoist_df_instr_flag(in, "retries");
	if (rv && rv[0]) {
		char *end;
		long long v = strtoll(rv, &end, 10);
		if (*end || end == rv || v > INT32_MAX || v < INT32_MIN ||
		    isspace((unsigned char)rv[0]))
			return perr(p, in->line, "HEALTHCHECK",
				"invalid value '%s' for '--retries'", rv);
		if (v < 0)
			return perr(p, in->line, "HEALTHCHECK",
				"'--retries' cannot be negative");
		in->health.retries = (int)v;
	}
	return 0;
}

static int parse_flags(parser *p, hoist_df_instr *in, char **words, size_t n,
	const char *what)
{
	for (size_t i = 0; i < n; i++) {
		const char *a = words[i] + 2;
		const char *eq = strchr(a, '=');
		size_t nl = eq ? (size_t)(eq - a) : strlen(a);
		const char *value = eq ? eq + 1 : "";
		const flag_def *def = NULL;
		for (size_t k = 0; k < HOIST_ARRAY_SIZE(flag_defs); k++)
			if (flag_defs[k].kind == in->kind && strlen(flag_defs[k].name) == nl &&
			    !strncmp(flag_defs[k].name, a, nl))
				def = &flag_defs[k];
		_cleanup_free_ char *shown = NULL;
		if (!def) {
			_cleanup_free_ char *nm = strndup(a, nl);
			shown = nm ? df_quote_short(nm) : NULL;
			return perr(p, in->line, what, "unknown flag '--%s'",
				shown ? shown : "?");
		}
		if (def->type != F_STRINGS && hoist_df_instr_flag(in, def->name))
			return perr(p, in->line, what, "duplicate flag '--%s'", def->name);
		if (def->type == F_BOOL) {
			if (eq && !value[0])
				return perr(p, in->line, what, "missing a value on flag '--%s'",
					def->name);
			if (!value[0] || !strcasecmp(value, "true")) {
				value = "true";
			} else if (!strcasecmp(value, "false")) {
				value = "false";
			} else {
				_cleanup_free_ char *q = df_quote_short(value);
				return perr(p, in->line, what,
					"expecting a boolean value for flag '--%s', not '%s'",
					def->name, q ? q : "?");
			}
		} else if (!eq) {
			return perr(p, in->line, what, "missing a value on flag '--%s'",
				def->name);
		}
		if (df_grow(&in->flags, in->n_flags) < 0)
			return nomem(p);
		hoist_df_flag *f = &in->flags[in->n_flags++];
		f->name = strdup(def->name);
		f->value = strdup(value);
		if (!f->name || !f->value)
			return nomem(p);
	}
	return 0;
}

static bool valid_stage_name(const char *s)
{
	if (!(*s >= 'a' && *s <= 'z'))
		return false;
	for (s++; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

static int one_arg(parser *p, hoist_df_instr *in, const char *args,
	const char *what)
{
	if (!args[0])
		return perr(p, in->line, what, "requires exactly one argument");
	return df_strv_pushdup(&in->args, &in->n_args, args) < 0 ? nomem(p) : 0;
}

static int parse_mounts(parser *p, hoist_df_instr *in, const char *what)
{
	for (size_t i = 0; i < in->n_flags; i++) {
		if (strcmp(in->flags[i].name, "mount"))
			continue;
		if (df_grow(&in->mounts, in->n_mounts) < 0)
			return nomem(p);
		hoist_error *e = NULL;
		int r = df_mount_parse(&in->mounts[in->n_mounts++], in->flags[i].value, &e);
		if (r < 0) {
			_cleanup_free_ char *q = df_quote_short(in->flags[i].value);
			r = perr(p, in->line, what, "--mount '%s': %s", q ? q : "?",
				e ? e->msg : "invalid");
			hoist_error_free(e);
			return r;
		}
	}
	return 0;
}

static int parse_instr(parser *p, const char *text, int line, const char *parent,
	hoist_df_instr *in);

static int parse_args(parser *p, hoist_df_instr *in, const char *args,
	const char *what)
{
	int r = 0;
	switch (in->kind) {
	case HOIST_DF_FROM:
		if ((r = split_blanks(p, args, &in->args, &in->n_args)) < 0)
			return r;
		if (in->n_args == 3 && !strcasecmp(in->args[1], "as")) {
			for (char *c = in->args[2]; *c; c++)
				*c = (char)tolower((unsigned char)*c);
			if (!valid_stage_name(in->args[2])) {
				_cleanup_free_ char *q = df_quote_short(in->args[2]);
				return perr(p, in->line, what, "invalid stage name '%s': it must "
					"start with a letter and hold only letters, digits, "
					"'-', '_' and '.'", q ? q : "?");
			}
		} else if (in->n_args != 1) {
			return perr(p, in->line, what,
				"requires either one or three arguments (image AS name)");
		}
		return 0;
	case HOIST_DF_RUN: {
		if ((r = parse_maybe_json(p, args, in, what)) < 0)
			return r;
		if (!in->json && !in->cmdline)
			return perr(p, in->line, what, "requires at least one argument");
		const char *net = hoist_df_instr_flag(in, "network");
		if (net && strcmp(net, "default") && strcmp(net, "none") &&
		    strcmp(net, "host")) {
			_cleanup_free_ char *q = df_quote_short(net);
			return perr(p, in->line, what,
				"unsupported network mode '%s' (default, none or host)", q);
		}
		const char *sec = hoist_df_instr_flag(in, "security");
		if (sec && strcmp(sec, "sandbox") && strcmp(sec, "insecure")) {
			_cleanup_free_ char *q = df_quote_short(sec);
			return perr(p, in->line, what,
				"unsupported security mode '%s' (sandbox or insecure)", q);
		}
		return parse_mounts(p, in, what);
	}
	case HOIST_DF_CMD:
	case HOIST_DF_ENTRYPOINT:
		if ((r = parse_maybe_json(p, args, in, what)) < 0)
			return r;
		if (!in->json && !in->cmdline)
			return perr(p, in->line, what, "requires at least one argument");
		return 0;
	case HOIST_DF_SHELL:
		if ((r = parse_maybe_json(p, args, in, what)) < 0)
			return r;
		if (in->cmdline)
			return perr(p, in->line, what,
				"requires the arguments in JSON form: SHELL [\"executable\", \"parameters\"]");
		if (in->n_args == 0)
			return perr(p, in->line, what, "requires at least one argument");
		return 0;
	case HOIST_DF_HEALTHCHECK:
		return parse_health(p, args, in);
	case HOIST_DF_ADD:
	case HOIST_DF_COPY: {
		if ((r = parse_maybe_json_list(p, args, in, what)) < 0)
			return r;
		if (in->n_args < 2)
			return perr(p, in->line, what,
				"requires at least two arguments: sources and a destination");
		_cleanup_free_ char *name = NULL;
		bool ex, ch;
		int fd;
		if (!in->json && df_heredoc_word(in->args[in->n_args - 1], &name, &ex,
				&ch, &fd, NULL) > 0)
			return perr(p, in->line, what,
				"a heredoc cannot be the destination");
		return 0;
	}
	case HOIST_DF_ENV:
	case HOIST_DF_LABEL:
		if ((r = parse_name_val(p, args, in, what)) < 0)
			return r;
		goto kvs;
	case HOIST_DF_ARG:
		if ((r = parse_arg(p, args, in)) < 0)
			return r;
kvs:
		if (in->n_kvs == 0)
			return perr(p, in->line, what, "requires at least one argument");
		for (size_t i = 0; i < in->n_kvs; i++)
			if (!in->kvs[i].key[0])
				return perr(p, in->line, what, "names can not be blank");
		return 0;
	case HOIST_DF_EXPOSE:
		if ((r = split_blanks(p, args, &in->args, &in->n_args)) < 0)
			return r;
		if (in->n_args == 0)
			return perr(p, in->line, what, "requires at least one argument");
		return 0;
	case HOIST_DF_VOLUME:
		if ((r = parse_maybe_json_list(p, args, in, what)) < 0)
			return r;
		if (in->n_args == 0)
			return perr(p, in->line, what, "requires at least one argument");
		for (size_t i = 0; i < in->n_args; i++) {
			const char *v = in->args[i];
			size_t n = strlen(v);
			trim_space(&v, &n);
			if (n == 0)
				return perr(p, in->line, what, "a volume cannot be empty");
			char *t = strndup(v, n);
			if (!t)
				return nomem(p);
			free(in->args[i]);
			in->args[i] = t;
		}
		return 0;
	case HOIST_DF_USER:
	case HOIST_DF_WORKDIR:
	case HOIST_DF_STOPSIGNAL:
	case HOIST_DF_MAINTAINER:
		return one_arg(p, in, args, what);
	case HOIST_DF_ONBUILD: {
		if (!args[0])
			return perr(p, in->line, what, "requires at least one argument");
		size_t k = 0;
		while (args[k] && !is_sep(args[k]))
			k++;
		if (k == 7 && !strncasecmp(args, "ONBUILD", 7))
			return perr(p, in->line, what,
				"chaining ONBUILD via 'ONBUILD ONBUILD' is not allowed");
		if ((k == 4 && !strncasecmp(args, "FROM", 4)) ||
		    (k == 10 && !strncasecmp(args, "MAINTAINER", 10)))
			return perr(p, in->line, what,
				"'%.*s' is not allowed as an ONBUILD trigger", (int)k, args);
		if (!(in->onbuild = calloc(1, sizeof(*in->onbuild))))
			return nomem(p);
		if ((r = parse_instr(p, args, in->line, "ONBUILD", in->onbuild)) < 0)
			return r;
		/* the trigger: the line without (?i)^\s*ONBUILD\s* */
		const char *o = in->original;
		o += lspace(o, strlen(o));
		o += 7;
		while (is_re_space(*o))
			o++;
		if (!(in->cmdline = strdup(o)))
			return nomem(p);
		return 0;
	}
	}
	return 0;
}

static int parse_instr(parser *p, const char *text, int line, const char *parent,
	hoist_df_instr *in)
{
	const char *s = text;
	size_t n = strlen(text);
	trim_space(&s, &n);
	size_t k = 0;
	while (k < n && !is_sep(s[k]))
		k++;
	size_t r0 = k;
	while (r0 < n && is_sep(s[r0]))
		r0++;
	const kind_def *kd = NULL;
	for (size_t i = 0; i < HOIST_ARRAY_SIZE(kinds); i++)
		if (strlen(kinds[i].name) == k && !strncasecmp(kinds[i].name, s, k))
			kd = &kinds[i];
	if (!kd) {
		_cleanup_free_ char *w = strndup(s, k);
		_cleanup_free_ char *q = w ? df_quote_short(w) : NULL;
		return perr(p, line, parent, "unknown instruction '%s'", q ? q : "?");
	}
	in->kind = kd->kind;
	in->line = in->end_line = line;
	char what[48];
	snprintf(what, sizeof(what), "%s%s%s", parent ? parent : "",
		parent ? ": " : "", hoist_df_kind_name(in->kind));
	_cleanup_free_ char *rest_all = strndup(s + r0, n - r0);
	if (!(in->original = strdup(text)) || !rest_all)
		return nomem(p);

	char **fw = NULL;
	size_t nfw = 0;
	const char *rest = NULL;
	int r = extract_flags(p, rest_all, &fw, &nfw, &rest);
	if (r == 0)
		r = parse_flags(p, in, fw, nfw, what);
	hoist_df_strv_free(fw, nfw);
	if (r < 0)
		return r;
	size_t an = strlen(rest);
	trim_space(&rest, &an);
	_cleanup_free_ char *args = strndup(rest, an);
	if (!args)
		return nomem(p);
	return parse_args(p, in, args, what);
}

/* The instruction that takes heredocs: RUN, COPY, ADD in shell form,
 * also wrapped in ONBUILD. */
static hoist_df_instr *heredoc_target(hoist_df_instr *in)
{
	hoist_df_instr *t = in->kind == HOIST_DF_ONBUILD ? in->onbuild : in;
	if (!t || t->json)
		return NULL;
	if (t->kind == HOIST_DF_RUN || t->kind == HOIST_DF_COPY ||
	    t->kind == HOIST_DF_ADD)
		return t;
	return NULL;
}

static char *strip_tabs(const char *s)
{
	size_t n = strlen(s);
	char *o = malloc(n + 1), *w = o;
	if (!o)
		return NULL;
	bool bol = true;
	for (; *s; s++) {
		if (bol && *s == '\t')
			continue;
		bol = *s == '\n';
		*w++ = *s;
	}
	*w = '\0';
	return o;
}

/* Finds the heredoc markers of the line (BuildKit lexes the whole line
 * with raw quotes and escapes) and reads their bodies from rd. */
static int read_heredocs(parser *p, reader *rd, const char *line,
	hoist_df_instr *in, hoist_df_instr *t)
{
	const char *what = hoist_df_kind_name(in->kind);
	df_lex_opts o = { .escape = '\\', .raw_quotes = true, .raw_escapes = true,
		.skip_unset = true };
	char **w = NULL;
	size_t n = 0;
	if (df_lex(&o, line, NULL, NULL, NULL, &w, &n, NULL) < 0)
		return 0;
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		hoist_df_heredoc h = { 0 };
		hoist_error *e = NULL;
		int k = df_heredoc_word(w[i], &h.name, &h.expand, &h.chomp, &h.fd, &e);
		if (k < 0) {
			r = perr(p, in->line, what, "%s", e ? e->msg : "bad heredoc");
			hoist_error_free(e);
			break;
		}
		if (k == 0)
			continue;
		if (df_grow(&t->heredocs, t->n_heredocs) < 0) {
			free(h.name);
			r = nomem(p);
			break;
		}
		t->heredocs[t->n_heredocs++] = h;
	}
	hoist_df_strv_free(w, n);
	if (r < 0)
		return r;

	for (size_t i = 0; i < t->n_heredocs; i++) {
		hoist_df_heredoc *h = &t->heredocs[i];
		hoist_buf body = HOIST_BUF_INIT(HOIST_DOCKERFILE_MAX);
		size_t nl = strlen(h->name);
		bool done = false;
		const char *lp;
		size_t ln;
		while (!done && read_line(rd, &lp, &ln)) {
			size_t tn = trim_newline(lp, ln);
			const char *tp = lp;
			if (h->chomp)
				while (tn && *tp == '\t') {
					tp++;
					tn--;
				}
			if (tn == nl && !memcmp(tp, h->name, nl))
				done = true;
			else if (hoist_buf_append(&body, lp, ln, p->err) < 0) {
				hoist_buf_release(&body);
				return -HOIST_E_LIMIT;
			}
		}
		in->end_line = t->end_line = rd->line;
		if (!done) {
			hoist_buf_release(&body);
			_cleanup_free_ char *q = df_quote_short(h->name);
			return perr(p, in->line, what, "unterminated heredoc '%s'", q);
		}
		_cleanup_free_ char *raw = body.data ? hoist_buf_steal(&body, NULL)
			: strdup("");
		if (!raw || !(h->content = h->chomp ? strip_tabs(raw) : strdup(raw)))
			return nomem(p);
		if (in->kind == HOIST_DF_ONBUILD) {
			char *x = NULL;
			if (asprintf(&x, "%s\n%s%s", in->cmdline, raw, h->name) < 0)
				return nomem(p);
			free(in->cmdline);
			in->cmdline = x;
		}
	}
	return 0;
}

static int add_stage(parser *p, hoist_df_instr *in)
{
	hoist_dockerfile *df = p->df;
	const char *name = in->n_args == 3 ? in->args[2] : NULL;
	if (name) {
		int k = hoist_strset_add(&p->stage_names, name);
		if (k < 0)
			return nomem(p);
		if (k == 0)
			return perr(p, in->line, "FROM", "duplicate stage name '%s'", name);
	}
	if (df_grow(&df->stages, df->n_stages) < 0)
		return nomem(p);
	hoist_df_stage *st = &df->stages[df->n_stages++];
	memset(st, 0, sizeof(*st));
	st->from = *in;
	memset(in, 0, sizeof(*in));
	st->line = st->from.line;
	const char *plat = hoist_df_instr_flag(&st->from, "platform");
	st->base = strdup(st->from.args[0]);
	st->name = name ? strdup(name) : NULL;
	st->platform = plat ? strdup(plat) : NULL;
	if (!st->base || (name && !st->name) || (plat && !st->platform))
		return nomem(p);
	return 0;
}

static int place(parser *p, hoist_df_instr *in)
{
	hoist_dockerfile *df = p->df;
	if (in->kind == HOIST_DF_FROM)
		return add_stage(p, in);
	hoist_df_instr **arr;
	size_t *n;
	if (df->n_stages == 0) {
		if (in->kind != HOIST_DF_ARG)
			return perr(p, in->line, hoist_df_kind_name(in->kind),
				"instruction before the first FROM");
		arr = &df->global_args;
		n = &df->n_global_args;
	} else {
		hoist_df_stage *st = &df->stages[df->n_stages - 1];
		arr = &st->instrs;
		n = &st->n_instrs;
	}
	if (df_grow(arr, *n) < 0)
		return nomem(p);
	(*arr)[(*n)++] = *in;
	memset(in, 0, sizeof(*in));
	return 0;
}

static int parse_all(parser *p, const char *data, size_t len)
{
	reader rd = { .data = data, .len = len };
	hoist_buf line = HOIST_BUF_INIT(HOIST_DOCKERFILE_MAX);
	hoist_df_instr cur = { 0 };
	const char *lp;
	size_t ln;
	int r = 0;

	while (read_line(&rd, &lp, &ln)) {
		if (rd.line == 1 && ln >= 3 && !memcmp(lp, "\xef\xbb\xbf", 3)) {
			lp += 3;
			ln -= 3;
		}
		size_t n = trim_newline(lp, ln);
		size_t ls = lspace(lp, n);
		const char *s = lp + ls;
		n -= ls;
		if ((r = directive(p, s, n, rd.line)) < 0)
			break;
		if (n && s[0] == '#')
			n = 0;
		int start = rd.line;
		bool cont;
		n = trim_continuation(p, s, n, &cont);
		if (!cont && n == 0)
			continue;
		hoist_buf_reset(&line);
		if ((r = hoist_buf_append(&line, s, n, p->err)) < 0)
			break;
		bool empty_cont = false;
		while (cont && read_line(&rd, &lp, &ln)) {
			size_t cn = trim_newline(lp, ln);
			size_t cls = lspace(lp, cn);
			if (cls < cn && lp[cls] == '#')
				continue;
			if (cls == cn) {
				empty_cont = true;
				continue;
			}
			cn = trim_continuation(p, lp, cn, &cont);
			if ((r = hoist_buf_append(&line, lp, cn, p->err)) < 0)
				break;
		}
		if (r < 0)
			break;
		const char *text = line.data ? line.data : "";
		const char *t = text;
		size_t tn = line.len;
		trim_space(&t, &tn);
		if (tn == 0)
			continue;
		if (empty_cont && (r = warn(p, start, "empty continuation line")) < 0)
			break;
		if ((r = parse_instr(p, text, start, NULL, &cur)) < 0)
			break;
		hoist_df_instr *ht = heredoc_target(&cur);
		if (ht && (r = read_heredocs(p, &rd, text, &cur, ht)) < 0)
			break;
		if (cur.kind == HOIST_DF_MAINTAINER &&
		    (r = warn(p, start, "MAINTAINER is deprecated: use LABEL "
				"maintainer=... instead")) < 0)
			break;
		if ((r = place(p, &cur)) < 0)
			break;
	}
	df_instr_release(&cur);
	hoist_buf_release(&line);
	if (r == 0 && p->df->n_stages == 0)
		r = perr(p, rd.line ? rd.line : 1, NULL, "no FROM instruction");
	return r;
}

void hoist_dockerfile_free(hoist_dockerfile *df)
{
	if (!df)
		return;
	free(df->name);
	free(df->syntax);
	for (size_t i = 0; i < df->n_global_args; i++)
		df_instr_release(&df->global_args[i]);
	free(df->global_args);
	for (size_t i = 0; i < df->n_stages; i++) {
		hoist_df_stage *st = &df->stages[i];
		df_instr_release(&st->from);
		free(st->base);
		free(st->name);
		free(st->platform);
		for (size_t k = 0; k < st->n_instrs; k++)
			df_instr_release(&st->instrs[k]);
		free(st->instrs);
	}
	free(df->stages);
	hoist_df_strv_free(df->warnings, df->n_warnings);
	free(df);
}

int hoist_dockerfile_parse(hoist_dockerfile **out, const char *name,
	const char *data, size_t len, hoist_error **err)
{
	if (len > HOIST_DOCKERFILE_MAX)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"%s: larger than %d bytes", name, HOIST_DOCKERFILE_MAX);
	const char *nul = memchr(data, '\0', len);
	if (nul) {
		int line = 1;
		for (const char *c = data; c < nul; c++)
			line += *c == '\n';
		return hoist_error_set(err, HOIST_E_INVALID, "%s:%d: NUL byte in file",
			name, line);
	}
	hoist_dockerfile *df = calloc(1, sizeof(*df));
	if (!df || !(df->name = strdup(name))) {
		free(df);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	df->escape = '\\';
	parser p = { .name = name, .df = df, .escape = '\\', .err = err,
		.stage_names = HOIST_STRSET_INIT };
	int r = parse_all(&p, data, len);
	hoist_strset_release(&p.stage_names);
	if (r < 0) {
		hoist_dockerfile_free(df);
		return r;
	}
	*out = df;
	return 0;
}

int hoist_dockerfile_load(hoist_dockerfile **out, int dirfd, const char *path,
	hoist_error **err)
{
	hoist_buf b = HOIST_BUF_INIT(HOIST_DOCKERFILE_MAX);
	int r = hoist_fs_read_file(dirfd, path, &b, err);
	if (r < 0) {
		hoist_buf_release(&b);
		return hoist_error_wrap(err, -r, "read '%s'", path);
	}
	r = hoist_dockerfile_parse(out, path, b.data ? b.data : "", b.len, err);
	hoist_buf_release(&b);
	return r;
}

const hoist_df_stage *hoist_dockerfile_stage(const hoist_dockerfile *df,
	const char *name)
{
	for (size_t i = 0; i < df->n_stages; i++)
		if (df->stages[i].name && !strcasecmp(df->stages[i].name, name))
			return &df->stages[i];
	return NULL;
}

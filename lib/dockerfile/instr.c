/* Instructions after parsing: copies, lookups, RUN --mount specs, and the
 * builder's expansion of an instruction's words (which words, and whether
 * as one word or a list, follows BuildKit's Expand methods per command). */
#include "dockerfile/internal.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "hoist/buf.h"
#include "util/cleanup.h"

static const char *const kind_names[] = {
	[HOIST_DF_FROM] = "FROM",
	[HOIST_DF_RUN] = "RUN",
	[HOIST_DF_CMD] = "CMD",
	[HOIST_DF_LABEL] = "LABEL",
	[HOIST_DF_MAINTAINER] = "MAINTAINER",
	[HOIST_DF_EXPOSE] = "EXPOSE",
	[HOIST_DF_ENV] = "ENV",
	[HOIST_DF_ADD] = "ADD",
	[HOIST_DF_COPY] = "COPY",
	[HOIST_DF_ENTRYPOINT] = "ENTRYPOINT",
	[HOIST_DF_VOLUME] = "VOLUME",
	[HOIST_DF_USER] = "USER",
	[HOIST_DF_WORKDIR] = "WORKDIR",
	[HOIST_DF_ARG] = "ARG",
	[HOIST_DF_ONBUILD] = "ONBUILD",
	[HOIST_DF_STOPSIGNAL] = "STOPSIGNAL",
	[HOIST_DF_HEALTHCHECK] = "HEALTHCHECK",
	[HOIST_DF_SHELL] = "SHELL",
};

const char *hoist_df_kind_name(hoist_df_kind kind)
{
	if ((size_t)kind < HOIST_ARRAY_SIZE(kind_names) && kind_names[kind])
		return kind_names[kind];
	return "?";
}

void df_mount_release(hoist_df_mount *m)
{
	free(m->target);
	free(m->source);
	free(m->from);
	free(m->id);
	memset(m, 0, sizeof(*m));
}

void df_instr_release(hoist_df_instr *i)
{
	if (!i)
		return;
	free(i->original);
	for (size_t k = 0; k < i->n_flags; k++) {
		free(i->flags[k].name);
		free(i->flags[k].value);
	}
	free(i->flags);
	hoist_df_strv_free(i->args, i->n_args);
	free(i->cmdline);
	for (size_t k = 0; k < i->n_kvs; k++) {
		free(i->kvs[k].key);
		free(i->kvs[k].value);
	}
	free(i->kvs);
	for (size_t k = 0; k < i->n_heredocs; k++) {
		free(i->heredocs[k].name);
		free(i->heredocs[k].content);
	}
	free(i->heredocs);
	for (size_t k = 0; k < i->n_mounts; k++)
		df_mount_release(&i->mounts[k]);
	free(i->mounts);
	if (i->onbuild) {
		df_instr_release(i->onbuild);
		free(i->onbuild);
	}
	memset(i, 0, sizeof(*i));
}

void hoist_df_instr_free(hoist_df_instr *i)
{
	df_instr_release(i);
	free(i);
}

static int dup_opt(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -1;
}

int df_instr_copy(hoist_df_instr *d, const hoist_df_instr *s)
{
	memset(d, 0, sizeof(*d));
	d->kind = s->kind;
	d->line = s->line;
	d->end_line = s->end_line;
	d->json = s->json;
	d->health = s->health;
	if (dup_opt(&d->original, s->original) < 0 ||
	    dup_opt(&d->cmdline, s->cmdline) < 0)
		goto fail;
	if (s->n_flags && !(d->flags = calloc(s->n_flags, sizeof(*d->flags))))
		goto fail;
	for (size_t k = 0; k < s->n_flags; k++) {
		d->n_flags = k + 1;
		if (dup_opt(&d->flags[k].name, s->flags[k].name) < 0 ||
		    dup_opt(&d->flags[k].value, s->flags[k].value) < 0)
			goto fail;
	}
	for (size_t k = 0; k < s->n_args; k++)
		if (df_strv_pushdup(&d->args, &d->n_args, s->args[k]) < 0)
			goto fail;
	if (s->n_kvs && !(d->kvs = calloc(s->n_kvs, sizeof(*d->kvs))))
		goto fail;
	for (size_t k = 0; k < s->n_kvs; k++) {
		d->n_kvs = k + 1;
		if (dup_opt(&d->kvs[k].key, s->kvs[k].key) < 0 ||
		    dup_opt(&d->kvs[k].value, s->kvs[k].value) < 0)
			goto fail;
	}
	if (s->n_heredocs &&
	    !(d->heredocs = calloc(s->n_heredocs, sizeof(*d->heredocs))))
		goto fail;
	for (size_t k = 0; k < s->n_heredocs; k++) {
		hoist_df_heredoc *h = &d->heredocs[k];
		*h = s->heredocs[k];
		h->name = h->content = NULL;
		d->n_heredocs = k + 1;
		if (dup_opt(&h->name, s->heredocs[k].name) < 0 ||
		    dup_opt(&h->content, s->heredocs[k].content) < 0)
			goto fail;
	}
	if (s->n_mounts && !(d->mounts = calloc(s->n_mounts, sizeof(*d->mounts))))
		goto fail;
	for (size_t k = 0; k < s->n_mounts; k++) {
		const hoist_df_mount *sm = &s->mounts[k];
		hoist_df_mount *m = &d->mounts[k];
		*m = *sm;
		m->target = m->source = m->from = m->id = NULL;
		d->n_mounts = k + 1;
		if (dup_opt(&m->target, sm->target) < 0 ||
		    dup_opt(&m->source, sm->source) < 0 ||
		    dup_opt(&m->from, sm->from) < 0 || dup_opt(&m->id, sm->id) < 0)
			goto fail;
	}
	if (s->onbuild) {
		if (!(d->onbuild = calloc(1, sizeof(*d->onbuild))) ||
		    df_instr_copy(d->onbuild, s->onbuild) < 0)
			goto fail;
	}
	return 0;
fail:
	df_instr_release(d);
	return -HOIST_E_NOMEM;
}

const char *hoist_df_instr_flag(const hoist_df_instr *i, const char *name)
{
	for (size_t k = i->n_flags; k-- > 0;)
		if (!strcmp(i->flags[k].name, name))
			return i->flags[k].value;
	return NULL;
}

const hoist_df_heredoc *hoist_df_instr_heredoc(const hoist_df_instr *i,
	const char *arg)
{
	_cleanup_free_ char *name = NULL;
	bool expand, chomp;
	int fd;
	if (df_heredoc_word(arg, &name, &expand, &chomp, &fd, NULL) <= 0)
		return NULL;
	for (size_t k = 0; k < i->n_heredocs; k++)
		if (!strcmp(i->heredocs[k].name, name))
			return &i->heredocs[k];
	return NULL;
}

static size_t count_quotes(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '\'' || *s == '"';
	return n;
}

int df_heredoc_word(const char *word, char **name, bool *expand, bool *chomp,
	int *fd, hoist_error **err)
{
	const char *p = word;
	long long v = 0;
	while (*p >= '0' && *p <= '9') {
		if (v < 1000000000)
			v = v * 10 + (*p - '0');
		p++;
	}
	if (p[0] != '<' || p[1] != '<')
		return 0;
	p += 2;
	*chomp = *p == '-';
	if (*chomp)
		p++;
	if (!*p || strchr(p, '<'))
		return 0;
	*fd = v > 1000000000 ? 1000000000 : (int)v;

	/* As BuildKit: lex the word with and without quote removal; a
	 * difference in quote count means some part was quoted, and a quoted
	 * terminator turns expansion off. */
	df_lex_opts o = { .escape = '\\', .skip_unset = true };
	char **w = NULL, **wraw = NULL;
	size_t n = 0, nraw = 0;
	int r = df_lex(&o, p, NULL, NULL, NULL, &w, &n, err);
	if (r < 0)
		return r;
	if (n != 1) {
		hoist_df_strv_free(w, n);
		return 0;
	}
	o.raw_quotes = true;
	r = df_lex(&o, p, NULL, NULL, NULL, &wraw, &nraw, err);
	if (r < 0) {
		hoist_df_strv_free(w, n);
		return r;
	}
	if (nraw != 1) {
		hoist_df_strv_free(w, n);
		hoist_df_strv_free(wraw, nraw);
		return hoist_error_set(err, HOIST_E_INVALID,
			"inconsistent heredoc word '%s'", p);
	}
	*expand = count_quotes(w[0]) == count_quotes(wraw[0]);
	*name = w[0];
	free(w);
	hoist_df_strv_free(wraw, nraw);
	return 1;
}

/* Go's strconv.ParseBool. */
static int parse_bool(const char *s, bool *out)
{
	static const char *const t[] = { "1", "t", "T", "TRUE", "true", "True" };
	static const char *const f[] = { "0", "f", "F", "FALSE", "false", "False" };
	for (size_t i = 0; i < HOIST_ARRAY_SIZE(t); i++) {
		if (!strcmp(s, t[i])) {
			*out = true;
			return 0;
		}
		if (!strcmp(s, f[i])) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

static int parse_uint(const char *s, int base, uint64_t max, uint64_t *out)
{
	if (!*s || *s == '-' || *s == '+' || isspace((unsigned char)*s))
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, base);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

/* docker/go-units RAMInBytes: "64m", "1.5g", "1024", "2 GiB". */
static int parse_size(const char *s, uint64_t *out)
{
	const char *p = s;
	if (!(*p >= '0' && *p <= '9'))
		return -1;
	double v = 0;
	while (*p >= '0' && *p <= '9')
		v = v * 10 + (*p++ - '0');
	if (*p == '.') {
		p++;
		if (!(*p >= '0' && *p <= '9'))
			return -1;
		double scale = 0.1;
		while (*p >= '0' && *p <= '9') {
			v += (*p++ - '0') * scale;
			scale /= 10;
		}
	}
	if (*p == ' ')
		p++;
	double mul = 1;
	const char *units = "kmgtp";
	const char *u = *p ? strchr(units, tolower((unsigned char)*p)) : NULL;
	if (u) {
		for (const char *k = units; k <= u; k++)
			mul *= 1024;
		p++;
	}
	if (*p == 'i' || *p == 'I')
		p++;
	if (*p == 'b' || *p == 'B')
		p++;
	if (*p)
		return -1;
	v *= mul;
	if (v >= 18446744073709551616.0)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

/* Splits a CSV record (Go's encoding/csv, one line): quoted fields may
 * hold commas, "" is a quote inside them. */
static int csv_split(const char *s, char ***out, size_t *n, hoist_error **err)
{
	char **v = NULL;
	size_t nv = 0;
	const char *p = s;
	for (;;) {
		hoist_buf f = HOIST_BUF_INIT(HOIST_DF_EXPAND_MAX);
		int r = 0;
		if (*p == '"') {
			p++;
			for (;;) {
				if (!*p) {
					r = hoist_error_set(err, HOIST_E_INVALID,
						"extraneous or missing \" in quoted field");
					break;
				}
				if (*p == '"') {
					if (p[1] == '"') {
						r = hoist_buf_append(&f, "\"", 1, err);
						p += 2;
						continue;
					}
					p++;
					if (*p && *p != ',')
						r = hoist_error_set(err, HOIST_E_INVALID,
							"extraneous or missing \" in quoted field");
					break;
				}
				r = hoist_buf_append(&f, p++, 1, err);
				if (r < 0)
					break;
			}
		} else {
			const char *e = strchr(p, ',');
			size_t len = e ? (size_t)(e - p) : strlen(p);
			if (memchr(p, '"', len))
				r = hoist_error_set(err, HOIST_E_INVALID,
					"bare \" in non-quoted field");
			else
				r = hoist_buf_append(&f, p, len, err);
			p += len;
		}
		if (r < 0 || df_strv_push(&v, &nv, f.data ? hoist_buf_steal(&f, NULL)
				: strdup("")) < 0) {
			hoist_buf_release(&f);
			hoist_df_strv_free(v, nv);
			return r < 0 ? r : hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		}
		if (*p != ',')
			break;
		p++;
	}
	*out = v;
	*n = nv;
	return 0;
}

static const char *const mount_types[] = {
	[HOIST_DF_MOUNT_BIND] = "bind",
	[HOIST_DF_MOUNT_CACHE] = "cache",
	[HOIST_DF_MOUNT_TMPFS] = "tmpfs",
	[HOIST_DF_MOUNT_SECRET] = "secret",
	[HOIST_DF_MOUNT_SSH] = "ssh",
};
static const char *const sharing_modes[] = {
	[HOIST_DF_SHARING_SHARED] = "shared",
	[HOIST_DF_SHARING_PRIVATE] = "private",
	[HOIST_DF_SHARING_LOCKED] = "locked",
};

static int set_str(char **dst, const char *v, hoist_error **err)
{
	free(*dst);
	if (!(*dst = strdup(v)))
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	return 0;
}

static int mount_field(hoist_df_mount *m, const char *field, bool *ro_given,
	bool *sharing_given, bool *required_given, bool *size_given,
	hoist_error **err)
{
	const char *eq = strchr(field, '=');
	size_t klen = eq ? (size_t)(eq - field) : strlen(field);
	_cleanup_free_ char *key = strndup(field, klen);
	if (!key)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	for (char *c = key; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	bool b;
	uint64_t u;
	if (!eq) {
		if (!strcmp(key, "readonly") || !strcmp(key, "ro")) {
			m->readonly = *ro_given = true;
			return 0;
		}
		if (!strcmp(key, "readwrite") || !strcmp(key, "rw")) {
			m->readonly = false;
			*ro_given = true;
			return 0;
		}
		if (!strcmp(key, "required")) {
			m->required = *required_given = true;
			return 0;
		}
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid field '%s': must be a key=value pair", field);
	}
	const char *v = eq + 1;
	if (!strcmp(key, "type")) {
		for (size_t i = 0; i < HOIST_ARRAY_SIZE(mount_types); i++) {
			if (!strcasecmp(v, mount_types[i])) {
				m->type = (hoist_df_mount_type)i;
				return 0;
			}
		}
		return hoist_error_set(err, HOIST_E_INVALID,
			"unsupported mount type '%s'", v);
	}
	if (!strcmp(key, "from"))
		return set_str(&m->from, v, err);
	if (!strcmp(key, "source") || !strcmp(key, "src"))
		return set_str(&m->source, v, err);
	if (!strcmp(key, "target") || !strcmp(key, "dst") ||
	    !strcmp(key, "destination"))
		return set_str(&m->target, v, err);
	if (!strcmp(key, "id"))
		return set_str(&m->id, v, err);
	if (!strcmp(key, "readonly") || !strcmp(key, "ro") ||
	    !strcmp(key, "readwrite") || !strcmp(key, "rw")) {
		if (parse_bool(v, &b) < 0)
			return hoist_error_set(err, HOIST_E_INVALID,
				"invalid value '%s' for '%s'", v, key);
		m->readonly = (!strcmp(key, "readonly") || !strcmp(key, "ro")) ? b : !b;
		*ro_given = true;
		return 0;
	}
	if (!strcmp(key, "required")) {
		if (parse_bool(v, &b) < 0)
			return hoist_error_set(err, HOIST_E_INVALID,
				"invalid value '%s' for 'required'", v);
		m->required = b;
		*required_given = true;
		return 0;
	}
	if (!strcmp(key, "size")) {
		if (parse_size(v, &m->size) < 0)
			return hoist_error_set(err, HOIST_E_INVALID,
				"invalid value '%s' for 'size'", v);
		*size_given = true;
		return 0;
	}
	if (!strcmp(key, "sharing")) {
		for (size_t i = 0; i < HOIST_ARRAY_SIZE(sharing_modes); i++) {
			if (!strcasecmp(v, sharing_modes[i])) {
				m->sharing = (hoist_df_sharing)i;
				*sharing_given = true;
				return 0;
			}
		}
		return hoist_error_set(err, HOIST_E_INVALID,
			"unsupported sharing value '%s'", v);
	}
	if (!strcmp(key, "mode") || !strcmp(key, "uid") || !strcmp(key, "gid")) {
		if (parse_uint(v, key[0] == 'm' ? 8 : 10, UINT32_MAX, &u) < 0)
			return hoist_error_set(err, HOIST_E_INVALID,
				"invalid value '%s' for '%s'", v, key);
		*(key[0] == 'm' ? &m->mode : key[0] == 'u' ? &m->uid : &m->gid) =
			(int64_t)u;
		return 0;
	}
	return hoist_error_set(err, HOIST_E_INVALID, "unexpected key '%s' in '%s'",
		key, field);
}

int df_mount_parse(hoist_df_mount *m, const char *spec, hoist_error **err)
{
	memset(m, 0, sizeof(*m));
	m->mode = m->uid = m->gid = -1;
	char **fields = NULL;
	size_t n = 0;
	int r = csv_split(spec, &fields, &n, err);
	if (r < 0)
		return r;
	bool ro_given = false, sharing_given = false, required_given = false,
		size_given = false;
	for (size_t i = 0; i < n && r == 0; i++)
		r = mount_field(m, fields[i], &ro_given, &sharing_given,
			&required_given, &size_given, err);
	hoist_df_strv_free(fields, n);
	if (r < 0)
		return r;

	const char *t = mount_types[m->type];
	bool file_info = m->type == HOIST_DF_MOUNT_SECRET ||
		m->type == HOIST_DF_MOUNT_SSH || m->type == HOIST_DF_MOUNT_CACHE;
	if (!file_info && m->mode >= 0)
		return hoist_error_set(err, HOIST_E_INVALID,
			"'mode' is not allowed for %s mounts", t);
	if (!file_info && (m->uid >= 0 || m->gid >= 0))
		return hoist_error_set(err, HOIST_E_INVALID,
			"'%s' is not allowed for %s mounts", m->uid >= 0 ? "uid" : "gid", t);
	if (required_given && m->type != HOIST_DF_MOUNT_SECRET &&
	    m->type != HOIST_DF_MOUNT_SSH)
		return hoist_error_set(err, HOIST_E_INVALID,
			"'required' is not allowed for %s mounts", t);
	if (size_given && m->type != HOIST_DF_MOUNT_TMPFS)
		return hoist_error_set(err, HOIST_E_INVALID,
			"'size' is not allowed for %s mounts", t);
	if (sharing_given && m->type != HOIST_DF_MOUNT_CACHE)
		return hoist_error_set(err, HOIST_E_INVALID,
			"'sharing' is not allowed for %s mounts", t);
	if (!ro_given)
		m->readonly = m->type != HOIST_DF_MOUNT_CACHE &&
			m->type != HOIST_DF_MOUNT_TMPFS;
	if (m->type == HOIST_DF_MOUNT_SECRET) {
		if (m->from)
			return hoist_error_set(err, HOIST_E_INVALID,
				"secret mounts take no 'from'");
		if (!m->source && !m->target && !m->id)
			return hoist_error_set(err, HOIST_E_INVALID,
				"secret mounts need 'id', 'source' or 'target'");
		if (m->source && m->id)
			return hoist_error_set(err, HOIST_E_INVALID,
				"secret mounts take 'source' or 'id', not both");
	}
	return 0;
}

static int expand_in_place(char **s, char escape, hoist_df_lookup_fn lookup,
	void *ud, hoist_error **err)
{
	if (!*s)
		return 0;
	char *x = NULL;
	int r = hoist_df_expand_word(&x, *s, escape, lookup, ud, err);
	if (r < 0)
		return r;
	free(*s);
	*s = x;
	return 0;
}

static int expand_instr(hoist_df_instr *i, char esc, hoist_df_lookup_fn lookup,
	void *ud, hoist_error **err)
{
	int r = 0;
	switch (i->kind) {
	case HOIST_DF_FROM:
	case HOIST_DF_ADD:
	case HOIST_DF_COPY:
	case HOIST_DF_VOLUME:
	case HOIST_DF_USER:
	case HOIST_DF_WORKDIR:
	case HOIST_DF_STOPSIGNAL:
		/* FROM: only the image, not "AS name" */
		for (size_t k = 0; k < (i->kind == HOIST_DF_FROM ? 1 : i->n_args) &&
				k < i->n_args && r == 0; k++)
			r = expand_in_place(&i->args[k], esc, lookup, ud, err);
		for (size_t k = 0; k < i->n_flags && r == 0; k++) {
			const char *n = i->flags[k].name;
			if (!strcmp(n, "platform") || !strcmp(n, "chown") ||
			    !strcmp(n, "chmod") || !strcmp(n, "from") ||
			    !strcmp(n, "checksum") || !strcmp(n, "exclude"))
				r = expand_in_place(&i->flags[k].value, esc, lookup, ud, err);
		}
		for (size_t k = 0; k < i->n_heredocs && r == 0; k++) {
			hoist_df_heredoc *h = &i->heredocs[k];
			if (!h->expand || (i->kind != HOIST_DF_ADD && i->kind != HOIST_DF_COPY))
				continue;
			char *x = NULL;
			r = hoist_df_expand_heredoc(&x, h->content, lookup, ud, err);
			if (r == 0) {
				free(h->content);
				h->content = x;
			}
		}
		return r;
	case HOIST_DF_ENV:
	case HOIST_DF_LABEL:
		for (size_t k = 0; k < i->n_kvs && r == 0; k++) {
			r = expand_in_place(&i->kvs[k].key, esc, lookup, ud, err);
			if (r == 0)
				r = expand_in_place(&i->kvs[k].value, esc, lookup, ud, err);
		}
		return r;
	case HOIST_DF_EXPOSE: {
		char **out = NULL;
		size_t n = 0;
		for (size_t k = 0; k < i->n_args && r == 0; k++) {
			char **w = NULL;
			size_t nw = 0;
			r = hoist_df_expand_words(&w, &nw, i->args[k], esc, lookup, ud, err);
			for (size_t j = 0; j < nw && r == 0; j++) {
				if (df_strv_push(&out, &n, w[j]) < 0)
					r = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
				w[j] = NULL;
			}
			hoist_df_strv_free(w, nw);
		}
		if (r < 0) {
			hoist_df_strv_free(out, n);
			return r;
		}
		hoist_df_strv_free(i->args, i->n_args);
		i->args = out;
		i->n_args = n;
		return 0;
	}
	case HOIST_DF_RUN:
		for (size_t k = 0; k < i->n_mounts && r == 0; k++) {
			hoist_df_mount *m = &i->mounts[k];
			r = expand_in_place(&m->target, esc, lookup, ud, err);
			if (r == 0)
				r = expand_in_place(&m->source, esc, lookup, ud, err);
			if (r == 0)
				r = expand_in_place(&m->from, esc, lookup, ud, err);
			if (r == 0)
				r = expand_in_place(&m->id, esc, lookup, ud, err);
		}
		return r;
	default:
		return 0;
	}
}

int hoist_df_instr_expand(hoist_df_instr **out, const hoist_dockerfile *df,
	const hoist_df_instr *in, hoist_df_lookup_fn lookup, void *ud,
	hoist_error **err)
{
	hoist_df_instr *i = calloc(1, sizeof(*i));
	if (!i || df_instr_copy(i, in) < 0) {
		free(i);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	int r = expand_instr(i, df->escape, lookup, ud, err);
	if (r < 0) {
		hoist_df_instr_free(i);
		return hoist_error_wrap(err, -r, "%s:%d: %s", df->name, in->line,
			hoist_df_kind_name(in->kind));
	}
	*out = i;
	return 0;
}

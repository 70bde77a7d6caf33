/* ARG and ENV scoping as Docker defines it (see hoist/dockerfile.h).
 * Scopes are small ordered lists: Dockerfiles declare tens of variables,
 * and order matters for RUN's environment and the history string. */
#include "dockerfile/internal.h"

#include <string.h>

#include "util/cleanup.h"

typedef struct var {
	char *key;
	char *value; /* NULL: declared without a value (unset) */
} var;

/* An ordered list with a hash index (open addressing over positions + 1),
 * so that a Dockerfile declaring many names stays linear. */
typedef struct vars {
	var *v;
	size_t n;
	size_t *slots;
	size_t cap;
} vars;

struct hoist_df_scope {
	const hoist_dockerfile *df;
	hoist_df_scope *global; /* NULL in the global scope itself */
	/* global scope */
	vars build_args;        /* value NULL: given without a value */
	bool *used;             /* per build arg: some ARG declared it */
	vars platform;
	vars gargs;             /* the global ARGs, evaluated */
	/* stage scope */
	vars env;
	vars args;
};

static const char *const predefined[] = {
	"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
	"FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy",
	"ALL_PROXY", "all_proxy",
};

static bool is_predefined(const char *k)
{
	for (size_t i = 0; i < HOIST_ARRAY_SIZE(predefined); i++)
		if (!strcmp(k, predefined[i]))
			return true;
	return false;
}

static void vars_release(vars *vs)
{
	for (size_t i = 0; i < vs->n; i++) {
		free(vs->v[i].key);
		free(vs->v[i].value);
	}
	free(vs->v);
	free(vs->slots);
	memset(vs, 0, sizeof(*vs));
}

static size_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return (size_t)h;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t slot_of(const vars *vs, const char *key)
{
	size_t i = hash(key) & (vs->cap - 1);
	while (vs->slots[i] && strcmp(vs->v[vs->slots[i] - 1].key, key))
		i = (i + 1) & (vs->cap - 1);
	return i;
}

static var *vars_find(const vars *vs, const char *key)
{
	if (!vs->cap)
		return NULL;
	size_t i = slot_of(vs, key);
	return vs->slots[i] ? &vs->v[vs->slots[i] - 1] : NULL;
}

static int reindex(vars *vs)
{
	size_t cap = vs->cap ? vs->cap * 2 : 16;
	size_t *slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -1;
	free(vs->slots);
	vs->slots = slots;
	vs->cap = cap;
	for (size_t i = 0; i < vs->n; i++)
		vs->slots[slot_of(vs, vs->v[i].key)] = i + 1;
	return 0;
}

/* Sets key (replacing, keeping its place) to a copy of value (NULL ok). */
static int vars_set(vars *vs, const char *key, const char *value,
	hoist_error **err)
{
	char *v = NULL;
	if (value && !(v = strdup(value)))
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	var *x = vars_find(vs, key);
	if (x) {
		free(x->value);
		x->value = v;
		return 0;
	}
	char *k = strdup(key);
	if (!k || df_grow(&vs->v, vs->n) < 0 ||
	    ((vs->n + 1) * 2 > vs->cap && reindex(vs) < 0)) {
		free(k);
		free(v);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	vs->v[vs->n] = (var){ k, v };
	vs->slots[slot_of(vs, k)] = ++vs->n;
	return 0;
}

static int vars_copy(vars *dst, const vars *src, hoist_error **err)
{
	for (size_t i = 0; i < src->n; i++)
		if (vars_set(dst, src->v[i].key, src->v[i].value, err) < 0)
			return -HOIST_E_NOMEM;
	return 0;
}

void hoist_df_scope_free(hoist_df_scope *s)
{
	if (!s)
		return;
	vars_release(&s->build_args);
	free(s->used);
	vars_release(&s->platform);
	vars_release(&s->gargs);
	vars_release(&s->env);
	vars_release(&s->args);
	free(s);
}

/* The value an undefaulted "ARG NAME" takes from the global scope. */
static const var *global_value(const hoist_df_scope *g, const char *key)
{
	const var *v = vars_find(&g->gargs, key);
	if (v)
		return v;
	return vars_find(&g->platform, key);
}

/* A build arg's value, marking it used; NULL when not given. */
static const char *build_arg(hoist_df_scope *g, const char *key)
{
	for (size_t i = 0; i < g->build_args.n; i++) {
		if (strcmp(g->build_args.v[i].key, key))
			continue;
		g->used[i] = true;
		return g->build_args.v[i].value;
	}
	return NULL;
}

const char *hoist_df_scope_lookup(void *scope, const char *name)
{
	const hoist_df_scope *s = scope;
	if (!s->global) {
		const var *v = global_value(s, name);
		return v ? v->value : NULL;
	}
	const var *v = vars_find(&s->env, name);
	if (v)
		return v->value;
	v = vars_find(&s->args, name);
	return v ? v->value : NULL;
}

/* Declares the pairs of an ARG instruction into dst, looking values up in
 * scope s (the global scope while evaluating global ARGs). */
static int declare(hoist_df_scope *s, hoist_df_scope *g, vars *dst,
	const hoist_df_instr *arg, hoist_error **err)
{
	for (size_t i = 0; i < arg->n_kvs; i++) {
		const hoist_df_kv *kv = &arg->kvs[i];
		const char *bv = build_arg(g, kv->key);
		_cleanup_free_ char *expanded = NULL;
		const char *value = NULL;
		if (bv) {
			value = bv;
		} else if (kv->value) {
			int r = hoist_df_expand_word(&expanded, kv->value, s->df->escape,
				hoist_df_scope_lookup, s, err);
			if (r < 0)
				return hoist_error_wrap(err, -r, "%s:%d: ARG", s->df->name,
					arg->line);
			value = expanded;
		} else {
			const var *gv = global_value(g, kv->key);
			value = gv ? gv->value : NULL;
		}
		if (vars_set(dst, kv->key, value, err) < 0)
			return -HOIST_E_NOMEM;
	}
	return 0;
}

int hoist_df_scope_new_global(hoist_df_scope **out, const hoist_dockerfile *df,
	const hoist_df_kv *build_args, size_t n_build_args,
	const hoist_df_kv *platform_args, size_t n_platform_args,
	hoist_error **err)
{
	hoist_df_scope *s = calloc(1, sizeof(*s));
	if (!s)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	s->df = df;
	int r = 0;
	/* a later --build-arg of the same name wins, as on docker's command line */
	for (size_t i = 0; i < n_build_args && r == 0; i++)
		r = vars_set(&s->build_args, build_args[i].key, build_args[i].value, err);
	if (r == 0 && s->build_args.n &&
	    !(s->used = calloc(s->build_args.n, sizeof(*s->used))))
		r = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	for (size_t i = 0; i < n_platform_args && r == 0; i++)
		r = vars_set(&s->platform, platform_args[i].key,
			platform_args[i].value, err);
	for (size_t i = 0; i < df->n_global_args && r == 0; i++)
		r = declare(s, s, &s->gargs, &df->global_args[i], err);
	if (r < 0) {
		hoist_df_scope_free(s);
		return r;
	}
	*out = s;
	return 0;
}

int hoist_df_scope_new_stage(hoist_df_scope **out, hoist_df_scope *global,
	const hoist_df_scope *parent, hoist_error **err)
{
	hoist_df_scope *s = calloc(1, sizeof(*s));
	if (!s)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	s->df = global->df;
	s->global = global;
	if (parent && (vars_copy(&s->env, &parent->env, err) < 0 ||
			vars_copy(&s->args, &parent->args, err) < 0)) {
		hoist_df_scope_free(s);
		return -HOIST_E_NOMEM;
	}
	*out = s;
	return 0;
}

int hoist_df_scope_set_env(hoist_df_scope *s, const char *key,
	const char *value, hoist_error **err)
{
	return vars_set(&s->env, key, value ? value : "", err);
}

int hoist_df_scope_apply_arg(hoist_df_scope *s, const hoist_df_instr *arg,
	hoist_error **err)
{
	if (!s->global)
		return hoist_error_set(err, HOIST_E_INVALID,
			"ARG applied to the global scope");
	return declare(s, s->global, &s->args, arg, err);
}

static int push_kv(char ***out, size_t *n, const char *k, const char *v)
{
	char *x = NULL;
	if (asprintf(&x, "%s=%s", k, v) < 0)
		return -HOIST_E_NOMEM;
	return df_strv_push(out, n, x);
}

int hoist_df_scope_run_env(const hoist_df_scope *s, char ***out, size_t *n,
	hoist_error **err)
{
	char **v = NULL;
	size_t k = 0;
	int r = 0;
	for (size_t i = 0; i < s->env.n && r == 0; i++)
		r = push_kv(&v, &k, s->env.v[i].key, s->env.v[i].value);
	for (size_t i = 0; i < s->args.n && r == 0; i++) {
		const var *a = &s->args.v[i];
		if (a->value && !vars_find(&s->env, a->key))
			r = push_kv(&v, &k, a->key, a->value);
	}
	const hoist_df_scope *g = s->global ? s->global : s;
	for (size_t i = 0; i < g->build_args.n && r == 0; i++) {
		const var *b = &g->build_args.v[i];
		if (b->value && is_predefined(b->key) && !vars_find(&s->env, b->key) &&
		    !vars_find(&s->args, b->key))
			r = push_kv(&v, &k, b->key, b->value);
	}
	if (r < 0) {
		hoist_df_strv_free(v, k);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	*out = v;
	*n = k;
	return 0;
}

int hoist_df_scope_build_args(const hoist_df_scope *s, char ***out, size_t *n,
	hoist_error **err)
{
	char **v = NULL;
	size_t k = 0;
	const vars *src = s->global ? &s->args : &s->gargs;
	for (size_t i = 0; i < src->n; i++) {
		if (src->v[i].value &&
		    push_kv(&v, &k, src->v[i].key, src->v[i].value) < 0) {
			hoist_df_strv_free(v, k);
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		}
	}
	*out = v;
	*n = k;
	return 0;
}

int hoist_df_scope_unused_build_args(const hoist_df_scope *global, char ***out,
	size_t *n, hoist_error **err)
{
	char **v = NULL;
	size_t k = 0;
	const hoist_df_scope *g = global->global ? global->global : global;
	for (size_t i = 0; i < g->build_args.n; i++) {
		const var *b = &g->build_args.v[i];
		if (g->used[i] || !b->value || is_predefined(b->key))
			continue;
		if (df_strv_pushdup(&v, &k, b->key) < 0) {
			hoist_df_strv_free(v, k);
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		}
	}
	*out = v;
	*n = k;
	return 0;
}

/* Image configuration: the OCI image-spec config (which Docker's image JSON
 * is a superset of), kept as its JSON tree so that fields hoist does not
 * know survive an edit.  Docker writes null for empty config fields
 * ("Entrypoint": null); null reads as absent everywhere. */
#include "hoist/config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/cleanup.h"

HOIST_DEFINE_CLEANUP(hoist_config, hoist_config_free)

static int nomem(hoist_error **err)
{
	return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
}

static bool present(const json_t *v)
{
	return v && !json_is_null(v);
}

static bool is_string_array(const json_t *v)
{
	size_t i;
	json_t *e;
	if (!json_is_array(v))
		return false;
	json_array_foreach ((json_t *)v, i, e)
		if (!json_is_string(e))
			return false;
	return true;
}

static bool is_string_object(const json_t *v)
{
	const char *k;
	json_t *e;
	if (!json_is_object(v))
		return false;
	json_object_foreach ((json_t *)v, k, e)
		if (!json_is_string(e))
			return false;
	return true;
}

static int bad_field(hoist_error **err, const char *field, const char *want)
{
	return hoist_error_set(err, HOIST_E_INVALID,
		"invalid image config: '%s' must be %s", field, want);
}

/* Checks the members of obj listed in keys; prefix names obj in messages. */
typedef enum { F_STRING, F_STRINGS, F_OBJECT, F_STRING_MAP, F_BOOL } field_type;
typedef struct {
	const char *key;
	field_type type;
} field_spec;

static const char *const type_names[] = {
	[F_STRING] = "a string",
	[F_STRINGS] = "an array of strings",
	[F_OBJECT] = "an object",
	[F_STRING_MAP] = "an object of strings",
	[F_BOOL] = "a boolean",
};

static int check_fields(json_t *obj, const char *prefix, const field_spec *spec,
	size_t n, hoist_error **err)
{
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_object_get(obj, spec[i].key);
		if (!present(v))
			continue;
		bool ok = false;
		switch (spec[i].type) {
		case F_STRING: ok = json_is_string(v); break;
		case F_STRINGS: ok = is_string_array(v); break;
		case F_OBJECT: ok = json_is_object(v); break;
		case F_STRING_MAP: ok = is_string_object(v); break;
		case F_BOOL: ok = json_is_boolean(v); break;
		}
		if (!ok) {
			char field[128];
			snprintf(field, sizeof(field), "%s%s", prefix, spec[i].key);
			return bad_field(err, field, type_names[spec[i].type]);
		}
	}
	return 0;
}

static const field_spec top_fields[] = {
	{ "created", F_STRING }, { "author", F_STRING },
	{ "architecture", F_STRING }, { "os", F_STRING },
	{ "variant", F_STRING }, { "os.version", F_STRING },
	{ "os.features", F_STRINGS }, { "config", F_OBJECT },
	{ "rootfs", F_OBJECT },
};
static const field_spec config_fields[] = {
	{ "User", F_STRING }, { "WorkingDir", F_STRING },
	{ "StopSignal", F_STRING }, { "Env", F_STRINGS },
	{ "Entrypoint", F_STRINGS }, { "Cmd", F_STRINGS },
	{ "ExposedPorts", F_OBJECT }, { "Volumes", F_OBJECT },
	{ "Labels", F_STRING_MAP }, { "ArgsEscaped", F_BOOL },
};
static const field_spec rootfs_fields[] = {
	{ "type", F_STRING }, { "diff_ids", F_STRINGS },
};
static const field_spec history_fields[] = {
	{ "created", F_STRING }, { "author", F_STRING },
	{ "created_by", F_STRING }, { "comment", F_STRING },
	{ "empty_layer", F_BOOL },
};

static int validate(json_t *root, hoist_error **err)
{
	int r;
	if ((r = check_fields(root, "", top_fields, HOIST_ARRAY_SIZE(top_fields), err)) < 0)
		return r;
	json_t *cfg = json_object_get(root, "config");
	if (present(cfg) && (r = check_fields(cfg, "config.", config_fields,
				     HOIST_ARRAY_SIZE(config_fields), err)) < 0)
		return r;
	json_t *rootfs = json_object_get(root, "rootfs");
	if (present(rootfs)) {
		if ((r = check_fields(rootfs, "rootfs.", rootfs_fields,
			     HOIST_ARRAY_SIZE(rootfs_fields), err)) < 0)
			return r;
		json_t *ids = json_object_get(rootfs, "diff_ids");
		size_t i;
		json_t *id;
		json_array_foreach (ids, i, id)
			if ((r = hoist_digest_parse(NULL, json_string_value(id), err)) < 0)
				return hoist_error_wrap(err, -r,
					"invalid image config: 'rootfs.diff_ids[%zu]'", i);
	}
	json_t *hist = json_object_get(root, "history");
	if (present(hist)) {
		size_t i;
		json_t *h;
		if (!json_is_array(hist))
			return bad_field(err, "history", "an array of objects");
		json_array_foreach (hist, i, h) {
			char prefix[64];
			snprintf(prefix, sizeof(prefix), "history[%zu].", i);
			if (!json_is_object(h)) {
				prefix[strlen(prefix) - 1] = '\0';
				return bad_field(err, prefix, "an object");
			}
			if ((r = check_fields(h, prefix, history_fields,
				     HOIST_ARRAY_SIZE(history_fields), err)) < 0)
				return r;
		}
	}
	return 0;
}

int hoist_config_parse(hoist_config **out, const void *raw, size_t len,
	hoist_error **err)
{
	if (len > HOIST_CONFIG_MAX)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"image config is %zu bytes, over the limit of %d", len,
			HOIST_CONFIG_MAX);
	if (!raw || len == 0)
		return hoist_error_set(err, HOIST_E_INVALID, "image config is empty");
	json_error_t jerr;
	json_t *root = json_loadb(raw, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid image config JSON at line %d column %d: %s",
			jerr.line, jerr.column, jerr.text);
	hoist_config *c = calloc(1, sizeof(*c));
	if (!c) {
		json_decref(root);
		return nomem(err);
	}
	c->json = root;
	int r;
	if (!json_is_object(root))
		r = hoist_error_set(err, HOIST_E_INVALID,
			"invalid image config: must be a JSON object");
	else
		r = validate(root, err);
	if (r < 0) {
		hoist_config_free(c);
		return r;
	}
	*out = c;
	return 0;
}

void hoist_config_free(hoist_config *c)
{
	if (!c)
		return;
	json_decref(c->json);
	free(c);
}

/* Sets key to v (stealing it); NULL v is a failed allocation. */
static int set_new(json_t *obj, const char *key, json_t *v, hoist_error **err)
{
	if (!v || json_object_set_new(obj, key, v) < 0)
		return nomem(err);
	return 0;
}

/* A new JSON string.  jansson refuses strings that are not UTF-8 with the
 * same NULL as for no memory; tell them apart.  what names it in errors. */
static json_t *new_string(const char *value, const char *what, hoist_error **err)
{
	json_t *v = json_string(value);
	if (v)
		return v;
	json_t *raw = json_stringn_nocheck(value, strlen(value));
	if (!raw) {
		nomem(err);
		return NULL;
	}
	json_decref(raw);
	hoist_error_set(err, HOIST_E_INVALID, "invalid %s: not valid UTF-8", what);
	return NULL;
}

static int set_str(json_t *obj, const char *key, const char *value,
	hoist_error **err)
{
	json_t *v = new_string(value, key, err);
	if (!v)
		return err && *err ? -(*err)->code : -HOIST_E_INVALID;
	return set_new(obj, key, v, err);
}

static int set_platform_fields(json_t *root, const hoist_platform *p,
	hoist_error **err)
{
	if (!p || !p->os || !*p->os || !p->architecture || !*p->architecture)
		return hoist_error_set(err, HOIST_E_INVALID,
			"image config platform needs an os and an architecture");
	int r;
	if ((r = set_str(root, "os", p->os, err)) < 0 ||
		(r = set_str(root, "architecture", p->architecture, err)) < 0)
		return r;
	if (p->variant && *p->variant)
		r = set_str(root, "variant", p->variant, err);
	else
		json_object_del(root, "variant");
	if (r < 0)
		return r;
	if (p->os_version && *p->os_version)
		r = set_str(root, "os.version", p->os_version, err);
	else
		json_object_del(root, "os.version");
	return r;
}

int hoist_config_new(hoist_config **out, const hoist_platform *p,
	hoist_error **err)
{
	_cleanup_(hoist_config_freep) hoist_config *c = calloc(1, sizeof(*c));
	if (!c || !(c->json = json_object()))
		return nomem(err);
	int r;
	json_t *rootfs = json_pack("{s:s, s:[]}", "type", "layers", "diff_ids");
	if ((r = set_new(c->json, "rootfs", rootfs, err)) < 0 ||
		(r = set_new(c->json, "config", json_object(), err)) < 0 ||
		(r = set_platform_fields(c->json, p, err)) < 0)
		return r;
	*out = steal_ptr(&c);
	return 0;
}

static const char *top_string(const hoist_config *c, const char *key)
{
	return c ? json_string_value(json_object_get(c->json, key)) : NULL;
}

static json_t *cfg_get(const hoist_config *c, const char *key)
{
	if (!c)
		return NULL;
	json_t *cfg = json_object_get(c->json, "config");
	return json_is_object(cfg) ? json_object_get(cfg, key) : NULL;
}

static const char *cfg_string(const hoist_config *c, const char *key)
{
	return json_string_value(cfg_get(c, key));
}

static json_t *cfg_array(const hoist_config *c, const char *key)
{
	json_t *v = cfg_get(c, key);
	return json_is_array(v) ? v : NULL;
}

static json_t *cfg_object(const hoist_config *c, const char *key)
{
	json_t *v = cfg_get(c, key);
	return json_is_object(v) ? v : NULL;
}

const char *hoist_config_os(const hoist_config *c) { return top_string(c, "os"); }
const char *hoist_config_architecture(const hoist_config *c) { return top_string(c, "architecture"); }
const char *hoist_config_variant(const hoist_config *c) { return top_string(c, "variant"); }
const char *hoist_config_created(const hoist_config *c) { return top_string(c, "created"); }
const char *hoist_config_user(const hoist_config *c) { return cfg_string(c, "User"); }
const char *hoist_config_workdir(const hoist_config *c) { return cfg_string(c, "WorkingDir"); }
json_t *hoist_config_entrypoint(const hoist_config *c) { return cfg_array(c, "Entrypoint"); }
json_t *hoist_config_cmd(const hoist_config *c) { return cfg_array(c, "Cmd"); }
json_t *hoist_config_env(const hoist_config *c) { return cfg_array(c, "Env"); }
json_t *hoist_config_exposed_ports(const hoist_config *c) { return cfg_object(c, "ExposedPorts"); }
json_t *hoist_config_labels(const hoist_config *c) { return cfg_object(c, "Labels"); }
json_t *hoist_config_volumes(const hoist_config *c) { return cfg_object(c, "Volumes"); }
const char *hoist_config_stop_signal(const hoist_config *c) { return cfg_string(c, "StopSignal"); }

static json_t *diff_ids(const hoist_config *c)
{
	if (!c)
		return NULL;
	json_t *ids = json_object_get(json_object_get(c->json, "rootfs"), "diff_ids");
	return json_is_array(ids) ? ids : NULL;
}

size_t hoist_config_n_diff_ids(const hoist_config *c)
{
	return json_array_size(diff_ids(c));
}

const char *hoist_config_diff_id(const hoist_config *c, size_t i)
{
	return json_string_value(json_array_get(diff_ids(c), i));
}

static json_t *history(const hoist_config *c)
{
	json_t *h = c ? json_object_get(c->json, "history") : NULL;
	return json_is_array(h) ? h : NULL;
}

size_t hoist_config_n_history(const hoist_config *c)
{
	return json_array_size(history(c));
}

int hoist_config_history(const hoist_config *c, size_t i, hoist_history_entry *out)
{
	json_t *h = json_array_get(history(c), i);
	if (!h)
		return -HOIST_E_NOTFOUND;
	if (!json_is_object(h))
		return -HOIST_E_INVALID;
	out->created = json_string_value(json_object_get(h, "created"));
	out->created_by = json_string_value(json_object_get(h, "created_by"));
	out->comment = json_string_value(json_object_get(h, "comment"));
	out->empty_layer = json_is_true(json_object_get(h, "empty_layer"));
	return 0;
}

/* obj[key] as an object or array (per want), created when absent or null. */
static json_t *ensure(json_t *obj, const char *key, bool want_array,
	hoist_error **err)
{
	json_t *v = json_object_get(obj, key);
	if (want_array ? json_is_array(v) : json_is_object(v))
		return v;
	v = want_array ? json_array() : json_object();
	if (set_new(obj, key, v, err) < 0)
		return NULL;
	return v;
}

static json_t *cfg_ensure(hoist_config *c, hoist_error **err)
{
	return ensure(c->json, "config", false, err);
}

static int cfg_set_string(hoist_config *c, const char *key, const char *value,
	hoist_error **err)
{
	json_t *cfg = cfg_ensure(c, err);
	if (!cfg)
		return -HOIST_E_NOMEM;
	if (!value) {
		json_object_del(cfg, key);
		return 0;
	}
	return set_str(cfg, key, value, err);
}

int hoist_config_set_user(hoist_config *c, const char *user, hoist_error **err)
{
	return cfg_set_string(c, "User", user, err);
}

int hoist_config_set_workdir(hoist_config *c, const char *dir, hoist_error **err)
{
	if (dir && !*dir)
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid working directory '': must not be empty");
	return cfg_set_string(c, "WorkingDir", dir, err);
}

static int cfg_set_strings(hoist_config *c, const char *key, json_t *arr,
	hoist_error **err)
{
	if (present(arr) && !is_string_array(arr))
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid %s: must be an array of strings", key);
	json_t *cfg = cfg_ensure(c, err);
	if (!cfg)
		return -HOIST_E_NOMEM;
	if (!present(arr)) {
		json_object_del(cfg, key);
		return 0;
	}
	return set_new(cfg, key, json_deep_copy(arr), err);
}

int hoist_config_set_entrypoint(hoist_config *c, json_t *arr, hoist_error **err)
{
	return cfg_set_strings(c, "Entrypoint", arr, err);
}

int hoist_config_set_cmd(hoist_config *c, json_t *arr, hoist_error **err)
{
	return cfg_set_strings(c, "Cmd", arr, err);
}

/* Length of the KEY part of an Env entry. */
static size_t env_key_len(const char *kv)
{
	return strcspn(kv, "=");
}

int hoist_config_set_env(hoist_config *c, const char *kv, hoist_error **err)
{
	if (!kv)
		return cfg_set_strings(c, "Env", NULL, err);
	size_t k = env_key_len(kv);
	if (kv[k] != '=' || k == 0)
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid environment variable '%s': expected KEY=VALUE", kv);
	json_t *cfg = cfg_ensure(c, err);
	json_t *env = cfg ? ensure(cfg, "Env", true, err) : NULL;
	if (!env)
		return -HOIST_E_NOMEM;
	json_t *v = new_string(kv, "environment variable", err);
	if (!v)
		return err && *err ? -(*err)->code : -HOIST_E_INVALID;
	size_t i;
	json_t *e;
	json_array_foreach (env, i, e) {
		const char *s = json_string_value(e);
		if (s && env_key_len(s) == k && !strncmp(s, kv, k))
			return json_array_set_new(env, i, v) < 0 ? nomem(err) : 0;
	}
	return json_array_append_new(env, v) < 0 ? nomem(err) : 0;
}

const char *hoist_config_get_env(const hoist_config *c, const char *key)
{
	json_t *env = hoist_config_env(c);
	size_t i, k = key ? strlen(key) : 0;
	json_t *e;
	if (!k)
		return NULL;
	json_array_foreach (env, i, e) {
		const char *s = json_string_value(e);
		if (s && env_key_len(s) == k && !strncmp(s, key, k))
			return s[k] == '=' ? s + k + 1 : s + k;
	}
	return NULL;
}

int hoist_config_set_label(hoist_config *c, const char *key, const char *value,
	hoist_error **err)
{
	if (!key || !*key)
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid label '': the key must not be empty");
	json_t *cfg = cfg_ensure(c, err);
	json_t *labels = cfg ? ensure(cfg, "Labels", false, err) : NULL;
	if (!labels)
		return -HOIST_E_NOMEM;
	if (!value) {
		json_object_del(labels, key);
		return 0;
	}
	return set_str(labels, key, value, err);
}

/* A port number 1..65535, all digits. */
static bool parse_port(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;
	if (n == 0 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return false;
	*out = v;
	return true;
}

/* "PORT[/PROTO]" or "FIRST-LAST[/PROTO]" (as Dockerfile EXPOSE takes it);
 * the protocol defaults to tcp. */
int hoist_config_add_exposed_port(hoist_config *c, const char *port, hoist_error **err)
{
	if (!port) {
		json_t *cfg = cfg_ensure(c, err);
		if (!cfg)
			return -HOIST_E_NOMEM;
		json_object_del(cfg, "ExposedPorts");
		return 0;
	}
	size_t n = strcspn(port, "/");
	const char *proto = port[n] == '/' ? port + n + 1 : "tcp";
	char lproto[8];
	size_t pl = strlen(proto);
	if (pl >= sizeof(lproto))
		pl = 0;
	for (size_t i = 0; i < pl; i++)
		lproto[i] = (char)tolower((unsigned char)proto[i]);
	lproto[pl] = '\0';
	if (strcmp(lproto, "tcp") && strcmp(lproto, "udp") && strcmp(lproto, "sctp"))
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid port '%s': protocol must be tcp, udp or sctp", port);

	unsigned first, last;
	size_t dash = strcspn(port, "-/");
	bool range = dash < n && port[dash] == '-';
	if (!parse_port(port, range ? dash : n, &first) ||
		(range && !parse_port(port + dash + 1, n - dash - 1, &last)))
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid port '%s': port must be a number from 1 to 65535", port);
	if (!range)
		last = first;
	if (last < first)
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid port '%s': range ends before it starts", port);

	json_t *cfg = cfg_ensure(c, err);
	json_t *ports = cfg ? ensure(cfg, "ExposedPorts", false, err) : NULL;
	if (!ports)
		return -HOIST_E_NOMEM;
	for (unsigned p = first; p <= last; p++) {
		char key[32];
		snprintf(key, sizeof(key), "%u/%s", p, lproto);
		int r = set_new(ports, key, json_object(), err);
		if (r < 0)
			return r;
	}
	return 0;
}

int hoist_config_add_volume(hoist_config *c, const char *path, hoist_error **err)
{
	json_t *cfg = cfg_ensure(c, err);
	if (!cfg)
		return -HOIST_E_NOMEM;
	if (!path) {
		json_object_del(cfg, "Volumes");
		return 0;
	}
	if (!*path)
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid volume '': the path must not be empty");
	json_t *vols = ensure(cfg, "Volumes", false, err);
	if (!vols)
		return -HOIST_E_NOMEM;
	return set_new(vols, path, json_object(), err);
}

/* "SIGTERM", "TERM", "15", "SIGRTMIN+3". */
static bool signal_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '+' && s[i] != '-')
			return false;
	return true;
}

int hoist_config_set_stop_signal(hoist_config *c, const char *sig, hoist_error **err)
{
	if (sig && !signal_ok(sig))
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid stop signal '%s': expected a name like SIGTERM or a number",
			sig);
	return cfg_set_string(c, "StopSignal", sig, err);
}

static bool digits(const char *s, size_t n, int lo, int hi)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	return v >= lo && v <= hi;
}

/* RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM). */
static bool rfc3339_ok(const char *s)
{
	size_t n = strlen(s);
	if (n < 20 || !digits(s, 4, 0, 9999) || s[4] != '-' || !digits(s + 5, 2, 1, 12) ||
		s[7] != '-' || !digits(s + 8, 2, 1, 31) || (s[10] != 'T' && s[10] != 't') ||
		!digits(s + 11, 2, 0, 23) || s[13] != ':' || !digits(s + 14, 2, 0, 59) ||
		s[16] != ':' || !digits(s + 17, 2, 0, 60))
		return false;
	const char *p = s + 19;
	if (*p == '.') {
		const char *f = ++p;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p == f)
			return false;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
		return true;
	return (*p == '+' || *p == '-') && strlen(p) == 6 && digits(p + 1, 2, 0, 23) &&
		p[3] == ':' && digits(p + 4, 2, 0, 59);
}

int hoist_config_set_created(hoist_config *c, const char *rfc3339, hoist_error **err)
{
	if (!rfc3339) {
		json_object_del(c->json, "created");
		return 0;
	}
	if (!rfc3339_ok(rfc3339))
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid creation time '%s': expected RFC 3339 like "
			"2024-01-02T03:04:05Z",
			rfc3339);
	return set_str(c->json, "created", rfc3339, err);
}

int hoist_config_set_platform(hoist_config *c, const hoist_platform *p, hoist_error **err)
{
	return set_platform_fields(c->json, p, err);
}

static json_t *rootfs_ensure(hoist_config *c, hoist_error **err)
{
	json_t *rootfs = json_object_get(c->json, "rootfs");
	if (!json_is_object(rootfs)) {
		rootfs = json_pack("{s:s}", "type", "layers");
		if (set_new(c->json, "rootfs", rootfs, err) < 0)
			return NULL;
	}
	return ensure(rootfs, "diff_ids", true, err);
}

int hoist_config_add_diff_id(hoist_config *c, const hoist_digest *d, hoist_error **err)
{
	if (!d || !hoist_digest_valid(d->str))
		return hoist_error_set(err, HOIST_E_INVALID,
			"invalid diff_id '%s'", d ? d->str : "");
	json_t *ids = rootfs_ensure(c, err);
	if (!ids)
		return -HOIST_E_NOMEM;
	return json_array_append_new(ids, json_string(d->str)) < 0 ? nomem(err) : 0;
}

int hoist_config_drop_layers(hoist_config *c, size_t n, hoist_error **err)
{
	json_t *ids = diff_ids(c);
	size_t have = json_array_size(ids);
	if (n > have)
		return hoist_error_set(err, HOIST_E_INVALID,
			"cannot drop %zu layers: the image config has %zu", n, have);
	if (n == 0)
		return 0;
	/* History entries that made layers are the ones without empty_layer;
	 * everything up to and including the n-th of those goes.  When the
	 * history lists fewer layers than that, it does not describe these
	 * layers and all of it goes. */
	json_t *hist = history(c);
	size_t cut = json_array_size(hist), seen = 0;
	for (size_t i = 0; i < json_array_size(hist); i++) {
		if (json_is_true(json_object_get(json_array_get(hist, i), "empty_layer")))
			continue;
		if (++seen == n) {
			cut = i + 1;
			break;
		}
	}
	for (size_t i = 0; i < n; i++)
		json_array_remove(ids, 0);
	for (size_t i = 0; i < cut; i++)
		json_array_remove(hist, 0);
	return 0;
}

int hoist_config_add_history(hoist_config *c, const hoist_history_entry *h,
	hoist_error **err)
{
	if (!h)
		return hoist_error_set(err, HOIST_E_INVALID, "no history entry given");
	json_t *e = json_object();
	int r = e ? 0 : nomem(err);
	if (r == 0 && h->created)
		r = set_str(e, "created", h->created, err);
	if (r == 0 && h->created_by)
		r = set_str(e, "created_by", h->created_by, err);
	if (r == 0 && h->comment)
		r = set_str(e, "comment", h->comment, err);
	if (r == 0 && h->empty_layer)
		r = set_new(e, "empty_layer", json_true(), err);
	json_t *hist = r == 0 ? ensure(c->json, "history", true, err) : NULL;
	if (r == 0 && !hist)
		r = -HOIST_E_NOMEM;
	if (r < 0) {
		json_decref(e);
		return r;
	}
	return json_array_append_new(hist, e) < 0 ? nomem(err) : 0;
}

int hoist_config_serialize(const hoist_config *c, char **out, size_t *len,
	hoist_error **err)
{
	char *s = json_dumps(c->json, JSON_COMPACT | JSON_SORT_KEYS);
	if (!s)
		return nomem(err);
	*out = s;
	if (len)
		*len = strlen(s);
	return 0;
}

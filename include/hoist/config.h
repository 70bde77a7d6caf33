/* Image configuration (OCI image-spec config / Docker image JSON).
 * Parsed for reading, and edited through setters that keep fields hoist
 * does not know.  Serialisation is deterministic (keys sorted, compact),
 * so the same edits give the same bytes and digest. */
#ifndef HOIST_CONFIG_H
#define HOIST_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "hoist/digest.h"
#include "hoist/error.h"
#include "hoist/media.h"

#define HOIST_CONFIG_MAX (32 * 1024 * 1024)

typedef struct hoist_config {
	json_t *json; /* root object, owned */
} hoist_config;

typedef struct hoist_history_entry {
	const char *created;     /* borrowed, may be NULL */
	const char *created_by;  /* borrowed, may be NULL */
	const char *comment;     /* borrowed, may be NULL */
	bool empty_layer;
} hoist_history_entry;

int hoist_config_parse(hoist_config **out, const void *raw, size_t len,
	hoist_error **err);
/* A fresh config for os/arch with rootfs {type: layers, diff_ids: []}. */
int hoist_config_new(hoist_config **out, const hoist_platform *p,
	hoist_error **err);
void hoist_config_free(hoist_config *c);

/* Getters return borrowed strings or NULL; arrays as borrowed json_t. */
const char *hoist_config_os(const hoist_config *c);
const char *hoist_config_architecture(const hoist_config *c);
const char *hoist_config_variant(const hoist_config *c);
const char *hoist_config_created(const hoist_config *c);
const char *hoist_config_user(const hoist_config *c);
const char *hoist_config_workdir(const hoist_config *c);
json_t *hoist_config_entrypoint(const hoist_config *c); /* array or NULL */
json_t *hoist_config_cmd(const hoist_config *c);        /* array or NULL */
json_t *hoist_config_env(const hoist_config *c);        /* array or NULL */
json_t *hoist_config_exposed_ports(const hoist_config *c); /* object or NULL */
json_t *hoist_config_labels(const hoist_config *c);     /* object or NULL */
json_t *hoist_config_volumes(const hoist_config *c);    /* object or NULL */
const char *hoist_config_stop_signal(const hoist_config *c);
size_t hoist_config_n_diff_ids(const hoist_config *c);
/* i-th rootfs.diff_ids entry, borrowed, NULL when out of range. */
const char *hoist_config_diff_id(const hoist_config *c, size_t i);
size_t hoist_config_n_history(const hoist_config *c);
int hoist_config_history(const hoist_config *c, size_t i, hoist_history_entry *out);

/* Setters (values copied). NULL clears. */
int hoist_config_set_user(hoist_config *c, const char *user, hoist_error **err);
int hoist_config_set_workdir(hoist_config *c, const char *dir, hoist_error **err);
int hoist_config_set_entrypoint(hoist_config *c, json_t *arr, hoist_error **err);
int hoist_config_set_cmd(hoist_config *c, json_t *arr, hoist_error **err);
/* Sets or replaces KEY in Env from "KEY=VALUE". */
int hoist_config_set_env(hoist_config *c, const char *kv, hoist_error **err);
/* Value of KEY in Env, borrowed, or NULL. */
const char *hoist_config_get_env(const hoist_config *c, const char *key);
int hoist_config_set_label(hoist_config *c, const char *key, const char *value,
	hoist_error **err);
/* "80", "80/tcp", "53/udp" */
int hoist_config_add_exposed_port(hoist_config *c, const char *port, hoist_error **err);
int hoist_config_add_volume(hoist_config *c, const char *path, hoist_error **err);
int hoist_config_set_stop_signal(hoist_config *c, const char *sig, hoist_error **err);
int hoist_config_set_created(hoist_config *c, const char *rfc3339, hoist_error **err);
int hoist_config_set_platform(hoist_config *c, const hoist_platform *p, hoist_error **err);
int hoist_config_add_diff_id(hoist_config *c, const hoist_digest *d, hoist_error **err);
/* Drops the first n diff_ids and the history entries of those layers. */
int hoist_config_drop_layers(hoist_config *c, size_t n, hoist_error **err);
int hoist_config_add_history(hoist_config *c, const hoist_history_entry *h,
	hoist_error **err);

/* Deterministic bytes (JSON_COMPACT | JSON_SORT_KEYS). Caller frees. */
int hoist_config_serialize(const hoist_config *c, char **out, size_t *len,
	hoist_error **err);

#endif

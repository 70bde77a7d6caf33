/* Fuzz target for the image content model: manifest/index parsing (with no
 * hint and with each manifest media type as the hint), platform selection,
 * and image config parsing with its getters and serialisation.  Aborts when
 * a parse that succeeded broke a promise of the headers. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hoist/config.h"
#include "hoist/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz_manifest: %s:%d: check failed: %s\n", \
				__FILE__, __LINE__, #cond);                    \
			abort();                                               \
		}                                                              \
	} while (0)

static void check_descriptor(const hoist_descriptor *d)
{
	CHECK(d->media_type != NULL);
	CHECK(d->size >= 0);
	CHECK(hoist_digest_valid(d->digest.str));
	json_t *j = hoist_descriptor_to_json(d);
	CHECK(j != NULL);
	hoist_descriptor back;
	CHECK(hoist_descriptor_parse(&back, j, "fuzz", NULL) == 0);
	CHECK(hoist_digest_equal(&back.digest, &d->digest));
	CHECK(back.size == d->size);
	CHECK(strcmp(back.media_type, d->media_type) == 0);
	hoist_descriptor cp;
	CHECK(hoist_descriptor_copy(&cp, d, NULL) == 0);
	const char *a = hoist_descriptor_ref_name(d), *b = hoist_descriptor_ref_name(&cp);
	CHECK((a == NULL) == (b == NULL));
	CHECK(!a || strcmp(a, b) == 0);
	if (d->platform) {
		CHECK(back.platform != NULL);
		CHECK(hoist_platform_match(d->platform, back.platform));
		char *s = hoist_platform_string(d->platform);
		CHECK(s != NULL);
		free(s);
	}
	hoist_descriptor_release(&cp);
	hoist_descriptor_release(&back);
	json_decref(j);
}

static void exercise_manifest(const hoist_manifest *m, const uint8_t *data, size_t size)
{
	hoist_digest want;
	CHECK(m->raw_len == size);
	CHECK(memcmp(m->raw, data, size) == 0);
	CHECK(m->raw[size] == '\0');
	CHECK(hoist_digest_of(&want, HOIST_DIGEST_SHA256, data, size, NULL) == 0);
	CHECK(hoist_digest_equal(&m->digest, &want));
	CHECK(m->media_type != NULL);
	CHECK(m->kind == HOIST_MEDIA_MANIFEST || m->kind == HOIST_MEDIA_INDEX);
	CHECK(hoist_media_kind_of(m->media_type) == m->kind);
	CHECK(m->n_layers <= HOIST_MANIFEST_MAX_ENTRIES);
	CHECK(m->n_manifests <= HOIST_MANIFEST_MAX_ENTRIES);
	CHECK(hoist_manifest_size(m) >= 0);
	if (m->kind == HOIST_MEDIA_MANIFEST) {
		CHECK(m->n_manifests == 0);
		check_descriptor(&m->config);
		for (size_t i = 0; i < m->n_layers; i++)
			check_descriptor(&m->layers[i]);
	} else {
		CHECK(m->n_layers == 0);
		for (size_t i = 0; i < m->n_manifests; i++)
			check_descriptor(&m->manifests[i]);
	}
	if (m->subject)
		check_descriptor(m->subject);

	static const char *const wants[] = {
		"linux/amd64", "linux/arm64", "linux/arm/v7", "windows/amd64",
	};
	for (size_t i = 0; i < sizeof(wants) / sizeof(wants[0]); i++) {
		hoist_platform p;
		CHECK(hoist_platform_parse(&p, wants[i], NULL) == 0);
		const hoist_descriptor *d = NULL;
		hoist_error *err = NULL;
		int r = hoist_manifest_select(m, &p, &d, &err);
		if (r == 0) {
			CHECK(m->kind == HOIST_MEDIA_INDEX);
			CHECK(d >= m->manifests && d < m->manifests + m->n_manifests);
			CHECK(d->platform && hoist_platform_match(&p, d->platform));
			CHECK(err == NULL);
		} else {
			CHECK(err != NULL && err->msg != NULL);
			hoist_error_free(err);
		}
		hoist_platform_release(&p);
	}
}

static void exercise_config(hoist_config *c)
{
	(void)hoist_config_os(c);
	(void)hoist_config_architecture(c);
	(void)hoist_config_variant(c);
	(void)hoist_config_created(c);
	(void)hoist_config_user(c);
	(void)hoist_config_workdir(c);
	(void)hoist_config_entrypoint(c);
	(void)hoist_config_cmd(c);
	(void)hoist_config_exposed_ports(c);
	(void)hoist_config_labels(c);
	(void)hoist_config_volumes(c);
	(void)hoist_config_stop_signal(c);
	(void)hoist_config_get_env(c, "PATH");
	json_t *env = hoist_config_env(c);
	for (size_t i = 0; i < json_array_size(env); i++)
		CHECK(json_is_string(json_array_get(env, i)));
	size_t n = hoist_config_n_diff_ids(c);
	for (size_t i = 0; i < n; i++)
		CHECK(hoist_digest_valid(hoist_config_diff_id(c, i)));
	CHECK(hoist_config_diff_id(c, n) == NULL);
	size_t nh = hoist_config_n_history(c);
	for (size_t i = 0; i < nh; i++) {
		hoist_history_entry h;
		CHECK(hoist_config_history(c, i, &h) == 0);
	}

	char *s1 = NULL, *s2 = NULL;
	size_t l1 = 0, l2 = 0;
	CHECK(hoist_config_serialize(c, &s1, &l1, NULL) == 0);
	hoist_config *again = NULL;
	CHECK(hoist_config_parse(&again, s1, l1, NULL) == 0);
	CHECK(hoist_config_serialize(again, &s2, &l2, NULL) == 0);
	CHECK(l1 == l2 && memcmp(s1, s2, l1) == 0);

	/* Edits on whatever was read must work and keep it valid. */
	CHECK(hoist_config_set_env(again, "PATH=/bin", NULL) == 0);
	CHECK(strcmp(hoist_config_get_env(again, "PATH"), "/bin") == 0);
	CHECK(hoist_config_add_exposed_port(again, "80", NULL) == 0);
	CHECK(hoist_config_drop_layers(again, n, NULL) == 0);
	CHECK(hoist_config_n_diff_ids(again) == 0);
	free(s2);
	s2 = NULL;
	CHECK(hoist_config_serialize(again, &s2, &l2, NULL) == 0);
	hoist_config *third = NULL;
	CHECK(hoist_config_parse(&third, s2, l2, NULL) == 0);
	hoist_config_free(third);
	hoist_config_free(again);
	free(s1);
	free(s2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const hints[] = {
		NULL,
		HOIST_MT_OCI_MANIFEST,
		HOIST_MT_OCI_INDEX,
		HOIST_MT_DOCKER_MANIFEST,
		HOIST_MT_DOCKER_LIST,
		HOIST_MT_DOCKER_SCHEMA1_SIGNED,
	};
	for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++) {
		hoist_manifest *m = NULL;
		hoist_error *err = NULL;
		int r = hoist_manifest_parse(&m, data, size, hints[i], &err);
		if (r == 0) {
			CHECK(m != NULL && err == NULL);
			exercise_manifest(m, data, size);
			hoist_manifest_free(m);
		} else {
			CHECK(r < 0 && m == NULL);
			CHECK(err != NULL && err->code == -r && err->msg != NULL);
			hoist_error_free(err);
		}
	}

	hoist_config *c = NULL;
	hoist_error *err = NULL;
	int r = hoist_config_parse(&c, data, size, &err);
	if (r == 0) {
		CHECK(err == NULL);
		exercise_config(c);
		hoist_config_free(c);
	} else {
		CHECK(c == NULL && err != NULL && err->code == -r);
		hoist_error_free(err);
	}
	return 0;
}

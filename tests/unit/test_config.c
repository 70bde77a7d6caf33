#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "hoist/config.h"

#define D(c) "sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c \
	c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

/* A Docker-written config: nulls for empty fields, keys hoist ignores. */
static const char DOCKER_CONFIG[] =
	"{\"architecture\":\"arm\",\"variant\":\"v7\",\"os\":\"linux\","
	"\"created\":\"2024-01-11T21:33:44.548227538Z\",\"docker_version\":\"20.10.23\","
	"\"config\":{\"Hostname\":\"\",\"User\":\"nginx\",\"Env\":[\"PATH=/usr/bin:/bin\",\"LANG=C\"],"
	"\"Entrypoint\":null,\"Cmd\":[\"/bin/sh\",\"-c\",\"nginx\"],\"WorkingDir\":\"/srv\","
	"\"ExposedPorts\":{\"80/tcp\":{}},\"Volumes\":null,\"Labels\":{\"maintainer\":\"me\"},"
	"\"StopSignal\":\"SIGQUIT\",\"OnBuild\":null,\"ArgsEscaped\":true},"
	"\"container_config\":{\"Cmd\":[\"/bin/sh\"]},"
	"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D("1") "\",\"" D("2") "\",\"" D("3") "\"]},"
	"\"history\":["
	"{\"created\":\"2024-01-01T00:00:00Z\",\"created_by\":\"ADD file:x in /\"},"
	"{\"created\":\"2024-01-01T00:00:01Z\",\"created_by\":\"CMD [\\\"/bin/sh\\\"]\",\"empty_layer\":true},"
	"{\"created\":\"2024-01-01T00:00:02Z\",\"created_by\":\"RUN apk add nginx\",\"comment\":\"buildkit.dockerfile.v0\"},"
	"{\"created\":\"2024-01-01T00:00:03Z\",\"created_by\":\"ENV LANG=C\",\"empty_layer\":true},"
	"{\"created\":\"2024-01-01T00:00:04Z\",\"created_by\":\"COPY . /srv\"},"
	"{\"created\":\"2024-01-01T00:00:05Z\",\"created_by\":\"EXPOSE 80\",\"empty_layer\":true}"
	"]}";

static hoist_config *parse_ok(const char *s)
{
	hoist_config *c = NULL;
	hoist_error *err = NULL;
	if (hoist_config_parse(&c, s, strlen(s), &err) < 0)
		fail_msg("parse: %s", err->msg);
	return c;
}

static void parse_bad(const char *s, size_t n, int code, const char *want)
{
	hoist_config *c = NULL;
	hoist_error *err = NULL;
	int r = hoist_config_parse(&c, s, n, &err);
	if (r >= 0) {
		hoist_config_free(c);
		fail_msg("accepted: %.200s", s);
	}
	assert_null(c);
	if (r != -code || !err || !strstr(err->msg, want))
		fail_msg("'%.100s': got %d '%s', want %d '%s'", s, r, err ? err->msg : "",
			-code, want);
	hoist_error_free(err);
}

static char *serialize(const hoist_config *c)
{
	char *s = NULL;
	size_t n = 0;
	assert_int_equal(hoist_config_serialize(c, &s, &n, NULL), 0);
	assert_int_equal(strlen(s), n);
	return s;
}

static json_t *strings(const char *a, const char *b)
{
	json_t *arr = json_array();
	json_array_append_new(arr, json_string(a));
	if (b)
		json_array_append_new(arr, json_string(b));
	return arr;
}

static void test_getters(void **state)
{
	(void)state;
	hoist_config *c = parse_ok(DOCKER_CONFIG);
	assert_string_equal(hoist_config_os(c), "linux");
	assert_string_equal(hoist_config_architecture(c), "arm");
	assert_string_equal(hoist_config_variant(c), "v7");
	assert_string_equal(hoist_config_created(c), "2024-01-11T21:33:44.548227538Z");
	assert_string_equal(hoist_config_user(c), "nginx");
	assert_string_equal(hoist_config_workdir(c), "/srv");
	assert_null(hoist_config_entrypoint(c)); /* null reads as absent */
	assert_int_equal(json_array_size(hoist_config_cmd(c)), 3);
	assert_int_equal(json_array_size(hoist_config_env(c)), 2);
	assert_non_null(json_object_get(hoist_config_exposed_ports(c), "80/tcp"));
	assert_string_equal(json_string_value(json_object_get(hoist_config_labels(c),
				    "maintainer")), "me");
	assert_null(hoist_config_volumes(c));
	assert_string_equal(hoist_config_stop_signal(c), "SIGQUIT");
	assert_int_equal(hoist_config_n_diff_ids(c), 3);
	assert_string_equal(hoist_config_diff_id(c, 2), D("3"));
	assert_null(hoist_config_diff_id(c, 3));
	assert_string_equal(hoist_config_get_env(c, "PATH"), "/usr/bin:/bin");
	assert_string_equal(hoist_config_get_env(c, "LANG"), "C");
	assert_null(hoist_config_get_env(c, "LAN"));
	assert_null(hoist_config_get_env(c, "PATH=/usr"));
	assert_null(hoist_config_get_env(c, ""));

	assert_int_equal(hoist_config_n_history(c), 6);
	hoist_history_entry h;
	assert_int_equal(hoist_config_history(c, 2, &h), 0);
	assert_string_equal(h.created_by, "RUN apk add nginx");
	assert_string_equal(h.comment, "buildkit.dockerfile.v0");
	assert_string_equal(h.created, "2024-01-01T00:00:02Z");
	assert_false(h.empty_layer);
	assert_int_equal(hoist_config_history(c, 1, &h), 0);
	assert_true(h.empty_layer);
	assert_null(h.comment);
	assert_int_equal(hoist_config_history(c, 6, &h), -HOIST_E_NOTFOUND);
	hoist_config_free(c);

	/* An empty config (the OCI empty descriptor's "{}") reads as nothing. */
	c = parse_ok("{}");
	assert_null(hoist_config_os(c));
	assert_null(hoist_config_user(c));
	assert_null(hoist_config_env(c));
	assert_int_equal(hoist_config_n_diff_ids(c), 0);
	assert_int_equal(hoist_config_n_history(c), 0);
	assert_int_equal(hoist_config_history(c, 0, &h), -HOIST_E_NOTFOUND);
	hoist_config_free(c);
}

static void test_parse_errors(void **state)
{
	(void)state;
	parse_bad("[]", 2, HOIST_E_INVALID, "must be a JSON object");
	parse_bad("\"x\"", 3, HOIST_E_INVALID, "invalid image config JSON");
	parse_bad("{", 1, HOIST_E_INVALID, "invalid image config JSON");
	parse_bad("", 0, HOIST_E_INVALID, "empty");
	parse_bad("{\"os\":\"linux\",\"os\":\"linux\"}", 26, HOIST_E_INVALID, "duplicate");
	static const struct {
		const char *json, *want;
	} cases[] = {
		{ "{\"config\":{\"Env\":\"PATH=/bin\"}}", "'config.Env' must be an array of strings" },
		{ "{\"config\":{\"Env\":[\"A=1\",2]}}", "'config.Env' must be an array of strings" },
		{ "{\"config\":{\"Cmd\":\"sh\"}}", "'config.Cmd'" },
		{ "{\"config\":{\"Entrypoint\":{}}}", "'config.Entrypoint'" },
		{ "{\"config\":{\"User\":0}}", "'config.User' must be a string" },
		{ "{\"config\":{\"WorkingDir\":[]}}", "'config.WorkingDir'" },
		{ "{\"config\":{\"ExposedPorts\":[\"80/tcp\"]}}", "'config.ExposedPorts' must be an object" },
		{ "{\"config\":{\"Volumes\":\"/data\"}}", "'config.Volumes'" },
		{ "{\"config\":{\"Labels\":{\"a\":1}}}", "'config.Labels' must be an object of strings" },
		{ "{\"config\":{\"StopSignal\":9}}", "'config.StopSignal'" },
		{ "{\"config\":[]}", "'config' must be an object" },
		{ "{\"os\":1}", "'os' must be a string" },
		{ "{\"architecture\":true}", "'architecture'" },
		{ "{\"created\":1700000000}", "'created'" },
		{ "{\"rootfs\":\"layers\"}", "'rootfs' must be an object" },
		{ "{\"rootfs\":{\"diff_ids\":\"x\"}}", "'rootfs.diff_ids' must be an array of strings" },
		{ "{\"rootfs\":{\"diff_ids\":[\"sha256:abc\"]}}", "'rootfs.diff_ids[0]': invalid digest" },
		{ "{\"history\":{}}", "'history' must be an array" },
		{ "{\"history\":[{},1]}", "'history[1]' must be an object" },
		{ "{\"history\":[{\"empty_layer\":\"yes\"}]}", "'history[0].empty_layer' must be a boolean" },
		{ "{\"history\":[{\"created_by\":[]}]}", "'history[0].created_by'" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		parse_bad(cases[i].json, strlen(cases[i].json), HOIST_E_INVALID, cases[i].want);

	size_t n = HOIST_CONFIG_MAX + 1;
	char *big = malloc(n);
	assert_non_null(big);
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	parse_bad(big, n, HOIST_E_LIMIT, "over the limit");
	/* One byte less is within the limit and valid JSON. */
	hoist_config *c = NULL;
	assert_int_equal(hoist_config_parse(&c, big + 1, n - 1, NULL), -HOIST_E_INVALID);
	big[1] = '{';
	assert_int_equal(hoist_config_parse(&c, big + 1, n - 1, NULL), 0);
	hoist_config_free(c);
	free(big);
}

static void test_new_and_serialize(void **state)
{
	(void)state;
	hoist_platform p = { .os = "linux", .architecture = "arm64", .variant = "v8" };
	hoist_config *c = NULL;
	assert_int_equal(hoist_config_new(&c, &p, NULL), 0);
	char *s = serialize(c);
	assert_string_equal(s, "{\"architecture\":\"arm64\",\"config\":{},\"os\":\"linux\","
			       "\"rootfs\":{\"diff_ids\":[],\"type\":\"layers\"},\"variant\":\"v8\"}");
	free(s);
	hoist_config_free(c);

	hoist_platform none = { .os = "linux" };
	hoist_error *err = NULL;
	assert_int_equal(hoist_config_new(&c, &none, &err), -HOIST_E_INVALID);
	hoist_error_free(err);
}

static void test_setters(void **state)
{
	(void)state;
	hoist_platform p = { .os = "linux", .architecture = "amd64" };
	hoist_config *c = NULL;
	hoist_error *err = NULL;
	assert_int_equal(hoist_config_new(&c, &p, NULL), 0);

	assert_int_equal(hoist_config_set_user(c, "1000:1000", NULL), 0);
	assert_string_equal(hoist_config_user(c), "1000:1000");
	assert_int_equal(hoist_config_set_user(c, NULL, NULL), 0);
	assert_null(hoist_config_user(c));

	assert_int_equal(hoist_config_set_workdir(c, "/app", NULL), 0);
	assert_string_equal(hoist_config_workdir(c), "/app");

	json_t *ep = strings("/entry", "--flag");
	assert_int_equal(hoist_config_set_entrypoint(c, ep, NULL), 0);
	json_array_clear(ep); /* copied, not referenced */
	assert_int_equal(json_array_size(hoist_config_entrypoint(c)), 2);
	assert_string_equal(json_string_value(json_array_get(hoist_config_entrypoint(c), 1)),
		"--flag");
	json_decref(ep);
	json_t *bad = json_pack("[s,i]", "a", 1);
	assert_int_equal(hoist_config_set_cmd(c, bad, &err), -HOIST_E_INVALID);
	assert_non_null(strstr(err->msg, "Cmd"));
	hoist_error_free(err);
	err = NULL;
	json_decref(bad);
	json_t *cmd = strings("serve", NULL);
	assert_int_equal(hoist_config_set_cmd(c, cmd, NULL), 0);
	json_decref(cmd);
	assert_int_equal(json_array_size(hoist_config_cmd(c)), 1);
	assert_int_equal(hoist_config_set_entrypoint(c, NULL, NULL), 0);
	assert_null(hoist_config_entrypoint(c));

	/* Env: KEY replaced in place, order kept. */
	assert_int_equal(hoist_config_set_env(c, "PATH=/bin", NULL), 0);
	assert_int_equal(hoist_config_set_env(c, "A=1", NULL), 0);
	assert_int_equal(hoist_config_set_env(c, "PATH=/usr/bin:/bin", NULL), 0);
	assert_int_equal(hoist_config_set_env(c, "EMPTY=", NULL), 0);
	assert_int_equal(hoist_config_set_env(c, "A=x=y", NULL), 0);
	json_t *env = hoist_config_env(c);
	assert_int_equal(json_array_size(env), 3);
	assert_string_equal(json_string_value(json_array_get(env, 0)), "PATH=/usr/bin:/bin");
	assert_string_equal(json_string_value(json_array_get(env, 1)), "A=x=y");
	assert_string_equal(hoist_config_get_env(c, "A"), "x=y");
	assert_string_equal(hoist_config_get_env(c, "EMPTY"), "");
	assert_int_equal(hoist_config_set_env(c, "NOVALUE", &err), -HOIST_E_INVALID);
	assert_non_null(strstr(err->msg, "'NOVALUE'"));
	hoist_error_free(err);
	err = NULL;
	assert_int_equal(hoist_config_set_env(c, "=x", NULL), -HOIST_E_INVALID);
	assert_int_equal(hoist_config_set_env(c, "BAD=\xff", &err), -HOIST_E_INVALID);
	assert_non_null(strstr(err->msg, "UTF-8"));
	hoist_error_free(err);
	err = NULL;
	assert_int_equal(json_array_size(hoist_config_env(c)), 3);

	assert_int_equal(hoist_config_set_label(c, "org.example.a", "1", NULL), 0);
	assert_int_equal(hoist_config_set_label(c, "org.example.b", "2", NULL), 0);
	assert_int_equal(hoist_config_set_label(c, "org.example.a", NULL, NULL), 0);
	assert_null(json_object_get(hoist_config_labels(c), "org.example.a"));
	assert_string_equal(json_string_value(json_object_get(hoist_config_labels(c),
				    "org.example.b")), "2");
	assert_int_equal(hoist_config_set_label(c, "", "x", NULL), -HOIST_E_INVALID);

	assert_int_equal(hoist_config_add_volume(c, "/data", NULL), 0);
	assert_true(json_is_object(json_object_get(hoist_config_volumes(c), "/data")));
	assert_int_equal(hoist_config_add_volume(c, "", NULL), -HOIST_E_INVALID);

	assert_int_equal(hoist_config_set_stop_signal(c, "SIGTERM", NULL), 0);
	assert_string_equal(hoist_config_stop_signal(c), "SIGTERM");
	assert_int_equal(hoist_config_set_stop_signal(c, "9", NULL), 0);
	assert_int_equal(hoist_config_set_stop_signal(c, "SIG TERM", NULL), -HOIST_E_INVALID);
	assert_string_equal(hoist_config_stop_signal(c), "9");

	assert_int_equal(hoist_config_set_created(c, "2024-02-03T04:05:06Z", NULL), 0);
	assert_int_equal(hoist_config_set_created(c, "2024-02-03T04:05:06.123456789+01:00", NULL), 0);
	assert_string_equal(hoist_config_created(c), "2024-02-03T04:05:06.123456789+01:00");
	static const char *const bad_times[] = {
		"2024-02-03", "2024-02-03 04:05:06Z", "2024-13-03T04:05:06Z",
		"2024-02-03T04:05:06", "2024-02-03T04:05:06.Z", "1700000000", "",
		"2024-02-03T04:05:06+0100",
	};
	for (size_t i = 0; i < sizeof(bad_times) / sizeof(bad_times[0]); i++)
		if (hoist_config_set_created(c, bad_times[i], NULL) != -HOIST_E_INVALID)
			fail_msg("accepted created '%s'", bad_times[i]);
	assert_string_equal(hoist_config_created(c), "2024-02-03T04:05:06.123456789+01:00");
	assert_int_equal(hoist_config_set_created(c, NULL, NULL), 0);
	assert_null(hoist_config_created(c));

	hoist_platform arm = { .os = "linux", .architecture = "arm", .variant = "v7" };
	assert_int_equal(hoist_config_set_platform(c, &arm, NULL), 0);
	assert_string_equal(hoist_config_architecture(c), "arm");
	assert_string_equal(hoist_config_variant(c), "v7");
	assert_int_equal(hoist_config_set_platform(c, &p, NULL), 0);
	assert_null(hoist_config_variant(c));

	hoist_digest d;
	assert_int_equal(hoist_digest_parse(&d, D("a"), NULL), 0);
	assert_int_equal(hoist_config_add_diff_id(c, &d, NULL), 0);
	assert_int_equal(hoist_config_n_diff_ids(c), 1);
	assert_string_equal(hoist_config_diff_id(c, 0), D("a"));

	hoist_history_entry h = { .created = "2024-02-03T04:05:06Z",
		.created_by = "RUN make", .comment = "hoist", .empty_layer = false };
	assert_int_equal(hoist_config_add_history(c, &h, NULL), 0);
	hoist_history_entry e = { .created_by = "ENV A=1", .empty_layer = true };
	assert_int_equal(hoist_config_add_history(c, &e, NULL), 0);
	assert_int_equal(hoist_config_n_history(c), 2);
	hoist_history_entry got;
	assert_int_equal(hoist_config_history(c, 1, &got), 0);
	assert_true(got.empty_layer);
	assert_null(got.created);
	assert_string_equal(got.created_by, "ENV A=1");

	char *s = serialize(c);
	assert_string_equal(s,
		"{\"architecture\":\"amd64\",\"config\":{\"Cmd\":[\"serve\"],"
		"\"Env\":[\"PATH=/usr/bin:/bin\",\"A=x=y\",\"EMPTY=\"],"
		"\"Labels\":{\"org.example.b\":\"2\"},\"StopSignal\":\"9\","
		"\"Volumes\":{\"/data\":{}},\"WorkingDir\":\"/app\"},"
		"\"history\":[{\"comment\":\"hoist\",\"created\":\"2024-02-03T04:05:06Z\","
		"\"created_by\":\"RUN make\"},{\"created_by\":\"ENV A=1\",\"empty_layer\":true}],"
		"\"os\":\"linux\",\"rootfs\":{\"diff_ids\":[\"" D("a") "\"],\"type\":\"layers\"}}");
	free(s);

	/* NULL clears whole fields. */
	assert_int_equal(hoist_config_set_env(c, NULL, NULL), 0);
	assert_null(hoist_config_env(c));
	assert_int_equal(hoist_config_add_volume(c, NULL, NULL), 0);
	assert_null(hoist_config_volumes(c));
	hoist_config_free(c);
}

static void test_setters_on_docker_nulls(void **state)
{
	(void)state;
	/* Docker's nulls are replaced by values, not tripped over. */
	hoist_config *c = parse_ok("{\"config\":{\"Env\":null,\"Volumes\":null,\"Labels\":null,"
				   "\"ExposedPorts\":null},\"history\":null,\"rootfs\":null}");
	assert_int_equal(hoist_config_set_env(c, "A=1", NULL), 0);
	assert_int_equal(hoist_config_add_volume(c, "/v", NULL), 0);
	assert_int_equal(hoist_config_set_label(c, "k", "v", NULL), 0);
	assert_int_equal(hoist_config_add_exposed_port(c, "53/udp", NULL), 0);
	hoist_digest d;
	assert_int_equal(hoist_digest_parse(&d, D("b"), NULL), 0);
	assert_int_equal(hoist_config_add_diff_id(c, &d, NULL), 0);
	hoist_history_entry h = { .created_by = "x" };
	assert_int_equal(hoist_config_add_history(c, &h, NULL), 0);
	char *s = serialize(c);
	assert_string_equal(s, "{\"config\":{\"Env\":[\"A=1\"],\"ExposedPorts\":{\"53/udp\":{}},"
			       "\"Labels\":{\"k\":\"v\"},\"Volumes\":{\"/v\":{}}},"
			       "\"history\":[{\"created_by\":\"x\"}],"
			       "\"rootfs\":{\"diff_ids\":[\"" D("b") "\"],\"type\":\"layers\"}}");
	free(s);
	hoist_config_free(c);
}

static void test_exposed_ports(void **state)
{
	(void)state;
	hoist_config *c = parse_ok("{}");
	hoist_error *err = NULL;
	assert_int_equal(hoist_config_add_exposed_port(c, "80", NULL), 0);
	assert_int_equal(hoist_config_add_exposed_port(c, "443/tcp", NULL), 0);
	assert_int_equal(hoist_config_add_exposed_port(c, "53/UDP", NULL), 0);
	assert_int_equal(hoist_config_add_exposed_port(c, "9000/sctp", NULL), 0);
	assert_int_equal(hoist_config_add_exposed_port(c, "65535", NULL), 0);
	assert_int_equal(hoist_config_add_exposed_port(c, "80/tcp", NULL), 0);
	assert_int_equal(hoist_config_add_exposed_port(c, "7000-7002/udp", NULL), 0);
	json_t *ports = hoist_config_exposed_ports(c);
	static const char *const want[] = {
		"80/tcp", "443/tcp", "53/udp", "9000/sctp", "65535/tcp",
		"7000/udp", "7001/udp", "7002/udp",
	};
	assert_int_equal(json_object_size(ports), sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		json_t *v = json_object_get(ports, want[i]);
		if (!json_is_object(v) || json_object_size(v) != 0)
			fail_msg("missing port '%s'", want[i]);
	}

	static const struct {
		const char *in, *msg;
	} bad[] = {
		{ "0", "from 1 to 65535" }, { "65536", "from 1 to 65535" },
		{ "-1", "from 1 to 65535" }, { "http", "from 1 to 65535" },
		{ "", "from 1 to 65535" }, { "80/", "tcp, udp or sctp" },
		{ "80/icmp", "tcp, udp or sctp" }, { "80/tcp/x", "tcp, udp or sctp" },
		{ "+80", "from 1 to 65535" }, { "8 0", "from 1 to 65535" },
		{ "000080", "from 1 to 65535" }, { "90-80", "ends before it starts" },
		{ "80-", "from 1 to 65535" }, { "/tcp", "from 1 to 65535" },
		{ "80/tcpudpsctp", "tcp, udp or sctp" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (hoist_config_add_exposed_port(c, bad[i].in, &err) != -HOIST_E_INVALID ||
			!strstr(err->msg, bad[i].msg))
			fail_msg("port '%s': %s", bad[i].in, err ? err->msg : "accepted");
		char quoted[64];
		snprintf(quoted, sizeof(quoted), "invalid port '%s'", bad[i].in);
		assert_non_null(strstr(err->msg, quoted));
		hoist_error_free(err);
		err = NULL;
	}
	assert_int_equal(json_object_size(hoist_config_exposed_ports(c)), 8);
	assert_int_equal(hoist_config_add_exposed_port(c, NULL, NULL), 0);
	assert_null(hoist_config_exposed_ports(c));
	hoist_config_free(c);
}

static void test_drop_layers(void **state)
{
	(void)state;
	hoist_config *c = parse_ok(DOCKER_CONFIG);
	hoist_history_entry h;
	hoist_error *err = NULL;

	assert_int_equal(hoist_config_drop_layers(c, 4, &err), -HOIST_E_INVALID);
	assert_non_null(strstr(err->msg, "has 3"));
	hoist_error_free(err);
	assert_int_equal(hoist_config_drop_layers(c, 0, NULL), 0);
	assert_int_equal(hoist_config_n_diff_ids(c), 3);
	assert_int_equal(hoist_config_n_history(c), 6);

	/* Layer 1 is history[0]; the empty CMD after it belongs to layer 2. */
	assert_int_equal(hoist_config_drop_layers(c, 1, NULL), 0);
	assert_int_equal(hoist_config_n_diff_ids(c), 2);
	assert_string_equal(hoist_config_diff_id(c, 0), D("2"));
	assert_int_equal(hoist_config_n_history(c), 5);
	assert_int_equal(hoist_config_history(c, 0, &h), 0);
	assert_true(h.empty_layer);
	assert_string_equal(h.created_by, "CMD [\"/bin/sh\"]");

	/* Layer 2 (RUN) and the empty CMD before it go; ENV stays. */
	assert_int_equal(hoist_config_drop_layers(c, 1, NULL), 0);
	assert_int_equal(hoist_config_n_diff_ids(c), 1);
	assert_string_equal(hoist_config_diff_id(c, 0), D("3"));
	assert_int_equal(hoist_config_n_history(c), 3);
	assert_int_equal(hoist_config_history(c, 0, &h), 0);
	assert_string_equal(h.created_by, "ENV LANG=C");
	hoist_config_free(c);

	/* Two at once from the start: up to and including RUN. */
	c = parse_ok(DOCKER_CONFIG);
	assert_int_equal(hoist_config_drop_layers(c, 2, NULL), 0);
	assert_int_equal(hoist_config_n_history(c), 3);
	assert_int_equal(hoist_config_history(c, 2, &h), 0);
	assert_string_equal(h.created_by, "EXPOSE 80");
	/* All layers: only the trailing empty entry is left. */
	hoist_config_free(c);
	c = parse_ok(DOCKER_CONFIG);
	assert_int_equal(hoist_config_drop_layers(c, 3, NULL), 0);
	assert_int_equal(hoist_config_n_diff_ids(c), 0);
	assert_int_equal(hoist_config_n_history(c), 1);
	assert_int_equal(hoist_config_history(c, 0, &h), 0);
	assert_string_equal(h.created_by, "EXPOSE 80");
	hoist_config_free(c);

	/* No history at all is fine. */
	c = parse_ok("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D("1") "\",\"" D("2") "\"]}}");
	assert_int_equal(hoist_config_drop_layers(c, 1, NULL), 0);
	assert_int_equal(hoist_config_n_diff_ids(c), 1);
	assert_int_equal(hoist_config_n_history(c), 0);
	hoist_config_free(c);
}

static void test_serialize_deterministic(void **state)
{
	(void)state;
	/* Same edits in a different order give the same bytes. */
	hoist_platform p = { .os = "linux", .architecture = "amd64" };
	hoist_config *a = NULL, *b = NULL;
	assert_int_equal(hoist_config_new(&a, &p, NULL), 0);
	assert_int_equal(hoist_config_new(&b, &p, NULL), 0);
	assert_int_equal(hoist_config_set_label(a, "x", "1", NULL), 0);
	assert_int_equal(hoist_config_set_user(a, "u", NULL), 0);
	assert_int_equal(hoist_config_add_exposed_port(a, "80", NULL), 0);
	assert_int_equal(hoist_config_add_exposed_port(a, "22", NULL), 0);
	assert_int_equal(hoist_config_add_exposed_port(b, "22/tcp", NULL), 0);
	assert_int_equal(hoist_config_add_exposed_port(b, "80/tcp", NULL), 0);
	assert_int_equal(hoist_config_set_user(b, "u", NULL), 0);
	assert_int_equal(hoist_config_set_label(b, "x", "1", NULL), 0);
	char *sa = serialize(a), *sb = serialize(b);
	assert_string_equal(sa, sb);
	free(sa);
	free(sb);
	hoist_config_free(a);
	hoist_config_free(b);

	/* parse(serialize(x)) serialises to the same bytes, and unknown fields
	 * survive. */
	hoist_config *c = parse_ok(DOCKER_CONFIG);
	char *s1 = serialize(c);
	assert_null(strchr(s1, '\n'));
	assert_non_null(strstr(s1, "\"docker_version\":\"20.10.23\""));
	assert_non_null(strstr(s1, "\"container_config\":{\"Cmd\":[\"/bin/sh\"]}"));
	hoist_config *c2 = parse_ok(s1);
	char *s2 = serialize(c2);
	assert_string_equal(s1, s2);
	hoist_digest d1, d2;
	assert_int_equal(hoist_digest_of(&d1, HOIST_DIGEST_SHA256, s1, strlen(s1), NULL), 0);
	assert_int_equal(hoist_digest_of(&d2, HOIST_DIGEST_SHA256, s2, strlen(s2), NULL), 0);
	assert_true(hoist_digest_equal(&d1, &d2));
	free(s1);
	free(s2);
	hoist_config_free(c);
	hoist_config_free(c2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_getters),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_new_and_serialize),
		cmocka_unit_test(test_setters),
		cmocka_unit_test(test_setters_on_docker_nulls),
		cmocka_unit_test(test_exposed_ports),
		cmocka_unit_test(test_drop_layers),
		cmocka_unit_test(test_serialize_deterministic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

#include "hoist/ctx.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"

typedef struct attachment {
	char *key;
	void *value;
	void (*free_fn)(void *);
} attachment;

struct hoist_ctx {
	char *home;
	pthread_mutex_t lock;
	attachment *att;
	size_t n_att;
	hoist_log_fn log_fn;
	void *log_ud;
	int log_level;
	hoist_progress_fn progress_fn;
	void *progress_ud;
	int jobs;
	char **insecure;
	size_t n_insecure;
	char *ca_file;
	char *auth_file;
	int retries;
	int timeout;
};

static char *default_home(void)
{
	char *s = NULL;
	const char *h = getenv("HOIST_HOME");
	if (h && *h)
		return strdup(h);
	h = getenv("XDG_DATA_HOME");
	if (h && *h && asprintf(&s, "%s/hoist", h) >= 0)
		return s;
	h = getenv("HOME");
	if (!h || !*h)
		h = "/root";
	if (asprintf(&s, "%s/.local/share/hoist", h) >= 0)
		return s;
	return NULL;
}

int hoist_ctx_new(hoist_ctx **out, hoist_error **err)
{
	hoist_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	c->home = default_home();
	if (!c->home) {
		free(c);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	c->log_level = HOIST_LOG_WARN;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	if (cores < 1)
		cores = 1;
	c->jobs = cores * 2 > 8 ? 8 : (int)cores * 2;
	if (c->jobs < 4)
		c->jobs = 4;
	c->retries = 5;
	c->timeout = 60;
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
}

void hoist_ctx_free(hoist_ctx *c)
{
	if (!c)
		return;
	/* Last attached first: later modules may use earlier ones. */
	for (size_t i = c->n_att; i-- > 0;) {
		if (c->att[i].free_fn)
			c->att[i].free_fn(c->att[i].value);
		free(c->att[i].key);
	}
	free(c->att);
	pthread_mutex_destroy(&c->lock);
	free(c->home);
	for (size_t i = 0; i < c->n_insecure; i++)
		free(c->insecure[i]);
	free(c->insecure);
	free(c->ca_file);
	free(c->auth_file);
	free(c);
}

static int set_str(char **dst, const char *v, hoist_error **err)
{
	char *n = NULL;
	if (v && !(n = strdup(v)))
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	free(*dst);
	*dst = n;
	return 0;
}

int hoist_ctx_set_home(hoist_ctx *c, const char *dir, hoist_error **err)
{
	if (!dir || !*dir)
		return hoist_error_set(err, HOIST_E_INVALID, "empty store directory");
	return set_str(&c->home, dir, err);
}

const char *hoist_ctx_home(const hoist_ctx *c)
{
	return c->home;
}

void hoist_ctx_set_log(hoist_ctx *c, hoist_log_fn fn, void *ud, int level)
{
	c->log_fn = fn;
	c->log_ud = ud;
	c->log_level = level;
}

int hoist_ctx_log_level(const hoist_ctx *c)
{
	return c->log_level;
}

void hoist_log(const hoist_ctx *c, int level, const char *fmt, ...)
{
	if (!c || !c->log_fn || level > c->log_level)
		return;
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *m = NULL;
	int n = vasprintf(&m, fmt, ap);
	va_end(ap);
	if (n >= 0)
		c->log_fn(c->log_ud, level, m);
}

void hoist_ctx_set_progress(hoist_ctx *c, hoist_progress_fn fn, void *ud)
{
	c->progress_fn = fn;
	c->progress_ud = ud;
}

void hoist_ctx_progress(const hoist_ctx *c, const hoist_progress *p)
{
	if (c && c->progress_fn)
		c->progress_fn(c->progress_ud, p);
}

void hoist_ctx_set_jobs(hoist_ctx *c, int jobs)
{
	c->jobs = jobs < 1 ? 1 : jobs > 64 ? 64 : jobs;
}

int hoist_ctx_jobs(const hoist_ctx *c)
{
	return c->jobs;
}

int hoist_ctx_add_insecure(hoist_ctx *c, const char *host, hoist_error **err)
{
	char **n = realloc(c->insecure, (c->n_insecure + 1) * sizeof(*n));
	if (!n)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	c->insecure = n;
	if (!(n[c->n_insecure] = strdup(host)))
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	c->n_insecure++;
	return 0;
}

bool hoist_ctx_is_insecure(const hoist_ctx *c, const char *host)
{
	for (size_t i = 0; i < c->n_insecure; i++)
		if (!strcmp(c->insecure[i], host) || !strcmp(c->insecure[i], "*"))
			return true;
	return false;
}

int hoist_ctx_set_ca_file(hoist_ctx *c, const char *path, hoist_error **err)
{
	return set_str(&c->ca_file, path, err);
}

const char *hoist_ctx_ca_file(const hoist_ctx *c)
{
	return c->ca_file;
}

int hoist_ctx_set_auth_file(hoist_ctx *c, const char *path, hoist_error **err)
{
	return set_str(&c->auth_file, path, err);
}

const char *hoist_ctx_auth_file(const hoist_ctx *c)
{
	return c->auth_file;
}

void hoist_ctx_set_retries(hoist_ctx *c, int retries)
{
	c->retries = retries < 0 ? 0 : retries;
}

int hoist_ctx_retries(const hoist_ctx *c)
{
	return c->retries;
}

void hoist_ctx_set_timeout(hoist_ctx *c, int seconds)
{
	c->timeout = seconds < 1 ? 1 : seconds;
}

int hoist_ctx_timeout(const hoist_ctx *c)
{
	return c->timeout;
}

int hoist_ctx_attach(hoist_ctx *c, const char *key, void *value,
	void (*free_fn)(void *), void **out, hoist_error **err)
{
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n_att; i++) {
		if (!strcmp(c->att[i].key, key)) {
			void *existing = c->att[i].value;
			pthread_mutex_unlock(&c->lock);
			if (free_fn && value != existing)
				free_fn(value);
			*out = existing;
			return 0;
		}
	}
	attachment *n = realloc(c->att, (c->n_att + 1) * sizeof(*n));
	char *k = strdup(key);
	if (!n || !k) {
		if (n)
			c->att = n;
		pthread_mutex_unlock(&c->lock);
		free(k);
		if (free_fn)
			free_fn(value);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	c->att = n;
	c->att[c->n_att++] = (attachment){ k, value, free_fn };
	pthread_mutex_unlock(&c->lock);
	*out = value;
	return 0;
}

void *hoist_ctx_attached(hoist_ctx *c, const char *key)
{
	void *v = NULL;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n_att && !v; i++)
		if (!strcmp(c->att[i].key, key))
			v = c->att[i].value;
	pthread_mutex_unlock(&c->lock);
	return v;
}

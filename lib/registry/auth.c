/* WWW-Authenticate parsing and the token flow: Basic credentials, Bearer
 * tokens (anonymous, Basic to the token server, or an OAuth2 refresh token
 * for identity tokens), cached per scope set until they expire. */
#include <ctype.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hoist/auth.h"
#include "registry/internal.h"
#include "util/cleanup.h"

/* Challenges */

static bool is_tchar(char c)
{
	return isalnum((unsigned char)c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_t68char(char c)
{
	return isalnum((unsigned char)c) || (c && strchr("-._~+/", c));
}

static void skip_ows(const char **p)
{
	while (**p == ' ' || **p == '\t')
		(*p)++;
}

static char *lower_dup(const char *s, size_t n)
{
	char *d = strndup(s, n);
	for (char *c = d; c && *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return d;
}

void hoist_auth_challenges_free(hoist_auth_challenge *c, size_t n)
{
	for (size_t i = 0; c && i < n; i++) {
		free(c[i].scheme);
		free(c[i].token68);
		for (size_t j = 0; j < c[i].n_params; j++) {
			free(c[i].params[j].name);
			free(c[i].params[j].value);
		}
		free(c[i].params);
	}
	free(c);
}

const char *hoist_auth_challenge_param(const hoist_auth_challenge *c,
	const char *name)
{
	for (size_t i = 0; i < c->n_params; i++)
		if (!strcasecmp(c->params[i].name, name))
			return c->params[i].value;
	return NULL;
}

/* quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE */
static int parse_quoted(const char **pp, char **out, hoist_error **err)
{
	const char *p = *pp + 1;
	hoist_buf b = HOIST_BUF_INIT(HOIST_AUTH_HEADER_MAX);
	for (;;) {
		if (*p == '\0') {
			hoist_buf_release(&b);
			return hoist_error_set(err, HOIST_E_INVALID,
				"unterminated quoted string in challenge");
		}
		if (*p == '"')
			break;
		if (*p == '\\') {
			p++;
			if (*p == '\0')
				continue;
		}
		if (hoist_buf_append(&b, p, 1, err) < 0) {
			hoist_buf_release(&b);
			return -HOIST_E_LIMIT;
		}
		p++;
	}
	*pp = p + 1;
	*out = b.data ? hoist_buf_steal(&b, NULL) : strdup("");
	if (!*out)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	return 0;
}

static int add_param(hoist_auth_challenge *c, char *name, char *value,
	hoist_error **err)
{
	if (c->n_params >= HOIST_AUTH_PARAMS_MAX) {
		free(name);
		free(value);
		return hoist_error_set(err, HOIST_E_LIMIT,
			"challenge '%s' has more than %d parameters", c->scheme,
			HOIST_AUTH_PARAMS_MAX);
	}
	hoist_auth_param *v = realloc(c->params, (c->n_params + 1) * sizeof(*v));
	if (!v) {
		free(name);
		free(value);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	c->params = v;
	v[c->n_params++] = (hoist_auth_param){ name, value };
	return 0;
}

/* Looks at p (after OWS): is it "token BWS =" followed by a value (an
 * auth-param) rather than a new challenge's scheme? */
static bool at_param(const char *p)
{
	const char *q = p;
	while (is_tchar(*q))
		q++;
	if (q == p)
		return false;
	skip_ows(&q);
	if (*q != '=')
		return false;
	q++;
	/* "abc==" or "abc=" at the end is token68, not a parameter */
	skip_ows(&q);
	return *q != '=' && *q != ',' && *q != '\0';
}

int hoist_auth_parse_challenges(hoist_auth_challenge **out, size_t *n_out,
	const char *header, hoist_error **err)
{
	*out = NULL;
	*n_out = 0;
	if (!header)
		return hoist_error_set(err, HOIST_E_INVALID, "empty challenge");
	if (strlen(header) > HOIST_AUTH_HEADER_MAX)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"challenge longer than %d bytes", HOIST_AUTH_HEADER_MAX);
	hoist_auth_challenge *v = NULL;
	size_t n = 0;
	const char *p = header;
	int rc = 0;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		const char *s = p;
		while (is_tchar(*p))
			p++;
		if (p == s) {
			rc = hoist_error_set(err, HOIST_E_INVALID,
				"invalid character '%c' where an authentication scheme was expected",
				isprint((unsigned char)*p) ? *p : '?');
			goto fail;
		}
		if (n >= HOIST_AUTH_CHALLENGES_MAX) {
			rc = hoist_error_set(err, HOIST_E_LIMIT,
				"more than %d challenges", HOIST_AUTH_CHALLENGES_MAX);
			goto fail;
		}
		hoist_auth_challenge *nv = realloc(v, (n + 1) * sizeof(*nv));
		if (!nv) {
			rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
			goto fail;
		}
		v = nv;
		hoist_auth_challenge *c = &v[n++];
		*c = (hoist_auth_challenge){ 0 };
		if (!(c->scheme = lower_dup(s, (size_t)(p - s)))) {
			rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
			goto fail;
		}
		if (*p != ' ' && *p != '\t' && *p != ',' && *p != '\0') {
			rc = hoist_error_set(err, HOIST_E_INVALID,
				"invalid character '%c' after scheme '%s'",
				isprint((unsigned char)*p) ? *p : '?', c->scheme);
			goto fail;
		}
		skip_ows(&p);
		/* token68 right after the scheme */
		if (is_t68char(*p) && !at_param(p)) {
			const char *t = p;
			while (is_t68char(*p))
				p++;
			while (*p == '=')
				p++;
			const char *te = p;
			skip_ows(&p);
			if (*p == '\0' || *p == ',') {
				if (!(c->token68 = strndup(t, (size_t)(te - t)))) {
					rc = hoist_error_set(err, HOIST_E_NOMEM,
						"out of memory");
					goto fail;
				}
				continue;
			}
			/* Not a token68 after all: a new challenge
			 * ("Basic Bearer realm=..." is malformed, but the
			 * next scheme starts at t). */
			p = t;
			continue;
		}
		/* #auth-param */
		for (;;) {
			const char *save = p;
			while (*p == ' ' || *p == '\t' || *p == ',')
				p++;
			if (*p == '\0' || !at_param(p)) {
				if (*p != '\0' && p == save && c->n_params) {
					rc = hoist_error_set(err, HOIST_E_INVALID,
						"missing ',' between parameters of '%s'",
						c->scheme);
					goto fail;
				}
				break;
			}
			if (p == save && c->n_params) {
				rc = hoist_error_set(err, HOIST_E_INVALID,
					"missing ',' between parameters of '%s'",
					c->scheme);
				goto fail;
			}
			const char *ns = p;
			while (is_tchar(*p))
				p++;
			char *name = lower_dup(ns, (size_t)(p - ns));
			skip_ows(&p);
			p++; /* '=' (at_param checked) */
			skip_ows(&p);
			char *value = NULL;
			int e;
			if (*p == '"') {
				e = parse_quoted(&p, &value, err);
			} else {
				/* token; be lenient with unquoted URLs */
				const char *vs = p;
				while (*p && *p != ',' && *p != ' ' && *p != '\t' &&
					*p != '"')
					p++;
				value = strndup(vs, (size_t)(p - vs));
				e = value ? 0 : -HOIST_E_NOMEM;
			}
			if (!name || e < 0) {
				free(name);
				free(value);
				rc = e < 0 ? e : hoist_error_set(err, HOIST_E_NOMEM,
					"out of memory");
				if (err && !*err)
					hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
				goto fail;
			}
			rc = add_param(c, name, value, err);
			if (rc < 0)
				goto fail;
			skip_ows(&p);
			if (*p != ',' && *p != '\0') {
				rc = hoist_error_set(err, HOIST_E_INVALID,
					"unexpected character '%c' after parameter of '%s'",
					isprint((unsigned char)*p) ? *p : '?', c->scheme);
				goto fail;
			}
		}
	}
	if (n == 0)
		return hoist_error_set(err, HOIST_E_INVALID, "empty challenge");
	*out = v;
	*n_out = n;
	return 0;
fail:
	hoist_auth_challenges_free(v, n);
	return rc < 0 ? rc : -HOIST_E_INVALID;
}

/* Tokens */

int reg_parse_token_response(const char *body, size_t len, char **token,
	long *expires_in, hoist_error **err)
{
	json_error_t je;
	json_t *root = json_loadb(body ? body : "", len, 0, &je);
	if (!json_is_object(root)) {
		json_decref(root);
		return hoist_error_set(err, HOIST_E_AUTH,
			"token response is not a JSON object");
	}
	const char *t = json_string_value(json_object_get(root, "token"));
	if (!t || !*t)
		t = json_string_value(json_object_get(root, "access_token"));
	if (!t || !*t) {
		json_decref(root);
		return hoist_error_set(err, HOIST_E_AUTH,
			"token response has no token");
	}
	for (const char *c = t; *c; c++)
		if ((unsigned char)*c < 0x21 || *c == 0x7f) {
			json_decref(root);
			return hoist_error_set(err, HOIST_E_AUTH,
				"token response holds an invalid token");
		}
	json_t *ex = json_object_get(root, "expires_in");
	long e = json_is_integer(ex) ? (long)json_integer_value(ex) : 0;
	if (e <= 0 || e > 86400 * 365)
		e = 60;
	*expires_in = e;
	*token = strdup(t);
	json_decref(root);
	if (!*token)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	return 0;
}

static char *b64(const void *p, size_t n)
{
	size_t cap = 4 * ((n + 2) / 3) + 1;
	char *o = malloc(cap);
	if (o)
		EVP_EncodeBlock((unsigned char *)o, p, (int)n);
	return o;
}

static char *basic_header(const char *user, const char *pass)
{
	_cleanup_free_ char *up = NULL;
	if (asprintf(&up, "%s:%s", user ? user : "", pass ? pass : "") < 0)
		return NULL;
	_cleanup_free_ char *enc = b64(up, strlen(up));
	explicit_bzero(up, strlen(up));
	char *h = NULL;
	if (!enc || asprintf(&h, "Authorization: Basic %s", enc) < 0)
		h = NULL;
	if (enc)
		explicit_bzero(enc, strlen(enc));
	return h;
}

int reg_load_creds(hoist_registry *r, hoist_error **err)
{
	pthread_mutex_lock(&r->lock);
	int e = 0;
	if (!r->creds_loaded) {
		bool found = false;
		hoist_credentials c = { 0 };
		e = hoist_auth_lookup(r->ctx, r->domain, &c, &found, err);
		if (e == 0) {
			r->creds = c;
			r->have_creds = found;
			r->creds_loaded = true;
		}
	}
	pthread_mutex_unlock(&r->lock);
	return e;
}

static void now_plus(struct timespec *ts, long secs)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += secs;
}

static bool still_valid(const struct timespec *expiry)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	/* keep a margin so a token does not expire in flight */
	return now.tv_sec + 5 < expiry->tv_sec;
}

static char *cached_token(hoist_registry *r, const reg_scopes *want)
{
	char *t = NULL;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n_tokens; i++) {
		if (still_valid(&r->tokens[i].expiry) &&
			reg_scopes_cover(&r->tokens[i].scopes, want)) {
			t = strdup(r->tokens[i].token);
			break;
		}
	}
	pthread_mutex_unlock(&r->lock);
	return t;
}

static void token_release(reg_token *t)
{
	free(t->key);
	reg_scopes_release(&t->scopes);
	if (t->token) {
		explicit_bzero(t->token, strlen(t->token));
		free(t->token);
	}
	*t = (reg_token){ 0 };
}

static int cache_token(hoist_registry *r, const reg_scopes *scopes,
	const char *token, long expires_in, hoist_error **err)
{
	reg_token t = { 0 };
	t.key = reg_scopes_string(scopes);
	t.token = strdup(token);
	if (!t.key || !t.token ||
		reg_scopes_merge(&t.scopes, scopes, err) < 0) {
		token_release(&t);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	now_plus(&t.expiry, expires_in);
	pthread_mutex_lock(&r->lock);
	size_t slot = r->n_tokens;
	for (size_t i = 0; i < r->n_tokens; i++)
		if (!strcmp(r->tokens[i].key, t.key) ||
			!still_valid(&r->tokens[i].expiry)) {
			slot = i;
			break;
		}
	if (slot == REG_TOKENS_MAX) {
		/* full: drop the oldest */
		token_release(&r->tokens[0]);
		memmove(&r->tokens[0], &r->tokens[1],
			(REG_TOKENS_MAX - 1) * sizeof(reg_token));
		slot = REG_TOKENS_MAX - 1;
		r->n_tokens--;
	}
	if (slot < r->n_tokens)
		token_release(&r->tokens[slot]);
	else
		r->n_tokens++;
	r->tokens[slot] = t;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static int token_error(hoist_registry *r, const reg_response *resp,
	const char *realm, hoist_error **err)
{
	_cleanup_free_ char *o = reg_url_origin(realm);
	reg_status_error(resp, "token server", o ? o : "?", err);
	long st = resp->status;
	if (err && *err && (st == 400 || st == 401 || st == 403))
		(*err)->code = HOIST_E_AUTH;
	return hoist_error_wrap(err, HOIST_E_AUTH, "authenticate to '%s'",
		r->domain);
}

static int fetch_token(hoist_registry *r, const reg_scopes *scopes,
	char **token, long *expires, hoist_error **err)
{
	int e = reg_load_creds(r, err);
	if (e < 0)
		return e;
	pthread_mutex_lock(&r->lock);
	_cleanup_free_ char *realm = r->realm ? strdup(r->realm) : NULL;
	_cleanup_free_ char *service = r->service ? strdup(r->service) : NULL;
	bool have = r->have_creds;
	const char *u = r->creds.username, *pw = r->creds.password,
		   *it = r->creds.identity_token;
	_cleanup_free_ char *user = have && u ? strdup(u) : NULL;
	_cleanup_free_ char *pass = have && pw ? strdup(pw) : NULL;
	_cleanup_free_ char *ident = have && it ? strdup(it) : NULL;
	pthread_mutex_unlock(&r->lock);
	if (!realm)
		return hoist_error_set(err, HOIST_E_AUTH,
			"registry '%s' asked for a token without naming a realm",
			r->domain);
	if (strncmp(realm, "https://", 8) && strncmp(realm, "http://", 7))
		return hoist_error_set(err, HOIST_E_AUTH,
			"registry '%s' named an invalid token realm", r->domain);

	_cleanup_(reg_response_release) reg_response resp;
	reg_response_init(&resp);
	hoist_buf body = HOIST_BUF_INIT(REG_TOKEN_MAX);
	int rc = 0;
	if (ident) {
		/* OAuth2 refresh_token grant (docker's identity tokens). */
		_cleanup_free_ char *sc = reg_scopes_string(scopes);
		char *esc_sc = curl_easy_escape(NULL, sc ? sc : "", 0);
		char *esc_tok = curl_easy_escape(NULL, ident, 0);
		char *esc_svc = curl_easy_escape(NULL, service ? service : "", 0);
		_cleanup_free_ char *form = NULL;
		if (!esc_sc || !esc_tok || !esc_svc ||
			asprintf(&form,
				"grant_type=refresh_token&client_id=hoist&service=%s&scope=%s&refresh_token=%s",
				esc_svc, esc_sc, esc_tok) < 0)
			form = NULL;
		if (esc_tok)
			explicit_bzero(esc_tok, strlen(esc_tok));
		curl_free(esc_sc);
		curl_free(esc_tok);
		curl_free(esc_svc);
		if (!form) {
			rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
			goto done;
		}
		reg_request q = { .method = "POST", .body = form,
			.body_len = strlen(form), .has_body = true,
			.content_type = "application/x-www-form-urlencoded",
			.out = &body };
		rc = reg_plain(r, &q, realm, NULL, &resp, err);
		explicit_bzero(form, strlen(form));
		if (rc < 0)
			goto done;
		if (resp.status >= 200 && resp.status < 300)
			goto parse;
		if (resp.status != 404 && resp.status != 405) {
			rc = token_error(r, &resp, realm, err);
			goto done;
		}
		/* No OAuth2 endpoint: fall back to GET with Basic. */
		if (!user)
			user = strdup("<token>");
		if (!pass)
			pass = strdup(ident);
	}
	{
		_cleanup_free_ char *sq = reg_scopes_query(scopes);
		char *esc_svc = curl_easy_escape(NULL, service ? service : "", 0);
		_cleanup_free_ char *url = NULL;
		int n = asprintf(&url, "%s%sservice=%s%s", realm,
			strchr(realm, '?') ? "&" : "?", esc_svc ? esc_svc : "",
			sq ? sq : "");
		curl_free(esc_svc);
		if (n < 0 || !sq) {
			rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
			goto done;
		}
		_cleanup_free_ char *auth = NULL;
		if (user || pass) {
			if (!(auth = basic_header(user, pass))) {
				rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
				goto done;
			}
		}
		reg_request q = { .method = "GET", .out = &body };
		rc = reg_plain(r, &q, url, auth, &resp, err);
		if (auth)
			explicit_bzero(auth, strlen(auth));
		if (rc < 0)
			goto done;
		if (resp.status < 200 || resp.status >= 300) {
			rc = token_error(r, &resp, realm, err);
			goto done;
		}
	}
parse:
	rc = reg_parse_token_response(body.data, body.len, token, expires, err);
	if (rc < 0) {
		_cleanup_free_ char *o = reg_url_origin(realm);
		rc = hoist_error_wrap(err, HOIST_E_AUTH, "token server '%s'",
			o ? o : "?");
	}
done:
	if (body.data)
		explicit_bzero(body.data, body.len);
	hoist_buf_release(&body);
	if (pass)
		explicit_bzero(pass, strlen(pass));
	if (ident)
		explicit_bzero(ident, strlen(ident));
	return rc;
}

int reg_auth_header(hoist_registry *r, const reg_scopes *scopes, bool force,
	char **out, hoist_error **err)
{
	*out = NULL;
	int kind = reg_auth_kind(r);
	if (kind == REG_AUTH_NONE)
		return 0;
	if (kind == REG_AUTH_BASIC) {
		int e = reg_load_creds(r, err);
		if (e < 0)
			return e;
		pthread_mutex_lock(&r->lock);
		if (r->have_creds && (r->creds.username || r->creds.password))
			*out = basic_header(r->creds.username, r->creds.password);
		bool want = r->have_creds && !*out;
		pthread_mutex_unlock(&r->lock);
		if (want)
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		return 0;
	}
	/* Bearer: ask for what the request needs plus what the caller
	 * declared for the same repositories, so one token serves a push. */
	reg_scopes want = { 0 };
	int e = reg_scopes_merge(&want, scopes, err);
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; e == 0 && scopes && i < r->intents.n; i++)
		for (size_t j = 0; j < scopes->n; j++)
			if (!strcmp(r->intents.v[i].type, scopes->v[j].type) &&
				!strcmp(r->intents.v[i].name, scopes->v[j].name))
				e = reg_scopes_add(&want, r->intents.v[i].type,
					r->intents.v[i].name,
					r->intents.v[i].actions, err);
	pthread_mutex_unlock(&r->lock);
	if (e < 0) {
		reg_scopes_release(&want);
		return e;
	}
	char *tok = force ? NULL : cached_token(r, &want);
	if (!tok) {
		pthread_mutex_lock(&r->token_lock);
		/* another thread may have fetched it meanwhile */
		tok = force ? NULL : cached_token(r, &want);
		long expires = 60;
		if (!tok)
			e = fetch_token(r, &want, &tok, &expires, err);
		if (e == 0 && tok && expires)
			e = cache_token(r, &want, tok, expires, err);
		pthread_mutex_unlock(&r->token_lock);
	}
	reg_scopes_release(&want);
	if (e < 0) {
		if (tok) {
			explicit_bzero(tok, strlen(tok));
			free(tok);
		}
		return e;
	}
	int n = asprintf(out, "Authorization: Bearer %s", tok);
	explicit_bzero(tok, strlen(tok));
	free(tok);
	if (n < 0) {
		*out = NULL;
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	return 0;
}

/* SPDX-License-Identifier: MIT */
#include "meta/enroll.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>

#include "basic/util.h"

#define ENROLL_URL_MAX 8192

static int append_escaped(FILE *f, const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0);
	if (!e)
		return -ENOMEM;
	fputs(e, f);
	curl_free(e);
	return 0;
}

int enroll_url(const struct app_config *app, char *const *scopes, const char *state_hex, char **ret)
{
	char *url = NULL;
	size_t n = 0;
	FILE *f;
	int r = 0;

	if (!app->redirect_uri)
		return -ENOENT;
	f = open_memstream(&url, &n);
	if (!f)
		return -ENOMEM;
	fprintf(f, "%s%sclient_id=", app->authorize_url,
		strchr(app->authorize_url, '?') ? "&" : "?");
	r |= append_escaped(f, app->app_id);
	fputs("&redirect_uri=", f);
	r |= append_escaped(f, app->redirect_uri);
	if (app->config_id) {
		/* Facebook Login for Business: the configuration says the permissions */
		fputs("&config_id=", f);
		r |= append_escaped(f, app->config_id);
		fputs("&response_type=code&override_default_response_type=true", f);
	} else {
		fputs("&response_type=code&scope=", f);
		for (size_t i = 0; scopes && scopes[i]; i++) {
			if (i)
				fputs("%2C", f); /* comma-separated, as Meta documents */
			r |= append_escaped(f, scopes[i]);
		}
	}
	fprintf(f, "&state=%s", state_hex);
	if (fclose(f) != 0 || r < 0 || n > ENROLL_URL_MAX) {
		free(url);
		return -ENOMEM;
	}
	*ret = url;
	return 0;
}

void enroll_redirect_clear(struct enroll_redirect *r)
{
	secret_free(r->code);
	*r = (struct enroll_redirect){ 0 };
}

/* scheme://host[:port]/path of a URL, to compare the pasted URL with redirect_uri. */
static char *origin_and_path(const char *url)
{
	CURLU *u = curl_url();
	char *out = NULL, *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;

	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK) {
		(void)curl_url_get(u, CURLUPART_PORT, &port, 0);
		if (asprintf(&out, "%s://%s%s%s%s", scheme, host, port ? ":" : "", port ?: "",
			     path) < 0)
			out = NULL;
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_url_cleanup(u);
	return out;
}

/* Splits a query into key=value pairs, percent-decoding both. */
static int query_get(const char *query, const char *key, char **ret)
{
	const char *p = query;

	while (p && *p) {
		const char *amp = strchr(p, '&'),
			   *eq = memchr(p, '=', amp ? (size_t)(amp - p) : strlen(p));
		size_t klen = eq ? (size_t)(eq - p) : (amp ? (size_t)(amp - p) : strlen(p));
		int n;

		if (klen == strlen(key) && strncmp(p, key, klen) == 0) {
			const char *v = eq ? eq + 1 : "";
			size_t vlen = amp ? (size_t)(amp - v) : strlen(v);
			char *plus = strndup(v, vlen), *d;
			if (!plus)
				return -ENOMEM;
			for (char *c = plus; *c; c++)
				if (*c == '+')
					*c = ' ';
			d = curl_easy_unescape(NULL, plus, (int)strlen(plus), &n);
			explicit_bzero(plus, strlen(plus));
			free(plus);
			if (!d)
				return -ENOMEM;
			if (*ret) /* the same key twice: ambiguous, refused */
				return curl_free(d), -EEXIST;
			*ret = strndup(d, (size_t)n);
			explicit_bzero(d, (size_t)n);
			curl_free(d);
			if (!*ret)
				return -ENOMEM;
		}
		p = amp ? amp + 1 : NULL;
	}
	return 0;
}

int enroll_parse_redirect(const char *url, const char *redirect_uri, struct enroll_redirect *ret,
			  char why[ENROLL_WHY_MAX])
{
	_cleanup_free_ char *got = NULL, *want = NULL, *state = NULL, *err = NULL, *reason = NULL,
			    *desc = NULL;
	char *code = NULL, *query = NULL;
	CURLU *u = curl_url();
	int r = -EINVAL;

	why[0] = '\0';
	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		snprintf(why, ENROLL_WHY_MAX,
			 "that is not a URL; paste the whole address the browser shows");
		goto out;
	}
	got = origin_and_path(url);
	want = origin_and_path(redirect_uri);
	if (!got || !want || !streq(got, want)) {
		snprintf(why, ENROLL_WHY_MAX, "the URL is not the app's redirect_uri (%s)",
			 redirect_uri);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK) {
		snprintf(why, ENROLL_WHY_MAX, "the URL carries neither a code nor an error");
		goto out;
	}
	if (query_get(query, "code", &code) < 0 || query_get(query, "state", &state) < 0 ||
	    query_get(query, "error", &err) < 0 || query_get(query, "error_reason", &reason) < 0 ||
	    query_get(query, "error_description", &desc) < 0) {
		snprintf(why, ENROLL_WHY_MAX,
			 "the URL repeats a parameter; paste it as the browser shows it");
		goto out;
	}
	if (err) {
		if (streq(err, "access_denied"))
			snprintf(why, ENROLL_WHY_MAX,
				 "access was not granted on Meta's page (%s%s%s)",
				 reason ?: "denied", desc ? ": " : "", desc ?: "");
		else
			snprintf(why, ENROLL_WHY_MAX, "Meta answered with error '%s'%s%s", err,
				 desc ? ": " : "", desc ?: "");
		r = -EACCES;
		goto out;
	}
	if (!code || !*code || !state) {
		snprintf(why, ENROLL_WHY_MAX, "the URL lacks %s",
			 !state ? "the state" : "the code");
		goto out;
	}
	if (strlen(state) != 2 * ENROLL_STATE_BYTES) {
		snprintf(why, ENROLL_WHY_MAX,
			 "the state does not match (or expired, or was used already)");
		goto out;
	}
	if (strlen(code) >= 2 && streq(code + strlen(code) - 2, "#_"))
		code[strlen(code) - 2] = '\0'; /* Meta appends "#_"; it is not part of the code */
	for (const char *c = code; *c; c++)
		if (*c <= 0x20 || *c >= 0x7f) {
			snprintf(why, ENROLL_WHY_MAX, "the code holds characters a code never has");
			goto out;
		}
	if (secret_from_mem(code, strlen(code), &ret->code) < 0) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(ret->state_hex, state, sizeof(ret->state_hex));
	r = 0;
out:
	if (code) {
		explicit_bzero(code, strlen(code));
		free(code);
	}
	curl_free(query);
	curl_url_cleanup(u);
	return r;
}

void enroll_begin(struct enroll_pending *p, uint64_t now_usec,
		  char state_hex[2 * ENROLL_STATE_BYTES + 1])
{
	randombytes_buf(p->state, sizeof(p->state));
	p->at_usec = now_usec ? now_usec : 1;
	sodium_bin2hex(state_hex, 2 * ENROLL_STATE_BYTES + 1, p->state, sizeof(p->state));
}

bool enroll_take(struct enroll_pending *p, const char *hex, uint64_t now_usec)
{
	unsigned char got[ENROLL_STATE_BYTES];
	size_t len = 0;
	bool ok;

	if (p->at_usec == 0)
		return false;
	if (now_usec - p->at_usec > (uint64_t)ENROLL_STATE_TTL * 1000000) {
		sodium_memzero(p, sizeof(*p));
		return false;
	}
	if (!hex || strlen(hex) != 2 * ENROLL_STATE_BYTES ||
	    sodium_hex2bin(got, sizeof(got), hex, strlen(hex), NULL, &len, NULL) < 0 ||
	    len != sizeof(got))
		return false;
	ok = sodium_memcmp(got, p->state, sizeof(got)) == 0;
	if (ok)
		sodium_memzero(p, sizeof(*p)); /* single use */
	return ok;
}

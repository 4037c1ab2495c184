/* SPDX-License-Identifier: MIT */
#include "meta/graph-parse.h"

#include <cjson/cJSON.h>
#include <stdio.h>

#include "basic/util.h"

#define LIFETIME_MAX ((int64_t)10 * 365 * 86400)

void graph_token_clear(struct graph_token *t)
{
	secret_free(t->token);
	free(t->user_id);
	free(t->scopes);
	free(t->type);
	free(t->username);
	free(t->error_message);
	*t = (struct graph_token){ .expires_in = -1,
				   .expires_at = -1,
				   .data_access_expires_at = -1 };
}

/* cJSON reads numbers as doubles, which cannot hold ids above 2^53: take the
 * digits from the text. Returns the first `"key": 123...` in the body. */
static char *raw_digits_after_key(const char *body, size_t len, const char *key)
{
	char pat[64];
	size_t pl = (size_t)snprintf(pat, sizeof(pat), "\"%s\"", key);
	const char *p = body, *end = body + len;

	while ((p = memmem(p, (size_t)(end - p), pat, pl))) {
		const char *q = p + pl, *d;
		p += pl;
		while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'))
			q++;
		if (q >= end || *q != ':')
			continue;
		q++;
		while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'))
			q++;
		for (d = q; d < end && *d >= '0' && *d <= '9'; d++)
			;
		if (d > q && d - q <= 32)
			return strndup(q, (size_t)(d - q));
	}
	return NULL;
}

int graph_parse_id(const char *body, size_t len, const struct cJSON *o, const char *key, char **ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	char *s = NULL;

	if (cJSON_IsString(v)) {
		int64_t dummy;
		if (strlen(v->valuestring) > 32 ||
		    parse_int64(v->valuestring, 0, INT64_MAX, &dummy) < 0)
			return -EBADMSG;
		s = strdup(v->valuestring);
	} else if (cJSON_IsNumber(v)) {
		s = raw_digits_after_key(body, len, key);
		if (!s)
			return -EBADMSG;
	} else
		return 0; /* absent */
	if (!s)
		return -ENOMEM;
	free(*ret);
	*ret = s;
	return 0;
}

static int get_seconds(const cJSON *o, const char *key, int64_t *ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	int64_t x;

	if (cJSON_IsNumber(v)) {
		if (v->valuedouble < 0 || v->valuedouble > 1e13)
			return -EBADMSG;
		*ret = (int64_t)v->valuedouble;
	} else if (cJSON_IsString(v)) {
		if (parse_int64(v->valuestring, 0, INT64_C(10000000000000), &x) < 0)
			return -EBADMSG;
		*ret = x;
	}
	return 0;
}

/* permissions/scopes: "a,b" or ["a","b"] -> "a,b" */
static int get_scopes(const cJSON *o, const char *key, char **ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key), *e;
	char *out = NULL;
	size_t n = 0;
	FILE *f;

	if (cJSON_IsString(v))
		out = strdup(v->valuestring);
	else if (cJSON_IsArray(v)) {
		f = open_memstream(&out, &n);
		if (!f)
			return -ENOMEM;
		cJSON_ArrayForEach (e, v) {
			if (!cJSON_IsString(e))
				continue;
			fprintf(f, "%s%s", ftell(f) > 0 ? "," : "", e->valuestring);
		}
		fclose(f);
	} else
		return 0;
	if (!out)
		return -ENOMEM;
	if (strlen(out) > 4096) {
		free(out);
		return -EBADMSG;
	}
	free(*ret);
	*ret = out;
	return 0;
}

int graph_parse_token(const char *body, size_t len, struct graph_token *ret)
{
	struct graph_token t = { .expires_in = -1, .expires_at = -1, .data_access_expires_at = -1 };
	cJSON *j = cJSON_ParseWithLength(body, len), *o, *data, *tok;
	int r = -EBADMSG;

	if (!cJSON_IsObject(j))
		goto out;
	o = j;
	data = cJSON_GetObjectItemCaseSensitive(j, "data");
	if (!cJSON_GetObjectItemCaseSensitive(j, "access_token") && cJSON_IsArray(data))
		o = cJSON_GetArrayItem(data, 0); /* Business Login documents {"data": [grant]} */
	tok = cJSON_GetObjectItemCaseSensitive(o, "access_token");
	if (!cJSON_IsString(tok) || !token_is_valid(tok->valuestring, strlen(tok->valuestring)))
		goto out;
	if ((r = secret_from_mem(tok->valuestring, strlen(tok->valuestring), &t.token)) < 0 ||
	    (r = get_seconds(o, "expires_in", &t.expires_in)) < 0 ||
	    (r = graph_parse_id(body, len, o, "user_id", &t.user_id)) < 0 ||
	    (r = get_scopes(o, "permissions", &t.scopes)) < 0)
		goto out;
	if (t.expires_in == 0 || t.expires_in > LIFETIME_MAX) {
		r = -EBADMSG;
		goto out;
	}
	*ret = t;
	t = (struct graph_token){ 0 };
	r = 0;
out:
	graph_token_clear(&t);
	cJSON_Delete(j); /* its allocations are wiped on free (wipe_install_cjson) */
	return r;
}

/* A short printable string (a user name, a type), control characters made '?'. */
static int get_short_string(const cJSON *o, const char *key, size_t max, char **ret)
{
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));

	if (!v || !*v)
		return 0;
	if (strlen(v) > max)
		return -EBADMSG;
	free(*ret);
	*ret = strdup(v);
	if (!*ret)
		return -ENOMEM;
	string_scrub_controls(*ret);
	return 0;
}

int graph_parse_me(const char *body, size_t len, char **ret_user_id, char **ret_username)
{
	cJSON *j = cJSON_ParseWithLength(body, len);
	char *id = NULL, *name = NULL;
	int r = -EBADMSG;

	if (cJSON_IsObject(j)) {
		r = graph_parse_id(body, len, j, "user_id", &id);
		if (r == 0 && !id)
			r = graph_parse_id(body, len, j, "id", &id);
		if (r == 0 && !id)
			r = -EBADMSG;
		if (r == 0 && get_short_string(j, "username", 64, &name) == -ENOMEM)
			r = -ENOMEM; /* a username that is not one is left out, the id still
					counts */
	}
	cJSON_Delete(j);
	if (r < 0) {
		free(id);
		free(name);
		return r;
	}
	*ret_user_id = id;
	if (ret_username)
		*ret_username = name;
	else
		free(name);
	return 0;
}

/* debug_token's data.error: what Meta says is wrong with the inspected token. */
static int get_token_error(const cJSON *d, struct graph_token *t)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(d, "error");
	const cJSON *code, *sub;

	if (!cJSON_IsObject(e))
		return 0;
	code = cJSON_GetObjectItemCaseSensitive(e, "code");
	sub = cJSON_GetObjectItemCaseSensitive(e, "subcode");
	if (!sub)
		sub = cJSON_GetObjectItemCaseSensitive(e, "error_subcode");
	if (cJSON_IsNumber(code) && code->valuedouble > 0 && code->valuedouble < 1e9)
		t->error_code = (int)code->valuedouble;
	if (cJSON_IsNumber(sub) && sub->valuedouble > 0 && sub->valuedouble < 1e9)
		t->error_subcode = (int)sub->valuedouble;
	return get_short_string(e, "message", 1024, &t->error_message);
}

int graph_parse_debug(const char *body, size_t len, struct graph_token *ret)
{
	struct graph_token t = { .expires_in = -1, .expires_at = -1, .data_access_expires_at = -1 };
	cJSON *j = cJSON_ParseWithLength(body, len), *d;
	int r = -EBADMSG;

	d = cJSON_GetObjectItemCaseSensitive(j, "data");
	if (cJSON_IsArray(d)) /* an old shape wrapped it in an array */
		d = cJSON_GetArrayItem(d, 0);
	if (!cJSON_IsObject(d))
		goto out;
	t.is_valid = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "is_valid"));
	if ((r = get_seconds(d, "expires_at", &t.expires_at)) < 0 ||
	    (r = get_seconds(d, "data_access_expires_at", &t.data_access_expires_at)) < 0 ||
	    (r = graph_parse_id(body, len, d, "user_id", &t.user_id)) < 0 ||
	    (r = get_scopes(d, "scopes", &t.scopes)) < 0 ||
	    (r = get_short_string(d, "type", 16, &t.type)) < 0 || (r = get_token_error(d, &t)) < 0)
		goto out;
	*ret = t;
	t = (struct graph_token){ 0 };
	r = 0;
out:
	graph_token_clear(&t);
	cJSON_Delete(j);
	return r;
}

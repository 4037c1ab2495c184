/* SPDX-License-Identifier: MIT */
#include "meta/graph.h"

#include <cjson/cJSON.h>
#include <stdio.h>

#include "basic/util.h"

#define LIFETIME_MAX ((int64_t)10 * 365 * 86400)

/* ---- classification ---- */

static bool is_throttle_code(int code)
{
	return code == 4 || code == 17 || code == 32 || code == 341 || code == 613 ||
	       (code >= 80001 && code <= 80009);
}

static int json_int(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	int64_t x;
	if (cJSON_IsNumber(v) && v->valuedouble > -1e9 && v->valuedouble < 1e9)
		return (int)v->valuedouble;
	if (cJSON_IsString(v) && parse_int64(v->valuestring, -1000000000, 1000000000, &x) == 0)
		return (int)x;
	return 0;
}

static enum verdict classify_error(int code, int subcode, bool transient, const char *msg)
{
	bool session_expired = msg && strstr(msg, "Session has expired");

	if (code == 190) {
		if (subcode == 463 || (subcode == 0 && session_expired))
			return VERDICT_EXPIRED;
		return VERDICT_REAUTH;
	}
	if (code == 102 || code == 10 || (code >= 200 && code <= 299))
		return VERDICT_REAUTH;
	if (is_throttle_code(code))
		return VERDICT_THROTTLED;
	if (code == 1 || code == 2 || transient)
		return VERDICT_TRANSIENT;
	if (code == 0 && session_expired)
		return VERDICT_EXPIRED;
	return VERDICT_ERROR;
}

void graph_classify(int transport_error, const char *error_text, long status, const char *body,
		    size_t len, struct graph_verdict *v)
{
	cJSON *j, *err;
	const char *msg = NULL;
	bool has_error = false, transient = false;

	*v = (struct graph_verdict){ .verdict = VERDICT_OK };
	if (transport_error) {
		v->verdict = VERDICT_TRANSIENT;
		if (transport_error == -ETIMEDOUT)
			snprintf(v->why, sizeof(v->why), "no answer in time (timeout)");
		else if (transport_error == -EMSGSIZE)
			snprintf(v->why, sizeof(v->why), "answer larger than %d bytes", 64 * 1024);
		else
			snprintf(v->why, sizeof(v->why), "connection failed: %s",
				 error_text ?: strerror(-transport_error));
		return;
	}
	j = body && len ? cJSON_ParseWithLength(body, len) : NULL;
	err = cJSON_GetObjectItemCaseSensitive(j, "error");
	if (cJSON_IsObject(err)) {
		has_error = true;
		v->code = json_int(err, "code");
		v->subcode = json_int(err, "error_subcode");
		transient = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(err, "is_transient"));
		msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(err, "message"));
	} else if (cJSON_IsObject(j) && (cJSON_GetObjectItemCaseSensitive(j, "error_type") ||
					 cJSON_GetObjectItemCaseSensitive(j, "error_message"))) {
		/* the older flat shape: {"error_type", "code", "error_message"} */
		has_error = true;
		v->code = json_int(j, "code");
		msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "error_message"));
	}

	if (status == 429) { /* always a throttle, whatever the body says */
		v->verdict = VERDICT_THROTTLED;
		snprintf(v->why, sizeof(v->why), "HTTP 429 Too Many Requests%s%s", msg ? ": " : "",
			 msg ?: "");
	} else if (has_error) {
		v->verdict = classify_error(v->code, v->subcode, transient, msg);
		if (v->verdict == VERDICT_ERROR && status >= 500)
			v->verdict = VERDICT_TRANSIENT;
		if (v->subcode)
			snprintf(v->why, sizeof(v->why), "Meta error %d/%d: %s", v->code,
				 v->subcode, msg ?: "(no message)");
		else
			snprintf(v->why, sizeof(v->why), "Meta error %d: %s", v->code,
				 msg ?: "(no message)");
	} else if (status >= 500) {
		v->verdict = VERDICT_TRANSIENT;
		snprintf(v->why, sizeof(v->why), "HTTP %ld from Meta", status);
	} else if (!cJSON_IsObject(j)) {
		v->verdict = VERDICT_TRANSIENT;
		snprintf(v->why, sizeof(v->why),
			 "HTTP %ld with an answer that is not a JSON object", status);
	} else if (status < 200 || status >= 300) {
		v->verdict = VERDICT_ERROR;
		snprintf(v->why, sizeof(v->why), "HTTP %ld from Meta", status);
	}
	cJSON_Delete(j);
	/* Meta's text goes to logs, answers, hooks and terminals: no control characters */
	string_scrub_controls(v->why);
}

/* ---- parsing answers ---- */

void graph_token_clear(struct graph_token *t)
{
	secret_free(t->token);
	free(t->user_id);
	free(t->scopes);
	free(t->type);
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

static int get_id(const char *body, size_t len, const cJSON *o, const char *key, char **ret)
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
	    (r = get_id(body, len, o, "user_id", &t.user_id)) < 0 ||
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

int graph_parse_me(const char *body, size_t len, char **ret_user_id)
{
	cJSON *j = cJSON_ParseWithLength(body, len);
	char *id = NULL;
	int r = -EBADMSG;

	if (cJSON_IsObject(j)) {
		r = get_id(body, len, j, "user_id", &id);
		if (r == 0 && !id)
			r = get_id(body, len, j, "id", &id);
		if (r == 0 && !id)
			r = -EBADMSG;
	}
	cJSON_Delete(j);
	if (r < 0) {
		free(id);
		return r;
	}
	*ret_user_id = id;
	return 0;
}

int graph_parse_debug(const char *body, size_t len, struct graph_token *ret)
{
	struct graph_token t = { .expires_in = -1, .expires_at = -1, .data_access_expires_at = -1 };
	cJSON *j = cJSON_ParseWithLength(body, len), *d;
	const char *type;
	int r = -EBADMSG;

	d = cJSON_GetObjectItemCaseSensitive(j, "data");
	if (cJSON_IsArray(d)) /* an old shape wrapped it in an array */
		d = cJSON_GetArrayItem(d, 0);
	if (!cJSON_IsObject(d))
		goto out;
	t.is_valid = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "is_valid"));
	type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "type"));
	if ((r = get_seconds(d, "expires_at", &t.expires_at)) < 0 ||
	    (r = get_seconds(d, "data_access_expires_at", &t.data_access_expires_at)) < 0 ||
	    (r = get_id(body, len, d, "user_id", &t.user_id)) < 0 ||
	    (r = get_scopes(d, "scopes", &t.scopes)) < 0)
		goto out;
	if (type && strlen(type) < 16 && !(t.type = strdup(type))) {
		r = -ENOMEM;
		goto out;
	}
	*ret = t;
	t = (struct graph_token){ 0 };
	r = 0;
out:
	graph_token_clear(&t);
	cJSON_Delete(j);
	return r;
}

void graph_scrub(char *text, const struct secret *token)
{
	char *p;

	if (!text || !token || token->len < 4)
		return;
	while ((p = strstr(text, token->data))) {
		size_t rest = strlen(p + token->len);
		memcpy(p, "***", 3);
		memmove(p + 3, p + token->len, rest + 1);
	}
}

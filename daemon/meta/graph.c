/* SPDX-License-Identifier: MIT */
#include "meta/graph.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "basic/util.h"

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

static bool has_text(const char *msg, const char *what)
{
	return msg && strcasestr(msg, what);
}

enum verdict graph_classify_error(int code, int subcode, bool transient, const char *msg,
				  unsigned flags)
{
	enum verdict v;

	if (code == 190 &&
	    (subcode == 463 || (subcode == 0 && has_text(msg, "Session has expired"))))
		v = VERDICT_EXPIRED;
	else if (code == 190 && (subcode == 459 || subcode == 464 || subcode == 492))
		v = VERDICT_REAUTH_RECOVERABLE;
	else if (code == 102 && subcode == 463)
		v = VERDICT_EXPIRED;
	else if (code == 190 || code == 102 || code == 10 || (code >= 200 && code <= 299))
		v = VERDICT_REAUTH;
	else if (code == 101 || (code == 1 && (flags & GRAPH_CLIENT_SECRET) &&
				 has_text(msg, "Error validating client secret")))
		return VERDICT_CREDENTIALS;
	else if (code == 100 && (flags & GRAPH_REFRESH) &&
		 has_text(msg, "Unsupported request - method type"))
		return VERDICT_REAUTH; /* a Basic Display token: that API is gone */
	else if (is_throttle_code(code))
		return VERDICT_THROTTLED;
	else if (code == 1 || code == 2 || transient)
		return VERDICT_TRANSIENT;
	else if (code == 0 && has_text(msg, "Session has expired"))
		v = VERDICT_EXPIRED;
	else
		return VERDICT_ERROR;
	/* a top-level error on debug_token is about its access_token: the app token */
	return (flags & GRAPH_APP_TOKEN) ? VERDICT_CREDENTIALS : v;
}

/* What the person must do, after Meta's words. */
static const char *hint(enum verdict v, int code, int subcode)
{
	if (v == VERDICT_CREDENTIALS)
		return "Meta refused the app's credentials: check app_id and the app secret, then "
		       "reload";
	if (v == VERDICT_REAUTH && code == 100)
		return "Instagram Basic Display tokens stopped working when Meta shut that API "
		       "down on "
		       "2024-12-04: enrol again through Instagram Login (igtokenctl enroll)";
	if (v != VERDICT_REAUTH_RECOVERABLE)
		return NULL;
	switch (subcode) {
	case 459:
		return "the user must log in on Meta's site and clear a security checkpoint; the "
		       "account "
		       "comes back at the next successful check";
	case 464:
		return "the user must confirm their account on Meta's site; the account comes back "
		       "at the "
		       "next successful check";
	default:
		return "the user lost their role on the Page: a Page admin must restore it; the "
		       "account "
		       "comes back at the next successful check";
	}
}

/* fbtrace_id, which Meta support asks for: a short id of [A-Za-z0-9_+/=-]. */
static const char *trace_id(const cJSON *err)
{
	const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(err, "fbtrace_id"));

	if (!t || !*t || strlen(t) > 64)
		return NULL;
	for (const char *p = t; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+/=-",
			    *p))
			return NULL;
	return t;
}

static void describe(struct graph_verdict *v, const char *msg, const char *trace)
{
	const char *h = hint(v->verdict, v->code, v->subcode);
	char code[32];

	if (v->subcode)
		snprintf(code, sizeof(code), "%d/%d", v->code, v->subcode);
	else
		snprintf(code, sizeof(code), "%d", v->code);
	snprintf(v->why, sizeof(v->why), "Meta error %s: %s%s%s%s%s%s", code, msg ?: "(no message)",
		 h ? " — " : "", h ?: "", trace ? " (fbtrace_id " : "", trace ?: "",
		 trace ? ")" : "");
}

static void transport_failed(int error, const char *text, struct graph_verdict *v)
{
	v->verdict = VERDICT_TRANSIENT;
	if (error == -ETIMEDOUT)
		snprintf(v->why, sizeof(v->why), "no answer in time (timeout)");
	else if (error == -EMSGSIZE)
		snprintf(v->why, sizeof(v->why), "answer larger than %d bytes", 64 * 1024);
	else
		snprintf(v->why, sizeof(v->why), "connection failed: %s", text ?: strerror(-error));
}

void graph_classify(int transport_error, const char *error_text, long status, const char *body,
		    size_t len, unsigned flags, struct graph_verdict *v)
{
	cJSON *j, *err;
	const char *msg = NULL, *trace = NULL;
	bool has_error = false, transient = false;

	*v = (struct graph_verdict){ .verdict = VERDICT_OK };
	if (transport_error)
		return transport_failed(transport_error, error_text, v);
	j = body && len ? cJSON_ParseWithLength(body, len) : NULL;
	err = cJSON_GetObjectItemCaseSensitive(j, "error");
	if (cJSON_IsObject(err)) {
		has_error = true;
		v->code = json_int(err, "code");
		v->subcode = json_int(err, "error_subcode");
		transient = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(err, "is_transient"));
		msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(err, "message"));
		trace = trace_id(err);
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
		v->verdict = graph_classify_error(v->code, v->subcode, transient, msg, flags);
		if (v->verdict == VERDICT_ERROR && status >= 500)
			v->verdict = VERDICT_TRANSIENT;
		describe(v, msg, trace);
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

void graph_describe_token_error(const struct graph_token_error *e, bool expired,
				struct graph_verdict *v)
{
	*v = (struct graph_verdict){ .code = e->code, .subcode = e->subcode };
	v->verdict = e->code ? graph_classify_error(e->code, e->subcode, false, e->message, 0)
			     : VERDICT_REAUTH;
	if (v->verdict != VERDICT_EXPIRED && v->verdict != VERDICT_REAUTH_RECOVERABLE)
		v->verdict = expired ? VERDICT_EXPIRED : VERDICT_REAUTH;
	if (e->code)
		describe(v, e->message, NULL);
	else
		snprintf(v->why, sizeof(v->why), "debug_token: the token %s",
			 expired ? "has expired" : "is no longer valid");
	string_scrub_controls(v->why);
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

/* SPDX-License-Identifier: MIT */
/* What each step of an operation sends to Meta, and what its answer does to the
 * account. A new token is sealed before it is served; only Meta's verdict
 * (expired, reauth_required) stops a token from being served before it expires. */
#include <stdio.h>
#include <time.h>

#include "engine/operation.h"
#include "basic/log.h"
#include "meta/schedule.h"
#include "basic/util.h"
#include "store/vault.h"

#define NO_EXTENSION_SLACK 2 /* seconds: a re-exchange that moves expiry less has not extended it */

enum op_step op_first_step(const struct account *a, const struct op *op)
{
	bool fb = a->app->cfg->platform == PLATFORM_FACEBOOK;

	switch (op->kind) {
	case OP_REFRESH:
		if (!fb)
			return STEP_REFRESH;
		/* page tokens that never expire are validated, not refreshed */
		return a->expires_at == 0 || a->token_type == 1 ? STEP_FB_VALIDATE : STEP_FB_REEXCHANGE;
	case OP_VALIDATE: return STEP_FB_VALIDATE;
	case OP_IMPORT: return fb ? STEP_FB_DEBUG_NEW : STEP_ME;
	case OP_ENROLL:
	default: return fb ? STEP_FB_CODE : STEP_IG_CODE;
	}
}

static void on_answer(const struct http_response *r, void *userdata);

static int build_request(struct account *a, struct op *op, struct secret **url, struct secret **form)
{
	_cleanup_(record_freep) struct vault_record *cur = NULL;
	const struct app_config *ac = a->app->cfg;
	int k;

	if (op->step == STEP_REFRESH || op->step == STEP_FB_REEXCHANGE || op->step == STEP_FB_VALIDATE) {
		k = vault_load(manager_vault(a->m), a->name, &cur);
		if (k < 0)
			return k;
	}
	switch (op->step) {
	case STEP_REFRESH: return graph_url_ig_refresh(ac, cur->token, url);
	case STEP_ME: return graph_url_ig_me(ac, op->token, url);
	case STEP_EXCHANGE: return graph_url_ig_exchange(ac, op->token, url);
	case STEP_IMPORT_REFRESH: return graph_url_ig_refresh(ac, op->token, url);
	case STEP_IG_CODE: return graph_ig_code_exchange(ac, op->code->data, url, form);
	case STEP_FB_CODE: return graph_url_fb_code(ac, op->code->data, url);
	case STEP_FB_EXCHANGE: return graph_url_fb_exchange(ac, op->token, url);
	case STEP_FB_REEXCHANGE: return graph_url_fb_exchange(ac, cur->token, url);
	case STEP_FB_DEBUG_NEW: return graph_url_fb_debug(ac, op->token, url);
	case STEP_FB_VALIDATE: return graph_url_fb_debug(ac, cur->token, url);
	}
	return -EINVAL;
}

int account_send(struct account *a)
{
	_cleanup_secret_ struct secret *url = NULL, *form = NULL;
	struct op *op = a->ops;
	int k;

	if (!op)
		return -ECANCELED;
	k = build_request(a, op, &url, &form);
	if (k >= 0)
		k = form ? http_post_form(a->app->http, url, form, on_answer, a, &op->req)
			 : http_get(a->app->http, url, on_answer, a, &op->req);
	if (k < 0) {
		char why[128];
		errno = -k;
		snprintf(why, sizeof(why), "cannot send the request: %m");
		log_account_errno(LOG_ERR, k, a->name, a->app->name, "%s", why);
		op_finish(a, PROTO_INTERNAL, why);
		return k;
	}
	manager_account_changed(a->m, a);
	return 0;
}

static enum proto_error error_for(enum graph_outcome o)
{
	switch (o) {
	case GRAPH_EXPIRED: return PROTO_EXPIRED;
	case GRAPH_REAUTH: return PROTO_REAUTH_REQUIRED;
	case GRAPH_THROTTLED: return PROTO_THROTTLED;
	default: return PROTO_UPSTREAM;
	}
}

/* ---- storing ---- */

struct new_token {
	const struct secret *token;
	int64_t issued_at, expires_at; /* expires_at 0: never */
	int64_t data_access_expires_at, last_validated;
	bool refreshed, assumed;
	const char *user_id, *scopes;
	uint8_t token_type;
};

/* The scopes to seal with a new token: what Meta granted, else what the old
 * record says, else what the account asks for. */
static char *scopes_for(struct account *a, const char *granted)
{
	_cleanup_(record_freep) struct vault_record *cur = NULL;
	char *joined = NULL;
	size_t n = 0;
	FILE *f;

	if (granted)
		return strdup(granted);
	if (vault_load_meta(manager_vault(a->m), a->name, &cur) == 0 && cur->scopes)
		return TAKE_PTR(cur->scopes);
	f = open_memstream(&joined, &n);
	if (!f)
		return NULL;
	for (size_t i = 0; a->cfg->scopes && a->cfg->scopes[i]; i++)
		fprintf(f, "%s%s", i ? "," : "", a->cfg->scopes[i]);
	fclose(f);
	return joined;
}

/* Seals a new token, then (only then) makes it the one served. */
static int store_new_token(struct account *a, const struct new_token *n)
{
	_cleanup_free_ char *scopes = scopes_for(a, n->scopes);
	struct vault_record r;
	char fp[SECRET_FP_LEN], d[32];
	int64_t now = now_realtime_sec();
	int k;

	fill_record(a, &r, (struct secret *)(uintptr_t)n->token, scopes);
	r.issued_at = n->issued_at;
	r.expires_at = n->expires_at;
	r.data_access_expires_at = n->data_access_expires_at;
	r.last_validated = n->last_validated;
	if (n->refreshed)
		r.last_refresh = now;
	r.failures = 0;
	r.next_attempt = 0;
	r.verdict = VERDICT_NONE;
	r.expiry_assumed = n->assumed;
	r.token_type = n->token_type;
	r.last_error = NULL;
	if (n->user_id)
		r.user_id = (char *)(uintptr_t)n->user_id;
	k = vault_store(manager_vault(a->m), a->name, &r);
	if (k < 0)
		return k;
	account_uncache(a); /* from now on the new token, sealed, is the one served */
	apply_record(a, &r);
	secret_fingerprint(n->token, fp);
	if (a->expires_at)
		format_duration(a->expires_at - now, d, sizeof(d));
	log_account(LOG_INFO, a->name, a->app->name, NULL, "new token fp=%s sealed; expires %s%s%s", fp,
		    a->expires_at ? "in " : "never", a->expires_at ? d : "",
		    n->assumed ? " (assumed until Meta says)" : "");
	return 0;
}

/* A token from an answer (refresh, exchange, code): issued when the request was sent. */
static struct new_token from_answer(const struct graph_token *t, const struct http_response *r,
				    const struct op *op)
{
	return (struct new_token){
		.token = t->token,
		.issued_at = r->sent_at,
		.expires_at = r->sent_at + (t->expires_in > 0 ? t->expires_in : GRAPH_DEFAULT_LIFETIME),
		.data_access_expires_at = 0,
		.user_id = t->user_id ?: (op ? op->user_id : NULL),
		.scopes = t->scopes ?: (op ? op->scopes : NULL),
	};
}

static void refresh_failed(struct account *a, const char *why)
{
	const struct refresh_config *rc = &manager_config(a->m)->refresh;
	int64_t now = now_realtime_sec_ceil(), wait;
	char d[32];

	a->failures++;
	wait = schedule_backoff(rc->retry_initial, rc->retry_max, a->failures, manager_random());
	/* never sleep through the expiry: try again before it, however often that is */
	if (a->expires_at && a->expires_at > now && now + wait >= a->expires_at)
		wait = MAX((a->expires_at - now) / 2, 1);
	a->next_attempt = now + wait;
	(void)record_set_string(&a->last_error, why);
	a->refresh_error++;
	a->app->refresh_error++;
	persist_metadata(a, NULL);
	format_duration(wait, d, sizeof(d));
	log_account(LOG_WARNING, a->name, a->app->name, NULL, "refresh failed (%u in a row): %s; next try in %s",
		    a->failures, why, d);
}

static void set_verdict(struct account *a, uint8_t verdict, const char *why)
{
	if (verdict != VERDICT_EXPIRING)
		account_uncache(a);
	a->verdict = verdict;
	a->failures = 0;
	(void)record_set_string(&a->last_error, why);
	persist_metadata(a, NULL);
	log_account(verdict == VERDICT_EXPIRING ? LOG_WARNING : LOG_ERR, a->name, a->app->name, NULL,
		    "%s; a new login (import or enroll) is needed", why);
}

/* ---- answers about the account's own token (refresh, validate) ---- */

static void succeeded(struct account *a)
{
	a->refresh_ok++;
	a->app->refresh_ok++;
	manager_account_refreshed(a->m, a);
	op_finish(a, PROTO_OK, NULL);
}

static int own_token_ok(struct account *a, struct op *op, const struct http_response *r,
			struct graph_verdict *v)
{
	struct graph_token t = { 0 };
	int64_t now = now_realtime_sec();
	int k = 0;

	if (op->step == STEP_FB_VALIDATE) {
		if (graph_parse_debug(r->body, r->body_len, &t) < 0)
			return snprintf(v->why, sizeof(v->why), "Meta's debug_token answer is unreadable"), -EBADMSG;
		if (!t.is_valid) {
			bool gone = a->expires_at && a->expires_at <= now;
			set_verdict(a, gone ? VERDICT_EXPIRED : VERDICT_REAUTH,
				    gone ? "debug_token: the token has expired" : "debug_token: the token is no longer valid");
			graph_token_clear(&t);
			op_finish(a, gone ? PROTO_EXPIRED : PROTO_REAUTH_REQUIRED, a->last_error);
			return 1;
		}
		if (t.expires_at >= 0)
			a->expires_at = t.expires_at;
		if (t.data_access_expires_at >= 0)
			a->data_access_expires_at = t.data_access_expires_at;
		a->last_validated = now;
		a->failures = 0;
		(void)record_set_string(&a->last_error, NULL);
		persist_metadata(a, t.scopes); /* what Meta says is granted now */
		graph_token_clear(&t);
		op_finish(a, PROTO_OK, NULL);
		return 1;
	}
	if (graph_parse_token(r->body, r->body_len, &t) < 0)
		return snprintf(v->why, sizeof(v->why), "Meta's answer holds no usable access_token"), -EBADMSG;
	struct new_token n = from_answer(&t, r, NULL);
	n.refreshed = true;
	n.token_type = a->token_type;
	n.data_access_expires_at = a->data_access_expires_at;
	n.last_validated = a->last_validated;
	if (op->step == STEP_FB_REEXCHANGE && n.expires_at <= a->expires_at + NO_EXTENSION_SLACK) {
		/* Meta did not move the expiry: this token cannot be extended */
		char why[160], when[64];
		struct tm tm;
		time_t e = (time_t)a->expires_at;
		gmtime_r(&e, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
		snprintf(why, sizeof(why), "Meta does not extend this token; log in again before %s", when);
		graph_token_clear(&t);
		set_verdict(a, VERDICT_EXPIRING, why);
		op_finish(a, PROTO_OK, NULL);
		return 1;
	}
	k = store_new_token(a, &n);
	graph_token_clear(&t);
	if (k < 0) {
		errno = -k;
		snprintf(v->why, sizeof(v->why), "cannot seal the new token in the vault: %m");
		return k;
	}
	succeeded(a);
	return 1;
}

static void own_token_answer(struct account *a, struct op *op, const struct http_response *r,
			     struct graph_verdict *v)
{
	if (v->outcome == GRAPH_OK) {
		if (own_token_ok(a, op, r, v) > 0)
			return;
		v->outcome = GRAPH_ERROR;
	}
	switch (v->outcome) {
	case GRAPH_EXPIRED:
		set_verdict(a, VERDICT_EXPIRED, v->why);
		break;
	case GRAPH_REAUTH:
		set_verdict(a, VERDICT_REAUTH, v->why);
		break;
	case GRAPH_THROTTLED:
		/* not a failure of the token: the app's pause decides when it goes again */
		(void)record_set_string(&a->last_error, v->why);
		a->refresh_throttled++;
		a->app->refresh_throttled++;
		break;
	default:
		refresh_failed(a, v->why);
		break;
	}
	op_finish(a, error_for(v->outcome), v->why);
}

/* ---- answers about a candidate token (import, enrolment) ---- */

static void next_step(struct account *a, struct op *op, enum op_step step)
{
	op->step = step;
	app_enqueue(a->app, a);
}

static void keep_candidate_facts(struct op *op, struct graph_token *t)
{
	if (t->user_id) {
		free(op->user_id);
		op->user_id = TAKE_PTR(t->user_id);
	}
	if (t->scopes) {
		free(op->scopes);
		op->scopes = TAKE_PTR(t->scopes);
	}
}

/* Returns 1 when the op went on or finished, else < 0 with v->why set. */
static int candidate_ok(struct account *a, struct op *op, const struct http_response *r,
			struct graph_verdict *v, struct new_token *store)
{
	struct graph_token t = { 0 };
	int64_t now = now_realtime_sec();
	char *id = NULL;

	switch (op->step) {
	case STEP_ME:
		if (graph_parse_me(r->body, r->body_len, &id) < 0)
			return snprintf(v->why, sizeof(v->why), "Meta's answer to /me holds no user id"), -EBADMSG;
		free(op->user_id);
		op->user_id = id;
		next_step(a, op, op->short_lived ? STEP_EXCHANGE : STEP_IMPORT_REFRESH);
		return 1;
	case STEP_IG_CODE:
	case STEP_FB_CODE:
		if (graph_parse_token(r->body, r->body_len, &t) < 0)
			return snprintf(v->why, sizeof(v->why), "Meta's code exchange answer holds no token"), -EBADMSG;
		secret_free(op->token);
		op->token = TAKE_PTR(t.token);
		keep_candidate_facts(op, &t);
		graph_token_clear(&t);
		next_step(a, op, op->step == STEP_IG_CODE ? STEP_EXCHANGE : STEP_FB_EXCHANGE);
		return 1;
	case STEP_FB_DEBUG_NEW:
		if (graph_parse_debug(r->body, r->body_len, &t) < 0)
			return snprintf(v->why, sizeof(v->why), "Meta's debug_token answer is unreadable"), -EBADMSG;
		if (!t.is_valid) {
			graph_token_clear(&t);
			op_finish(a, PROTO_REAUTH_REQUIRED, "Meta says this token is not valid (debug_token)");
			return 1;
		}
		keep_candidate_facts(op, &t);
		if (op->short_lived) {
			graph_token_clear(&t);
			next_step(a, op, STEP_FB_EXCHANGE);
			return 1;
		}
		*store = (struct new_token){
			.token = op->token, .issued_at = now,
			.expires_at = t.expires_at >= 0 ? t.expires_at : now + GRAPH_DEFAULT_LIFETIME,
			.data_access_expires_at = MAX(t.data_access_expires_at, 0), .last_validated = now,
			.user_id = op->user_id, .scopes = op->scopes,
			.token_type = t.type && streq(t.type, "PAGE"),
		};
		graph_token_clear(&t);
		return 0;
	default: /* the exchanges: a long-lived token, issued now */
		if (graph_parse_token(r->body, r->body_len, &t) < 0)
			return snprintf(v->why, sizeof(v->why), "Meta's exchange answer holds no token"), -EBADMSG;
		keep_candidate_facts(op, &t);
		secret_free(op->token);
		op->token = TAKE_PTR(t.token);
		*store = from_answer(&t, r, op);
		store->token = op->token;
		store->refreshed = op->step == STEP_IMPORT_REFRESH;
		graph_token_clear(&t);
		return 0;
	}
}

static void candidate_answer(struct account *a, struct op *op, const struct http_response *r,
			     struct graph_verdict *v)
{
	int64_t now = now_realtime_sec();
	struct new_token n = { 0 };
	int k;

	if (op->step == STEP_IMPORT_REFRESH && v->outcome != GRAPH_OK) {
		/* Meta refused (most likely the token is under 24 hours old): /me has just
		 * validated it, so that is no verdict. Keep it with the documented lifetime
		 * and learn the real expiry at the first refresh, once it is min_age old. */
		log_account(LOG_INFO, a->name, a->app->name, NULL,
			    "imported token not refreshed at once (%s); assuming a 60-day lifetime", v->why);
		n = (struct new_token){ .token = op->token, .issued_at = now, .expires_at = now + GRAPH_DEFAULT_LIFETIME,
					.assumed = true, .user_id = op->user_id, .scopes = op->scopes };
	} else if (v->outcome != GRAPH_OK) {
		op_finish(a, error_for(v->outcome), v->why);
		return;
	} else {
		k = candidate_ok(a, op, r, v, &n);
		if (k > 0)
			return;
		if (k < 0) {
			op_finish(a, PROTO_UPSTREAM, v->why);
			return;
		}
	}
	/* facebook: a token from an exchange has last_validated 0, so debug_token
	 * inspects it right after (scopes, data access expiry) */
	k = store_new_token(a, &n);
	if (k < 0) {
		char why[128];
		errno = -k;
		snprintf(why, sizeof(why), "cannot seal the token in the vault: %m");
		op_finish(a, PROTO_INTERNAL, why);
		return;
	}
	manager_account_refreshed(a->m, a);
	op_finish(a, PROTO_OK, NULL);
}

static void on_answer(const struct http_response *r, void *userdata)
{
	struct account *a = userdata;
	struct op *op = a->ops;
	struct graph_verdict v;

	op->req = NULL; /* the request frees itself after this callback */
	graph_classify(r->error, r->error_text, r->status, r->body, r->body_len, &v);
	graph_scrub(v.why, op->token);
	graph_scrub(v.why, op->code);
	if (v.outcome != GRAPH_OK)
		log_account(LOG_DEBUG, a->name, a->app->name, NULL, "answer: %s (%s)",
			    graph_outcome_name(v.outcome), v.why);
	app_on_answer(a->app, r, v.outcome);
	if (op->kind == OP_REFRESH || op->kind == OP_VALIDATE)
		own_token_answer(a, op, r, &v);
	else
		candidate_answer(a, op, r, &v);
}

/* SPDX-License-Identifier: MIT */
/* What each step of an operation sends to Meta, and what its answer does to the
 * account. A new token is sealed before it is served; only Meta's verdict
 * (expired, reauth_required) stops a token from being served before it expires. */
#include <stdio.h>

#include "account-internal.h"
#include "log.h"
#include "schedule.h"
#include "util.h"
#include "vault.h"

/* ---- requests and answers ---- */

static void on_answer(const struct http_response *r, void *userdata);

int account_send(struct account *a)
{
	_cleanup_(record_freep) struct vault_record *cur = NULL;
	_cleanup_secret_ struct secret *url = NULL;
	const struct app_config *ac = a->app->cfg;
	struct op *op = a->ops;
	int k = -ECANCELED;

	if (!op)
		return -ECANCELED;
	switch (op->step) {
	case STEP_REFRESH:
		k = vault_load(manager_vault(a->m), a->name, &cur);
		if (k >= 0)
			k = graph_url_ig_refresh(ac, cur->token, &url);
		break;
	case STEP_ME:
		k = graph_url_ig_me(ac, op->token, &url);
		break;
	case STEP_EXCHANGE:
		k = graph_url_ig_exchange(ac, op->token, &url);
		break;
	case STEP_IMPORT_REFRESH:
		k = graph_url_ig_refresh(ac, op->token, &url);
		break;
	}
	if (k >= 0)
		k = http_get(a->app->http, url, on_answer, a, &op->req);
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

/* Seals a new token, then (only then) makes it the one served. */
static int store_new_token(struct account *a, struct graph_token *t, int64_t issued_at,
			   bool refreshed, bool assumed, const char *user_id)
{
	struct vault_record r;
	char fp[SECRET_FP_LEN], d[32];
	int64_t now = now_realtime_sec();
	int k;

	fill_record(a, &r, t->token);
	r.issued_at = issued_at;
	r.expires_at = issued_at + (t->expires_in > 0 ? t->expires_in : GRAPH_DEFAULT_LIFETIME);
	if (refreshed)
		r.last_refresh = now;
	r.failures = 0;
	r.next_attempt = 0;
	r.verdict = VERDICT_NONE;
	r.expiry_assumed = assumed;
	r.last_error = NULL;
	if (t->user_id)
		r.user_id = t->user_id;
	else if (user_id)
		r.user_id = (char *)(uintptr_t)user_id;
	if (t->scopes)
		r.scopes = t->scopes;
	else if (!r.scopes)
		r.scopes = NULL;
	k = vault_store(manager_vault(a->m), a->name, &r);
	if (k < 0)
		return k;
	account_uncache(a); /* from now on the new token, sealed, is the one served */
	apply_record(a, &r);
	if (!a->scopes && a->cfg->scopes) { /* what we asked for, until Meta says what it granted */
		_cleanup_free_ char *joined = NULL;
		size_t n = 0;
		FILE *f = open_memstream(&joined, &n);
		if (f) {
			for (size_t i = 0; a->cfg->scopes[i]; i++)
				fprintf(f, "%s%s", i ? "," : "", a->cfg->scopes[i]);
			fclose(f);
			(void)record_set_string(&a->scopes, joined);
		}
	}
	secret_fingerprint(t->token, fp);
	format_duration(a->expires_at - now, d, sizeof(d));
	log_account(LOG_INFO, a->name, a->app->name, NULL, "new token fp=%s sealed; expires in %s%s", fp, d,
		    assumed ? " (assumed until Meta says)" : "");
	return 0;
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
	persist_metadata(a);
	format_duration(wait, d, sizeof(d));
	log_account(LOG_WARNING, a->name, a->app->name, NULL, "refresh failed (%u in a row): %s; next try in %s",
		    a->failures, why, d);
}

static void set_verdict(struct account *a, uint8_t verdict, const char *why)
{
	account_uncache(a);
	a->verdict = verdict;
	(void)record_set_string(&a->last_error, why);
	persist_metadata(a);
	log_account(LOG_ERR, a->name, a->app->name, NULL, "Meta's verdict: %s; a new login (import or enroll) is needed",
		    why);
}

static void refresh_answer(struct account *a, const struct http_response *r, struct graph_verdict *v)
{
	struct graph_token t = { 0 };
	int k;

	if (v->outcome == GRAPH_OK) {
		if (graph_parse_token(r->body, r->body_len, &t) < 0) {
			v->outcome = GRAPH_ERROR;
			snprintf(v->why, sizeof(v->why), "Meta's answer holds no usable access_token");
		} else {
			k = store_new_token(a, &t, r->sent_at, true, false, NULL);
			graph_token_clear(&t);
			if (k >= 0) {
				a->refresh_ok++;
				a->app->refresh_ok++;
				manager_account_refreshed(a->m, a);
				op_finish(a, PROTO_OK, NULL);
				return;
			}
			errno = -k;
			snprintf(v->why, sizeof(v->why), "cannot seal the new token in the vault: %m");
			v->outcome = GRAPH_ERROR;
		}
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

static void import_answer(struct account *a, struct op *op, const struct http_response *r,
			  struct graph_verdict *v)
{
	struct graph_token t = { 0 };
	int64_t now = now_realtime_sec();
	char *id = NULL;
	int k;

	switch (op->step) {
	case STEP_ME:
		if (v->outcome == GRAPH_OK && graph_parse_me(r->body, r->body_len, &id) < 0) {
			v->outcome = GRAPH_ERROR;
			snprintf(v->why, sizeof(v->why), "Meta's answer to /me holds no user id");
		}
		if (v->outcome != GRAPH_OK) {
			op_finish(a, error_for(v->outcome), v->why);
			return;
		}
		free(op->user_id);
		op->user_id = id;
		op->step = op->short_lived ? STEP_EXCHANGE : STEP_IMPORT_REFRESH;
		app_enqueue(a->app, a);
		return;
	case STEP_EXCHANGE:
		if (v->outcome == GRAPH_OK && graph_parse_token(r->body, r->body_len, &t) < 0) {
			v->outcome = GRAPH_ERROR;
			snprintf(v->why, sizeof(v->why), "Meta's exchange answer holds no usable access_token");
		}
		if (v->outcome != GRAPH_OK) {
			op_finish(a, error_for(v->outcome), v->why);
			return;
		}
		k = store_new_token(a, &t, r->sent_at, false, false, op->user_id);
		break;
	case STEP_IMPORT_REFRESH:
		if (v->outcome == GRAPH_OK && graph_parse_token(r->body, r->body_len, &t) == 0) {
			k = store_new_token(a, &t, r->sent_at, true, false, op->user_id);
			break;
		}
		/* Meta refused (most likely the token is under 24 hours old): /me has just
		 * validated it, so that is no verdict. Keep it with the documented lifetime
		 * and learn the real expiry at the first refresh, once it is min_age old. */
		log_account(LOG_INFO, a->name, a->app->name, NULL,
			    "imported token not refreshed at once (%s); assuming a 60-day lifetime",
			    v->outcome == GRAPH_OK ? "unusable answer" : v->why);
		t.token = TAKE_PTR(op->token);
		t.expires_in = GRAPH_DEFAULT_LIFETIME;
		t.expires_at = t.data_access_expires_at = -1;
		k = store_new_token(a, &t, now, false, true, op->user_id);
		break;
	default:
		k = -EINVAL;
	}
	graph_token_clear(&t);
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
	if (v.outcome != GRAPH_OK)
		log_account(LOG_DEBUG, a->name, a->app->name, NULL, "answer: %s (%s)",
			    graph_outcome_name(v.outcome), v.why);
	app_on_answer(a->app, r, v.outcome);
	if (op->kind == OP_REFRESH)
		refresh_answer(a, r, &v);
	else
		import_answer(a, op, r, &v);
}

/* SPDX-License-Identifier: MIT */
#include "engine/steps.h"

#include <stdio.h>
#include <time.h>

#include "basic/log.h"
#include "basic/util.h"
#include "engine/account-record.h"
#include "engine/steps-candidate.h"
#include "meta/graph-parse.h"
#include "meta/graph-url.h"
#include "store/vault.h"

#define NO_EXTENSION_SLACK 2 /* seconds: a re-exchange that moves expiry less has not extended it */

bool steps_own_token(const struct op_state *s)
{
	return s->kind == OP_REFRESH || s->kind == OP_CHECK;
}

bool steps_is_check(const struct op_state *s)
{
	return s->kind == OP_CHECK;
}

unsigned steps_flags(enum op_step step)
{
	switch (step) {
	case STEP_REFRESH:
	case STEP_IMPORT_REFRESH: return GRAPH_REFRESH;
	case STEP_EXCHANGE:
	case STEP_IMPORT_EXCHANGE:
	case STEP_IG_CODE:
	case STEP_FB_CODE:
	case STEP_FB_EXCHANGE:
	case STEP_FB_REEXCHANGE: return GRAPH_CLIENT_SECRET;
	case STEP_FB_DEBUG_NEW:
	case STEP_FB_VALIDATE: return GRAPH_APP_TOKEN;
	default: return 0;
	}
}

enum op_step steps_first(const struct account *a, const struct op_state *s)
{
	bool fb = a->app->cfg->platform == PLATFORM_FACEBOOK;

	switch (s->kind) {
	case OP_REFRESH:
		if (!fb)
			return STEP_REFRESH;
		/* page tokens and tokens that never expire are validated, not refreshed */
		return a->expires_at == 0 || a->token_type == TOKEN_PAGE ? STEP_FB_VALIDATE
									 : STEP_FB_REEXCHANGE;
	case OP_CHECK: return fb ? STEP_FB_VALIDATE : STEP_IG_CHECK;
	case OP_IMPORT: return fb ? STEP_FB_DEBUG_NEW : STEP_ME;
	case OP_ENROLL:
	default: return fb ? STEP_FB_CODE : STEP_IG_CODE;
	}
}

int steps_request(struct account *a, struct op_state *s, struct secret **url, struct secret **form)
{
	_cleanup_(record_freep) struct vault_record *cur = NULL;
	const struct app_config *ac = a->app->cfg;
	bool sixty = a->token_type == TOKEN_SYSTEM_USER;
	int k;

	if (steps_own_token(s)) {
		k = vault_load(a->ctx->vault, a->name, &cur);
		if (k >= 0 && !cur->token)
			k = -ENOKEY;
		if (k < 0)
			return k;
		/* kept to scrub it from Meta's answer, should Meta quote it */
		secret_free(s->current);
		k = secret_from_mem(cur->token->data, cur->token->len, &s->current);
		if (k < 0)
			return k;
		/* and its scopes, sealed again with the new token (no second read) */
		free(s->scopes);
		s->scopes = TAKE_PTR(cur->scopes);
	}
	switch (s->step) {
	case STEP_REFRESH: return graph_url_ig_refresh(ac, cur->token, url);
	case STEP_IG_CHECK: return graph_url_ig_me(ac, cur->token, url);
	case STEP_ME: return graph_url_ig_me(ac, s->token, url);
	case STEP_EXCHANGE:
	case STEP_IMPORT_EXCHANGE: return graph_url_ig_exchange(ac, s->token, url);
	case STEP_IMPORT_REFRESH: return graph_url_ig_refresh(ac, s->token, url);
	case STEP_IG_CODE: return graph_url_ig_code(ac, s->code->data, url, form);
	case STEP_FB_CODE: return graph_url_fb_code(ac, s->code->data, url);
	case STEP_FB_EXCHANGE: return graph_url_fb_exchange(ac, s->token, false, url);
	case STEP_FB_REEXCHANGE: return graph_url_fb_exchange(ac, cur->token, sixty, url);
	case STEP_FB_DEBUG_NEW: return graph_url_fb_debug(ac, s->token, url);
	case STEP_FB_VALIDATE: return graph_url_fb_debug(ac, cur->token, url);
	}
	return -EINVAL;
}

/* How a refresh ends once its new token's write reported (k < 0: failed). */
static void refresh_stored(struct account *a, int k, struct step_result *ret)
{
	char why[128];

	if (k < 0) {
		step_seal_failure(k, why, sizeof(why));
		account_note_failure(a, why);
		return step_done(ret, -EREMOTEIO, a->last_error);
	}
	a->refresh_ok++;
	account_refreshed(a);
	step_done(ret, 0, NULL);
}

void steps_stored(struct account *a, const struct op_state *s, int error, struct step_result *ret)
{
	*ret = (struct step_result){ 0 };
	if (error == -ECANCELED)
		return step_done(ret, -ECANCELED,
				 "the token was wiped while the new one was stored");
	if (steps_own_token(s))
		refresh_stored(a, error, ret);
	else
		steps_candidate_stored(a, error, ret);
}

/* ---- answers about the account's own token (refresh, check) ---- */

/* debug_token's answer on the token in hand. */
static void validated(struct account *a, const struct op_state *s, const struct http_response *r,
		      struct step_result *ret)
{
	struct graph_token t = { 0 };
	struct graph_verdict v;

	if (graph_parse_debug(r->body, r->body_len, &t) < 0) {
		if (steps_is_check(s))
			account_note_check_failed(a, "Meta's debug_token answer is unreadable");
		else
			account_note_failure(a, "Meta's debug_token answer is unreadable");
		return step_done(ret, -EREMOTEIO, "Meta's debug_token answer is unreadable");
	}
	if (!t.is_valid) {
		struct graph_token_error e = { t.error_code, t.error_subcode, t.error_message };
		graph_describe_token_error(&e, account_expired_by_time(a, a->ctx->now()), &v);
		graph_scrub(v.why, s->current);
		account_set_verdict(a, v.verdict, v.why);
		graph_token_clear(&t);
		return step_done(ret, verdict_to_errno(a->verdict), a->last_error);
	}
	account_note_validated(a,
			       &(struct check_facts){
				       .expires_at = t.expires_at,
				       .data_access_expires_at = t.data_access_expires_at,
				       .scopes = t.scopes,
				       .token_type = t.type ? step_token_type(t.type) : -1,
			       },
			       !steps_is_check(s));
	graph_token_clear(&t);
	step_done(ret, 0, NULL);
}

/* /me answered with the token in hand: it is good (CONTRACT 12.1). */
static void checked_ig(struct account *a, const struct http_response *r, struct step_result *ret)
{
	_cleanup_free_ char *id = NULL, *username = NULL;

	if (graph_parse_me(r->body, r->body_len, &id, &username) < 0) {
		account_note_check_failed(a, "Meta's answer to /me holds no user id");
		return step_done(ret, -EREMOTEIO, "Meta's answer to /me holds no user id");
	}
	account_note_validated(a,
			       &(struct check_facts){ .expires_at = -1,
						      .data_access_expires_at = -1,
						      .username = username,
						      .token_type = -1 },
			       false);
	step_done(ret, 0, NULL);
}

static void not_extended(struct account *a, struct step_result *ret)
{
	char why[160], when[64];
	time_t e = (time_t)a->expires_at;
	struct tm tm;

	gmtime_r(&e, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
	snprintf(why, sizeof(why), "Meta does not extend this token; log in again before %s", when);
	account_set_verdict(a, VERDICT_NOT_EXTENDED, why);
	step_done(ret, 0, NULL);
}

static void refreshed(struct account *a, struct op_state *s, const struct http_response *r,
		      struct step_result *ret)
{
	struct graph_token t = { 0 };
	struct new_token n;
	int k;

	if (graph_parse_token(r->body, r->body_len, &t) < 0) {
		account_note_failure(a, "Meta's answer holds no usable access_token");
		return step_done(ret, -EREMOTEIO, a->last_error);
	}
	n = step_token_from_answer(&t, r, s);
	n.refreshed = true;
	n.token_type = a->token_type;
	n.data_access_expires_at = a->data_access_expires_at;
	/* a refresh proves the token good; a re-exchange keeps the facebook check's schedule */
	n.last_validated = s->step == STEP_REFRESH ? a->ctx->now() : a->last_validated;
	if (s->step == STEP_FB_REEXCHANGE && n.expires_at <= a->expires_at + NO_EXTENSION_SLACK) {
		/* Meta did not move the expiry: this token cannot be extended */
		graph_token_clear(&t);
		return not_extended(a, ret);
	}
	n.served = TAKE_PTR(s->current); /* served until the new one is durable */
	k = account_store_token(a, &n, s->stored, s->stored_userdata);
	graph_token_clear(&t);
	if (k == 0)
		return step_pending(ret);
	refresh_stored(a, k, ret);
}

static void own_token_answer(struct account *a, struct op_state *s, const struct http_response *r,
			     const struct graph_verdict *v, struct step_result *ret)
{
	bool check = steps_is_check(s);

	switch (v->verdict) {
	case VERDICT_OK:
		if (s->step == STEP_FB_VALIDATE)
			return validated(a, s, r, ret);
		if (s->step == STEP_IG_CHECK)
			return checked_ig(a, r, ret);
		return refreshed(a, s, r, ret);
	case VERDICT_EXPIRED:
	case VERDICT_REAUTH:
	case VERDICT_REAUTH_RECOVERABLE: account_set_verdict(a, v->verdict, v->why); break;
	case VERDICT_CREDENTIALS:
		/* not the token's fault (CONTRACT 12.2): the app backs off, the account stays */
		if (check)
			account_note_check_failed(a, v->why);
		else if (!(steps_flags(s->step) & (GRAPH_CLIENT_SECRET | GRAPH_APP_TOKEN)))
			account_note_failure(a, v->why); /* 101 on a call without them: back off */
		break;
	case VERDICT_THROTTLED:
		if (check)
			account_note_check_failed(a, v->why);
		else
			account_note_throttled(a, v->why);
		break;
	default:
		if (check)
			account_note_check_failed(a, v->why);
		else
			account_note_failure(a, v->why);
		break;
	}
	step_done(ret, verdict_to_errno(v->verdict), v->why);
}

void steps_answer(struct account *a, struct op_state *s, const struct http_response *r,
		  const struct graph_verdict *v, struct step_result *ret)
{
	*ret = (struct step_result){ 0 };
	if (steps_own_token(s))
		own_token_answer(a, s, r, v, ret);
	else
		steps_candidate_answer(a, s, r, v, ret);
}

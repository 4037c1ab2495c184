/* SPDX-License-Identifier: MIT */
#include "engine/steps.h"

#include <stdio.h>
#include <time.h>

#include "basic/log.h"
#include "basic/util.h"
#include "engine/account-record.h"
#include "engine/token-write.h"
#include "meta/graph-parse.h"
#include "meta/graph-url.h"
#include "store/vault.h"

#define NO_EXTENSION_SLACK 2 /* seconds: a re-exchange that moves expiry less has not extended it */

void op_state_clear(struct op_state *s)
{
	secret_free(s->token);
	secret_free(s->code);
	secret_free(s->current);
	free(s->user_id);
	free(s->username);
	free(s->scopes);
	*s = (struct op_state){ 0 };
}

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

/* ---- results ---- */

static void done(struct step_result *ret, int error, const char *message)
{
	ret->done = true;
	ret->error = error;
	snprintf(ret->message, sizeof(ret->message), "%s", message ?: "");
}

static void next(struct step_result *ret, enum op_step step)
{
	ret->done = false;
	ret->next = step;
}

static void pending(struct step_result *ret)
{
	ret->done = false;
	ret->pending = true;
}

static void seal_failure(int k, char *why, size_t len)
{
	errno = -k;
	snprintf(why, len, "cannot seal the new token in the vault: %m");
}

/* How a refresh ends once its new token's write reported (k < 0: failed). */
static void refresh_stored(struct account *a, int k, struct step_result *ret)
{
	char why[128];

	if (k < 0) {
		seal_failure(k, why, sizeof(why));
		account_note_failure(a, why);
		return done(ret, -EREMOTEIO, a->last_error);
	}
	a->refresh_ok++;
	account_refreshed(a);
	done(ret, 0, NULL);
}

/* How an import or enrolment ends once its token's write reported. */
static void candidate_stored(struct account *a, int k, struct step_result *ret)
{
	char why[128];

	if (k < 0) {
		seal_failure(k, why, sizeof(why));
		return done(ret, -EIO, why);
	}
	account_refreshed(a);
	done(ret, 0, NULL);
}

void steps_stored(struct account *a, const struct op_state *s, int error, struct step_result *ret)
{
	*ret = (struct step_result){ 0 };
	if (error == -ECANCELED)
		return done(ret, -ECANCELED, "the token was wiped while the new one was stored");
	if (steps_own_token(s))
		refresh_stored(a, error, ret);
	else
		candidate_stored(a, error, ret);
}

static uint8_t token_type_of(const char *type)
{
	if (type && streq(type, "PAGE"))
		return TOKEN_PAGE;
	if (type && streq(type, "SYSTEM_USER"))
		return TOKEN_SYSTEM_USER;
	return TOKEN_USER;
}

/* A token from an answer (refresh, exchange, code): issued when the request was sent. */
static struct new_token from_answer(const struct graph_token *t, const struct http_response *r,
				    const struct op_state *s)
{
	return (struct new_token){
		.token = t->token,
		.issued_at = r->sent_at,
		.expires_at =
			r->sent_at + (t->expires_in > 0 ? t->expires_in : GRAPH_DEFAULT_LIFETIME),
		.user_id = t->user_id ?: (s ? s->user_id : NULL),
		.scopes = t->scopes ?: (s ? s->scopes : NULL),
	};
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
		return done(ret, -EREMOTEIO, "Meta's debug_token answer is unreadable");
	}
	if (!t.is_valid) {
		struct graph_token_error e = { t.error_code, t.error_subcode, t.error_message };
		graph_describe_token_error(&e, account_expired_by_time(a, a->ctx->now()), &v);
		graph_scrub(v.why, s->current);
		account_set_verdict(a, v.verdict, v.why);
		graph_token_clear(&t);
		return done(ret, verdict_to_errno(a->verdict), a->last_error);
	}
	account_note_validated(a,
			       &(struct check_facts){
				       .expires_at = t.expires_at,
				       .data_access_expires_at = t.data_access_expires_at,
				       .scopes = t.scopes,
				       .token_type = t.type ? token_type_of(t.type) : -1,
			       },
			       !steps_is_check(s));
	graph_token_clear(&t);
	done(ret, 0, NULL);
}

/* /me answered with the token in hand: it is good (CONTRACT 12.1). */
static void checked_ig(struct account *a, const struct http_response *r, struct step_result *ret)
{
	_cleanup_free_ char *id = NULL, *username = NULL;

	if (graph_parse_me(r->body, r->body_len, &id, &username) < 0) {
		account_note_check_failed(a, "Meta's answer to /me holds no user id");
		return done(ret, -EREMOTEIO, "Meta's answer to /me holds no user id");
	}
	account_note_validated(a,
			       &(struct check_facts){ .expires_at = -1,
						      .data_access_expires_at = -1,
						      .username = username,
						      .token_type = -1 },
			       false);
	done(ret, 0, NULL);
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
	done(ret, 0, NULL);
}

static void refreshed(struct account *a, struct op_state *s, const struct http_response *r,
		      struct step_result *ret)
{
	struct graph_token t = { 0 };
	struct new_token n;
	int k;

	if (graph_parse_token(r->body, r->body_len, &t) < 0) {
		account_note_failure(a, "Meta's answer holds no usable access_token");
		return done(ret, -EREMOTEIO, a->last_error);
	}
	n = from_answer(&t, r, s);
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
		return pending(ret);
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
	done(ret, verdict_to_errno(v->verdict), v->why);
}

/* ---- answers about a candidate token (import, enrolment) ---- */

static void keep_string(char **dst, char **src)
{
	if (*src) {
		free(*dst);
		*dst = TAKE_PTR(*src);
	}
}

static void keep_candidate_facts(struct op_state *s, struct graph_token *t)
{
	keep_string(&s->user_id, &t->user_id);
	keep_string(&s->scopes, &t->scopes);
	keep_string(&s->username, &t->username);
}

/* Seals the candidate and ends the operation. */
static void store_candidate(struct account *a, struct op_state *s, struct new_token *n,
			    struct step_result *ret)
{
	int k;

	n->username = s->username;
	n->token_type = s->token_type;
	n->data_access_expires_at = s->data_access_expires_at;
	/* what Meta has not inspected yet is checked right after (it shows in no state) */
	n->last_validated = s->validated ? a->ctx->now() : 0;
	k = account_store_token(a, n, s->stored, s->stored_userdata);
	if (k == 0)
		return pending(ret);
	candidate_stored(a, k, ret);
}

/* The candidate's real expiry is unknown: the documented lifetime, until its first refresh says. */
static void store_assumed(struct account *a, struct op_state *s, const char *why,
			  struct step_result *ret)
{
	int64_t now = a->ctx->now();
	struct new_token n = {
		.token = s->token,
		.issued_at = now,
		.expires_at = now + GRAPH_DEFAULT_LIFETIME,
		.assumed = true,
		.user_id = s->user_id,
		.scopes = s->scopes,
	};

	log_account(LOG_INFO, a->name, a->app->name, NULL,
		    "the imported token's real expiry is unknown (%s); assuming a 60-day lifetime "
		    "until its first refresh",
		    why);
	store_candidate(a, s, &n, ret);
}

static void debugged_candidate(struct account *a, struct op_state *s, const struct http_response *r,
			       struct step_result *ret)
{
	struct graph_token t = { 0 };
	struct graph_verdict v;
	int64_t now = a->ctx->now();
	struct new_token n;

	if (graph_parse_debug(r->body, r->body_len, &t) < 0)
		return done(ret, -EREMOTEIO, "Meta's debug_token answer is unreadable");
	if (!t.is_valid) {
		struct graph_token_error e = { t.error_code, t.error_subcode, t.error_message };
		graph_describe_token_error(&e, false, &v);
		graph_scrub(v.why, s->token);
		graph_token_clear(&t);
		return done(ret, verdict_to_errno(v.verdict), v.why);
	}
	keep_candidate_facts(s, &t);
	s->token_type = token_type_of(t.type);
	s->data_access_expires_at = MAX(t.data_access_expires_at, 0);
	s->validated = true;
	if (s->short_lived) {
		graph_token_clear(&t);
		return next(ret, STEP_FB_EXCHANGE);
	}
	n = (struct new_token){
		.token = s->token,
		.issued_at = now,
		.expires_at = t.expires_at >= 0 ? t.expires_at : now + GRAPH_DEFAULT_LIFETIME,
		.user_id = s->user_id,
		.scopes = s->scopes,
	};
	graph_token_clear(&t);
	store_candidate(a, s, &n, ret);
}

/* The candidate token changes hands: a code became a token, or a short-lived one a long-lived one. */
static int take_token(struct op_state *s, const struct http_response *r, struct graph_token *t)
{
	int k = graph_parse_token(r->body, r->body_len, t);

	if (k < 0)
		return k;
	keep_candidate_facts(s, t);
	secret_free(s->token);
	s->token = TAKE_PTR(t->token);
	return 0;
}

static void candidate_ok(struct account *a, struct op_state *s, const struct http_response *r,
			 struct step_result *ret)
{
	struct graph_token t = { 0 };
	struct new_token n;

	switch (s->step) {
	case STEP_ME:
		if (graph_parse_me(r->body, r->body_len, &t.user_id, &t.username) < 0)
			return done(ret, -EREMOTEIO, "Meta's answer to /me holds no user id");
		keep_candidate_facts(s, &t);
		graph_token_clear(&t);
		s->validated = true;
		return next(ret, s->short_lived ? STEP_EXCHANGE : STEP_IMPORT_REFRESH);
	case STEP_IG_CODE:
	case STEP_FB_CODE:
		if (take_token(s, r, &t) < 0)
			return done(ret, -EREMOTEIO, "Meta's code exchange answer holds no token");
		graph_token_clear(&t);
		return next(ret, s->step == STEP_IG_CODE ? STEP_EXCHANGE : STEP_FB_EXCHANGE);
	case STEP_FB_DEBUG_NEW: return debugged_candidate(a, s, r, ret);
	default: /* the exchanges: a long-lived token, issued when the request was sent */
		if (take_token(s, r, &t) < 0)
			return done(ret, -EREMOTEIO, "Meta's exchange answer holds no token");
		if (s->step == STEP_IMPORT_EXCHANGE)
			log_account(LOG_NOTICE, a->name, a->app->name, NULL,
				    "the imported token was short-lived: Meta exchanged it for a "
				    "long-lived one");
		n = from_answer(&t, r, s);
		n.token = s->token;
		n.refreshed = s->step == STEP_IMPORT_REFRESH;
		graph_token_clear(&t);
		return store_candidate(a, s, &n, ret);
	}
}

static void candidate_answer(struct account *a, struct op_state *s, const struct http_response *r,
			     const struct graph_verdict *v, struct step_result *ret)
{
	if (v->verdict == VERDICT_OK)
		return candidate_ok(a, s, r, ret);
	if (s->step == STEP_IMPORT_REFRESH && !verdict_is_dead(v->verdict)) {
		/* Meta refused, but said nothing against the token (/me has just validated
		 * it): under 24 hours old, or short-lived after all (CONTRACT 12.4) */
		if (v->verdict == VERDICT_THROTTLED)
			return store_assumed(a, s, v->why, ret);
		return next(ret, STEP_IMPORT_EXCHANGE);
	}
	if (s->step == STEP_IMPORT_EXCHANGE && v->verdict != VERDICT_CREDENTIALS)
		return store_assumed(a, s, v->why, ret);
	done(ret, verdict_to_errno(v->verdict), v->why);
}

void steps_answer(struct account *a, struct op_state *s, const struct http_response *r,
		  const struct graph_verdict *v, struct step_result *ret)
{
	*ret = (struct step_result){ 0 };
	if (steps_own_token(s))
		own_token_answer(a, s, r, v, ret);
	else
		candidate_answer(a, s, r, v, ret);
}

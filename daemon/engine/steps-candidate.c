/* SPDX-License-Identifier: MIT */
#include "engine/steps-candidate.h"

#include "basic/log.h"
#include "basic/util.h"

/* How an import or enrolment ends once its token's write reported. */
void steps_candidate_stored(struct account *a, int k, struct step_result *ret)
{
	char why[128];

	if (k < 0) {
		step_seal_failure(k, why, sizeof(why));
		return step_done(ret, -EIO, why);
	}
	account_refreshed(a);
	step_done(ret, 0, NULL);
}

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
		return step_pending(ret);
	steps_candidate_stored(a, k, ret);
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
		return step_done(ret, -EREMOTEIO, "Meta's debug_token answer is unreadable");
	if (!t.is_valid) {
		struct graph_token_error e = { t.error_code, t.error_subcode, t.error_message };
		graph_describe_token_error(&e, false, &v);
		graph_scrub(v.why, s->token);
		graph_token_clear(&t);
		return step_done(ret, verdict_to_errno(v.verdict), v.why);
	}
	keep_candidate_facts(s, &t);
	s->token_type = step_token_type(t.type);
	s->data_access_expires_at = MAX(t.data_access_expires_at, 0);
	s->validated = true;
	if (s->short_lived) {
		graph_token_clear(&t);
		return step_next(ret, STEP_FB_EXCHANGE);
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
			return step_done(ret, -EREMOTEIO, "Meta's answer to /me holds no user id");
		keep_candidate_facts(s, &t);
		graph_token_clear(&t);
		s->validated = true;
		return step_next(ret, s->short_lived ? STEP_EXCHANGE : STEP_IMPORT_REFRESH);
	case STEP_IG_CODE:
	case STEP_FB_CODE:
		if (take_token(s, r, &t) < 0)
			return step_done(ret, -EREMOTEIO,
					 "Meta's code exchange answer holds no token");
		graph_token_clear(&t);
		return step_next(ret, s->step == STEP_IG_CODE ? STEP_EXCHANGE : STEP_FB_EXCHANGE);
	case STEP_FB_DEBUG_NEW: return debugged_candidate(a, s, r, ret);
	default: /* the exchanges: a long-lived token, issued when the request was sent */
		if (take_token(s, r, &t) < 0)
			return step_done(ret, -EREMOTEIO, "Meta's exchange answer holds no token");
		if (s->step == STEP_IMPORT_EXCHANGE)
			log_account(LOG_NOTICE, a->name, a->app->name, NULL,
				    "the imported token was short-lived: Meta exchanged it for a "
				    "long-lived one");
		n = step_token_from_answer(&t, r, s);
		n.token = s->token;
		n.refreshed = s->step == STEP_IMPORT_REFRESH;
		graph_token_clear(&t);
		return store_candidate(a, s, &n, ret);
	}
}

void steps_candidate_answer(struct account *a, struct op_state *s, const struct http_response *r,
			    const struct graph_verdict *v, struct step_result *ret)
{
	if (v->verdict == VERDICT_OK)
		return candidate_ok(a, s, r, ret);
	if (s->step == STEP_IMPORT_REFRESH && !verdict_is_dead(v->verdict)) {
		/* Meta refused, but said nothing against the token (/me has just validated
		 * it): under 24 hours old, or short-lived after all (CONTRACT 12.4) */
		if (v->verdict == VERDICT_THROTTLED)
			return store_assumed(a, s, v->why, ret);
		return step_next(ret, STEP_IMPORT_EXCHANGE);
	}
	if (s->step == STEP_IMPORT_EXCHANGE && v->verdict != VERDICT_CREDENTIALS)
		return store_assumed(a, s, v->why, ret);
	step_done(ret, verdict_to_errno(v->verdict), v->why);
}

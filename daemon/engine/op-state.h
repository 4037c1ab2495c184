/* SPDX-License-Identifier: MIT */
#pragma once

/* What an operation carries from one step to the next (engine/steps.h runs
 * the steps), what a step's answer comes to, and the pieces the answers about
 * the token in hand (engine/steps.c) and about a candidate token
 * (engine/steps-candidate.c) share. */

#include <stdbool.h>

#include "engine/account.h"
#include "engine/token-write.h"
#include "meta/graph-parse.h"
#include "meta/graph.h"
#include "net/http.h"

enum op_kind {
	OP_REFRESH, /* the account's token: refreshed (instagram) or re-exchanged (facebook) */
	OP_CHECK,   /* the account's token checked with Meta (CONTRACT 12.1): not a refresh */
	OP_IMPORT,  /* a token from an admin */
	OP_ENROLL,  /* an authorization code from an enrolment */
};

enum op_step {
	STEP_REFRESH,	      /* ig: refresh_access_token(current) */
	STEP_IG_CHECK,	      /* ig: /me(current) */
	STEP_ME,	      /* ig: /me(candidate) */
	STEP_EXCHANGE,	      /* ig: ig_exchange_token(candidate) */
	STEP_IMPORT_REFRESH,  /* ig: refresh_access_token(candidate) */
	STEP_IMPORT_EXCHANGE, /* ig: ig_exchange_token(candidate): was it short-lived after all? */
	STEP_IG_CODE,	      /* ig: POST oauth/access_token(code) */
	STEP_FB_CODE,	      /* fb: oauth/access_token(code) */
	STEP_FB_EXCHANGE,     /* fb: fb_exchange_token(candidate) */
	STEP_FB_REEXCHANGE,   /* fb: fb_exchange_token(current) */
	STEP_FB_DEBUG_NEW,    /* fb: debug_token(candidate) */
	STEP_FB_VALIDATE,     /* fb: debug_token(current) */
};

/* What an operation carries from one step to the next. */
struct op_state {
	enum op_kind kind;
	enum op_step step;
	struct secret *token;	/* import and enrolment: the candidate token */
	struct secret *code;	/* enrolment: the authorization code */
	struct secret *current; /* refresh, check: the token in hand, while its request is out */
	bool short_lived;
	/* what Meta said about the candidate; refresh, check: scopes are those
	 * the token in hand was sealed with */
	char *user_id, *username, *scopes;
	int64_t data_access_expires_at; /* 0 unknown */
	uint8_t token_type;
	bool validated; /* Meta inspected it (debug_token, /me): no check needed right after */
	/* where a new token's write reports once durable (account_store_token) */
	token_stored_t stored;
	void *stored_userdata;
};

void op_state_clear(struct op_state *s);

struct step_result {
	bool done;    /* else: go on with `next` */
	bool pending; /* a new token is being written: steps_stored() says the rest */
	enum op_step next;
	int error; /* done: 0 or a negative errno */
	char message[GRAPH_WHY_MAX];
};

/* The operation ends: 0 or a negative errno, and what to say. */
void step_done(struct step_result *ret, int error, const char *message);
/* It goes on with another request. */
void step_next(struct step_result *ret, enum op_step step);
/* A new token is being written: steps_stored() says how it ends. */
void step_pending(struct step_result *ret);
/* "cannot seal the new token in the vault: ..." for a write that failed with k. */
void step_seal_failure(int k, char *why, size_t len);
/* TOKEN_* of debug_token's type ("PAGE", "SYSTEM_USER"; anything else a user's). */
uint8_t step_token_type(const char *type);
/* A token from an answer (refresh, exchange, code): issued when the request was
 * sent; what the answer leaves out, from s (NULL: nothing). */
struct new_token step_token_from_answer(const struct graph_token *t, const struct http_response *r,
					const struct op_state *s);

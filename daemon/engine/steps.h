/* SPDX-License-Identifier: MIT */
#pragma once

/* The steps of an operation: what each one sends to Meta (CONTRACT sections 9
 * and 12), and what Meta's answer does to the account: a new token sealed, a
 * verdict, a failure, a throttle, or the next step. engine/operation.c runs
 * them; nothing here queues or answers anyone. */

#include <stdbool.h>

#include "engine/account.h"
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
/* Whether the operation concerns the token in hand (refresh, check). */
bool steps_own_token(const struct op_state *s);
/* What the current step's request carries (GRAPH_* of meta/graph.h), for what Meta's errors mean. */
unsigned steps_flags(enum op_step step);
/* Whether the current step is a check (it shows in no state). */
bool steps_is_check(const struct op_state *s);

enum op_step steps_first(const struct account *a, const struct op_state *s);
/* The request of the current step: a URL (and a form for a POST), in guarded memory. */
int steps_request(struct account *a, struct op_state *s, struct secret **ret_url,
		  struct secret **ret_form);

struct step_result {
	bool done;    /* else: go on with `next` */
	bool pending; /* a new token is being written: steps_stored() says the rest */
	enum op_step next;
	int error; /* done: 0 or a negative errno */
	char message[GRAPH_WHY_MAX];
};

/* Applies Meta's answer to the current step (v: its classification, scrubbed). */
void steps_answer(struct account *a, struct op_state *s, const struct http_response *r,
		  const struct graph_verdict *v, struct step_result *ret);
/* The pending write of a new token reported (s->stored): how the operation ends. */
void steps_stored(struct account *a, const struct op_state *s, int error, struct step_result *ret);

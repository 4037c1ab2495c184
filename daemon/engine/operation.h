/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by account.c (state, operations queue) and accountop.c (the requests
 * each step sends and what their answers do). */

#include "engine/account.h"

#define FB_VALIDATE_INTERVAL 86400 /* facebook tokens are inspected daily */

enum op_kind {
	OP_REFRESH,  /* the account's token: refreshed (instagram) or re-exchanged (facebook) */
	OP_VALIDATE, /* facebook: the account's token inspected with debug_token */
	OP_IMPORT,   /* a token from an admin */
	OP_ENROLL,   /* an authorization code from an enrolment */
};

enum op_step {
	STEP_REFRESH,	     /* ig: refresh_access_token(current) */
	STEP_ME,	     /* ig: /me(candidate) */
	STEP_EXCHANGE,	     /* ig: ig_exchange_token(candidate) */
	STEP_IMPORT_REFRESH, /* ig: refresh_access_token(candidate) */
	STEP_IG_CODE,	     /* ig: POST oauth/access_token(code) */
	STEP_FB_CODE,	     /* fb: oauth/access_token(code) */
	STEP_FB_EXCHANGE,    /* fb: fb_exchange_token(candidate) */
	STEP_FB_REEXCHANGE,  /* fb: fb_exchange_token(current) */
	STEP_FB_DEBUG_NEW,   /* fb: debug_token(candidate) */
	STEP_FB_VALIDATE,    /* fb: debug_token(current) */
};

struct waiter {
	op_done_t done;
	void *userdata;
	struct waiter *next;
};

struct op {
	enum op_kind kind;
	enum op_step step;
	bool scheduled;	       /* started by the schedule, not by a client */
	struct secret *token;  /* import and enrolment: the candidate token */
	struct secret *code;   /* enrolment: the authorization code */
	bool short_lived;
	char *user_id, *scopes; /* what Meta said about the candidate */
	struct http_request *req;
	struct waiter *waiters;
	struct op *next;
};

void op_finish(struct account *a, enum proto_error e, const char *message);
void apply_record(struct account *a, const struct vault_record *r);
void fill_record(const struct account *a, struct vault_record *r, struct secret *token, char *scopes);
void persist_metadata(struct account *a, const char *new_scopes);
bool expired_by_time(const struct account *a, int64_t now);
enum op_step op_first_step(const struct account *a, const struct op *op);

/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by account.c (state, operations queue) and accountop.c (the requests
 * each step sends and what their answers do). */

#include "account.h"

enum op_kind { OP_REFRESH, OP_IMPORT };
enum op_step { STEP_REFRESH, STEP_ME, STEP_EXCHANGE, STEP_IMPORT_REFRESH };

struct waiter {
	op_done_t done;
	void *userdata;
	struct waiter *next;
};

struct op {
	enum op_kind kind;
	enum op_step step;
	bool scheduled;	       /* started by the schedule, not by a client */
	struct secret *token;  /* import: the candidate token */
	bool short_lived;
	char *user_id;
	struct http_request *req;
	struct waiter *waiters;
	struct op *next;
};

void op_finish(struct account *a, enum proto_error e, const char *message);
void apply_record(struct account *a, const struct vault_record *r);
void fill_record(const struct account *a, struct vault_record *r, struct secret *token);
void persist_metadata(struct account *a);

/* SPDX-License-Identifier: MIT */
#pragma once

/* The steps of an operation: what each one sends to Meta (CONTRACT sections 9
 * and 12), and what Meta's answer does to the account: a new token sealed, a
 * verdict, a failure, a throttle, or the next step. engine/operation.c runs
 * them; nothing here queues or answers anyone. */

#include "engine/op-state.h"

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

/* Applies Meta's answer to the current step (v: its classification, scrubbed). */
void steps_answer(struct account *a, struct op_state *s, const struct http_response *r,
		  const struct graph_verdict *v, struct step_result *ret);
/* The pending write of a new token reported (s->stored): how the operation ends. */
void steps_stored(struct account *a, const struct op_state *s, int error, struct step_result *ret);

/* SPDX-License-Identifier: MIT */
#pragma once

/* Meta's answers about a candidate token, one an admin imported or an
 * enrolment's code became: checked, exchanged when short-lived, and sealed as
 * the account's token (CONTRACT 12.4). engine/steps.c hands them over. */

#include "engine/op-state.h"

/* Applies Meta's answer to the current step of an import or enrolment. */
void steps_candidate_answer(struct account *a, struct op_state *s, const struct http_response *r,
			    const struct graph_verdict *v, struct step_result *ret);
/* The candidate's write reported (k: 0 or a negative errno): how the operation ends. */
void steps_candidate_stored(struct account *a, int k, struct step_result *ret);

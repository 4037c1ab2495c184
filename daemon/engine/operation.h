/* SPDX-License-Identifier: MIT */
#pragma once

/* Operations on an account, from start to answer: a refresh (scheduled or asked
 * for), a daily check, an import, an enrolment. One runs at a time per account;
 * others wait behind it. Each waits its turn in the app's queue, sends its
 * steps (engine/steps.h), and answers whoever waits for it exactly once. */

#include <stdbool.h>

#include "engine/account.h"

/* The answer to whoever started an operation: 0 or a negative errno (see
 * basic/proto.h for what each becomes on the control socket), and why. */
typedef void (*op_done_t)(struct account *a, int error, const char *message, void *userdata);

/* A refresh; joins one already under way or waiting. done NULL: the schedule's own. */
void operation_refresh(struct account *a, op_done_t done, void *userdata);
/* Takes the token (or the code) whatever happens. */
void operation_import(struct account *a, struct secret *token, bool short_lived, op_done_t done,
		      void *userdata);
void operation_enroll(struct account *a, struct secret *code, op_done_t done, void *userdata);
/* The account's deadline came: a refresh or a check, as the schedule says. */
void operation_on_deadline(struct account *a, int64_t now);
/* The write of the account's record that held its next operation back ended
 * (account_written): the operation starts. */
void operation_resume(struct account *a);

/* Every operation of the account ends now (it leaves): requests under way are
 * cancelled and whoever waits hears `error`. */
void operation_cancel_all(struct account *a, int error, const char *message);

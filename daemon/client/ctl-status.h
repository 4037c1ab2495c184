/* SPDX-License-Identifier: MIT */
#pragma once

/* igtokenctl status and check: the daemon's status answer for people
 * (CONTRACT 6 and 15.5): a summary line, a table fitted to the terminal, one
 * account in detail, only the problems, or whether a human is needed. */

#include <stdbool.h>

struct cJSON;

struct status_view {
	bool colour;
	bool long_errors; /* -l: whole error texts, whatever the width */
	bool problems;	  /* --problems: accounts that are not fresh */
	unsigned width;	  /* columns of the terminal; 0: no limit (not a terminal) */
};

/* The summary, the accounts and the apps of a status answer. */
void ctl_status_print(const struct cJSON *ans, const struct status_view *v);
/* One account in detail; EXIT_FAILED if the answer holds no account of that name. */
int ctl_status_print_account(const struct cJSON *ans, const char *account,
			     const struct status_view *v);
/* Whether an account state needs a human: no_token, expired, reauth_required. */
bool ctl_state_needs_human(const char *state);
/* The accounts that need a human, with the command for each; EXIT_NO_TOKEN if any. */
int ctl_check(const struct cJSON *ans);

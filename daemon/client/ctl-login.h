/* SPDX-License-Identifier: MIT */
#pragma once

/* igtokenctl's commands that carry a secret or a signed request from stdin
 * (never from argv, but for `enroll --finish URL`): import, enroll,
 * deauthorize; and revoke. The rest of igtokenctl is in igtokenctl.c. */

#include <stdbool.h>

struct cJSON;

struct invocation {
	const char *account; /* or app, for deauthorize */
	const char *finish;  /* enroll --finish URL ("-": from stdin) */
	bool json, short_lived, long_errors, problems;
};

/* "ACCOUNT: STATE, expires WHEN" for refresh, import and enrolment answers; frees ans. */
int ctl_print_result(struct cJSON *ans);

int cmd_import(const struct invocation *inv);
int cmd_enroll(const struct invocation *inv);
int cmd_revoke(const struct invocation *inv);
int cmd_deauthorize(const struct invocation *inv);

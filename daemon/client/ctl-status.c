/* SPDX-License-Identifier: MIT */
#include "client/ctl-status.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <time.h>

#include "basic/util.h"
#include "client/ctl-call.h"

static const char *state_colour(const char *s)
{
	if (streq_ptr(s, "fresh"))
		return "\033[32m";
	if (streq_ptr(s, "refreshing") || streq_ptr(s, "retrying") || streq_ptr(s, "throttled") ||
	    streq_ptr(s, "expiring"))
		return "\033[33m";
	return "\033[31m";
}

static void print_accounts(const cJSON *accounts, bool colour, int64_t now)
{
	const cJSON *a;

	printf("%-24s %-12s %-16s %-12s %-14s %s\n", "ACCOUNT", "APP", "STATE", "EXPIRES",
	       "NEXT-REFRESH", "LAST-ERROR");
	cJSON_ArrayForEach (a, accounts) {
		const char *state = ctl_string(a, "state"), *err = ctl_string(a, "last_error");
		char exp[32], next[32];

		ctl_relative(a, "expires_at", now, true, exp, sizeof(exp));
		ctl_relative(a, "next_refresh", now, false, next, sizeof(next));
		printf("%-24s %-12s %s%-16s%s %-12s %-14s %s\n", ctl_string(a, "name") ?: "?",
		       ctl_string(a, "app") ?: "?", colour ? state_colour(state) : "", state ?: "?",
		       colour ? "\033[0m" : "", exp, next, err ?: "-");
	}
}

static void print_apps(const cJSON *apps, int64_t now)
{
	static const char *const keys[3] = { "call_count", "total_time", "total_cputime" };
	const cJSON *a;

	if (cJSON_GetArraySize(apps) == 0)
		return;
	printf("\n%-24s %-8s %-10s %-13s %s\n", "APP", "CALLS", "TIME", "CPU", "PAUSED");
	cJSON_ArrayForEach (a, apps) {
		const cJSON *u = cJSON_GetObjectItemCaseSensitive(a, "usage");
		char paused[32], f[3][16];

		for (int i = 0; i < 3; i++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(u, keys[i]);
			if (cJSON_IsNumber(v))
				snprintf(f[i], sizeof(f[i]), "%g%%", v->valuedouble);
			else
				snprintf(f[i], sizeof(f[i]), "-");
		}
		ctl_relative(a, "paused_until", now, false, paused, sizeof(paused));
		printf("%-24s %-8s %-10s %-13s %s\n", ctl_string(a, "name") ?: "?", f[0], f[1],
		       f[2], paused);
	}
}

void ctl_status_print(const cJSON *ans, bool colour)
{
	int64_t now = (int64_t)time(NULL);

	print_accounts(cJSON_GetObjectItemCaseSensitive(ans, "accounts"), colour, now);
	print_apps(cJSON_GetObjectItemCaseSensitive(ans, "apps"), now);
}

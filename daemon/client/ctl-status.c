/* SPDX-License-Identifier: MIT */
#include "client/ctl-status.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <time.h>

#include "basic/util.h"
#include "client/ctl-call.h"

#define STATE_WIDTH 15 /* reauth_required */
#define TIME_WIDTH  12 /* "in 59d 23h", "3h ago" */
#define ERROR_MIN   16 /* a LAST-ERROR column narrower than this is not cut */
#define NAME_MIN    7  /* "ACCOUNT" */

static const char *state_colour(const char *s)
{
	if (streq_ptr(s, "fresh"))
		return "\033[32m";
	if (streq_ptr(s, "refreshing") || streq_ptr(s, "retrying") || streq_ptr(s, "throttled") ||
	    streq_ptr(s, "expiring"))
		return "\033[33m";
	return "\033[31m";
}

bool ctl_state_needs_human(const char *state)
{
	return streq_ptr(state, "no_token") || streq_ptr(state, "expired") ||
	       streq_ptr(state, "reauth_required");
}

/* The expiry of a token that is dead is no time to show. */
static void expiry(const cJSON *a, int64_t now, char *buf, size_t len)
{
	if (ctl_state_needs_human(ctl_string(a, "state")))
		snprintf(buf, len, "-");
	else
		ctl_relative(a, "expires_at", now, true, buf, len);
}

static bool shown(const cJSON *a, const struct status_view *v)
{
	return !v->problems || !streq_ptr(ctl_string(a, "state"), "fresh") ||
	       cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(a, "warnings")) > 0;
}

/* "text" cut to width with an ellipsis; whole when width is 0. */
static void print_cut(const char *text, size_t width)
{
	size_t n = strlen(text);

	if (width == 0 || n <= width)
		fputs(text, stdout);
	else
		printf("%.*s...", (int)(width - 3), text);
}

/* What is left of the line after `used` columns (never under ERROR_MIN); 0: no limit. */
static size_t room_after(const struct status_view *v, size_t used)
{
	if (!v->width || v->long_errors)
		return 0;
	return v->width > used + ERROR_MIN ? v->width - used : ERROR_MIN;
}

static void print_accounts(const cJSON *accounts, const struct status_view *v, int64_t now)
{
	size_t wn = NAME_MIN, wa = 3, fixed, room;
	const cJSON *a;

	cJSON_ArrayForEach (a, accounts) {
		wn = MAX(wn, strlen(ctl_string(a, "name") ?: "?"));
		wa = MAX(wa, strlen(ctl_string(a, "app") ?: "?"));
	}
	fixed = wn + 1 + wa + 1 + STATE_WIDTH + 1 + TIME_WIDTH + 1 + TIME_WIDTH + 1;
	room = room_after(v, fixed);
	printf("%-*s %-*s %-*s %-*s %-*s %s\n", (int)wn, "ACCOUNT", (int)wa, "APP", STATE_WIDTH,
	       "STATE", TIME_WIDTH, "EXPIRES", TIME_WIDTH, "NEXT-REFRESH", "LAST-ERROR");
	cJSON_ArrayForEach (a, accounts) {
		const char *state = ctl_string(a, "state"), *err = ctl_string(a, "last_error");
		char exp[32], next[32];

		if (!shown(a, v))
			continue;
		expiry(a, now, exp, sizeof(exp));
		ctl_relative(a, "next_refresh", now, false, next, sizeof(next));
		printf("%-*s %-*s %s%-*s%s %-*s %-*s ", (int)wn, ctl_string(a, "name") ?: "?",
		       (int)wa, ctl_string(a, "app") ?: "?", v->colour ? state_colour(state) : "",
		       STATE_WIDTH, state ?: "?", v->colour ? "\033[0m" : "", TIME_WIDTH, exp,
		       TIME_WIDTH, next);
		print_cut(err ?: "-", room);
		putchar('\n');
	}
}

static void print_warnings(const cJSON *accounts, const struct status_view *v)
{
	bool first = true;
	const cJSON *a, *w;

	cJSON_ArrayForEach (a, accounts)
		cJSON_ArrayForEach (w, cJSON_GetObjectItemCaseSensitive(a, "warnings")) {
			const char *text = string_scrub_controls(cJSON_GetStringValue(w));
			const char *name = ctl_string(a, "name") ?: "?";
			if (!text)
				continue;
			if (first)
				printf("\nWARNINGS\n");
			first = false;
			printf("%s: ", name);
			print_cut(text, room_after(v, strlen(name) + 2));
			putchar('\n');
		}
}

static void usage_figures(const cJSON *u, char f[3][16])
{
	static const char *const keys[3] = { "call_count", "total_time", "total_cputime" };

	for (int i = 0; i < 3; i++) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(u, keys[i]);
		if (cJSON_IsNumber(n))
			snprintf(f[i], 16, "%g%%", n->valuedouble);
		else
			snprintf(f[i], 16, "-");
	}
}

/* The owner column (cluster mode: CONTRACT 13): each app's owner, "-" for none. */
static void print_apps(const cJSON *apps, bool clustered, int64_t now)
{
	const cJSON *a;

	if (cJSON_GetArraySize(apps) == 0)
		return;
	printf("\n%-24s %-8s %-10s %-10s %-12s %s%s\n", "APP", "CALLS", "TIME", "CPU", "PAUSED",
	       clustered ? "OWNER        " : "", "CREDENTIALS");
	cJSON_ArrayForEach (a, apps) {
		char paused[32], f[3][16], owner[24] = "";

		usage_figures(cJSON_GetObjectItemCaseSensitive(a, "usage"), f);
		ctl_relative(a, "paused_until", now, false, paused, sizeof(paused));
		if (clustered)
			snprintf(owner, sizeof(owner), "%-12s ", ctl_string(a, "owner") ?: "-");
		printf("%-24s %-8s %-10s %-10s %-12s %s%s%s%s\n", ctl_string(a, "name") ?: "?",
		       f[0], f[1], f[2], paused, owner, ctl_string(a, "credentials") ?: "-",
		       ctl_string(a, "error") ? ": " : "", ctl_string(a, "error") ?: "");
	}
}

/* "cluster prod: this host web-1; store ok; hosts web-1, web-2" */
static void print_cluster(const cJSON *c)
{
	const cJSON *h;
	char *why;
	bool first = true;

	if (!c)
		return;
	why = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "store_error"));
	printf("\ncluster %s: this host %s; store %s", ctl_string(c, "name") ?: "?",
	       ctl_string(c, "host") ?: "?", ctl_string(c, "store") ?: "?");
	if (why && *why)
		printf(" (%s)", string_scrub_controls(why));
	printf("; hosts");
	cJSON_ArrayForEach (h, cJSON_GetObjectItemCaseSensitive(c, "hosts")) {
		printf("%s %s", first ? "" : ",",
		       string_scrub_controls(cJSON_GetStringValue(h)) ?: "?");
		first = false;
	}
	printf("%s", first ? " none" : "");
	first = true;
	cJSON_ArrayForEach (h, cJSON_GetObjectItemCaseSensitive(c, "config_differs")) {
		printf("%s %s", first ? "; configuration differs on" : ",",
		       string_scrub_controls(cJSON_GetStringValue(h)) ?: "?");
		first = false;
	}
	putchar('\n');
}

/* Text broken at spaces to fit width (0: one line), each line ending in a newline. */
static void print_wrapped(const char *text, unsigned width)
{
	size_t col = 0;

	for (const char *p = text; *p;) {
		size_t word = strcspn(p, " "), sp = strspn(p + word, " ");
		if (width && col > 0 && col + 1 + word > width) {
			putchar('\n');
			col = 0;
		} else if (col > 0)
			putchar(' ');
		fwrite(p, 1, word, stdout);
		col += word + (col > 0);
		p += word + sp;
	}
	putchar('\n');
}

void ctl_status_print(const cJSON *ans, const struct status_view *v)
{
	const cJSON *accounts = cJSON_GetObjectItemCaseSensitive(ans, "accounts");
	int64_t now = (int64_t)time(NULL);
	const char *summary = ctl_string(ans, "summary");

	if (summary) {
		print_wrapped(summary, v->width);
		putchar('\n');
	}
	print_accounts(accounts, v, now);
	print_warnings(accounts, v);
	print_apps(cJSON_GetObjectItemCaseSensitive(ans, "apps"),
		   cJSON_GetObjectItemCaseSensitive(ans, "cluster") != NULL, now);
	print_cluster(cJSON_GetObjectItemCaseSensitive(ans, "cluster"));
}

/* ---- one account ---- */

static void row_time(const cJSON *a, const char *label, const char *key, int64_t now, bool never)
{
	bool present;
	int64_t t = ctl_time(a, key, &present);
	char rel[32], when[40] = "";
	time_t tt = (time_t)t;
	struct tm tm;

	if (!present) {
		printf("  %-18s -\n", label);
		return;
	}
	if (t == 0 && never) {
		printf("  %-18s never\n", label);
		return;
	}
	format_relative(t, now, rel, sizeof(rel));
	gmtime_r(&tt, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	printf("  %-18s %s (%s)\n", label, when, rel);
}

static const cJSON *find(const cJSON *list, const char *name)
{
	const cJSON *x;

	cJSON_ArrayForEach (x, list)
		if (streq_ptr(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x, "name")),
			      name))
			return x;
	return NULL;
}

static void what_to_do(const char *name, const char *state)
{
	if (ctl_state_needs_human(state))
		printf("  %-18s igtokenctl enroll %s   (or: igtokenctl import %s < token)\n",
		       "what to do", name, name);
	else if (streq_ptr(state, "expiring"))
		printf("  %-18s log in again before it expires: igtokenctl enroll %s\n",
		       "what to do", name);
}

int ctl_status_print_account(const cJSON *ans, const char *name, const struct status_view *v)
{
	const cJSON *a = find(cJSON_GetObjectItemCaseSensitive(ans, "accounts"), name), *app, *w;
	const char *state;
	int64_t now = (int64_t)time(NULL);
	char f[3][16];

	if (!a) {
		fprintf(stderr, "igtokenctl: no account '%s' that you may see\n", name);
		return EXIT_FAILED;
	}
	state = ctl_string(a, "state");
	app = find(cJSON_GetObjectItemCaseSensitive(ans, "apps"), ctl_string(a, "app"));
	printf("%s\n", name);
	printf("  %-18s %s%s%s\n", "state", v->colour ? state_colour(state) : "", state ?: "?",
	       v->colour ? "\033[0m" : "");
	printf("  %-18s %s\n", "last error", ctl_string(a, "last_error") ?: "-");
	what_to_do(name, state);
	printf("  %-18s %s\n", "app", ctl_string(a, "app") ?: "?");
	if (ctl_string(a, "username"))
		printf("  %-18s %s\n", "username", ctl_string(a, "username"));
	if (ctl_string(a, "user_id"))
		printf("  %-18s %s\n", "user id", ctl_string(a, "user_id"));
	if (ctl_state_needs_human(state))
		printf("  %-18s -\n", "expires");
	else
		row_time(a, "expires", "expires_at", now, true);
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "expiry_assumed")))
		printf("  %-18s yes: Meta has not said; the first refresh will tell\n",
		       "expiry assumed");
	row_time(a, "issued", "issued_at", now, false);
	row_time(a, "last refresh", "last_refresh", now, false);
	row_time(a, "next refresh", "next_refresh", now, false);
	row_time(a, "last validated", "last_validated", now, false);
	if (cJSON_GetObjectItemCaseSensitive(a, "data_access_expires_at"))
		row_time(a, "data access until", "data_access_expires_at", now, false);
	printf("  %-18s %d\n", "failures",
	       (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(a, "failures")));
	usage_figures(cJSON_GetObjectItemCaseSensitive(a, "usage"), f);
	printf("  %-18s calls %s, time %s, cpu %s (its own, from Meta's figures)\n", "usage", f[0],
	       f[1], f[2]);
	row_time(a, "paused until", "paused_until", now, false);
	cJSON_ArrayForEach (w, cJSON_GetObjectItemCaseSensitive(a, "warnings"))
		printf("  %-18s %s\n", "warning",
		       string_scrub_controls(cJSON_GetStringValue(w)) ?: "");
	if (app) {
		printf("  %-18s %s%s%s\n", "app credentials", ctl_string(app, "credentials") ?: "-",
		       ctl_string(app, "error") ? ": " : "", ctl_string(app, "error") ?: "");
		row_time(app, "app paused until", "paused_until", now, false);
		row_time(app, "api version ends", "api_version_expires_at", now, false);
	}
	return EXIT_OK;
}

int ctl_check(const cJSON *ans)
{
	const cJSON *a, *accounts = cJSON_GetObjectItemCaseSensitive(ans, "accounts");
	int n = 0;

	cJSON_ArrayForEach (a, accounts) {
		const char *name = ctl_string(a, "name") ?: "?", *state = ctl_string(a, "state");
		if (!ctl_state_needs_human(state))
			continue;
		n++;
		printf("%s: %s%s%s; igtokenctl enroll %s\n", name, state ?: "?",
		       ctl_string(a, "last_error") ? ": " : "", ctl_string(a, "last_error") ?: "",
		       name);
	}
	if (n == 0) {
		printf("ok: %d account%s, none needs a human\n", cJSON_GetArraySize(accounts),
		       cJSON_GetArraySize(accounts) == 1 ? "" : "s");
		return EXIT_OK;
	}
	return EXIT_NO_TOKEN;
}

/* SPDX-License-Identifier: MIT */
#include "client/ctl-login.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <termios.h>
#include <time.h>

#include "basic/util.h"
#include "client/ctl-call.h"
#include "igtoken.h"

/* a token, or a redirect URL, on one line of stdin: with its "\r\n" and NUL */
#define STDIN_LINE_MAX (IGTOKEN_TOKEN_MAX + 3)

/* "ACCOUNT: STATE, expires WHEN" for refresh, import and enrolment answers. */
int ctl_print_result(cJSON *ans)
{
	const char *state = ctl_string(ans, "state");
	bool present;
	int64_t exp = ctl_time(ans, "expires_at", &present);
	char when[32] = "-";

	if (present && exp == 0)
		snprintf(when, sizeof(when), "never");
	else if (present)
		format_relative(exp, (int64_t)time(NULL), when, sizeof(when));
	printf("%s: %s%sexpires %s\n", ctl_string(ans, "account") ?: "?", state ?: "",
	       state ? ", " : "", when);
	cJSON_Delete(ans);
	return EXIT_OK;
}

/* ---- import, enroll: secrets from stdin only ---- */

/* One line from stdin, without echo on a terminal; trailing whitespace dropped. */
static int read_stdin_line(const char *prompt, bool secret, char *buf, size_t len)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO);
	size_t n;

	if (tty) {
		fprintf(stderr, "%s", prompt);
		if (secret && tcgetattr(STDIN_FILENO, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
		} else
			secret = false;
	}
	if (!fgets(buf, (int)len, stdin))
		buf[0] = '\0';
	if (tty && secret) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	n = strlen(buf);
	if (n == len - 1 && buf[n - 1] != '\n')
		return -EMSGSIZE;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
			 buf[n - 1] == '\t'))
		buf[--n] = '\0';
	return n > 0 ? 0 : -ENODATA;
}

/* Sends a request carrying a secret read from stdin (field = key), prints the result. */
static int call_with_secret(struct client **c, cJSON *req, const char *key, char *secret)
{
	cJSON *ans = NULL;
	int r;

	cJSON_AddStringToObject(req, key, secret);
	explicit_bzero(secret, strlen(secret));
	r = ctl_call(c, req, CTL_ANSWER_TIMEOUT_MS, &ans);
	cJSON_Delete(req); /* wiped on free */
	return r == EXIT_OK ? ctl_print_result(ans) : r;
}

int cmd_import(const struct invocation *inv)
{
	char tok[STDIN_LINE_MAX];
	struct client *c = NULL;
	cJSON *req;
	int r = read_stdin_line("Paste the access token, then Enter: ", true, tok, sizeof(tok));

	if (r < 0) {
		explicit_bzero(tok, sizeof(tok));
		fprintf(stderr, "igtokenctl: %s\n",
			r == -EMSGSIZE ? "the token on stdin is too long" : "no token on stdin");
		return EXIT_FAILED;
	}
	req = ctl_request("import", inv->account);
	cJSON_AddBoolToObject(req, "short_lived", inv->short_lived);
	r = call_with_secret(&c, req, "token", tok);
	client_close(c);
	return r;
}

/* The redirect URL holds the authorization code: over a connection of its own,
 * however long the login took (the state is good for 10 minutes). */
static int finish_enrolment(const char *account, char *redirect)
{
	struct client *c = NULL;
	int r = call_with_secret(&c, ctl_request("enroll_finish", account), "redirect", redirect);

	client_close(c);
	return r;
}

int cmd_enroll(const struct invocation *inv)
{
	char redirect[STDIN_LINE_MAX];
	cJSON *ans = NULL;
	int r;

	if (inv->finish) {
		if (streq(inv->finish, "-")) {
			r = read_stdin_line("Paste the URL the browser was sent to: ", false,
					    redirect, sizeof(redirect));
			if (r < 0) {
				fprintf(stderr, "igtokenctl: no redirect URL on stdin\n");
				return EXIT_FAILED;
			}
		} else if (strlen(inv->finish) >= sizeof(redirect)) {
			fprintf(stderr, "igtokenctl: the redirect URL is too long\n");
			return EXIT_USAGE_ERR;
		} else
			snprintf(redirect, sizeof(redirect), "%s", inv->finish);
		return finish_enrolment(inv->account, redirect);
	}
	r = ctl_simple("enroll", inv->account, &ans);
	if (r != EXIT_OK)
		return r;
	fprintf(stderr, "Open this URL in a browser, log in and allow access:\n");
	printf("%s\n", ctl_string(ans, "url") ?: "");
	fflush(stdout);
	cJSON_Delete(ans);
	r = read_stdin_line("Then paste the URL the browser was sent to: ", false, redirect,
			    sizeof(redirect));
	if (r < 0) {
		fprintf(stderr,
			"igtokenctl: no redirect URL on stdin (later: igtokenctl enroll %s "
			"--finish -)\n",
			inv->account);
		return EXIT_FAILED;
	}
	return finish_enrolment(inv->account, redirect);
}

int cmd_revoke(const struct invocation *inv)
{
	cJSON *ans = NULL;
	int r = ctl_simple("revoke", inv->account, &ans);

	if (r == EXIT_OK)
		printf("%s: token wiped; %s\n", inv->account,
		       ctl_string(ans, "state") ?: "no_token");
	cJSON_Delete(ans);
	return r;
}

/* Meta's deauthorize callback, forwarded: the signed_request comes on stdin. */
int cmd_deauthorize(const struct invocation *inv)
{
	char sr[STDIN_LINE_MAX];
	struct client *c = NULL;
	cJSON *req, *ans = NULL, *list;
	int r = read_stdin_line("Paste the signed_request, then Enter: ", false, sr, sizeof(sr));

	if (r < 0) {
		fprintf(stderr, "igtokenctl: %s\n",
			r == -EMSGSIZE ? "the signed_request on stdin is too long"
				       : "no signed_request on stdin");
		return EXIT_FAILED;
	}
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "cmd", "deauthorize");
	cJSON_AddStringToObject(req, "app", inv->account);
	cJSON_AddStringToObject(req, "signed_request", sr);
	r = ctl_call(&c, req, CTL_ANSWER_TIMEOUT_MS, &ans);
	cJSON_Delete(req);
	client_close(c);
	if (r != EXIT_OK)
		return r;
	list = cJSON_GetObjectItemCaseSensitive(ans, "accounts");
	printf("%d account(s) wiped, now reauth_required\n", cJSON_GetArraySize(list));
	for (int i = 0; i < cJSON_GetArraySize(list); i++) {
		const char *name = cJSON_GetStringValue(cJSON_GetArrayItem(list, i));
		printf("  %s\n",
		       name && name_is_valid(name) ? name : "?"); /* nothing a terminal obeys */
	}
	cJSON_Delete(ans);
	return EXIT_OK;
}

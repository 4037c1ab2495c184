/* SPDX-License-Identifier: MIT */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "igtoken.h"
#include "basic/proto.h"
#include "basic/util.h"

enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,
	EXIT_USAGE_ERR = 2,
	EXIT_FORBIDDEN = 3,
	EXIT_NO_TOKEN = 4,
	EXIT_UNAVAILABLE = 69, /* EX_UNAVAILABLE */
};

#define ANSWER_TIMEOUT_MS (10 * 60 * 1000) /* refresh/import wait for Meta */
#define STDIN_TOKEN_MAX 8192

static const char *socket_path;

static void help(void)
{
	printf("Usage: igtokenctl [-s SOCKET] COMMAND [ARGS]\n"
	       "\n"
	       "  status [--json]               accounts, states, expiry and rate limits\n"
	       "  token ACCOUNT                 print the token (only to readers of ACCOUNT)\n"
	       "  refresh ACCOUNT               refresh now (admins)\n"
	       "  import ACCOUNT [--short-lived]  store a token read from stdin (admins)\n"
	       "  enroll ACCOUNT                log in through Meta: prints a URL, reads the\n"
	       "                                redirected URL from stdin (admins)\n"
	       "  reload                        re-read the configuration (admins)\n"
	       "  metrics                       Prometheus metrics\n"
	       "  watch                         print events until interrupted\n"
	       "\n"
	       "  -s, --socket PATH   control socket (default: $IGTOKEND_SOCKET, else %s)\n"
	       "\n"
	       "Exit codes: 0 ok, 1 failed, 2 usage, 3 forbidden, 4 no valid token,\n"
	       "69 daemon not reachable.\n",
	       IGTOKEN_DEFAULT_SOCKET);
}

static int exit_for_error(const char *code)
{
	switch (proto_error_from_name(code)) {
	case PROTO_FORBIDDEN: return EXIT_FORBIDDEN;
	case PROTO_NO_TOKEN:
	case PROTO_EXPIRED:
	case PROTO_REAUTH_REQUIRED: return EXIT_NO_TOKEN;
	default: return EXIT_FAILED;
	}
}

static int exit_for_errno(int r)
{
	return r == -ECONNREFUSED || r == -ECONNRESET ? EXIT_UNAVAILABLE : EXIT_FAILED;
}

/* Sends one request and parses the one answer. On failure prints why and returns an exit code. */
static int call(struct client **cp, cJSON *req, int timeout_ms, cJSON **ret)
{
	char *line, *answer;
	size_t alen;
	int r;

	line = cJSON_PrintUnformatted(req);
	if (!line)
		return EXIT_FAILED;
	if (!*cp) {
		r = client_connect(socket_path, cp);
		if (r < 0) {
			fprintf(stderr, "igtokenctl: cannot reach igtokend at %s: %s\n", socket_path,
				r == -ECONNREFUSED ? "not running" : strerror(-r));
			explicit_bzero(line, strlen(line));
			free(line);
			return EXIT_UNAVAILABLE;
		}
	}
	r = client_send(*cp, line, strlen(line));
	explicit_bzero(line, strlen(line)); /* an import request holds a token */
	free(line);
	if (r == 0)
		r = client_recv(*cp, timeout_ms, &answer, &alen);
	if (r < 0) {
		fprintf(stderr, "igtokenctl: %s: %s\n", socket_path,
			r == -ECONNRESET ? "the daemon closed the connection" : strerror(-r));
		return r == -ECONNRESET ? EXIT_UNAVAILABLE : exit_for_errno(r);
	}
	*ret = cJSON_ParseWithLength(answer, alen);
	if (!*ret || !cJSON_IsObject(*ret)) {
		fprintf(stderr, "igtokenctl: the daemon sent an answer that is not JSON\n");
		cJSON_Delete(*ret);
		return EXIT_FAILED;
	}
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(*ret, "ok"))) {
		const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(*ret, "error"));
		const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(*ret, "message"));
		int e = exit_for_error(code);
		fprintf(stderr, "igtokenctl: %s%s%s\n", code ?: "error", msg ? ": " : "", msg ?: "");
		cJSON_Delete(*ret);
		*ret = NULL;
		return e;
	}
	return EXIT_OK;
}

static cJSON *request(const char *cmd, const char *account)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "cmd", cmd);
	if (account)
		cJSON_AddStringToObject(j, "account", account);
	return j;
}

static int simple(const char *cmd, const char *account, int timeout_ms, cJSON **ret)
{
	struct client *c = NULL;
	cJSON *req = request(cmd, account);
	int r = call(&c, req, timeout_ms, ret);
	cJSON_Delete(req);
	client_close(c);
	return r;
}

/* ---- status ---- */

static int64_t get_time(const cJSON *o, const char *k, bool *present)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	*present = cJSON_IsNumber(v);
	return *present ? (int64_t)v->valuedouble : 0;
}

static void rel(const cJSON *o, const char *k, int64_t now, bool zero_never, char *buf, size_t len)
{
	bool present;
	int64_t t = get_time(o, k, &present);

	if (!present)
		snprintf(buf, len, "-");
	else if (t == 0 && zero_never)
		snprintf(buf, len, "never");
	else
		format_relative(t, now, buf, len);
}

static const char *state_colour(const char *s)
{
	if (streq_ptr(s, "fresh"))
		return "\033[32m";
	if (streq_ptr(s, "refreshing") || streq_ptr(s, "retrying") || streq_ptr(s, "throttled") ||
	    streq_ptr(s, "expiring"))
		return "\033[33m";
	return "\033[31m";
}

static int cmd_status(bool json)
{
	cJSON *ans = NULL, *accounts, *apps, *a;
	bool colour = isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
	int64_t now = (int64_t)time(NULL);
	int r = simple("status", NULL, ANSWER_TIMEOUT_MS, &ans);

	if (r != EXIT_OK)
		return r;
	if (json) {
		char *s = cJSON_PrintUnformatted(ans);
		puts(s ?: "{}");
		free(s);
		cJSON_Delete(ans);
		return EXIT_OK;
	}
	accounts = cJSON_GetObjectItemCaseSensitive(ans, "accounts");
	printf("%-24s %-12s %-16s %-12s %-14s %s\n", "ACCOUNT", "APP", "STATE", "EXPIRES", "NEXT-REFRESH",
	       "LAST-ERROR");
	cJSON_ArrayForEach(a, accounts)
	{
		const char *state = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "state"));
		const char *err = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "last_error"));
		char exp[32], next[32];

		rel(a, "expires_at", now, true, exp, sizeof(exp));
		rel(a, "next_refresh", now, false, next, sizeof(next));
		printf("%-24s %-12s %s%-16s%s %-12s %-14s %s\n",
		       cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "name")) ?: "?",
		       cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "app")) ?: "?",
		       colour ? state_colour(state) : "", state ?: "?", colour ? "\033[0m" : "", exp,
		       next, err ?: "-");
	}
	apps = cJSON_GetObjectItemCaseSensitive(ans, "apps");
	if (cJSON_GetArraySize(apps) > 0) {
		printf("\n%-24s %-8s %-10s %-13s %s\n", "APP", "CALLS", "TIME", "CPU", "PAUSED");
		cJSON_ArrayForEach(a, apps)
		{
			const cJSON *u = cJSON_GetObjectItemCaseSensitive(a, "usage");
			char paused[32], f[3][16];
			const char *keys[3] = { "call_count", "total_time", "total_cputime" };
			for (int i = 0; i < 3; i++) {
				const cJSON *v = cJSON_GetObjectItemCaseSensitive(u, keys[i]);
				if (cJSON_IsNumber(v))
					snprintf(f[i], sizeof(f[i]), "%g%%", v->valuedouble);
				else
					snprintf(f[i], sizeof(f[i]), "-");
			}
			rel(a, "paused_until", now, false, paused, sizeof(paused));
			printf("%-24s %-8s %-10s %-13s %s\n",
			       cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "name")) ?: "?", f[0],
			       f[1], f[2], paused);
		}
	}
	cJSON_Delete(ans);
	return EXIT_OK;
}

/* ---- token, refresh, reload, metrics ---- */

static int cmd_token(const char *account)
{
	char buf[STDIN_TOKEN_MAX];
	int64_t exp;
	int r = igtoken_get(account, buf, sizeof(buf), &exp);

	switch (r) {
	case 0:
		printf("%s\n", buf);
		explicit_bzero(buf, sizeof(buf));
		return EXIT_OK;
	case -EACCES:
		fprintf(stderr, "igtokenctl: forbidden: you may not read account '%s'\n", account);
		return EXIT_FORBIDDEN;
	case -ENOENT:
		fprintf(stderr, "igtokenctl: unknown_account: no account '%s'\n", account);
		return EXIT_FAILED;
	case -EKEYEXPIRED:
		fprintf(stderr, "igtokenctl: account '%s' has no valid token (see igtokenctl status)\n", account);
		return EXIT_NO_TOKEN;
	case -ECONNREFUSED:
		fprintf(stderr, "igtokenctl: cannot reach igtokend at %s: not running\n", socket_path);
		return EXIT_UNAVAILABLE;
	default:
		fprintf(stderr, "igtokenctl: %s\n", strerror(-r));
		return EXIT_FAILED;
	}
}

static int print_result(cJSON *ans)
{
	const char *state = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ans, "state"));
	bool present;
	int64_t exp = get_time(ans, "expires_at", &present);
	char when[32] = "-";

	if (present && exp == 0)
		snprintf(when, sizeof(when), "never");
	else if (present)
		format_relative(exp, (int64_t)time(NULL), when, sizeof(when));
	printf("%s: %s%sexpires %s\n",
	       cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ans, "account")) ?: "?",
	       state ?: "", state ? ", " : "", when);
	cJSON_Delete(ans);
	return EXIT_OK;
}

static int cmd_refresh(const char *account)
{
	cJSON *ans = NULL;
	int r = simple("refresh", account, ANSWER_TIMEOUT_MS, &ans);
	return r == EXIT_OK ? print_result(ans) : r;
}

static int cmd_reload(void)
{
	cJSON *ans = NULL;
	int r = simple("reload", NULL, ANSWER_TIMEOUT_MS, &ans);
	if (r == EXIT_OK)
		printf("reloaded\n");
	cJSON_Delete(ans);
	return r;
}

static int cmd_metrics(void)
{
	cJSON *ans = NULL;
	int r = simple("metrics", NULL, ANSWER_TIMEOUT_MS, &ans);
	if (r == EXIT_OK)
		fputs(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ans, "text")) ?: "", stdout);
	cJSON_Delete(ans);
	return r;
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
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		buf[--n] = '\0';
	return n > 0 ? 0 : -ENODATA;
}

static int cmd_import(const char *account, bool short_lived)
{
	char tok[STDIN_TOKEN_MAX];
	cJSON *req, *ans = NULL;
	struct client *c = NULL;
	int r = read_stdin_line("Paste the access token, then Enter: ", true, tok, sizeof(tok));

	if (r < 0) {
		explicit_bzero(tok, sizeof(tok));
		fprintf(stderr, "igtokenctl: %s\n",
			r == -EMSGSIZE ? "the token on stdin is too long" : "no token on stdin");
		return EXIT_FAILED;
	}
	req = request("import", account);
	cJSON_AddStringToObject(req, "token", tok);
	cJSON_AddBoolToObject(req, "short_lived", short_lived);
	explicit_bzero(tok, sizeof(tok));
	r = call(&c, req, ANSWER_TIMEOUT_MS, &ans);
	{
		char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "token"));
		if (t)
			explicit_bzero(t, strlen(t));
	}
	cJSON_Delete(req);
	client_close(c);
	return r == EXIT_OK ? print_result(ans) : r;
}

static int cmd_enroll(const char *account)
{
	char redirect[STDIN_TOKEN_MAX];
	cJSON *req, *ans = NULL;
	struct client *c = NULL;
	int r;

	req = request("enroll", account);
	r = call(&c, req, ANSWER_TIMEOUT_MS, &ans);
	cJSON_Delete(req);
	if (r != EXIT_OK) {
		client_close(c);
		return r;
	}
	fprintf(stderr, "Open this URL in a browser, log in and allow access:\n");
	printf("%s\n", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ans, "url")) ?: "");
	fflush(stdout);
	cJSON_Delete(ans);
	ans = NULL;
	r = read_stdin_line("Then paste the URL the browser was sent to: ", false, redirect, sizeof(redirect));
	if (r < 0) {
		client_close(c);
		fprintf(stderr, "igtokenctl: no redirect URL on stdin\n");
		return EXIT_FAILED;
	}
	req = request("enroll_finish", account);
	cJSON_AddStringToObject(req, "redirect", redirect);
	explicit_bzero(redirect, sizeof(redirect)); /* holds the authorization code */
	r = call(&c, req, ANSWER_TIMEOUT_MS, &ans);
	{
		char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "redirect"));
		if (t)
			explicit_bzero(t, strlen(t));
	}
	cJSON_Delete(req);
	client_close(c);
	return r == EXIT_OK ? print_result(ans) : r;
}

/* ---- watch ---- */

static volatile sig_atomic_t interrupted;
static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int cmd_watch(void)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct client *c = NULL;
	cJSON *req = request("watch", NULL), *ans = NULL;
	int r = call(&c, req, ANSWER_TIMEOUT_MS, &ans);

	cJSON_Delete(req);
	cJSON_Delete(ans);
	if (r != EXIT_OK) {
		client_close(c);
		return r;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (!interrupted) {
		char *line;
		size_t n;
		r = client_recv(c, -1, &line, &n);
		if (r == -EINTR)
			continue;
		if (r < 0) {
			client_close(c);
			if (interrupted)
				return EXIT_OK;
			fprintf(stderr, "igtokenctl: %s\n",
				r == -ECONNRESET ? "the daemon closed the connection" : strerror(-r));
			return r == -ECONNRESET ? EXIT_UNAVAILABLE : EXIT_FAILED;
		}
		printf("%s\n", line);
	}
	client_close(c);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ "short-lived", no_argument, NULL, 'S' },
		{ "version", no_argument, NULL, 'V' },
		{},
	};
	bool json = false, short_lived = false;
	const char *cmd, *account = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "+s:h", options, NULL)) >= 0) {
		switch (c) {
		case 's': socket_path = optarg; break;
		case 'h': help(); return EXIT_OK;
		case 'V': printf("igtokenctl %s\n", IGTOKEND_VERSION); return EXIT_OK;
		default: goto usage;
		}
	}
	if (optind >= argc)
		goto usage;
	cmd = argv[optind++];
	/* options after the command (status --json, import A --short-lived) */
	for (int i = optind; i < argc; i++) {
		if (streq(argv[i], "--json") && streq(cmd, "status"))
			json = true;
		else if (streq(argv[i], "--short-lived") && streq(cmd, "import"))
			short_lived = true;
		else if (argv[i][0] == '-')
			goto usage;
		else if (!account)
			account = argv[i];
		else
			goto usage;
	}
	socket_path = client_socket_path(socket_path);
	/* libigtoken (used for `token`) finds the socket in the environment */
	if (setenv("IGTOKEND_SOCKET", socket_path, 1) < 0)
		return EXIT_FAILED;
	signal(SIGPIPE, SIG_IGN);

	if (streq(cmd, "status") && !account)
		return cmd_status(json);
	if (streq(cmd, "reload") && !account)
		return cmd_reload();
	if (streq(cmd, "metrics") && !account)
		return cmd_metrics();
	if (streq(cmd, "watch") && !account)
		return cmd_watch();
	if (!account)
		goto usage;
	if (streq(cmd, "token"))
		return cmd_token(account);
	if (streq(cmd, "refresh"))
		return cmd_refresh(account);
	if (streq(cmd, "import"))
		return cmd_import(account, short_lived);
	if (streq(cmd, "enroll"))
		return cmd_enroll(account);
usage:
	fprintf(stderr, "Usage: igtokenctl [-s SOCKET] status [--json] | token ACCOUNT | refresh ACCOUNT |\n"
			"       import ACCOUNT [--short-lived] | enroll ACCOUNT | reload | metrics | watch\n"
			"Try 'igtokenctl --help'.\n");
	return EXIT_USAGE_ERR;
}

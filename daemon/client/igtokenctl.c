/* SPDX-License-Identifier: MIT */
/* igtokenctl: the admin and app CLI (CONTRACT section 6). One function per
 * command, found in a table that also says what each takes. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <termios.h>
#include <time.h>

#include "basic/util.h"
#include "basic/wipe-alloc.h"
#include "client/ctl-call.h"
#include "client/ctl-status.h"
#include "igtoken.h"

/* a token, or a redirect URL, on one line of stdin: with its "\r\n" and NUL */
#define STDIN_LINE_MAX (IGTOKEN_TOKEN_MAX + 3)

struct invocation {
	const char *account;
	bool json, short_lived;
};

/* ---- status, token, refresh, reload, metrics ---- */

static int cmd_status(const struct invocation *inv)
{
	cJSON *ans = NULL;
	int r = ctl_simple("status", NULL, &ans);

	if (r != EXIT_OK)
		return r;
	if (inv->json) {
		_cleanup_cjson_free_ char *s = cJSON_PrintUnformatted(ans);
		puts(s ?: "{}");
	} else
		ctl_status_print(ans, isatty(STDOUT_FILENO) && !secure_getenv("NO_COLOR"));
	cJSON_Delete(ans);
	return EXIT_OK;
}

static int cmd_token(const struct invocation *inv)
{
	char buf[IGTOKEN_TOKEN_MAX + 1];
	int64_t exp;
	int r = igtoken_get(inv->account, buf, sizeof(buf), &exp);

	switch (r) {
	case 0:
		printf("%s\n", buf);
		explicit_bzero(buf, sizeof(buf));
		return EXIT_OK;
	case -EACCES:
		fprintf(stderr, "igtokenctl: forbidden: you may not read account '%s'\n",
			inv->account);
		return EXIT_FORBIDDEN;
	case -ENOENT:
		fprintf(stderr, "igtokenctl: unknown_account: no account '%s'\n", inv->account);
		return EXIT_FAILED;
	case -EKEYEXPIRED:
		fprintf(stderr,
			"igtokenctl: account '%s' has no valid token (see igtokenctl status)\n",
			inv->account);
		return EXIT_NO_TOKEN;
	case -ECONNREFUSED:
		fprintf(stderr, "igtokenctl: cannot reach igtokend at %s: not running\n",
			ctl_socket_path);
		return EXIT_UNAVAILABLE;
	default: fprintf(stderr, "igtokenctl: %s\n", strerror(-r)); return EXIT_FAILED;
	}
}

/* "ACCOUNT: STATE, expires WHEN" for refresh, import and enrolment answers. */
static int print_result(cJSON *ans)
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

static int cmd_refresh(const struct invocation *inv)
{
	cJSON *ans = NULL;
	int r = ctl_simple("refresh", inv->account, &ans);

	return r == EXIT_OK ? print_result(ans) : r;
}

static int cmd_reload(const struct invocation *inv)
{
	cJSON *ans = NULL;
	int r = ctl_simple("reload", NULL, &ans);
	(void)inv;

	if (r == EXIT_OK)
		printf("reloaded\n");
	cJSON_Delete(ans);
	return r;
}

static int cmd_metrics(const struct invocation *inv)
{
	cJSON *ans = NULL;
	int r = ctl_simple("metrics", NULL, &ans);
	(void)inv;

	if (r == EXIT_OK) {
		char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ans, "text"));
		for (char *p = text; p && *p; p++) /* keep the lines, nothing a terminal obeys */
			if (((unsigned char)*p < 0x20 && *p != '\n') || *p == 0x7f)
				*p = '?';
		fputs(text ?: "", stdout);
	}
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
	return r == EXIT_OK ? print_result(ans) : r;
}

static int cmd_import(const struct invocation *inv)
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

static int cmd_enroll(const struct invocation *inv)
{
	char redirect[STDIN_LINE_MAX];
	struct client *c = NULL;
	cJSON *ans = NULL;
	int r = ctl_simple("enroll", inv->account, &ans);

	if (r != EXIT_OK)
		return r;
	fprintf(stderr, "Open this URL in a browser, log in and allow access:\n");
	printf("%s\n", ctl_string(ans, "url") ?: "");
	fflush(stdout);
	cJSON_Delete(ans);
	r = read_stdin_line("Then paste the URL the browser was sent to: ", false, redirect,
			    sizeof(redirect));
	if (r < 0) {
		fprintf(stderr, "igtokenctl: no redirect URL on stdin\n");
		return EXIT_FAILED;
	}
	/* the redirect URL holds the authorization code */
	r = call_with_secret(&c, ctl_request("enroll_finish", inv->account), "redirect", redirect);
	client_close(c);
	return r;
}

static int cmd_revoke(const struct invocation *inv)
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
static int cmd_deauthorize(const struct invocation *inv)
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

/* ---- watch ---- */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int cmd_watch(const struct invocation *inv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct client *c = NULL;
	cJSON *req = ctl_request("watch", NULL), *ans = NULL;
	int r = ctl_call(&c, req, CTL_ANSWER_TIMEOUT_MS, &ans);
	(void)inv;

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
		r = client_recv_interruptible(c, -1, &line, &n);
		if (r == -EINTR)
			continue;
		if (r < 0) {
			client_close(c);
			if (interrupted)
				return EXIT_OK;
			fprintf(stderr, "igtokenctl: %s\n",
				r == -ECONNRESET ? "the daemon closed the connection"
						 : strerror(-r));
			return r == -ECONNRESET ? EXIT_UNAVAILABLE : EXIT_FAILED;
		}
		printf("%s\n", line);
	}
	client_close(c);
	return EXIT_OK;
}

/* ---- the table ---- */

static const struct command {
	const char *name;
	bool account;	    /* takes ACCOUNT */
	const char *option; /* the one --option it takes, or NULL */
	int (*run)(const struct invocation *inv);
	const char *usage, *help;
} commands[] = {
	{ "status", false, "--json", cmd_status, "status [--json]",
	  "accounts, states, expiry and rate limits" },
	{ "token", true, NULL, cmd_token, "token ACCOUNT",
	  "print the token (only to readers of ACCOUNT)" },
	{ "refresh", true, NULL, cmd_refresh, "refresh ACCOUNT", "refresh now (admins)" },
	{ "import", true, "--short-lived", cmd_import, "import ACCOUNT [--short-lived]",
	  "store a token read from stdin (admins)" },
	{ "enroll", true, NULL, cmd_enroll, "enroll ACCOUNT",
	  "log in through Meta: prints a URL, reads the\n"
	  "                                   redirected URL from stdin (admins)" },
	{ "revoke", true, NULL, cmd_revoke, "revoke ACCOUNT",
	  "wipe the account's token from memory, vault and\n"
	  "                                   sink (admins)" },
	{ "deauthorize", true, NULL, cmd_deauthorize, "deauthorize APP",
	  "Meta's deauthorize callback: reads the\n"
	  "                                   signed_request from stdin, wipes that user's\n"
	  "                                   accounts of APP (admins)" },
	{ "reload", false, NULL, cmd_reload, "reload", "re-read the configuration (admins)" },
	{ "metrics", false, NULL, cmd_metrics, "metrics", "Prometheus metrics" },
	{ "watch", false, NULL, cmd_watch, "watch", "print events until interrupted" },
};

static void help(void)
{
	printf("Usage: igtokenctl [-s SOCKET] COMMAND [ARGS]\n\n");
	for (size_t i = 0; i < ELEMENTSOF(commands); i++)
		printf("  %-32s %s\n", commands[i].usage, commands[i].help);
	printf("\n"
	       "  -s, --socket PATH   control socket (default: $IGTOKEND_SOCKET, else %s)\n"
	       "\n"
	       "Exit codes: 0 ok, 1 failed, 2 usage, 3 forbidden, 4 no valid token,\n"
	       "69 daemon not reachable.\n",
	       IGTOKEN_DEFAULT_SOCKET);
}

static int usage(void)
{
	fprintf(stderr,
		"Usage: igtokenctl [-s SOCKET] status [--json] | token ACCOUNT | refresh "
		"ACCOUNT |\n"
		"       import ACCOUNT [--short-lived] | enroll ACCOUNT | revoke ACCOUNT |\n"
		"       deauthorize APP | reload | metrics | watch\n"
		"Try 'igtokenctl --help'.\n");
	return EXIT_USAGE_ERR;
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(commands); i++)
		if (streq(commands[i].name, name))
			return &commands[i];
	return NULL;
}

/* The arguments after the command: its account and option. */
static bool parse_args(const struct command *cmd, int argc, char **argv, struct invocation *inv)
{
	for (int i = 0; i < argc; i++) {
		if (argv[i][0] == '-') {
			if (!cmd->option || !streq(argv[i], cmd->option))
				return false;
			inv->json |= streq(argv[i], "--json");
			inv->short_lived |= streq(argv[i], "--short-lived");
		} else if (cmd->account && !inv->account)
			inv->account = argv[i];
		else
			return false;
	}
	return !cmd->account || inv->account;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{},
	};
	const struct command *cmd;
	struct invocation inv = { 0 };
	const char *socket = NULL;
	int c;

	wipe_install_cjson(); /* requests and answers may hold a token */
	while ((c = getopt_long(argc, argv, "+s:h", options, NULL)) >= 0) {
		switch (c) {
		case 's': socket = optarg; break;
		case 'h': help(); return EXIT_OK;
		case 'V': printf("igtokenctl %s\n", IGTOKEND_VERSION); return EXIT_OK;
		default: return usage();
		}
	}
	if (optind >= argc || !(cmd = find_command(argv[optind])))
		return usage();
	if (!parse_args(cmd, argc - optind - 1, argv + optind + 1, &inv))
		return usage();
	ctl_socket_path = client_socket_path(socket);
	/* libigtoken (used for `token`) finds the socket in the environment */
	if (setenv("IGTOKEND_SOCKET", ctl_socket_path, 1) < 0)
		return EXIT_FAILED;
	signal(SIGPIPE, SIG_IGN);
	return cmd->run(&inv);
}

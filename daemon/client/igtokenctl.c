/* SPDX-License-Identifier: MIT */
/* igtokenctl: the admin and app CLI (CONTRACT section 6). One function per
 * command, found in a table that also says what each takes. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>

#include "basic/util.h"
#include "basic/wipe-alloc.h"
#include "client/ctl-call.h"
#include "client/ctl-login.h"
#include "client/ctl-status.h"
#include "igtoken.h"

/* ---- status, token, refresh, reload, metrics ---- */

static unsigned terminal_width(void)
{
	struct winsize ws;

	if (!isatty(STDOUT_FILENO) || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || ws.ws_col == 0)
		return 0; /* not a terminal: whole lines, for grep and scripts */
	return ws.ws_col;
}

static cJSON *find_account(cJSON *ans, const char *name)
{
	cJSON *a;

	cJSON_ArrayForEach (a, cJSON_GetObjectItemCaseSensitive(ans, "accounts"))
		if (streq_ptr(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "name")),
			      name))
			return a;
	return NULL;
}

static int cmd_status(const struct invocation *inv)
{
	struct status_view v = {
		.colour = isatty(STDOUT_FILENO) && !secure_getenv("NO_COLOR"),
		.long_errors = inv->long_errors,
		.problems = inv->problems,
		.width = terminal_width(),
	};
	cJSON *ans = NULL, *one;
	int r = ctl_simple("status", NULL, &ans);

	if (r != EXIT_OK)
		return r;
	if (inv->json) {
		one = inv->account ? find_account(ans, inv->account) : ans;
		_cleanup_cjson_free_ char *s = one ? cJSON_PrintUnformatted(one) : NULL;
		if (one)
			puts(s ?: "{}");
		else
			fprintf(stderr, "igtokenctl: no account '%s' that you may see\n",
				inv->account);
		r = one ? EXIT_OK : EXIT_FAILED;
	} else if (inv->account)
		r = ctl_status_print_account(ans, inv->account, &v);
	else
		ctl_status_print(ans, &v);
	cJSON_Delete(ans);
	return r;
}

/* For monitoring scripts: 0 when no account needs a human, 4 when one does. */
static int cmd_check(const struct invocation *inv)
{
	cJSON *ans = NULL;
	int r = ctl_simple("status", NULL, &ans);
	(void)inv;

	if (r != EXIT_OK)
		return r;
	r = ctl_check(ans);
	cJSON_Delete(ans);
	return r;
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
		fprintf(stderr,
			"igtokenctl: forbidden: uid %u may not read account '%s' (it is not among "
			"its "
			"readers, or there is no such account)\n",
			(unsigned)getuid(), inv->account);
		return EXIT_FORBIDDEN;
	case -ENOENT:
		fprintf(stderr,
			"igtokenctl: unknown_account: no account '%s' in the configuration\n",
			inv->account);
		return EXIT_FAILED;
	case -EKEYEXPIRED:
		fprintf(stderr,
			"igtokenctl: account '%s' has no valid token (see igtokenctl status)\n",
			inv->account);
		return EXIT_NO_TOKEN;
	case -ECONNREFUSED: return ctl_unreachable(r);
	default: fprintf(stderr, "igtokenctl: %s\n", strerror(-r)); return EXIT_FAILED;
	}
}

static int cmd_refresh(const struct invocation *inv)
{
	cJSON *ans = NULL;
	int r = ctl_simple("refresh", inv->account, &ans);

	return r == EXIT_OK ? ctl_print_result(ans) : r;
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

enum arg { ARG_NONE, ARG_ACCOUNT, ARG_ACCOUNT_OPTIONAL, ARG_APP };

static const struct command {
	const char *name;
	enum arg arg;
	const char *options; /* the options it takes, space-separated */
	int (*run)(const struct invocation *inv);
	const char *usage, *help;
} commands[] = {
	{ "status", ARG_ACCOUNT_OPTIONAL, "--json -l --long --problems", cmd_status,
	  "status [ACCOUNT] [--json] [-l] [--problems]",
	  "a summary, accounts, warnings and apps; one ACCOUNT\n"
	  "                                   in detail; -l: whole errors; --problems: only\n"
	  "                                   accounts that are not fresh" },
	{ "check", ARG_NONE, "", cmd_check, "check",
	  "exit 0 if no account needs a human, 4 if one does" },
	{ "token", ARG_ACCOUNT, "", cmd_token, "token ACCOUNT",
	  "print the token (only to readers of ACCOUNT)" },
	{ "refresh", ARG_ACCOUNT, "", cmd_refresh, "refresh ACCOUNT", "refresh now (admins)" },
	{ "import", ARG_ACCOUNT, "--short-lived", cmd_import, "import ACCOUNT [--short-lived]",
	  "store a token read from stdin (admins)" },
	{ "enroll", ARG_ACCOUNT, "--finish", cmd_enroll, "enroll ACCOUNT [--finish URL|-]",
	  "log in through Meta: prints a URL, reads the\n"
	  "                                   redirected URL from stdin (admins); --finish:\n"
	  "                                   finish later with that URL (- : from stdin)" },
	{ "revoke", ARG_ACCOUNT, "", cmd_revoke, "revoke ACCOUNT",
	  "wipe the account's token from memory, vault and\n"
	  "                                   sink (admins)" },
	{ "deauthorize", ARG_APP, "", cmd_deauthorize, "deauthorize APP",
	  "Meta's deauthorize callback: reads the\n"
	  "                                   signed_request from stdin, wipes that user's\n"
	  "                                   accounts of APP (admins)" },
	{ "reload", ARG_NONE, "", cmd_reload, "reload", "re-read the configuration (admins)" },
	{ "metrics", ARG_NONE, "", cmd_metrics, "metrics", "Prometheus metrics" },
	{ "watch", ARG_NONE, "", cmd_watch, "watch", "print events until interrupted" },
};

static void help(void)
{
	printf("Usage: igtokenctl [-s SOCKET] COMMAND [ARGS]\n\n");
	for (size_t i = 0; i < ELEMENTSOF(commands); i++)
		printf("  %-32s %s\n", commands[i].usage, commands[i].help);
	printf("\n"
	       "  -s, --socket PATH   control socket (default: $IGTOKEND_SOCKET, else %s)\n"
	       "\n"
	       "Exit codes: 0 ok, 1 failed, 2 usage, 3 forbidden, 4 no valid token (check: an\n"
	       "account needs a human), 69 daemon not reachable.\n",
	       IGTOKEN_DEFAULT_SOCKET);
}

static int usage(const char *fmt, ...) _printf_(1, 2);
static int usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "igtokenctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'igtokenctl --help'.\n");
	return EXIT_USAGE_ERR;
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(commands); i++)
		if (streq(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static bool takes_option(const struct command *cmd, const char *opt, size_t len)
{
	for (const char *p = cmd->options; *p; p += strcspn(p, " "), p += *p == ' ')
		if (strcspn(p, " ") == len && strncmp(p, opt, len) == 0)
			return true;
	return false;
}

/* The arguments after the command: its account (or app) and options. */
static int parse_args(const struct command *cmd, int argc, char **argv, struct invocation *inv)
{
	const char *what = cmd->arg == ARG_APP ? "app" : "account";

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *eq = strchr(a, '=');
		size_t len = a[0] == '-' && eq ? (size_t)(eq - a) : strlen(a);

		if (a[0] == '-' && a[1]) {
			if (!takes_option(cmd, a, len))
				return usage("%s: unknown option '%.*s'%s%s%s", cmd->name, (int)len,
					     a, *cmd->options ? " (it takes " : " (it takes none)",
					     cmd->options, *cmd->options ? ")" : "");
			if (strncmp(a, "--finish", len) == 0) {
				inv->finish = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
				if (!inv->finish)
					return usage(
						"enroll: --finish needs the URL the browser was "
						"sent to (or - to read it from stdin)");
				continue;
			}
			if (eq)
				return usage("%s: '%.*s' takes no value", cmd->name, (int)len, a);
			inv->json |= streq(a, "--json");
			inv->short_lived |= streq(a, "--short-lived");
			inv->long_errors |= streq(a, "-l") || streq(a, "--long");
			inv->problems |= streq(a, "--problems");
		} else if (cmd->arg != ARG_NONE && !inv->account) {
			if (!name_is_valid(a))
				return usage("'%s' is not an %s name (letters, digits, '.', '_' "
					     "and "
					     "'-', at most %d)",
					     a, what, NAME_MAX_LEN);
			inv->account = a;
		} else
			return usage("%s: unexpected argument '%s'", cmd->name, a);
	}
	if ((cmd->arg == ARG_ACCOUNT || cmd->arg == ARG_APP) && !inv->account)
		return usage("%s: which %s? (%s)", cmd->name, what, cmd->usage);
	return EXIT_OK;
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
	int c, r;

	wipe_install_cjson(); /* requests and answers may hold a token */
	while ((c = getopt_long(argc, argv, "+s:h", options, NULL)) >= 0) {
		switch (c) {
		case 's': socket = optarg; break;
		case 'h': help(); return EXIT_OK;
		case 'V': printf("igtokenctl %s\n", IGTOKEND_VERSION); return EXIT_OK;
		default: return usage("unknown option (igtokenctl [-s SOCKET] COMMAND ...)");
		}
	}
	if (optind >= argc)
		return usage("which command?");
	if (!(cmd = find_command(argv[optind])))
		return usage("unknown command '%s'", string_scrub_controls(argv[optind]));
	r = parse_args(cmd, argc - optind - 1, argv + optind + 1, &inv);
	if (r != EXIT_OK)
		return r;
	ctl_socket_path = client_socket_path(socket);
	/* libigtoken (used for `token`) finds the socket in the environment */
	if (setenv("IGTOKEND_SOCKET", ctl_socket_path, 1) < 0)
		return EXIT_FAILED;
	signal(SIGPIPE, SIG_IGN);
	return cmd->run(&inv);
}

/* SPDX-License-Identifier: MIT */
#include "client/ctl-call.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <sys/stat.h>

#include "basic/proto.h"
#include "basic/util.h"

const char *ctl_socket_path;

void ctl_cjson_freep(char **p)
{
	cJSON_free(*p);
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

cJSON *ctl_request(const char *cmd, const char *account)
{
	cJSON *j = cJSON_CreateObject();

	cJSON_AddStringToObject(j, "cmd", cmd);
	if (account)
		cJSON_AddStringToObject(j, "account", account);
	return j;
}

int ctl_unreachable(int r)
{
	struct stat st;
	int e = stat(ctl_socket_path, &st) < 0 ? errno : 0;

	if (e == ENOENT || e == ENOTDIR)
		fprintf(stderr,
			"igtokenctl: no socket at %s: igtokend is not running (systemctl start "
			"igtokend.socket igtokend), or it listens elsewhere (-s PATH, "
			"$IGTOKEND_SOCKET, "
			"'socket:' in igtokend.yaml)\n",
			ctl_socket_path);
	else if (r == -EACCES || e == EACCES)
		fprintf(stderr,
			"igtokenctl: %s: permission denied (the socket's directory must be "
			"searchable "
			"and the socket writable by you)\n",
			ctl_socket_path);
	else if (r == -ECONNREFUSED)
		fprintf(stderr,
			"igtokenctl: nothing answers at %s: igtokend is not running (systemctl "
			"start "
			"igtokend; journalctl -u igtokend says why it stopped)\n",
			ctl_socket_path);
	else
		fprintf(stderr, "igtokenctl: cannot reach igtokend at %s: %s\n", ctl_socket_path,
			strerror(-r));
	return EXIT_UNAVAILABLE;
}

static int connect_once(struct client **cp)
{
	int r;

	if (*cp)
		return EXIT_OK;
	r = client_connect(ctl_socket_path, cp);
	return r < 0 ? ctl_unreachable(r) : EXIT_OK;
}

/* The answer's error, said on stderr; the exit code for it. */
static int refused(cJSON *ans)
{
	const char *code = ctl_string(ans, "error"), *msg = ctl_string(ans, "message");

	fprintf(stderr, "igtokenctl: %s%s%s\n", code ?: "error", msg ? ": " : "", msg ?: "");
	return exit_for_error(code);
}

int ctl_call(struct client **cp, cJSON *req, int timeout_ms, cJSON **ret)
{
	/* cJSON's memory is wiped when freed (wipe_install_cjson): an import holds a token */
	_cleanup_cjson_free_ char *line = cJSON_PrintUnformatted(req);
	char *answer;
	size_t alen;
	int r;

	if (!line)
		return EXIT_FAILED;
	r = connect_once(cp);
	if (r != EXIT_OK)
		return r;
	r = client_send(*cp, line, strlen(line));
	if (r == 0)
		r = client_recv(*cp, timeout_ms, &answer, &alen);
	if (r < 0) {
		fprintf(stderr, "igtokenctl: %s: %s\n", ctl_socket_path,
			r == -ECONNRESET ? "the daemon closed the connection" : strerror(-r));
		return r == -ECONNRESET || r == -ECONNREFUSED ? EXIT_UNAVAILABLE : EXIT_FAILED;
	}
	*ret = cJSON_ParseWithLength(answer, alen);
	if (!cJSON_IsObject(*ret)) {
		fprintf(stderr, "igtokenctl: the daemon sent an answer that is not JSON\n");
		cJSON_Delete(*ret);
		*ret = NULL;
		return EXIT_FAILED;
	}
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(*ret, "ok"))) {
		r = refused(*ret);
		cJSON_Delete(*ret);
		*ret = NULL;
		return r;
	}
	return EXIT_OK;
}

int ctl_simple(const char *cmd, const char *account, cJSON **ret)
{
	struct client *c = NULL;
	cJSON *req = ctl_request(cmd, account);
	int r = ctl_call(&c, req, CTL_ANSWER_TIMEOUT_MS, ret);

	cJSON_Delete(req);
	client_close(c);
	return r;
}

int64_t ctl_time(const cJSON *o, const char *key, bool *present)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	*present = cJSON_IsNumber(v);
	return *present ? (int64_t)v->valuedouble : 0;
}

void ctl_relative(const cJSON *o, const char *key, int64_t now, bool zero_never, char *buf,
		  size_t len)
{
	bool present;
	int64_t t = ctl_time(o, key, &present);

	if (!present)
		snprintf(buf, len, "-");
	else if (t == 0 && zero_never)
		snprintf(buf, len, "never");
	else
		format_relative(t, now, buf, len);
}

const char *ctl_string(const cJSON *o, const char *key)
{
	/* whatever the daemon relays (Meta's messages) reaches a terminal: no escapes */
	return string_scrub_controls(
		cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key)));
}

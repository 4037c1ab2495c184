/* SPDX-License-Identifier: MIT */
#include "serve/request.h"

#include <cjson/cJSON.h>

#include "basic/proto.h"

static const struct {
	const char *name;
	enum request_cmd cmd;
	bool account, admin_only;
} commands[] = {
	{ "token", CMD_TOKEN, true, false },
	{ "watch", CMD_WATCH, false, false },
	{ "status", CMD_STATUS, false, false },
	{ "refresh", CMD_REFRESH, true, true },
	{ "import", CMD_IMPORT, true, true },
	{ "enroll", CMD_ENROLL, true, true },
	{ "enroll_finish", CMD_ENROLL_FINISH, true, true },
	{ "reload", CMD_RELOAD, false, true },
	{ "metrics", CMD_METRICS, false, false },
	{ "revoke", CMD_REVOKE, true, true },
	{ "deauthorize", CMD_DEAUTHORIZE, false, true },
};

void request_clear(struct request *p)
{
	secret_free(p->token);
	if (p->redirect)
		explicit_bzero(p->redirect, strlen(p->redirect)); /* holds an authorization code */
	free(p->redirect);
	free(p->signed_request);
	*p = (struct request){ 0 };
}

static int parse_args(cJSON *j, struct request *p, const char **msg)
{
	const char *a = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "account"));

	if (p->has_account) {
		if (!a || !name_is_valid(a)) {
			*msg = "'account' must be an account name";
			return -EINVAL;
		}
		memcpy(p->account, a, strlen(a) + 1);
	}
	if (p->cmd == CMD_IMPORT) {
		const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "token"));
		cJSON *sl = cJSON_GetObjectItemCaseSensitive(j, "short_lived");
		if (!t || !token_is_valid(t, strlen(t))) {
			*msg = "'token' must be a token (printable, no spaces, at most 8 KiB)";
			return -EINVAL;
		}
		if (sl && !cJSON_IsBool(sl)) {
			*msg = "'short_lived' must be true or false";
			return -EINVAL;
		}
		p->short_lived = cJSON_IsTrue(sl);
		if (secret_from_mem(t, strlen(t), &p->token) < 0) {
			*msg = "out of memory";
			return -ENOMEM;
		}
	}
	if (p->cmd == CMD_DEAUTHORIZE) {
		const char *app = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "app"));
		const char *sr =
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "signed_request"));
		if (!app || !name_is_valid(app)) {
			*msg = "'app' must be an app name";
			return -EINVAL;
		}
		memcpy(p->app, app, strlen(app) + 1);
		if (!sr || !*sr || strlen(sr) > REQUEST_SIGNED_REQUEST_MAX) {
			*msg = "'signed_request' must be the signed_request Meta posted (at most 8 "
			       "KiB)";
			return -EINVAL;
		}
		if (!(p->signed_request = strdup(sr))) {
			*msg = "out of memory";
			return -ENOMEM;
		}
	}
	if (p->cmd == CMD_ENROLL_FINISH) {
		const char *r =
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "redirect"));
		if (!r || !*r || strlen(r) > REQUEST_REDIRECT_MAX) {
			*msg = "'redirect' must be the URL the browser was sent to";
			return -EINVAL;
		}
		if (!(p->redirect = strdup(r))) {
			*msg = "out of memory";
			return -ENOMEM;
		}
	}
	return 0;
}

/* The request almost every one is, {"cmd":"token","account":"NAME"} exactly as
 * libigtoken and the shipped clients write it, is read without building a
 * JSON tree. Any other spelling (spaces, other key order, escapes, an invalid
 * name) goes through cJSON, which reads this one the same way. */
static bool parse_token_request(const char *line, size_t n, struct request *ret)
{
	static const char prefix[] = "{\"cmd\":\"token\",\"account\":\"";
	const size_t lp = sizeof(prefix) - 1;
	size_t len;

	if (n < lp + 3 || memcmp(line, prefix, lp) != 0 || line[n - 2] != '"' || line[n - 1] != '}')
		return false;
	len = n - lp - 2;
	if (len > NAME_MAX_LEN || memchr(line + lp, '"', len) || memchr(line + lp, '\\', len) ||
	    memchr(line + lp, '\0', len))
		return false;
	*ret = (struct request){ .cmd = CMD_TOKEN, .has_account = true };
	memcpy(ret->account, line + lp, len);
	ret->account[len] = '\0';
	if (name_is_valid(ret->account))
		return true;
	*ret = (struct request){ 0 };
	return false;
}

int request_parse_json(const char *line, size_t n, struct request *ret, const char **ret_message)
{
	struct request p = { 0 };
	cJSON *j = n <= PROTO_LINE_MAX ? cJSON_ParseWithLength(line, n) : NULL;
	const char *cmd = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "cmd"));
	int e = -EOPNOTSUPP;

	*ret_message = "unknown command";
	if (n > PROTO_LINE_MAX) {
		*ret_message = "request longer than 64 KiB";
		e = -EINVAL;
	} else if (!cJSON_IsObject(j)) {
		*ret_message = "malformed JSON: a request is one JSON object on one line";
		e = -EINVAL;
	} else if (!cmd) {
		*ret_message = "a request needs a string 'cmd'";
		e = -EINVAL;
	} else
		for (size_t i = 0; i < ELEMENTSOF(commands); i++)
			if (streq(cmd, commands[i].name)) {
				p.cmd = commands[i].cmd;
				p.has_account = commands[i].account;
				p.admin_only = commands[i].admin_only;
				e = parse_args(j, &p, ret_message);
				break;
			}
	cJSON_Delete(j); /* an import's token in it is wiped on free */
	if (e < 0) {
		request_clear(&p);
		return e;
	}
	*ret = p;
	return 0;
}

int request_parse(const char *line, size_t n, struct request *ret, const char **ret_message)
{
	if (parse_token_request(line, n, ret))
		return 0;
	return request_parse_json(line, n, ret, ret_message);
}

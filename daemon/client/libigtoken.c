/* SPDX-License-Identifier: MIT */
/* libigtoken (CONTRACT sections 7 and 15.6): one token request, one answer.
 * Thread-safe with no global state: nothing here is shared between calls, and
 * the answer is parsed with jansson, which keeps no mutable global state either
 * (cJSON's parser writes a process-wide error pointer, which would race with an
 * application that uses cJSON itself). */
#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <time.h>

#include "basic/proto.h"
#include "client/client.h"
#include "igtoken.h"

#define EXPORT __attribute__((visibility("default")))

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wipes a string inside a parsed answer before jansson frees it (a token, a proof). */
static void wipe_string(json_t *v)
{
	if (json_is_string(v))
		explicit_bzero((char *)(uintptr_t)json_string_value(v), json_string_length(v));
}

static int read_answer(json_t *root, struct igtoken_token *ret)
{
	json_t *tok = json_object_get(root, "token"), *exp = json_object_get(root, "expires_at");
	json_t *proof = json_object_get(root, "appsecret_proof");

	if (!json_is_true(json_object_get(root, "ok"))) {
		int r = proto_error_to_errno(
			proto_error_from_name(json_string_value(json_object_get(root, "error"))));
		return r < 0 ? r : -EPROTO;
	}
	if (!json_is_string(tok) || !json_is_integer(exp) ||
	    (proof && (!json_is_string(proof) || json_string_length(proof) != 64)))
		return -EPROTO;
	if (json_string_length(tok) > IGTOKEN_TOKEN_MAX)
		return -ENOBUFS;
	memcpy(ret->token, json_string_value(tok), json_string_length(tok) + 1);
	ret->expires_at = (int64_t)json_integer_value(exp);
	if (proof)
		memcpy(ret->appsecret_proof, json_string_value(proof), 65);
	return 0;
}

EXPORT int igtoken_get_ex(const struct igtoken_request *req, struct igtoken_token *ret)
{
	int timeout = !req		     ? 0
		      : req->timeout_ms == 0 ? IGTOKEN_DEFAULT_TIMEOUT_MS
					     : req->timeout_ms;
	int64_t deadline = timeout < 0 ? -1 : now_ms() + timeout;
	struct client *c = NULL;
	json_t *root = NULL;
	char *line = NULL, *answer;
	size_t alen;
	int r;

	if (!req || !req->account || !ret)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	root = json_pack("{s:s, s:s}", "cmd", "token", "account", req->account);
	line = root ? json_dumps(root, JSON_COMPACT) : NULL;
	json_decref(root);
	if (!line)
		return -ENOMEM;
	r = client_connect(client_socket_path(req->socket_path), &c);
	if (r == 0)
		r = client_send(c, line, strlen(line));
	free(line);
	if (r == 0 && deadline >= 0 && now_ms() >= deadline)
		r = -ETIMEDOUT;
	if (r == 0)
		r = client_recv(c, deadline < 0 ? -1 : (int)(deadline - now_ms()), &answer, &alen);
	if (r == 0) {
		root = json_loadb(answer, alen, 0, NULL);
		r = json_is_object(root) ? read_answer(root, ret) : -EPROTO;
		wipe_string(json_object_get(root, "token"));
		wipe_string(json_object_get(root, "appsecret_proof"));
		json_decref(root);
	}
	client_close(c); /* wipes the raw answer */
	if (r < 0)
		explicit_bzero(ret, sizeof(*ret));
	return r;
}

EXPORT int igtoken_get(const char *account, char *buf, size_t len, int64_t *expires_at)
{
	struct igtoken_request req = { .account = account };
	struct igtoken_token t;
	size_t n;
	int r;

	if (!account || !buf || len == 0)
		return -EINVAL;
	r = igtoken_get_ex(&req, &t);
	if (r == 0) {
		n = strlen(t.token);
		if (n + 1 > len)
			r = -ENOBUFS;
		else {
			memcpy(buf, t.token, n + 1);
			if (expires_at)
				*expires_at = t.expires_at;
		}
	}
	explicit_bzero(&t, sizeof(t));
	return r;
}

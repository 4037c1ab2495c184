/* SPDX-License-Identifier: MIT */
#include "client/client.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "igtoken.h"
#include "basic/proto.h"

#define GET_TIMEOUT_MS 10000

struct client {
	int fd;
	char *buf;
	size_t size, used, consumed; /* consumed: bytes of the last line handed out */
};

const char *client_socket_path(const char *override)
{
	const char *e;
	if (override && *override)
		return override;
	/* secure_getenv: a setuid app must not be pointed at a fake daemon */
	e = secure_getenv("IGTOKEND_SOCKET");
	return e && *e ? e : IGTOKEN_DEFAULT_SOCKET;
}

int client_connect(const char *path, struct client **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct client *c;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return e == ENOENT || e == ECONNREFUSED || e == ENOTDIR ? -ECONNREFUSED : -e;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	*ret = c;
	return 0;
}

void client_close(struct client *c)
{
	if (!c)
		return;
	if (c->buf)
		explicit_bzero(c->buf, c->size);
	free(c->buf);
	close(c->fd);
	free(c);
}

int client_send(struct client *c, const char *line, size_t len)
{
	struct iovec iov[2] = { { (void *)(uintptr_t)line, len }, { (void *)(uintptr_t) "\n", 1 } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };

	while (iov[0].iov_len + iov[1].iov_len > 0) {
		ssize_t k = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return errno == EPIPE ? -ECONNRESET : -errno;
		}
		for (int i = 0; i < 2; i++) {
			size_t d = (size_t)k < iov[i].iov_len ? (size_t)k : iov[i].iov_len;
			iov[i].iov_base = (char *)iov[i].iov_base + d;
			iov[i].iov_len -= d;
			k -= (ssize_t)d;
		}
	}
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int client_recv(struct client *c, int timeout_ms, char **ret, size_t *ret_len)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;

	/* drop the line handed out last time */
	if (c->consumed) {
		explicit_bzero(c->buf, c->consumed);
		memmove(c->buf, c->buf + c->consumed, c->used - c->consumed);
		c->used -= c->consumed;
		explicit_bzero(c->buf + c->used, c->consumed);
		c->consumed = 0;
	}
	for (;;) {
		char *nl = c->buf ? memchr(c->buf, '\n', c->used) : NULL;
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		ssize_t k;
		int wait;

		if (nl) {
			*nl = '\0';
			*ret = c->buf;
			if (ret_len)
				*ret_len = (size_t)(nl - c->buf);
			c->consumed = (size_t)(nl - c->buf) + 1;
			return 0;
		}
		if (c->used >= PROTO_ANSWER_MAX)
			return -EMSGSIZE;
		if (c->size - c->used < 4096) {
			size_t ns = c->size ? c->size * 2 : 16384;
			char *nb = malloc(ns);
			if (!nb)
				return -ENOMEM;
			if (c->buf) {
				memcpy(nb, c->buf, c->used);
				explicit_bzero(c->buf, c->size); /* may hold a token */
				free(c->buf);
			}
			c->buf = nb;
			c->size = ns;
		}
		wait = deadline < 0 ? -1 : (int)(deadline - now_ms());
		if (deadline >= 0 && wait <= 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, wait) < 0) {
			if (errno == EINTR)
				return -EINTR;
			return -errno;
		}
		if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		k = read(c->fd, c->buf + c->used, c->size - c->used);
		if (k < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (k == 0)
			return -ECONNRESET;
		c->used += (size_t)k;
	}
}

/* Wipes every string in a parsed answer (one may be a token) and frees it. */
static void json_free_wiped(cJSON *j)
{
	for (cJSON *i = j ? j->child : NULL; i; i = i->next)
		if (cJSON_IsString(i) && i->valuestring)
			explicit_bzero(i->valuestring, strlen(i->valuestring));
	cJSON_Delete(j);
}

__attribute__((visibility("default"))) int igtoken_get(const char *account, char *buf, size_t len,
						       int64_t *expires_at)
{
	struct client *c = NULL;
	cJSON *req = NULL, *ans = NULL, *tok, *exp;
	char *line = NULL, *answer;
	size_t alen;
	int r;

	if (!account || !buf || len == 0)
		return -EINVAL;
	req = cJSON_CreateObject();
	if (!req || !cJSON_AddStringToObject(req, "cmd", "token") ||
	    !cJSON_AddStringToObject(req, "account", account) ||
	    !(line = cJSON_PrintUnformatted(req))) {
		cJSON_Delete(req);
		return -ENOMEM;
	}
	cJSON_Delete(req);
	r = client_connect(client_socket_path(NULL), &c);
	if (r == 0)
		r = client_send(c, line, strlen(line));
	free(line);
	if (r == 0)
		r = client_recv(c, GET_TIMEOUT_MS, &answer, &alen);
	if (r == 0) {
		ans = cJSON_ParseWithLength(answer, alen);
		r = ans && cJSON_IsObject(ans) ? 0 : -EPROTO;
	}
	if (r == 0 && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ans, "ok"))) {
		cJSON *e = cJSON_GetObjectItemCaseSensitive(ans, "error");
		r = proto_error_to_errno(proto_error_from_name(cJSON_GetStringValue(e)));
		if (r == 0)
			r = -EPROTO;
	} else if (r == 0) {
		tok = cJSON_GetObjectItemCaseSensitive(ans, "token");
		exp = cJSON_GetObjectItemCaseSensitive(ans, "expires_at");
		if (!cJSON_IsString(tok) || !cJSON_IsNumber(exp))
			r = -EPROTO;
		else if (strlen(tok->valuestring) + 1 > len)
			r = -ENOBUFS;
		else {
			memcpy(buf, tok->valuestring, strlen(tok->valuestring) + 1);
			if (expires_at)
				*expires_at = (int64_t)exp->valuedouble;
		}
	}
	json_free_wiped(ans);
	client_close(c); /* wipes the raw answer */
	return r;
}

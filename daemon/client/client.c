/* SPDX-License-Identifier: MIT */
#include "client/client.h"

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
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		if (e == EINTR)
			continue; /* a signal: a Unix socket connects at once anyway */
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

static int recv_line(struct client *c, int timeout_ms, bool eintr_returns, char **ret,
		     size_t *ret_len)
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
			if (errno == EINTR && !eintr_returns)
				continue; /* a signal is no reason to give up before the deadline */
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

int client_recv(struct client *c, int timeout_ms, char **ret, size_t *ret_len)
{
	return recv_line(c, timeout_ms, false, ret, ret_len);
}

int client_recv_interruptible(struct client *c, int timeout_ms, char **ret, size_t *ret_len)
{
	return recv_line(c, timeout_ms, true, ret, ret_len);
}

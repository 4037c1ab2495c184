/* SPDX-License-Identifier: MIT */
/* One closed-loop load client for both sides of the read comparison, so the
 * figures differ only by the server: one thread, epoll, N connections over a
 * Unix socket, each sending its next request as soon as the answer to the last
 * one is complete, for a fixed time (the first half second is warm-up and not
 * counted).
 *
 *   loadclient igtokend SOCKET ACCOUNT CLIENTS SECONDS
 *       {"cmd":"token","account":ACCOUNT}\n, answered by one line with "ok":true
 *   loadclient redis SOCKET KEY CLIENTS SECONDS
 *       an inline "GET KEY\r\n", answered by a bulk reply "$N\r\n...\r\n"
 *
 * Prints: reads/s p50_ms p99_ms p99.9_ms failures */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 1024
#define BUF_SIZE    65536
#define WARMUP_NS   500000000ull

struct client {
	int fd;
	uint64_t sent_at;
	size_t got;
	char buf[BUF_SIZE];
};

static bool redis;
static char request[512];
static size_t request_len;
static uint32_t *samples; /* nanoseconds / 16: up to about 68 s */
static size_t n_samples, max_samples;
static uint64_t failures;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* The length of a complete answer at the start of buf, 0 while incomplete. */
static size_t complete(const struct client *c, bool *ok)
{
	if (!redis) {
		const char *nl = memchr(c->buf, '\n', c->got);
		if (!nl)
			return 0;
		*ok = memmem(c->buf, (size_t)(nl - c->buf), "\"ok\":true", 9) != NULL;
		return (size_t)(nl - c->buf) + 1;
	}
	const char *crlf = memmem(c->buf, c->got, "\r\n", 2);
	if (!crlf)
		return 0;
	if (c->buf[0] != '$') { /* an error or anything else: a one-line answer */
		*ok = false;
		return (size_t)(crlf - c->buf) + 2;
	}
	long len = strtol(c->buf + 1, NULL, 10);
	size_t total = (size_t)(crlf - c->buf) + 2 + (len > 0 ? (size_t)len + 2 : 0);
	*ok = len > 0;
	return c->got >= total ? total : 0;
}

static void send_request(struct client *c)
{
	c->sent_at = now_ns();
	if (write(c->fd, request, request_len) != (ssize_t)request_len)
		die("write");
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static double percentile_ms(double p)
{
	size_t i = (size_t)(p * (double)(n_samples - 1));

	return n_samples ? (double)samples[i] * 16 / 1e6 : 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct epoll_event ev[MAX_CLIENTS];
	struct client *clients;
	uint64_t start, count_from, end, counted = 0;
	char *end_n = NULL, *end_s = NULL;
	long n;
	int ep;
	double seconds;

	if (argc != 6 || (strcmp(argv[1], "igtokend") && strcmp(argv[1], "redis"))) {
		fprintf(stderr, "usage: loadclient igtokend|redis SOCKET KEY CLIENTS SECONDS\n");
		return 64;
	}
	redis = !strcmp(argv[1], "redis");
	n = strtol(argv[4], &end_n, 10);
	seconds = strtod(argv[5], &end_s);
	if (*end_n || *end_s || n < 1 || n > MAX_CLIENTS || !(seconds > 0.5)) {
		fprintf(stderr, "loadclient: 1..%d clients, more than 0.5 s\n", MAX_CLIENTS);
		return 64;
	}
	request_len =
		(size_t)snprintf(request, sizeof(request),
				 redis ? "GET %s\r\n" : "{\"cmd\":\"token\",\"account\":\"%s\"}\n",
				 argv[3]);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[2]);
	max_samples = (size_t)(seconds * 2e6);
	samples = malloc(max_samples * sizeof(*samples));
	clients = calloc((size_t)n, sizeof(*clients));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!samples || !clients || ep < 0)
		die("setup");
	for (int i = 0; i < n; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.ptr = &clients[i] };
		clients[i].fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (clients[i].fd < 0 ||
		    connect(clients[i].fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			die("connect");
		if (epoll_ctl(ep, EPOLL_CTL_ADD, clients[i].fd, &e) < 0)
			die("epoll_ctl");
	}
	start = now_ns();
	count_from = start + WARMUP_NS;
	end = start + (uint64_t)(seconds * 1e9);
	for (int i = 0; i < n; i++)
		send_request(&clients[i]);
	for (;;) {
		int k = epoll_wait(ep, ev, MAX_CLIENTS, 1000);
		uint64_t t = now_ns();

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			die("epoll_wait (no answer for a second)");
		for (int i = 0; i < k; i++) {
			struct client *c = ev[i].data.ptr;
			ssize_t r = read(c->fd, c->buf + c->got, BUF_SIZE - c->got);
			size_t len;
			bool ok = false;

			t = now_ns();
			if (r <= 0) {
				fprintf(stderr, "loadclient: the server closed a connection\n");
				return 1;
			}
			c->got += (size_t)r;
			len = complete(c, &ok);
			if (!len)
				continue;
			if (c->got != len) {
				fprintf(stderr,
					"loadclient: more than one answer to one request\n");
				return 1;
			}
			c->got = 0;
			if (c->sent_at >= count_from) {
				counted++;
				failures += !ok;
				if (n_samples < max_samples)
					samples[n_samples++] = (uint32_t)((t - c->sent_at) / 16);
			}
			if (t < end)
				send_request(c);
		}
		if (t >= end)
			break;
	}
	qsort(samples, n_samples, sizeof(*samples), cmp_u32);
	printf("%.0f %.3f %.3f %.3f %llu\n", (double)counted / ((double)(end - count_from) / 1e9),
	       percentile_ms(0.50), percentile_ms(0.99), percentile_ms(0.999),
	       (unsigned long long)failures);
	return 0;
}

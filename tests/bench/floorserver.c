/* SPDX-License-Identifier: MIT */
/* The floor of the read comparison: a server that does nothing but what every
 * server must, one thread, epoll, a read per ready connection and a write of a
 * fixed answer (an igtokend token answer of the benchmark's size, with
 * "ok":true) per request line. No parsing, no look-up, no access check. What the
 * loadclient measures against it is the machine's and the kernel's share of a
 * read; igtokend and Redis can only be slower.
 *
 *   floorserver SOCKET        (runs until killed) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void die(const char *what)
{
	perror(what);
	exit(1);
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN }, evs[64];
	char answer[512], in[1024];
	int l, ep, n;

	if (argc != 2) {
		fprintf(stderr, "usage: floorserver SOCKET\n");
		return 2;
	}
	/* the size of the daemon's answer for the benchmark's 200-byte token */
	n = snprintf(answer, sizeof(answer),
		     "{\"ok\":true,\"account\":\"acct-000000\",\"token\":\"IGAA%0196d\","
		     "\"expires_at\":1800000000}\n",
		     0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[1]);
	(void)unlink(argv[1]);
	l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (l < 0 || ep < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(l, 128) < 0)
		die("floorserver: listen");
	ev.data.fd = l;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev) < 0)
		die("floorserver: epoll_ctl");
	for (;;) {
		int k = epoll_wait(ep, evs, 64, -1);

		for (int i = 0; i < k; i++) {
			int fd = evs[i].data.fd;
			ssize_t got;

			if (fd == l) {
				int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
				struct epoll_event ce = { .events = EPOLLIN, .data.fd = c };

				if (c >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce) < 0)
					close(c);
				continue;
			}
			got = read(fd, in, sizeof(in));
			if (got <= 0) {
				close(fd);
				continue;
			}
			for (ssize_t j = 0; j < got; j++)
				if (in[j] == '\n' && write(fd, answer, (size_t)n) != n) {
					close(fd);
					break;
				}
		}
	}
}

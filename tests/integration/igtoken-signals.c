/* SPDX-License-Identifier: MIT */
/* libigtoken under a hail of signals (CONTRACT 15.6): SIGALRM every millisecond,
 * with or without SA_RESTART, while igtoken_get_ex() waits for an answer.
 *   igtoken-signals ACCOUNT TIMEOUT_MS [restart]
 * Prints: result, milliseconds taken, signals received, appsecret_proof ("-" if none). */
#include <errno.h>
#include <igtoken.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static volatile sig_atomic_t signals;

static void on_alarm(int sig)
{
	(void)sig;
	signals++;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerval it = { { 0, 1000 }, { 0, 1000 } };
	struct igtoken_request req = { 0 };
	static struct igtoken_token tok;
	struct timespec a, b;
	char *end = NULL;
	long timeout;
	int r;

	timeout = argc > 2 ? strtol(argv[2], &end, 10) : 0;
	if (argc < 3 || *end || timeout < INT_MIN || timeout > INT_MAX) {
		fprintf(stderr, "usage: igtoken-signals ACCOUNT TIMEOUT_MS [restart]\n");
		return 64;
	}
	req.account = argv[1];
	req.timeout_ms = (int)timeout;

	if (argc > 3 && strcmp(argv[3], "restart") == 0)
		sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	clock_gettime(CLOCK_MONOTONIC, &a);
	r = igtoken_get_ex(&req, &tok);
	clock_gettime(CLOCK_MONOTONIC, &b);
	it = (struct itimerval){ 0 };
	setitimer(ITIMER_REAL, &it, NULL);
	printf("%d %ld %d %s\n", r,
	       (long)((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000),
	       (int)signals, tok.appsecret_proof[0] ? tok.appsecret_proof : "-");
	return 0;
}

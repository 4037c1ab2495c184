/* SPDX-License-Identifier: MIT */
/* Token reads against igtokend: N clients, each on its own connection, send
 * {"cmd":"token"} and wait for the answer, for D seconds. Prints reads/s and
 * the p50/p99 latency.
 *   readbench SOCKET ACCOUNT CLIENTS SECONDS */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_SAMPLES (4u << 20)

static const char *sock_path, *account;
static double seconds;
static uint32_t *samples; /* microseconds */
static size_t n_samples;
static uint64_t failures;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *client(void *arg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char req[256], buf[65536];
	int fd = socket(AF_UNIX, SOCK_STREAM, 0), n;
	double end = now() + seconds;
	uint32_t *local = malloc(MAX_SAMPLES / 8 * sizeof(uint32_t));
	size_t nl = 0;
	uint64_t fails = 0;
	(void)arg;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("connect");
		exit(1);
	}
	n = snprintf(req, sizeof(req), "{\"cmd\":\"token\",\"account\":\"%s\"}\n", account);
	while (now() < end) {
		double t0 = now();
		size_t got = 0;
		if (write(fd, req, (size_t)n) != n)
			break;
		for (;;) {
			ssize_t k = read(fd, buf + got, sizeof(buf) - got);
			if (k <= 0)
				goto out;
			got += (size_t)k;
			if (buf[got - 1] == '\n')
				break;
		}
		if (!memmem(buf, got, "\"ok\":true", 9))
			fails++;
		if (nl < MAX_SAMPLES / 8)
			local[nl++] = (uint32_t)((now() - t0) * 1e6);
	}
out:
	close(fd);
	pthread_mutex_lock(&lock);
	if (n_samples + nl <= MAX_SAMPLES) {
		memcpy(samples + n_samples, local, nl * sizeof(uint32_t));
		n_samples += nl;
	}
	failures += fails;
	pthread_mutex_unlock(&lock);
	free(local);
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	pthread_t t[256];
	int clients;
	double t0;

	if (argc != 5)
		return 2;
	sock_path = argv[1];
	account = argv[2];
	clients = (int)strtol(argv[3], NULL, 10);
	seconds = strtod(argv[4], NULL);
	if (clients < 1 || clients > 256)
		return 2;
	samples = malloc(MAX_SAMPLES * sizeof(uint32_t));
	t0 = now();
	for (int i = 0; i < clients; i++)
		pthread_create(&t[i], NULL, client, NULL);
	for (int i = 0; i < clients; i++)
		pthread_join(t[i], NULL);
	t0 = now() - t0;
	qsort(samples, n_samples, sizeof(uint32_t), cmp);
	printf("%d %.0f %.3f %.3f %llu\n", clients, (double)n_samples / t0,
	       n_samples ? samples[n_samples / 2] / 1000.0 : 0,
	       n_samples ? samples[n_samples * 99 / 100] / 1000.0 : 0,
	       (unsigned long long)failures);
	return failures ? 1 : 0;
}

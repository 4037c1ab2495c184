/* SPDX-License-Identifier: MIT */
/* A program an app would write: links libigtoken through pkg-config.
 *   igtoken-example ACCOUNT [BUFSIZE] [THREADS]
 * Prints the result code, and the token on success; with THREADS, that many
 * threads read the token 200 times each and the failures are counted. */
#include <errno.h>
#include <igtoken.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *account;
static int failures;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg)
{
	char buf[4096];
	int64_t exp;
	(void)arg;
	for (int i = 0; i < 200; i++)
		if (igtoken_get(account, buf, sizeof(buf), &exp) != 0 || exp <= 0) {
			pthread_mutex_lock(&lock);
			failures++;
			pthread_mutex_unlock(&lock);
		}
	return NULL;
}

int main(int argc, char **argv)
{
	size_t len = argc > 2 ? strtoul(argv[2], NULL, 10) : 4096;
	int threads = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 0;
	char *buf = malloc(len ? len : 1);
	int64_t exp = 0;
	int r;

	account = argv[1];
	if (threads > 0) {
		pthread_t t[64];
		for (int i = 0; i < threads && i < 64; i++)
			pthread_create(&t[i], NULL, worker, NULL);
		for (int i = 0; i < threads && i < 64; i++)
			pthread_join(t[i], NULL);
		printf("failures=%d\n", failures);
		return failures ? 1 : 0;
	}
	r = igtoken_get(account, buf, len, &exp);
	printf("%d\n", r);
	if (r == 0)
		printf("%s\n%lld\n", buf, (long long)exp);
	free(buf);
	return 0;
}

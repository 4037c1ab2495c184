/* SPDX-License-Identifier: MIT */
/* An application that uses cJSON itself, and libigtoken. libigtoken must leave
 * cJSON's process-wide state alone: the error position of the application's
 * own failed parse survives a token read, however many threads read tokens.
 *
 *   igtoken-cjson-host ACCOUNT -> prints "ok" or what went wrong */
#include <cjson/cJSON.h>
#include <igtoken.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static const char *account;

static void *reader(void *arg)
{
	char buf[8193];
	int64_t exp;
	(void)arg;

	for (int i = 0; i < 100; i++)
		if (igtoken_get(account, buf, sizeof(buf), &exp) != 0)
			return (void *)1;
	return NULL;
}

int main(int argc, char **argv)
{
	static const char broken[] = "{\"the application's\": [1, 2";
	pthread_t t[4];
	const char *before, *after;
	void *failed = NULL;

	if (argc != 2)
		return 2;
	account = argv[1];
	if (cJSON_Parse(broken) != NULL)
		return 2;
	before = cJSON_GetErrorPtr();
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, reader, NULL);
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(t[i], &r);
		failed = failed ? failed : r;
	}
	after = cJSON_GetErrorPtr();
	if (failed)
		printf("a token read failed\n");
	else if (after != before)
		printf("libigtoken changed cJSON's error state: %p -> %p\n", (const void *)before,
		       (const void *)after);
	else
		printf("ok\n");
	return 0;
}

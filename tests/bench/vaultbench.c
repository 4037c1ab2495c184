/* SPDX-License-Identifier: MIT */
/* Vault figures and fixtures for the benchmarks.
 *   vaultbench create DIR KEY N [ISSUED_AT EXPIRES_AT [-|+ [LAST_VALIDATED [spares]]]]
 *       N records acct-000000.. (tokens one per line from stdin with "-", made up
 *       with "+" or without), last checked at LAST_VALIDATED (default 0: never);
 *       with "spares" each written twice, as a vault that has run a while: every
 *       record has its spare file (basic/durable.h) beside it
 *   vaultbench open DIR KEY N [meta]
 *       times opening them all */
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "basic/util.h"
#include "store/seal.h"
#include "store/vault.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct vault *v = NULL;
	long n;
	int r;

	if (argc < 5 || sodium_init() < 0)
		return 2;
	n = strtol(argv[4], NULL, 10);
	if (access(argv[3], F_OK) < 0 && seal_keygen(argv[3]) < 0)
		return 1;
	r = vault_open(argv[2], argv[3], &v);
	if (r < 0) {
		fprintf(stderr, "vault_open: %s\n", strerror(-r));
		return 1;
	}
	if (streq(argv[1], "create")) {
		int64_t issued = argc > 6 ? strtoll(argv[5], NULL, 10) : now_realtime_sec();
		int64_t expires = argc > 6 ? strtoll(argv[6], NULL, 10) : issued + 5184000;
		bool from_stdin = argc > 7 && streq(argv[7], "-");
		int64_t validated = argc > 8 ? strtoll(argv[8], NULL, 10) : 0;
		bool spares = argc > 9 && streq(argv[9], "spares");
		for (long i = 0; i < n; i++) {
			struct vault_record rec = { .issued_at = issued,
						    .expires_at = expires,
						    .last_validated = validated };
			char name[32], tok[512];
			snprintf(name, sizeof(name), "acct-%06ld", i);
			if (from_stdin) {
				if (!fgets(tok, sizeof(tok), stdin))
					return 1;
				tok[strcspn(tok, "\n")] = '\0';
			} else
				snprintf(tok, sizeof(tok), "IGAAbench%0128ld", i);
			secret_from_mem(tok, strlen(tok), &rec.token);
			rec.user_id = (char *)(uintptr_t) "17841405793187218";
			rec.scopes = (char *)(uintptr_t) "instagram_business_basic";
			rec.app_id = (char *)(uintptr_t) "1234567890";
			r = vault_store(v, name, &rec);
			if (r >= 0 && spares)
				r = vault_store(v, name, &rec);
			secret_free(rec.token);
			if (r < 0) {
				fprintf(stderr, "vault_store: %s\n", strerror(-r));
				return 1;
			}
		}
	} else {
		double t0 = now();
		long bad = 0;
		struct stat st;
		char path[4096];
		bool meta = argc > 5 && streq(argv[5], "meta");
		for (long i = 0; i < n; i++) {
			struct vault_record *rec = NULL;
			char name[32];
			snprintf(name, sizeof(name), "acct-%06ld", i);
			if ((meta ? vault_load_meta(v, name, &rec) : vault_load(v, name, &rec)) < 0)
				bad++;
			record_free(rec);
		}
		t0 = now() - t0;
		snprintf(path, sizeof(path), "%s/acct-000000.token", argv[2]);
		stat(path, &st);
		printf("%ld %.3f %.2f %lld %ld\n", n, t0, t0 / (double)n * 1e6,
		       (long long)st.st_size, bad);
	}
	vault_close(v);
	return 0;
}

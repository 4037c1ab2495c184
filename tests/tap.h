/* SPDX-License-Identifier: MIT */
#pragma once

/* A tiny assertion header: every failed check prints file, line and both values,
 * and the test keeps going so one run shows every failure. */

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* A test made of several files defines TAP_SHARED in each and TAP_COUNTERS in
 * the one with main(): all their checks count in one tally. */
#if defined(TAP_COUNTERS)
int tap_failures = 0;
int tap_checks = 0;
#elif defined(TAP_SHARED)
extern int tap_failures;
extern int tap_checks;
#else
static int tap_failures = 0;
static int tap_checks = 0;
#endif

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		tap_checks++;                                                                      \
		if (!(cond)) {                                                                     \
			tap_failures++;                                                            \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);   \
		}                                                                                  \
	} while (0)

#define CHECK_INT(a, b)                                                                            \
	do {                                                                                       \
		long long _a = (long long)(a), _b = (long long)(b);                                \
		tap_checks++;                                                                      \
		if (_a != _b) {                                                                    \
			tap_failures++;                                                            \
			fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__,        \
				__LINE__, #a, #b, _a, _b);                                         \
		}                                                                                  \
	} while (0)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *_a = (a), *_b = (b);                                                   \
		tap_checks++;                                                                      \
		if (!_a || !_b || strcmp(_a, _b) != 0) {                                           \
			tap_failures++;                                                            \
			fprintf(stderr,                                                            \
				"%s:%d: %s == %s failed:\n  got:      %s\n  expected: %s\n",       \
				__FILE__, __LINE__, #a, #b, _a ? _a : "(null)",                    \
				_b ? _b : "(null)");                                               \
		}                                                                                  \
	} while (0)

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

static inline int tap_rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* Writes text to in/name with mode (a test's fixture file). */
static inline void tap_write_file(const char *in, const char *name, const char *text, mode_t mode)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", in, name);
	f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	chmod(p, mode);
}

/* Removes a temporary directory tree a test made. */
static inline void tap_rmtree(const char *path)
{
	nftw(path, tap_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline int tap_done(const char *name)
{
	fprintf(stderr, "%s: %d checks, %d failed\n", name, tap_checks, tap_failures);
	return tap_failures ? 1 : 0;
}

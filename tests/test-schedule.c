/* SPDX-License-Identifier: MIT */
#include "meta/schedule.h"
#include "tap.h"
#include <stdio.h>

#define DAY 86400

static const struct refresh_config rc = {
	.before_expiry = 15 * DAY,
	.min_age = DAY,
	.jitter = 3600,
	.retry_initial = 60,
	.retry_max = 6 * 3600,
	.timeout = 30,
	.max_in_flight = 4,
};

static void test_due(void)
{
	struct refresh_config nj = rc;
	const int64_t t0 = 1790000000;
	nj.jitter = 0;

	static const struct {
		int64_t issued, expires;
		bool assumed;
		int64_t due;
	} t[] = {
		/* a fresh 60-day token: due 15 days before expiry */
		{ t0, t0 + 60 * DAY, false, t0 + 45 * DAY },
		/* a short-lived remainder: never before min_age */
		{ t0, t0 + 10 * DAY, false, t0 + DAY },
		/* imported, expiry assumed: as soon as it is min_age old */
		{ t0, t0 + 60 * DAY, true, t0 + DAY },
		/* already overdue: due in the past, i.e. now */
		{ t0 - 50 * DAY, t0 + 10 * DAY, false, t0 - 5 * DAY },
		/* never expires */
		{ t0, 0, false, 0 },
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++)
		CHECK_INT(schedule_due(&nj, t[i].issued, t[i].expires, t[i].assumed, 42), t[i].due);
}

static void test_jitter(void)
{
	const int64_t t0 = 1790000000, exp = t0 + 60 * DAY;
	int64_t min = INT64_MAX, max = 0;
	uint64_t buckets[6] = { 0 };

	/* deterministic: same account and token, same due time (restarts never move it) */
	CHECK_INT(schedule_due(&rc, t0, exp, false, schedule_account_hash("shop-main")),
		  schedule_due(&rc, t0, exp, false, schedule_account_hash("shop-main")));
	/* 10k accounts spread over the whole window, never before the base, never after it + jitter
	 */
	for (int i = 0; i < 10000; i++) {
		char name[32];
		snprintf(name, sizeof(name), "acct-%d", i);
		int64_t d = schedule_due(&rc, t0, exp, false, schedule_account_hash(name)) -
			    (exp - 15 * DAY);
		min = MIN(min, d);
		max = MAX(max, d);
		buckets[MIN(d * 6 / 3601, 5)]++;
	}
	CHECK(min >= 0);
	CHECK(max <= 3600);
	CHECK(min < 10 && max > 3590);
	for (int i = 0; i < 6; i++) /* roughly uniform: each sixth holds 1667 +- 15 % */
		CHECK(buckets[i] > 1400 && buckets[i] < 1950);

	/* jitter never takes more than half of what is left before expiry */
	struct refresh_config big = rc;
	big.jitter = 30 * DAY;
	for (int i = 0; i < 1000; i++) {
		int64_t d = schedule_due(&big, t0, exp, false, (uint64_t)i * 7919);
		CHECK(d >= exp - 15 * DAY && d <= exp - 15 * DAY + 15 * DAY / 2);
	}
	/* overdue: due in the past, within the jitter window */
	int64_t d = schedule_due(&rc, t0 - 70 * DAY, t0 - 10 * DAY, false, 5);
	CHECK(d >= t0 - 25 * DAY && d <= t0 - 25 * DAY + 3600);
	/* a token that dies before it is old enough to refresh: no room, no jitter */
	CHECK_INT(schedule_due(&rc, t0, t0 + 3600, false, 5), t0 + DAY);
}

static void test_urgent(void)
{
	const int64_t exp = 1790000000;
	CHECK(!schedule_is_urgent(&rc, exp, exp - 5 * DAY - 1));
	CHECK(schedule_is_urgent(&rc, exp, exp - 5 * DAY));
	CHECK(schedule_is_urgent(&rc, exp, exp + 1));
	CHECK(!schedule_is_urgent(&rc, 0, exp));
}

static void test_backoff(void)
{
	static const struct {
		uint32_t failures;
		double rnd;
		int64_t wait;
	} t[] = {
		{ 1, 0, 60 },	    { 2, 0, 120 },	{ 3, 0, 240 }, { 9, 0, 15360 },
		{ 10, 0, 21600 },   { 1000, 0, 21600 }, { 0, 0, 60 },  { 1, 0.999, 74 },
		{ 10, 0.5, 24300 }, { 1, -1, 60 },	{ 1, 7, 60 },
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++)
		CHECK_INT(schedule_backoff(60, 6 * 3600, t[i].failures, t[i].rnd), t[i].wait);
	/* jitter only lengthens, by at most 25 % */
	for (int i = 0; i < 100; i++) {
		int64_t w = schedule_backoff(60, 3600, 3, i / 100.0);
		CHECK(w >= 240 && w <= 300);
	}
	CHECK_INT(schedule_backoff(1, INT64_MAX / 2, UINT32_MAX, 0), INT64_MAX / 2);
}

/* The wall clock jumps: every rule works from stored instants and "now", so a
 * jump moves "now" only. Forward: things fall due (or expire) at once; back:
 * nothing is due early, and a retry is never postponed beyond the longest backoff. */
static void test_clock_jumps(void)
{
	struct refresh_config nj = rc;
	const int64_t t0 = 1790000000, exp = t0 + 60 * DAY;
	int64_t due, retry;
	nj.jitter = 0;

	due = schedule_due(&nj, t0, exp, false, 1);
	CHECK_INT(due, exp - 15 * DAY);
	/* day 1: not due; the clock jumps 50 days forward: due at once, and urgent */
	CHECK(t0 + DAY < due);
	CHECK(t0 + 50 * DAY >= due);
	CHECK(schedule_is_urgent(&nj, exp, t0 + 56 * DAY));
	/* it jumps back before the token was issued: the due instant does not move */
	CHECK_INT(schedule_due(&nj, t0, exp, false, 1), due);
	CHECK(!schedule_is_urgent(&nj, exp, t0 - 10 * DAY));
	/* a retry planned for t0 + 60 s, then the clock jumps 10 days back */
	retry = t0 + 60;
	CHECK_INT(schedule_retry_at(&rc, retry, t0), retry); /* no jump: as stored */
	CHECK_INT(schedule_retry_at(&rc, retry, t0 - 10 * DAY),
		  t0 - 10 * DAY + 6 * 3600 + 5400 + 1);
	CHECK_INT(schedule_retry_at(&rc, retry, t0 + 10 * DAY), retry); /* forward: due now */
}

/* CONTRACT 12.1: 10 000 accounts imported in the same second are checked a day
 * later spread over 2.4 hours, never in a burst. */
static void test_check_spread(void)
{
	struct refresh_config c = rc;
	const int64_t t0 = 1790000000;
	static unsigned per_minute[24 * 60 / 10 + 2];
	unsigned max = 0, used = 0;
	char name[32];

	c.validate_every = DAY;
	for (int i = 0; i < 10000; i++) {
		int64_t due;
		snprintf(name, sizeof(name), "acct-%06d", i);
		due = schedule_check_due(&c, t0, schedule_account_hash(name));
		CHECK(due >= t0 + DAY && due <= t0 + DAY + DAY / 10);
		if (due >= t0 + DAY && due <= t0 + DAY + DAY / 10)
			per_minute[(due - t0 - DAY) / 60]++;
	}
	for (size_t m = 0; m < ELEMENTSOF(per_minute); m++) {
		max = MAX(max, per_minute[m]);
		used += per_minute[m] > 0;
	}
	fprintf(stderr, "# 10000 checks over %u minutes, at most %u in one (mean %.0f)\n", used,
		max, 10000.0 / 144);
	CHECK(used >= 144);
	CHECK(max <= 2 * 10000 / 144); /* no minute holds twice its share */
	/* the next check of one account moves too: checks do not lock into step */
	snprintf(name, sizeof(name), "acct-000001");
	CHECK(schedule_check_due(&c, t0, schedule_account_hash(name)) - t0 !=
	      schedule_check_due(&c, t0 + DAY, schedule_account_hash(name)) - (t0 + DAY));
	c.validate_every = 5;
	CHECK_INT(schedule_check_due(&c, t0, 1), t0 + 5); /* under 10 s: no spread */
}

int main(void)
{
	test_check_spread();
	test_clock_jumps();
	test_due();
	test_jitter();
	test_urgent();
	test_backoff();
	return tap_done("test-schedule");
}

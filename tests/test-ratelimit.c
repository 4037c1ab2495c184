/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <stdio.h>

#include "meta/ratelimit.h"
#include "tap.h"
#include <stdlib.h>

static const struct ratelimit_config rl = { .slow_above = 75, .stop_above = 95 };
static const struct refresh_config rc = { .retry_initial = 60,
					  .retry_max = 3600,
					  .before_expiry = 86400 };

static void test_app_usage(void)
{
	struct rl_usage u = { 0 };

	CHECK_INT(ratelimit_parse_app_usage(
			  "{\"call_count\":28,\"total_time\":25,\"total_cputime\":25}", &u),
		  0);
	CHECK(u.app_known && u.call_count == 28 && u.total_time == 25 && u.total_cputime == 25);
	CHECK_INT(ratelimit_parse_app_usage(
			  "{\"call_count\":\"62.5\",\"total_time\":\"8\",\"total_cputime\":0}", &u),
		  0);
	CHECK(u.call_count == 62.5 && u.total_time == 8 && u.total_cputime == 0);
	CHECK_INT(ratelimit_parse_app_usage("{\"call_count\":5}", &u), 0); /* others unknown */
	CHECK(u.call_count == 5 && u.total_time == -1);

	static const char *const bad[] = {
		"",
		"null",
		"[]",
		"42",
		"{}",
		"{\"call_count\":-1}",
		"{\"call_count\":\"NaN\"}",
		"{\"call_count\":\"inf\"}",
		"{\"call_count\":1e308}",
		"{\"call_count\":true}",
		"{\"call_count\":{\"a\":1}}",
		"{\"call_count\":\"12abc\"}",
		"{\"call_count\":[1]}",
		"{\"call_count\":1",
		"{\"other\":5}",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		struct rl_usage v = { 0 };
		CHECK_INT(ratelimit_parse_app_usage(bad[i], &v), -EINVAL);
		CHECK(!v.app_known);
	}
	/* huge and deeply nested values are refused without harm */
	char *big = malloc(RL_HEADER_MAX + 100);
	memset(big, ' ', RL_HEADER_MAX + 99);
	memcpy(big, "{\"call_count\":1}", 16);
	big[RL_HEADER_MAX + 99] = '\0';
	CHECK_INT(ratelimit_parse_app_usage(big, &u), -EINVAL);
	for (int i = 0; i < 5000; i++)
		big[i] = '[';
	big[5000] = '\0';
	CHECK_INT(ratelimit_parse_app_usage(big, &u), -EINVAL);
	free(big);
}

static void test_buc(void)
{
	struct rl_usage u = { 0 };
	static const char meta[] = "{\"123\": [{\"type\": \"instagram\", \"call_count\": 100, "
				   "\"total_cputime\": 25, \"total_time\": 25, "
				   "\"estimated_time_to_regain_access\": 19, "
				   "\"ads_api_access_tier\": \"standard_access\"}], "
				   "\"66782684\": [{\"type\": \"ads_management\", \"call_count\": "
				   "\"95\", \"total_cputime\": 20, "
				   "\"total_time\": 20, \"estimated_time_to_regain_access\": 0}, "
				   "{\"type\": \"pages\", \"call_count\": 3}]}";

	CHECK_INT(ratelimit_parse_buc(meta, &u), 0);
	CHECK_INT(u.n_buc, 3);
	CHECK_STR(u.buc[0].id, "123");
	CHECK_STR(u.buc[0].type, "instagram");
	CHECK(u.buc[0].call_count == 100);
	CHECK_INT(u.buc[0].eta_minutes, 19); /* minutes, as Meta documents */
	CHECK_STR(u.buc[1].id, "66782684");
	CHECK(u.buc[1].call_count == 95);
	CHECK_INT(u.buc[1].eta_minutes, 0);
	CHECK_INT(u.buc[2].eta_minutes, -1);
	CHECK(u.buc[2].total_time == -1);

	static const char *const bad[] = {
		"{}",
		"[]",
		"{\"1\": {}}",
		"{\"1\": [5]}",
		"{\"1\": [{\"call_count\": -4}]}",
		"{\"1\": [{\"estimated_time_to_regain_access\": 99999999}]}",
		"{\"1\": [{\"call_count\": \"x\"}]}",
		"{\"1111111111111111111111111111111111111111111\": [{}]}",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		struct rl_usage v = { 0 };
		CHECK_INT(ratelimit_parse_buc(bad[i], &v), -EINVAL);
		CHECK_INT(v.n_buc, 0);
	}
	/* more entries than we keep: the first RL_BUC_MAX */
	char many[8192];
	size_t used = (size_t)snprintf(many, sizeof(many), "{\"1\": [");
	for (int i = 0; i < RL_BUC_MAX + 10; i++)
		used += (size_t)snprintf(many + used, sizeof(many) - used, "%s{\"call_count\":1}",
					 i ? "," : "");
	snprintf(many + used, sizeof(many) - used, "]}");
	CHECK_INT(ratelimit_parse_buc(many, &u), 0);
	CHECK_INT(u.n_buc, RL_BUC_MAX);
}

static void test_retry_after(void)
{
	int64_t w = -1;
	const int64_t now = 1445412480; /* Wed, 21 Oct 2015 07:28:00 GMT */

	CHECK_INT(ratelimit_parse_retry_after("5", now, &w), 0);
	CHECK_INT(w, 5);
	CHECK_INT(ratelimit_parse_retry_after("0", now, &w), 0);
	CHECK_INT(w, 0);
	CHECK_INT(ratelimit_parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now, &w), 0);
	CHECK_INT(w, 30);
	CHECK_INT(ratelimit_parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now, &w), 0);
	CHECK_INT(w, 0); /* in the past: go now */
	CHECK_INT(ratelimit_parse_retry_after("-5", now, &w), -EINVAL);
	CHECK_INT(ratelimit_parse_retry_after("5 seconds", now, &w), -EINVAL);
	CHECK_INT(ratelimit_parse_retry_after("99999999999", now, &w), -EINVAL);
	CHECK_INT(ratelimit_parse_retry_after("", now, &w), -EINVAL);
	CHECK_INT(ratelimit_parse_retry_after("Thu, 01 Jan 2099 00:00:00 GMT", now, &w), -EINVAL);
}

static void test_pauses(void)
{
	const int64_t now = 1800000000;
	struct rl_state s = { 0 };

	/* 429 with Retry-After: paused that long (lengthened by up to 25 %), then one probe */
	CHECK_INT(ratelimit_on_answer(&s, &rl, &rc, now, RL_ANSWER_THROTTLED, NULL, NULL, "5", 0),
		  now + 5);
	CHECK_INT(s.throttle_count, 1);
	CHECK_INT(ratelimit_check(&s, &rl, now + 4, false, 0), now + 5);
	CHECK_INT(ratelimit_check(&s, &rl, now + 5, false, 0), 0); /* the probe */
	CHECK_INT(ratelimit_check(&s, &rl, now + 5, false, 1),
		  -EAGAIN); /* the rest wait for its answer */
	CHECK_INT(ratelimit_on_answer(&s, &rl, &rc, now + 6, RL_ANSWER_OK, NULL, NULL, NULL, 0), 0);
	CHECK_INT(ratelimit_check(&s, &rl, now + 6, false, 3), 0);
	CHECK(!s.probe);

	/* BUC estimate in minutes when there is no Retry-After */
	s = (struct rl_state){ 0 };
	CHECK_INT(ratelimit_on_answer(&s, &rl, &rc, now, RL_ANSWER_THROTTLED, NULL,
				      "{\"1\":[{\"type\":\"instagram\",\"call_count\":100,"
				      "\"estimated_time_to_regain_access\":3}]}",
				      NULL, 0),
		  now + 180);
	/* jitter only lengthens, by up to 25 % */
	s = (struct rl_state){ 0 };
	int64_t p = ratelimit_on_answer(&s, &rl, &rc, now, RL_ANSWER_THROTTLED, NULL, NULL, "100",
					0.999);
	CHECK(p >= now + 100 && p <= now + 125);

	/* neither: exponential backoff from retry_initial, reset by a good answer */
	s = (struct rl_state){ 0 };
	CHECK_INT(ratelimit_on_answer(&s, &rl, &rc, now, RL_ANSWER_THROTTLED, NULL, NULL, NULL, 0),
		  now + 60);
	CHECK_INT(ratelimit_on_answer(&s, &rl, &rc, now, RL_ANSWER_THROTTLED, NULL, NULL, NULL, 0),
		  now + 120);
	CHECK_INT(ratelimit_on_answer(&s, &rl, &rc, now, RL_ANSWER_THROTTLED, NULL, NULL, NULL, 0),
		  now + 240);
	for (int i = 0; i < 20; i++)
		p = ratelimit_on_answer(&s, &rl, &rc, now, RL_ANSWER_THROTTLED, NULL, NULL, NULL,
					0);
	CHECK_INT(p, now + 3600);
	CHECK_INT(s.throttle_count, 23);
	CHECK_INT(ratelimit_on_answer(&s, &rl, &rc, now, RL_ANSWER_OK, NULL, NULL, NULL, 0), 0);
	CHECK_INT(ratelimit_on_answer(&s, &rl, &rc, now, RL_ANSWER_THROTTLED, NULL, NULL, NULL, 0),
		  now + 60);

	/* usage at stop_above on a good answer pauses without counting a throttle */
	s = (struct rl_state){ 0 };
	CHECK_INT(ratelimit_on_answer(&s, &rl, &rc, now, RL_ANSWER_OK,
				      "{\"call_count\":95,\"total_time\":1,\"total_cputime\":1}",
				      NULL, NULL, 0),
		  now + 60);
	CHECK_INT(s.throttle_count, 0);
	CHECK(s.probe);
}

static void test_thresholds(void)
{
	const int64_t now = 1800000000;
	struct rl_state s = { 0 };

	/* unknown usage is not 0 %, but it holds nothing back either */
	CHECK(ratelimit_max_usage(&s.usage, now) < 0);
	CHECK_INT(ratelimit_check(&s, &rl, now, false, 0), 0);
	/* above slow_above: only urgent requests */
	ratelimit_on_answer(&s, &rl, &rc, now, RL_ANSWER_OK, "{\"call_count\":80}", NULL, NULL, 0);
	CHECK_INT(ratelimit_check(&s, &rl, now + 1, false, 0), now + RL_USAGE_TTL);
	CHECK_INT(ratelimit_check(&s, &rl, now + 1, true, 0), 0);
	/* BUC figures count too */
	s = (struct rl_state){ 0 };
	ratelimit_on_answer(&s, &rl, &rc, now, RL_ANSWER_OK, "{\"call_count\":1}",
			    "{\"9\":[{\"type\":\"instagram\",\"total_time\":76}]}", NULL, 0);
	CHECK(ratelimit_max_usage(&s.usage, now) == 76);
	CHECK_INT(ratelimit_check(&s, &rl, now, false, 0), now + RL_USAGE_TTL);
	/* a missing header on the next answer leaves the figures as they were */
	ratelimit_on_answer(&s, &rl, &rc, now + 10, RL_ANSWER_OK, NULL, NULL, NULL, 0);
	CHECK(ratelimit_max_usage(&s.usage, now + 10) == 76);
	/* figures older than the rolling hour are unknown again */
	CHECK(ratelimit_max_usage(&s.usage, now + RL_USAGE_TTL) < 0);
	CHECK_INT(ratelimit_check(&s, &rl, now + RL_USAGE_TTL, false, 0), 0);
	/* a hostile header does not erase known figures */
	ratelimit_on_answer(&s, &rl, &rc, now + 20, RL_ANSWER_OK, "{\"call_count\":\"NaN\"}", NULL,
			    NULL, 0);
	CHECK(ratelimit_max_usage(&s.usage, now + 20) == 76);
}

/* A state keeps RL_BUC_KEPT entries: the one Meta throttled first, then the
 * highest usage, wherever they came in the header; the account's own apart. */
static void test_kept(void)
{
	struct rl_usage all = { 0 };
	struct rl_figures app, own;
	const char *h =
		"{\"9\":[{\"type\":\"ads_management\",\"call_count\":5},"
		"{\"type\":\"ads_insights\",\"call_count\":7},"
		"{\"type\":\"custom_audience\",\"call_count\":1},"
		"{\"type\":\"leadgen\",\"call_count\":60},"
		"{\"type\":\"pages\",\"call_count\":2,\"estimated_time_to_regain_access\":3}],"
		"\"777\":[{\"type\":\"instagram\",\"call_count\":42}],"
		"\"8\":[{\"type\":\"messenger\",\"call_count\":30}]}";

	CHECK_INT(ratelimit_parse_buc(h, &all), 0);
	CHECK_INT(all.n_buc, 7);
	all.at = 1000;
	ratelimit_split(&all, "777", &app, &own);
	CHECK_INT(app.n_buc, RL_BUC_KEPT);
	CHECK_STR(app.buc[0].type, "pages"); /* throttled: first, though its usage is low */
	CHECK(app.buc[1].call_count == 60);
	CHECK(app.buc[2].call_count == 30);
	CHECK(app.buc[3].call_count == 7);
	CHECK(ratelimit_max_usage(&app, 1000) == 60);
	CHECK_INT(own.n_buc, 1);
	CHECK_STR(own.buc[0].id, "777");
	CHECK(ratelimit_max_usage(&own, 1000) == 42);
}

int main(void)
{
	test_app_usage();
	test_buc();
	test_kept();
	test_retry_after();
	test_pauses();
	test_thresholds();
	return tap_done("test-ratelimit");
}

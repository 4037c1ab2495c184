/* SPDX-License-Identifier: MIT */
/* Usage headers: X-App-Usage, X-Business-Use-Case-Usage, Retry-After. */
#include "fuzz.h"
#include <stdlib.h>
#include <string.h>

#include "meta/ratelimit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct ratelimit_config rl = { .slow_above = 75, .stop_above = 95 };
	static const struct refresh_config rc = { .retry_initial = 60,
						  .retry_max = 3600,
						  .before_expiry = 86400 };
	struct rl_state s = { 0 };
	struct rl_usage u = { 0 };
	char *v = malloc(size + 1);
	int64_t w;

	if (!v)
		return 0;
	memcpy(v, data, size);
	v[size] = '\0';
	(void)ratelimit_parse_app_usage(v, &u);
	(void)ratelimit_parse_buc(v, &u);
	(void)ratelimit_parse_retry_after(v, 1800000000, &w);
	(void)ratelimit_on_answer(&s, &rl, &rc, 1800000000, (enum rl_answer)(size & 1), v, v, v,
				  0.5);
	(void)ratelimit_check(&s, &rl, 1800000001, size & 2, 0);
	(void)ratelimit_max_usage(&s.usage, 1800000001);
	free(v);
	return 0;
}

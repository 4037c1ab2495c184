/* SPDX-License-Identifier: MIT */
#include "engine/context.h"

#include <sodium.h>

#include "basic/util.h"

int64_t engine_clock_now(void)
{
	return now_realtime_sec();
}

int64_t engine_clock_now_ceil(void)
{
	return now_realtime_sec_ceil();
}

double engine_random(void)
{
	return (double)randombytes_uniform(1u << 30) / (double)(1u << 30);
}

/* SPDX-License-Identifier: MIT */
#include "engine/context.h"

#include <sodium.h>

#include "basic/durable.h"
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

static int on_durable_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	(void)s;
	(void)usec;
	(void)userdata;
	(void)durable_barrier();
	return 0;
}

int engine_ctx_init(struct engine_ctx *ctx)
{
	int r;

	if (!ctx->event)
		return 0;
	r = sd_event_add_time_relative(ctx->event, &ctx->durable_timer, CLOCK_MONOTONIC,
				       DURABLE_GROUP_USEC, 1000, on_durable_timer, NULL);
	if (r < 0)
		return r;
	(void)sd_event_source_set_description(ctx->durable_timer, "vault-group-commit");
	return sd_event_source_set_enabled(ctx->durable_timer, SD_EVENT_OFF);
}

void engine_durable_soon(const struct engine_ctx *ctx)
{
	sd_event_source *t = ctx->durable_timer;

	if (!t) {
		(void)durable_barrier();
		return;
	}
	if (sd_event_source_get_enabled(t, NULL) > 0)
		return; /* armed by an earlier write: the window counts from it */
	if (sd_event_source_set_time_relative(t, DURABLE_GROUP_USEC) < 0 ||
	    sd_event_source_set_enabled(t, SD_EVENT_ONESHOT) < 0)
		(void)durable_barrier(); /* no timer: now */
}

void engine_ctx_done(struct engine_ctx *ctx)
{
	ctx->durable_timer = sd_event_source_disable_unref(ctx->durable_timer);
	(void)durable_barrier();
}

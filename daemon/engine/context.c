/* SPDX-License-Identifier: MIT */
#include "engine/context.h"

#include <sodium.h>

#include <sys/epoll.h>

#include "basic/util.h"
#include "store/vault.h"

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

static int on_written(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	(void)s;
	(void)fd;
	(void)revents;
	vault_dispatch(userdata);
	return 0;
}

int engine_ctx_init(struct engine_ctx *ctx)
{
	int r;

	if (!ctx->event)
		return 0;
	r = sd_event_add_io(ctx->event, &ctx->written, vault_writer_fd(ctx->vault), EPOLLIN,
			    on_written, ctx->vault);
	if (r < 0)
		return r;
	(void)sd_event_source_set_description(ctx->written, "vault-writer");
	return 0;
}

void engine_ctx_done(struct engine_ctx *ctx)
{
	if (!ctx->written)
		return;
	ctx->written = sd_event_source_disable_unref(ctx->written);
	vault_flush(ctx->vault);
}

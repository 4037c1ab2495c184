/* SPDX-License-Identifier: MIT */
#pragma once

/* What every app and account of the engine is given when it is made: the event
 * loop, the vault, the token cache, the current configuration, the clock, the
 * randomness, and the table through which an account reports upward. Nothing
 * in the engine reaches back into the manager for these. Tests make their own. */

#include <stdint.h>
#include <systemd/sd-event.h>

#include "conf/config.h"

struct account;
struct tokencache;
struct vault;

struct engine_events {
	/* The account's state, deadline or status may have changed: recompute and announce. */
	void (*changed)(struct account *a, void *userdata);
	/* A new token is sealed and served from now on. */
	void (*refreshed)(struct account *a, void *userdata);
};

struct engine_ctx {
	sd_event *event;
	struct vault *vault;
	struct tokencache *tokens;
	const struct config *config; /* the one in force; a reload swaps it */
	int64_t (*now)(void);	     /* realtime, Unix seconds */
	int64_t (*now_ceil)(void); /* the same, rounded up: a wait counted from it is never short */
	double (*random)(void);	   /* uniform in [0, 1) */
	const struct engine_events *events;
	void *events_userdata;
	sd_event_source *written; /* the vault's writer thread finished writes */
};

/* The real clock and randomness (now_realtime_sec, libsodium). */
int64_t engine_clock_now(void);
int64_t engine_clock_now_ceil(void);
double engine_random(void);

/* Hooks the vault's writer thread (vault_store_async) to ctx->event;
 * engine_ctx_done() waits for the writes under way and dispatches them. Without
 * an event loop, neither does anything (the vault is written synchronously). */
int engine_ctx_init(struct engine_ctx *ctx);
void engine_ctx_done(struct engine_ctx *ctx);

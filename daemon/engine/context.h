/* SPDX-License-Identifier: MIT */
#pragma once

/* What every app and account of the engine is given when it is made: the event
 * loop, the vault, the token cache, the current configuration, the clock, the
 * randomness, and the table through which an account reports upward. Nothing
 * in the engine reaches back into the manager for these. Tests make their own. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "conf/config.h"

struct account;
struct app;
struct tokencache;
struct vault;

struct engine_events {
	/* The account's state, deadline or status may have changed: recompute and announce. */
	void (*changed)(struct account *a, void *userdata);
	/* A new token is sealed and served from now on. */
	void (*refreshed)(struct account *a, void *userdata);
	/* The same with a token another host got (cluster mode): no hooks. */
	void (*adopted)(struct account *a, void *userdata);
	/* The write of the account's record under way ended, taken or not: an
	 * operation held back by it may start. */
	void (*written)(struct account *a, void *userdata);
};

/* Cluster mode (CONTRACT 13, engine/cluster-link.h): what the engine asks
 * before calling Meta and tells after a token changed. NULL: a single host. */
typedef void (*engine_intent_done_t)(struct account *a, int error, const char *why);
typedef void (*engine_done_t)(struct account *a, int error, const char *message, void *userdata);
struct engine_cluster {
	/* Whether this host may call Meta for the account's app now: it owns the
	 * app under a lease surely alive until the call has ended. why: else, for people. */
	bool (*may_call)(void *userdata, const struct account *a, char *why, size_t why_len);
	/* Whether this host owns the account's app (the store read, the owner key
	 * says so): what its deadlines are filed by. May_call adds the lease's
	 * margin, which comes and goes with each renewal. */
	bool (*owns)(void *userdata, const struct account *a);
	/* Before the Meta call of a refresh: the intent written in the store.
	 * 0: under way, done() runs later from the event loop unless cancelled. */
	int (*intent)(void *userdata, struct account *a, engine_intent_done_t done);
	void (*intent_cancel)(void *userdata, struct account *a);
	/* The account's token changed in the vault (a new one durable, or wiped). */
	void (*token_changed)(void *userdata, struct account *a);
	/* The app's rate-limit state changed (stored in the vault). */
	void (*app_changed)(void *userdata, struct app *app);
	/* An admin's refresh of an account whose app another host owns: asked of
	 * that host; 0: done() runs later, once; < 0: why says why not. */
	int (*forward_refresh)(void *userdata, struct account *a, engine_done_t done,
			       void *done_userdata, char *why, size_t why_len);
	void *userdata;
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
	const struct engine_cluster *cluster;
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

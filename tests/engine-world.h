/* SPDX-License-Identifier: MIT */
#pragma once

/* test-engine's world (engine-world.c): what the table's rows start from and
 * act on. */

#include <systemd/sd-event.h>

#include "engine/account.h"
#include "engine/app.h"
#include "engine/operation.h"
#include "store/vault.h"

#define T0 1800000000 /* the fake clock's start */

extern int64_t fake_now;

/* the states an account reported, each change once */
extern enum account_state seen[64];
extern size_t n_seen;
extern unsigned refreshed_events;

/* Meta: the last request the fake transport took */
struct fake_meta {
	unsigned calls;
	char url[4096];
	http_callback_t cb;
	void *cb_userdata;
};
extern struct fake_meta meta;

struct answer {
	long status;
	const char *body;	 /* "TOKEN" in it becomes a fresh token */
	const char *retry_after; /* header, or NULL */
	int error;		 /* transport error (-ETIMEDOUT ...) */
	const char *buc;	 /* X-Business-Use-Case-Usage, or NULL */
};
/* Answers the request under way with ans; a new token's write is waited for,
 * unless hold_writes. */
void respond(const struct answer *ans);
extern bool hold_writes;
/* Waits for the vault's writes under way and runs what follows them. */
void settle(void);
/* The vault's writer thread (on), or none: writes made synchronously (off). */
void use_writer(bool on);

extern char dir[256];
extern struct config *cfg;
extern struct engine_ctx ctx;
extern sd_event *event;

void setup(void);
/* An account of a new app (fresh rate-limit state), named `name`, with no token. */
struct account *new_account(const char *name, struct app **ret_app);
void free_account(struct account *a, struct app *app);

/* the last operation's answer to its waiter */
extern int last_error;
extern unsigned answered;
void done(struct account *a, int error, const char *message, void *ud);

#define USER_ID	 "17841405793187218"
#define OK_TOKEN "{\"access_token\":\"TOKEN\",\"token_type\":\"bearer\",\"expires_in\":5184000}"

void give_token_issued(struct account *a, int64_t issued, int64_t lifetime);
void give_token(struct account *a, int64_t lifetime);

enum start {
	START_NO_TOKEN,
	START_FRESH,	/* 10 days left: refresh due (before_expiry 15d) */
	START_RETRYING, /* one failure behind it */
	START_THROTTLED,
	START_EXPIRING,
	START_EXPIRED,
	START_REAUTH,
	START_LONG,	   /* 59 days left: no refresh due, never checked */
	START_RECOVERABLE, /* 190/459: reauth_required until a check succeeds */
	START_YOUNG,	   /* issued an hour ago */
	START_OWN_PAUSED,  /* Meta paused the account itself (its own BUC entry) */
};

#define BUC_FULL                                                                                   \
	"{\"" USER_ID "\":[{\"type\":\"instagram\",\"call_count\":100,\"total_cputime\":1,"        \
	"\"total_time\":1,\"estimated_time_to_regain_access\":30}]}"
#define BUC_OTHER                                                                                  \
	"{\"999\":[{\"type\":\"instagram\",\"call_count\":100,\"total_cputime\":1,"                \
	"\"total_time\":1,\"estimated_time_to_regain_access\":30}]}"

void bring_to(struct account *a, enum start s);

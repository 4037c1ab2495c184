/* SPDX-License-Identifier: MIT */
#pragma once

/* One account: what its vault record says, the state that follows from it
 * (CONTRACT section 4), when it is next due, the changes Meta's answers make to
 * it (a new token sealed before it is served; a verdict; a failure and its
 * backoff), and the read path that hands its token out. Operations
 * (engine/operation.h) drive it; it reports upward through ctx->events. */

#include <stdbool.h>
#include <stdint.h>

#include "basic/secret.h"
#include "engine/app.h"
#include "engine/context.h"
#include "meta/enroll.h"
#include "meta/verdict.h"

enum account_state {
	STATE_NO_TOKEN,
	STATE_FRESH,
	STATE_REFRESHING,
	STATE_RETRYING,
	STATE_THROTTLED,
	STATE_EXPIRING,
	STATE_EXPIRED,
	STATE_REAUTH_REQUIRED,
	_STATE_MAX,
};
extern const char *const account_state_names[_STATE_MAX];
const char *account_state_name(enum account_state s);

/* What the account's operations are doing now (set by engine/operation.c). */
enum account_activity {
	ACTIVITY_IDLE,
	ACTIVITY_WAITING,    /* an operation waits for the app to let its request go */
	ACTIVITY_REFRESHING, /* a request about the account's own token is under way */
	ACTIVITY_ACQUIRING,  /* an import or enrolment is under way */
};

struct op; /* engine/operation.c */

struct account {
	const struct engine_ctx *ctx;
	const char *name; /* cfg->name */
	const struct account_config *cfg;
	struct app *app;
	uint64_t hash;

	/* what the vault record says, without the token (read from the vault when needed) */
	bool has_token;
	int64_t issued_at, expires_at, data_access_expires_at, last_refresh, last_validated,
		next_attempt;
	uint32_t failures;
	enum verdict verdict; /* standing: OK, EXPIRED, REAUTH or NOT_EXTENDED */
	uint8_t token_type;   /* 0 user, 1 page */
	bool expiry_assumed;
	char *user_id, *last_error; /* granted scopes stay in the vault record only */

	enum account_state state;    /* as last computed */
	enum account_state reported; /* as last announced (events, hooks) */
	enum account_activity activity;
	struct op *ops;	   /* running first, then waiting (engine/operation.c) */
	size_t heap_index; /* in the manager's deadline heap, or SIZE_MAX */
	int64_t deadline;  /* when it next needs attention, 0 never */
	uint64_t reads, refresh_ok, refresh_error, refresh_throttled;
	bool keep;		       /* reload bookkeeping */
	int32_t cache_slot;	       /* in the token cache, or -1 */
	struct enroll_pending *enroll; /* an enrolment under way, or NULL */
};

#define ACCOUNT_VALIDATE_INTERVAL 86400 /* facebook tokens are inspected daily */

int account_new(const struct engine_ctx *ctx, const struct account_config *cfg, struct app *app,
		struct account **ret);
/* Its operations must be gone (operation_cancel_all). */
struct account *account_free(struct account *a);
/* Reads the record's metadata from the vault (a record that does not open is quarantined). */
void account_load(struct account *a);

enum account_state account_compute_state(const struct account *a, int64_t now);
/* When the next refresh attempt is planned (the status's next_refresh), 0 if none. */
int64_t account_next_refresh(const struct account *a, int64_t now);
/* When the account next needs attention (a refresh, a check, or the expiry), 0 never. */
int64_t account_deadline(const struct account *a, int64_t now);
/* Whether the token is due to be checked now rather than refreshed (facebook). */
bool account_check_due(const struct account *a, int64_t now);
bool account_expired_by_time(const struct account *a, int64_t now);
/* Urgent (CONTRACT 11.9): now >= expires_at - before_expiry / 3; when that begins (0 never). */
bool account_urgent(const struct account *a, int64_t now);
int64_t account_urgent_at(const struct account *a);
/* 0 if the token in hand may be sent to Meta, else why not (-ENOKEY, -EKEYREVOKED, -EKEYEXPIRED). */
int account_usable(const struct account *a, int64_t now);

/* ---- what Meta's answers do ---- */

struct new_token {
	const struct secret *token;
	int64_t issued_at, expires_at; /* expires_at 0: never */
	int64_t data_access_expires_at, last_validated;
	bool refreshed, assumed;
	const char *user_id, *scopes;
	uint8_t token_type;
};

/* Seals a new token, then (only then) makes it the one served. */
int account_store_token(struct account *a, const struct new_token *n);
/* Meta's verdict on the token in hand (EXPIRED, REAUTH, NOT_EXTENDED). */
void account_set_verdict(struct account *a, enum verdict v, const char *why);
/* A failed refresh: the token in hand is kept; the next try backs off. */
void account_note_failure(struct account *a, const char *why);
/* Throttled: not the token's fault; the app's pause decides when it goes again. */
void account_note_throttled(struct account *a, const char *why);
/* debug_token said the token is good: its expiry, data access and scopes now. */
void account_note_validated(struct account *a, int64_t expires_at, int64_t data_access_expires_at,
			    const char *scopes);
/* The scopes to seal with a new token: what Meta granted, else what the old
 * record says, else what the account asks for. */
char *account_scopes_for(struct account *a, const char *granted);

/* Reports upward (ctx->events): recompute and announce; a new token is served. */
void account_changed(struct account *a);
void account_refreshed(struct account *a);

/* ---- the read path ---- */

/* A token to hand out: in the token cache (valid until the next cache change), or
 * a guarded copy when too long to cache. token_view_clear() when done. */
struct token_view {
	const char *data;
	size_t len;
	struct secret *owned;
};
void token_view_clear(struct token_view *v);
/* 0 with the token, or why there is none to hand out (-ENOKEY, -EKEYEXPIRED, -EKEYREVOKED, -EIO). */
int account_read_token(struct account *a, int64_t now, struct token_view *ret);
/* Forgets a cached plaintext token (a new one, a verdict, the account leaving). */
void account_uncache(struct account *a);

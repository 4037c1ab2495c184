/* SPDX-License-Identifier: MIT */
#pragma once

/* One account: what its vault record says, the state that follows from it
 * (CONTRACT section 4), when it is next due, the changes Meta's answers make to
 * it (a new token sealed before it is served; a verdict; a failure and its
 * backoff), and the read path that hands its token out. Operations
 * (engine/operation.h) drive it; it reports upward through ctx->events. Its
 * vault record, and what Meta's answers change in it: engine/account-record.h. */

#include <stdbool.h>
#include <stdint.h>

#include "basic/secret.h"
#include "engine/app.h"
#include "engine/context.h"
#include "meta/enroll.h"
#include "meta/ratelimit.h"
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
	ACTIVITY_WAITING,    /* a refresh, import or enrolment waits for the app to let it go */
	ACTIVITY_REFRESHING, /* a refresh of the account's own token is under way */
	ACTIVITY_ACQUIRING,  /* an import or enrolment is under way */
	ACTIVITY_CHECKING, /* a check waits or is under way: it shows in no state (CONTRACT 12.1) */
};

struct op; /* engine/operation.c */
struct account;
struct vault_record;

typedef void (*token_stored_t)(struct account *a, int error, void *userdata);

/* A new token on its way to the disk (engine/token-write.c): it is served
 * once it is durable; until then, the old one is. */
struct token_write {
	struct account *account;  /* NULL: nobody takes it any more (the write still lands) */
	struct secret *old;	  /* the token served meanwhile, or NULL */
	struct vault_record *rec; /* what is written */
	char *scopes;		  /* persist_after: the granted scopes to note, or NULL */
	token_stored_t done;	  /* NULL: nobody waits any more */
	void *userdata;
	/* cluster mode: another host's record (account_take_record), taken whole,
	 * from the store's revision store_rev; host: where it came from */
	char *host;
	int64_t store_rev;
	bool adopt;
	bool superseded;    /* the token was wiped meanwhile: it is not taken */
	bool persist_after; /* the account's state changed meanwhile: stored after it */
};

/* 100 000 of these must fit the daemon's 64 MiB (README "Benchmarks"): the
 * fields are grouped by size, so that no padding falls between them, and the
 * enums are kept in a byte each. */
struct account {
	const struct engine_ctx *ctx;
	const char *name; /* cfg->name */
	const struct account_config *cfg;
	struct app *app;
	uint64_t hash;

	/* what the vault record says, without the token (read from the vault when needed) */
	int64_t issued_at, expires_at, data_access_expires_at, last_refresh, last_validated,
		next_attempt;
	char *user_id, *username, *last_error; /* granted scopes stay in the vault record only */
	char *missing_scopes; /* configured scopes the token was not granted, or NULL */
	/* its own rate limit (Instagram BUC entries keyed by its user id, CONTRACT
	 * 12.8), or NULL while it has none: no pause, no throttle counted, no fresh
	 * figures of its own. The state holds a whole BUC table: 100 000 accounts
	 * must not each carry one (account_rl(), account_rl_take()). */
	struct rl_state *rl;

	/* checks (CONTRACT 12.1), in memory only */
	int64_t check_not_before; /* overdue at start: spread, not all at once */
	int64_t check_retry_at;	  /* a check failed for no fault of the token: back off */

	struct op *ops;	   /* running first, then waiting (engine/operation.c) */
	size_t heap_index; /* in the manager's deadline heap, or SIZE_MAX */
	int64_t deadline;  /* when it next needs attention, 0 never */
	uint64_t reads;
	struct enroll_pending *enroll; /* an enrolment under way, or NULL */
	struct token_write *write;     /* a new token on its way to the disk */
	/* cluster mode: the record's generation (store/record.h); the store's
	 * tok/<name> revision the vault record is (-1 unknown, 0 none there); the
	 * intent call under way; whether the app's owner waits for another host's
	 * intent on it until then */
	int64_t generation, store_rev, cluster_wait_until;
	void *cluster_call;

	uint32_t failures;
	uint32_t check_failures;
	int32_t cache_slot; /* in the token cache, or -1 */
	uint32_t refresh_ok, refresh_error, refresh_throttled;
	uint32_t refresh_revoked, refresh_expired; /* Meta's verdicts (CONTRACT 15.2) */

	/* standing: OK, EXPIRED, REAUTH, REAUTH_RECOVERABLE or NOT_EXTENDED */
	enum verdict verdict : 8;
	enum account_state state : 8;	 /* as last computed */
	enum account_state reported : 8; /* as last announced (events, hooks) */
	enum account_activity activity : 8;
	uint8_t token_type; /* enum record_token_type */
	bool has_token;
	bool expiry_assumed;
	bool keep; /* reload bookkeeping */
};

int account_new(const struct engine_ctx *ctx, const struct account_config *cfg, struct app *app,
		struct account **ret);
/* Its operations must be gone (operation_cancel_all). */
struct account *account_free(struct account *a);

enum account_state account_compute_state(const struct account *a, int64_t now);
/* When the next refresh attempt is planned (the status's next_refresh), 0 if none. */
int64_t account_next_refresh(const struct account *a, int64_t now);
/* When the token is next checked (CONTRACT 12.1), 0 never. */
int64_t account_next_check(const struct account *a, int64_t now);
/* When the account next needs attention (a refresh, a check, or the expiry), 0 never. */
int64_t account_deadline(const struct account *a, int64_t now);
/* Whether Meta has paused the account itself (its own usage figures), or its app. */
bool account_paused(const struct account *a, int64_t now);
bool account_expired_by_time(const struct account *a, int64_t now);
/* Urgent (CONTRACT 11.9): now >= expires_at - before_expiry / 3; when that begins (0 never). */
bool account_urgent(const struct account *a, int64_t now);
int64_t account_urgent_at(const struct account *a);
/* 0 if the token in hand may be served and refreshed, else why not (-ENOKEY,
 * -EKEYREVOKED, -EKEYEXPIRED). */
int account_usable(const struct account *a, int64_t now);
/* Whether it holds a token worth checking with Meta: a usable one, or one Meta
 * withdrew until the user fixes something on Meta's side (CONTRACT 12.3). */
bool account_checkable(const struct account *a, int64_t now);
/* When an admin may refresh the token (issued_at + min_age); 0 now. */
/* Its own rate-limit state: a neutral one while it has none. */
const struct rl_state *account_rl(const struct account *a);
/* The same to change, made if needed; NULL without memory. */
struct rl_state *account_rl_take(struct account *a);
/* Lets go of a state that says nothing any more (no pause, nothing counted,
 * figures older than RL_USAGE_TTL). */
void account_rl_settle(struct account *a, int64_t now);
int64_t account_too_early(const struct account *a, int64_t now);
/* For people: why an admin's refresh is not sent now (paused by Meta; too
 * young to refresh until when). */
const char *account_paused_message(const struct account *a, int64_t now, char *buf, size_t len);
const char *account_too_early_message(const struct account *a, int64_t when, int64_t now, char *buf,
				      size_t len);

/* The scopes to seal with a new token: what Meta granted, else what the old
 * record says, else what the account asks for. */
char *account_scopes_for(struct account *a, const char *granted);

/* Reports upward (ctx->events): recompute and announce; a new token is served;
 * the write of its record under way ended. */
void account_changed(struct account *a);
void account_refreshed(struct account *a);
void account_adopted(struct account *a);
void account_written(struct account *a);

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

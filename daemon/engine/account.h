/* SPDX-License-Identifier: MIT */
#pragma once

/* Orchestration: the state machine of an account (CONTRACT section 4), the
 * operations that change its token (refresh, import, enrolment), and the app
 * that paces their requests (max_in_flight, rate limits). */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "conf/config.h"
#include "meta/enroll.h"
#include "meta/graph.h"
#include "net/http.h"
#include "basic/proto.h"
#include "meta/ratelimit.h"
#include "store/record.h"

struct manager;
struct account;
struct vault;

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
const char *account_state_name(enum account_state s);

/* The answer to whoever started an operation (a control client): error PROTO_OK or a code. */
typedef void (*op_done_t)(struct account *a, enum proto_error error, const char *message, void *userdata);

struct app {
	struct manager *m;
	char *name;
	struct app_config *cfg; /* in the current config */
	struct http_client *http;
	struct rl_state rl;
	struct account **queue; /* accounts waiting to send, in order */
	size_t n_queue, queue_size;
	unsigned in_flight;
	sd_event_source *wake; /* a pause ends, or usage figures go stale */
	sd_event_source *reconfigure_source;
	bool reconfigure; /* new HTTP settings wait for requests under way */
	uint64_t refresh_ok, refresh_error, refresh_throttled;
	bool keep; /* reload bookkeeping */
};

struct op; /* an operation under way: account.c */

struct account {
	struct manager *m;
	const char *name; /* cfg->name */
	struct account_config *cfg;
	struct app *app;
	uint64_t hash;

	/* what the vault record says, without the token (read from the vault when needed) */
	bool has_token;
	int64_t issued_at, expires_at, data_access_expires_at, last_refresh, last_validated, next_attempt;
	uint32_t failures;
	uint8_t verdict, token_type;
	bool expiry_assumed;
	char *user_id, *last_error; /* granted scopes stay in the vault record only */

	enum account_state state;    /* as shown now */
	enum account_state reported; /* last one announced (events, hooks) */
	struct op *ops;		     /* running first, then waiting */
	bool queued;		     /* waiting in app->queue */
	size_t heap_index;	     /* in the manager's deadline heap, or SIZE_MAX */
	int64_t deadline;
	uint64_t reads, refresh_ok, refresh_error, refresh_throttled;
	bool keep; /* reload bookkeeping */
	int32_t cache_slot; /* in the manager's token cache, or -1 */
	struct enroll_pending *enroll; /* an enrolment under way, or NULL */
};

/* ---- provided by the manager ---- */
struct tokencache;
struct vault *manager_vault(struct manager *m);
struct tokencache *manager_tokens(struct manager *m);
sd_event *manager_event(struct manager *m);
const struct config *manager_config(struct manager *m);
/* Recomputes state and deadline; announces a state change. */
void manager_account_changed(struct manager *m, struct account *a);
void manager_account_refreshed(struct manager *m, struct account *a);
double manager_random(void); /* [0, 1) */

/* ---- account.c ---- */
int account_new(struct manager *m, struct account_config *cfg, struct app *app, struct account **ret);
struct account *account_free(struct account *a);
/* Reads the record's metadata from the vault (quarantining a corrupt one). */
void account_load(struct account *a, int64_t now);
enum account_state account_compute_state(const struct account *a, int64_t now);
int64_t account_deadline(const struct account *a, int64_t now);
void account_on_deadline(struct account *a, int64_t now);
/* Called by the app when the account may send its request; < 0 if nothing went out
 * (the account has dealt with it; the app frees the slot). */
int account_send(struct account *a);
bool account_urgent(const struct account *a, int64_t now);
/* When the account turns urgent (0: never). */
int64_t account_urgent_at(const struct account *a);

/* Operations (from control commands). done is called exactly once. */
void account_refresh(struct account *a, op_done_t done, void *userdata);
void account_import(struct account *a, struct secret *token, bool short_lived, op_done_t done,
		    void *userdata); /* takes the token */
/* Enrolment: exchanges an authorization code (takes it) for a long-lived token. */
void account_enroll(struct account *a, struct secret *code, op_done_t done, void *userdata);
/* Facebook: inspects the token with debug_token (daily, by the schedule). */
void account_validate(struct account *a);
/* Cancels the waiting callbacks of a departing client. */
void account_forget_userdata(struct account *a, void *userdata);
/* A token to hand out: in the token cache (valid until the next cache change), or
 * a guarded copy when too long to cache. token_view_clear() when done. */
struct token_view {
	const char *data;
	size_t len;
	struct secret *owned;
};
void token_view_clear(struct token_view *v);
/* PROTO_OK with the token, or why there is none to hand out. */
enum proto_error account_read_token(struct account *a, int64_t now, struct token_view *ret);
/* Forgets a cached plaintext token (a new one, a verdict, the account leaving). */
void account_uncache(struct account *a);

/* ---- app.c ---- */
int app_new(struct manager *m, struct app_config *cfg, const struct config *c, struct app **ret);
struct app *app_free(struct app *app);
int app_configure(struct app *app, struct app_config *cfg); /* after a reload */
void app_enqueue(struct app *app, struct account *a);
void app_dequeue(struct app *app, struct account *a);
/* An answer arrived for a request of this app: rate-limit bookkeeping. */
void app_on_answer(struct app *app, const struct http_response *r, enum graph_outcome o);
bool app_paused(const struct app *app, int64_t now);
void app_dispatch(struct app *app);

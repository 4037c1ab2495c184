/* SPDX-License-Identifier: MIT */
/* One account: its state (CONTRACT section 4) and the operations that change
 * its token. A new token is sealed in the vault before it is served; a failed
 * refresh never replaces or discards the token in hand. */
#include <sodium.h>
#include <stdio.h>

#include "engine/operation.h"
#include "basic/log.h"
#include "basic/tokencache.h"
#include "meta/schedule.h"
#include "basic/util.h"
#include "store/vault.h"

static const char *const state_names[_STATE_MAX] = {
	[STATE_NO_TOKEN] = "no_token",	 [STATE_FRESH] = "fresh",
	[STATE_REFRESHING] = "refreshing", [STATE_RETRYING] = "retrying",
	[STATE_THROTTLED] = "throttled",   [STATE_EXPIRING] = "expiring",
	[STATE_EXPIRED] = "expired",	   [STATE_REAUTH_REQUIRED] = "reauth_required",
};

const char *account_state_name(enum account_state s)
{
	return s >= 0 && s < _STATE_MAX ? state_names[s] : "unknown";
}

int account_new(struct manager *m, struct account_config *cfg, struct app *app, struct account **ret)
{
	struct account *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	a->name = cfg->name;
	a->m = m;
	a->cfg = cfg;
	a->app = app;
	a->hash = schedule_account_hash(cfg->name);
	a->heap_index = SIZE_MAX;
	a->cache_slot = -1;
	a->state = a->reported = STATE_NO_TOKEN;
	*ret = a;
	return 0;
}

static void op_free(struct op *op)
{
	while (op->waiters) {
		struct waiter *w = op->waiters;
		op->waiters = w->next;
		free(w);
	}
	http_request_cancel(op->req);
	secret_free(op->token);
	secret_free(op->code);
	free(op->user_id);
	free(op->scopes);
	free(op);
}

struct account *account_free(struct account *a)
{
	if (!a)
		return NULL;
	account_uncache(a);
	if (a->app)
		app_dequeue(a->app, a);
	while (a->ops) {
		struct op *op = a->ops;
		a->ops = op->next;
		if (op->req && a->app)
			app_on_answer(a->app, NULL, GRAPH_TRANSIENT); /* frees its slot */
		op_free(op);
	}
	free(a->user_id);
	free(a->last_error);
	if (a->enroll)
		sodium_memzero(a->enroll, sizeof(*a->enroll));
	free(a->enroll);
	free(a);
	return NULL;
}

/* ---- record <-> account ---- */

void apply_record(struct account *a, const struct vault_record *r)
{
	a->has_token = true;
	a->issued_at = r->issued_at;
	a->expires_at = r->expires_at;
	a->data_access_expires_at = r->data_access_expires_at;
	a->last_refresh = r->last_refresh;
	a->last_validated = r->last_validated;
	a->next_attempt = r->next_attempt;
	a->failures = r->failures;
	a->verdict = r->verdict;
	a->token_type = r->token_type;
	a->expiry_assumed = r->expiry_assumed;
	(void)record_set_string(&a->user_id, r->user_id);
	(void)record_set_string(&a->last_error, r->last_error);
}

/* The record as the account stands, holding `token` and `scopes` (not copied). */
void fill_record(const struct account *a, struct vault_record *r, struct secret *token, char *scopes)
{
	*r = (struct vault_record){
		.token = token,
		.issued_at = a->issued_at,
		.expires_at = a->expires_at,
		.data_access_expires_at = a->data_access_expires_at,
		.last_refresh = a->last_refresh,
		.last_validated = a->last_validated,
		.next_attempt = a->next_attempt,
		.failures = a->failures,
		.verdict = a->verdict,
		.token_type = a->token_type,
		.expiry_assumed = a->expiry_assumed,
		.user_id = a->user_id,
		.scopes = scopes,
		.app_id = a->app->cfg->app_id,
		.last_error = a->last_error,
	};
}

/* Persists the account's metadata with the token (and the scopes, unless new ones
 * are given) the vault holds. Failure is
 * logged: the in-memory state stays right, a restart would resume from the older record. */
void persist_metadata(struct account *a, const char *new_scopes)
{
	_cleanup_(record_freep) struct vault_record *cur = NULL;
	struct vault_record r;
	int k = vault_load(manager_vault(a->m), a->name, &cur);

	if (k >= 0) {
		fill_record(a, &r, cur->token, (char *)(uintptr_t)(new_scopes ?: cur->scopes));
		k = vault_store(manager_vault(a->m), a->name, &r);
	}
	if (k < 0)
		log_account_errno(LOG_WARNING, k, a->name, a->app->name,
				  "cannot store the account's state in the vault: %m");
}

void account_load(struct account *a, int64_t now)
{
	_cleanup_(record_freep) struct vault_record *r = NULL;
	_cleanup_free_ char *moved = NULL;
	char why[256];
	int k = vault_load_meta(manager_vault(a->m), a->name, &r);

	if (k == 0) {
		apply_record(a, r);
		return;
	}
	a->has_token = false;
	if (k == -ENOENT)
		return;
	if (k == -EBADMSG && vault_quarantine(manager_vault(a->m), a->name, now, &moved) == 0) {
		snprintf(why, sizeof(why), "vault record did not open (corrupt or forged); moved aside as %s",
			 moved ?: "a .corrupt file");
		log_account(LOG_ERR, a->name, a->app->name, "no_token", "%s", why);
	} else {
		errno = -k;
		snprintf(why, sizeof(why), "vault record unreadable: %m");
		log_account_errno(LOG_ERR, k, a->name, a->app->name, "%s", why);
	}
	(void)record_set_string(&a->last_error, why);
}

/* ---- state and deadlines ---- */

bool expired_by_time(const struct account *a, int64_t now)
{
	return a->expires_at != 0 && now >= a->expires_at;
}

enum account_state account_compute_state(const struct account *a, int64_t now)
{
	if (!a->has_token)
		return STATE_NO_TOKEN;
	if (a->verdict == VERDICT_REAUTH)
		return STATE_REAUTH_REQUIRED;
	if (a->verdict == VERDICT_EXPIRED || expired_by_time(a, now))
		return STATE_EXPIRED;
	if (a->ops && (a->ops->kind == OP_REFRESH || a->ops->kind == OP_VALIDATE) && a->ops->req)
		return STATE_REFRESHING;
	if (a->queued && app_paused(a->app, now))
		return STATE_THROTTLED;
	if (a->failures > 0)
		return STATE_RETRYING;
	if (a->verdict == VERDICT_EXPIRING)
		return STATE_EXPIRING;
	return STATE_FRESH;
}

int64_t account_deadline(const struct account *a, int64_t now)
{
	int64_t d = 0, t;

	if (!a->has_token || a->verdict == VERDICT_REAUTH || a->verdict == VERDICT_EXPIRED ||
	    expired_by_time(a, now))
		return 0;
	if (a->expires_at)
		d = a->expires_at; /* to show `expired` on time */
	if (a->failures > 0)
		t = schedule_retry_at(&manager_config(a->m)->refresh, a->next_attempt, now);
	else if (a->verdict == VERDICT_EXPIRING)
		t = 0; /* Meta will not extend it: only a new login helps */
	else
		t = schedule_due(&manager_config(a->m)->refresh, a->issued_at, a->expires_at,
				 a->expiry_assumed, a->hash);
	if (t > 0 && (d == 0 || t < d))
		d = t;
	if (a->app->cfg->platform == PLATFORM_FACEBOOK && a->failures == 0) {
		t = a->last_validated + FB_VALIDATE_INTERVAL;
		if (d == 0 || t < d)
			d = t;
	}
	return d;
}

int64_t account_urgent_at(const struct account *a)
{
	if (a->expires_at == 0)
		return 0;
	return a->expires_at - manager_config(a->m)->refresh.before_expiry / 3;
}

bool account_urgent(const struct account *a, int64_t now)
{
	if (a->ops && !a->ops->scheduled)
		return true; /* an admin or an import is waiting for it */
	return schedule_is_urgent(&manager_config(a->m)->refresh, a->expires_at, now);
}

/* ---- operations ---- */

static const char *paused_message(const struct account *a, int64_t now, char *buf, size_t len)
{
	char d[32];
	format_duration(a->app->rl.paused_until - now, d, sizeof(d));
	snprintf(buf, len, "app '%s' is paused by Meta's rate limits for %s", a->app->name, d);
	return buf;
}

static void op_start(struct account *a);

void op_finish(struct account *a, enum proto_error e, const char *message)
{
	struct op *op = a->ops;
	struct waiter *w;

	if (!op)
		return;
	a->ops = op->next;
	w = op->waiters;
	op->waiters = NULL;
	op_free(op);
	/* settle the state first: the answers report it */
	manager_account_changed(a->m, a);
	while (w) {
		struct waiter *next = w->next;
		w->done(a, e, message, w->userdata);
		free(w);
		w = next;
	}
	if (a->ops)
		op_start(a);
}

static int add_waiter(struct op *op, op_done_t done, void *userdata)
{
	struct waiter *w, **p;

	if (!done)
		return 0;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->done = done;
	w->userdata = userdata;
	for (p = &op->waiters; *p; p = &(*p)->next)
		;
	*p = w;
	return 0;
}

static void op_push(struct account *a, struct op *op)
{
	struct op **p;
	for (p = &a->ops; *p; p = &(*p)->next)
		;
	*p = op;
	if (a->ops == op)
		op_start(a);
}

static void op_start(struct account *a)
{
	struct op *op = a->ops;
	int64_t now = now_realtime_sec();

	if (!op)
		return;
	if ((op->kind == OP_REFRESH || op->kind == OP_VALIDATE) &&
	    (!a->has_token || a->verdict == VERDICT_REAUTH || a->verdict == VERDICT_EXPIRED ||
	     expired_by_time(a, now))) {
		op_finish(a, !a->has_token ? PROTO_NO_TOKEN :
			     a->verdict == VERDICT_REAUTH ? PROTO_REAUTH_REQUIRED : PROTO_EXPIRED,
			  "the token cannot be refreshed");
		return;
	}
	if (!op->scheduled && app_paused(a->app, now)) {
		char msg[128];
		op_finish(a, PROTO_THROTTLED, paused_message(a, now, msg, sizeof(msg)));
		return;
	}
	op->step = op_first_step(a, op);
	app_enqueue(a->app, a);
	manager_account_changed(a->m, a);
}

void account_refresh(struct account *a, op_done_t done, void *userdata)
{
	int64_t now = now_realtime_sec();
	struct op *op;

	if (done && app_paused(a->app, now)) {
		/* Meta asked for quiet: an admin hears so now rather than hours later */
		char msg[128];
		done(a, PROTO_THROTTLED, paused_message(a, now, msg, sizeof(msg)), userdata);
		return;
	}
	/* one refresh per account at a time: join the one under way or waiting */
	for (op = a->ops; op; op = op->next)
		if (op->kind == OP_REFRESH) {
			op->scheduled = false;
			if (add_waiter(op, done, userdata) < 0)
				done(a, PROTO_INTERNAL, "out of memory", userdata);
			return;
		}
	op = calloc(1, sizeof(*op));
	if (!op || add_waiter(op, done, userdata) < 0) {
		free(op);
		if (done)
			done(a, PROTO_INTERNAL, "out of memory", userdata);
		return;
	}
	op->kind = OP_REFRESH;
	op->scheduled = done == NULL;
	op_push(a, op);
}

/* An operation a client waits for, carrying a secret (taken, freed on failure). */
static struct op *client_op(struct account *a, enum op_kind kind, struct secret *s, op_done_t done,
			    void *userdata)
{
	struct op *op = calloc(1, sizeof(*op));

	if (!op || add_waiter(op, done, userdata) < 0) {
		free(op);
		secret_free(s);
		done(a, PROTO_INTERNAL, "out of memory", userdata);
		return NULL;
	}
	op->kind = kind;
	return op;
}

void account_import(struct account *a, struct secret *token, bool short_lived, op_done_t done,
		    void *userdata)
{
	struct op *op = client_op(a, OP_IMPORT, token, done, userdata);

	if (!op)
		return;
	op->token = token;
	op->short_lived = short_lived;
	op_push(a, op);
}

void account_validate(struct account *a)
{
	struct op *op = calloc(1, sizeof(*op));
	if (!op)
		return;
	op->kind = OP_VALIDATE;
	op->scheduled = true;
	op_push(a, op);
}

void account_enroll(struct account *a, struct secret *code, op_done_t done, void *userdata)
{
	struct op *op = client_op(a, OP_ENROLL, code, done, userdata);

	if (!op)
		return;
	op->code = code;
	op_push(a, op);
}

void account_forget_userdata(struct account *a, void *userdata)
{
	for (struct op *op = a->ops; op; op = op->next)
		for (struct waiter **p = &op->waiters; *p;) {
			if ((*p)->userdata == userdata) {
				struct waiter *w = *p;
				*p = w->next;
				free(w);
			} else
				p = &(*p)->next;
		}
}

void account_on_deadline(struct account *a, int64_t now)
{
	if (a->ops || account_deadline(a, now) > now)
		return;
	if (expired_by_time(a, now)) {
		manager_account_changed(a->m, a);
		return;
	}
	if (a->app->cfg->platform == PLATFORM_FACEBOOK && a->failures == 0 &&
	    (a->verdict == VERDICT_EXPIRING || a->expires_at == 0 ||
	     schedule_due(&manager_config(a->m)->refresh, a->issued_at, a->expires_at, a->expiry_assumed,
			  a->hash) > now)) {
		account_validate(a);
		return;
	}
	account_refresh(a, NULL, NULL);
}

void account_uncache(struct account *a)
{
	tokencache_drop(manager_tokens(a->m), a, &a->cache_slot);
}

void token_view_clear(struct token_view *v)
{
	secret_free(v->owned);
	*v = (struct token_view){ 0 };
}

enum proto_error account_read_token(struct account *a, int64_t now, struct token_view *ret)
{
	_cleanup_(record_freep) struct vault_record *r = NULL;
	struct tokencache *cache = manager_tokens(a->m);
	int k;

	switch (account_compute_state(a, now)) {
	case STATE_NO_TOKEN: return PROTO_NO_TOKEN;
	case STATE_EXPIRED: return PROTO_EXPIRED;
	case STATE_REAUTH_REQUIRED: return PROTO_REAUTH_REQUIRED;
	default: break;
	}
	*ret = (struct token_view){ 0 };
	if (!tokencache_get(cache, a, &a->cache_slot, &ret->data, &ret->len)) {
		k = vault_load(manager_vault(a->m), a->name, &r);
		if (k < 0)
			return PROTO_INTERNAL;
		tokencache_put(cache, a, &a->cache_slot, r->token->data, r->token->len);
		if (!tokencache_get(cache, a, &a->cache_slot, &ret->data, &ret->len)) {
			ret->owned = TAKE_PTR(r->token); /* too long to cache */
			ret->data = ret->owned->data;
			ret->len = ret->owned->len;
		}
	}
	a->reads++;
	return PROTO_OK;
}

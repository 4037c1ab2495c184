/* SPDX-License-Identifier: MIT */
#include "engine/account.h"

#include <sodium.h>
#include <stdio.h>

#include "basic/log.h"
#include "basic/tokencache.h"
#include "basic/util.h"
#include "meta/schedule.h"
#include "store/vault.h"

const char *const account_state_names[_STATE_MAX] = {
	[STATE_NO_TOKEN] = "no_token",	   [STATE_FRESH] = "fresh",
	[STATE_REFRESHING] = "refreshing", [STATE_RETRYING] = "retrying",
	[STATE_THROTTLED] = "throttled",   [STATE_EXPIRING] = "expiring",
	[STATE_EXPIRED] = "expired",	   [STATE_REAUTH_REQUIRED] = "reauth_required",
};

const char *account_state_name(enum account_state s)
{
	return s >= 0 && s < _STATE_MAX ? account_state_names[s] : "unknown";
}

int account_new(const struct engine_ctx *ctx, const struct account_config *cfg, struct app *app,
		struct account **ret)
{
	struct account *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	a->ctx = ctx;
	a->name = cfg->name;
	a->cfg = cfg;
	a->app = app;
	a->hash = schedule_account_hash(cfg->name);
	a->heap_index = SIZE_MAX;
	a->cache_slot = -1;
	a->state = a->reported = STATE_NO_TOKEN;
	*ret = a;
	return 0;
}

struct account *account_free(struct account *a)
{
	if (!a)
		return NULL;
	assert(!a->ops);
	account_uncache(a);
	free(a->user_id);
	free(a->last_error);
	if (a->enroll)
		sodium_memzero(a->enroll, sizeof(*a->enroll));
	free(a->enroll);
	free(a);
	return NULL;
}

/* ---- record <-> account ---- */

static void apply_record(struct account *a, const struct vault_record *r)
{
	a->has_token = true;
	a->issued_at = r->issued_at;
	a->expires_at = r->expires_at;
	a->data_access_expires_at = r->data_access_expires_at;
	a->last_refresh = r->last_refresh;
	a->last_validated = r->last_validated;
	a->next_attempt = r->next_attempt;
	a->failures = r->failures;
	a->verdict = (enum verdict)r->verdict;
	a->token_type = r->token_type;
	a->expiry_assumed = r->expiry_assumed;
	(void)record_set_string(&a->user_id, r->user_id);
	(void)record_set_string(&a->last_error, r->last_error);
}

/* The record as the account stands, holding `token` and `scopes` (not copied). */
static void fill_record(const struct account *a, struct vault_record *r, const struct secret *token,
			const char *scopes)
{
	*r = (struct vault_record){
		.token = (struct secret *)(uintptr_t)token,
		.issued_at = a->issued_at,
		.expires_at = a->expires_at,
		.data_access_expires_at = a->data_access_expires_at,
		.last_refresh = a->last_refresh,
		.last_validated = a->last_validated,
		.next_attempt = a->next_attempt,
		.failures = a->failures,
		.verdict = (uint8_t)a->verdict,
		.token_type = a->token_type,
		.expiry_assumed = a->expiry_assumed,
		.user_id = a->user_id,
		.scopes = (char *)(uintptr_t)scopes,
		.app_id = a->app->cfg->app_id,
		.last_error = a->last_error,
	};
}

/* Persists the account's metadata with the token (and the scopes, unless new
 * ones are given) the vault holds. A failure is logged: the state in memory
 * stays right; a restart would resume from the older record. */
static void persist_metadata(struct account *a, const char *new_scopes)
{
	_cleanup_(record_freep) struct vault_record *cur = NULL;
	struct vault_record r;
	int k = vault_load(a->ctx->vault, a->name, &cur);

	if (k >= 0) {
		fill_record(a, &r, cur->token, new_scopes ?: cur->scopes);
		k = vault_store(a->ctx->vault, a->name, &r);
	}
	if (k < 0)
		log_account_errno(LOG_WARNING, k, a->name, a->app->name,
				  "cannot store the account's state in the vault: %m");
}

void account_load(struct account *a)
{
	_cleanup_(record_freep) struct vault_record *r = NULL;
	_cleanup_free_ char *moved = NULL;
	char why[256];
	int k = vault_load_meta(a->ctx->vault, a->name, &r);

	if (k == 0) {
		apply_record(a, r);
		return;
	}
	a->has_token = false;
	if (k == -ENOENT)
		return;
	if (k == -EBADMSG && vault_quarantine(a->ctx->vault, a->name, a->ctx->now(), &moved) == 0) {
		snprintf(why, sizeof(why),
			 "vault record did not open (corrupt or forged); moved aside as %s",
			 moved ?: "a .corrupt file");
		log_account(LOG_ERR, a->name, a->app->name, "no_token", "%s", why);
	} else {
		errno = -k;
		snprintf(why, sizeof(why), "vault record unreadable: %m");
		log_account_errno(LOG_ERR, k, a->name, a->app->name, "%s", why);
	}
	(void)record_set_string(&a->last_error, why);
}

/* ---- state and time ---- */

bool account_expired_by_time(const struct account *a, int64_t now)
{
	return a->expires_at != 0 && now >= a->expires_at;
}

int account_usable(const struct account *a, int64_t now)
{
	if (!a->has_token)
		return -ENOKEY;
	if (a->verdict == VERDICT_REAUTH)
		return -EKEYREVOKED;
	if (a->verdict == VERDICT_EXPIRED || account_expired_by_time(a, now))
		return -EKEYEXPIRED;
	return 0;
}

enum account_state account_compute_state(const struct account *a, int64_t now)
{
	switch (account_usable(a, now)) {
	case -ENOKEY: return STATE_NO_TOKEN;
	case -EKEYREVOKED: return STATE_REAUTH_REQUIRED;
	case -EKEYEXPIRED: return STATE_EXPIRED;
	default: break;
	}
	if (a->activity == ACTIVITY_REFRESHING)
		return STATE_REFRESHING;
	if (a->activity == ACTIVITY_WAITING && app_paused(a->app, now))
		return STATE_THROTTLED;
	if (a->failures > 0)
		return STATE_RETRYING;
	if (a->verdict == VERDICT_NOT_EXTENDED)
		return STATE_EXPIRING;
	return STATE_FRESH;
}

static const struct refresh_config *refresh_config(const struct account *a)
{
	return &a->ctx->config->refresh;
}

int64_t account_next_refresh(const struct account *a, int64_t now)
{
	if (account_usable(a, now) < 0 || a->expires_at == 0)
		return 0;
	if (a->activity == ACTIVITY_WAITING && app_paused(a->app, now))
		return a->app->rl.paused_until;
	if (a->failures > 0)
		return schedule_retry_at(refresh_config(a), a->next_attempt, now);
	if (a->verdict == VERDICT_NOT_EXTENDED)
		return 0; /* Meta will not extend it: only a new login helps */
	return schedule_due(refresh_config(a), a->issued_at, a->expires_at, a->expiry_assumed,
			    a->hash);
}

/* Facebook tokens are inspected daily (while nothing failed). */
static int64_t next_check(const struct account *a)
{
	if (a->app->cfg->platform != PLATFORM_FACEBOOK || a->failures > 0)
		return 0;
	return a->last_validated + ACCOUNT_VALIDATE_INTERVAL;
}

static int64_t earliest(int64_t a, int64_t b)
{
	return a == 0 ? b : b == 0 ? a : MIN(a, b);
}

int64_t account_deadline(const struct account *a, int64_t now)
{
	if (account_usable(a, now) < 0)
		return 0;
	/* the expiry too: to show `expired` on time */
	return earliest(earliest(a->expires_at, account_next_refresh(a, now)), next_check(a));
}

bool account_check_due(const struct account *a, int64_t now)
{
	if (a->app->cfg->platform != PLATFORM_FACEBOOK || a->failures > 0)
		return false;
	return a->verdict == VERDICT_NOT_EXTENDED || a->expires_at == 0 ||
	       schedule_due(refresh_config(a), a->issued_at, a->expires_at, a->expiry_assumed,
			    a->hash) > now;
}

int64_t account_urgent_at(const struct account *a)
{
	if (a->expires_at == 0)
		return 0;
	return a->expires_at - refresh_config(a)->before_expiry / 3;
}

bool account_urgent(const struct account *a, int64_t now)
{
	return schedule_is_urgent(refresh_config(a), a->expires_at, now);
}

void account_changed(struct account *a)
{
	a->ctx->events->changed(a, a->ctx->events_userdata);
}

void account_refreshed(struct account *a)
{
	a->ctx->events->refreshed(a, a->ctx->events_userdata);
}

/* ---- what Meta's answers do ---- */

char *account_scopes_for(struct account *a, const char *granted)
{
	_cleanup_(record_freep) struct vault_record *cur = NULL;
	char *joined = NULL;
	size_t n = 0;
	FILE *f;

	if (granted)
		return strdup(granted);
	if (vault_load_meta(a->ctx->vault, a->name, &cur) == 0 && cur->scopes)
		return TAKE_PTR(cur->scopes);
	f = open_memstream(&joined, &n);
	if (!f)
		return NULL;
	for (size_t i = 0; a->cfg->scopes && a->cfg->scopes[i]; i++)
		fprintf(f, "%s%s", i ? "," : "", a->cfg->scopes[i]);
	if (fclose(f) != 0) {
		free(joined);
		return NULL;
	}
	return joined;
}

int account_store_token(struct account *a, const struct new_token *n)
{
	_cleanup_free_ char *scopes = account_scopes_for(a, n->scopes);
	struct vault_record r;
	char fp[SECRET_FP_LEN], d[32];
	int64_t now = a->ctx->now();
	int k;

	fill_record(a, &r, n->token, scopes);
	r.issued_at = n->issued_at;
	r.expires_at = n->expires_at;
	r.data_access_expires_at = n->data_access_expires_at;
	r.last_validated = n->last_validated;
	if (n->refreshed)
		r.last_refresh = now;
	r.failures = 0;
	r.next_attempt = 0;
	r.verdict = VERDICT_OK;
	r.expiry_assumed = n->assumed;
	r.token_type = n->token_type;
	r.last_error = NULL;
	if (n->user_id)
		r.user_id = (char *)(uintptr_t)n->user_id;
	k = vault_store(a->ctx->vault, a->name, &r);
	if (k < 0)
		return k;
	account_uncache(a); /* from now on the new token, sealed, is the one served */
	apply_record(a, &r);
	secret_fingerprint(n->token, fp);
	if (a->expires_at)
		format_duration(a->expires_at - now, d, sizeof(d));
	log_account(LOG_INFO, a->name, a->app->name, NULL, "new token fp=%s sealed; expires %s%s%s",
		    fp, a->expires_at ? "in " : "never", a->expires_at ? d : "",
		    n->assumed ? " (assumed until Meta says)" : "");
	return 0;
}

void account_set_verdict(struct account *a, enum verdict v, const char *why)
{
	assert(verdict_is_standing(v));
	if (verdict_is_dead(v))
		account_uncache(a);
	a->verdict = v;
	a->failures = 0;
	(void)record_set_string(&a->last_error, why);
	persist_metadata(a, NULL);
	log_account(verdict_is_dead(v) ? LOG_ERR : LOG_WARNING, a->name, a->app->name, NULL,
		    "%s; a new login (import or enroll) is needed", why);
}

void account_note_failure(struct account *a, const char *why)
{
	const struct refresh_config *rc = refresh_config(a);
	int64_t now = a->ctx->now_ceil(), wait;
	char d[32];

	a->failures++;
	wait = schedule_backoff(rc->retry_initial, rc->retry_max, a->failures, a->ctx->random());
	/* never sleep through the expiry: try again before it, however often that is */
	if (a->expires_at && a->expires_at > now && now + wait >= a->expires_at)
		wait = MAX((a->expires_at - now) / 2, 1);
	a->next_attempt = now + wait;
	(void)record_set_string(&a->last_error, why);
	a->refresh_error++;
	persist_metadata(a, NULL);
	format_duration(wait, d, sizeof(d));
	log_account(LOG_WARNING, a->name, a->app->name, NULL,
		    "refresh failed (%u in a row): %s; next try in %s", a->failures, why, d);
}

void account_note_throttled(struct account *a, const char *why)
{
	(void)record_set_string(&a->last_error, why);
	a->refresh_throttled++;
}

void account_note_validated(struct account *a, int64_t expires_at, int64_t data_access_expires_at,
			    const char *scopes)
{
	if (expires_at >= 0)
		a->expires_at = expires_at;
	if (data_access_expires_at >= 0)
		a->data_access_expires_at = data_access_expires_at;
	a->last_validated = a->ctx->now();
	a->failures = 0;
	(void)record_set_string(&a->last_error, NULL);
	persist_metadata(a, scopes); /* what Meta says is granted now */
}

/* ---- the read path ---- */

void account_uncache(struct account *a)
{
	tokencache_drop(a->ctx->tokens, a, &a->cache_slot);
}

void token_view_clear(struct token_view *v)
{
	secret_free(v->owned);
	*v = (struct token_view){ 0 };
}

int account_read_token(struct account *a, int64_t now, struct token_view *ret)
{
	_cleanup_(record_freep) struct vault_record *r = NULL;
	struct tokencache *cache = a->ctx->tokens;
	int k = account_usable(a, now);

	if (k < 0)
		return k;
	*ret = (struct token_view){ 0 };
	if (!tokencache_get(cache, a, &a->cache_slot, &ret->data, &ret->len)) {
		k = vault_load(a->ctx->vault, a->name, &r);
		if (k < 0)
			return -EIO;
		tokencache_put(cache, a, &a->cache_slot, r->token->data, r->token->len);
		if (!tokencache_get(cache, a, &a->cache_slot, &ret->data, &ret->len)) {
			ret->owned = TAKE_PTR(r->token); /* too long to cache */
			ret->data = ret->owned->data;
			ret->len = ret->owned->len;
		}
	}
	a->reads++;
	return 0;
}

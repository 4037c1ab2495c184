/* SPDX-License-Identifier: MIT */
#include "engine/account.h"

#include <sodium.h>
#include <stdio.h>
#include <time.h>

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
	a->store_rev = -1;
	a->state = a->reported = STATE_NO_TOKEN;
	*ret = a;
	return 0;
}

static const struct rl_state rl_none = {
	.usage = { .call_count = -1, .total_time = -1, .total_cputime = -1 },
};

const struct rl_state *account_rl(const struct account *a)
{
	return a->rl ? a->rl : &rl_none;
}

struct rl_state *account_rl_take(struct account *a)
{
	if (!a->rl && (a->rl = malloc(sizeof(*a->rl))))
		*a->rl = rl_none;
	return a->rl;
}

void account_rl_settle(struct account *a, int64_t now)
{
	const struct rl_state *s = a->rl;

	if (s && s->paused_until <= now && !s->throttle_count && !s->backoff_level && !s->probe &&
	    (s->usage.at == 0 || now - s->usage.at >= RL_USAGE_TTL))
		a->rl = mfree(a->rl);
}

struct account *account_free(struct account *a)
{
	if (!a)
		return NULL;
	assert(!a->ops);
	if (a->write)
		a->write->account = NULL; /* it lands all the same */
	account_uncache(a);
	free(a->rl);
	free(a->user_id);
	free(a->username);
	free(a->last_error);
	free(a->missing_scopes);
	if (a->enroll)
		sodium_memzero(a->enroll, sizeof(*a->enroll));
	free(a->enroll);
	free(a);
	return NULL;
}

/* ---- state and time ---- */

bool account_expired_by_time(const struct account *a, int64_t now)
{
	return a->expires_at != 0 && now >= a->expires_at;
}

int account_usable(const struct account *a, int64_t now)
{
	if (!a->has_token)
		return a->verdict == VERDICT_REAUTH ? -EKEYREVOKED : -ENOKEY;
	if (a->verdict == VERDICT_REAUTH || a->verdict == VERDICT_REAUTH_RECOVERABLE)
		return -EKEYREVOKED;
	if (a->verdict == VERDICT_EXPIRED || account_expired_by_time(a, now))
		return -EKEYEXPIRED;
	return 0;
}

bool account_checkable(const struct account *a, int64_t now)
{
	int k = account_usable(a, now);

	return k == 0 ||
	       (k == -EKEYREVOKED && a->has_token && a->verdict == VERDICT_REAUTH_RECOVERABLE &&
		!account_expired_by_time(a, now));
}

bool account_paused(const struct account *a, int64_t now)
{
	return account_rl(a)->paused_until > now || app_paused(a->app, now);
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
	if (account_rl(a)->paused_until > now ||
	    (a->activity == ACTIVITY_WAITING && app_paused(a->app, now)))
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
	if (account_rl(a)->paused_until > now)
		return account_rl(a)->paused_until;
	if (a->activity == ACTIVITY_WAITING && app_paused(a->app, now))
		return a->app->rl.paused_until;
	if (a->failures > 0)
		return schedule_retry_at(refresh_config(a), a->next_attempt, now);
	if (a->verdict == VERDICT_NOT_EXTENDED)
		return 0; /* Meta will not extend it: only a new login helps */
	return schedule_due(refresh_config(a), a->issued_at, a->expires_at, a->expiry_assumed,
			    a->hash);
}

int64_t account_next_check(const struct account *a, int64_t now)
{
	int64_t t;

	if (!account_checkable(a, now))
		return 0;
	/* never checked (a facebook token just exchanged): now, to learn its scopes and data access
	 */
	t = a->last_validated ? schedule_check_due(refresh_config(a), a->last_validated, a->hash)
			      : 1;
	t = MAX(t, MAX(a->check_not_before, a->check_retry_at));
	/* while Meta has the account or its app paused, a check would only add to it */
	return MAX(t, MAX(account_rl(a)->paused_until, a->app->rl.paused_until));
}

static int64_t earliest(int64_t a, int64_t b)
{
	return a == 0 ? b : b == 0 ? a : MIN(a, b);
}

/* Cluster mode: whether another host calls Meta for it now. */
static bool held_elsewhere(const struct account *a)
{
	const struct engine_cluster *c = a->ctx->cluster;

	return c && !c->owns(c->userdata, a);
}

int64_t account_deadline(const struct account *a, int64_t now)
{
	int64_t check = account_next_check(a, now), refresh;

	if (held_elsewhere(a)) /* its owner refreshes it: only the expiry, to show it */
		return account_usable(a, now) < 0 ? 0 : a->expires_at;
	if (account_usable(a, now) < 0)
		return check;
	refresh = account_next_refresh(a, now);
	/* cluster mode: another host's intent stands, or the lease's margin was short */
	if (refresh && refresh < a->cluster_wait_until)
		refresh = a->cluster_wait_until;
	if (check && check < a->cluster_wait_until)
		check = a->cluster_wait_until;
	/* the expiry too: to show `expired` on time */
	return earliest(earliest(a->expires_at, refresh), check);
}

int64_t account_too_early(const struct account *a, int64_t now)
{
	int64_t t = a->issued_at + refresh_config(a)->min_age;

	return a->has_token && a->expires_at != 0 && t > now ? t : 0;
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

void account_adopted(struct account *a)
{
	if (a->ctx->events->adopted)
		a->ctx->events->adopted(a, a->ctx->events_userdata);
}

void account_written(struct account *a)
{
	if (a->ctx->events->written)
		a->ctx->events->written(a, a->ctx->events_userdata);
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
	bool cached;

	if (k < 0)
		return k;
	*ret = (struct token_view){ 0 };
	cached = tokencache_get(cache, a, &a->cache_slot, &ret->data, &ret->len);
	if (!cached && a->write) {
		/* the vault's file may hold the new token before it is durable */
		if (!a->write->old)
			return -EIO;
		ret->data = a->write->old->data;
		ret->len = a->write->old->len;
	} else if (!cached) {
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

const char *account_paused_message(const struct account *a, int64_t now, char *buf, size_t len)
{
	char d[32];

	if (account_rl(a)->paused_until > now) {
		format_duration(account_rl(a)->paused_until - now, d, sizeof(d));
		snprintf(buf, len, "account '%s' is paused by Meta's rate limits for %s", a->name,
			 d);
	} else {
		format_duration(a->app->rl.paused_until - now, d, sizeof(d));
		snprintf(buf, len, "app '%s' is paused by Meta's rate limits for %s", a->app->name,
			 d);
	}
	return buf;
}

const char *account_too_early_message(const struct account *a, int64_t when, int64_t now, char *buf,
				      size_t len)
{
	char age[32], wait[32], at[64];
	time_t t = (time_t)when;
	struct tm tm;

	format_duration(now - a->issued_at, age, sizeof(age));
	format_duration(when - now, wait, sizeof(wait));
	gmtime_r(&t, &tm);
	strftime(at, sizeof(at), "%Y-%m-%d %H:%M:%S UTC", &tm);
	snprintf(buf, len,
		 "the token is %s old and Meta refreshes tokens only once they are min_age old: "
		 "refresh after %s (in %s)",
		 age, at, wait);
	return buf;
}

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

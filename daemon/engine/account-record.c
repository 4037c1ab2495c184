/* SPDX-License-Identifier: MIT */
#include "engine/account-record.h"

#include <sodium.h>
#include <stdio.h>

#include "basic/log.h"
#include "basic/util.h"
#include "meta/schedule.h"
#include "store/vault.h"

static const struct refresh_config *refresh_config(const struct account *a)
{
	return &a->ctx->config->refresh;
}

/* ---- record <-> account ---- */

static bool scope_listed(const char *list, const char *scope)
{
	size_t n = strlen(scope);

	for (const char *p = list; p && *p; p += strcspn(p, ","), p += *p == ',') {
		size_t k = strcspn(p, ",");
		while (k > 0 && p[k - 1] == ' ')
			k--;
		while (k > 0 && *p == ' ')
			p++, k--;
		if (k == n && strncmp(p, scope, n) == 0)
			return true;
	}
	return false;
}

/* The configured scopes Meta did not grant (granted: its comma list, NULL unknown). */
static void note_granted(struct account *a, const char *granted)
{
	_cleanup_free_ char *missing = NULL;
	size_t n = 0;
	FILE *f;

	a->missing_scopes = mfree(a->missing_scopes);
	if (!granted)
		return;
	f = open_memstream(&missing, &n);
	if (!f)
		return;
	for (size_t i = 0; a->cfg->scopes && a->cfg->scopes[i]; i++)
		if (!scope_listed(granted, a->cfg->scopes[i]))
			fprintf(f, "%s%s", ftell(f) ? "," : "", a->cfg->scopes[i]);
	if (fclose(f) == 0 && n > 0)
		a->missing_scopes = TAKE_PTR(missing);
}

void account_apply_token(struct account *a, const struct vault_record *r)
{
	a->has_token = !r->no_token;
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
	a->generation = r->generation;
	(void)record_set_string(&a->user_id, r->user_id);
	(void)record_set_string(&a->username, r->username);
	(void)record_set_string(&a->last_error, r->last_error);
	note_granted(a, a->has_token ? r->scopes : NULL);
}

void account_apply_record(struct account *a, const struct vault_record *r)
{
	account_apply_token(a, r);
	if (a->rl || r->paused_until || r->pause_level || r->throttle_count) {
		struct rl_state *s = account_rl_take(a);
		if (s) {
			s->paused_until = r->paused_until;
			s->backoff_level = r->pause_level;
			s->throttle_count = r->throttle_count;
			s->probe = r->paused_until > 0;
		}
	}
}

void account_fill_record(const struct account *a, struct vault_record *r,
			 const struct secret *token, const char *scopes)
{
	*r = (struct vault_record){
		.token = (struct secret *)(uintptr_t)token,
		.no_token = !token,
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
		.username = a->username,
		.scopes = (char *)(uintptr_t)scopes,
		.app_id = a->app->cfg->app_id,
		.last_error = a->last_error,
		.paused_until = account_rl(a)->paused_until,
		.pause_level = account_rl(a)->backoff_level,
		.throttle_count = account_rl(a)->throttle_count,
		.generation = a->generation,
	};
}

void account_token_changed(struct account *a)
{
	if (a->ctx->cluster)
		a->ctx->cluster->token_changed(a->ctx->cluster->userdata, a);
}

/* Persists the account's metadata with the token (and the scopes, unless new
 * ones are given) the vault holds. A failure is logged: the state in memory
 * stays right; a restart would resume from the older record. */
void account_persist_metadata(struct account *a, const char *new_scopes)
{
	_cleanup_(record_freep) struct vault_record *cur = NULL;
	struct vault_record r;
	int k;

	if (a->write) {
		/* the record on disk is about to change: this follows it */
		a->write->persist_after = true;
		(void)record_set_string(&a->write->scopes, new_scopes);
		return;
	}
	k = vault_load(a->ctx->vault, a->name, &cur);
	if (k >= 0) {
		account_fill_record(a, &r, cur->token, new_scopes ?: cur->scopes);
		k = vault_store(a->ctx->vault, a->name, &r);
	}
	if (k < 0)
		log_account_errno(LOG_WARNING, k, a->name, a->app->name,
				  "cannot store the account's state in the vault: %m");
	else if (new_scopes)
		note_granted(a, new_scopes);
}

void account_persist(struct account *a)
{
	if (a->has_token || a->verdict != VERDICT_OK)
		account_persist_metadata(a, NULL);
}

/* Checks overdue when the account is loaded (a restart after a while, records
 * written by an older version) start within a tenth of validate_every, each at
 * its own moment: never all at once. */
static void spread_overdue_check(struct account *a)
{
	const struct refresh_config *rc = &a->ctx->config->refresh;
	int64_t now = a->ctx->now(), spread = MAX(rc->validate_every / 10, 1);

	a->check_not_before = 0;
	a->check_retry_at = 0;
	a->check_failures = 0;
	if (account_next_check(a, now) <= now)
		a->check_not_before = now + (int64_t)(a->hash % (uint64_t)spread);
}

void account_reconfigure(struct account *a, const struct account_config *cfg)
{
	_cleanup_(record_freep) struct vault_record *r = NULL;
	bool changed = !strv_equal(a->cfg->scopes, cfg->scopes);

	a->cfg = cfg;
	a->name = cfg->name;
	if (changed && a->has_token && vault_load_meta(a->ctx->vault, a->name, &r) == 0)
		note_granted(a, r->scopes);
}

void account_load(struct account *a)
{
	_cleanup_(record_freep) struct vault_record *r = NULL;
	_cleanup_free_ char *moved = NULL;
	char why[256];
	int k = vault_load_meta(a->ctx->vault, a->name, &r);

	if (k == 0) {
		account_apply_record(a, r);
		spread_overdue_check(a);
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

/* ---- what Meta's answers do ---- */

void account_set_verdict(struct account *a, enum verdict v, const char *why)
{
	assert(verdict_is_standing(v));
	if (verdict_is_dead(v))
		account_uncache(a);
	if (v == VERDICT_EXPIRED)
		a->refresh_expired++;
	else if (v == VERDICT_REAUTH || v == VERDICT_REAUTH_RECOVERABLE)
		a->refresh_revoked++;
	a->verdict = v;
	a->failures = 0;
	a->check_retry_at = 0;
	a->check_failures = 0;
	(void)record_set_string(&a->last_error, why);
	account_persist_metadata(a, NULL);
	if (v == VERDICT_REAUTH_RECOVERABLE)
		log_account(LOG_ERR, a->name, a->app->name, NULL, "%s", why);
	else
		log_account(verdict_is_dead(v) ? LOG_ERR : LOG_WARNING, a->name, a->app->name, NULL,
			    "%s; a new login (import or enroll) is needed", why);
}

int account_wipe_token(struct account *a, enum verdict v, const char *why)
{
	struct vault_record r;
	int k;

	/* what is known about the account stays; the token does not. The record
	 * first: a token still sealed must not come back at the next start unseen. */
	account_fill_record(a, &r, NULL, NULL);
	if (a->write)
		a->write->superseded = true; /* and vault_store() comes after it */
	r.verdict = (uint8_t)v;
	r.failures = 0;
	r.next_attempt = 0;
	r.expiry_assumed = false;
	r.last_error = (char *)(uintptr_t)why;
	r.generation = a->generation + 1;
	k = vault_store(a->ctx->vault, a->name, &r);
	if (k < 0) {
		log_account_errno(LOG_ERR, k, a->name, a->app->name,
				  "cannot overwrite the vault record, the token stays: %m");
		return k;
	}
	account_uncache(a);
	account_apply_record(a, &r);
	log_account(LOG_WARNING, a->name, a->app->name, NULL, "token wiped: %s", why);
	account_token_changed(a);
	return 0;
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
	account_persist_metadata(a, NULL);
	format_duration(wait, d, sizeof(d));
	log_account(LOG_WARNING, a->name, a->app->name, NULL,
		    "refresh failed (%u in a row): %s; next try in %s", a->failures, why, d);
}

void account_note_throttled(struct account *a, const char *why)
{
	(void)record_set_string(&a->last_error, why);
	a->refresh_throttled++;
}

void account_note_validated(struct account *a, const struct check_facts *f, bool refresh)
{
	bool back = a->verdict == VERDICT_REAUTH_RECOVERABLE;

	if (f->expires_at >= 0)
		a->expires_at = f->expires_at;
	if (f->data_access_expires_at >= 0)
		a->data_access_expires_at = f->data_access_expires_at;
	if (f->username)
		(void)record_set_string(&a->username, f->username);
	if (f->token_type >= 0)
		a->token_type = (uint8_t)f->token_type;
	a->last_validated = a->ctx->now();
	a->check_retry_at = 0;
	a->check_failures = 0;
	if (back) {
		a->verdict = VERDICT_OK;
		log_account(LOG_NOTICE, a->name, a->app->name, NULL,
			    "Meta accepts the token again: served again");
	}
	if (refresh)
		a->failures = 0;
	if (refresh || back)
		(void)record_set_string(&a->last_error, NULL);
	account_persist_metadata(a, f->scopes); /* what Meta says is granted now */
}

void account_note_check_failed(struct account *a, const char *why)
{
	const struct refresh_config *rc = refresh_config(a);
	int64_t wait;
	char d[32];

	a->check_failures++;
	wait = schedule_backoff(rc->retry_initial, rc->retry_max, a->check_failures,
				a->ctx->random());
	/* never later than the next regular check */
	wait = MIN(wait, rc->validate_every);
	a->check_retry_at = a->ctx->now_ceil() + wait;
	format_duration(wait, d, sizeof(d));
	log_account(LOG_INFO, a->name, a->app->name, NULL,
		    "check not answered (%s); nothing changes, next check in %s", why, d);
}

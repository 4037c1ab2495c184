/* SPDX-License-Identifier: MIT */
#include "engine/token-write.h"

#include <stdio.h>

#include "basic/log.h"
#include "basic/util.h"
#include "engine/account-record.h"
#include "store/vault.h"

static void token_write_free(struct token_write *w)
{
	secret_free(w->old);
	record_free(w->rec);
	free(w->scopes);
	free(w->host);
	free(w);
}

/* From now on the new token, durable, is the one served. */
static void took_token(struct account *a, const struct vault_record *r)
{
	char fp[SECRET_FP_LEN], d[32];

	account_uncache(a);
	account_apply_token(a, r);
	a->check_retry_at = 0;
	a->check_failures = 0;
	secret_fingerprint(r->token, fp);
	if (a->expires_at)
		format_duration(a->expires_at - a->ctx->now(), d, sizeof(d));
	log_account(LOG_INFO, a->name, a->app->name, NULL, "new token fp=%s sealed; expires %s%s%s",
		    fp, a->expires_at ? "in " : "never", a->expires_at ? d : "",
		    r->expiry_assumed ? " (assumed until Meta says)" : "");
}

/* Another host's record, durable here: the account's from now on. */
static void took_record(struct account *a, const struct vault_record *r, const char *host)
{
	char fp[SECRET_FP_LEN];

	account_uncache(a);
	account_apply_record(a, r);
	a->check_retry_at = 0;
	a->check_failures = 0;
	/* a wait for another host's intent ends: that refresh committed this, or
	 * can no longer commit (its base is gone); the schedule is the token's */
	a->cluster_wait_until = 0;
	secret_fingerprint(r->token, fp);
	log_account(LOG_INFO, a->name, a->app->name, NULL,
		    "%s fp=%s from host %s (generation %lld)",
		    r->token ? "new token" : "token wiped", r->token ? fp : "-", host ?: "?",
		    (long long)r->generation);
	account_changed(a);
	if (r->token)
		account_adopted(a);
}

static void token_written(int error, void *userdata)
{
	struct token_write *w = userdata;
	struct account *a = w->account;
	token_stored_t done = w->done;
	void *done_userdata = w->userdata;

	if (a) {
		a->write = NULL;
		if (w->superseded)
			error = -ECANCELED;
		else if (error == 0 && w->adopt) {
			took_record(a, w->rec, w->host);
			a->store_rev = w->store_rev;
		} else if (error == 0)
			took_token(a, w->rec);
		else if (w->adopt)
			log_account_errno(LOG_ERR, error, a->name, a->app->name,
					  "cannot write the cluster store's record to the vault: "
					  "%m");
		if (w->persist_after)
			account_persist_metadata(a, w->scopes);
		if (error == 0 && !w->adopt)
			account_token_changed(a); /* ours: to the other hosts */
		account_written(a);		  /* an operation held back by it may start */
	}
	token_write_free(w);
	if (a && done)
		done(a, error, done_userdata);
}

/* The token served until the new one is durable. */
static struct secret *served_token(struct account *a, struct secret **served)
{
	_cleanup_(record_freep) struct vault_record *cur = NULL;

	if (*served || !a->has_token)
		return TAKE_PTR(*served);
	if (vault_load(a->ctx->vault, a->name, &cur) < 0)
		return NULL;
	return TAKE_PTR(cur->token);
}

int account_store_token(struct account *a, struct new_token *n, token_stored_t done, void *userdata)
{
	_cleanup_free_ char *scopes = account_scopes_for(a, n->scopes);
	_cleanup_secret_ struct secret *plain = NULL, *served = TAKE_PTR(n->served);
	struct token_write *w;
	struct vault_record r;
	int k;

	assert(!a->write); /* one operation at a time */
	account_fill_record(a, &r, n->token, scopes);
	r.issued_at = n->issued_at;
	r.expires_at = n->expires_at;
	r.data_access_expires_at = n->data_access_expires_at;
	r.last_validated = n->last_validated;
	if (n->refreshed)
		r.last_refresh = a->ctx->now();
	r.failures = 0;
	r.next_attempt = 0;
	r.verdict = VERDICT_OK;
	r.expiry_assumed = n->assumed;
	r.token_type = n->token_type;
	r.last_error = NULL;
	r.generation = a->generation + 1;
	if (n->user_id)
		r.user_id = (char *)(uintptr_t)n->user_id;
	if (n->username)
		r.username = (char *)(uintptr_t)n->username;
	if (!a->ctx->written) {
		/* no event loop (tests): written here */
		k = vault_store(a->ctx->vault, a->name, &r);
		if (k < 0)
			return k;
		took_token(a, &r);
		account_token_changed(a);
		return 1;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	k = record_encode(&r, &plain);
	if (k >= 0)
		k = record_decode(plain->data, plain->len, &w->rec);
	/* read before the write is queued: the writer thread empties the old
	 * file once it has exchanged it, maybe under a read of it */
	if (k >= 0)
		w->old = served_token(a, &served);
	if (k >= 0)
		k = vault_store_async(a->ctx->vault, a->name, plain, token_written, w);
	if (k < 0) {
		token_write_free(w);
		return k;
	}
	w->account = a;
	w->done = done;
	w->userdata = userdata;
	a->write = w;
	return 0;
}

void account_store_forget(struct account *a)
{
	if (a->write)
		a->write->done = NULL;
}

/* Another host's token, written by the vault's writer thread: an fsync on the
 * event loop per token another host refreshed would stall every read here. */
static int take_record_async(struct account *a, const struct vault_record *r, const char *host,
			     int64_t store_rev)
{
	_cleanup_secret_ struct secret *plain = NULL;
	struct token_write *w = calloc(1, sizeof(*w));
	int k = w ? 0 : -ENOMEM;

	if (k == 0 && !(w->host = strdup(host ?: "?")))
		k = -ENOMEM;
	if (k == 0)
		k = record_encode(r, &plain);
	if (k >= 0)
		k = record_decode(plain->data, plain->len, &w->rec);
	if (k >= 0 && !a->write) {
		struct secret *none = NULL;
		w->old = served_token(a, &none); /* before the write is queued, as above */
	}
	if (k >= 0)
		k = vault_store_async(a->ctx->vault, a->name, plain, token_written, w);
	if (k < 0) {
		if (w)
			token_write_free(w);
		return k;
	}
	if (a->write) {
		/* an older record of the store's on its way: it lands first (writes of
		 * one name keep their order), and is not taken */
		w->old = TAKE_PTR(a->write->old);
		a->write->account = NULL;
	}
	w->account = a;
	w->adopt = true;
	w->store_rev = store_rev;
	a->write = w;
	return 1;
}

bool account_taking(const struct account *a, int64_t store_rev)
{
	return a->write && a->write->adopt && a->write->store_rev >= store_rev;
}

int account_take_record(struct account *a, const struct vault_record *r, const char *host,
			int64_t store_rev)
{
	bool held = false;
	int k;

	if (a->write && !a->write->adopt)
		return -EBUSY; /* a token of its own is on its way: after it */
	/* An operation under way would store its token over a record not yet
	 * taken: with one, the record is written here, as is a wipe. */
	if (r->token && a->ctx->written && !a->ops)
		return take_record_async(a, r, host, store_rev);
	if (a->write) {
		/* an older record of the store's on its way: it lands first (the
		 * write below waits for it), and is not taken */
		a->write->account = NULL;
		a->write = NULL;
		held = true;
	}
	k = vault_store(a->ctx->vault, a->name, r);
	if (k >= 0) {
		took_record(a, r, host);
		a->store_rev = store_rev;
	}
	if (held)
		account_written(a);
	return k < 0 ? k : 0;
}

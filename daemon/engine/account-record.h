/* SPDX-License-Identifier: MIT */
#pragma once

/* An account and its vault record: reading it, and every change Meta's answers
 * make to the account, written to the record first (a new token is sealed before
 * it is served; a wiped token is gone from the record before it is from memory). */

#include "engine/account.h"

/* Reads the record's metadata from the vault (a record that does not open is quarantined). */
void account_load(struct account *a);
/* After a reload: the account's new configuration (its scopes may differ). */
void account_reconfigure(struct account *a, const struct account_config *cfg);

/* ---- what Meta's answers do ---- */

/* Meta's verdict on the token in hand (EXPIRED, REAUTH, REAUTH_RECOVERABLE, NOT_EXTENDED). */
void account_set_verdict(struct account *a, enum verdict v, const char *why);
/* The token is wiped (memory, vault record; the sink follows the state): after
 * `revoke` the account has no token, after a deauthorization (verdict REAUTH)
 * it is reauth_required, and a restart says the same. */
int account_wipe_token(struct account *a, enum verdict v, const char *why);
/* A failed refresh: the token in hand is kept; the next try backs off. */
void account_note_failure(struct account *a, const char *why);
/* Throttled: not the token's fault; the app's pause decides when it goes again. */
void account_note_throttled(struct account *a, const char *why);
/* Meta said the token is good (a check, or debug_token as a refresh): what it
 * said of it now (expires_at, data_access_expires_at: -1 unknown; strings NULL
 * unknown). A recoverable verdict ends; with `refresh`, failures end too. */
struct check_facts {
	int64_t expires_at, data_access_expires_at;
	const char *scopes, *username;
	int token_type; /* -1 unknown */
};
void account_note_validated(struct account *a, const struct check_facts *f, bool refresh);
/* A check that Meta did not answer about the token (transient, throttled, the
 * app's credentials): nothing changes; the next check backs off. */
void account_note_check_failed(struct account *a, const char *why);
/* The account's own rate-limit state changed: stored, so that a restart keeps the pause. */
void account_persist(struct account *a);

/* ---- the record and the account, for engine/token-write.c ---- */

/* What a new token brings with it (and a wiped one takes away). */
void account_apply_token(struct account *a, const struct vault_record *r);
/* The same, with the rate-limit state the record holds. */
void account_apply_record(struct account *a, const struct vault_record *r);
/* The record as the account stands, holding `token` and `scopes` (not copied). */
void account_fill_record(const struct account *a, struct vault_record *r,
			 const struct secret *token, const char *scopes);
/* The account's token changed in the vault: cluster mode tells the other hosts. */
void account_token_changed(struct account *a);
/* Persists the account's metadata with the token (and the scopes, unless new
 * ones are given) the vault holds; with a write under way, after it. */
void account_persist_metadata(struct account *a, const char *new_scopes);

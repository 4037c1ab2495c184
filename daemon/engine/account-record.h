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

struct new_token {
	const struct secret *token;
	struct secret *served;	       /* the token served now, if at hand (taken), or NULL */
	int64_t issued_at, expires_at; /* expires_at 0: never */
	int64_t data_access_expires_at, last_validated;
	bool refreshed, assumed;
	const char *user_id, *username, *scopes;
	uint8_t token_type;
};

/* Seals a new token, has the vault's writer thread write it, and only once it
 * is durable makes it the one served (the old one is served meanwhile), then
 * done(a, 0 or a negative errno, userdata) runs from the event loop; -ECANCELED:
 * the token was wiped meanwhile. 0: under way. 1: written and served already,
 * done does not run (no event loop: tests). Negative: failed, nothing changed. */
int account_store_token(struct account *a, struct new_token *n, token_stored_t done,
			void *userdata);
/* The write under way reports to nobody (its operation is gone); the account
 * still takes the token when it lands. */
void account_store_forget(struct account *a);
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
/* Cluster mode: a record another host committed to the store (a newer
 * generation) becomes the account's: written to the vault, then served.
 * -EBUSY while a token of its own is being written. */
int account_take_record(struct account *a, const struct vault_record *r, const char *host);
/* The account's own rate-limit state changed: stored, so that a restart keeps the pause. */
void account_persist(struct account *a);

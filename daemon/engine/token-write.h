/* SPDX-License-Identifier: MIT */
#pragma once

/* A new token on its way to the vault: sealed, written by the vault's writer
 * thread off the event loop, and served only once it is durable (the old one
 * is served meanwhile); in cluster mode, another host's record the same way. */

#include "engine/account.h"

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
/* Cluster mode: a record another host committed to the store (a newer
 * generation, at the store's revision store_rev, newer than any on its way:
 * account_taking() false) becomes the account's:
 * written to the vault, then served, and a->store_rev is store_rev.
 * 1: a token, written by the vault's writer thread (the event loop goes on
 * serving the old one), taken once durable; an operation of the account waits
 * until then. 0: taken already (a wipe, an operation under way, no event
 * loop: written here). -EBUSY while a token of its own is being written;
 * other negative: failed, nothing changed. */
int account_take_record(struct account *a, const struct vault_record *r, const char *host,
			int64_t store_rev);
/* Whether a record of the store's at store_rev or later is on its way to the
 * vault (what the account holds until it lands is older). */
bool account_taking(const struct account *a, int64_t store_rev);

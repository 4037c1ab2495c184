/* SPDX-License-Identifier: MIT */
#pragma once

/* How a token changes in the store (CLUSTER.md, "Writes: two fences"), over
 * sealed bytes this module does not open:
 *
 *  - the intent, right before an owner calls Meta about an account's token:
 *      If(CREATE(apps/<app>/owner) == epoch) If(MOD(tok/<a>) == base)
 *      If(MOD(intent/<a>) == intent_mod)
 *      Then(Put(intent/<a>)) Else(Range(tok/<a>), Range(apps/<app>/owner), Range(intent/<a>))
 *    so only the owner of that epoch, about the token it read, says it is
 *    calling; a new owner that finds a foreign intent on the current revision
 *    waits instead of refreshing the same token again;
 *
 *  - the commit of Meta's answer:
 *      If(MOD(tok/<a>) == base) Then(Put(tok/<a>), Delete(intent/<a>)) Else(Range(tok/<a>))
 *    compare-and-swap on the token key's revision, not on ownership: a deposed
 *    owner's late but legitimate token still wins, and no token is replaced by
 *    one refreshed from an older base;
 *
 *  - after an answer that may or may not have been applied, the key read back. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/etcd.h"

struct cluster_tok_result {
	int error; /* the store did not answer (maybe_applied: read back) */
	bool maybe_applied;
	bool done;	    /* the intent is written / the token committed */
	bool owner_changed; /* intent refused: the app's owner is not of that epoch */
	int64_t revision;   /* done: the key written's new mod revision (commit, intent) */
	/* refused: the token key as it is now (value NULL, mod 0: none) */
	const unsigned char *value;
	size_t value_len;
	int64_t mod_revision;
	/* read back, or an intent refused: the intent's value (NULL: none) and revision */
	const char *intent;
	int64_t intent_mod;
};
typedef void (*cluster_tok_cb_t)(const struct cluster_tok_result *r, void *userdata);

/* key names under prefix: tok/<account>, intent/<account>, apps/<app>/owner */
struct cluster_tok_keys {
	char *tok, *intent, *owner;
};
int cluster_tok_keys(const char *prefix, const char *account, const char *app,
		     struct cluster_tok_keys *ret);
void cluster_tok_keys_clear(struct cluster_tok_keys *k);

/* intent_mod: the intent key's revision as read (0: none), so that an intent
 * of another host is replaced only knowingly. */
int cluster_tok_intent(struct etcd_client *c, const struct cluster_tok_keys *k, int64_t epoch,
		       int64_t base, int64_t intent_mod, const char *intent_json,
		       cluster_tok_cb_t cb, void *userdata);
/* An intent given up before Meta was asked: If(MOD(intent/<a>) == mod) Then(Delete). */
int cluster_tok_withdraw(struct etcd_client *c, const struct cluster_tok_keys *k, int64_t mod,
			 cluster_tok_cb_t cb, void *userdata);
int cluster_tok_commit(struct etcd_client *c, const struct cluster_tok_keys *k, int64_t base,
		       const unsigned char *sealed, size_t len, cluster_tok_cb_t cb,
		       void *userdata);
/* A value only the app's owner of that epoch may write (its rate-limit state):
 * If(CREATE(apps/<app>/owner) == epoch) Then(Put(key)). done: written. */
int cluster_tok_put_fenced(struct etcd_client *c, const char *owner_key, int64_t epoch,
			   const char *key, const unsigned char *value, size_t len,
			   cluster_tok_cb_t cb, void *userdata);
/* The token and intent keys as they are (done: the token key holds exactly
 * `sealed`, when given: a commit that may have been applied was). */
int cluster_tok_read(struct etcd_client *c, const struct cluster_tok_keys *k,
		     const unsigned char *sealed, size_t len, cluster_tok_cb_t cb, void *userdata);

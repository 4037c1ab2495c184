/* SPDX-License-Identifier: MIT */
#pragma once

/* Cluster mode (CONTRACT 13, CLUSTER.md): this host's link to the etcd store
 * several hosts share. It checks the store's key check first (a host with
 * another key exits and writes nothing), then keeps the host's session lease,
 * claims apps (cluster/owner.h), brings the store's tokens into the local
 * vault and keeps them coming (one range, then a watch), and gives the engine
 * what it asks before a Meta call and after a token changed
 * (struct engine_cluster):
 *
 *  - owns: the store has been read and the app's owner key names this host
 *    (what the account's deadlines are filed by);
 *  - may_call, right before each request: the same, under a lease surely
 *    alive until a request started now has ended (refresh.timeout + 1s), and
 *    the account's vault record known to be the store's latest;
 *  - intent: intent/<account> written in a txn that checks the owner's epoch
 *    and the token's revision (cluster/tokens.h); another host's intent makes
 *    the refresh wait (until it is gone, 10 minutes old, or the token urgent);
 *  - token_changed: the vault record, already durable here (it is the local
 *    journal of Meta's answer), committed by compare-and-swap on the token
 *    key's revision; a record of a newer generation in the store wins over
 *    ours, and ours is pushed again later if the store could not be asked.
 *
 * The local vault stays the read path: nothing here is on it, and READY does
 * not wait for the store. */

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "conf/config.h"
#include "engine/cluster-sync.h"
#include "store/vault.h"

int cluster_link_new(sd_event *e, const struct config *c, struct vault *v,
		     const struct cluster_link_ops *ops, void *userdata, struct cluster_link **ret);
/* At once; the lease lapses by itself. */
struct cluster_link *cluster_link_free(struct cluster_link *l);
/* A clean stop: the lease is revoked (other hosts take over at once), then
 * done(userdata). < 0: nothing to revoke, done does not run. */
int cluster_link_stop(struct cluster_link *l, void (*done)(void *userdata), void *userdata);
/* After a reload: the store is read again (new accounts); a change of the
 * cluster settings or of the apps takes effect at the next start (said). */
void cluster_link_reloaded(struct cluster_link *l, const struct config *c);
const struct engine_cluster *cluster_link_engine(const struct cluster_link *l);

/* For status and metrics. */
const char *cluster_link_name(const struct cluster_link *l);
const char *cluster_link_host(const struct cluster_link *l);
bool cluster_link_store_up(const struct cluster_link *l);
const char *cluster_link_error(const struct cluster_link *l);
char *const *cluster_link_hosts(const struct cluster_link *l, size_t *ret_n);
/* The app's owner as last read (NULL: none known). */
const char *cluster_link_owner(const struct cluster_link *l, const char *app);
/* The live hosts whose configuration digest differs from this host's. */
char *const *cluster_link_config_differs(const struct cluster_link *l, size_t *ret_n);
bool cluster_link_owns(const struct cluster_link *l, const char *app);

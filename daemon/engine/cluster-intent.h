/* SPDX-License-Identifier: MIT */
#pragma once

/* Cluster mode: before each Meta call of a refresh, intent/<account> is
 * written in a txn that checks the owner's epoch and the token's revision
 * (cluster/tokens.h); another host's intent on the same token makes the
 * refresh wait until it is gone, 20 leases (10 minutes at most) old, or the
 * token urgent: that host may have Meta's answer in hand. An intent is
 * withdrawn when Meta answered without a token, and deleted by the commit
 * when it brought one. */

#include "engine/cluster-sync.h"

/* struct engine_cluster's */
int cluster_intent_ask(void *userdata, struct account *a, engine_intent_done_t done);
void cluster_intent_cancel(void *userdata, struct account *a);
void cluster_intent_token_changed(void *userdata, struct account *a);
/* Every intent under way or standing forgotten (the link goes). */
void cluster_intents_free(struct cluster_link *l);

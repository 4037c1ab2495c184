/* SPDX-License-Identifier: MIT */
#pragma once

/* Cluster mode: an admin's refresh on a host that does not own the account's
 * app is asked of its owner through the store (CONTRACT 13: admin commands
 * work on any host). The asking host puts req/<account> (on its session
 * lease); the owner, which watches the prefix, runs the refresh as if asked
 * locally and puts res/<id> with the answer; the asking host answers its
 * admin, deletes both, and gives up after the request timeout and two leases. */

#include "engine/cluster-sync.h"
#include "net/etcd-msg.h"

/* struct engine_cluster's forward_refresh */
int cluster_admin_forward(void *userdata, struct account *a, engine_done_t done,
			  void *done_userdata, char *why, size_t why_len);
/* A key of the prefix: req/<account> (run here if this host owns it) or
 * res/<id> (an answer this host waits for); others ignored. */
void cluster_admin_take(struct cluster_link *l, const struct etcd_kv *kv);
/* What waits is answered: the host leaves. */
void cluster_admin_done(struct cluster_link *l);

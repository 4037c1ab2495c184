/* SPDX-License-Identifier: MIT */
#pragma once

/* Cluster mode: an app's rate-limit pause is the app's on every host (CONTRACT
 * 13). Its owner writes the app's state to apps/<app>/rl, sealed like its
 * NAME.app file, in a txn fenced by its owner epoch (a deposed owner writes
 * nothing); every host takes what the watch brings, so that a new owner keeps
 * the pause its predecessor was given. */

#include "engine/cluster-sync.h"
#include "net/etcd-msg.h"

/* struct engine_cluster's app_changed */
void cluster_rl_app_changed(void *userdata, struct app *app);
/* A key of the store that is not a token's: apps/<app>/rl taken, others ignored. */
void cluster_rl_take(struct cluster_link *l, const struct etcd_kv *kv);

/* SPDX-License-Identifier: MIT */
#pragma once

/* Cluster mode, the tokens (CLUSTER.md "Reads" and "Writes"): the store's
 * tok/<account> records and the local vault kept in step, and the intent and
 * commit of a token change. engine/cluster-link.c runs it; this is the state
 * both share.
 *
 * Which record is newer: the higher generation (store/record.h); of two of one
 * generation (two hosts seeding the same account from their vaults, an import
 * racing a refresh), the later-expiring one. A record from the store that does
 * not open under this host's key is never taken. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "engine/account.h"

struct cluster_intent;
struct write;

struct cluster_link_ops {
	struct account *(*find)(void *userdata, const char *name);
	struct account **(*accounts)(void *userdata, size_t *ret_n);
	/* whether this host may call Meta for the app changed: its accounts' deadlines */
	void (*kick)(void *userdata, const char *app);
	/* the store's key check is another key's: the daemon must stop (exit 1) */
	void (*fatal)(void *userdata, const char *why);
	/* store health, hosts or owners changed (status) */
	void (*changed)(void *userdata);
};

struct cluster_link {
	sd_event *event;
	struct vault *vault;
	const struct cluster_link_ops *ops;
	void *userdata;
	char *name, *host, *prefix, *tok_prefix, *tok_end, *info;
	int64_t ttl, timeout; /* seconds: the lease's, a Meta request's */
	struct etcd_client *etcd;
	struct etcd_call *keycheck;
	struct cluster_session *session;
	struct cluster_owner *owner;
	char **apps;
	size_t n_apps;
	bool *may; /* per app: may_call as last told (kick when it changes) */
	struct engine_cluster engine;
	sd_event_source *tick;
	bool key_ok;  /* the store's key check opens under our key: we may write */
	bool synced;  /* the store's tokens are read and the watch runs */
	bool syncing; /* a range under way */
	bool resync;  /* read the store again (the watch ended, a commit failed) */
	struct etcd_watch *watch;
	int64_t sync_rev;
	struct etcd_call *page;		/* a page of the range under way */
	struct cluster_intent *intents; /* under way or standing */
	struct write *writes;		/* commits under way */
};

int cluster_sync_init(struct cluster_link *l);
/* After the etcd client is gone (its calls' callbacks never run). */
void cluster_sync_done(struct cluster_link *l);
/* A full read of the store's tokens, then a watch from the revision after it. */
void cluster_sync_start(struct cluster_link *l);
/* The watch and reads stop (the store went away, or the host leaves). */
void cluster_sync_stop(struct cluster_link *l);

/* struct engine_cluster's */
int cluster_sync_intent(void *userdata, struct account *a, engine_intent_done_t done);
void cluster_sync_intent_cancel(void *userdata, struct account *a);
void cluster_sync_token_changed(void *userdata, struct account *a);

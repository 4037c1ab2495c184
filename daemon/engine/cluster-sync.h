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
#include "net/etcd-msg.h"

struct cluster_intent;
struct cluster_fwd;
struct cluster_served;
struct write;

struct cluster_link_ops {
	struct account *(*find)(void *userdata, const char *name);
	struct app *(*find_app)(void *userdata, const char *name);
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
	char *name, *host, *prefix, *prefix_end, *tok_prefix, *info;
	char digest[33]; /* of the configuration (hex), published in info */
	char **differ;	 /* the hosts publishing another digest */
	int64_t started_at;
	int64_t ttl, timeout; /* seconds: the lease's, a Meta request's */
	struct etcd_client *etcd;
	struct etcd_call *keycheck;
	struct cluster_session *session;
	struct cluster_owner *owner;
	char **apps;
	size_t n_apps;
	bool *may; /* per app: owned as last told (kick when it changes) */
	struct engine_cluster engine;
	sd_event_source *tick;
	bool key_ok;	   /* the store's key check opens under our key: we may write */
	bool synced;	   /* the store's tokens are read and the watch runs */
	bool syncing;	   /* a range under way */
	bool resync;	   /* read the store again (the watch ended, a commit failed) */
	bool rewatch;	   /* the watch ended: watch again from watch_rev + 1 */
	int64_t watch_rev; /* every event up to it has come */
	struct etcd_watch *watch;
	int64_t sync_rev;
	struct etcd_call *page;		/* a page of the range under way */
	struct cluster_intent *intents; /* under way or standing */
	struct write *writes;		/* commits under way */
	struct cluster_fwd *fwds;	/* admins waiting for another host (cluster-admin.c) */
	struct cluster_served *served;	/* refreshes run here for another host's admin */
	char *served_last;		/* the last request taken (not run twice) */
	uint64_t fwd_seq;
	/* a key of the prefix that is not a token's, read or watched */
	void (*other_key)(struct cluster_link *l, const struct etcd_kv *kv);
};

int cluster_sync_init(struct cluster_link *l);
/* After the etcd client is gone (its calls' callbacks never run). */
void cluster_sync_done(struct cluster_link *l);
/* A full read of the store's keys (tokens, and what other_key takes), then a
 * watch of them from the revision after it. */
void cluster_sync_start(struct cluster_link *l);
/* The watch again from where it ended (0, or a negative errno). */
int cluster_sync_rewatch(struct cluster_link *l);
/* The watch and reads stop (the store went away, or the host leaves). */
void cluster_sync_stop(struct cluster_link *l);

/* This host's epoch as the app's owner (> 0), or 0: another host owns it, or
 * none that this host knows of. */
int64_t cluster_sync_my_epoch(const struct cluster_link *l, const char *app);
/* The store holds value (NULL: nothing) at revision mod for a: the newer
 * record wins here or there. */
void cluster_sync_reconcile(struct cluster_link *l, struct account *a, const unsigned char *value,
			    size_t len, int64_t mod);
/* a's vault record committed over the store's revision base (compare-and-swap). */
void cluster_sync_push(struct cluster_link *l, struct account *a, int64_t base);
struct cluster_tok_keys;
int cluster_sync_keys(struct cluster_link *l, const struct account *a, struct cluster_tok_keys *k);

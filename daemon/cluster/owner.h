/* SPDX-License-Identifier: MIT */
#pragma once

/* One owner per app (CLUSTER.md): apps/<app>/owner names the host and is
 * attached to its session lease, so it goes when the host does. Each host
 * reads the owners every TTL/3; an app without one is claimed with
 *   If(CREATE(apps/<app>/owner) == 0) Then(Put(owner = host, lease)) Else(Range(owner))
 * at once by its preferred host (rendezvous hashing over the live hosts), by
 * the others only after a grace of one TTL, in case the preferred one is slow.
 * A host claims nothing in its first TTL, so that hosts starting together see
 * each other first. The owner key's create revision is the owner's epoch. An
 * owner keeps its apps when their preferred host comes back (no handover).
 *
 * cluster_owner_mine() is what a host asks before every Meta call: the key
 * says this host under its current lease, and that lease is surely alive for
 * the margin asked (cluster/session.h). */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

struct etcd_client;
struct cluster_session;
struct cluster_owner;

struct cluster_owner_ops {
	/* an app's owner changed, as this host sees it */
	void (*changed)(struct cluster_owner *o, const char *app, void *userdata);
};

int cluster_owner_new(sd_event *e, struct etcd_client *c, struct cluster_session *s,
		      const char *prefix, const char *host, char *const *apps, size_t n_apps,
		      int64_t ttl_sec, const struct cluster_owner_ops *ops, void *userdata,
		      struct cluster_owner **ret);
struct cluster_owner *cluster_owner_free(struct cluster_owner *o);

/* Whether this host owns app, under a lease surely alive for margin_usec. */
bool cluster_owner_mine(const struct cluster_owner *o, const char *app, uint64_t margin_usec);
/* The owner as last read (NULL: none known), and its epoch. */
const char *cluster_owner_of(const struct cluster_owner *o, const char *app, int64_t *ret_epoch);
/* The host rendezvous hashing prefers for app among hosts (NULL if none). */
const char *cluster_owner_preferred(const char *app, char *const *hosts, size_t n_hosts);

/* SPDX-License-Identifier: MIT */
#pragma once

/* One host's session in the cluster store (CLUSTER.md): an etcd lease kept
 * alive every TTL/6, the host's key (hosts/<host>) attached to it, the live
 * hosts as last read, and whether the store answers.
 *
 * The one promise others build on: cluster_session_alive_until() is a
 * CLOCK_MONOTONIC time before which the lease is surely still alive in etcd:
 * the moment the last keepalive etcd answered was *sent*, plus the TTL etcd
 * gave. etcd counts the TTL from when it received that keepalive, which is
 * later, so etcd cannot expire the lease (and let another host claim what
 * it holds) before that time, whatever the network or this process does
 * after it. A host that is frozen, cut off, or whose store lost quorum
 * passes that time without any action of its own. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

struct etcd_client;
struct cluster_session;

struct cluster_session_config {
	const char *prefix; /* "/igtokend/<name>/v1/" */
	const char *host;   /* this host's id */
	int64_t ttl_sec;    /* the lease's */
	const char *info;   /* the host key's value (non-secret JSON) */
};

struct cluster_session_ops {
	/* the store came or went, the lease was granted, lost or renewed late, or
	 * the list of hosts changed */
	void (*changed)(struct cluster_session *s, void *userdata);
};

int cluster_session_new(sd_event *e, struct etcd_client *c,
			const struct cluster_session_config *cfg,
			const struct cluster_session_ops *ops, void *userdata,
			struct cluster_session **ret);
/* Stops at once; the lease lapses in etcd by itself (what a crash does). */
struct cluster_session *cluster_session_free(struct cluster_session *s);
/* A clean stop: the lease is revoked (what it held is free at once), then
 * done() runs and the session may be freed. */
int cluster_session_stop(struct cluster_session *s, void (*done)(void *userdata), void *userdata);

bool cluster_session_store_up(const struct cluster_session *s);
/* Why the store is not up, for people ("" when it is). */
const char *cluster_session_error(const struct cluster_session *s);
/* The lease (0: none now). */
int64_t cluster_session_lease(const struct cluster_session *s);
/* 0: no lease surely alive now. */
uint64_t cluster_session_alive_until(const struct cluster_session *s);
/* Whether the lease is surely alive from now until now + margin_usec
 * (a Meta call that may take that long may be sent). */
bool cluster_session_alive_for(const struct cluster_session *s, uint64_t margin_usec);
/* The hosts holding a session lease, as last read (sorted), and what the i-th
 * one published (its key's value). */
char *const *cluster_session_hosts(const struct cluster_session *s, size_t *ret_n);
const char *cluster_session_host_info(const struct cluster_session *s, size_t i);
/* What this host publishes from now on (put again at the next round). */
int cluster_session_set_info(struct cluster_session *s, const char *info);

/* SPDX-License-Identifier: MIT */
#pragma once

/* A watch on etcd (net/etcd.h's client). */

#include "net/etcd.h"

/* One watch stream from start_revision (0: now) with progress notifications
 * and prev_kv. message() gets every line (created, events, progress), from the
 * event loop (not from inside libcurl: it may call etcd); ended()
 * is the last callback: the stream closed, etcd cancelled it (compact_revision
 * says how far it compacted), or nothing came for dead_usec (a dead stream:
 * -ETIMEDOUT). The watch is freed after ended(); neither callback may free it. */
struct etcd_watch_ops {
	void (*message)(const struct etcd_watch_msg *m, void *userdata);
	void (*ended)(int error, const char *why, int64_t compact_revision, void *userdata);
};
struct etcd_watch;
int etcd_watch(struct etcd_client *c, const char *key, const char *range_end,
	       int64_t start_revision, uint64_t dead_usec, const struct etcd_watch_ops *ops,
	       void *userdata, struct etcd_watch **ret);
/* Ends it now, without ended(). Not from its own callbacks. */
void etcd_watch_free(struct etcd_watch *w);

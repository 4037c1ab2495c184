/* SPDX-License-Identifier: MIT */
#pragma once

/* test-etcd's helpers (etcd-world.c): one call at a time against a real etcd,
 * the event loop run until it answers; and the cluster modules' scenarios
 * (etcd-cluster.c). */

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "net/etcd.h"

extern sd_event *event;

struct got {
	bool done;
	int error, code;
	bool maybe_applied;
	bool succeeded;
	int64_t revision, lease_id, ttl;
	size_t n, n_ranges;
	bool more;
	int64_t count;
	char keys[8][64], values[8][64];
	int64_t mod[8];
	char range0_value[64];
};

void on_answer(const struct etcd_answer *a, void *userdata);
/* Runs the loop until *flag or the deadline; whether it came. */
bool run_until(const bool *flag, double seconds);
struct etcd_client *client(char **urls, size_t n, const struct etcd_options *extra);
struct got range(struct etcd_client *c, const char *key, const char *end, int64_t limit);
struct got txn(struct etcd_client *c, const struct etcd_txn *t);
struct got put(struct etcd_client *c, const char *key, const char *value, int64_t lease);

/* etcd-cluster.c: cluster/session, owner, keycheck, tokens */
void scenario_session(char **argv);
void scenario_owner(char **urls);
void scenario_keycheck(char **urls, size_t n);
void scenario_tokens(char **urls, size_t n);

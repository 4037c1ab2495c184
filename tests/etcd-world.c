/* SPDX-License-Identifier: MIT */
/* test-etcd's helpers: see etcd-world.h. */
#include "etcd-world.h"

#include <stdio.h>
#include <string.h>

#include "basic/util.h"
#define TAP_SHARED
#include "tap.h"

sd_event *event;

/* ---- one answer at a time ---- */

void on_answer(const struct etcd_answer *a, void *userdata)
{
	struct got *g = userdata;

	*g = (struct got){ .done = true,
			   .error = a->error,
			   .code = a->code,
			   .maybe_applied = a->maybe_applied,
			   .succeeded = a->txn.succeeded,
			   .revision = a->header.revision,
			   .lease_id = a->lease_id,
			   .ttl = a->ttl,
			   .n = a->kvs.n,
			   .more = a->kvs.more,
			   .count = a->kvs.count,
			   .n_ranges = a->txn.n_ranges };
	for (size_t i = 0; i < a->kvs.n && i < 8; i++) {
		snprintf(g->keys[i], sizeof(g->keys[i]), "%s", a->kvs.kv[i].key);
		snprintf(g->values[i], sizeof(g->values[i]), "%s", (char *)a->kvs.kv[i].value);
		g->mod[i] = a->kvs.kv[i].mod_revision;
	}
	if (a->txn.n_ranges > 0 && a->txn.ranges[0].n > 0)
		snprintf(g->range0_value, sizeof(g->range0_value), "%s",
			 (char *)a->txn.ranges[0].kv[0].value);
	if (a->error)
		fprintf(stderr, "  etcd: error %d code %d: %s%s\n", a->error, a->code, a->why ?: "",
			a->maybe_applied ? " (maybe applied)" : "");
}

bool run_until(const bool *flag, double seconds)
{
	uint64_t end = now_monotonic_usec() + (uint64_t)(seconds * 1e6);

	while (!*flag && now_monotonic_usec() < end)
		sd_event_run(event, 100 * 1000);
	return *flag;
}

struct etcd_client *client(char **urls, size_t n, const struct etcd_options *extra)
{
	struct etcd_options o = extra ? *extra : (struct etcd_options){ 0 };
	struct etcd_client *c = NULL;

	o.endpoints = urls;
	o.n_endpoints = n;
	if (!o.timeout_sec)
		o.timeout_sec = 3;
	CHECK_INT(etcd_client_new(event, &o, &c), 0);
	return c;
}

struct got range(struct etcd_client *c, const char *key, const char *end, int64_t limit)
{
	struct got g = { 0 };

	CHECK_INT(etcd_range(c, key, end, limit, 0, on_answer, &g, NULL), 0);
	CHECK(!g.done); /* never before the call returns */
	CHECK(run_until(&g.done, 20));
	return g;
}

struct got txn(struct etcd_client *c, const struct etcd_txn *t)
{
	struct got g = { 0 };

	CHECK_INT(etcd_txn(c, t, on_answer, &g, NULL), 0);
	CHECK(run_until(&g.done, 20));
	return g;
}

struct got put(struct etcd_client *c, const char *key, const char *value, int64_t lease)
{
	struct etcd_op op = { .kind = ETCD_OP_PUT,
			      .key = key,
			      .value = value,
			      .value_len = strlen(value),
			      .lease = lease };
	return txn(c, &(struct etcd_txn){ .success = &op, .n_success = 1 });
}

/* SPDX-License-Identifier: MIT */
#pragma once

/* etcd v3's JSON gateway, its messages only: the requests we send, built, and
 * its answers, parsed strictly (net/etcd.h sends them). Keys and values are
 * base64 on the wire; every 64-bit number (revisions, lease ids) is a JSON
 * string, read here with strtoll, never through a double; fields at their
 * default value are omitted (a failed txn has no "succeeded", an expired
 * lease's keepalive no "TTL", a PUT event no "type"). No policy. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ETCD_KEY_MAX   1024	   /* bytes of a key we accept */
#define ETCD_VALUE_MAX (64 * 1024) /* bytes of a value we accept */
#define ETCD_ANSWER_MAX                                                                            \
	(127 * 1024) /* one answer (a page of a range: ask with a limit) or watch line */

struct etcd_header {
	int64_t revision, raft_term;
	uint64_t cluster_id, member_id;
};

struct etcd_kv {
	char *key; /* NUL-terminated, key_len bytes */
	size_t key_len;
	unsigned char *value; /* value_len bytes (NUL after them) */
	size_t value_len;
	int64_t create_revision, mod_revision, version, lease;
};

struct etcd_kvs {
	struct etcd_kv *kv;
	size_t n;
	bool more;     /* a range with a limit: more keys follow */
	int64_t count; /* keys in the range */
};
void etcd_kvs_clear(struct etcd_kvs *k);

/* ---- answers: 0, or -EBADMSG for anything that is not what it must be ---- */

/* An error answer ({"error", "code", "message"}): 1 and *code, why (NUL-terminated). */
int etcd_parse_error(const char *json, size_t len, int *code, char *why, size_t why_len);
int etcd_parse_range(const char *json, size_t len, struct etcd_header *h, struct etcd_kvs *ret);
/* The txn's outcome; ranges[i]: the i-th response's keys if it was a range
 * (n_ranges: the responses), freed with etcd_txn_answer_clear(). */
struct etcd_txn_answer {
	struct etcd_header header;
	bool succeeded;
	struct etcd_kvs *ranges;
	size_t n_ranges;
};
int etcd_parse_txn(const char *json, size_t len, struct etcd_txn_answer *ret);
void etcd_txn_answer_clear(struct etcd_txn_answer *a);
/* grant, keepalive ({"result": ...}): *ttl 0 when the lease is gone. */
int etcd_parse_lease(const char *json, size_t len, struct etcd_header *h, int64_t *id,
		     int64_t *ttl);
/* A plain acknowledgement (revoke, put): its header. */
int etcd_parse_header_only(const char *json, size_t len, struct etcd_header *h);

/* One line of a watch stream. */
struct etcd_event {
	bool deleted;
	struct etcd_kv kv, prev; /* prev: when asked and there was one (has_prev) */
	bool has_prev;
};
struct etcd_watch_msg {
	struct etcd_header header;
	bool created, canceled;
	int64_t compact_revision; /* canceled: compacted past the start */
	char cancel_reason[128];
	struct etcd_event *events; /* none: a progress notification (or created) */
	size_t n_events;
};
int etcd_parse_watch(const char *json, size_t len, struct etcd_watch_msg *ret);
void etcd_watch_msg_clear(struct etcd_watch_msg *m);

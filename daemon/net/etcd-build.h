/* SPDX-License-Identifier: MIT */
#pragma once

/* etcd v3's JSON gateway: the requests we send (net/etcd-msg.h reads the
 * answers). Keys and values go base64, 64-bit numbers as strings. */

#include <stddef.h>
#include <stdint.h>

/* ---- requests (JSON text, malloc'd; NULL without memory) ---- */

enum etcd_target { ETCD_VERSION, ETCD_CREATE, ETCD_MOD, ETCD_VALUE, ETCD_LEASE };
enum etcd_result { ETCD_EQUAL, ETCD_GREATER, ETCD_LESS, ETCD_NOT_EQUAL };

struct etcd_cmp {
	const char *key;
	enum etcd_target target;
	enum etcd_result result;
	int64_t number;	   /* VERSION, CREATE, MOD, LEASE */
	const void *value; /* VALUE */
	size_t value_len;
};

enum etcd_op_kind { ETCD_OP_RANGE, ETCD_OP_PUT, ETCD_OP_DELETE };

struct etcd_op {
	enum etcd_op_kind kind;
	const char *key;
	const char *range_end; /* RANGE, DELETE: NULL one key */
	const void *value;     /* PUT */
	size_t value_len;
	int64_t lease; /* PUT: 0 none */
};

struct etcd_txn {
	const struct etcd_cmp *cmp;
	size_t n_cmp;
	const struct etcd_op *success, *failure;
	size_t n_success, n_failure;
};

/* The first key after every key with this prefix ("" when none is: all keys). */
int etcd_prefix_end(const char *prefix, char **ret);
char *etcd_build_range(const char *key, const char *range_end, int64_t limit, int64_t revision);
char *etcd_build_txn(const struct etcd_txn *t);
char *etcd_build_lease_grant(int64_t ttl);
char *etcd_build_lease_id(int64_t id); /* keepalive, revoke */
char *etcd_build_watch(const char *key, const char *range_end, int64_t start_revision);

/* SPDX-License-Identifier: MIT */
/* etcd's gateway answers and watch lines (net/etcd-msg.h): every parser on
 * every input; what parses is checked for what the parsers promise. */
#include "fuzz.h"
#include <stdlib.h>
#include <string.h>

#include "net/etcd-msg.h"

/* what a parser promises (not MUST(): release builds replay the corpus too) */
#define MUST(x)                                                                                    \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

static void check_kv(const struct etcd_kv *kv)
{
	MUST(kv->key && kv->key_len > 0 && kv->key_len <= ETCD_KEY_MAX);
	MUST(strlen(kv->key) == kv->key_len);
	MUST(kv->value_len <= ETCD_VALUE_MAX && (!kv->value || kv->value[kv->value_len] == '\0'));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *json = malloc(size + 1), why[256];
	struct etcd_header h;
	struct etcd_kvs kvs;
	struct etcd_txn_answer txn;
	struct etcd_watch_msg m;
	int64_t id, ttl;
	int code;

	if (!json)
		return 0;
	memcpy(json, data, size);
	json[size] = '\0';
	if (etcd_parse_error(json, size, &code, why, sizeof(why)) > 0)
		MUST(strlen(why) < sizeof(why));
	if (etcd_parse_range(json, size, &h, &kvs) == 0) {
		for (size_t i = 0; i < kvs.n; i++)
			check_kv(&kvs.kv[i]);
		etcd_kvs_clear(&kvs);
	}
	if (etcd_parse_txn(json, size, &txn) == 0) {
		for (size_t i = 0; i < txn.n_ranges; i++)
			for (size_t k = 0; k < txn.ranges[i].n; k++)
				check_kv(&txn.ranges[i].kv[k]);
		etcd_txn_answer_clear(&txn);
	}
	if (etcd_parse_lease(json, size, &h, &id, &ttl) == 0)
		MUST(id > 0 && ttl >= 0);
	(void)etcd_parse_header_only(json, size, &h);
	if (etcd_parse_watch(json, size, &m) == 0) {
		for (size_t i = 0; i < m.n_events; i++) {
			check_kv(&m.events[i].kv);
			if (m.events[i].has_prev)
				check_kv(&m.events[i].prev);
		}
		etcd_watch_msg_clear(&m);
	}
	free(json);
	return 0;
}

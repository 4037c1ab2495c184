/* SPDX-License-Identifier: MIT */
#include "cluster/keycheck.h"

#include <stdio.h>

#include "basic/util.h"
#include "store/seal.h"

struct check {
	struct secret *key;
	char *name;
	void (*done)(int error, void *userdata);
	void *userdata;
};

static void check_free(struct check *k)
{
	secret_free(k->key);
	free(k->name);
	free(k);
}

static void dropped(void *userdata)
{
	check_free(userdata);
}

static void on_answer(const struct etcd_answer *a, void *userdata)
{
	struct check *k = userdata;
	const struct etcd_kvs *now = a->txn.n_ranges > 0 ? &a->txn.ranges[0] : NULL;
	int r;

	if (a->error)
		r = a->error; /* maybe applied: asked again, it reads its own */
	else if (a->txn.succeeded)
		r = 0;
	else if (!now || now->n != 1)
		r = -EBADMSG;
	else
		r = seal_keycheck_open_bytes(k->key, k->name, now->kv[0].value,
					     now->kv[0].value_len);
	k->done(r, k->userdata);
	check_free(k);
}

int cluster_keycheck(struct etcd_client *c, const char *prefix, const char *cluster_name,
		     const struct secret *key, void (*done)(int error, void *userdata),
		     void *userdata, struct etcd_call **ret)
{
	_cleanup_free_ unsigned char *sealed = NULL;
	_cleanup_free_ char *meta = NULL;
	struct check *k = calloc(1, sizeof(*k));
	size_t n = 0;
	int r = k ? 0 : -ENOMEM;

	if (r == 0)
		r = strjoin3(&k->name, "cluster:", cluster_name, "");
	if (r == 0)
		r = secret_from_mem(key->data, key->len, &k->key);
	if (r == 0)
		r = seal_keycheck_bytes(key, k->name, &sealed, &n);
	if (r == 0)
		r = strjoin3(&meta, prefix, "meta", "");
	if (r == 0) {
		struct etcd_cmp absent = { .key = meta, .target = ETCD_CREATE, .number = 0 };
		struct etcd_op put = {
			.kind = ETCD_OP_PUT, .key = meta, .value = sealed, .value_len = n
		};
		struct etcd_op read = { .kind = ETCD_OP_RANGE, .key = meta };
		struct etcd_call *call = NULL;
		k->done = done;
		k->userdata = userdata;
		r = etcd_txn(c, &(struct etcd_txn){ &absent, 1, &put, &read, 1, 1 }, on_answer, k,
			     &call);
		if (r >= 0) {
			etcd_call_on_drop(call, dropped); /* cancelled, or the client goes */
			if (ret)
				*ret = call;
		}
	}
	if (r < 0 && k)
		check_free(k);
	return r;
}

/* SPDX-License-Identifier: MIT */
#include "cluster/tokens.h"

#include <stdio.h>

#include "basic/util.h"

enum kind { INTENT, COMMIT, READ, WITHDRAW, FENCED };

struct call {
	enum kind kind;
	int64_t epoch;
	unsigned char *sealed; /* READ: what a commit wrote, or NULL */
	size_t len;
	cluster_tok_cb_t cb;
	void *userdata;
};

int cluster_tok_keys(const char *prefix, const char *account, const char *app,
		     struct cluster_tok_keys *ret)
{
	*ret = (struct cluster_tok_keys){ 0 };
	if (strjoin3(&ret->tok, prefix, "tok/", account) < 0 ||
	    strjoin3(&ret->intent, prefix, "intent/", account) < 0 ||
	    (app && strjoin3(&ret->owner, prefix, "apps/", app) < 0)) {
		cluster_tok_keys_clear(ret);
		return -ENOMEM;
	}
	if (app) {
		char *o = ret->owner;
		int r = strjoin3(&ret->owner, o, "/owner", "");
		free(o);
		if (r < 0) {
			cluster_tok_keys_clear(ret);
			return r;
		}
	}
	return 0;
}

void cluster_tok_keys_clear(struct cluster_tok_keys *k)
{
	free(k->tok);
	free(k->intent);
	free(k->owner);
	*k = (struct cluster_tok_keys){ 0 };
}

static const struct etcd_kv *only(const struct etcd_txn_answer *t, size_t i)
{
	return i < t->n_ranges && t->ranges[i].n == 1 ? &t->ranges[i].kv[0] : NULL;
}

static void on_answer(const struct etcd_answer *a, void *userdata)
{
	struct call *call = userdata;
	struct cluster_tok_result r = { .error = a->error, .maybe_applied = a->maybe_applied };
	const struct etcd_kv *tok = NULL, *second = NULL, *intent = NULL;

	if (!a->error) {
		bool read = call->kind == READ;
		tok = only(&a->txn, 0);
		second = only(&a->txn, 1);
		r.done = read ? call->sealed && tok && tok->value_len == call->len &&
					 memcmp(tok->value, call->sealed, call->len) == 0
			      : a->txn.succeeded;
		if (!r.done || read) {
			r.value = tok ? tok->value : NULL;
			r.value_len = tok ? tok->value_len : 0;
			r.mod_revision = tok ? tok->mod_revision : 0;
		}
		if ((call->kind == COMMIT || call->kind == INTENT) && r.done)
			r.revision = a->header.revision; /* the key's new mod revision */
		if (call->kind == INTENT && !r.done) {
			r.owner_changed = !second || second->create_revision != call->epoch;
			intent = only(&a->txn, 2);
		}
		if (read)
			intent = second;
		if (intent) {
			r.intent = (const char *)intent->value;
			r.intent_mod = intent->mod_revision;
		}
	}
	call->cb(&r, call->userdata);
	free(call->sealed);
	free(call);
}

static void drop(void *userdata)
{
	struct call *call = userdata;

	free(call->sealed);
	free(call);
}

static int send(struct etcd_client *c, enum kind kind, const struct etcd_txn *t, int64_t epoch,
		const unsigned char *sealed, size_t len, cluster_tok_cb_t cb, void *userdata)
{
	struct call *call = calloc(1, sizeof(*call));
	struct etcd_call *ec;
	int r;

	if (!call)
		return -ENOMEM;
	*call = (struct call){ .kind = kind, .epoch = epoch, .cb = cb, .userdata = userdata };
	if (sealed && kind == READ) {
		call->sealed = malloc(len ?: 1);
		if (!call->sealed) {
			free(call);
			return -ENOMEM;
		}
		memcpy(call->sealed, sealed, len);
		call->len = len;
	}
	r = etcd_txn(c, t, on_answer, call, &ec);
	if (r < 0) {
		drop(call);
		return r;
	}
	etcd_call_on_drop(ec, drop); /* the client goes with it under way */
	return r;
}

int cluster_tok_intent(struct etcd_client *c, const struct cluster_tok_keys *k, int64_t epoch,
		       int64_t base, int64_t intent_mod, const char *intent_json,
		       cluster_tok_cb_t cb, void *userdata)
{
	const struct etcd_cmp cmp[] = {
		{ .key = k->owner, .target = ETCD_CREATE, .number = epoch },
		{ .key = k->tok, .target = ETCD_MOD, .number = base },
		{ .key = k->intent, .target = ETCD_MOD, .number = intent_mod },
	};
	const struct etcd_op put = { .kind = ETCD_OP_PUT,
				     .key = k->intent,
				     .value = intent_json,
				     .value_len = strlen(intent_json) };
	const struct etcd_op read[] = { { .kind = ETCD_OP_RANGE, .key = k->tok },
					{ .kind = ETCD_OP_RANGE, .key = k->owner },
					{ .kind = ETCD_OP_RANGE, .key = k->intent } };

	if (!k->owner || epoch <= 0)
		return -EINVAL;
	return send(c, INTENT, &(struct etcd_txn){ cmp, 3, &put, read, 1, 3 }, epoch, NULL, 0, cb,
		    userdata);
}

int cluster_tok_withdraw(struct etcd_client *c, const struct cluster_tok_keys *k, int64_t mod,
			 cluster_tok_cb_t cb, void *userdata)
{
	const struct etcd_cmp cmp = { .key = k->intent, .target = ETCD_MOD, .number = mod };
	const struct etcd_op del = { .kind = ETCD_OP_DELETE, .key = k->intent };

	return send(c, WITHDRAW, &(struct etcd_txn){ &cmp, 1, &del, NULL, 1, 0 }, 0, NULL, 0, cb,
		    userdata);
}

int cluster_tok_commit(struct etcd_client *c, const struct cluster_tok_keys *k, int64_t base,
		       const unsigned char *sealed, size_t len, cluster_tok_cb_t cb, void *userdata)
{
	const struct etcd_cmp cmp = { .key = k->tok, .target = ETCD_MOD, .number = base };
	const struct etcd_op ops[] = {
		{ .kind = ETCD_OP_PUT, .key = k->tok, .value = sealed, .value_len = len },
		{ .kind = ETCD_OP_DELETE, .key = k->intent },
	};
	const struct etcd_op read = { .kind = ETCD_OP_RANGE, .key = k->tok };

	return send(c, COMMIT, &(struct etcd_txn){ &cmp, 1, ops, &read, 2, 1 }, 0, NULL, 0, cb,
		    userdata);
}

int cluster_tok_put_fenced(struct etcd_client *c, const char *owner_key, int64_t epoch,
			   const char *key, const unsigned char *value, size_t len,
			   cluster_tok_cb_t cb, void *userdata)
{
	const struct etcd_cmp cmp = { .key = owner_key, .target = ETCD_CREATE, .number = epoch };
	const struct etcd_op put = {
		.kind = ETCD_OP_PUT, .key = key, .value = value, .value_len = len
	};

	if (epoch <= 0)
		return -EINVAL;
	return send(c, FENCED, &(struct etcd_txn){ &cmp, 1, &put, NULL, 1, 0 }, epoch, NULL, 0, cb,
		    userdata);
}

int cluster_tok_read(struct etcd_client *c, const struct cluster_tok_keys *k,
		     const unsigned char *sealed, size_t len, cluster_tok_cb_t cb, void *userdata)
{
	const struct etcd_op read[] = { { .kind = ETCD_OP_RANGE, .key = k->tok },
					{ .kind = ETCD_OP_RANGE, .key = k->intent } };

	return send(c, READ, &(struct etcd_txn){ NULL, 0, read, NULL, 2, 0 }, 0, sealed, len, cb,
		    userdata);
}

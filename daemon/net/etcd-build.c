/* SPDX-License-Identifier: MIT */
#include "net/etcd-build.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *print(cJSON *o, int r)
{
	char *s = r == 0 ? cJSON_PrintUnformatted(o) : NULL;

	cJSON_Delete(o);
	return s;
}

static int add_i64(cJSON *o, const char *name, int64_t v)
{
	char b[24];

	snprintf(b, sizeof(b), "%" PRId64, v);
	return cJSON_AddStringToObject(o, name, b) ? 0 : -ENOMEM;
}

static int add_bytes(cJSON *o, const char *name, const void *data, size_t len)
{
	size_t n = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	char *b = malloc(n);
	int r = 0;

	if (!b)
		return -ENOMEM;
	sodium_bin2base64(b, n, data, len, sodium_base64_VARIANT_ORIGINAL);
	if (!cJSON_AddStringToObject(o, name, b))
		r = -ENOMEM;
	free(b);
	return r;
}

/* ---- requests ---- */

int etcd_prefix_end(const char *prefix, char **ret)
{
	size_t n = strlen(prefix);
	char *e = strdup(prefix);

	if (!e)
		return -ENOMEM;
	while (n > 0 && (unsigned char)e[n - 1] == 0xff)
		n--;
	if (n == 0) {
		e[0] = '\0'; /* "\0" as range_end: every key from here */
	} else {
		e[n - 1] = (char)((unsigned char)e[n - 1] + 1);
		e[n] = '\0';
	}
	*ret = e;
	return 0;
}

static int key_range(cJSON *o, const char *key, const char *range_end)
{
	int r = add_bytes(o, "key", key, strlen(key));

	if (r == 0 && range_end)
		r = range_end[0] ? add_bytes(o, "range_end", range_end, strlen(range_end))
				 : add_bytes(o, "range_end", "", 1); /* \0: to the end */
	return r;
}

char *etcd_build_range(const char *key, const char *range_end, int64_t limit, int64_t revision)
{
	cJSON *o = cJSON_CreateObject();
	int r = o ? key_range(o, key, range_end) : -ENOMEM;

	if (r == 0 && limit > 0)
		r = add_i64(o, "limit", limit);
	if (r == 0 && revision > 0)
		r = add_i64(o, "revision", revision);
	return print(o, r);
}

static const char *const target_names[] = { "VERSION", "CREATE", "MOD", "VALUE", "LEASE" };
static const char *const target_fields[] = { "version", "create_revision", "mod_revision", NULL,
					     "lease" };
static const char *const result_names[] = { "EQUAL", "GREATER", "LESS", "NOT_EQUAL" };

static int add_cmp(cJSON *list, const struct etcd_cmp *c)
{
	cJSON *o = cJSON_CreateObject();
	int r;

	if (!o || !cJSON_AddItemToArray(list, o))
		return -ENOMEM;
	r = add_bytes(o, "key", c->key, strlen(c->key));
	if (r == 0 && !cJSON_AddStringToObject(o, "target", target_names[c->target]))
		r = -ENOMEM;
	if (r == 0 && !cJSON_AddStringToObject(o, "result", result_names[c->result]))
		r = -ENOMEM;
	if (r == 0)
		r = c->target == ETCD_VALUE ? add_bytes(o, "value", c->value, c->value_len)
					    : add_i64(o, target_fields[c->target], c->number);
	return r;
}

static int add_op(cJSON *list, const struct etcd_op *op)
{
	static const char *const names[] = { "request_range", "request_put",
					     "request_delete_range" };
	cJSON *wrap = cJSON_CreateObject(), *o;
	int r;

	if (!wrap || !cJSON_AddItemToArray(list, wrap) ||
	    !(o = cJSON_AddObjectToObject(wrap, names[op->kind])))
		return -ENOMEM;
	r = key_range(o, op->key, op->kind == ETCD_OP_PUT ? NULL : op->range_end);
	if (r == 0 && op->kind == ETCD_OP_PUT)
		r = add_bytes(o, "value", op->value, op->value_len);
	if (r == 0 && op->kind == ETCD_OP_PUT && op->lease)
		r = add_i64(o, "lease", op->lease);
	return r;
}

char *etcd_build_txn(const struct etcd_txn *t)
{
	cJSON *o = cJSON_CreateObject(), *cmp, *ok, *fail;
	int r = 0;

	if (!o || !(cmp = cJSON_AddArrayToObject(o, "compare")) ||
	    !(ok = cJSON_AddArrayToObject(o, "success")) ||
	    !(fail = cJSON_AddArrayToObject(o, "failure")))
		return print(o, -ENOMEM);
	for (size_t i = 0; r == 0 && i < t->n_cmp; i++)
		r = add_cmp(cmp, &t->cmp[i]);
	for (size_t i = 0; r == 0 && i < t->n_success; i++)
		r = add_op(ok, &t->success[i]);
	for (size_t i = 0; r == 0 && i < t->n_failure; i++)
		r = add_op(fail, &t->failure[i]);
	return print(o, r);
}

char *etcd_build_lease_grant(int64_t ttl)
{
	cJSON *o = cJSON_CreateObject();

	return print(o, o ? add_i64(o, "TTL", ttl) : -ENOMEM);
}

char *etcd_build_lease_id(int64_t id)
{
	cJSON *o = cJSON_CreateObject();

	return print(o, o ? add_i64(o, "ID", id) : -ENOMEM);
}

char *etcd_build_watch(const char *key, const char *range_end, int64_t start_revision)
{
	cJSON *o = cJSON_CreateObject(), *c;
	int r = o && (c = cJSON_AddObjectToObject(o, "create_request"))
			? key_range(c, key, range_end)
			: -ENOMEM;

	if (r == 0 && start_revision > 0)
		r = add_i64(c, "start_revision", start_revision);
	if (r == 0 &&
	    (!cJSON_AddTrueToObject(c, "progress_notify") || !cJSON_AddTrueToObject(c, "prev_kv")))
		r = -ENOMEM;
	return print(o, r);
}

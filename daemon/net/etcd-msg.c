/* SPDX-License-Identifier: MIT */
#include "net/etcd-msg.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/util.h"

/* ---- numbers and bytes ---- */

/* A 64-bit number as etcd sends it: a JSON string of digits; absent is 0. */
static int get_i64(const cJSON *o, const char *name, int64_t *ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	char *end;
	long long n;

	*ret = 0;
	if (!v)
		return 0;
	if (!cJSON_IsString(v) || !v->valuestring[0] || strlen(v->valuestring) > 20)
		return -EBADMSG;
	errno = 0;
	n = strtoll(v->valuestring, &end, 10);
	if (errno || *end ||
	    (v->valuestring[0] != '-' && (v->valuestring[0] < '0' || v->valuestring[0] > '9')))
		return -EBADMSG;
	*ret = n;
	return 0;
}

static int get_u64(const cJSON *o, const char *name, uint64_t *ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	char *end;
	unsigned long long n;

	*ret = 0;
	if (!v)
		return 0;
	if (!cJSON_IsString(v) || v->valuestring[0] < '0' || v->valuestring[0] > '9')
		return -EBADMSG;
	errno = 0;
	n = strtoull(v->valuestring, &end, 10);
	if (errno || *end)
		return -EBADMSG;
	*ret = n;
	return 0;
}

static int get_bool(const cJSON *o, const char *name, bool *ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	*ret = false;
	if (!v)
		return 0;
	if (!cJSON_IsBool(v))
		return -EBADMSG;
	*ret = cJSON_IsTrue(v);
	return 0;
}

/* base64 (absent: empty) into a NUL-terminated copy of at most max bytes. */
static int get_bytes(const cJSON *o, const char *name, size_t max, unsigned char **ret,
		     size_t *ret_len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	size_t in, out = 0;
	unsigned char *b;

	*ret = NULL;
	*ret_len = 0;
	if (v && !cJSON_IsString(v))
		return -EBADMSG;
	in = v ? strlen(v->valuestring) : 0;
	if (in / 4 * 3 > max + 2)
		return -EBADMSG;
	b = malloc(in / 4 * 3 + 3);
	if (!b)
		return -ENOMEM;
	if (in && sodium_base642bin(b, in / 4 * 3 + 2, v->valuestring, in, NULL, &out, NULL,
				    sodium_base64_VARIANT_ORIGINAL) != 0) {
		free(b);
		return -EBADMSG;
	}
	if (out > max) {
		free(b);
		return -EBADMSG;
	}
	b[out] = '\0';
	*ret = b;
	*ret_len = out;
	return 0;
}

/* ---- answers ---- */

static cJSON *parse(const char *json, size_t len)
{
	cJSON *o;

	if (len > ETCD_ANSWER_MAX)
		return NULL;
	o = cJSON_ParseWithLength(json, len);
	if (o && !cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static int get_header(const cJSON *o, struct etcd_header *h)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "header");
	int r;

	*h = (struct etcd_header){ 0 };
	if (!cJSON_IsObject(v))
		return -EBADMSG;
	if ((r = get_i64(v, "revision", &h->revision)) < 0 ||
	    (r = get_i64(v, "raft_term", &h->raft_term)) < 0 ||
	    (r = get_u64(v, "cluster_id", &h->cluster_id)) < 0 ||
	    (r = get_u64(v, "member_id", &h->member_id)) < 0)
		return r;
	return h->revision >= 0 ? 0 : -EBADMSG;
}

int etcd_parse_error(const char *json, size_t len, int *code, char *why, size_t why_len)
{
	cJSON *o = parse(json, len);
	const cJSON *c, *m;
	int r = 0;

	if (!o)
		return -EBADMSG;
	c = cJSON_GetObjectItemCaseSensitive(o, "code");
	m = cJSON_GetObjectItemCaseSensitive(o, "message");
	if (!m)
		m = cJSON_GetObjectItemCaseSensitive(o, "error");
	if (cJSON_IsNumber(c) && cJSON_IsString(m) && c->valuedouble >= 0 &&
	    c->valuedouble <= 1000) {
		*code = c->valueint;
		snprintf(why, why_len, "%s", m->valuestring);
		string_scrub_controls(why);
		r = 1;
	}
	cJSON_Delete(o);
	return r;
}

static void kv_clear(struct etcd_kv *kv)
{
	free(kv->key);
	free(kv->value);
	*kv = (struct etcd_kv){ 0 };
}

void etcd_kvs_clear(struct etcd_kvs *k)
{
	for (size_t i = 0; i < k->n; i++)
		kv_clear(&k->kv[i]);
	free(k->kv);
	*k = (struct etcd_kvs){ 0 };
}

static int get_kv(const cJSON *o, struct etcd_kv *kv)
{
	unsigned char *key = NULL;
	int r;

	*kv = (struct etcd_kv){ 0 };
	if (!cJSON_IsObject(o))
		return -EBADMSG;
	r = get_bytes(o, "key", ETCD_KEY_MAX, &key, &kv->key_len);
	kv->key = (char *)key;
	if (r == 0 && (kv->key_len == 0 || memchr(kv->key, '\0', kv->key_len)))
		r = -EBADMSG; /* our keys are text */
	if (r == 0)
		r = get_bytes(o, "value", ETCD_VALUE_MAX, &kv->value, &kv->value_len);
	if (r == 0 && ((r = get_i64(o, "create_revision", &kv->create_revision)) < 0 ||
		       (r = get_i64(o, "mod_revision", &kv->mod_revision)) < 0 ||
		       (r = get_i64(o, "version", &kv->version)) < 0 ||
		       (r = get_i64(o, "lease", &kv->lease)) < 0))
		r = -EBADMSG;
	if (r < 0)
		kv_clear(kv);
	return r;
}

static int get_kvs(const cJSON *o, struct etcd_kvs *ret)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(o, "kvs"), *i;
	int n = list ? cJSON_GetArraySize(list) : 0, r;

	*ret = (struct etcd_kvs){ 0 };
	if (list && !cJSON_IsArray(list))
		return -EBADMSG;
	if ((r = get_bool(o, "more", &ret->more)) < 0 || (r = get_i64(o, "count", &ret->count)) < 0)
		return r;
	if (n == 0)
		return 0;
	ret->kv = calloc((size_t)n, sizeof(*ret->kv));
	if (!ret->kv)
		return -ENOMEM;
	cJSON_ArrayForEach (i, list) {
		r = get_kv(i, &ret->kv[ret->n]);
		if (r < 0) {
			etcd_kvs_clear(ret);
			return r;
		}
		ret->n++;
	}
	return 0;
}

int etcd_parse_range(const char *json, size_t len, struct etcd_header *h, struct etcd_kvs *ret)
{
	cJSON *o = parse(json, len);
	int r;

	*ret = (struct etcd_kvs){ 0 };
	if (!o)
		return -EBADMSG;
	r = get_header(o, h);
	if (r == 0)
		r = get_kvs(o, ret);
	cJSON_Delete(o);
	return r;
}

void etcd_txn_answer_clear(struct etcd_txn_answer *a)
{
	for (size_t i = 0; i < a->n_ranges; i++)
		etcd_kvs_clear(&a->ranges[i]);
	free(a->ranges);
	*a = (struct etcd_txn_answer){ 0 };
}

int etcd_parse_txn(const char *json, size_t len, struct etcd_txn_answer *ret)
{
	cJSON *o = parse(json, len);
	const cJSON *list, *i, *range;
	int n, r;

	*ret = (struct etcd_txn_answer){ 0 };
	if (!o)
		return -EBADMSG;
	list = cJSON_GetObjectItemCaseSensitive(o, "responses");
	n = list ? cJSON_GetArraySize(list) : 0;
	r = get_header(o, &ret->header);
	if (r == 0)
		r = get_bool(o, "succeeded", &ret->succeeded);
	if (r == 0 && list && !cJSON_IsArray(list))
		r = -EBADMSG;
	if (r == 0 && n > 0 && !(ret->ranges = calloc((size_t)n, sizeof(*ret->ranges))))
		r = -ENOMEM;
	if (r == 0 && list)
		cJSON_ArrayForEach (i, list) {
			if (!cJSON_IsObject(i)) {
				r = -EBADMSG;
				break;
			}
			range = cJSON_GetObjectItemCaseSensitive(i, "response_range");
			if (range && (!cJSON_IsObject(range) ||
				      (r = get_kvs(range, &ret->ranges[ret->n_ranges])) < 0)) {
				r = r < 0 ? r : -EBADMSG;
				break;
			}
			ret->n_ranges++;
		}
	cJSON_Delete(o);
	if (r < 0)
		etcd_txn_answer_clear(ret);
	return r;
}

int etcd_parse_lease(const char *json, size_t len, struct etcd_header *h, int64_t *id, int64_t *ttl)
{
	cJSON *o = parse(json, len);
	const cJSON *res;
	int r;

	if (!o)
		return -EBADMSG;
	res = cJSON_GetObjectItemCaseSensitive(o, "result"); /* keepalive is a stream */
	if (!res)
		res = o;
	r = cJSON_IsObject(res) ? get_header(res, h) : -EBADMSG;
	if (r == 0)
		r = get_i64(res, "ID", id);
	if (r == 0)
		r = get_i64(res, "TTL", ttl);
	if (r == 0 && (*id <= 0 || *ttl < 0))
		r = -EBADMSG;
	cJSON_Delete(o);
	return r;
}

int etcd_parse_header_only(const char *json, size_t len, struct etcd_header *h)
{
	cJSON *o = parse(json, len);
	int r = o ? get_header(o, h) : -EBADMSG;

	cJSON_Delete(o);
	return r;
}

void etcd_watch_msg_clear(struct etcd_watch_msg *m)
{
	for (size_t i = 0; i < m->n_events; i++) {
		kv_clear(&m->events[i].kv);
		kv_clear(&m->events[i].prev);
	}
	free(m->events);
	*m = (struct etcd_watch_msg){ 0 };
}

static int get_event(const cJSON *o, struct etcd_event *e)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
	const cJSON *prev = cJSON_GetObjectItemCaseSensitive(o, "prev_kv");
	int r;

	if (!cJSON_IsObject(o) || (type && !cJSON_IsString(type)))
		return -EBADMSG;
	if (type && !streq(type->valuestring, "DELETE") && !streq(type->valuestring, "PUT"))
		return -EBADMSG;
	e->deleted = type && streq(type->valuestring, "DELETE");
	r = get_kv(cJSON_GetObjectItemCaseSensitive(o, "kv"), &e->kv);
	if (r == 0 && prev) {
		r = get_kv(prev, &e->prev);
		e->has_prev = r == 0;
	}
	return r;
}

int etcd_parse_watch(const char *json, size_t len, struct etcd_watch_msg *ret)
{
	cJSON *o = parse(json, len);
	const cJSON *res, *list, *i, *why;
	int r, n;

	*ret = (struct etcd_watch_msg){ 0 };
	if (!o)
		return -EBADMSG;
	res = cJSON_GetObjectItemCaseSensitive(o, "result");
	r = cJSON_IsObject(res) ? get_header(res, &ret->header) : -EBADMSG;
	if (r == 0 && ((r = get_bool(res, "created", &ret->created)) < 0 ||
		       (r = get_bool(res, "canceled", &ret->canceled)) < 0 ||
		       (r = get_i64(res, "compact_revision", &ret->compact_revision)) < 0))
		r = -EBADMSG;
	why = r == 0 ? cJSON_GetObjectItemCaseSensitive(res, "cancel_reason") : NULL;
	if (cJSON_IsString(why)) {
		snprintf(ret->cancel_reason, sizeof(ret->cancel_reason), "%s", why->valuestring);
		string_scrub_controls(ret->cancel_reason);
	}
	list = r == 0 ? cJSON_GetObjectItemCaseSensitive(res, "events") : NULL;
	n = list ? cJSON_GetArraySize(list) : 0;
	if (list && !cJSON_IsArray(list))
		r = -EBADMSG;
	if (r == 0 && n > 0 && !(ret->events = calloc((size_t)n, sizeof(*ret->events))))
		r = -ENOMEM;
	if (r == 0 && n > 0)
		cJSON_ArrayForEach (i, list) {
			r = get_event(i, &ret->events[ret->n_events]);
			ret->n_events++; /* cleared with the others, whole or not */
			if (r < 0)
				break;
		}
	cJSON_Delete(o);
	if (r < 0)
		etcd_watch_msg_clear(ret);
	return r;
}

/* SPDX-License-Identifier: MIT */
#include "store/record.h"

#include <sodium.h>

#include "meta/verdict.h"

enum {
	T_TOKEN = 1,
	T_ISSUED_AT = 2,
	T_EXPIRES_AT = 3,
	T_USER_ID = 4,
	T_SCOPES = 5,
	T_APP_ID = 6,
	T_LAST_REFRESH = 7,
	T_FAILURES = 8,
	T_NEXT_ATTEMPT = 9,
	T_VERDICT = 10,
	T_LAST_ERROR = 11,
	T_DATA_ACCESS_EXPIRES_AT = 12,
	T_TOKEN_TYPE = 13,
	T_LAST_VALIDATED = 14,
	T_EXPIRY_ASSUMED = 15,
	T_USERNAME = 16,
	T_PAUSED_UNTIL_OWN = 17,
	T_PAUSE_LEVEL_OWN = 18,
	T_THROTTLES_OWN = 19,
	T_NO_TOKEN = 20, /* deliberately without one */
	T_GENERATION = 21,
	T_LAST_NUMBER = T_GENERATION,
	T_PAUSED_UNTIL = 32,
	T_THROTTLE_COUNT = 33,
	T_BACKOFF_LEVEL = 34,
};

struct writer {
	struct secret *buf;
	size_t used;
};

static int put(struct writer *w, uint8_t tag, const void *data, size_t len)
{
	unsigned char *p;

	if (len > UINT32_MAX || w->used + 5 + len > w->buf->len)
		return -EMSGSIZE;
	p = (unsigned char *)w->buf->data + w->used;
	p[0] = tag;
	for (int i = 0; i < 4; i++)
		p[1 + i] = (unsigned char)(len >> (8 * i));
	if (len)
		memcpy(p + 5, data, len);
	w->used += 5 + len;
	return 0;
}

static int put_i64(struct writer *w, uint8_t tag, int64_t v)
{
	unsigned char b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)((uint64_t)v >> (8 * i));
	return put(w, tag, b, 8);
}

static int put_str(struct writer *w, uint8_t tag, const char *s)
{
	return s ? put(w, tag, s, strlen(s)) : 0;
}

static int finish(struct writer *w, struct secret **ret)
{
	int r;

	if (w->used == w->buf->len) { /* sized exactly: hand it over */
		*ret = w->buf;
		return 0;
	}
	r = secret_from_mem(w->buf->data, w->used, ret);
	secret_free(w->buf);
	return r;
}

static size_t str_field(const char *s)
{
	return s ? 5 + strlen(s) : 0;
}

int record_encode(const struct vault_record *r, struct secret **ret)
{
	struct writer w = { 0 };
	size_t size;
	int k;

	if (!r->token == !r->no_token)
		return -EINVAL; /* a token, or a record that says it has none */
	/* exactly what is written: the token (or its absence), 13 8-byte numbers, five strings */
	size = 5 + (r->token ? r->token->len : 8) + 14 * (5 + 8) + str_field(r->user_id) +
	       str_field(r->username) + str_field(r->scopes) + str_field(r->app_id) +
	       str_field(r->last_error);
	if (size > RECORD_PLAIN_MAX)
		return -EMSGSIZE;
	k = secret_new(size, &w.buf);
	if (k < 0)
		return k;
	if ((k = r->token ? put(&w, T_TOKEN, r->token->data, r->token->len)
			  : put_i64(&w, T_NO_TOKEN, 1)) < 0 ||
	    (k = put_i64(&w, T_ISSUED_AT, r->issued_at)) < 0 ||
	    (k = put_i64(&w, T_EXPIRES_AT, r->expires_at)) < 0 ||
	    (k = put_i64(&w, T_DATA_ACCESS_EXPIRES_AT, r->data_access_expires_at)) < 0 ||
	    (k = put_i64(&w, T_LAST_REFRESH, r->last_refresh)) < 0 ||
	    (k = put_i64(&w, T_LAST_VALIDATED, r->last_validated)) < 0 ||
	    (k = put_i64(&w, T_NEXT_ATTEMPT, r->next_attempt)) < 0 ||
	    (k = put_i64(&w, T_FAILURES, r->failures)) < 0 ||
	    (k = put_i64(&w, T_VERDICT, r->verdict)) < 0 ||
	    (k = put_i64(&w, T_TOKEN_TYPE, r->token_type)) < 0 ||
	    (k = put_i64(&w, T_EXPIRY_ASSUMED, r->expiry_assumed)) < 0 ||
	    (k = put_str(&w, T_USER_ID, r->user_id)) < 0 ||
	    (k = put_str(&w, T_SCOPES, r->scopes)) < 0 ||
	    (k = put_str(&w, T_APP_ID, r->app_id)) < 0 ||
	    (k = put_str(&w, T_LAST_ERROR, r->last_error)) < 0 ||
	    (k = put_str(&w, T_USERNAME, r->username)) < 0 ||
	    (k = put_i64(&w, T_PAUSED_UNTIL_OWN, r->paused_until)) < 0 ||
	    (k = put_i64(&w, T_PAUSE_LEVEL_OWN, r->pause_level)) < 0 ||
	    (k = put_i64(&w, T_THROTTLES_OWN, r->throttle_count)) < 0 ||
	    (k = put_i64(&w, T_GENERATION, r->generation)) < 0) {
		secret_free(w.buf);
		return k;
	}
	return finish(&w, ret);
}

int app_record_encode(const struct app_record *r, struct secret **ret)
{
	struct writer w = { 0 };
	int k = secret_new(64, &w.buf);

	if (k < 0)
		return k;
	if ((k = put_i64(&w, T_PAUSED_UNTIL, r->paused_until)) < 0 ||
	    (k = put_i64(&w, T_THROTTLE_COUNT, r->throttle_count)) < 0 ||
	    (k = put_i64(&w, T_BACKOFF_LEVEL, r->backoff_level)) < 0) {
		secret_free(w.buf);
		return k;
	}
	return finish(&w, ret);
}

struct field {
	uint8_t tag;
	const unsigned char *data;
	size_t len;
};

/* Iterates fields; returns 1 with a field, 0 at the end, -EBADMSG if malformed. */
static int next_field(const unsigned char *p, size_t n, size_t *off, struct field *f)
{
	size_t len = 0;

	if (*off == n)
		return 0;
	if (n - *off < 5)
		return -EBADMSG;
	for (int i = 0; i < 4; i++)
		len |= (size_t)p[*off + 1 + i] << (8 * i);
	if (len > n - *off - 5)
		return -EBADMSG;
	f->tag = p[*off];
	f->data = p + *off + 5;
	f->len = len;
	*off += 5 + len;
	return 1;
}

static int get_i64(const struct field *f, int64_t *ret)
{
	uint64_t v = 0;
	if (f->len != 8)
		return -EBADMSG;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)f->data[i] << (8 * i);
	*ret = (int64_t)v;
	return 0;
}

static int get_str(const struct field *f, char **ret)
{
	char *s;
	if (f->len > RECORD_STRING_MAX || memchr(f->data, 0, f->len))
		return -EBADMSG;
	s = strndup((const char *)f->data, f->len);
	if (!s)
		return -ENOMEM;
	free(*ret);
	*ret = s;
	return 0;
}

static int decode_field(struct vault_record *r, const struct field *f, bool with_token,
			bool *seen_token)
{
	int64_t v;

	switch (f->tag) {
	case T_TOKEN:
		if (*seen_token || f->len == 0 || f->len > SECRET_MAX)
			return -EBADMSG;
		*seen_token = true;
		return with_token ? secret_from_mem(f->data, f->len, &r->token) : 0;
	case T_USER_ID: return get_str(f, &r->user_id);
	case T_SCOPES: return get_str(f, &r->scopes);
	case T_APP_ID: return get_str(f, &r->app_id);
	case T_LAST_ERROR: return get_str(f, &r->last_error);
	case T_USERNAME: return get_str(f, &r->username);
	case T_NO_TOKEN:
		if (*seen_token)
			return -EBADMSG;
		*seen_token = true; /* its absence is deliberate */
		r->no_token = true;
		return 0;
	default: break;
	}
	if (f->tag > T_LAST_NUMBER)
		return 0; /* unknown: written by a newer version */
	if (get_i64(f, &v) < 0)
		return -EBADMSG;
	switch (f->tag) {
	case T_ISSUED_AT: r->issued_at = v; break;
	case T_EXPIRES_AT: r->expires_at = v; break;
	case T_DATA_ACCESS_EXPIRES_AT: r->data_access_expires_at = v; break;
	case T_LAST_REFRESH: r->last_refresh = v; break;
	case T_LAST_VALIDATED: r->last_validated = v; break;
	case T_NEXT_ATTEMPT: r->next_attempt = v; break;
	case T_FAILURES: r->failures = (uint32_t)MIN((uint64_t)v, UINT32_MAX); break;
	case T_VERDICT:
		r->verdict =
			(uint8_t)(v >= 0 && v < _VERDICT_MAX && verdict_is_standing((enum verdict)v)
					  ? v
					  : VERDICT_OK);
		break;
	case T_TOKEN_TYPE:
		r->token_type = (uint8_t)(v >= 0 && v <= TOKEN_SYSTEM_USER ? v : TOKEN_USER);
		break;
	case T_EXPIRY_ASSUMED: r->expiry_assumed = v != 0; break;
	case T_PAUSED_UNTIL_OWN: r->paused_until = MAX(v, 0); break;
	case T_PAUSE_LEVEL_OWN: r->pause_level = (uint32_t)MIN((uint64_t)v, 64); break;
	case T_THROTTLES_OWN: r->throttle_count = (uint32_t)MIN((uint64_t)v, UINT32_MAX); break;
	case T_GENERATION: r->generation = MAX(v, 0); break;
	default: break;
	}
	return 0;
}

static int decode(const void *p, size_t n, bool with_token, struct vault_record **ret)
{
	_cleanup_(record_freep) struct vault_record *r = calloc(1, sizeof(*r));
	bool seen_token = false;
	struct field f;
	size_t off = 0;
	int k;

	if (!r)
		return -ENOMEM;
	while ((k = next_field(p, n, &off, &f)) > 0)
		if ((k = decode_field(r, &f, with_token, &seen_token)) < 0)
			return k;
	if (k < 0)
		return k;
	if (!seen_token)
		return -EBADMSG;
	*ret = TAKE_PTR(r);
	return 0;
}

int record_decode(const void *p, size_t n, struct vault_record **ret)
{
	return decode(p, n, true, ret);
}

int record_decode_meta(const void *p, size_t n, struct vault_record **ret)
{
	return decode(p, n, false, ret);
}

int app_record_decode(const void *p, size_t n, struct app_record *ret)
{
	struct app_record r = { 0 };
	struct field f;
	size_t off = 0;
	int64_t v;
	int k;

	while ((k = next_field(p, n, &off, &f)) > 0) {
		if (get_i64(&f, &v) < 0)
			continue;
		if (f.tag == T_PAUSED_UNTIL)
			r.paused_until = v;
		else if (f.tag == T_THROTTLE_COUNT)
			r.throttle_count = (uint32_t)MIN((uint64_t)v, UINT32_MAX);
		else if (f.tag == T_BACKOFF_LEVEL)
			r.backoff_level = (uint32_t)MIN((uint64_t)v, 64);
	}
	if (k < 0)
		return k;
	*ret = r;
	return 0;
}

struct vault_record *record_free(struct vault_record *r)
{
	if (!r)
		return NULL;
	secret_free(r->token);
	free(r->user_id);
	free(r->username);
	free(r->scopes);
	free(r->app_id);
	free(r->last_error);
	free(r);
	return NULL;
}

int record_set_string(char **field, const char *value)
{
	char *s = NULL;
	if (value && !(s = strdup(value)))
		return -ENOMEM;
	free(*field);
	*field = s;
	return 0;
}

/* SPDX-License-Identifier: MIT */
#include "net/etcd.h"

#include <cjson/cJSON.h>
#include <stdio.h>

#include "basic/log.h"
#include "basic/util.h"
#include "net/http.h"

#define ETCD_URL_MAX 512

enum call_kind { CALL_RANGE, CALL_TXN, CALL_GRANT, CALL_KEEPALIVE, CALL_REVOKE, CALL_AUTH };

static const char *const paths[] = {
	[CALL_RANGE] = "/v3/kv/range",	    [CALL_TXN] = "/v3/kv/txn",
	[CALL_GRANT] = "/v3/lease/grant",   [CALL_KEEPALIVE] = "/v3/lease/keepalive",
	[CALL_REVOKE] = "/v3/lease/revoke", [CALL_AUTH] = "/v3/auth/authenticate",
};

struct etcd_client {
	sd_event *event;
	struct http_client *http;
	char **endpoints;
	size_t n_endpoints, current;
	char *user;
	struct secret *password;
	struct secret *auth_header; /* "Authorization: TOKEN", or NULL */
	bool authenticating;
	struct etcd_call *calls; /* under way or waiting for the token */
};

struct etcd_call {
	struct etcd_client *client;
	struct etcd_call *prev, *next;
	enum call_kind kind;
	bool write, reauthed, waiting;
	struct secret *body;
	size_t tries;	 /* endpoints tried */
	size_t endpoint; /* the one it went to last */
	struct http_request *req;
	etcd_cb_t cb;
	void *userdata;
	void (*dropped)(void *userdata); /* it ends without an answer */
};

static void call_free(struct etcd_call *call)
{
	struct etcd_client *c = call->client;

	if (call->req)
		http_request_cancel(call->req);
	if (call->prev)
		call->prev->next = call->next;
	else
		c->calls = call->next;
	if (call->next)
		call->next->prev = call->prev;
	secret_free(call->body);
	free(call);
}

void etcd_call_on_drop(struct etcd_call *call, void (*dropped)(void *userdata))
{
	call->dropped = dropped;
}

/* A call that ends without its callback: whoever gave userdata frees it. */
static void call_drop(struct etcd_call *call)
{
	void (*dropped)(void *userdata) = call->dropped;
	void *userdata = call->userdata;

	call_free(call);
	if (dropped)
		dropped(userdata);
}

void etcd_call_cancel(struct etcd_call *call)
{
	if (call)
		call_drop(call);
}

const char *etcd_client_endpoint(const struct etcd_client *c)
{
	return c->endpoints[c->current];
}

int etcd_client_url(const struct etcd_client *c, const char *path, struct secret **ret)
{
	char url[ETCD_URL_MAX];
	int n = snprintf(url, sizeof(url), "%s%s", etcd_client_endpoint(c), path);

	if (n < 0 || (size_t)n >= sizeof(url))
		return -ENAMETOOLONG;
	return secret_from_mem(url, (size_t)n, ret);
}

/* ---- calls ---- */

static void on_answer(const struct http_response *r, void *userdata);
static void on_auth_answer(const struct http_response *r, void *userdata);
static int authenticate(struct etcd_client *c);

static int send_call(struct etcd_call *call)
{
	struct etcd_client *c = call->client;
	_cleanup_secret_ struct secret *url = NULL;
	int k;

	if (c->user && !c->auth_header && call->kind != CALL_AUTH) {
		call->waiting = true; /* sent once a token is in hand */
		return c->authenticating ? 0 : authenticate(c);
	}
	k = etcd_client_url(c, paths[call->kind], &url);
	if (k < 0)
		return k;
	call->tries++;
	call->endpoint = c->current;
	if (call->kind == CALL_AUTH)
		return http_post_json(c->http, url, NULL, call->body, NULL, on_auth_answer, call,
				      &call->req);
	return http_post_json(c->http, url, c->auth_header, call->body, NULL, on_answer, call,
			      &call->req);
}

static void answer(struct etcd_call *call, struct etcd_answer *a)
{
	a->endpoint = etcd_client_endpoint(call->client);
	call->req = NULL;
	call->cb(a, call->userdata);
	etcd_kvs_clear(&a->kvs);
	etcd_txn_answer_clear(&a->txn);
	call_free(call);
}

static void fail(struct etcd_call *call, int error, const char *why)
{
	answer(call, &(struct etcd_answer){ .error = error, .why = why });
}

size_t etcd_client_endpoint_index(const struct etcd_client *c)
{
	return c->current;
}

void etcd_client_failed(struct etcd_client *c, size_t endpoint)
{
	/* several calls fail on one endpoint: the client moves on once */
	if (endpoint == c->current)
		c->current = (c->current + 1) % c->n_endpoints;
}

/* The next endpoint: for this call again (a read, or a write never sent), and
 * for whatever comes next. */
static bool try_next(struct etcd_call *call)
{
	etcd_client_failed(call->client, call->endpoint);
	if (call->tries >= call->client->n_endpoints)
		return false;
	call->req = NULL;
	return send_call(call) >= 0;
}

static void parse_answer(struct etcd_call *call, const struct http_response *r)
{
	struct etcd_answer a = { 0 };
	int k;

	switch (call->kind) {
	case CALL_RANGE: k = etcd_parse_range(r->body, r->body_len, &a.header, &a.kvs); break;
	case CALL_TXN:
		k = etcd_parse_txn(r->body, r->body_len, &a.txn);
		a.header = a.txn.header;
		break;
	case CALL_GRANT:
	case CALL_KEEPALIVE:
		k = etcd_parse_lease(r->body, r->body_len, &a.header, &a.lease_id, &a.ttl);
		break;
	default: k = etcd_parse_header_only(r->body, r->body_len, &a.header); break;
	}
	if (k < 0) {
		a.error = -EBADMSG;
		a.why = "etcd's answer is not what the gateway sends";
		a.maybe_applied = call->write;
	}
	answer(call, &a);
}

static void refused(struct etcd_call *call, const struct http_response *r)
{
	struct etcd_client *c = call->client;
	char why[256];
	int code = -1;

	if (etcd_parse_error(r->body, r->body_len, &code, why, sizeof(why)) <= 0) {
		snprintf(why, sizeof(why), "etcd answered HTTP %ld", r->status);
		code = -1;
	}
	if (code == 16 && c->user && !call->reauthed && call->kind != CALL_AUTH) {
		/* the token expired (or the member restarted): a new one, once */
		call->reauthed = true;
		c->auth_header = secret_free(c->auth_header);
		call->req = NULL;
		if (send_call(call) >= 0)
			return;
	}
	/* Unavailable: this member has no leader, or timed out waiting for one */
	if (code == 14 && !call->write && try_next(call))
		return;
	answer(call,
	       &(struct etcd_answer){
		       .error = -EPROTO,
		       .code = code,
		       .why = why,
		       .maybe_applied = call->write && code == 14 && !strstr(why, "no leader"),
	       });
}

static void on_answer(const struct http_response *r, void *userdata)
{
	struct etcd_call *call = userdata;
	bool unsent = r->error == -ECONNREFUSED || r->error == -EHOSTUNREACH || r->error == -EPROTO;

	call->req = NULL;
	if (r->error) {
		if ((unsent || !call->write) && try_next(call))
			return;
		if (!unsent)
			etcd_client_failed(call->client, call->endpoint);
		answer(call, &(struct etcd_answer){ .error = r->error,
						    .why = r->error_text,
						    .maybe_applied = call->write && !unsent });
		return;
	}
	if (r->status != 200)
		return refused(call, r);
	parse_answer(call, r);
}

static int start_call(struct etcd_client *c, enum call_kind kind, bool write, char *json,
		      etcd_cb_t cb, void *userdata, struct etcd_call **ret)
{
	struct etcd_call *call;
	int k;

	if (!json)
		return -ENOMEM;
	call = calloc(1, sizeof(*call));
	k = call ? secret_from_mem(json, strlen(json), &call->body) : -ENOMEM;
	free(json);
	if (!call)
		return k;
	call->client = c;
	call->kind = kind;
	call->write = write;
	call->cb = cb;
	call->userdata = userdata;
	call->next = c->calls;
	if (c->calls)
		c->calls->prev = call;
	c->calls = call;
	if (k >= 0)
		k = send_call(call);
	if (k < 0) {
		call_free(call);
		return k;
	}
	if (ret)
		*ret = call;
	return 0;
}

int etcd_range(struct etcd_client *c, const char *key, const char *range_end, int64_t limit,
	       int64_t revision, etcd_cb_t cb, void *userdata, struct etcd_call **ret)
{
	return start_call(c, CALL_RANGE, false, etcd_build_range(key, range_end, limit, revision),
			  cb, userdata, ret);
}

int etcd_txn(struct etcd_client *c, const struct etcd_txn *t, etcd_cb_t cb, void *userdata,
	     struct etcd_call **ret)
{
	bool write = false;

	for (size_t i = 0; i < t->n_success; i++)
		write |= t->success[i].kind != ETCD_OP_RANGE;
	for (size_t i = 0; i < t->n_failure; i++)
		write |= t->failure[i].kind != ETCD_OP_RANGE;
	return start_call(c, CALL_TXN, write, etcd_build_txn(t), cb, userdata, ret);
}

int etcd_lease_grant(struct etcd_client *c, int64_t ttl, etcd_cb_t cb, void *userdata,
		     struct etcd_call **ret)
{
	return start_call(c, CALL_GRANT, true, etcd_build_lease_grant(ttl), cb, userdata, ret);
}

int etcd_lease_keepalive(struct etcd_client *c, int64_t id, etcd_cb_t cb, void *userdata,
			 struct etcd_call **ret)
{
	/* renewing twice does no harm: it may go to the next member */
	return start_call(c, CALL_KEEPALIVE, false, etcd_build_lease_id(id), cb, userdata, ret);
}

int etcd_lease_revoke(struct etcd_client *c, int64_t id, etcd_cb_t cb, void *userdata,
		      struct etcd_call **ret)
{
	return start_call(c, CALL_REVOKE, false, etcd_build_lease_id(id), cb, userdata, ret);
}

/* ---- password auth ---- */

/* Every call waiting for a token goes (error 0), or fails with error. A
 * callback may cancel other calls: the list is walked again after each. */
static void release_waiting(struct etcd_client *c, int error, const char *why)
{
	for (;;) {
		struct etcd_call *call = c->calls;
		int k = error;

		while (call && !call->waiting)
			call = call->next;
		if (!call)
			return;
		call->waiting = false;
		if (k == 0 && (k = send_call(call)) >= 0)
			continue;
		fail(call, k, why);
	}
}

static void on_token(const struct etcd_answer *a, void *userdata)
{
	struct etcd_client *c = userdata;

	c->authenticating = false;
	/* a store that did not answer is not a refusal */
	release_waiting(c,
			c->auth_header			  ? 0
			: a->error && a->error != -EPROTO ? a->error
							  : -EACCES,
			a->error ? a->why : "etcd refused igtokend's user and password");
}

/* The token in an answer to /v3/auth/authenticate becomes the header. */
static void take_token(struct etcd_client *c, const struct http_response *r)
{
	cJSON *o = cJSON_ParseWithLength(r->body, r->body_len);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "token");
	struct secret *h = NULL;

	if (cJSON_IsString(t) && t->valuestring[0] && !strpbrk(t->valuestring, "\r\n") &&
	    secret_new(strlen(t->valuestring) + 16, &h) >= 0) {
		snprintf(h->data, h->len, "Authorization: %s", t->valuestring);
		h->len = strlen(h->data);
		secret_free(c->auth_header);
		c->auth_header = h;
	}
	cJSON_Delete(o);
}

static void on_auth_answer(const struct http_response *r, void *userdata)
{
	struct etcd_call *call = userdata;

	if (!r->error && r->status == 200)
		take_token(call->client, r);
	on_answer(r, userdata);
}

static int authenticate(struct etcd_client *c)
{
	cJSON *o = cJSON_CreateObject();
	char *json;
	int k;

	if (!o || !cJSON_AddStringToObject(o, "name", c->user) ||
	    !cJSON_AddStringToObject(o, "password", c->password->data)) {
		cJSON_Delete(o);
		return -ENOMEM;
	}
	json = cJSON_PrintUnformatted(o); /* cJSON's memory is wiped when freed */
	cJSON_Delete(o);
	c->authenticating = true;
	k = start_call(c, CALL_AUTH, false, json, on_token, c, NULL);
	if (k < 0)
		c->authenticating = false;
	return k;
}

/* ---- the client ---- */

int etcd_client_new(sd_event *e, const struct etcd_options *o, struct etcd_client **ret)
{
	struct http_client_options ho = {
		.name = "etcd",
		.ca_file = o->ca_file,
		.cert_file = o->cert_file,
		.key_file = o->key_file,
		.timeout_sec = o->timeout_sec,
		.max_connections = 4,
		.plain_http = true,
		.body_max = ETCD_ANSWER_MAX,
	};
	struct etcd_client *c;
	int k;

	if (o->n_endpoints == 0 || (o->user && !o->password))
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->event = sd_event_ref(e);
	c->endpoints = calloc(o->n_endpoints, sizeof(char *));
	k = c->endpoints ? http_client_new(e, &ho, &c->http) : -ENOMEM;
	for (size_t i = 0; k >= 0 && i < o->n_endpoints; i++, c->n_endpoints++)
		if (!(c->endpoints[i] = strdup(o->endpoints[i])))
			k = -ENOMEM;
	if (k >= 0 && o->user &&
	    (!(c->user = strdup(o->user)) ||
	     (k = secret_from_mem(o->password->data, o->password->len, &c->password)) < 0))
		k = k < 0 ? k : -ENOMEM;
	if (k < 0) {
		etcd_client_free(c);
		return k;
	}
	*ret = c;
	return 0;
}

sd_event *etcd_client_event(const struct etcd_client *c)
{
	return c->event;
}

struct http_client *etcd_client_http(const struct etcd_client *c)
{
	return c->http;
}

int etcd_client_auth(const struct etcd_client *c, const struct secret **ret)
{
	*ret = c->auth_header;
	return c->user && !c->auth_header ? -EAGAIN : 0;
}

struct etcd_client *etcd_client_free(struct etcd_client *c)
{
	if (!c)
		return NULL;
	while (c->calls)
		call_drop(c->calls);
	http_client_free(c->http);
	for (size_t i = 0; i < c->n_endpoints; i++)
		free(c->endpoints[i]);
	free(c->endpoints);
	free(c->user);
	secret_free(c->password);
	secret_free(c->auth_header);
	sd_event_unref(c->event);
	free(c);
	return NULL;
}

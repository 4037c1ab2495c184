/* SPDX-License-Identifier: MIT */
#pragma once

/* A client of etcd v3's JSON gateway (the cluster store, CLUSTER.md) on the
 * event loop: net/http.c's libcurl multi handle, cJSON (net/etcd-msg.h).
 * Endpoints are tried in turn: a read goes to the next one when one fails; a
 * write is never sent twice by this layer: when its fate is unknown (it timed
 * out after it was sent, or etcd said "request timed out") the answer says
 * maybe_applied and the caller reads back. TLS verifies the server (ca_file)
 * and may present a client certificate; password auth gets a token from
 * /v3/auth/authenticate and renews it when etcd says it is no longer valid.
 * No policy: what the keys mean is the caller's. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "basic/secret.h"
#include "net/etcd-build.h"
#include "net/etcd-msg.h"

struct etcd_options {
	char *const *endpoints; /* "https://10.0.0.1:2379", ... (http:// allowed) */
	size_t n_endpoints;
	const char *ca_file, *cert_file, *key_file;
	const char *user;	       /* password auth, or NULL */
	const struct secret *password; /* copied */
	int64_t timeout_sec;	       /* one request, one endpoint */
};

struct etcd_answer {
	int error;	    /* 0; transport: -ECONNREFUSED, -ETIMEDOUT ...; etcd refused: -EPROTO */
	bool maybe_applied; /* a write that may have been applied all the same */
	int code;	    /* -EPROTO: etcd's (gRPC) code */
	const char *why;    /* for people, when error */
	const char *endpoint;
	struct etcd_header header;
	struct etcd_kvs kvs;	    /* range */
	struct etcd_txn_answer txn; /* txn */
	int64_t lease_id, ttl;	    /* grant, keepalive: ttl 0 once the lease is gone */
};
typedef void (*etcd_cb_t)(const struct etcd_answer *a, void *userdata);

struct etcd_client;
struct etcd_call;
struct http_client;

int etcd_client_new(sd_event *e, const struct etcd_options *o, struct etcd_client **ret);
/* Calls still under way are dropped; their callbacks do not run. Its watches
 * (net/etcd-watch.h) are freed before it. */
struct etcd_client *etcd_client_free(struct etcd_client *c);
/* The endpoint requests go to now. */
const char *etcd_client_endpoint(const struct etcd_client *c);
/* For net/etcd-watch.c: the current endpoint's URL for path (guarded memory);
 * what failed there moves the client on to the next endpoint; the event loop,
 * the HTTP client; the Authorization header (NULL without auth; -EAGAIN until
 * a call has fetched the token). etcd_client_failed() moves on only if the
 * endpoint that failed (etcd_client_endpoint_index() when it was used) is
 * still the current one: failures of several calls on one member move the
 * client on once, not round to that member again. */
int etcd_client_url(const struct etcd_client *c, const char *path, struct secret **ret);
void etcd_client_failed(struct etcd_client *c, size_t endpoint);
size_t etcd_client_endpoint_index(const struct etcd_client *c);
sd_event *etcd_client_event(const struct etcd_client *c);
struct http_client *etcd_client_http(const struct etcd_client *c);
int etcd_client_auth(const struct etcd_client *c, const struct secret **ret);

/* Each runs cb exactly once (from the event loop, never before it returns)
 * unless cancelled; *ret (may be NULL) is for etcd_call_cancel(). */
int etcd_range(struct etcd_client *c, const char *key, const char *range_end, int64_t limit,
	       int64_t revision, etcd_cb_t cb, void *userdata, struct etcd_call **ret);
int etcd_txn(struct etcd_client *c, const struct etcd_txn *t, etcd_cb_t cb, void *userdata,
	     struct etcd_call **ret);
int etcd_lease_grant(struct etcd_client *c, int64_t ttl, etcd_cb_t cb, void *userdata,
		     struct etcd_call **ret);
int etcd_lease_keepalive(struct etcd_client *c, int64_t id, etcd_cb_t cb, void *userdata,
			 struct etcd_call **ret);
int etcd_lease_revoke(struct etcd_client *c, int64_t id, etcd_cb_t cb, void *userdata,
		      struct etcd_call **ret);
/* Without its callback: dropped(userdata) runs if set (etcd_call_on_drop()),
 * also for the calls etcd_client_free() drops. */
void etcd_call_cancel(struct etcd_call *call);
void etcd_call_on_drop(struct etcd_call *call, void (*dropped)(void *userdata));

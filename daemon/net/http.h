/* SPDX-License-Identifier: MIT */
#pragma once

/* HTTPS requests on the event loop: libcurl's multi-socket API with its sockets
 * and timer as sd-event sources, so nothing blocks. One client per app keeps its
 * connections and its CA store alive across requests. No policy here: the caller
 * decides what an answer means. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "basic/macro.h"
#include "basic/secret.h"

#define HTTP_BODY_MAX	  (64 * 1024) /* a Meta token answer is a few hundred bytes */
#define HTTP_BODY_INITIAL 2048	      /* the buffer grows (4x) only for larger answers */
#define HTTP_HEADER_MAX	  (16 * 1024) /* one captured header value */

struct http_client_options {
	const char *name;    /* for debug logs */
	const char *ca_file; /* extra trust anchor, or NULL */
	int64_t timeout_sec; /* connect and total (a stream: connect only) */
	unsigned max_connections;
	const char *cert_file, *key_file; /* a client certificate (PEM), or NULL */
	bool plain_http;		  /* http:// URLs too; else https only */
	size_t body_max; /* the largest answer (a stream: line); 0: HTTP_BODY_MAX */
};

struct http_response {
	int error; /* 0, or -ETIMEDOUT, -ECONNREFUSED, -EMSGSIZE (body too large), -EIO ... */
	const char *error_text; /* what libcurl said, for people */
	long status;		/* HTTP status, 0 if none */
	const char *body;	/* NUL-terminated; may hold a token: wiped after the callback */
	size_t body_len;
	const char *app_usage;	 /* X-App-Usage, or NULL */
	const char *buc_usage;	 /* X-Business-Use-Case-Usage, or NULL */
	const char *retry_after; /* Retry-After, or NULL */
	int64_t sent_at;	 /* realtime seconds when the request was sent */
};

struct http_client;
struct http_request;

typedef void (*http_callback_t)(const struct http_response *r, void *userdata);

int http_global_init(void);
void http_global_done(void);

int http_client_new(sd_event *e, const struct http_client_options *o, struct http_client **ret);
/* Cancels every request still under way (their callbacks are not called). */
struct http_client *http_client_free(struct http_client *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct http_client *, http_client_free)

/* The URL is a secret (it may carry a token); it and the form body are copied
 * into guarded memory. The callback runs exactly once unless the request is cancelled. */
int http_get(struct http_client *c, const struct secret *url, http_callback_t cb, void *userdata,
	     struct http_request **ret);
int http_post_form(struct http_client *c, const struct secret *url, const struct secret *form,
		   http_callback_t cb, void *userdata, struct http_request **ret);
/* A JSON POST (etcd's gateway): body and header (one extra header line, such
 * as "Authorization: ...", or NULL) are copied into guarded memory. With
 * on_line the answer is a stream: each complete line goes to on_line as it
 * arrives and is not kept; cb runs once at the end all the same. */
typedef void (*http_line_t)(const char *line, size_t len, void *userdata);
int http_post_json(struct http_client *c, const struct secret *url, const struct secret *header,
		   const struct secret *body, http_line_t on_line, http_callback_t cb,
		   void *userdata, struct http_request **ret);
void http_request_cancel(struct http_request *r);

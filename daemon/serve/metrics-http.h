/* SPDX-License-Identifier: MIT */
#pragma once

/* The scrape endpoint (CONTRACT 15.1): GET /metrics (Prometheus text
 * exposition, what an admin sees) and GET /healthz over HTTP, served by
 * libmicrohttpd on the daemon's event loop (its epoll fd watched by sd-event;
 * no thread). What a client does costs only itself: a bounded number of
 * connections, a complete request within a deadline of connecting (or of its
 * last answer), bounded header memory, and one shared copy of the exposition
 * per second however many ask for it. */

#include <systemd/sd-event.h>

#include "basic/secret.h"

struct metrics_http;

struct metrics_http_ops {
	/* The exposition text (malloc'd, the caller frees it), or NULL without memory. */
	char *(*render)(void *userdata);
};

#define METRICS_HTTP_CONNECTIONS  128 /* at once; more wait in the kernel's backlog */
#define METRICS_HTTP_DEADLINE_SEC 10  /* for a complete request, and the idle timeout */

/* Listens on HOST:PORT (CONTRACT 15.1). password NULL: no authentication; else
 * HTTP basic auth with that password (any user) for /metrics. The password is
 * copied. -EADDRINUSE, -EADDRNOTAVAIL, -EINVAL for what cannot be listened on. */
int metrics_http_new(sd_event *e, const char *listen, const struct secret *password,
		     const struct metrics_http_ops *ops, void *userdata, struct metrics_http **ret);
struct metrics_http *metrics_http_free(struct metrics_http *h);
/* A reload's new password (NULL: none). */
int metrics_http_set_password(struct metrics_http *h, const struct secret *password);

/* SPDX-License-Identifier: MIT */
#pragma once

/* The control socket's transport: a listening Unix stream socket, connections
 * identified by SO_PEERCRED/SO_PEERGROUPS, and lines in and out. Hostile
 * clients cost themselves: line limits, per-uid caps (the oldest idle
 * connection gives way), idle timeouts, bounded output, and a pause instead of
 * a busy loop when file descriptors run out. It knows nothing of requests:
 * complete lines go to a callback, one at a time, in order. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "serve/unix-socket.h"

#define LISTENER_CONN_MAX    4096 /* connections in all */
#define LISTENER_PER_UID_MAX 128  /* connections per uid; the oldest idle one gives way */
#define LISTENER_IDLE_SEC    60	  /* a connection without a complete request is closed */
#define LISTENER_OUTPUT_MAX  (256u * 1024 * 1024) /* unsent bytes (a lagging watcher is dropped) */
#define LISTENER_ACCEPT_PAUSE_USEC                                                                 \
	(100 * 1000) /* out of file descriptors: stop accepting this long */

struct listener;
struct conn;

struct listener_ops {
	/* One complete, non-blank line (without its newline; wiped after the call). To
	 * answer later, call conn_hold() now and conn_resume() once answered. */
	void (*line)(void *userdata, struct conn *c, char *line, size_t n);
	/* The connection is gone; whatever refers to it must let go (conn_unref). */
	void (*closed)(void *userdata, struct conn *c);
};

/* Listens on fd (socket activation) or binds path: 0666 in 0755 directories.
 * -EADDRINUSE if another daemon answers there. */
int listener_new(sd_event *e, int fd, const char *path, const struct listener_ops *ops,
		 void *userdata, struct listener **ret);
struct listener *listener_free(struct listener *l);
/* Calls fn for every open connection; fn may close the one it is given. */
void listener_foreach(struct listener *l, void (*fn)(struct conn *c, void *userdata),
		      void *userdata);

struct conn *conn_ref(struct conn *c);
struct conn *conn_unref(struct conn *c);
bool conn_is_open(const struct conn *c);
const struct caller *conn_caller(const struct conn *c);

/* Queues one line (a newline is added) and writes what the socket takes now.
 * A connection whose unsent output would pass the limit is closed: -ENOBUFS. */
int conn_send(struct conn *c, const char *line, size_t n);
/* No further lines until conn_resume(): an answer is under way. */
void conn_hold(struct conn *c);
/* The answer went out: the next line is taken, never from inside the caller's stack. */
void conn_resume(struct conn *c);
/* It now only receives events (watch): what it sends is dropped; it stays until it hangs up. */
void conn_set_watcher(struct conn *c);
bool conn_is_watcher(const struct conn *c);
/* Closes once what is queued has been written. */
void conn_close_after_output(struct conn *c);

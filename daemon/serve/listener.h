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

#include "serve/conn.h"
#include "serve/unix-socket.h"

/* Connections in all; at the cap, the biggest uid's oldest idle one gives way. */
#define LISTENER_CONN_MAX 4096
/* Connections per uid (watchers too); its oldest idle one gives way to a new one. */
#define LISTENER_PER_UID_MAX 128
/* Out of file descriptors: accepting rests this long instead of spinning. */
#define LISTENER_ACCEPT_PAUSE_USEC (100 * 1000)

struct listener;

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

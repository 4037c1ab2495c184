/* SPDX-License-Identifier: MIT */
#pragma once

/* One client connection of the control socket: lines in, lines out, one request
 * at a time. What a client sends or fails to read costs only itself: requests
 * are at most PROTO_LINE_MAX bytes; above CONN_OUTPUT_MAX of unsent answers no
 * further request is read (backpressure); a connection without a complete
 * request, or stuck over that bound, for CONN_IDLE_SEC is closed; a watcher that
 * does not keep up is dropped; after CONN_LINES_PER_WAKEUP requests it yields. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "serve/unix-socket.h"

/* Without a complete request, or stuck over the output bound, this long: closed. */
#define CONN_IDLE_SEC 60
/* Unsent bytes above which no further request is read (backpressure). */
#define CONN_OUTPUT_MAX (1u << 20)
/* A watcher this far behind is dropped. */
#define CONN_WATCHER_MAX (4u << 20)
/* Requests taken from one connection before the others get a turn. */
#define CONN_LINES_PER_WAKEUP 32
/* The input buffer at first; it grows to PROTO_LINE_MAX + 1 for long requests. */
#define CONN_IN_INITIAL 1024
/* A streamed answer is written on while less than this is unsent. */
#define CONN_DRAIN_LOW (256u << 10)

struct conn;

struct conn_ops {
	/* One complete, non-blank line (without its newline; wiped after the call). To
	 * answer later, call conn_hold() now and conn_resume() once answered. */
	void (*line)(void *userdata, struct conn *c, char *line, size_t n);
	/* It closed (it is still referenced by whoever holds a reference). */
	void (*closed)(void *userdata, struct conn *c);
};

struct conn {
	struct conn *prev, *next; /* the listener's list, oldest first */
	unsigned n_ref;
	bool open;
	sd_event *event;
	const struct conn_ops *ops;
	void *userdata;
	int fd;
	int epfd; /* the listener's epoll set it is in */
	sd_event_source *idle, *resume;
	struct caller caller;
	char *in; /* grows to PROTO_LINE_MAX + 1; wiped: an import carries a token */
	size_t in_len, in_size;
	char *out; /* wiped: token answers */
	size_t out_len, out_off, out_size;
	bool held, watcher, closing, in_loop;
	/* the socket may hold bytes not read yet (a short read empties it; the next
	 * arrival is a new edge), and whether the client hung up */
	bool readable, hup;
	uint64_t last_active; /* CLOCK_BOOTTIME usec of the last complete request */
	uint64_t over_since;  /* when its unsent output passed CONN_OUTPUT_MAX, 0: it is not */
	void (*drain)(void *userdata); /* waiting for the client to read (conn_notify_drain) */
	void *drain_userdata;
	uint64_t drain_since;
};

/* Takes fd and the caller. */
int conn_new(sd_event *e, int epfd, int fd, struct caller *caller, const struct conn_ops *ops,
	     void *userdata, struct conn **ret);
/* What epoll reported for the connection (EPOLLIN, EPOLLOUT, hang-ups). */
void conn_io(struct conn *c, uint32_t revents);
/* Closes it now; the memory goes with the last reference. */
void conn_close(struct conn *c);

struct conn *conn_ref(struct conn *c);
struct conn *conn_unref(struct conn *c);
bool conn_is_open(const struct conn *c);
const struct caller *conn_caller(const struct conn *c);

/* Queues one line (a newline is added) and writes what the socket takes now. A
 * watcher whose unsent output passes CONN_WATCHER_MAX is closed: -ENOBUFS. */
int conn_send(struct conn *c, const char *line, size_t n);
/* Part of a line (end_of_line: and its newline), for an answer written in pieces. */
int conn_write(struct conn *c, const char *s, size_t n, bool end_of_line);
size_t conn_unsent(const struct conn *c);
/* fn(userdata) once, when less than CONN_DRAIN_LOW is unsent (at once if that is
 * so already) or the connection closes. A client that reads nothing for
 * CONN_IDLE_SEC meanwhile is closed. */
void conn_notify_drain(struct conn *c, void (*fn)(void *userdata), void *userdata);
/* No further lines until conn_resume(): an answer is under way. */
void conn_hold(struct conn *c);
/* The answer went out: the next line is taken, never from inside the caller's stack. */
void conn_resume(struct conn *c);
/* It now only receives events (watch): what it sends is dropped; it stays until it hangs up. */
void conn_set_watcher(struct conn *c);
bool conn_is_watcher(const struct conn *c);
/* Closes once what is queued has been written. */
void conn_close_after_output(struct conn *c);

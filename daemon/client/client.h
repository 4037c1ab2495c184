/* SPDX-License-Identifier: MIT */
#pragma once

/* The client side of the control socket, for igtokenctl and libigtoken. Uses
 * basic/ only, never daemon internals, and no JSON: that is the caller's. */

#include <stddef.h>

struct client;

/* $IGTOKEND_SOCKET, else the default. */
const char *client_socket_path(const char *override);

/* -ECONNREFUSED when nobody listens (or the socket does not exist). */
int client_connect(const char *path, struct client **ret);
void client_close(struct client *c);

/* Sends one request line (a newline is added). */
int client_send(struct client *c, const char *line, size_t len);
/* Receives one answer line into *ret (NUL-terminated, without the newline; owned by c,
 * valid until the next call, wiped then). timeout_ms < 0: wait forever. Signals do
 * not interrupt it before the deadline. -ECONNRESET if the daemon hung up,
 * -ETIMEDOUT, -EMSGSIZE. */
int client_recv(struct client *c, int timeout_ms, char **ret, size_t *ret_len);
/* The same, but a signal returns -EINTR (igtokenctl watch stops on Ctrl-C). */
int client_recv_interruptible(struct client *c, int timeout_ms, char **ret, size_t *ret_len);

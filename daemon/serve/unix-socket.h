/* SPDX-License-Identifier: MIT */
#pragma once

/* The Unix socket itself: binding the control socket, and who is at the other
 * end of a connection. */

#include <stddef.h>
#include <sys/types.h>

/* Who is at the other end, as the kernel says (SO_PEERCRED, SO_PEERGROUPS:
 * however many groups the caller has). */
struct caller {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	gid_t *groups; /* primary and supplementary */
	size_t n_groups;
};

/* Binds and listens on path: mode 0666 (each request is judged by peer
 * credentials) in 0755 directories made as needed. A stale socket file (nobody
 * answers) is replaced; -EADDRINUSE if someone answers there; -ENOTSOCK if
 * something else is there (it is left alone). */
int unix_socket_listen(const char *path, int *ret_fd);
int unix_socket_peer(int fd, struct caller *ret);
void caller_clear(struct caller *c);

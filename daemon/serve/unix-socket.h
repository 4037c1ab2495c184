/* SPDX-License-Identifier: MIT */
#pragma once

/* The Unix socket itself: binding the control socket, and who is at the other
 * end of a connection. */

#include <stddef.h>
#include <sys/types.h>

#define UNIX_SOCKET_GROUPS_MAX 256

/* Who is at the other end, as the kernel says (SO_PEERCRED, SO_PEERGROUPS). */
struct caller {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	gid_t groups[UNIX_SOCKET_GROUPS_MAX]; /* primary and supplementary */
	size_t n_groups;
};

/* Binds and listens on path: mode 0666 (each request is judged by peer
 * credentials) in 0755 directories made as needed. A stale socket file (nobody
 * answers) is replaced; -EADDRINUSE if someone answers there. */
int unix_socket_listen(const char *path, int *ret_fd);
int unix_socket_peer(int fd, struct caller *ret);

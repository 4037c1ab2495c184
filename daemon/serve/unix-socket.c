/* SPDX-License-Identifier: MIT */
#include "serve/unix-socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "basic/util.h"

/* Every missing directory on the way to path's, 0755 despite our umask: every
 * local user must reach the socket. */
static void make_parents(const char *path)
{
	_cleanup_free_ char *dir = strdup(path);
	char *slash = dir ? strrchr(dir, '/') : NULL;

	if (!slash || slash == dir)
		return;
	*slash = '\0';
	for (char *p = dir + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(dir, 0755) == 0)
				(void)chmod(dir, 0755);
			*p = '/';
		}
	if (mkdir(dir, 0755) == 0)
		(void)chmod(dir, 0755);
}

int unix_socket_listen(const char *path, int *ret_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1, probe = -1;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	make_parents(path);
	/* Someone answering there is another igtokend; a file nobody answers on is stale. */
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe < 0)
		return negative_errno();
	if (connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return -EADDRINUSE;
	if (errno == ECONNREFUSED)
		(void)unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return negative_errno();
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return negative_errno();
	/* every local user may connect; each request is judged by peer credentials */
	if (chmod(path, 0666) < 0 || listen(fd, SOMAXCONN) < 0) {
		int r = negative_errno();
		(void)unlink(path);
		return r;
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int unix_socket_peer(int fd, struct caller *c)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	gid_t groups[UNIX_SOCKET_GROUPS_MAX];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return negative_errno();
	c->uid = uc.uid;
	c->gid = uc.gid;
	c->pid = uc.pid;
	c->groups[0] = uc.gid;
	c->n_groups = 1;
	len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
		for (size_t i = 0; i < len / sizeof(gid_t) && c->n_groups < UNIX_SOCKET_GROUPS_MAX;
		     i++)
			c->groups[c->n_groups++] = groups[i];
	return 0;
}

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

/* What is at path now: nothing, a socket nobody answers on (stale: removed),
 * someone answering (-EADDRINUSE), or something that is not a socket (-ENOTSOCK:
 * never removed, it is not ours to delete). */
static int clear_stale(const char *path, const struct sockaddr_un *sa)
{
	_cleanup_close_ int probe = -1;
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : negative_errno();
	if (!S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe < 0)
		return negative_errno();
	if (connect(probe, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
		return -EADDRINUSE;
	if (errno == ECONNREFUSED && unlink(path) < 0 && errno != ENOENT)
		return negative_errno();
	return 0;
}

int unix_socket_listen(const char *path, int *ret_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	make_parents(path);
	r = clear_stale(path, &sa);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return negative_errno();
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return negative_errno();
	/* every local user may connect; each request is judged by peer credentials */
	if (chmod(path, 0666) < 0 || listen(fd, SOMAXCONN) < 0) {
		r = negative_errno();
		(void)unlink(path);
		return r;
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* SO_PEERGROUPS into a buffer that grows as the kernel asks (ERANGE says how much). */
static int peer_groups(int fd, gid_t **ret, size_t *ret_n)
{
	socklen_t len = 64 * sizeof(gid_t);

	for (int tries = 0; tries < 4; tries++) {
		_cleanup_free_ gid_t *g = malloc(len ? len : sizeof(gid_t));
		socklen_t got = len;

		if (!g)
			return -ENOMEM;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &got) == 0) {
			*ret_n = got / sizeof(gid_t);
			*ret = TAKE_PTR(g);
			return 0;
		}
		if (errno != ERANGE || got <= len)
			return negative_errno();
		len = got; /* the kernel said how much it needs */
	}
	return -ERANGE;
}

int unix_socket_peer(int fd, struct caller *c)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	_cleanup_free_ gid_t *groups = NULL;
	size_t n = 0;

	*c = (struct caller){ 0 };
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return negative_errno();
	if (peer_groups(fd, &groups, &n) < 0)
		n = 0; /* only the primary group is known */
	c->groups = calloc(n + 1, sizeof(gid_t));
	if (!c->groups)
		return -ENOMEM;
	c->uid = uc.uid;
	c->gid = uc.gid;
	c->pid = uc.pid;
	c->groups[0] = uc.gid;
	memcpy(c->groups + 1, groups, n * sizeof(gid_t));
	c->n_groups = n + 1;
	return 0;
}

void caller_clear(struct caller *c)
{
	free(c->groups);
	*c = (struct caller){ 0 };
}

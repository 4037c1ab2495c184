/* SPDX-License-Identifier: MIT */
#include "engine/sink.h"

#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "basic/fileio.h"
#include "basic/util.h"

/* Opens the directory of path walking from "/" without following any symlink;
 * with create, missing directories are made 0755. Returns the fd and the file name. */
static int open_parent(const char *path, bool create, int *ret_fd, char **ret_name)
{
	_cleanup_free_ char *copy = strdup(path);
	_cleanup_close_ int fd = -1;
	char *p, *slash, *name;

	if (!copy)
		return -ENOMEM;
	if (copy[0] != '/')
		return -EINVAL;
	slash = strrchr(copy, '/');
	name = slash + 1;
	if (!*name || streq(name, ".") || streq(name, ".."))
		return -EINVAL;
	*slash = '\0';
	fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	for (p = copy + 1; p && *p;) {
		char *next = strchr(p, '/');
		int nfd;
		if (next)
			*next++ = '\0';
		if (!*p || streq(p, ".")) {
			p = next;
			continue;
		}
		if (streq(p, ".."))
			return -EINVAL;
		nfd = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, p, 0755) < 0 && errno != EEXIST)
				return negative_errno();
			nfd = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			/* our umask is 077: readers of the sink must be able to reach it */
			if (nfd >= 0 && fchmod(nfd, 0755) < 0) {
				close(nfd);
				return negative_errno();
			}
		}
		if (nfd < 0)
			return errno == ELOOP || errno == ENOTDIR ? -ELOOP : negative_errno();
		close(fd);
		fd = nfd;
		p = next;
	}
	*ret_name = strdup(name);
	if (!*ret_name)
		return -ENOMEM;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int sink_write(const struct sink_config *s, const char *token, size_t len)
{
	_cleanup_free_ char *name = NULL;
	_cleanup_close_ int dfd = -1;
	struct iovec iov[2] = { { (void *)(uintptr_t)token, len },
				{ (void *)(uintptr_t) "\n", 1 } };
	struct stat st;
	int r;

	r = open_parent(s->path, true, &dfd, &name);
	if (r < 0)
		return r;
	/* the file itself must not be a symlink either (rename would replace it, but say so) */
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
		return -ELOOP;
	return write_file_atomic_iov(dfd, name, iov, 2, s->mode, s->has_owner ? s->uid : (uid_t)-1,
				     s->has_group ? s->gid : (gid_t)-1);
}

int sink_remove(const struct sink_config *s)
{
	_cleanup_free_ char *name = NULL;
	_cleanup_close_ int dfd = -1;
	int r = open_parent(s->path, false, &dfd, &name);

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
		return negative_errno();
	(void)fsync(dfd);
	return 0;
}

/* SPDX-License-Identifier: MIT */
#include "basic/durable.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/testseam.h"
#include "basic/util.h"

/* The daemon writes to one directory (the vault): a handful is plenty. */
#define OWED_MAX 4

static int owed[OWED_MAX];
static unsigned n_owed;

static int sync_dir(int dirfd)
{
	return testseam_fsync(dirfd) < 0 ? negative_errno() : 0;
}

static int owe(int dirfd)
{
	for (unsigned i = 0; i < n_owed; i++)
		if (owed[i] == dirfd)
			return 0;
	if (n_owed == OWED_MAX)
		return sync_dir(dirfd);
	owed[n_owed++] = dirfd;
	return 0;
}

bool durable_owed(void)
{
	return n_owed > 0;
}

int durable_barrier(void)
{
	int r = 0;

	for (unsigned i = 0; i < n_owed; i++) {
		int k = sync_dir(owed[i]);
		if (k < 0) {
			log_error_errno(k, "cannot make the vault's last writes durable (fsync of "
					   "its directory: %m)");
			if (r == 0)
				r = k;
		}
	}
	n_owed = 0;
	return r;
}

/* The plain way: the spare renamed to NAME (its first write, or a file system
 * without RENAME_EXCHANGE). */
static int exchange_or_rename(int dirfd, const char *spare, const char *name, bool *ret_exchanged)
{
	*ret_exchanged = false;
	if (renameat2(dirfd, spare, dirfd, name, RENAME_EXCHANGE) == 0) {
		*ret_exchanged = true;
		return 0;
	}
	if (errno != ENOENT && errno != EINVAL && errno != ENOSYS)
		return negative_errno();
	return renameat(dirfd, spare, dirfd, name) < 0 ? negative_errno() : 0;
}

int durable_replace(int dirfd, const char *name, const void *data, size_t size, mode_t mode,
		    unsigned flags)
{
	char spare[NAME_MAX + 1];
	bool exchanged = false;
	int fd, r;

	r = snprintf(spare, sizeof(spare), ".%s.tmp", name);
	if (r < 0 || (size_t)r >= sizeof(spare))
		return -ENAMETOOLONG;
	/* 0600 until the mode is right: nobody else sees the data early */
	fd = openat(dirfd, spare, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return negative_errno();
	r = fchmod(fd, mode) < 0 ? negative_errno() : 0;
	if (r == 0)
		r = write_all(fd, data, size);
	if (r == 0 && testseam_fsync(fd) < 0)
		r = negative_errno();
	if (close(fd) < 0 && r == 0)
		r = negative_errno();
	if (r == 0)
		r = exchange_or_rename(dirfd, spare, name, &exchanged);
	if (r < 0) {
		(void)unlinkat(dirfd, spare, 0);
		return r;
	}
	/* the spare now holds what NAME held (a revoked token, say): emptied */
	if (exchanged) {
		fd = openat(dirfd, spare, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			(void)unlinkat(dirfd, spare, 0);
		else
			close(fd);
	}
	return (flags & DURABLE_GROUP) ? owe(dirfd) : sync_dir(dirfd);
}

/* SPDX-License-Identifier: MIT */
#include "basic/fileio.h"

#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "basic/testseam.h"
#include "basic/util.h"

int read_all(int fd, void *buf, size_t size, size_t *ret_n)
{
	size_t n = 0;
	char extra;

	for (;;) {
		ssize_t k = n < size ? read(fd, (char *)buf + n, size - n) : read(fd, &extra, 1);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (k == 0)
			break;
		if (n == size)
			return -EFBIG;
		n += (size_t)k;
	}
	*ret_n = n;
	return 0;
}

/* Who may own a secret, a key or a config file: root, the user igtokend runs as,
 * and, when root checks a configuration (igtokend --check-config), the service's
 * user IGTOKEND_SERVICE_USER, whose files the service itself will read. */
static bool trusted_owner(uid_t uid)
{
	static uid_t service = (uid_t)-2; /* not looked up yet */

	if (uid == 0 || uid == euid_cached())
		return true;
	if (euid_cached() != 0)
		return false;
	if (service == (uid_t)-2) {
		struct passwd pw, *found = NULL;
		char buf[1024];
		service = getpwnam_r(IGTOKEND_SERVICE_USER, &pw, buf, sizeof(buf), &found) == 0 &&
					  found
				  ? pw.pw_uid
				  : (uid_t)-1;
	}
	return service != (uid_t)-1 && uid == service;
}

static int check_trusted(const struct stat *st, unsigned flags)
{
	if (!flags)
		return 0;
	if (!trusted_owner(st->st_uid))
		return -EPERM;
	if (st->st_mode & ((flags & FILE_UNREADABLE) ? 077 : 022))
		return -EPERM;
	return 0;
}

int open_regular(int dirfd, const char *path, unsigned flags, size_t max, int *ret_fd,
		 size_t *ret_size)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | (flags ? O_NOFOLLOW : 0));
	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EBADFD;
	r = check_trusted(&st, flags); /* on what was opened, not on a name that may change */
	if (r < 0)
		return r;
	if ((uint64_t)st.st_size > max)
		return -EFBIG;
	*ret_size = (size_t)st.st_size;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

void file_explain(int dirfd, const char *path, unsigned flags, char *buf, size_t len)
{
	struct stat st;

	if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		snprintf(buf, len, "cannot be examined: %s", strerror(errno));
	else if (S_ISLNK(st.st_mode))
		snprintf(buf, len, "is a symbolic link (name the file itself)");
	else if (!trusted_owner(st.st_uid))
		snprintf(buf, len,
			 "is owned by uid %u, not by root, the user igtokend runs as (uid %u) or "
			 "the "
			 "service user %s",
			 (unsigned)st.st_uid, (unsigned)geteuid(), IGTOKEND_SERVICE_USER);
	else if ((flags & FILE_UNREADABLE) && (st.st_mode & 077))
		snprintf(buf, len,
			 "is readable by group or others (mode %04o); run chmod 0600 on it",
			 (unsigned)(st.st_mode & 07777));
	else if (st.st_mode & 022)
		snprintf(buf, len,
			 "is writable by group or others (mode %04o); run chmod go-w on it",
			 (unsigned)(st.st_mode & 07777));
	else
		snprintf(buf, len, "is not acceptable");
}

int read_file_bounded(int dirfd, const char *path, unsigned flags, size_t max, char **ret,
		      size_t *ret_size)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	size_t size, n = 0;
	int r;

	r = open_regular(dirfd, path, flags, max, &fd, &size);
	if (r < 0)
		return r;
	buf = malloc(size + 1);
	if (!buf)
		return -ENOMEM;
	r = read_all(fd, buf, size, &n);
	if (r < 0)
		return r; /* -EFBIG: it grew while we read it */
	buf[n] = '\0';
	*ret = TAKE_PTR(buf);
	if (ret_size)
		*ret_size = n;
	return 0;
}

int write_all(int fd, const void *data, size_t size)
{
	const char *p = data;

	while (size > 0) {
		ssize_t k = testseam_write(fd, p, size);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		p += k;
		size -= (size_t)k;
	}
	return 0;
}

int write_file_atomic_iov(int dirfd, const char *name, const struct iovec *iov, size_t n_iov,
			  mode_t mode, uid_t uid, gid_t gid)
{
	char tmp[NAME_MAX + 1];
	int fd, r;

	r = snprintf(tmp, sizeof(tmp), ".%s.tmp%08x", name, randombytes_random());
	if (r < 0 || (size_t)r >= sizeof(tmp))
		return -ENAMETOOLONG;
	/* 0600 until owner and mode are right: nobody else sees the data early */
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return negative_errno();
	r = 0;
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(fd, uid, gid) < 0)
		r = negative_errno();
	if (r == 0 && fchmod(fd, mode) < 0)
		r = negative_errno();
	for (size_t i = 0; r == 0 && i < n_iov; i++)
		r = write_all(fd, iov[i].iov_base, iov[i].iov_len);
	if (r == 0 && testseam_fsync(fd) < 0)
		r = negative_errno();
	if (close(fd) < 0 && r == 0)
		r = negative_errno();
	if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		r = negative_errno();
	if (r < 0) {
		(void)unlinkat(dirfd, tmp, 0);
		return r;
	}
	if (testseam_fsync(dirfd) < 0)
		return negative_errno();
	return 0;
}

int write_file_atomic(int dirfd, const char *name, const void *data, size_t size, mode_t mode)
{
	struct iovec iov = { (void *)(uintptr_t)data, size };
	return write_file_atomic_iov(dirfd, name, &iov, 1, mode, (uid_t)-1, (gid_t)-1);
}

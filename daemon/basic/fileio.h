/* SPDX-License-Identifier: MIT */
#pragma once

/* Reading and writing whole files: bounded reads, crash-safe writes. */

#include <stddef.h>
#include <sys/types.h>

#include "basic/macro.h"

/* Reads fd to its end into buf (size bytes). -EFBIG if there is more than that. */
int read_all(int fd, void *buf, size_t size, size_t *ret_n);
/* All of data to fd, through EINTR and short writes. */
int write_all(int fd, const void *data, size_t size);
#define FILE_TRUSTED	1u /* owned by root or by us, not writable by group or others; no symlink */
#define FILE_UNREADABLE 2u /* (with FILE_TRUSTED) not readable by group or others either */
#define FILE_PRIVATE	(FILE_TRUSTED | FILE_UNREADABLE) /* secrets and keys */

/* Opens a regular file of at most max bytes for reading, once: its fd and size.
 * With flags, O_NOFOLLOW and the checks on the open descriptor: -ELOOP (a
 * symlink), -EPERM (owner or mode; file_explain() says which). Else -EISDIR,
 * -EBADFD (not a regular file), -EFBIG (larger), or the open error. */
int open_regular(int dirfd, const char *path, unsigned flags, size_t max, int *ret_fd,
		 size_t *ret_size);
/* For a message: why open_regular() refused path ("is owned by uid 5, ..."). */
void file_explain(int dirfd, const char *path, unsigned flags, char *buf, size_t len);
/* Reads a whole regular file of at most max bytes, NUL-terminated. -EFBIG if larger. */
int read_file_bounded(int dirfd, const char *path, unsigned flags, size_t max, char **ret,
		      size_t *ret_size);

/* Writes data to dirfd/name atomically: temporary file, fsync, rename, fsync(dir). */
int write_file_atomic(int dirfd, const char *name, const void *data, size_t size, mode_t mode);
/* The same from pieces, with an owner and group ((uid_t)-1 / (gid_t)-1: unchanged). */
struct iovec;
int write_file_atomic_iov(int dirfd, const char *name, const struct iovec *iov, size_t n_iov,
			  mode_t mode, uid_t uid, gid_t gid);

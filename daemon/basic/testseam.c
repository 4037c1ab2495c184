/* SPDX-License-Identifier: MIT */
#include "basic/testseam.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef IGTOKEND_TEST_SEAMS
/* IGTOKEND_TEST_FAULT=write:ENOSPC | write:EIO | fsync:EIO | fsync:slow (each
 * fsync takes a second more, as on a disk that is busy elsewhere) */
static int fault_for(const char *op)
{
	const char *f = secure_getenv("IGTOKEND_TEST_FAULT");
	size_t n = strlen(op);

	if (!f || strncmp(f, op, n) != 0 || f[n] != ':')
		return 0;
	if (strcmp(f + n + 1, "slow") == 0) {
		(void)sleep(1);
		return 0;
	}
	if (strcmp(f + n + 1, "ENOSPC") == 0)
		return ENOSPC;
	if (strcmp(f + n + 1, "EIO") == 0)
		return EIO;
	if (strcmp(f + n + 1, "EROFS") == 0)
		return EROFS;
	return 0;
}

void testseam_freeze(const char *point, const char *name)
{
	static bool frozen;
	const char *f = secure_getenv("IGTOKEND_TEST_FREEZE");
	char want[256];

	snprintf(want, sizeof(want), "%s:%s", point, name);
	if (!frozen && f && strcmp(f, want) == 0) {
		frozen = true;
		(void)raise(SIGSTOP);
	}
}
#else
static int fault_for(const char *op)
{
	(void)op;
	return 0;
}

void testseam_freeze(const char *point, const char *name)
{
	(void)point;
	(void)name;
}
#endif

ssize_t testseam_write(int fd, const void *buf, size_t n)
{
	int e = fault_for("write");
	if (e) {
		errno = e;
		return -1;
	}
	return write(fd, buf, n);
}

int testseam_fsync(int fd)
{
	int e = fault_for("fsync");
	if (e) {
		errno = e;
		return -1;
	}
	return fsync(fd);
}

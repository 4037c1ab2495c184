/* SPDX-License-Identifier: MIT */
#pragma once

/* Fault injection for tests: with $IGTOKEND_TEST_FAULT set in a test build
 * (IGTOKEND_TEST_SEAMS), writes and fsyncs fail as asked. In a normal build these
 * are the plain system calls. */

#include <sys/types.h>

ssize_t testseam_write(int fd, const void *buf, size_t n);
int testseam_fsync(int fd);

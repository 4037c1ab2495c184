/* SPDX-License-Identifier: MIT */
#pragma once

/* Fault injection for tests: with $IGTOKEND_TEST_FAULT set in a test build
 * (IGTOKEND_TEST_SEAMS), writes and fsyncs fail (or fsyncs are slow) as asked. In a normal build
 * these are the plain system calls. */

#include <sys/types.h>

ssize_t testseam_write(int fd, const void *buf, size_t n);
/* With $IGTOKEND_TEST_FREEZE=POINT:NAME, the process stops itself (SIGSTOP)
 * the first time it reaches that point for that name, as if the host froze
 * there (cluster mode: "commit", between Meta's answer, durable here, and its
 * commit to the store). Nothing in a normal build. */
void testseam_freeze(const char *point, const char *name);
int testseam_fsync(int fd);

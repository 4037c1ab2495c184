/* SPDX-License-Identifier: MIT */
#pragma once

/* Token file sinks: the token and a newline, written atomically (temporary
 * file, fsync, rename) with the configured owner, group and mode, for apps that
 * can only read a file. A path that passes through a symlink is refused. */

#include "conf/config.h"
#include "basic/secret.h"

int sink_write(const struct sink_config *s, const char *token, size_t len);
/* Removes it (no error if it is not there). */
int sink_remove(const struct sink_config *s);

/* SPDX-License-Identifier: MIT */
#pragma once

/* Crash-safe replacement of small files, cheap enough for thousands a minute,
 * and group commit of the directory syncs that make them durable.
 *
 * A file is replaced through a spare beside it (".NAME.tmp"): the spare is
 * overwritten and synced, then exchanged with NAME (renameat2 RENAME_EXCHANGE)
 * and truncated. No inode is made or deleted per write: ext4 spent more CPU
 * finding a free inode among the recently deleted ones than on the write
 * itself. The directory must have one writer (the vault's lock), and startup
 * removes leftover spares with the other temporaries.
 *
 * With DURABLE_GROUP the directory's fsync is owed instead of done: whoever
 * lets data out of the process (an answer on a socket, a hook, a sink) first
 * calls durable_barrier(), which pays what is owed, so nothing that depends
 * on a replaced file is served before the replacement is durable; a timer
 * pays it within DURABLE_GROUP_USEC otherwise. Writes in between share one
 * directory fsync. */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define DURABLE_GROUP	   1u
#define DURABLE_GROUP_USEC (10 * 1000)

int durable_replace(int dirfd, const char *name, const void *data, size_t size, mode_t mode,
		    unsigned flags);

/* Directory fsyncs owed by grouped writes. */
bool durable_owed(void);
/* Pays them (fsync of each directory); the first error, which is also logged. */
int durable_barrier(void);

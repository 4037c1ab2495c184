/* SPDX-License-Identifier: MIT */
#pragma once

/* Crash-safe replacement of small files, cheap enough for thousands a minute,
 * and a writer thread that makes them durable in groups, off the event loop.
 *
 * A file is replaced through a spare beside it (".NAME.tmp"): the spare is
 * overwritten and synced, then exchanged with NAME (renameat2 RENAME_EXCHANGE),
 * the directory synced, and the spare (now the old file) truncated. No inode
 * is made or deleted per write: ext4 spent more CPU finding a free inode among
 * the recently deleted ones than on the write itself. The directory must have one writer (the
 * vault's lock), and startup removes leftover spares with the other temporaries.
 *
 * The writer thread takes what is queued as one group (the first write waits
 * 5 ms for others, unless someone waits for it): every spare written, their
 * write-back started together, each synced (the journal commits they share are
 * paid once), exchanged, and the directory synced once. A write is
 * reported done only then, from durable_writer_dispatch() on the caller's
 * thread, so what depends on it can wait for it without blocking anyone. Writes
 * of one name are made in the order given; durable_writer_wait_name() lets a
 * plain durable_replace() of that name come after them. */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

int durable_replace(int dirfd, const char *name, const void *data, size_t size, mode_t mode);

struct durable_writer;
typedef void (*durable_done_t)(int error, void *userdata);

/* The thread starts with the first write; its eventfd exists from here. */
int durable_writer_new(struct durable_writer **ret);
/* Finishes every write queued (they reach the disk), then stops; no callback runs. */
struct durable_writer *durable_writer_free(struct durable_writer *w);
/* Readable when a write finished: call durable_writer_dispatch(). */
int durable_writer_fd(const struct durable_writer *w);
/* Queues NAME's replacement by data (taken, freed with free()); done(0 or a
 * negative errno, userdata) runs from durable_writer_dispatch() once NAME and
 * its directory are synced, or the write failed. */
int durable_writer_submit(struct durable_writer *w, int dirfd, const char *name,
			  unsigned char *data, size_t size, mode_t mode, durable_done_t done,
			  void *userdata);
/* Runs the callbacks of the writes finished, in the order they were queued. */
void durable_writer_dispatch(struct durable_writer *w);
/* Blocks until no write of NAME is queued or under way (their callbacks still
 * wait for dispatch). */
void durable_writer_wait_name(struct durable_writer *w, int dirfd, const char *name);
/* No write queued or under way. Only the thread that submits the writes can
 * rely on a yes: none begins until that thread submits one. */
bool durable_writer_idle(struct durable_writer *w);
/* Blocks until every queued write is finished, then dispatches them. */
void durable_writer_flush(struct durable_writer *w);

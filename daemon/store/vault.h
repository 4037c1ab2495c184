/* SPDX-License-Identifier: MIT */
#pragma once

/* The vault: one sealed file per account (NAME.token) and per app (NAME.app),
 * sealed under the vault key (store/seal.h), written crash-safely; a key check;
 * quarantine of records that do not open; key rotation. */

#include <stdint.h>

#include "basic/macro.h"
#include "store/record.h"

struct vault;

/* Opens (creating it 0700 if missing) the vault directory with the key in key_path,
 * and holds its lock (flock on the directory; VAULT/.lock says who) until
 * vault_close(): -EBUSY if a daemon or a key rotation holds it (vault_lock_holder()
 * says who); nothing is touched then.
 * -EKEYREJECTED: the key does not open the vault's key check (nothing was changed).
 * -EINPROGRESS: a key rotation was interrupted; re-run it. -EPERM: bad key file mode. */
int vault_open(const char *dir, const char *key_path, struct vault **ret);
struct vault *vault_close(struct vault *v);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct vault *, vault_close)

/* -ENOENT: no record. -EBADMSG: exists but does not open (forged, torn, another name's
 * file, not a regular file or not ours). */
int vault_load(struct vault *v, const char *name, struct vault_record **ret);
/* The record without its token (r->token NULL): what start-up needs, without a
 * guarded allocation per record. Same errors as vault_load(). */
int vault_load_meta(struct vault *v, const char *name, struct vault_record **ret);
/* Cluster mode: the record's sealed bytes as in its file (they go to the
 * store as they are), and sealed bytes from the store opened as name's record
 * (-EBADMSG: forged, torn, another name's or another key's). */
int vault_read_sealed(struct vault *v, const char *name, unsigned char **ret, size_t *ret_len);
int vault_open_sealed(struct vault *v, const char *name, const unsigned char *in, size_t n,
		      struct vault_record **ret);
const struct secret *vault_key(const struct vault *v);
/* The same for an app's rate-limit state (sealed as its NAME.app file would be). */
int vault_seal_app(struct vault *v, const char *name, const struct app_record *rec,
		   unsigned char **ret, size_t *ret_len);
int vault_open_app_sealed(struct vault *v, const char *name, const unsigned char *in, size_t n,
			  struct app_record *ret);
/* Waits for the writes of name under way on the writer thread (below) first. */
int vault_store(struct vault *v, const char *name, const struct vault_record *r);
/* A record (plain: record_encode()'s) sealed now and written by the vault's
 * writer thread, in a group with the others (basic/durable.h): done(0 or a
 * negative errno, userdata) runs from vault_dispatch() once it is durable, never
 * before this returns. 0: under way; else failed, done does not run. */
typedef void (*vault_done_t)(int error, void *userdata);
int vault_store_async(struct vault *v, const char *name, const struct secret *plain,
		      vault_done_t done, void *userdata);
/* Readable when writes finished: the event loop calls vault_dispatch(). */
int vault_writer_fd(const struct vault *v);
void vault_dispatch(struct vault *v);
/* Waits for every write under way and dispatches them (before a shutdown). */
void vault_flush(struct vault *v);
int vault_load_app(struct vault *v, const char *name, struct app_record *ret);
int vault_store_app(struct vault *v, const char *name, const struct app_record *r);

/* Moves NAME.token aside as NAME.token.corrupt-UNIXTIME (or -UNIXTIME-N: an earlier
 * one is never replaced); the new name is returned. */
int vault_quarantine(struct vault *v, const char *name, int64_t now, char **ret_name);

/* Re-seals every record under the key in new_key_path, one atomic file at a time.
 * Safe to re-run after an interruption. Counts what was done. */
struct vault_rotate_stats {
	unsigned resealed;   /* moved to the new key now */
	unsigned already;    /* under the new key from an interrupted run */
	unsigned unreadable; /* opens with neither key: left for the daemon to quarantine */
	unsigned failed;     /* could not be written: the rotation stays unfinished */
};
/* Who holds the vault's lock ("igtokend (pid 123)"), for an error message. */
int vault_lock_holder(const char *dir, char *buf, size_t len);

/* Under the vault's lock (-EBUSY while a daemon runs). -EEXIST: an interrupted
 * rotation to another key is unfinished (re-run it with that key). */
int vault_rotate(const char *dir, const char *key_path, const char *new_key_path,
		 struct vault_rotate_stats *ret);

const char *vault_dir(const struct vault *v);

/* SPDX-License-Identifier: MIT */
#pragma once

/* The vault: one sealed file per account (NAME.token) and per app (NAME.app),
 * sealed under the vault key (store/seal.h), written crash-safely; a key check;
 * quarantine of records that do not open; key rotation. */

#include <stdint.h>

#include "basic/macro.h"
#include "store/record.h"

struct vault;

/* Opens (creating it 0700 if missing) the vault directory with the key in key_path.
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
int vault_store(struct vault *v, const char *name, const struct vault_record *r);
int vault_load_app(struct vault *v, const char *name, struct app_record *ret);
int vault_store_app(struct vault *v, const char *name, const struct app_record *r);

/* Moves NAME.token aside as NAME.token.corrupt-UNIXTIME; the new name is returned. */
int vault_quarantine(struct vault *v, const char *name, int64_t now, char **ret_name);

/* Re-seals every record under the key in new_key_path, one atomic file at a time.
 * Safe to re-run after an interruption. Counts what was done. */
struct vault_rotate_stats {
	unsigned resealed;   /* moved to the new key now */
	unsigned already;    /* under the new key from an interrupted run */
	unsigned unreadable; /* opens with neither key: left for the daemon to quarantine */
	unsigned failed;     /* could not be written: the rotation stays unfinished */
};
int vault_rotate(const char *dir, const char *key_path, const char *new_key_path,
		 struct vault_rotate_stats *ret);

const char *vault_dir(const struct vault *v);

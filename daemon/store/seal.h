/* SPDX-License-Identifier: MIT */
#pragma once

/* The vault's cryptography and files: the key, sealed bytes (XChaCha20-Poly1305
 * under the vault key with a fresh nonce, bound to the format, kind and name, so
 * a file copied under another name does not open), record file names, and the
 * key check. No policy: store/vault.c decides what to do with them. */

#include <stdbool.h>
#include <stddef.h>

#include "basic/secret.h"
#include "store/record.h"

#define VAULT_KEY_BYTES	       32
#define SEAL_FILE_MAX	       (RECORD_PLAIN_MAX + 64) /* bytes of one sealed file */
#define SEAL_KEYCHECK_FILE     ".keycheck"
#define SEAL_KEYCHECK_NEW_FILE ".keycheck.new" /* a key rotation under way */

enum seal_kind {
	SEAL_TOKEN,    /* NAME.token: an account's record */
	SEAL_APP,      /* NAME.app: an app's rate-limit state */
	SEAL_KEYCHECK, /* the key check */
	_SEAL_KIND_MAX,
};

/* Writes a new random key (64 hex characters and a newline), mode 0600; -EEXIST if the file exists.
 */
int seal_keygen(const char *path);
/* A key file: 64 hex characters or 32 raw bytes (one trailing newline allowed).
 * -EPERM if group or others may read it, -EINVAL if it holds no key. */
int seal_read_key(const char *path, struct secret **ret);

int seal_bytes(const struct secret *key, enum seal_kind kind, const char *name,
	       const struct secret *plain, unsigned char **ret, size_t *ret_len);
/* Into out (guarded, at least as long as the plaintext); -EBADMSG if forged, torn or another's. */
int seal_open_into(const struct secret *key, enum seal_kind kind, const char *name,
		   const unsigned char *in, size_t n, struct secret *out, size_t *ret_len);
int seal_open(const struct secret *key, enum seal_kind kind, const char *name,
	      const unsigned char *in, size_t n, struct secret **ret);

/* NAME.token / NAME.app. */
int seal_file_name(enum seal_kind kind, const char *name, char *buf, size_t len);
/* Reads a sealed file: no symlinks, regular, ours, bounded; anything else is
 * -EBADMSG. checked: a writer thread may replace the file meanwhile
 * (basic/durable.h: it empties the file it exchanged away, maybe between a
 * reader's open and its read, and reuses it for the next record). A file
 * replaced or changed while it was read is then read again (16 times at most,
 * then as unchecked), and what is returned was FILE, whole, when the read
 * ended. Unchecked: nothing replaces it meanwhile, one stat less. */
int seal_read_file(int dir_fd, const char *file, bool checked, unsigned char **ret,
		   size_t *ret_len);
/* A record of dir_fd, opened (nothing replaces it meanwhile) or written
 * (crash-safely, basic/durable.h) whole. */
int seal_load(int dir_fd, const struct secret *key, enum seal_kind kind, const char *name,
	      struct secret **ret);
int seal_store(int dir_fd, const struct secret *key, enum seal_kind kind, const char *name,
	       const struct secret *plain);
/* Calls fn for each NAME.token and NAME.app in dir_fd; stops at a negative return. */
int seal_each_record(int dir_fd,
		     int (*fn)(int dir_fd, enum seal_kind kind, const char *name, void *ud),
		     void *ud);

/* A key check's sealed bytes under key, bound to name ("keycheck" for the
 * vault's), and whether key opens such bytes (0, else -EKEYREJECTED). */
int seal_keycheck_bytes(const struct secret *key, const char *name, unsigned char **ret,
			size_t *ret_len);
int seal_keycheck_open_bytes(const struct secret *key, const char *name, const unsigned char *in,
			     size_t n);
/* The key check in file: written under key, or checked (0 opens, -EKEYREJECTED
 * does not, -ENOENT none there). */
int seal_keycheck_write(int dir_fd, const struct secret *key, const char *file);
int seal_keycheck_open(int dir_fd, const struct secret *key, const char *file);
/* Whether key is the vault's: its key check (written if the vault has none and
 * its records open, or it has none), else -EKEYREJECTED; -EINPROGRESS while a
 * key rotation is unfinished. */
int seal_check_key(int dir_fd, const struct secret *key);

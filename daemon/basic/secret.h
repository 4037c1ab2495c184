/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "basic/macro.h"

/* A secret (token, app secret, vault key) in guarded, locked memory
 * (sodium_malloc). Always NUL-terminated after `len` bytes so it can be handed
 * to APIs that want a C string. secret_free() wipes it. */
struct secret {
	size_t len;
	char *data;  /* sodium_malloc'd, len + 1 bytes */
	char *block; /* a pooled block data ends at, NULL if data is its own allocation */
};

/* Longest secret read from a file or the network (Meta tokens are a few hundred bytes). */
#define SECRET_MAX 8192
/* Largest guarded buffer (a vault record's plaintext holds a token and its metadata). */
#define SECRET_ALLOC_MAX (128 * 1024)
/* Secrets up to this size (with their NUL) share reused blocks of one guarded page. */
#define SECRET_POOL_BLOCK 4064
/* Characters of the fingerprint used to mention a secret in logs, plus NUL. */
#define SECRET_FP_LEN 9

int secret_new(size_t len, struct secret **ret);
int secret_from_mem(const void *p, size_t len, struct secret **ret);
struct secret *secret_free(struct secret *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct secret *, secret_free)
#define _cleanup_secret_ _cleanup_(secret_freep)

/* Reads a secret file: at most SECRET_MAX bytes, one trailing "\n" or "\r\n" dropped.
 * -ENODATA if it is empty. flags: FILE_PRIVATE for secrets (basic/fileio.h). */
int secret_read_file(int dirfd, const char *path, unsigned flags, struct secret **ret);

/* 8 hex characters of a keyed hash: names a secret in logs without revealing it. */
void secret_fingerprint(const struct secret *s, char out[SECRET_FP_LEN]);
bool secret_equal(const struct secret *a, const struct secret *b);

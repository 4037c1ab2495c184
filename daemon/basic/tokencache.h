/* SPDX-License-Identifier: MIT */
#pragma once

/* Recently read tokens, in one guarded, locked arena (sodium_malloc once):
 * reads are served without touching the vault or allocating guarded pages per
 * request. Entries are wiped when replaced, dropped or evicted. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOKENCACHE_SLOTS      1024
#define TOKENCACHE_SLOT_BYTES 1024 /* longer tokens are simply not cached */

struct tokencache;

int tokencache_new(size_t slots, struct tokencache **ret);
struct tokencache *tokencache_free(struct tokencache *c);

/* Looks up owner's token; *slot is the owner's remembered slot (-1 none). */
bool tokencache_get(struct tokencache *c, const void *owner, int32_t *slot, const char **ret,
		    size_t *ret_len);
/* Caches a token for owner (evicting another), updating *slot. */
void tokencache_put(struct tokencache *c, const void *owner, int32_t *slot, const char *token,
		    size_t len);
/* Wipes owner's entry (a new token, a verdict, the account leaving). */
void tokencache_drop(struct tokencache *c, const void *owner, int32_t *slot);

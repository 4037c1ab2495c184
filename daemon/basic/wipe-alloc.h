/* SPDX-License-Identifier: MIT */
#pragma once

/* Allocation functions whose free wipes the whole block first, for libraries
 * that copy secrets into memory of their own: libcurl (URLs and bodies carry
 * tokens) and cJSON (requests and Meta's answers carry tokens). Blocks come
 * from malloc(3) and go back to it wiped. */

#include <stddef.h>

void *wipe_malloc(size_t n);
void *wipe_calloc(size_t count, size_t size);
void *wipe_realloc(void *p, size_t n);
char *wipe_strdup(const char *s);
void wipe_free(void *p);

/* Routes every cJSON allocation through these. Call once, before any cJSON use
 * (a block allocated before would reach wipe_free, which is harmless, but would
 * have been made by another allocator in general). */
void wipe_install_cjson(void);

/* Tests: where a wiped block goes instead of free(3), to check what reaches the allocator. */
void wipe_set_release(void (*release)(void *p));

/* SPDX-License-Identifier: MIT */
#include "basic/wipe-alloc.h"

#include <cjson/cJSON.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "basic/macro.h"

static void (*release)(void *p) = free;

void wipe_set_release(void (*fn)(void *p))
{
	release = fn ?: free;
}

void *wipe_malloc(size_t n)
{
	return malloc(n);
}

void *wipe_calloc(size_t count, size_t size)
{
	return calloc(count, size);
}

void wipe_free(void *p)
{
	if (!p)
		return;
	explicit_bzero(p, malloc_usable_size(p));
	release(p);
}

void *wipe_realloc(void *p, size_t n)
{
	void *q;

	if (!p)
		return malloc(n);
	if (n == 0) {
		wipe_free(p);
		return NULL;
	}
	/* never realloc(3) in place: the old block would go back unwiped */
	q = malloc(n);
	if (!q)
		return NULL;
	memcpy(q, p, MIN(malloc_usable_size(p), n));
	wipe_free(p);
	return q;
}

char *wipe_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);

	if (d)
		memcpy(d, s, n);
	return d;
}

void wipe_install_cjson(void)
{
	cJSON_Hooks hooks = { .malloc_fn = wipe_malloc, .free_fn = wipe_free };

	cJSON_InitHooks(&hooks);
}

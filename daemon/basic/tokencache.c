/* SPDX-License-Identifier: MIT */
#include "basic/tokencache.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	const void *owner;
	uint32_t len;
	bool used; /* second-chance bit for the clock */
	char data[TOKENCACHE_SLOT_BYTES];
};

struct tokencache {
	struct slot *slots; /* sodium_malloc'd: guarded, locked, wiped on free */
	size_t n, hand;
};

int tokencache_new(size_t n, struct tokencache **ret)
{
	struct tokencache *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->slots = sodium_malloc(n * sizeof(struct slot));
	if (!c->slots) {
		free(c);
		return -ENOMEM;
	}
	sodium_memzero(c->slots, n * sizeof(struct slot));
	c->n = n;
	*ret = c;
	return 0;
}

struct tokencache *tokencache_free(struct tokencache *c)
{
	if (!c)
		return NULL;
	sodium_free(c->slots);
	free(c);
	return NULL;
}

static struct slot *find(struct tokencache *c, const void *owner, const int32_t *slot)
{
	if (!c || *slot < 0 || (size_t)*slot >= c->n || c->slots[*slot].owner != owner)
		return NULL;
	return &c->slots[*slot];
}

bool tokencache_get(struct tokencache *c, const void *owner, int32_t *slot, const char **ret,
		    size_t *ret_len)
{
	struct slot *s = find(c, owner, slot);

	if (!s) {
		*slot = -1;
		return false;
	}
	s->used = true;
	*ret = s->data;
	*ret_len = s->len;
	return true;
}

void tokencache_drop(struct tokencache *c, const void *owner, int32_t *slot)
{
	struct slot *s = find(c, owner, slot);

	if (s)
		sodium_memzero(s, sizeof(*s));
	*slot = -1;
}

void tokencache_put(struct tokencache *c, const void *owner, int32_t *slot, const char *token,
		    size_t len)
{
	struct slot *s;

	tokencache_drop(c, owner, slot);
	if (!c || len >= TOKENCACHE_SLOT_BYTES)
		return;
	/* clock: skip recently used entries once */
	for (;;) {
		s = &c->slots[c->hand];
		c->hand = (c->hand + 1) % c->n;
		if (!s->owner || !s->used)
			break;
		s->used = false;
	}
	sodium_memzero(s, sizeof(*s)); /* its old owner finds it gone by the owner check */
	s->owner = owner;
	s->len = (uint32_t)len;
	s->used = true;
	memcpy(s->data, token, len);
	s->data[len] = '\0';
	*slot = (int32_t)(s - c->slots);
}

/* SPDX-License-Identifier: MIT */
#include <sodium.h>
#include <stdio.h>

#include "tap.h"
#include "basic/tokencache.h"

int main(void)
{
	struct tokencache *c = NULL;
	int owners[10], big_owner;
	int32_t slot[10], big_slot = -1;
	const char *t;
	size_t n;
	char big[TOKENCACHE_SLOT_BYTES + 10];

	if (sodium_init() < 0)
		return 1;
	CHECK_INT(tokencache_new(4, &c), 0);
	for (int i = 0; i < 10; i++)
		slot[i] = -1;
	CHECK(!tokencache_get(c, &owners[0], &slot[0], &t, &n));
	tokencache_put(c, &owners[0], &slot[0], "IGAAzero", 8);
	CHECK(tokencache_get(c, &owners[0], &slot[0], &t, &n));
	CHECK(n == 8 && memcmp(t, "IGAAzero", 8) == 0);
	/* a new token replaces the old one in place */
	tokencache_put(c, &owners[0], &slot[0], "IGAAnew", 7);
	CHECK(tokencache_get(c, &owners[0], &slot[0], &t, &n) && n == 7);
	/* more owners than slots: some are evicted, never confused with another's token */
	for (int i = 1; i < 10; i++) {
		char tok[16];
		snprintf(tok, sizeof(tok), "IGAA-%d", i);
		tokencache_put(c, &owners[i], &slot[i], tok, strlen(tok));
	}
	int hits = 0;
	for (int i = 0; i < 10; i++) {
		char tok[16];
		snprintf(tok, sizeof(tok), "IGAA-%d", i);
		if (tokencache_get(c, &owners[i], &slot[i], &t, &n)) {
			hits++;
			if (i > 0)
				CHECK(n == strlen(tok) && memcmp(t, tok, n) == 0);
		} else
			CHECK_INT(slot[i], -1);
	}
	CHECK_INT(hits, 4);
	/* dropped entries are gone (and wiped) */
	for (int i = 0; i < 10; i++)
		tokencache_drop(c, &owners[i], &slot[i]);
	for (int i = 0; i < 10; i++)
		CHECK(!tokencache_get(c, &owners[i], &slot[i], &t, &n));
	/* too long to cache: not cached */
	memset(big, 'A', sizeof(big));
	tokencache_put(c, &big_owner, &big_slot, big, sizeof(big));
	CHECK_INT(big_slot, -1);
	tokencache_free(c);
	return tap_done("test-tokencache");
}

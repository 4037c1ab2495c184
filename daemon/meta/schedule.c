/* SPDX-License-Identifier: MIT */
#include "meta/schedule.h"

#include <math.h>

#include "basic/macro.h"

uint64_t schedule_account_hash(const char *name)
{
	/* FNV-1a 64: stable across versions and hosts; not a security boundary. */
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h ^= *p;
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static uint64_t mix(uint64_t x)
{
	/* splitmix64 finalizer */
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	x ^= x >> 31;
	return x;
}

int64_t schedule_due(const struct refresh_config *rc, int64_t issued_at, int64_t expires_at,
		     bool expiry_assumed, uint64_t hash)
{
	int64_t base, spread, room;

	if (expires_at == 0)
		return 0;
	if (expiry_assumed)
		base = issued_at + rc->min_age;
	else
		base = MAX(issued_at + rc->min_age, expires_at - rc->before_expiry);
	spread = rc->jitter;
	room = (expires_at - base) / 2;
	if (spread > room)
		spread = MAX(room, 0);
	if (spread == 0)
		return base;
	/* Same account, same token: same offset. A new token (new expiry) gets a new one. */
	return base + (int64_t)(mix(hash ^ (uint64_t)expires_at) % (uint64_t)(spread + 1));
}

int64_t schedule_check_due(const struct refresh_config *rc, int64_t last, uint64_t hash)
{
	int64_t spread = rc->validate_every / 10;

	if (spread <= 0)
		return last + rc->validate_every;
	return last + rc->validate_every +
	       (int64_t)(mix(hash ^ (uint64_t)last ^ 0x636865636bULL) % (uint64_t)(spread + 1));
}

bool schedule_is_urgent(const struct refresh_config *rc, int64_t expires_at, int64_t now)
{
	if (expires_at == 0)
		return false;
	return now >= expires_at - rc->before_expiry / 3;
}

int64_t schedule_backoff(int64_t initial, int64_t max, uint32_t failures, double rnd)
{
	int64_t wait = initial;

	for (uint32_t i = 1; i < failures && wait < max; i++)
		wait = wait > max / 2 ? max : wait * 2;
	wait = MIN(wait, max);
	if (rnd < 0 || rnd >= 1 || isnan(rnd))
		rnd = 0;
	return wait + (int64_t)floor((double)wait * 0.25 * rnd);
}

int64_t schedule_retry_at(const struct refresh_config *rc, int64_t next_attempt, int64_t now)
{
	int64_t longest = rc->retry_max + rc->retry_max / 4 + 1;
	return next_attempt > now + longest ? now + longest : next_attempt;
}

uint64_t schedule_accuracy_usec(int64_t delta)
{
	if (delta <= 60)
		return USEC_PER_SEC;
	if (delta <= 3600)
		return 5 * USEC_PER_SEC;
	if (delta <= 86400)
		return 60 * USEC_PER_SEC;
	return 15 * 60 * USEC_PER_SEC;
}

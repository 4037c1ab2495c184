/* SPDX-License-Identifier: MIT */
#pragma once

/* When to refresh and when to retry. Pure functions: time and randomness are
 * passed in, so every rule is table-tested. All times are Unix seconds. */

#include <stdbool.h>
#include <stdint.h>

#include "conf/config.h"

/* A stable per-account number (from its name), used to spread accounts over the
 * jitter window the same way on every start. */
uint64_t schedule_account_hash(const char *name);

/* The refresh due time of CONTRACT section 9:
 *   max(issued_at + min_age, expires_at - before_expiry) + jitter
 * The jitter share is deterministic per account and token (hash), so a restart
 * never moves it, and is kept within half of the time left before expiry so it
 * can never push a refresh past it. expiry_assumed (an imported token whose real
 * expiry Meta has not told yet): due once it is min_age old.
 * Returns 0 for a token that never expires (expires_at == 0). */
int64_t schedule_due(const struct refresh_config *rc, int64_t issued_at, int64_t expires_at,
		     bool expiry_assumed, uint64_t hash);

/* The next check of a token last checked at `last` (CONTRACT 12.1): every
 * validate_every, plus a share of up to a tenth of it that is fixed per account
 * and check, so that tokens imported together are not checked together. */
int64_t schedule_check_due(const struct refresh_config *rc, int64_t last, uint64_t hash);

/* Urgent (CONTRACT 11.9): now >= expires_at - before_expiry / 3. */
bool schedule_is_urgent(const struct refresh_config *rc, int64_t expires_at, int64_t now);

/* Backoff before retry number `failures` (1 = after the first failure):
 * retry_initial doubling up to retry_max, lengthened by up to 25 % with rnd in [0, 1). */
int64_t schedule_backoff(int64_t initial, int64_t max, uint32_t failures, double rnd);

/* When to retry after failures: the stored next_attempt, unless the wall clock
 * jumped back so far that it lies beyond any backoff we could have chosen; then
 * at most retry_max (lengthened by 25 %) from now. */
int64_t schedule_retry_at(const struct refresh_config *rc, int64_t next_attempt, int64_t now);

/* A sleep accuracy for a deadline `delta` seconds away: coarse for far deadlines
 * (so an idle daemon sleeps long), 1 s for near ones. In microseconds. */
uint64_t schedule_accuracy_usec(int64_t delta);

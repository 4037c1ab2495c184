/* SPDX-License-Identifier: MIT */
#pragma once

/* A token's fate: what one of Meta's answers means (CONTRACT section 4). Meta's
 * answers are classified into it in one place (graph_classify); the account's
 * standing verdict, its state and every error an operation reports map from it.
 * The first five values are stored in vault records: never renumber them. */

#include <stdbool.h>

enum verdict {
	VERDICT_OK = 0,		  /* the answer is good; as a standing verdict: none */
	VERDICT_EXPIRED = 1,	  /* 190/463, 102/463, "Session has expired": the token is dead */
	VERDICT_REAUTH = 2,	  /* 190 (other subcodes), 102, 10, 200-299: the grant is gone */
	VERDICT_NOT_EXTENDED = 3, /* facebook: a re-exchange did not move the expiry */
	VERDICT_REAUTH_RECOVERABLE = 4, /* 190/459, 464, 492: the user fixes it on Meta's side */
	VERDICT_CREDENTIALS, /* the app's secret or id was refused: not the token's fault */
	VERDICT_THROTTLED,   /* 4, 17, 32, 341, 613, 80001-80009, HTTP 429: the app pauses */
	VERDICT_TRANSIENT,   /* 1, 2, is_transient, 5xx, timeouts, connection errors, non-JSON */
	VERDICT_ERROR,	     /* anything else: retried with backoff */
	_VERDICT_MAX,
};

const char *verdict_name(enum verdict v);
/* Kept with the token (in the vault) until a new token replaces it. */
bool verdict_is_standing(enum verdict v);
/* Meta declared the token dead (for now, if recoverable): it is not served. */
bool verdict_is_dead(enum verdict v);
/* The error an operation that ends on this verdict reports (0 for OK and
 * NOT_EXTENDED: the call itself succeeded). */
int verdict_to_errno(enum verdict v);

/* SPDX-License-Identifier: MIT */
#pragma once

/* First-time enrolment through Meta's authorization code flow: the URL a person
 * opens, and the redirect URL they paste back, taken apart strictly. Pure. */

#include <stdbool.h>
#include <stdint.h>

#include "conf/config.h"
#include "basic/secret.h"

#define ENROLL_STATE_BYTES 32
#define ENROLL_STATE_TTL   600 /* seconds a state stays valid */
#define ENROLL_WHY_MAX	   512

/* {authorize_url}?client_id&redirect_uri&response_type=code&scope=a,b&state=S; with
 * the app's config_id (Facebook Login for Business) config_id and
 * override_default_response_type=true instead of scope (CONTRACT 12.7). */
int enroll_url(const struct app_config *app, char *const *scopes, const char *state_hex,
	       char **ret);

struct enroll_redirect {
	struct secret *code; /* without a trailing "#_" */
	char state_hex[2 * ENROLL_STATE_BYTES + 1];
};

/* Parses what the browser was sent to. -EINVAL with why filled in (for people):
 * not the configured redirect_uri, no code or state, or Meta's error=... */
int enroll_parse_redirect(const char *url, const char *redirect_uri, struct enroll_redirect *ret,
			  char why[ENROLL_WHY_MAX]);
void enroll_redirect_clear(struct enroll_redirect *r);

/* The state of an enrolment under way: single-use, ENROLL_STATE_TTL long. */
struct enroll_pending {
	unsigned char state[ENROLL_STATE_BYTES];
	uint64_t at_usec; /* CLOCK_BOOTTIME; 0: none under way */
};

/* A new state (replacing any earlier one), as hex into state_hex. */
void enroll_begin(struct enroll_pending *p, uint64_t now_usec,
		  char state_hex[2 * ENROLL_STATE_BYTES + 1]);
/* True if hex is the state handed out, unused and young enough; then it is used up.
 * Compared in constant time. An expired state is forgotten. */
bool enroll_take(struct enroll_pending *p, const char *hex, uint64_t now_usec);

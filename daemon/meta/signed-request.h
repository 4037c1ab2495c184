/* SPDX-License-Identifier: MIT */
#pragma once

/* Meta's signed_request, as its deauthorize and data-deletion callbacks POST it
 * (CONTRACT 12.13): base64url(HMAC-SHA256 signature) "." base64url(JSON payload
 * with "algorithm": "HMAC-SHA256" and "user_id"), signed with the app secret over
 * the payload as sent. Pure: fuzzed on its own. */

#include <stdint.h>

#include "basic/secret.h"

#define SIGNED_REQUEST_MAX 8192 /* bytes of one signed_request */

struct signed_request {
	char *user_id;	   /* digits, as sent (may exceed 2^53) */
	int64_t issued_at; /* 0 if absent */
};

/* 0 with ret filled (signed_request_clear() after), or -EINVAL (malformed) or
 * -EBADMSG (the signature does not match: not Meta, or another app's secret),
 * with *ret_why for people. */
int signed_request_parse(const char *sr, const struct secret *app_secret,
			 struct signed_request *ret, const char **ret_why);
void signed_request_clear(struct signed_request *r);

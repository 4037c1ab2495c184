/* SPDX-License-Identifier: MIT */
#pragma once

/* Meta's Graph API: the requests igtokend makes (URLs built in guarded memory)
 * and what each answer means (CONTRACT sections 4 and 9). Pure: no I/O. */

#include <stdbool.h>
#include <stdint.h>

#include "conf/config.h"
#include "meta/verdict.h"
#include "basic/secret.h"

#define GRAPH_WHY_MAX	       512
#define GRAPH_DEFAULT_LIFETIME (60 * 86400) /* what Meta documents for long-lived tokens */

/* What a request carried, for what an error means. */
#define GRAPH_APP_TOKEN                                                                            \
	1u /* its access_token is the app token (debug_token): errors are the app's */
#define GRAPH_CLIENT_SECRET 2u /* it carries client_secret (exchanges): code 1 may be about that */
#define GRAPH_REFRESH	    4u /* refresh_access_token: code 100 "Unsupported request" is a dead API */

struct graph_verdict {
	enum verdict verdict;
	int code, subcode;	 /* Meta's error code and subcode, 0 if none */
	char why[GRAPH_WHY_MAX]; /* for people and last_error: Meta's words, what to do, fbtrace_id */
};

/* Classifies an answer: transport error (negative errno), HTTP status, body, and
 * what the request carried (GRAPH_*). VERDICT_OK means a 2xx answer without an
 * error object; its content is parsed separately (meta/graph-parse.h). */
void graph_classify(int transport_error, const char *error_text, long status, const char *body,
		    size_t len, unsigned flags, struct graph_verdict *ret);
/* What one error code means (also for the error debug_token reports about a token). */
enum verdict graph_classify_error(int code, int subcode, bool transient, const char *msg,
				  unsigned flags);

/* debug_token's data.error about the inspected token. */
struct graph_token_error {
	int code, subcode;
	const char *message;
};
/* The verdict on a token debug_token calls invalid: from its error if it gives
 * one (expired, recoverable), else reauth (or expired, if expired is true). */
void graph_describe_token_error(const struct graph_token_error *e, bool expired,
				struct graph_verdict *ret);

/* Replaces every occurrence of the token in text with "***" (for Meta's messages). */
void graph_scrub(char *text, const struct secret *token);

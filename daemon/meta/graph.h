/* SPDX-License-Identifier: MIT */
#pragma once

/* Meta's Graph API: the requests igtokend makes (URLs built in guarded memory)
 * and what each answer means (CONTRACT sections 4 and 9). Pure: no I/O. */

#include <stdbool.h>
#include <stdint.h>

#include "conf/config.h"
#include "meta/verdict.h"
#include "basic/secret.h"

#define GRAPH_WHY_MAX	       256
#define GRAPH_DEFAULT_LIFETIME (60 * 86400) /* what Meta documents for long-lived tokens */

struct graph_verdict {
	enum verdict verdict;
	int code, subcode;	 /* Meta's error code and subcode, 0 if none */
	char why[GRAPH_WHY_MAX]; /* for people and last_error; never holds the request */
};

/* Classifies an answer: transport error (negative errno), HTTP status, body.
 * VERDICT_OK means a 2xx answer without an error object; its content is parsed separately. */
void graph_classify(int transport_error, const char *error_text, long status, const char *body,
		    size_t len, struct graph_verdict *ret);

struct graph_token {
	struct secret *token;
	int64_t expires_in;		/* seconds, -1 if absent */
	int64_t expires_at;		/* debug_token: 0 = never, -1 if absent */
	int64_t data_access_expires_at; /* debug_token, -1 if absent */
	bool is_valid;			/* debug_token */
	char *user_id;			/* digits, as sent (may exceed 2^53) */
	char *scopes;			/* comma-separated, or NULL */
	char *type;			/* debug_token: USER, PAGE, APP */
};

void graph_token_clear(struct graph_token *t);

/* A token answer: flat or wrapped in data[0]; permissions as a comma list or an
 * array; user_id as a number or a string. -EBADMSG without a usable access_token. */
int graph_parse_token(const char *body, size_t len, struct graph_token *ret);
/* /me: user_id (or id). */
int graph_parse_me(const char *body, size_t len, char **ret_user_id);
/* /debug_token: data.is_valid, expires_at, data_access_expires_at, scopes, user_id, type. */
int graph_parse_debug(const char *body, size_t len, struct graph_token *ret);

/* Replaces every occurrence of the token in text with "***" (for Meta's messages). */
void graph_scrub(char *text, const struct secret *token);

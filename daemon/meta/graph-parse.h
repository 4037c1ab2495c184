/* SPDX-License-Identifier: MIT */
#pragma once

/* Meta's good answers taken apart: tokens (flat or in data[0]), /me, and
 * debug_token. Every number and id is checked; ids keep their digits (they may
 * exceed 2^53). Pure: no I/O. */

#include <stdbool.h>
#include <stdint.h>

#include "basic/secret.h"

struct graph_token {
	struct secret *token;
	int64_t expires_in;		/* seconds, -1 if absent */
	int64_t expires_at;		/* debug_token: 0 = never, -1 if absent */
	int64_t data_access_expires_at; /* debug_token, -1 if absent */
	bool is_valid;			/* debug_token */
	char *user_id;			/* digits, as sent (may exceed 2^53) */
	char *scopes;			/* comma-separated, or NULL */
	char *type;			/* debug_token: USER, PAGE, SYSTEM_USER, APP */
	char *username;			/* /me (instagram) */
	int error_code, error_subcode;	/* debug_token: data.error about the token, 0 if none */
	char *error_message;
};

void graph_token_clear(struct graph_token *t);

struct cJSON;
/* An id of o (parsed from body): a string of digits, or a number taken from the
 * text (it may exceed 2^53). 0 and *ret unchanged if absent; -EBADMSG if not an id. */
int graph_parse_id(const char *body, size_t len, const struct cJSON *o, const char *key,
		   char **ret);

/* A token answer: flat or wrapped in data[0]; permissions as a comma list or an
 * array; user_id as a number or a string. -EBADMSG without a usable access_token. */
int graph_parse_token(const char *body, size_t len, struct graph_token *ret);
/* /me: user_id (or id), and username if given (ret_username may be NULL). */
int graph_parse_me(const char *body, size_t len, char **ret_user_id, char **ret_username);
/* /debug_token: data.is_valid, expires_at, data_access_expires_at, scopes, user_id,
 * type, and data.error (code, subcode, message) when Meta says what is wrong. */
int graph_parse_debug(const char *body, size_t len, struct graph_token *ret);

/* SPDX-License-Identifier: MIT */
#pragma once

/* One control request line, checked and taken apart (no I/O, no policy on who
 * may do what): fuzzed on its own. */

#include <stdbool.h>
#include <stddef.h>

#include "basic/secret.h"
#include "basic/util.h"

#define REQUEST_REDIRECT_MAX	   8192
#define REQUEST_SIGNED_REQUEST_MAX 8192

enum request_cmd {
	CMD_TOKEN,
	CMD_WATCH,
	CMD_STATUS,
	CMD_REFRESH,
	CMD_IMPORT,
	CMD_ENROLL,
	CMD_ENROLL_FINISH,
	CMD_RELOAD,
	CMD_METRICS,
	CMD_REVOKE,
	CMD_DEAUTHORIZE,
};

struct request {
	enum request_cmd cmd;
	bool has_account;
	char account[NAME_MAX_LEN + 1];
	bool admin_only; /* refresh, import, enroll, enroll_finish, reload, revoke, deauthorize */
	struct secret *token;	    /* import */
	bool short_lived;	    /* import */
	char *redirect;		    /* enroll_finish */
	char app[NAME_MAX_LEN + 1]; /* deauthorize */
	char *signed_request;	    /* deauthorize */
};

/* 0, or why not with *ret_message for people: -EINVAL (malformed), -EOPNOTSUPP
 * (no such command), -ENOMEM. On success the caller clears ret with request_clear(). */
int request_parse(const char *line, size_t n, struct request *ret, const char **ret_message);
/* request_parse() without its fast path for the common token request: every
 * request through cJSON (the differential fuzz harness compares the two). */
int request_parse_json(const char *line, size_t n, struct request *ret, const char **ret_message);
void request_clear(struct request *p);

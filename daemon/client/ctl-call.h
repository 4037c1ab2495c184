/* SPDX-License-Identifier: MIT */
#pragma once

/* igtokenctl's conversation with the daemon: one request, one answer, what a
 * failure means for the exit code, and what to tell the person. */

#include <stdbool.h>
#include <stdint.h>

#include "client/client.h"

struct cJSON;

/* For text cJSON printed: cJSON_free wipes it (wipe_install_cjson). */
void ctl_cjson_freep(char **p);
#define _cleanup_cjson_free_ _cleanup_(ctl_cjson_freep)

enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,
	EXIT_USAGE_ERR = 2,
	EXIT_FORBIDDEN = 3,
	EXIT_NO_TOKEN = 4,
	EXIT_UNAVAILABLE = 69, /* EX_UNAVAILABLE */
};

#define CTL_ANSWER_TIMEOUT_MS (10 * 60 * 1000) /* refresh/import wait for Meta */

/* The socket every call goes to. */
extern const char *ctl_socket_path;

/* {"cmd": cmd, "account": account} (account may be NULL). */
struct cJSON *ctl_request(const char *cmd, const char *account);
/* Sends req over *cp (connecting first if NULL) and parses the answer. On an
 * error answer or failure, says why on stderr and returns the exit code. */
int ctl_call(struct client **cp, struct cJSON *req, int timeout_ms, struct cJSON **ret);
/* Says on stderr why the daemon cannot be reached (r: client_connect's error)
 * and what to do; returns EXIT_UNAVAILABLE. */
int ctl_unreachable(int r);
/* One request on a connection of its own. */
int ctl_simple(const char *cmd, const char *account, struct cJSON **ret);

/* A time field of an answer: Unix seconds, *present false if null or absent. */
int64_t ctl_time(const struct cJSON *o, const char *key, bool *present);
/* That field relative to now ("in 3d", "2h ago"), "never" for 0 if zero_never, "-" if absent. */
void ctl_relative(const struct cJSON *o, const char *key, int64_t now, bool zero_never, char *buf,
		  size_t len);
/* A string field, control characters made '?' (it goes to a terminal); NULL if absent. */
const char *ctl_string(const struct cJSON *o, const char *key);

/* SPDX-License-Identifier: MIT */
#pragma once

/* One control request line, checked and taken apart (no I/O, no policy on who
 * may do what): fuzzed on its own. */

#include <stdbool.h>
#include <stddef.h>

#include "basic/proto.h"
#include "basic/secret.h"
#include "basic/util.h"

#define CONTROL_REDIRECT_MAX 8192

enum control_cmd {
	CMD_TOKEN,
	CMD_WATCH,
	CMD_STATUS,
	CMD_REFRESH,
	CMD_IMPORT,
	CMD_ENROLL,
	CMD_ENROLL_FINISH,
	CMD_RELOAD,
	CMD_METRICS,
};

struct control_parsed {
	enum control_cmd cmd;
	bool has_account;
	char account[NAME_MAX_LEN + 1];
	bool admin_only;       /* refresh, import, enroll, enroll_finish, reload */
	struct secret *token;  /* import */
	bool short_lived;      /* import */
	char *redirect;	       /* enroll_finish */
};

/* PROTO_OK, or an error code with *ret_message saying why. On success the caller
 * clears ret with control_parsed_clear(). */
enum proto_error control_parse(const char *line, size_t n, struct control_parsed *ret,
			       const char **ret_message);
void control_parsed_clear(struct control_parsed *p);

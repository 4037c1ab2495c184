/* SPDX-License-Identifier: MIT */
#pragma once

/* The control protocol shared by the daemon and its clients: single-line JSON
 * requests and answers (CONTRACT section 5). */

#include <stdbool.h>
#include <stddef.h>

#define PROTO_LINE_MAX (64 * 1024) /* bytes in one request or answer line, newline excluded */
#define PROTO_ANSWER_MAX (256 * 1024 * 1024) /* status of 100k accounts is ~25 MB */

enum proto_error {
	PROTO_OK = 0,
	PROTO_BAD_REQUEST,
	PROTO_UNKNOWN_COMMAND,
	PROTO_UNKNOWN_ACCOUNT,
	PROTO_FORBIDDEN,
	PROTO_NO_TOKEN,
	PROTO_EXPIRED,
	PROTO_REAUTH_REQUIRED,
	PROTO_THROTTLED,
	PROTO_UPSTREAM,
	PROTO_INTERNAL,
	_PROTO_ERROR_MAX,
};

const char *proto_error_name(enum proto_error e);
enum proto_error proto_error_from_name(const char *s); /* PROTO_INTERNAL if unknown */
/* The errno-style code libigtoken returns for an error answer. */
int proto_error_to_errno(enum proto_error e);

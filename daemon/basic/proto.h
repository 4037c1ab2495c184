/* SPDX-License-Identifier: MIT */
#pragma once

/* The control protocol shared by the daemon and its clients: single-line JSON
 * requests and answers (CONTRACT section 5), and its error codes. */

#include <stdbool.h>
#include <stddef.h>

#define PROTO_LINE_MAX	 (64 * 1024)	     /* bytes in one request line, newline excluded */
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
	PROTO_TOO_EARLY, /* added in the second round (CONTRACT 12.9) */
	_PROTO_ERROR_MAX,
};

const char *proto_error_name(enum proto_error e);
enum proto_error proto_error_from_name(const char *s); /* PROTO_INTERNAL if unknown */

/* The daemon's errors are negative errno values; this is the one place they
 * become protocol codes: -EINVAL bad_request, -EOPNOTSUPP unknown_command,
 * -ENOENT unknown_account, -EACCES forbidden, -ENOKEY no_token, -EKEYEXPIRED
 * expired, -EKEYREVOKED reauth_required, -EBUSY throttled, -EREMOTEIO upstream,
 * -ETIME too_early, anything else internal. */
enum proto_error proto_error_from_errno(int r);
/* What libigtoken returns for an error answer (CONTRACT section 7): the three
 * ways of having no valid token are all -EKEYEXPIRED there. */
int proto_error_to_errno(enum proto_error e);

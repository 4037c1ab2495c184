/* SPDX-License-Identifier: MIT */
#include "basic/proto.h"

#include <errno.h>
#include <string.h>

static const char *const names[_PROTO_ERROR_MAX] = {
	[PROTO_OK] = "ok",
	[PROTO_BAD_REQUEST] = "bad_request",
	[PROTO_UNKNOWN_COMMAND] = "unknown_command",
	[PROTO_UNKNOWN_ACCOUNT] = "unknown_account",
	[PROTO_FORBIDDEN] = "forbidden",
	[PROTO_NO_TOKEN] = "no_token",
	[PROTO_EXPIRED] = "expired",
	[PROTO_REAUTH_REQUIRED] = "reauth_required",
	[PROTO_THROTTLED] = "throttled",
	[PROTO_UPSTREAM] = "upstream",
	[PROTO_INTERNAL] = "internal",
};

const char *proto_error_name(enum proto_error e)
{
	return e >= 0 && e < _PROTO_ERROR_MAX ? names[e] : "internal";
}

enum proto_error proto_error_from_name(const char *s)
{
	for (int i = 0; s && i < _PROTO_ERROR_MAX; i++)
		if (strcmp(names[i], s) == 0)
			return (enum proto_error)i;
	return PROTO_INTERNAL;
}

int proto_error_to_errno(enum proto_error e)
{
	switch (e) {
	case PROTO_OK: return 0;
	case PROTO_FORBIDDEN: return -EACCES;
	case PROTO_UNKNOWN_ACCOUNT: return -ENOENT;
	case PROTO_NO_TOKEN:
	case PROTO_EXPIRED:
	case PROTO_REAUTH_REQUIRED: return -EKEYEXPIRED;
	case PROTO_THROTTLED: return -EBUSY;
	case PROTO_BAD_REQUEST:
	case PROTO_UNKNOWN_COMMAND: return -EINVAL;
	case PROTO_UPSTREAM: return -EREMOTEIO;
	default: return -EIO;
	}
}

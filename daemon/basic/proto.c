/* SPDX-License-Identifier: MIT */
#include "basic/proto.h"

#include <errno.h>
#include <string.h>

static const struct {
	const char *name;
	int daemon_errno; /* the daemon's error for it */
	int api_errno;	  /* what libigtoken returns */
} codes[_PROTO_ERROR_MAX] = {
	[PROTO_OK] = { "ok", 0, 0 },
	[PROTO_BAD_REQUEST] = { "bad_request", -EINVAL, -EINVAL },
	[PROTO_UNKNOWN_COMMAND] = { "unknown_command", -EOPNOTSUPP, -EINVAL },
	[PROTO_UNKNOWN_ACCOUNT] = { "unknown_account", -ENOENT, -ENOENT },
	[PROTO_FORBIDDEN] = { "forbidden", -EACCES, -EACCES },
	[PROTO_NO_TOKEN] = { "no_token", -ENOKEY, -EKEYEXPIRED },
	[PROTO_EXPIRED] = { "expired", -EKEYEXPIRED, -EKEYEXPIRED },
	[PROTO_REAUTH_REQUIRED] = { "reauth_required", -EKEYREVOKED, -EKEYEXPIRED },
	[PROTO_THROTTLED] = { "throttled", -EBUSY, -EBUSY },
	[PROTO_UPSTREAM] = { "upstream", -EREMOTEIO, -EREMOTEIO },
	[PROTO_INTERNAL] = { "internal", -EIO, -EIO },
	[PROTO_TOO_EARLY] = { "too_early", -ETIME, -ETIME },
};

const char *proto_error_name(enum proto_error e)
{
	return e >= 0 && e < _PROTO_ERROR_MAX ? codes[e].name : "internal";
}

enum proto_error proto_error_from_name(const char *s)
{
	for (int i = 0; s && i < _PROTO_ERROR_MAX; i++)
		if (strcmp(codes[i].name, s) == 0)
			return (enum proto_error)i;
	return PROTO_INTERNAL;
}

enum proto_error proto_error_from_errno(int r)
{
	for (int i = 0; i < _PROTO_ERROR_MAX; i++)
		if (codes[i].daemon_errno == r)
			return (enum proto_error)i;
	return PROTO_INTERNAL;
}

int proto_error_to_errno(enum proto_error e)
{
	return e >= 0 && e < _PROTO_ERROR_MAX ? codes[e].api_errno : -EIO;
}

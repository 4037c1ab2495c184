/* SPDX-License-Identifier: MIT */
#include "meta/verdict.h"

#include <errno.h>

#include "basic/macro.h"

static const char *const names[_VERDICT_MAX] = {
	[VERDICT_OK] = "ok",
	[VERDICT_EXPIRED] = "expired",
	[VERDICT_REAUTH] = "reauth_required",
	[VERDICT_NOT_EXTENDED] = "not_extended",
	[VERDICT_REAUTH_RECOVERABLE] = "reauth_required",
	[VERDICT_CREDENTIALS] = "app_credentials_rejected",
	[VERDICT_THROTTLED] = "throttled",
	[VERDICT_TRANSIENT] = "transient",
	[VERDICT_ERROR] = "error",
};

const char *verdict_name(enum verdict v)
{
	return v >= 0 && v < _VERDICT_MAX ? names[v] : "error";
}

bool verdict_is_standing(enum verdict v)
{
	return v == VERDICT_EXPIRED || v == VERDICT_REAUTH || v == VERDICT_NOT_EXTENDED ||
	       v == VERDICT_REAUTH_RECOVERABLE;
}

bool verdict_is_dead(enum verdict v)
{
	return v == VERDICT_EXPIRED || v == VERDICT_REAUTH || v == VERDICT_REAUTH_RECOVERABLE;
}

int verdict_to_errno(enum verdict v)
{
	switch (v) {
	case VERDICT_OK:
	case VERDICT_NOT_EXTENDED: return 0;
	case VERDICT_EXPIRED: return -EKEYEXPIRED;
	case VERDICT_REAUTH:
	case VERDICT_REAUTH_RECOVERABLE: return -EKEYREVOKED;
	case VERDICT_THROTTLED: return -EBUSY;
	default: return -EREMOTEIO;
	}
}

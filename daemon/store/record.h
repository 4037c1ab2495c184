/* SPDX-License-Identifier: MIT */
#pragma once

/* What a vault record holds, and its byte encoding (pure: no I/O, no crypto).
 * Encoding: a sequence of fields, each u8 tag, u32 little-endian length, bytes.
 * Unknown tags are skipped, so newer daemons can add fields. */

#include <stdint.h>

#include "basic/macro.h"
#include "basic/secret.h"

#define RECORD_STRING_MAX 4096
#define RECORD_PLAIN_MAX  (SECRET_MAX + 8 * RECORD_STRING_MAX)

struct vault_record {
	struct secret *token;
	int64_t issued_at;
	int64_t expires_at; /* 0 = never */
	int64_t data_access_expires_at;
	int64_t last_refresh;
	int64_t last_validated;
	int64_t next_attempt; /* retry backoff deadline, 0 = none */
	uint32_t failures;
	uint8_t verdict;     /* a standing enum verdict (meta/verdict.h), or VERDICT_OK */
	uint8_t token_type;  /* enum record_token_type */
	bool expiry_assumed; /* imported; Meta has not told the real expiry yet */
	bool no_token;	     /* decoded: deliberately without a token (token stays NULL) */
	char *user_id;
	char *username; /* instagram: what /me said */
	char *scopes;	/* comma-separated */
	char *app_id;
	char *last_error;
	/* the account's own rate limit (Instagram BUC entries keyed by its user id) */
	int64_t paused_until;
	uint32_t pause_level, throttle_count;
	/* how many times the token changed (a refresh, an import, a wipe): the
	 * later of two records of one account (cluster mode, CLUSTER.md); 0 in
	 * records written before it was counted */
	int64_t generation;
};

enum record_token_type {
	TOKEN_USER = 0,
	TOKEN_PAGE = 1,
	TOKEN_SYSTEM_USER = 2,
};

/* Per-app rate-limit state: pauses survive a restart. */
struct app_record {
	int64_t paused_until;
	uint32_t throttle_count;
	uint32_t backoff_level;
};

struct vault_record *record_free(struct vault_record *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct vault_record *, record_free)

/* The plaintext goes into guarded memory since it holds the token. A record
 * without a token (r->token NULL) keeps only what is known about the account
 * (a token Meta withdrew and igtokend wiped): it is marked as such, so that a
 * record cannot lose its token unnoticed. */
int record_encode(const struct vault_record *r, struct secret **ret);
int record_decode(const void *p, size_t n, struct vault_record **ret);
/* The same without copying the token out (r->token stays NULL): metadata only. */
int record_decode_meta(const void *p, size_t n, struct vault_record **ret);

int app_record_encode(const struct app_record *r, struct secret **ret);
int app_record_decode(const void *p, size_t n, struct app_record *ret);

/* Helper to replace a string field. */
int record_set_string(char **field, const char *value);

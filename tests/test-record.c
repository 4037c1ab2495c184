/* SPDX-License-Identifier: MIT */
#include <sodium.h>
#include <stdlib.h>

#include "meta/verdict.h"
#include "store/record.h"
#include "tap.h"

static void test_roundtrip(void)
{
	struct vault_record r = { 0 }, *d = NULL;
	struct secret *plain = NULL;

	secret_from_mem("IGAAsecret-token", 16, &r.token);
	r.issued_at = 1700000000;
	r.expires_at = 1705184000;
	r.data_access_expires_at = -5;
	r.last_refresh = 1700000001;
	r.last_validated = 1700000002;
	r.next_attempt = 1700000003;
	r.failures = 7;
	r.verdict = VERDICT_REAUTH;
	r.token_type = 1;
	r.user_id = strdup("17841405793187218");
	r.scopes = strdup("instagram_business_basic,instagram_business_content_publish");
	r.app_id = strdup("1234567890");
	r.last_error = strdup("HTTP 503");

	CHECK_INT(record_encode(&r, &plain), 0);
	if (!plain)
		return;
	CHECK_INT(record_decode(plain->data, plain->len, &d), 0);
	if (d) {
		CHECK(secret_equal(d->token, r.token));
		CHECK_INT(d->issued_at, r.issued_at);
		CHECK_INT(d->expires_at, r.expires_at);
		CHECK_INT(d->data_access_expires_at, -5);
		CHECK_INT(d->last_refresh, r.last_refresh);
		CHECK_INT(d->last_validated, r.last_validated);
		CHECK_INT(d->next_attempt, r.next_attempt);
		CHECK_INT(d->failures, 7);
		CHECK_INT(d->verdict, VERDICT_REAUTH);
		CHECK_INT(d->token_type, 1);
		CHECK_STR(d->user_id, "17841405793187218");
		CHECK_STR(d->scopes, r.scopes);
		CHECK_STR(d->app_id, "1234567890");
		CHECK_STR(d->last_error, "HTTP 503");
	}
	/* every truncation is refused or yields a record without a token */
	for (size_t n = 0; n < plain->len; n++) {
		struct vault_record *t = NULL;
		int k = record_decode(plain->data, n, &t);
		CHECK(k == -EBADMSG || (k == 0 && t->token));
		record_free(t);
	}
	record_free(d);
	secret_free(plain);
	secret_free(r.token);
	free(r.user_id);
	free(r.scopes);
	free(r.app_id);
	free(r.last_error);
}

static void test_unknown_fields_skipped(void)
{
	/* token field + a field with an unknown tag 99 */
	static const unsigned char buf[] = {
		1, 3, 0, 0, 0, 'a', 'b', 'c', 99, 2, 0, 0, 0, 'z', 'z'
	};
	static const unsigned char bad_len[] = { 1, 3, 0, 0, 0, 'a', 'b', 'c',
						 2, 3, 0, 0, 0, 1,   2,	  3 };
	static const unsigned char no_token[] = { 2, 8, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8 };
	static const unsigned char overlong[] = { 1, 255, 255, 255, 255, 'a' };
	struct vault_record *r = NULL;

	CHECK_INT(record_decode(buf, sizeof(buf), &r), 0);
	CHECK(r && r->token->len == 3);
	r = record_free(r);
	CHECK_INT(record_decode(bad_len, sizeof(bad_len), &r), -EBADMSG);
	CHECK_INT(record_decode(no_token, sizeof(no_token), &r), -EBADMSG);
	CHECK_INT(record_decode(overlong, sizeof(overlong), &r), -EBADMSG);
	CHECK(r == NULL);
}

static void test_app_record(void)
{
	struct app_record a = { .paused_until = 1800000000,
				.throttle_count = 3,
				.backoff_level = 2 },
			  b;
	struct secret *plain = NULL;

	CHECK_INT(app_record_encode(&a, &plain), 0);
	CHECK_INT(app_record_decode(plain->data, plain->len, &b), 0);
	CHECK_INT(b.paused_until, 1800000000);
	CHECK_INT(b.throttle_count, 3);
	CHECK_INT(b.backoff_level, 2);
	CHECK_INT(app_record_decode(plain->data, plain->len - 1, &b), -EBADMSG);
	secret_free(plain);
}

/* A record without a token (revoke, deauthorize) says so, and keeps the rest;
 * the second round's fields round-trip (CONTRACT 12.1, 12.8, 12.13). */
static void test_tokenless_and_new_fields(void)
{
	struct vault_record r = { .no_token = true,
				  .verdict = VERDICT_REAUTH,
				  .paused_until = 1800000000,
				  .pause_level = 3,
				  .throttle_count = 9,
				  .token_type = TOKEN_SYSTEM_USER },
			    *d = NULL;
	struct secret *plain = NULL;

	r.user_id = (char *)(uintptr_t) "17841405793187218";
	r.username = (char *)(uintptr_t) "shop_one";
	r.last_error = (char *)(uintptr_t) "the user removed the app";
	CHECK_INT(record_encode(&r, &plain), 0);
	CHECK_INT(record_decode(plain->data, plain->len, &d), 0);
	if (d) {
		CHECK(d->token == NULL);
		CHECK(d->no_token);
		CHECK_INT(d->verdict, VERDICT_REAUTH);
		CHECK_STR(d->username, "shop_one");
		CHECK_STR(d->user_id, "17841405793187218");
		CHECK_INT(d->paused_until, 1800000000);
		CHECK_INT(d->pause_level, 3);
		CHECK_INT(d->throttle_count, 9);
		CHECK_INT(d->token_type, TOKEN_SYSTEM_USER);
	}
	record_free(d);
	secret_free(plain);
	/* neither a token nor the mark, or both: refused, so a token is never lost unnoticed */
	r.no_token = false;
	CHECK_INT(record_encode(&r, &plain), -EINVAL);
	r.no_token = true;
	secret_from_mem("IGAAx", 5, &r.token);
	CHECK_INT(record_encode(&r, &plain), -EINVAL);
	secret_free(r.token);
	/* a token and the mark together do not decode */
	static const unsigned char both[] = { 1, 1, 0, 0, 0, 'a', 20, 8, 0, 0,
					      0, 1, 0, 0, 0, 0,	  0,  0, 0 };
	d = NULL;
	CHECK_INT(record_decode(both, sizeof(both), &d), -EBADMSG);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	test_roundtrip();
	test_unknown_fields_skipped();
	test_app_record();
	test_tokenless_and_new_fields();
	return tap_done("test-record");
}

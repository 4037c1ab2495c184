/* SPDX-License-Identifier: MIT */
/* Meta's signed_request (CONTRACT 12.13): what is accepted and what is refused. */
#include <sodium.h>
#include <stdio.h>

#include "meta/signed-request.h"
#include "tap.h"

static const char key_text[] = "app-secret";
static const struct secret key = { .len = sizeof(key_text) - 1,
				   .data = (char *)(uintptr_t)key_text };

/* base64url(HMAC-SHA256(payload, secret)) "." payload, payload = base64url(json) */
static void make(const char *json, const char *secret, bool pad, char *out, size_t len)
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	char payload[1024], sig[128];
	crypto_auth_hmacsha256_state st;

	sodium_bin2base64(payload, sizeof(payload), (const unsigned char *)json, strlen(json),
			  pad ? sodium_base64_VARIANT_URLSAFE
			      : sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)payload, strlen(payload));
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_bin2base64(sig, sizeof(sig), mac, sizeof(mac),
			  pad ? sodium_base64_VARIANT_URLSAFE
			      : sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	snprintf(out, len, "%s.%s", sig, payload);
}

static int parse(const char *sr, struct signed_request *r, const char **why)
{
	*r = (struct signed_request){ 0 };
	*why = NULL;
	return signed_request_parse(sr, &key, r, why);
}

int main(void)
{
	struct signed_request r;
	const char *why;
	char sr[2048];

	if (sodium_init() < 0)
		return 1;
	make("{\"algorithm\":\"HMAC-SHA256\",\"issued_at\":1795824000,\"user_id\":"
	     "\"17841405793187218\"}",
	     key_text, false, sr, sizeof(sr));
	CHECK_INT(parse(sr, &r, &why), 0);
	CHECK_STR(r.user_id, "17841405793187218");
	CHECK_INT(r.issued_at, 1795824000);
	signed_request_clear(&r);

	/* padded base64 too; a numeric id above 2^53 keeps its digits */
	make("{\"algorithm\":\"HMAC-SHA256\",\"user_id\":27640875392278831}", key_text, true, sr,
	     sizeof(sr));
	CHECK_INT(parse(sr, &r, &why), 0);
	CHECK_STR(r.user_id, "27640875392278831");
	signed_request_clear(&r);

	/* another app's secret, or a forger's: -EBADMSG, and it says so */
	make("{\"algorithm\":\"HMAC-SHA256\",\"user_id\":\"1\"}", "another-secret", false, sr,
	     sizeof(sr));
	CHECK_INT(parse(sr, &r, &why), -EBADMSG);
	CHECK(why && strstr(why, "signature does not match"));
	CHECK(r.user_id == NULL);

	/* a payload changed after signing */
	make("{\"algorithm\":\"HMAC-SHA256\",\"user_id\":\"1\"}", key_text, false, sr, sizeof(sr));
	sr[strlen(sr) - 2] ^= 1;
	CHECK(parse(sr, &r, &why) < 0);

	/* signed, but not what Meta sends */
	make("{\"algorithm\":\"HMAC-SHA1\",\"user_id\":\"1\"}", key_text, false, sr, sizeof(sr));
	CHECK_INT(parse(sr, &r, &why), -EINVAL);
	CHECK(why && strstr(why, "HMAC-SHA256"));
	make("{\"algorithm\":\"HMAC-SHA256\"}", key_text, false, sr, sizeof(sr));
	CHECK_INT(parse(sr, &r, &why), -EINVAL);
	CHECK(why && strstr(why, "user_id"));
	make("{\"algorithm\":\"HMAC-SHA256\",\"user_id\":\"12ab\"}", key_text, false, sr,
	     sizeof(sr));
	CHECK_INT(parse(sr, &r, &why), -EINVAL);
	make("[1,2]", key_text, false, sr, sizeof(sr));
	CHECK_INT(parse(sr, &r, &why), -EINVAL);

	/* malformed */
	static const char *const bad[] = { "", ".", "abc", "a.b.c", "!!!.???", "abc.", ".abc" };
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		CHECK_INT(parse(bad[i], &r, &why), -EINVAL);
		CHECK(why != NULL);
	}
	CHECK_INT(signed_request_parse(NULL, &key, &r, &why), -EINVAL);
	{
		char big[SIGNED_REQUEST_MAX + 16];
		memset(big, 'A', sizeof(big) - 1);
		big[10] = '.';
		big[sizeof(big) - 1] = '\0';
		CHECK_INT(parse(big, &r, &why), -EINVAL);
	}
	return tap_done("test-signed-request");
}

/* SPDX-License-Identifier: MIT */
/* Meta's signed_request (deauthorize callbacks): the parser with any input. An
 * input whose first byte is odd gets the right signature for the rest, so that
 * the payload's JSON is reached and not only the signature check. */
#include "fuzz.h"
#include <stdlib.h>
#include <string.h>

#include "meta/signed-request.h"

static const char key_text[] = "fuzz-app-secret";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct secret key = { .len = sizeof(key_text) - 1, .data = (char *)(uintptr_t)key_text };
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	char sig[sodium_base64_ENCODED_LEN(sizeof(mac), sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
	struct signed_request r = { 0 };
	crypto_auth_hmacsha256_state st;
	const char *why = NULL;
	size_t sig_len;
	char *sr;

	if (size == 0)
		return 0;
	sr = malloc(sizeof(sig) + size + 2);
	if (!sr)
		return 0;
	if (data[0] & 1) {
		crypto_auth_hmacsha256_init(&st, (const unsigned char *)key_text, key.len);
		crypto_auth_hmacsha256_update(&st, data + 1, size - 1);
		crypto_auth_hmacsha256_final(&st, mac);
		sodium_bin2base64(sig, sizeof(sig), mac, sizeof(mac),
				  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		sig_len = strlen(sig);
		memcpy(sr, sig, sig_len);
		sr[sig_len] = '.';
		memcpy(sr + sig_len + 1, data + 1, size - 1);
		sr[sig_len + size] = '\0';
	} else {
		memcpy(sr, data + 1, size - 1);
		sr[size - 1] = '\0';
	}
	if (signed_request_parse(sr, &key, &r, &why) == 0) {
		if (!r.user_id || !*r.user_id)
			abort(); /* a parsed request always names its user */
		signed_request_clear(&r);
	} else if (!why)
		abort(); /* a refusal always says why */
	free(sr);
	return 0;
}

/* SPDX-License-Identifier: MIT */
#include "meta/signed-request.h"

#include <cjson/cJSON.h>
#include <sodium.h>

#include "basic/util.h"
#include "meta/graph-parse.h"

void signed_request_clear(struct signed_request *r)
{
	free(r->user_id);
	*r = (struct signed_request){ 0 };
}

/* base64url, padded or not, into buf; the length decoded, or -EINVAL. */
static int decode(const char *in, size_t n, unsigned char *buf, size_t size, size_t *ret_len)
{
	while (n > 0 && in[n - 1] == '=')
		n--;
	if (n == 0 || sodium_base642bin(buf, size, in, n, NULL, ret_len, NULL,
					sodium_base64_VARIANT_URLSAFE_NO_PADDING) < 0)
		return -EINVAL;
	return 0;
}

static int check_signature(const char *sig, size_t sig_len, const char *payload, size_t payload_len,
			   const struct secret *key)
{
	unsigned char got[64], want[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;
	size_t n;
	int r;

	if (decode(sig, sig_len, got, sizeof(got), &n) < 0 || n != sizeof(want))
		return -EINVAL;
	crypto_auth_hmacsha256_init(&st, (const unsigned char *)key->data, key->len);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)payload, payload_len);
	crypto_auth_hmacsha256_final(&st, want);
	r = sodium_memcmp(got, want, sizeof(want)) == 0 ? 0 : -EBADMSG; /* in constant time */
	sodium_memzero(&st, sizeof(st));
	sodium_memzero(want, sizeof(want));
	return r;
}

static int read_payload(const char *json, size_t n, struct signed_request *ret, const char **why)
{
	cJSON *j = cJSON_ParseWithLength(json, n);
	const char *alg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "algorithm"));
	const cJSON *at = cJSON_GetObjectItemCaseSensitive(j, "issued_at");
	int r = -EINVAL;

	if (!cJSON_IsObject(j))
		*why = "the payload is not a JSON object";
	else if (!alg || !streq(alg, "HMAC-SHA256"))
		*why = "the payload's algorithm is not HMAC-SHA256";
	else if (graph_parse_id(json, n, j, "user_id", &ret->user_id) < 0 || !ret->user_id)
		*why = "the payload names no user_id";
	else {
		if (cJSON_IsNumber(at) && at->valuedouble > 0 && at->valuedouble < 1e11)
			ret->issued_at = (int64_t)at->valuedouble;
		r = 0;
	}
	cJSON_Delete(j);
	return r;
}

int signed_request_parse(const char *sr, const struct secret *app_secret,
			 struct signed_request *ret, const char **ret_why)
{
	struct signed_request out = { 0 };
	const char *dot = sr ? strchr(sr, '.') : NULL, *payload;
	_cleanup_free_ char *json = NULL;
	size_t len, payload_len, n;
	int r;

	*ret_why = "a signed_request is base64url(signature).base64url(payload)";
	if (!sr || !dot || strlen(sr) > SIGNED_REQUEST_MAX || strchr(dot + 1, '.'))
		return -EINVAL;
	payload = dot + 1;
	payload_len = strlen(payload);
	len = payload_len / 4 * 3 + 3;
	json = malloc(len + 1);
	if (!json)
		return -ENOMEM;
	if (decode(payload, payload_len, (unsigned char *)json, len, &n) < 0)
		return -EINVAL;
	json[n] = '\0';
	r = check_signature(sr, (size_t)(dot - sr), payload, payload_len, app_secret);
	if (r == -EBADMSG)
		*ret_why = "the signature does not match the app's secret: this did not come from "
			   "Meta for this app";
	if (r < 0)
		return r;
	r = read_payload(json, n, &out, ret_why);
	if (r < 0) {
		signed_request_clear(&out);
		return r;
	}
	*ret = out;
	return 0;
}

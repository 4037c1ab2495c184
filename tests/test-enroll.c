/* SPDX-License-Identifier: MIT */
#include <sodium.h>
#include <stdio.h>

#include "meta/enroll.h"
#include "tap.h"

static void test_url(void)
{
	struct app_config app = {
		.app_id = (char[]){ "1234567890" },
		.authorize_url = (char[]){ "https://www.instagram.com/oauth/authorize" },
		.redirect_uri = (char[]){ "https://example.com/ig/callback" },
	};
	char *scopes[] = { (char[]){ "instagram_business_basic" },
			   (char[]){ "instagram_business_content_publish" }, NULL };
	char *url = NULL;

	CHECK_INT(enroll_url(&app, scopes, "ab12", &url), 0);
	CHECK_STR(url, "https://www.instagram.com/oauth/authorize?client_id=1234567890"
		       "&redirect_uri=https%3A%2F%2Fexample.com%2Fig%2Fcallback&response_type=code"
		       "&scope=instagram_business_basic%2Cinstagram_business_content_publish&state="
		       "ab12");
	free(url);
	/* Facebook Login for Business: the configuration instead of scopes (CONTRACT 12.7) */
	app.config_id = (char[]){ "987654321" };
	CHECK_INT(enroll_url(&app, scopes, "ab12", &url), 0);
	CHECK_STR(url, "https://www.instagram.com/oauth/authorize?client_id=1234567890"
		       "&redirect_uri=https%3A%2F%2Fexample.com%2Fig%2Fcallback&config_id=987654321"
		       "&response_type=code&override_default_response_type=true&state=ab12");
	free(url);
	app.config_id = NULL;
	app.redirect_uri = NULL;
	CHECK_INT(enroll_url(&app, scopes, "ab12", &url), -ENOENT);
}

static void test_redirects(void)
{
	const char *ru = "https://example.com/ig/callback";
	const char *st = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	char why[ENROLL_WHY_MAX], url[512];
	struct enroll_redirect r = { 0 };

	snprintf(url, sizeof(url), "%s?code=AQDx-yz_1&state=%s#_", ru, st);
	CHECK_INT(enroll_parse_redirect(url, ru, &r, why), 0);
	CHECK_STR(r.code->data, "AQDx-yz_1");
	CHECK_STR(r.state_hex, st);
	enroll_redirect_clear(&r);
	snprintf(url, sizeof(url), "%s?state=%s&code=AQDcode%%23_", ru,
		 st); /* "#_" percent-encoded */
	CHECK_INT(enroll_parse_redirect(url, ru, &r, why), 0);
	CHECK_STR(r.code->data, "AQDcode");
	enroll_redirect_clear(&r);

	static const struct {
		const char *url;
		int r;
		const char *why;
	} bad[] = {
		{ "not a url", -EINVAL, "not a URL" },
		{ "https://evil.example/ig/callback?code=x&state=%s", -EINVAL, "redirect_uri" },
		{ "https://example.com/other?code=x&state=%s", -EINVAL, "redirect_uri" },
		{ "http://example.com/ig/callback?code=x&state=%s", -EINVAL, "redirect_uri" },
		{ "https://example.com/ig/callback", -EINVAL, "neither" },
		{ "https://example.com/ig/callback?state=%s", -EINVAL, "the code" },
		{ "https://example.com/ig/callback?code=x", -EINVAL, "the state" },
		{ "https://example.com/ig/callback?code=x&code=y&state=%s", -EINVAL, "repeats" },
		{ "https://example.com/ig/callback?code=a%%20b&state=%s", -EINVAL, "characters" },
		{ "https://example.com/ig/"
		  "callback?error=access_denied&error_reason=user_denied&error_description="
		  "Permissions+error",
		  -EACCES, "not granted on Meta's page (user_denied: Permissions error)" },
		{ "https://example.com/ig/callback?error=server_error", -EACCES,
		  "error 'server_error'" },
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		snprintf(url, sizeof(url), bad[i].url, st);
		CHECK_INT(enroll_parse_redirect(url, ru, &r, why), bad[i].r);
		CHECK(strstr(why, bad[i].why) != NULL);
		if (!strstr(why, bad[i].why))
			fprintf(stderr, "  case %zu: %s\n", i, why);
		CHECK(r.code == NULL);
	}
}

static void test_state(void)
{
	struct enroll_pending p = { 0 };
	char hex[2 * ENROLL_STATE_BYTES + 1], other[2 * ENROLL_STATE_BYTES + 1];
	const uint64_t t0 = 5000000;

	CHECK(!enroll_take(&p, "00", t0)); /* nothing under way */
	enroll_begin(&p, t0, hex);
	CHECK_INT(strlen(hex), 64);
	memcpy(other, hex, sizeof(hex));
	other[0] = other[0] == 'a' ? 'b' : 'a';
	CHECK(!enroll_take(&p, other, t0 + 1));	      /* wrong */
	CHECK(!enroll_take(&p, "zz", t0 + 1));	      /* not even hex */
	CHECK(enroll_take(&p, hex, t0 + 599000000));  /* right, within 10 minutes */
	CHECK(!enroll_take(&p, hex, t0 + 599000001)); /* used */
	enroll_begin(&p, t0, hex);
	CHECK(!enroll_take(&p, hex, t0 + 600000001)); /* expired */
	CHECK(!enroll_take(&p, hex, t0 + 1));	      /* and forgotten */
	enroll_begin(&p, t0, other);
	enroll_begin(&p, t0, hex); /* a new enrolment replaces the earlier state */
	CHECK(!enroll_take(&p, other, t0 + 1));
	CHECK(enroll_take(&p, hex, t0 + 1));
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	test_url();
	test_redirects();
	test_state();
	return tap_done("test-enroll");
}

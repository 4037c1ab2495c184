/* SPDX-License-Identifier: MIT */
#include <sodium.h>
#include <stdio.h>

#include "meta/graph-parse.h"
#include "meta/graph-url.h"
#include "meta/graph.h"
#include "tap.h"

#define E(code, sub, msg)                                                                          \
	"{\"error\":{\"message\":\"" msg "\",\"type\":\"OAuthException\",\"code\":" #code          \
	",\"error_subcode\":" #sub ",\"fbtrace_id\":\"x\"}}"

static void test_classify(void)
{
	static const struct {
		int terr;
		long status;
		const char *body;
		enum verdict want;
		int code, subcode;
	} t[] = {
		{ 0, 200, "{\"access_token\":\"a\",\"expires_in\":5}", VERDICT_OK, 0, 0 },
		/* expired */
		{ 0, 400, E(190, 463, "Error validating access token: expired"), VERDICT_EXPIRED,
		  190, 463 },
		{ 0, 400, E(190, 0, "Error validating access token: Session has expired on Monday"),
		  VERDICT_EXPIRED, 190, 0 },
		{ 0, 400, "{\"error\":{\"message\":\"Session has expired\"}}", VERDICT_EXPIRED, 0,
		  0 },
		/* grant gone */
		{ 0, 400,
		  E(190, 460,
		    "The session has been invalidated because the user changed their password"),
		  VERDICT_REAUTH, 190, 460 },
		{ 0, 400, E(190, 458, "x"), VERDICT_REAUTH, 190, 458 },
		/* recoverable (CONTRACT 12.3): the user fixes it on Meta's side */
		{ 0, 400, E(190, 459, "x"), VERDICT_REAUTH_RECOVERABLE, 190, 459 },
		{ 0, 400, E(190, 464, "x"), VERDICT_REAUTH_RECOVERABLE, 190, 464 },
		{ 0, 400, E(190, 467, "x"), VERDICT_REAUTH, 190, 467 },
		{ 0, 400, E(190, 492, "x"), VERDICT_REAUTH_RECOVERABLE, 190, 492 },
		{ 0, 400, E(102, 463, "x"), VERDICT_EXPIRED, 102, 463 },
		{ 0, 400, E(190, 460, "Session has expired"), VERDICT_REAUTH, 190,
		  460 }, /* subcode decides */
		{ 0, 400, E(102, 0, "x"), VERDICT_REAUTH, 102, 0 },
		{ 0, 403, E(10, 0, "x"), VERDICT_REAUTH, 10, 0 },
		{ 0, 403, E(200, 0, "x"), VERDICT_REAUTH, 200, 0 },
		{ 0, 403, E(299, 0, "x"), VERDICT_REAUTH, 299, 0 },
		/* throttles */
		{ 0, 403,
		  "{\"error\":{\"message\":\"(#4) Application request limit "
		  "reached\",\"type\":\"OAuthException\",\"is_transient\":true,\"code\":4}}",
		  VERDICT_THROTTLED, 4, 0 },
		{ 0, 400, E(17, 0, "x"), VERDICT_THROTTLED, 17, 0 },
		{ 0, 400, E(32, 0, "x"), VERDICT_THROTTLED, 32, 0 },
		{ 0, 400, E(341, 0, "x"), VERDICT_THROTTLED, 341, 0 },
		{ 0, 400, E(613, 1996, "x"), VERDICT_THROTTLED, 613, 1996 },
		{ 0, 400, E(80001, 0, "x"), VERDICT_THROTTLED, 80001, 0 },
		{ 0, 400, E(80002, 0, "x"), VERDICT_THROTTLED, 80002, 0 },
		{ 0, 400, E(80009, 0, "x"), VERDICT_THROTTLED, 80009, 0 },
		{ 0, 400, E(80010, 0, "x"), VERDICT_ERROR, 80010, 0 },
		{ 0, 429, "", VERDICT_THROTTLED, 0, 0 },
		{ 0, 429, E(190, 460, "x"), VERDICT_THROTTLED, 190, 460 }, /* 429 wins, always */
		{ 0, 429, "<html>slow down</html>", VERDICT_THROTTLED, 0, 0 },
		/* transient */
		{ 0, 500, E(1, 0, "An unknown error occurred"), VERDICT_TRANSIENT, 1, 0 },
		{ 0, 500, E(2, 0, "Service temporarily unavailable"), VERDICT_TRANSIENT, 2, 0 },
		{ 0, 400, "{\"error\":{\"message\":\"x\",\"code\":100,\"is_transient\":true}}",
		  VERDICT_TRANSIENT, 100, 0 },
		{ 0, 502, "<html>Sorry, something went wrong.</html>", VERDICT_TRANSIENT, 0, 0 },
		{ 0, 503, "", VERDICT_TRANSIENT, 0, 0 },
		{ 0, 200, "not json", VERDICT_TRANSIENT, 0, 0 },
		{ 0, 200, "[1,2]", VERDICT_TRANSIENT, 0, 0 },
		{ 0, 404, "Not found", VERDICT_TRANSIENT, 0, 0 },
		{ -ETIMEDOUT, 0, NULL, VERDICT_TRANSIENT, 0, 0 },
		{ -ECONNREFUSED, 0, NULL, VERDICT_TRANSIENT, 0, 0 },
		{ -EMSGSIZE, 200, NULL, VERDICT_TRANSIENT, 0, 0 },
		/* anything else */
		{ 0, 400, E(100, 33, "Unsupported get request"), VERDICT_ERROR, 100, 33 },
		{ 0, 500, E(100, 0, "x"), VERDICT_TRANSIENT, 100, 0 }, /* 5xx without a verdict */
		{ 0, 400,
		  "{\"error_type\":\"OAuthException\",\"code\":400,\"error_message\":\"Invalid "
		  "scope\"}",
		  VERDICT_ERROR, 400, 0 },
		{ 0, 403, "{}", VERDICT_ERROR, 0, 0 },
		{ 0, 400, "{\"error\":{\"code\":\"190\",\"error_subcode\":\"463\"}}",
		  VERDICT_EXPIRED, 190, 463 }, /* numbers as strings */
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		struct graph_verdict v;
		graph_classify(t[i].terr, "boom", t[i].status, t[i].body,
			       t[i].body ? strlen(t[i].body) : 0, 0, &v);
		if (v.verdict != t[i].want)
			fprintf(stderr, "case %zu: %s -> %s (%s)\n", i, t[i].body ?: "(transport)",
				verdict_name(v.verdict), v.why);
		CHECK_INT(v.verdict, t[i].want);
		CHECK_INT(v.code, t[i].code);
		CHECK_INT(v.subcode, t[i].subcode);
		CHECK(t[i].want == VERDICT_OK ? v.why[0] == '\0' : v.why[0] != '\0');
	}
}

/* What a request carried changes what an error means (CONTRACT 12.2, 12.5). */
static void test_classify_flags(void)
{
	static const struct {
		const char *body;
		unsigned flags;
		enum verdict want;
	} t[] = {
		/* a top-level error on debug_token is about the app token */
		{ E(190, 0, "Invalid OAuth access token signature."), GRAPH_APP_TOKEN,
		  VERDICT_CREDENTIALS },
		{ E(190, 460, "x"), GRAPH_APP_TOKEN, VERDICT_CREDENTIALS },
		{ E(190, 0, "Invalid OAuth access token signature."), 0, VERDICT_REAUTH },
		{ E(4, 0, "x"), GRAPH_APP_TOKEN, VERDICT_THROTTLED },
		{ E(2, 0, "x"), GRAPH_APP_TOKEN, VERDICT_TRANSIENT },
		/* a wrong client secret on an exchange */
		{ E(1, 0, "Error validating client secret."), GRAPH_CLIENT_SECRET,
		  VERDICT_CREDENTIALS },
		{ E(1, 0, "An unknown error occurred"), GRAPH_CLIENT_SECRET, VERDICT_TRANSIENT },
		{ E(1, 0, "Error validating client secret."), 0, VERDICT_TRANSIENT },
		{ E(101, 0, "Error validating application. Invalid application ID."), 0,
		  VERDICT_CREDENTIALS },
		/* a Basic Display token on refresh_access_token */
		{ "{\"error\":{\"message\":\"Unsupported request - method type: "
		  "get\",\"type\":\"IGApiException\",\"code\":100,\"fbtrace_id\":\"AbC\"}}",
		  GRAPH_REFRESH, VERDICT_REAUTH },
		{ "{\"error\":{\"message\":\"Unsupported request - method type: "
		  "get\",\"type\":\"IGApiException\",\"code\":100}}",
		  0, VERDICT_ERROR },
	};
	struct graph_verdict v;

	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		graph_classify(0, NULL, 400, t[i].body, strlen(t[i].body), t[i].flags, &v);
		if (v.verdict != t[i].want)
			fprintf(stderr, "flags case %zu: %s -> %s\n", i, t[i].body,
				verdict_name(v.verdict));
		CHECK_INT(v.verdict, t[i].want);
	}
	/* the fix is named; Meta's trace id ends the text (CONTRACT 12.12) */
	graph_classify(0, NULL, 400, t[0].body, strlen(t[0].body), GRAPH_APP_TOKEN, &v);
	CHECK(strstr(v.why, "app_id and the app secret") != NULL);
	CHECK(strstr(v.why, " (fbtrace_id x)") != NULL);
	graph_classify(0, NULL, 400, t[9].body, strlen(t[9].body), GRAPH_REFRESH, &v);
	CHECK(strstr(v.why, "2024-12-04") != NULL);
	CHECK(strstr(v.why, "Instagram Login") != NULL);
	CHECK(strstr(v.why, "(fbtrace_id AbC)") != NULL);
	graph_classify(0, NULL, 400, E(190, 459, "checkpoint"), strlen(E(190, 459, "checkpoint")),
		       0, &v);
	CHECK(strstr(v.why, "checkpoint") != NULL &&
	      strstr(v.why, "next successful check") != NULL);
	/* a trace id that is not one is left out */
	static const char odd[] =
		"{\"error\":{\"message\":\"m\",\"code\":2,\"fbtrace_id\":\"a b\\n\"}}";
	graph_classify(0, NULL, 500, odd, strlen(odd), 0, &v);
	CHECK(strstr(v.why, "fbtrace_id") == NULL);
}

/* debug_token's data.error judges the inspected token (CONTRACT 12.2, 12.3). */
static void test_token_error(void)
{
	struct graph_verdict v;

	graph_describe_token_error(&(struct graph_token_error){ 190, 459, "checkpointed" }, false,
				   &v);
	CHECK_INT(v.verdict, VERDICT_REAUTH_RECOVERABLE);
	graph_describe_token_error(&(struct graph_token_error){ 190, 463, "expired" }, false, &v);
	CHECK_INT(v.verdict, VERDICT_EXPIRED);
	graph_describe_token_error(&(struct graph_token_error){ 190, 460, "password" }, false, &v);
	CHECK_INT(v.verdict, VERDICT_REAUTH);
	CHECK(strstr(v.why, "password") != NULL);
	/* a throttle code inside data.error is still about the token: not a pause */
	graph_describe_token_error(&(struct graph_token_error){ 4, 0, "x" }, false, &v);
	CHECK_INT(v.verdict, VERDICT_REAUTH);
	graph_describe_token_error(&(struct graph_token_error){ 0, 0, NULL }, true, &v);
	CHECK_INT(v.verdict, VERDICT_EXPIRED);
	graph_describe_token_error(&(struct graph_token_error){ 0, 0, NULL }, false, &v);
	CHECK_INT(v.verdict, VERDICT_REAUTH);
}

static void test_parse_token(void)
{
	struct graph_token t = { 0 };
	static const char flat[] =
		"{\"access_token\": \"IGAA2e0uoy3ZAZABZA\", \"user_id\": 27640875392278831, "
		"\"permissions\": [\"instagram_business_basic\", "
		"\"instagram_business_content_publish\"]}";
	static const char wrapped[] =
		"{\"data\": [{\"access_token\": \"EAACEdEose0\", \"user_id\": "
		"\"17841405793187218\", \"permissions\": "
		"\"instagram_business_basic,instagram_business_manage_messages\"}]}";
	static const char refresh[] =
		"{\"access_token\":\"c3oxd\",\"token_type\":\"bearer\",\"expires_in\":5183944}";
	static const char str_exp[] = "{\"access_token\":\"c3oxd\",\"expires_in\":\"5183944\"}";

	CHECK_INT(graph_parse_token(flat, strlen(flat), &t), 0);
	CHECK_STR(t.token ? t.token->data : NULL, "IGAA2e0uoy3ZAZABZA");
	CHECK_STR(t.user_id, "27640875392278831"); /* above 2^53: exact */
	CHECK_STR(t.scopes, "instagram_business_basic,instagram_business_content_publish");
	CHECK_INT(t.expires_in, -1);
	graph_token_clear(&t);

	CHECK_INT(graph_parse_token(wrapped, strlen(wrapped), &t), 0);
	CHECK_STR(t.token ? t.token->data : NULL, "EAACEdEose0");
	CHECK_STR(t.user_id, "17841405793187218");
	CHECK_STR(t.scopes, "instagram_business_basic,instagram_business_manage_messages");
	graph_token_clear(&t);

	CHECK_INT(graph_parse_token(refresh, strlen(refresh), &t), 0);
	CHECK_INT(t.expires_in, 5183944);
	CHECK(t.user_id == NULL);
	graph_token_clear(&t);
	CHECK_INT(graph_parse_token(str_exp, strlen(str_exp), &t), 0);
	CHECK_INT(t.expires_in, 5183944);
	graph_token_clear(&t);

	static const char *const bad[] = {
		"",
		"null",
		"[]",
		"{}",
		"{\"access_token\":\"\"}",
		"{\"access_token\":5}",
		"{\"access_token\":\"has space\"}",
		"{\"access_token\":\"a\",\"expires_in\":-5}",
		"{\"access_token\":\"a\",\"expires_in\":0}",
		"{\"access_token\":\"a\",\"expires_in\":\"soon\"}",
		"{\"access_token\":\"a\",\"user_id\":\"12ab\"}",
		"{\"data\":[]}",
		"{\"data\":[5]}",
		"{\"access_token\":\"a\",\"expires_in\":1e300}",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		CHECK_INT(graph_parse_token(bad[i], strlen(bad[i]), &t), -EBADMSG);
		CHECK(t.token == NULL);
	}
}

static void test_parse_me_debug(void)
{
	char *id = NULL, *name = NULL;
	struct graph_token t = { 0 };
	static const char me[] =
		"{\"user_id\": 17841405793187218, \"username\": \"shop\", \"id\": \"123\"}";
	static const char dbg[] =
		"{\"data\": {\"app_id\": \"1\", \"type\": \"USER\", \"data_access_expires_at\": "
		"1576687825, \"expires_at\": 1570820400, \"is_valid\": true, \"scopes\": "
		"[\"pages_show_list\", \"public_profile\"], \"user_id\": \"10215241773831025\"}}";
	static const char dbg_never[] =
		"{\"data\": {\"type\": \"PAGE\", \"expires_at\": 0, \"is_valid\": true}}";

	static const char dbg_sys[] = "{\"data\": {\"type\": \"SYSTEM_USER\", \"expires_at\": 0, "
				      "\"data_access_expires_at\": 0, \"is_valid\": true}}";
	static const char dbg_err[] =
		"{\"data\": {\"is_valid\": false, \"error\": {\"code\": 190, \"subcode\": 459, "
		"\"message\": \"checkpoint\\u0007\"}}}";

	CHECK_INT(graph_parse_me(me, strlen(me), &id, &name), 0);
	CHECK_STR(id, "17841405793187218");
	CHECK_STR(name, "shop");
	free(id);
	free(name);
	CHECK_INT(graph_parse_me("{\"id\":\"42\"}", 11, &id, &name), 0);
	CHECK_STR(id, "42");
	CHECK(name == NULL);
	free(id);
	CHECK_INT(graph_parse_me("{}", 2, &id, NULL), -EBADMSG);
	CHECK_INT(graph_parse_debug(dbg_sys, strlen(dbg_sys), &t), 0);
	CHECK_STR(t.type, "SYSTEM_USER");
	CHECK_INT(t.expires_at, 0);
	CHECK_INT(t.data_access_expires_at, 0);
	graph_token_clear(&t);
	CHECK_INT(graph_parse_debug(dbg_err, strlen(dbg_err), &t), 0);
	CHECK(!t.is_valid);
	CHECK_INT(t.error_code, 190);
	CHECK_INT(t.error_subcode, 459);
	CHECK_STR(t.error_message, "checkpoint?"); /* nothing a terminal obeys */
	graph_token_clear(&t);

	CHECK_INT(graph_parse_debug(dbg, strlen(dbg), &t), 0);
	CHECK(t.is_valid);
	CHECK_INT(t.expires_at, 1570820400);
	CHECK_INT(t.data_access_expires_at, 1576687825);
	CHECK_STR(t.scopes, "pages_show_list,public_profile");
	CHECK_STR(t.type, "USER");
	graph_token_clear(&t);
	CHECK_INT(graph_parse_debug(dbg_never, strlen(dbg_never), &t), 0);
	CHECK_INT(t.expires_at, 0);
	CHECK_STR(t.type, "PAGE");
	graph_token_clear(&t);
}

static void test_urls(void)
{
	struct app_config a = { .app_id = (char[]){ "1234" },
				.api_url = (char[]){ "https://graph.instagram.com" },
				.oauth_url = (char[]){ "https://api.instagram.com" },
				.api_version = (char[]){ "v21.0" },
				.redirect_uri = (char[]){ "https://example.com/cb?x=1" } };
	struct secret *tok = NULL, *url = NULL, *form = NULL;

	secret_from_mem("IGAA+tok/en=", 12, &tok);
	secret_from_mem("app&secret", 10, &a.secret);
	CHECK_INT(graph_url_ig_refresh(&a, tok, &url), 0);
	CHECK_STR(url->data, "https://graph.instagram.com/"
			     "refresh_access_token?grant_type=ig_refresh_token&access_token=IGAA%"
			     "2Btok%2Fen%3D");
	url = secret_free(url);
	CHECK_INT(graph_url_ig_exchange(&a, tok, &url), 0);
	CHECK_STR(url->data, "https://graph.instagram.com/"
			     "access_token?grant_type=ig_exchange_token&client_secret=app%26secret&"
			     "access_token=IGAA%2Btok%2Fen%3D");
	url = secret_free(url);
	CHECK_INT(graph_url_ig_code(&a, "AQDcode", &url, &form), 0);
	CHECK_STR(url->data, "https://api.instagram.com/oauth/access_token");
	CHECK_STR(form->data,
		  "client_id=1234&client_secret=app%26secret&grant_type=authorization_code&"
		  "redirect_uri=https%3A%2F%2Fexample.com%2Fcb%3Fx%3D1&code=AQDcode");
	url = secret_free(url);
	form = secret_free(form);
	a.api_url = (char[]){ "https://graph.facebook.com" };
	CHECK_INT(graph_url_fb_exchange(&a, tok, false, &url), 0);
	CHECK_STR(url->data, "https://graph.facebook.com/v21.0/oauth/"
			     "access_token?grant_type=fb_exchange_token&client_id=1234&client_"
			     "secret=app%26secret&fb_exchange_token=IGAA%2Btok%2Fen%3D");
	url = secret_free(url);
	CHECK_INT(graph_url_fb_exchange(&a, tok, true, &url), 0);
	CHECK(strstr(url->data, "&set_token_expires_in_60_days=true") != NULL);
	url = secret_free(url);
	CHECK_INT(graph_url_ig_me(&a, tok, &url), 0);
	CHECK_STR(url->data, "https://graph.facebook.com/"
			     "me?fields=user_id,username&access_token=IGAA%2Btok%2Fen%3D");
	url = secret_free(url);
	CHECK_INT(graph_url_fb_debug(&a, tok, &url), 0);
	CHECK_STR(url->data,
		  "https://graph.facebook.com/v21.0/"
		  "debug_token?input_token=IGAA%2Btok%2Fen%3D&access_token=1234%7Capp%26secret");
	url = secret_free(url);
	secret_free(tok);
	secret_free(a.secret);
}

static void test_proof_and_scrub(void)
{
	struct secret *key = NULL, *msg = NULL;
	char out[65], text[128] = "bad token IGAAabc: IGAAabc again";

	secret_from_mem("key", 3, &key);
	secret_from_mem("The quick brown fox jumps over the lazy dog", 43, &msg);
	CHECK_INT(graph_url_appsecret_proof(key, msg, out), 0);
	CHECK_STR(out, "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
	secret_free(msg);
	secret_from_mem("IGAAabc", 7, &msg);
	graph_scrub(text, msg);
	CHECK_STR(text, "bad token ***: *** again");
	secret_free(key);
	secret_free(msg);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	test_classify();
	test_classify_flags();
	test_token_error();
	test_parse_token();
	test_parse_me_debug();
	test_urls();
	test_proof_and_scrub();
	return tap_done("test-graph");
}

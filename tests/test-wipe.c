/* SPDX-License-Identifier: MIT */
/* Copies of tokens that libraries make (cJSON parsing a request or Meta's
 * answer, libcurl escaping a URL) are wiped before their memory goes back to
 * malloc: every block handed back is searched for the token's bytes. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <malloc.h>
#include <sodium.h>
#include <stdio.h>

#include "basic/wipe-alloc.h"
#include "meta/graph-parse.h"
#include "meta/graph.h"
#include "net/http.h"
#include "serve/request.h"
#include "tap.h"

#define TOKEN "IGAAsecretTokenThatMustNeverLinger0123456789abcdef"

static unsigned released, found;

/* Between the wiping layer and free(3): what would an attacker find in the heap? */
static void search_and_free(void *p)
{
	size_t n = malloc_usable_size(p);

	released++;
	if (memmem(p, n, TOKEN, strlen(TOKEN)) || memmem(p, n, "TokenThatMustNever", 18))
		found++;
	free(p);
}

static void exercise(void)
{
	static const char req[] = "{\"cmd\":\"import\",\"account\":\"a\",\"token\":\"" TOKEN "\"}";
	static const char answer[] =
		"{\"access_token\":\"" TOKEN "\",\"token_type\":\"bearer\",\"expires_in\":5183944}";
	struct request p;
	struct graph_token t = { 0 };
	const char *msg;
	cJSON *j;
	char *s, *e;

	CHECK_INT(request_parse(req, strlen(req), &p, &msg), 0);
	request_clear(&p);
	CHECK_INT(graph_parse_token(answer, strlen(answer), &t), 0);
	graph_token_clear(&t);
	j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "token", TOKEN);
	s = cJSON_PrintUnformatted(j);
	cJSON_free(s);
	cJSON_Delete(j);
	e = curl_easy_escape(NULL, TOKEN, 0);
	curl_free(e);
}

int main(void)
{
	cJSON_Hooks unwiped = { .malloc_fn = malloc, .free_fn = search_and_free };
	void *plain;

	CHECK(sodium_init() >= 0);
	CHECK_INT(http_global_init(), 0); /* libcurl's allocations go through the wiping layer */
	wipe_set_release(search_and_free);

	/* the search finds a token left in a block */
	plain = malloc(128);
	memcpy(plain, TOKEN, strlen(TOKEN) + 1);
	search_and_free(plain);
	CHECK_INT(found, 1);

	/* cJSON without the wiping hooks leaves tokens behind: this test can fail */
	found = released = 0;
	cJSON_InitHooks(&unwiped);
	exercise();
	CHECK(released > 0);
	CHECK(found > 0);
	fprintf(stderr, "without wiping: %u blocks released, %u held the token\n", released, found);

	/* with them (as igtokend and igtokenctl run), nothing is left */
	found = released = 0;
	wipe_install_cjson();
	exercise();
	CHECK(released > 10);
	CHECK_INT(found, 0);
	fprintf(stderr, "with wiping: %u blocks released, %u held the token\n", released, found);

	http_global_done();
	return tap_done("test-wipe");
}

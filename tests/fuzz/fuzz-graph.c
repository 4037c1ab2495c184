/* SPDX-License-Identifier: MIT */
/* Meta's answers: classification and the token, /me and debug_token parsers. */
#include "fuzz.h"
#include <stdlib.h>
#include <string.h>

#include "meta/graph-parse.h"
#include "meta/graph.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct graph_verdict v;
	struct graph_token t = { 0 };
	char *id = NULL, *name = NULL, *body = malloc(size + 1);
	long status = size > 0 ? 200 + (data[0] % 4) * 100 + (data[0] >> 6) * 29 : 200;

	if (!body)
		return 0;
	memcpy(body, data, size);
	body[size] = '\0';
	/* what the request carried: from the first byte too */
	graph_classify(0, NULL, status, body, size, size > 1 ? data[1] % 8 : 0, &v);
	if (graph_parse_token(body, size, &t) == 0)
		graph_token_clear(&t);
	if (graph_parse_debug(body, size, &t) == 0) {
		struct graph_token_error e = { t.error_code, t.error_subcode, t.error_message };
		graph_describe_token_error(&e, false, &v);
		graph_token_clear(&t);
	}
	if (graph_parse_me(body, size, &id, &name) == 0) {
		free(id);
		free(name);
	}
	free(body);
	return 0;
}

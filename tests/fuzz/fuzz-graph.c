/* SPDX-License-Identifier: MIT */
/* Meta's answers: classification and the token, /me and debug_token parsers. */
#include "fuzz.h"
#include <stdlib.h>
#include <string.h>

#include "meta/graph.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct graph_verdict v;
	struct graph_token t = { 0 };
	char *id = NULL, *body = malloc(size + 1);
	long status = size > 0 ? 200 + (data[0] % 4) * 100 + (data[0] >> 6) * 29 : 200;

	if (!body)
		return 0;
	memcpy(body, data, size);
	body[size] = '\0';
	graph_classify(0, NULL, status, body, size, &v);
	if (graph_parse_token(body, size, &t) == 0)
		graph_token_clear(&t);
	if (graph_parse_debug(body, size, &t) == 0)
		graph_token_clear(&t);
	if (graph_parse_me(body, size, &id) == 0)
		free(id);
	free(body);
	return 0;
}

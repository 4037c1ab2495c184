/* SPDX-License-Identifier: MIT */
/* The control protocol: one request line as a client could send it. The fast
 * path for token requests must read every line exactly as cJSON does. */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "serve/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct request p, q;
	const char *msg = NULL, *msg_json = NULL;
	int r = request_parse((const char *)data, size, &p, &msg);
	int r_json = request_parse_json((const char *)data, size, &q, &msg_json);

	if (r != r_json)
		abort();
	if (r < 0) {
		if (strcmp(msg, msg_json) != 0)
			abort();
		return 0;
	}
	if (p.cmd != q.cmd || p.has_account != q.has_account || p.admin_only != q.admin_only ||
	    strcmp(p.account, q.account) != 0)
		abort();
	request_clear(&p);
	request_clear(&q);
	return 0;
}

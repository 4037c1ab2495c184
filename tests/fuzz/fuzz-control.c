/* SPDX-License-Identifier: MIT */
/* The control protocol: one request line as a client could send it. */
#include "fuzz.h"

#include "serve/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct request p;
	const char *msg;

	if (request_parse((const char *)data, size, &p, &msg) == 0)
		request_clear(&p);
	return 0;
}

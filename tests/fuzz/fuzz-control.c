/* SPDX-License-Identifier: MIT */
/* The control protocol: one request line as a client could send it. */
#include "fuzz.h"

#include "serve/request.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct control_parsed p;
	const char *msg;

	if (control_parse((const char *)data, size, &p, &msg) == PROTO_OK)
		control_parsed_clear(&p);
	return 0;
}

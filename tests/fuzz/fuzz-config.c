/* SPDX-License-Identifier: MIT */
/* The config loader: YAML syntax, limits, schema, every error path. */
#include "fuzz.h"
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf/config-load.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	static const struct config_env env = { 0 };
	struct config_diag diag = { 0 };
	struct config *c = NULL;

	if (fd < 0) {
		fd = memfd_create("fuzz-config", 0);
		if (fd < 0)
			return 0;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		return 0;
	if (config_load(path, &env, &c, &diag) == 0)
		config_free(c);
	config_diag_clear(&diag);
	return 0;
}

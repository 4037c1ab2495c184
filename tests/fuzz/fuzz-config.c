/* SPDX-License-Identifier: MIT */
/* The config loader: YAML syntax, limits, schema, every error path. */
#include "fuzz.h"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "conf/config-load.h"

/* A regular file of our own: config files are opened with O_NOFOLLOW and checked
 * for owner and mode, so a /proc/self/fd link would be refused before parsing. */
static char path[] = "/tmp/igtokend-fuzz-config-XXXXXX";

static void remove_file(void)
{
	unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct config_env env = { 0 };
	static bool made;
	struct config_diag diag = { 0 };
	struct config *c = NULL;
	FILE *f;

	if (!made) {
		int fd = mkstemp(path);
		if (fd < 0)
			abort();
		close(fd);
		atexit(remove_file);
		made = true;
	}
	f = fopen(path, "w");
	if (!f)
		abort();
	if (size && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);
	if (config_load(path, &env, &c, &diag) == 0)
		config_free(c);
	config_diag_clear(&diag);
	return 0;
}

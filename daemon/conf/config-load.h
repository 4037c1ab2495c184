/* SPDX-License-Identifier: MIT */
#pragma once

/* Loading igtokend.yaml with all its includes (CONTRACT section 2). */

#include "conf/config-diag.h"
#include "conf/config.h"

/* Loads a config with all its includes. Every problem found goes to diag (all of
 * them, not only the first). Returns -EINVAL if any error was found. */
int config_load(const char *path, const struct config_env *env, struct config **ret,
		struct config_diag *diag);

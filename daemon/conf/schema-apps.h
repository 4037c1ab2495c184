/* SPDX-License-Identifier: MIT */
#pragma once

/* `apps:` of igtokend.yaml (in the main file or an include). */

#include "conf/conf-yaml.h"
#include "conf/config.h"

void schema_parse_apps(struct yaml_file *f, yaml_node_t *n, struct config *c,
		       const struct config_env *env);
/* The permission every token of the platform has (the default scope). */
const char *schema_basic_scope(enum platform p);

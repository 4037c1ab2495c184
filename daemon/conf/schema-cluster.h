/* SPDX-License-Identifier: MIT */
#pragma once

/* `cluster:` of igtokend.yaml (CONTRACT 13): the etcd store several hosts
 * share, and the checks that need the rest of the file (refresh.timeout inside
 * the lease). */

#include "conf/conf-yaml.h"
#include "conf/config.h"

void schema_parse_cluster(struct yaml_file *f, yaml_node_t *n, struct config *c,
			  const struct config_env *env);
/* After the whole file: `timeout + 1s <= lease_ttl * 2/3`, the default host. */
void schema_check_cluster(struct config *c, struct config_diag *diag);

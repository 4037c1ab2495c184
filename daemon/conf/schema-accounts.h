/* SPDX-License-Identifier: MIT */
#pragma once

/* `accounts:` of igtokend.yaml (in the main file or an include), and the scope
 * rules checked once every app is known. */

#include "conf/conf-yaml.h"
#include "conf/config.h"

void schema_parse_accounts(struct yaml_file *f, yaml_node_t *n, struct config *c);

/* After apps are resolved: default scopes, and scope names checked against the
 * account's platform. -ENOMEM only. */
int schema_finish_account(struct config *c, struct account_config *a, struct config_diag *diag);

/* SPDX-License-Identifier: MIT */
#pragma once

/* Switching the manager to a configuration, at start and on reload (SIGHUP,
 * the reload command): applied whole or not at all. Accounts and apps that stay
 * keep their state, queues and requests under way; departed ones go (their
 * vault files stay); new accounts read their records. */

#include "conf/config-diag.h"
#include "engine/manager.h"

/* Loads the configuration at path, logging every problem. Diagnostics go to out if given. */
int reload_load_config(const char *path, struct config **ret, struct config_diag *out);
/* Builds the apps and accounts of c and switches to them; takes c on success. */
int reload_apply(struct manager *m, struct config *c);
/* Re-reads m->config_path; a configuration that does not load or apply is refused
 * whole (the old one stays) and diag says why. */
int reload_from_file(struct manager *m, struct config_diag *diag);

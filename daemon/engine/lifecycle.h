/* SPDX-License-Identifier: MIT */
#pragma once

/* The daemon's life: start-up (config, vault, socket, apps and accounts,
 * READY=1), signals (TERM/INT stop, HUP reloads), the event loop, shutdown; and
 * key rotation with the daemon stopped. Both return process exit codes. */

#define EXIT_CONFIG_ERROR 78 /* EX_CONFIG */

int lifecycle_run(const char *config_path);
int lifecycle_rotate_key(const char *config_path, const char *new_key_path);

/* SPDX-License-Identifier: MIT */
#pragma once

/* Orchestration: config, vault, accounts, the event loop. Returns process exit codes. */

#define EXIT_CONFIG_ERROR 78

int manager_main(const char *config_path);
int manager_rotate_key(const char *config_path, const char *new_key_path);

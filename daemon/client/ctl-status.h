/* SPDX-License-Identifier: MIT */
#pragma once

/* igtokenctl status: the daemon's status answer as a table for people. */

#include <stdbool.h>

struct cJSON;

/* Prints the accounts and apps of a status answer (colours on a terminal). */
void ctl_status_print(const struct cJSON *ans, bool colour);

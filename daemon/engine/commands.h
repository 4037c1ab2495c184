/* SPDX-License-Identifier: MIT */
#pragma once

/* The control commands as the engine carries them out (who may call them is
 * decided in serve/control.c before they get here). The ops table's userdata is
 * the struct manager. */

#include "serve/control.h"
#include "serve/metrics-http.h"

extern const struct control_ops commands_ops;
/* The scrape endpoint's exposition: what an admin sees. */
extern const struct metrics_http_ops commands_metrics_http_ops;

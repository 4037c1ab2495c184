/* SPDX-License-Identifier: MIT */
#pragma once

/* Graph API versions and when Meta retires them (developers.facebook.com,
 * graph-api/changelog/versions, as of 2026-11: v26.0's date is not yet set). */

#include <stdint.h>

#define GRAPH_VERSION_DEFAULT	"v25.0" /* what platform facebook apps use unless told */
#define GRAPH_VERSION_WARN_DAYS 180	/* --check-config warns this long before the end */

/* When version ("v21.0") stops being served, Unix seconds; 0 if not known. */
int64_t graph_version_end(const char *version);

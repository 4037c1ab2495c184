/* SPDX-License-Identifier: MIT */
#include "conf/graph-versions.h"

#include "basic/macro.h"

static const struct {
	const char *version;
	int64_t end; /* 00:00 UTC of the day Meta names */
} versions[] = {
	{ "v19.0", 1779321600 }, /* 2026-05-21 */
	{ "v20.0", 1790208000 }, /* 2026-09-24 */
	{ "v21.0", 1800489600 }, /* 2027-01-21 */
	{ "v22.0", 1810771200 }, /* 2027-05-20 */
	{ "v23.0", 1822953600 }, /* 2027-10-08 */
	{ "v24.0", 1834444800 }, /* 2028-02-18 */
	{ "v25.0", 1848441600 }, /* 2028-07-29 */
};

int64_t graph_version_end(const char *version)
{
	for (size_t i = 0; version && i < ELEMENTSOF(versions); i++)
		if (streq(versions[i].version, version))
			return versions[i].end;
	return 0;
}

/* SPDX-License-Identifier: MIT */
#pragma once

/* What is wrong with a configuration, as `FILE:LINE:COLUMN: error: ...` lines
 * (CONTRACT 11.3): every problem found, not only the first. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/macro.h"

struct config_diag {
	char **lines; /* "FILE:LINE:COLUMN: error: ..." or "...: warning: ..." in order */
	size_t n_lines;
	size_t n_errors;
	size_t n_warnings;
};

/* A place in a config file, kept for checks that run after parsing. line 0: the file as a whole. */
struct config_pos {
	const char *file; /* owned by the config's file list */
	uint32_t line, column;
};

void config_diag_clear(struct config_diag *d);
void config_diag_at(struct config_diag *d, bool error, const struct config_pos *pos,
		    const char *fmt, ...) _printf_(4, 5);
/* About a file as a whole (it cannot be read, say). */
void config_diag_file(struct config_diag *d, bool error, const char *file, const char *fmt, ...)
	_printf_(4, 5);
/* All lines joined by newlines (for an answer), or NULL without memory. */
char *config_diag_text(const struct config_diag *d);

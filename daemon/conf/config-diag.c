/* SPDX-License-Identifier: MIT */
#include "conf/config-diag.h"

#include <stdarg.h>
#include <stdio.h>

void config_diag_clear(struct config_diag *d)
{
	for (size_t i = 0; i < d->n_lines; i++)
		free(d->lines[i]);
	free(d->lines);
	*d = (struct config_diag){ 0 };
}

static void diag_vadd(struct config_diag *d, bool error, const struct config_pos *pos,
		      const char *fmt, va_list ap)
{
	const char *kind = error ? "error" : "warning";
	char msg[1024], *line = NULL, **nl;
	int k;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (pos->line > 0)
		k = asprintf(&line, "%s:%u:%u: %s: %s", pos->file, pos->line, pos->column, kind,
			     msg);
	else
		k = asprintf(&line, "%s: %s: %s", pos->file, kind, msg);
	if (k < 0)
		line = NULL;
	nl = reallocarray(d->lines, d->n_lines + 1, sizeof(char *));
	if (nl) {
		d->lines = nl;
		if (line)
			d->lines[d->n_lines++] = line;
	} else
		free(line);
	if (error)
		d->n_errors++; /* counted even if out of memory for the text */
	else
		d->n_warnings++;
}

void config_diag_at(struct config_diag *d, bool error, const struct config_pos *pos,
		    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(d, error, pos, fmt, ap);
	va_end(ap);
}

void config_diag_file(struct config_diag *d, bool error, const char *file, const char *fmt, ...)
{
	struct config_pos pos = { .file = file };
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(d, error, &pos, fmt, ap);
	va_end(ap);
}

char *config_diag_text(const struct config_diag *d)
{
	char *text = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&text, &n);

	if (!f)
		return NULL;
	for (size_t i = 0; i < d->n_lines; i++)
		fprintf(f, "%s%s", i ? "\n" : "", d->lines[i]);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

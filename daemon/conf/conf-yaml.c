/* SPDX-License-Identifier: MIT */
#include "conf/conf-yaml.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>

#include "basic/fileio.h"
#include "basic/util.h"

static struct config_pos mark_pos(const char *file, const yaml_mark_t *m)
{
	return (struct config_pos){ file, (uint32_t)m->line + 1, (uint32_t)m->column + 1 };
}

static void node_vdiag(struct yaml_file *f, bool error, const yaml_node_t *n, const char *fmt,
		       va_list ap)
{
	char msg[1024];
	struct config_pos pos =
		n ? mark_pos(f->path, &n->start_mark) : (struct config_pos){ .file = f->path };

	vsnprintf(msg, sizeof(msg), fmt, ap);
	config_diag_at(f->diag, error, &pos, "%s", msg);
}

void yaml_err(struct yaml_file *f, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	node_vdiag(f, true, n, fmt, ap);
	va_end(ap);
}

void yaml_warn(struct yaml_file *f, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	node_vdiag(f, false, n, fmt, ap);
	va_end(ap);
}

static void parser_error(struct yaml_file *f, const yaml_parser_t *p)
{
	const yaml_mark_t *m = p->problem ? &p->problem_mark : &p->mark;

	struct config_pos pos = mark_pos(f->path, m);

	if (p->context)
		config_diag_at(f->diag, true, &pos, "%s %s", p->problem ?: "syntax error",
			       p->context);
	else
		config_diag_at(f->diag, true, &pos, "%s", p->problem ?: "syntax error");
}

/* Streams the events once to enforce what the document loader does not: a
 * nesting limit, no aliases (no billion laughs), one document, bounded scalars. */
static int prepass(struct yaml_file *f, const char *buf, size_t size)
{
	yaml_parser_t p;
	yaml_event_t ev;
	struct config_pos at;
	int depth = 0, docs = 0, r = 0;

	if (!yaml_parser_initialize(&p))
		return -ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, size);
	for (bool done = false; !done && r == 0;) {
		if (!yaml_parser_parse(&p, &ev)) {
			parser_error(f, &p);
			r = -EINVAL;
			break;
		}
		at = mark_pos(f->path, &ev.start_mark);
		switch (ev.type) {
		case YAML_STREAM_END_EVENT: done = true; break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				config_diag_at(f->diag, true, &at,
					       "more than one YAML document in the file");
				r = -EINVAL;
			}
			break;
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT:
			if (++depth > CONFIG_DEPTH_MAX) {
				config_diag_at(f->diag, true, &at, "nesting deeper than %d levels",
					       CONFIG_DEPTH_MAX);
				r = -EINVAL;
			}
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT: depth--; break;
		case YAML_ALIAS_EVENT:
			config_diag_at(f->diag, true, &at, "YAML aliases are not supported");
			r = -EINVAL;
			break;
		case YAML_SCALAR_EVENT:
			if (ev.data.scalar.length > CONFIG_SCALAR_MAX) {
				config_diag_at(f->diag, true, &at, "value longer than %u bytes",
					       CONFIG_SCALAR_MAX);
				r = -EINVAL;
			}
			break;
		default: break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	return r;
}

int yaml_file_load(struct yaml_file *f, const char *path, struct config_diag *diag)
{
	_cleanup_free_ char *buf = NULL;
	yaml_parser_t p;
	size_t size;
	int r;

	*f = (struct yaml_file){ .path = path, .diag = diag };
	/* config files hold hook argv: opened once, owned by root or us, not writable by others */
	r = read_file_bounded(AT_FDCWD, path, FILE_TRUSTED, CONFIG_FILE_MAX, &buf, &size);
	if (r == -EPERM || r == -ELOOP) {
		char why[256];
		file_explain(AT_FDCWD, path, FILE_TRUSTED, why, sizeof(why));
		config_diag_file(diag, true, path, "refused: the file %s", why);
		return r;
	}
	if (r == -EFBIG) {
		config_diag_at(diag, true, &(struct config_pos){ path, 1, 1 },
			       "file is larger than %u bytes", CONFIG_FILE_MAX);
		return r;
	}
	if (r < 0) {
		errno = -r;
		config_diag_file(diag, true, path, "cannot read: %m");
		return r;
	}
	r = prepass(f, buf, size);
	if (r < 0)
		return r;
	if (!yaml_parser_initialize(&p))
		return -ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, size);
	if (!yaml_parser_load(&p, &f->doc)) {
		parser_error(f, &p);
		yaml_parser_delete(&p);
		return -EINVAL;
	}
	yaml_parser_delete(&p);
	f->loaded = true;
	return 0;
}

void yaml_file_done(struct yaml_file *f)
{
	if (f->loaded)
		yaml_document_delete(&f->doc);
	f->loaded = false;
}

yaml_node_t *yaml_file_root(struct yaml_file *f)
{
	return f->loaded ? yaml_document_get_root_node(&f->doc) : NULL;
}

yaml_node_t *yaml_file_node(struct yaml_file *f, int index)
{
	return yaml_document_get_node(&f->doc, index);
}

struct config_pos yaml_node_pos(const struct yaml_file *f, const yaml_node_t *n)
{
	return (struct config_pos){ f->path, (uint32_t)n->start_mark.line + 1,
				    (uint32_t)n->start_mark.column + 1 };
}

static const char *node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE: return "a mapping";
	case YAML_SEQUENCE_NODE: return "a list";
	default: return "a value";
	}
}

/* A plain empty scalar, `~` or `null` is YAML's null. */
static bool is_null(const yaml_node_t *n)
{
	const char *s = (const char *)n->data.scalar.value;
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return !*s || streq(s, "~") || streq(s, "null") || streq(s, "Null") || streq(s, "NULL");
}

bool yaml_get_string(struct yaml_file *f, const yaml_node_t *n, const char *key, const char **ret)
{
	if (n->type != YAML_SCALAR_NODE) {
		yaml_err(f, n, "'%s' must be a string, not %s", key, node_kind(n));
		return false;
	}
	if (is_null(n)) {
		yaml_err(f, n, "'%s' must not be empty", key);
		return false;
	}
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length) {
		yaml_err(f, n, "'%s' contains a NUL character", key);
		return false;
	}
	*ret = (const char *)n->data.scalar.value;
	return true;
}

bool yaml_get_duration(struct yaml_file *f, const yaml_node_t *n, const char *key, int64_t *ret)
{
	const char *s;
	int r;

	if (!yaml_get_string(f, n, key, &s))
		return false;
	r = parse_duration(s, ret);
	if (r == -ERANGE) {
		yaml_err(f, n, "'%s': duration '%s' is too long (at most 3650d)", key, s);
		return false;
	}
	if (r < 0) {
		yaml_err(f, n,
			 "'%s': '%s' is not a duration (a number with s, m, h or d, e.g. 15d)", key,
			 s);
		return false;
	}
	return true;
}

bool yaml_get_int(struct yaml_file *f, const yaml_node_t *n, const char *key, int64_t min,
		  int64_t max, int64_t *ret)
{
	const char *s;

	if (!yaml_get_string(f, n, key, &s))
		return false;
	if (parse_int64(s, min, max, ret) < 0) {
		yaml_err(f, n, "'%s' must be a whole number from %lld to %lld, not '%s'", key,
			 (long long)min, (long long)max, s);
		return false;
	}
	return true;
}

bool yaml_is_mapping(struct yaml_file *f, const yaml_node_t *n, const char *key)
{
	if (n->type == YAML_MAPPING_NODE)
		return true;
	yaml_err(f, n, "'%s' must be a mapping, not %s", key, node_kind(n));
	return false;
}

bool yaml_is_sequence(struct yaml_file *f, const yaml_node_t *n, const char *key)
{
	if (n->type == YAML_SEQUENCE_NODE)
		return true;
	yaml_err(f, n, "'%s' must be a list, not %s", key, node_kind(n));
	return false;
}

void yaml_each_pair(struct yaml_file *f, yaml_node_t *map, const char *where, bool check_dups,
		    yaml_pair_fn fn, void *userdata)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_file_node(f, p->key), *v = yaml_file_node(f, p->value);
		const char *key;
		bool dup = false;

		if (k->type != YAML_SCALAR_NODE) {
			yaml_err(f, k, "keys in '%s' must be plain strings", where);
			continue;
		}
		key = (const char *)k->data.scalar.value;
		for (yaml_node_pair_t *q = map->data.mapping.pairs.start; check_dups && q < p;
		     q++) {
			yaml_node_t *qk = yaml_file_node(f, q->key);
			if (qk->type == YAML_SCALAR_NODE &&
			    streq((const char *)qk->data.scalar.value, key))
				dup = true;
		}
		if (dup) {
			yaml_err(f, k, "duplicate key '%s'%s%s%s", key, where ? " in '" : "",
				 where ?: "", where ? "'" : "");
			continue;
		}
		if (!fn(f, key, k, v, userdata))
			yaml_err(f, k, "unknown key '%s'%s%s%s", key, where ? " in '" : "",
				 where ?: "", where ? "'" : "");
	}
}

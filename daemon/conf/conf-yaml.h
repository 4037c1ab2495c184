/* SPDX-License-Identifier: MIT */
#pragma once

/* YAML plumbing for the config loader: bounded reading, a pre-pass that
 * enforces nesting and alias limits, diagnostics with FILE:LINE:COLUMN, and
 * typed readers for nodes. */

#include <stdbool.h>
#include <stdint.h>
#include <yaml.h>

#include "basic/macro.h"
#include "conf/config-diag.h"

#define CONFIG_FILE_MAX	    (4u * 1024 * 1024) /* bytes per config or include file */
#define CONFIG_DEPTH_MAX    16		       /* nesting of mappings and sequences */
#define CONFIG_INCLUDES_MAX 4096	       /* files matched by `include:` */
#define CONFIG_SCALAR_MAX   4096	       /* bytes in one scalar */

struct yaml_file {
	const char *path;
	yaml_document_t doc;
	bool loaded;
	struct config_diag *diag;
};

/* Reads and loads `path` (bounded); on failure the reasons are in diag and -EINVAL or -errno
 * returned. */
int yaml_file_load(struct yaml_file *f, const char *path, struct config_diag *diag);
void yaml_file_done(struct yaml_file *f);

yaml_node_t *yaml_file_root(struct yaml_file *f);
yaml_node_t *yaml_file_node(struct yaml_file *f, int index);
struct config_pos yaml_node_pos(const struct yaml_file *f, const yaml_node_t *n);

void yaml_err(struct yaml_file *f, const yaml_node_t *n, const char *fmt, ...) _printf_(3, 4);
void yaml_warn(struct yaml_file *f, const yaml_node_t *n, const char *fmt, ...) _printf_(3, 4);

/* Typed readers: on a type mismatch they report the error at n and return false. */
bool yaml_get_string(struct yaml_file *f, const yaml_node_t *n, const char *key, const char **ret);
bool yaml_get_duration(struct yaml_file *f, const yaml_node_t *n, const char *key, int64_t *ret);
bool yaml_get_int(struct yaml_file *f, const yaml_node_t *n, const char *key, int64_t min,
		  int64_t max, int64_t *ret);
bool yaml_is_mapping(struct yaml_file *f, const yaml_node_t *n, const char *key);
bool yaml_is_sequence(struct yaml_file *f, const yaml_node_t *n, const char *key);

/* Iterates a mapping's pairs, reporting non-scalar keys and (with check_dups, for the
 * small schema mappings; names of apps and accounts are checked across files by the
 * caller) duplicate keys. Calls fn for each valid pair; fn returns false if the key
 * is unknown, which is then reported. `where` names the mapping (NULL at the top level). */
typedef bool (*yaml_pair_fn)(struct yaml_file *f, const char *key, yaml_node_t *k, yaml_node_t *v,
			     void *userdata);
void yaml_each_pair(struct yaml_file *f, yaml_node_t *map, const char *where, bool check_dups,
		    yaml_pair_fn fn, void *userdata);

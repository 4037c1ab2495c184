/* SPDX-License-Identifier: MIT */
#pragma once

/* Typed values of igtokend.yaml shared by its schema: paths relative to the
 * file, https URLs, private (secret) files, users and @groups, string lists. */

#include "conf/conf-yaml.h"
#include "conf/config.h"

#define SCOPES_MAX    64 /* entries in `scopes:` */
#define HOOK_ARGS_MAX 64 /* argv entries of a hook */

bool schema_get_path(struct yaml_file *f, const yaml_node_t *n, const char *key, const char *base,
		     char **ret);
bool schema_get_dup(struct yaml_file *f, const yaml_node_t *n, const char *key, char **ret);
bool schema_get_url(struct yaml_file *f, const yaml_node_t *n, const char *key, bool allow_query,
		    char **ret);
/* A key or secret file: as igtokend opens it (no symlink, owned by root or us, not
 * readable by group or others); reported at n. */
bool schema_check_private_file(struct yaml_file *f, const yaml_node_t *n, const char *path,
			       bool must_exist);
/* A secret's path from KEY_file (a path relative to the file) or
 * KEY_credential (a systemd credential's name, in credentials_dir). */
bool schema_get_secret_path(struct yaml_file *f, const yaml_node_t *n, const char *key,
			    const char *credentials_dir, char **ret);
bool schema_read_secret(struct yaml_file *f, const yaml_node_t *n, const char *path,
			struct secret **ret);
bool schema_get_principals(struct yaml_file *f, yaml_node_t *n, const char *key,
			   struct principal_list *ret);
bool schema_get_strv(struct yaml_file *f, yaml_node_t *n, const char *key, size_t max,
		     struct config_pos **ret_pos, char ***ret);
bool schema_resolve_user(const char *name, uid_t *ret);
bool schema_resolve_group(const char *name, gid_t *ret);

/* An app or account being defined: its name checked, its value a mapping, and a
 * zeroed entry of `size` bytes appended to *list (grown 64 at a time). NULL when
 * there is nothing more to parse here (what is wrong is reported). */
void *schema_new_entry(struct yaml_file *f, const char *key, yaml_node_t *k, yaml_node_t *v,
		       const char *what, void ***list, size_t *n, size_t size);

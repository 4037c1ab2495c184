/* SPDX-License-Identifier: MIT */
#pragma once

/* The schema of igtokend.yaml (CONTRACT section 2): what each key means, its
 * checks and defaults. config.c drives it over the main file and includes. */

#include "conf/config.h"

/* Parses one file into c. is_include: only `apps:` and `accounts:` allowed. */
int confschema_load_file(struct config *c, const struct config_env *env, const char *path,
			 bool is_include, struct config_diag *diag);

/* After apps are resolved: default scopes, and scope names checked against the
 * account's platform. */
int confschema_finish_account(struct config *c, struct account_config *a, struct config_diag *diag);

/* ---- shared by the schema's files ---- */

#define SCOPES_MAX 64	 /* entries in `scopes:` */
#define HOOK_ARGS_MAX 64 /* argv entries of a hook */

struct loader {
	struct config *cfg;
	const struct config_env *env;
	bool is_include;
};

bool schema_get_path(struct yaml_file *f, const yaml_node_t *n, const char *key, const char *base,
		     char **ret);
bool schema_get_dup(struct yaml_file *f, const yaml_node_t *n, const char *key, char **ret);
bool schema_get_url(struct yaml_file *f, const yaml_node_t *n, const char *key, bool allow_query,
		    char **ret);
bool schema_check_private_file(struct yaml_file *f, const yaml_node_t *n, const char *path,
			       bool must_exist);
bool schema_get_principals(struct yaml_file *f, yaml_node_t *n, const char *key,
			   struct principal_list *ret);
bool schema_get_strv(struct yaml_file *f, yaml_node_t *n, const char *key, size_t max,
		     struct config_pos **ret_pos, char ***ret);
bool schema_resolve_user(const char *name, uid_t *ret);
bool schema_resolve_group(const char *name, gid_t *ret);

void schema_parse_apps(struct yaml_file *f, yaml_node_t *n, struct loader *l);
void schema_parse_accounts(struct yaml_file *f, yaml_node_t *n, struct loader *l);

/* SPDX-License-Identifier: MIT */
#include "conf/config.h"

#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <sys/stat.h>

#include "conf/conf-load.h"
#include "basic/util.h"

const char *platform_name(enum platform p)
{
	return p == PLATFORM_FACEBOOK ? "facebook" : "instagram";
}

void config_env_from_environment(struct config_env *env)
{
	/* Set by systemd for the service; secure_getenv so that a setuid context can
	 * never be steered to another key. */
	env->credentials_dir = secure_getenv("CREDENTIALS_DIRECTORY");
	env->state_dir = secure_getenv("STATE_DIRECTORY");
	if (env->credentials_dir && !*env->credentials_dir)
		env->credentials_dir = NULL;
	if (env->state_dir && !*env->state_dir)
		env->state_dir = NULL;
}

static void principal_list_clear(struct principal_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i].name);
	free(l->items);
	*l = (struct principal_list){ 0 };
}

static struct app_config *app_free(struct app_config *a)
{
	if (!a)
		return NULL;
	free(a->name);
	free(a->app_id);
	free(a->secret_path);
	secret_free(a->secret);
	free(a->api_url);
	free(a->oauth_url);
	free(a->authorize_url);
	free(a->api_version);
	free(a->ca_file);
	free(a->redirect_uri);
	free(a);
	return NULL;
}

static struct account_config *account_config_free(struct account_config *a)
{
	if (!a)
		return NULL;
	free(a->name);
	free(a->app_name);
	if (!a->scopes_shared)
		strv_free(a->scopes);
	principal_list_clear(&a->readers);
	if (a->sink)
		free(a->sink->path);
	free(a->sink);
	strv_free(a->on_refresh);
	strv_free(a->on_state_change);
	free(a->pos_scopes);
	free(a);
	return NULL;
}

struct config *config_free(struct config *c)
{
	if (!c)
		return NULL;
	free(c->path);
	free(c->vault_dir);
	free(c->key_path);
	free(c->socket_path);
	principal_list_clear(&c->admins);
	free(c->include);
	for (size_t i = 0; i < c->n_apps; i++)
		app_free(c->apps[i]);
	free(c->apps);
	for (size_t i = 0; i < c->n_accounts; i++)
		account_config_free(c->accounts[i]);
	free(c->accounts);
	strv_free(c->files);
	for (size_t i = 0; i < ELEMENTSOF(c->default_scopes); i++)
		strv_free(c->default_scopes[i]);
	free(c);
	return NULL;
}

static int cmp_app(const void *a, const void *b)
{
	const struct app_config *x = *(struct app_config *const *)a, *y = *(struct app_config *const *)b;
	int r = strcmp(x->name, y->name);
	return r ? r : (x->seq > y->seq) - (x->seq < y->seq);
}

static int cmp_account(const void *a, const void *b)
{
	const struct account_config *x = *(struct account_config *const *)a;
	const struct account_config *y = *(struct account_config *const *)b;
	int r = strcmp(x->name, y->name);
	return r ? r : (x->seq > y->seq) - (x->seq < y->seq);
}

static int cmp_name_app(const void *key, const void *e)
{
	return strcmp(key, (*(struct app_config *const *)e)->name);
}

static int cmp_name_account(const void *key, const void *e)
{
	return strcmp(key, (*(struct account_config *const *)e)->name);
}

struct app_config *config_find_app(const struct config *c, const char *name)
{
	struct app_config **r;
	if (c->n_apps == 0)
		return NULL;
	r = bsearch(name, c->apps, c->n_apps, sizeof(*c->apps), cmp_name_app);
	return r ? *r : NULL;
}

struct account_config *config_find_account(const struct config *c, const char *name)
{
	struct account_config **r;
	if (c->n_accounts == 0)
		return NULL;
	r = bsearch(name, c->accounts, c->n_accounts, sizeof(*c->accounts), cmp_name_account);
	return r ? *r : NULL;
}

bool principal_list_match(const struct principal_list *l, uid_t uid, const gid_t *gids, size_t n_gids)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct principal *p = &l->items[i];
		if (!p->resolved)
			continue;
		if (!p->is_group && p->uid == uid)
			return true;
		for (size_t j = 0; p->is_group && j < n_gids; j++)
			if (gids[j] == p->gid)
				return true;
	}
	return false;
}


/* Names must be unique across the main file and every include. */
static void check_unique_names(struct config *c, struct config_diag *diag)
{
	if (c->n_apps > 1)
		qsort(c->apps, c->n_apps, sizeof(*c->apps), cmp_app);
	for (size_t i = 1; i < c->n_apps; i++)
		if (streq(c->apps[i]->name, c->apps[i - 1]->name))
			config_diag_at(diag, true, &c->apps[i]->pos_name,
				       "app '%s' is defined twice (first at %s:%u:%u)", c->apps[i]->name,
				       c->apps[i - 1]->pos_name.file, c->apps[i - 1]->pos_name.line,
				       c->apps[i - 1]->pos_name.column);
	if (c->n_accounts > 1)
		qsort(c->accounts, c->n_accounts, sizeof(*c->accounts), cmp_account);
	for (size_t i = 1; i < c->n_accounts; i++)
		if (streq(c->accounts[i]->name, c->accounts[i - 1]->name))
			config_diag_at(diag, true, &c->accounts[i]->pos_name,
				       "account '%s' is defined twice (first at %s:%u:%u)",
				       c->accounts[i]->name, c->accounts[i - 1]->pos_name.file,
				       c->accounts[i - 1]->pos_name.line, c->accounts[i - 1]->pos_name.column);
}

static void resolve_accounts(struct config *c, struct config_diag *diag)
{
	for (size_t i = 0; i < c->n_accounts; i++) {
		struct account_config *a = c->accounts[i];

		if (!a->app_name)
			continue; /* its error is reported already */
		a->app = config_find_app(c, a->app_name);
		if (!a->app) {
			config_diag_at(diag, true, &a->pos_app, "app '%s' does not exist (account '%s')",
				a->app_name, a->name);
			continue;
		}
		if (confschema_finish_account(c, a, diag) < 0)
			config_diag_at(diag, true, &a->pos_name, "out of memory");
		/* with 100k accounts every byte counts: the app pointer is all that is needed now */
		free(a->app_name);
		a->app_name = NULL;
		free(a->pos_scopes);
		a->pos_scopes = NULL;
	}
}

static int load_includes(struct config *c, const struct config_env *env, struct config_diag *diag)
{
	_cleanup_free_ char *pattern = path_relative_to(c->path, c->include);
	glob_t g = { 0 };
	int r;

	if (!pattern)
		return -ENOMEM;
	r = glob(pattern, GLOB_ERR, NULL, &g);
	if (r == GLOB_NOMATCH) {
		globfree(&g);
		return 0;
	}
	if (r != 0) {
		globfree(&g);
		config_diag_add(diag, true, c->path, NULL, "include '%s' cannot be read", pattern);
		return -EINVAL;
	}
	if (g.gl_pathc > CONFIG_INCLUDES_MAX) {
		config_diag_add(diag, true, c->path, NULL, "include '%s' matches more than %d files",
				pattern, CONFIG_INCLUDES_MAX);
		globfree(&g);
		return -EINVAL;
	}
	for (size_t i = 0; i < g.gl_pathc; i++)
		confschema_load_file(c, env, g.gl_pathv[i], true, diag);
	globfree(&g);
	return 0;
}

static int set_defaults(struct config *c, const struct config_env *env)
{
	c->refresh = (struct refresh_config){
		.before_expiry = 15 * 86400,
		.min_age = 86400,
		.jitter = 3600,
		.retry_initial = 60,
		.retry_max = 6 * 3600,
		.timeout = 30,
		.max_in_flight = 4,
	};
	c->rate_limit = (struct ratelimit_config){ .slow_above = 75, .stop_above = 95 };
	if (env->state_dir) {
		if (asprintf(&c->vault_dir, "%s/vault", env->state_dir) < 0)
			c->vault_dir = NULL;
	} else
		c->vault_dir = strdup(CONFIG_DEFAULT_VAULT);
	if (env->credentials_dir) {
		if (asprintf(&c->key_path, "%s/vault.key", env->credentials_dir) < 0)
			c->key_path = NULL;
	} else
		c->key_path = strdup(CONFIG_DEFAULT_KEY);
	c->socket_path = strdup(CONFIG_DEFAULT_SOCKET);
	if (!c->vault_dir || !c->key_path || !c->socket_path)
		return -ENOMEM;
	return 0;
}

int config_load(const char *path, const struct config_env *env, struct config **ret,
		struct config_diag *diag)
{
	_cleanup_(config_freep) struct config *c = NULL;
	size_t errors_before = diag->n_errors;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->path = strdup(path);
	if (!c->path)
		return -ENOMEM;
	r = set_defaults(c, env);
	if (r < 0)
		return r;
	r = confschema_load_file(c, env, path, false, diag);
	if (r < 0 && diag->n_errors == errors_before)
		return r;
	if (c->include)
		(void)load_includes(c, env, diag);
	check_unique_names(c, diag);
	resolve_accounts(c, diag);
	if (diag->n_errors > errors_before)
		return -EINVAL;
	*ret = TAKE_PTR(c);
	return 0;
}

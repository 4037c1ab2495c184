/* SPDX-License-Identifier: MIT */
#include "conf/config.h"

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
	env->now = 0; /* the clock */
}

static void principal_list_clear(struct principal_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i].name);
	free(l->items);
	*l = (struct principal_list){ 0 };
}

void cluster_config_free(struct cluster_config *cc)
{
	if (!cc)
		return;
	strv_free(cc->endpoints);
	free(cc->name);
	free(cc->host);
	free(cc->ca_file);
	free(cc->cert_file);
	free(cc->key_file);
	free(cc->user);
	free(cc->password_path);
	secret_free(cc->password);
	free(cc);
}

static struct app_config *app_config_free(struct app_config *a)
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
	free(a->config_id);
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
	free(c->metrics_listen);
	free(c->metrics_password_path);
	secret_free(c->metrics_password);
	principal_list_clear(&c->admins);
	free(c->include);
	cluster_config_free(c->cluster);
	for (size_t i = 0; i < c->n_apps; i++)
		app_config_free(c->apps[i]);
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

bool principal_list_match(const struct principal_list *l, uid_t uid, const gid_t *gids,
			  size_t n_gids)
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

/* SPDX-License-Identifier: MIT */
/* Loading a configuration: the main file's own keys (vault, key, socket,
 * admins, include, refresh, rate_limit), its includes, and the checks across
 * files (unique names, accounts' apps). */
#include "conf/config-load.h"

#include <glob.h>
#include <stdio.h>
#include <sys/un.h>

#include "basic/util.h"
#include "conf/schema-accounts.h"
#include "conf/schema-apps.h"
#include "conf/schema-cluster.h"
#include "conf/schema-values.h"

/* Parsing one file; an include holds only `apps:` and `accounts:`. */
struct loader {
	struct config *cfg;
	const struct config_env *env;
	bool is_include;
};

/* ---- refresh: and rate_limit: ---- */

/* Remembers the nodes of values checked against each other. */
struct cross_ctx {
	void *cfg;
	yaml_node_t *second;  /* retry_max, slow_above */
	yaml_node_t *min_age; /* checked once the apps are known */
};

static bool refresh_pair(struct yaml_file *f, const char *key, yaml_node_t *k, yaml_node_t *v,
			 void *ud)
{
	struct cross_ctx *x = ud;
	struct refresh_config *r = x->cfg;
	static const struct {
		const char *key;
		size_t off;
		int64_t min;
	} durations[] = {
		{ "before_expiry", offsetof(struct refresh_config, before_expiry), 1 },
		{ "min_age", offsetof(struct refresh_config, min_age), 0 },
		{ "jitter", offsetof(struct refresh_config, jitter), 0 },
		{ "retry_initial", offsetof(struct refresh_config, retry_initial), 1 },
		{ "retry_max", offsetof(struct refresh_config, retry_max), 1 },
		{ "timeout", offsetof(struct refresh_config, timeout), 1 },
		{ "validate_every", offsetof(struct refresh_config, validate_every), 1 },
	};
	(void)k;

	if (streq(key, "max_in_flight"))
		return yaml_get_int(f, v, key, 1, 64, &r->max_in_flight), true;
	for (size_t i = 0; i < ELEMENTSOF(durations); i++) {
		int64_t d;
		if (!streq(key, durations[i].key))
			continue;
		if (!yaml_get_duration(f, v, key, &d))
			return true;
		if (streq(key, "retry_max"))
			x->second = v;
		if (streq(key, "min_age"))
			x->min_age = v;
		if (d < durations[i].min)
			yaml_err(f, v, "'%s' must be at least %llds", key,
				 (long long)durations[i].min);
		else if (streq(key, "timeout") && d > 3600)
			yaml_err(f, v, "'timeout' must be at most 1h");
		else
			*(int64_t *)((char *)r + durations[i].off) = d;
		return true;
	}
	return false;
}

static bool ratelimit_pair(struct yaml_file *f, const char *key, yaml_node_t *k, yaml_node_t *v,
			   void *ud)
{
	struct cross_ctx *x = ud;
	struct ratelimit_config *rl = x->cfg;
	(void)k;

	if (streq(key, "slow_above")) {
		if (yaml_get_int(f, v, key, 1, 100, &rl->slow_above))
			x->second = v;
		return true;
	}
	if (streq(key, "stop_above"))
		return yaml_get_int(f, v, key, 1, 100, &rl->stop_above), true;
	return false;
}

/* Checks between keys of refresh:/rate_limit:, reported at the mapping. */
static void check_refresh(struct yaml_file *f, yaml_node_t *n, const struct config *c)
{
	if (c->refresh.retry_max < c->refresh.retry_initial)
		yaml_err(f, n, "'retry_max' (%llds) is shorter than 'retry_initial' (%llds)",
			 (long long)c->refresh.retry_max, (long long)c->refresh.retry_initial);
}

static void check_ratelimit(struct yaml_file *f, yaml_node_t *n, const struct config *c)
{
	if (c->rate_limit.slow_above > c->rate_limit.stop_above)
		yaml_err(f, n, "'slow_above' (%lld) is above 'stop_above' (%lld)",
			 (long long)c->rate_limit.slow_above, (long long)c->rate_limit.stop_above);
}

/* ---- top level ---- */

static bool top_pair(struct yaml_file *f, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud)
{
	struct loader *l = ud;
	struct config *c = l->cfg;

	if (streq(key, "apps"))
		return schema_parse_apps(f, v, c, l->env), true;
	if (streq(key, "accounts"))
		return schema_parse_accounts(f, v, c), true;
	if (l->is_include) {
		static const char *const main_only[] = {
			"vault",
			"key",
			"socket",
			"admins",
			"include",
			"refresh",
			"rate_limit",
			"metrics_listen",
			"metrics_password_file",
			"cluster",
		};
		for (size_t i = 0; i < ELEMENTSOF(main_only); i++)
			if (streq(key, main_only[i])) {
				yaml_err(f, k,
					 "'%s' is only allowed in the main config file; "
					 "included files hold 'apps' and 'accounts'",
					 key);
				return true;
			}
		return false;
	}
	if (streq(key, "vault"))
		return schema_get_path(f, v, key, c->path, &c->vault_dir), true;
	if (streq(key, "key")) {
		if (schema_get_path(f, v, key, c->path, &c->key_path))
			schema_check_private_file(f, v, c->key_path, false);
		return true;
	}
	if (streq(key, "socket")) {
		if (schema_get_path(f, v, key, c->path, &c->socket_path) &&
		    strlen(c->socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			yaml_err(f, v, "'socket' path is longer than %zu bytes",
				 sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		return true;
	}
	if (streq(key, "metrics_listen")) {
		_cleanup_free_ char *host = NULL;
		uint16_t port;
		if (schema_get_dup(f, v, key, &c->metrics_listen) &&
		    parse_host_port(c->metrics_listen, &host, &port) < 0)
			yaml_err(f, v,
				 "'metrics_listen' must be HOST:PORT (an IPv6 address in "
				 "brackets), not "
				 "'%s'",
				 c->metrics_listen);
		return true;
	}
	if (streq(key, "metrics_password_file")) {
		if (schema_get_path(f, v, key, c->path, &c->metrics_password_path))
			schema_read_secret(f, v, c->metrics_password_path, &c->metrics_password);
		return true;
	}
	if (streq(key, "cluster"))
		return schema_parse_cluster(f, v, c, l->env), true;
	if (streq(key, "admins"))
		return schema_get_principals(f, v, key, &c->admins), true;
	if (streq(key, "include"))
		return schema_get_dup(f, v, key, &c->include), true;
	if (streq(key, "refresh")) {
		struct cross_ctx x = { .cfg = &c->refresh };
		if (yaml_is_mapping(f, v, key)) {
			yaml_each_pair(f, v, key, true, refresh_pair, &x);
			check_refresh(f, x.second ?: v, c);
			if (x.min_age)
				c->pos_min_age = yaml_node_pos(f, x.min_age);
		}
		return true;
	}
	if (streq(key, "rate_limit")) {
		struct cross_ctx x = { .cfg = &c->rate_limit };
		if (yaml_is_mapping(f, v, key)) {
			yaml_each_pair(f, v, key, true, ratelimit_pair, &x);
			check_ratelimit(f, x.second ?: v, c);
		}
		return true;
	}
	return false;
}

static int load_file(struct config *c, const struct config_env *env, const char *path,
		     bool is_include, struct config_diag *diag)
{
	struct loader l = { .cfg = c, .env = env, .is_include = is_include };
	struct yaml_file f;
	yaml_node_t *root;
	char *name;
	int r;

	/* The file name outlives the document: positions kept for later checks point at it. */
	name = strdup(path);
	if (!name || strv_push(&c->files, name) < 0) {
		free(name);
		return -ENOMEM;
	}
	r = yaml_file_load(&f, name, diag);
	if (r < 0)
		return r;
	root = yaml_file_root(&f);
	if (root && !(root->type == YAML_SCALAR_NODE && !*root->data.scalar.value)) {
		if (root->type != YAML_MAPPING_NODE)
			yaml_err(&f, root, "the configuration must be a mapping of keys to values");
		else
			yaml_each_pair(&f, root, NULL, true, top_pair, &l);
	}
	yaml_file_done(&f);
	return 0;
}

/* Sorted by name, then by order of definition. */
static int cmp_app(const void *a, const void *b)
{
	const struct app_config *x = *(struct app_config *const *)a,
				*y = *(struct app_config *const *)b;
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

/* Names must be unique across the main file and every include. */
static void check_unique_names(struct config *c, struct config_diag *diag)
{
	if (c->n_apps > 1)
		qsort(c->apps, c->n_apps, sizeof(*c->apps), cmp_app);
	for (size_t i = 1; i < c->n_apps; i++)
		if (streq(c->apps[i]->name, c->apps[i - 1]->name))
			config_diag_at(diag, true, &c->apps[i]->pos_name,
				       "app '%s' is defined twice (first at %s:%u:%u)",
				       c->apps[i]->name, c->apps[i - 1]->pos_name.file,
				       c->apps[i - 1]->pos_name.line,
				       c->apps[i - 1]->pos_name.column);
	if (c->n_accounts > 1)
		qsort(c->accounts, c->n_accounts, sizeof(*c->accounts), cmp_account);
	for (size_t i = 1; i < c->n_accounts; i++)
		if (streq(c->accounts[i]->name, c->accounts[i - 1]->name))
			config_diag_at(diag, true, &c->accounts[i]->pos_name,
				       "account '%s' is defined twice (first at %s:%u:%u)",
				       c->accounts[i]->name, c->accounts[i - 1]->pos_name.file,
				       c->accounts[i - 1]->pos_name.line,
				       c->accounts[i - 1]->pos_name.column);
}

static void resolve_accounts(struct config *c, struct config_diag *diag)
{
	for (size_t i = 0; i < c->n_accounts; i++) {
		struct account_config *a = c->accounts[i];

		if (!a->app_name)
			continue; /* its error is reported already */
		a->app = config_find_app(c, a->app_name);
		if (!a->app) {
			config_diag_at(diag, true, &a->pos_app,
				       "app '%s' does not exist (account '%s')", a->app_name,
				       a->name);
			continue;
		}
		if (schema_finish_account(c, a, diag) < 0)
			config_diag_at(diag, true, &a->pos_name, "out of memory");
		/* with 100k accounts every byte counts: the app pointer is all that is needed now */
		free(a->app_name);
		a->app_name = NULL;
		free(a->pos_scopes);
		a->pos_scopes = NULL;
	}
}

/* Meta refuses to refresh an Instagram token younger than 24 hours. */
static void check_min_age(struct config *c, struct config_diag *diag)
{
	bool instagram = false;

	for (size_t i = 0; i < c->n_apps; i++)
		instagram |= c->apps[i]->platform == PLATFORM_INSTAGRAM;
	if (instagram && c->refresh.min_age < 86400 && c->pos_min_age.line)
		config_diag_at(diag, false, &c->pos_min_age,
			       "'min_age' is under 24h: Meta refuses to refresh Instagram tokens "
			       "younger than "
			       "that, so earlier attempts only fail");
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
		config_diag_file(diag, true, c->path, "include '%s' cannot be read", pattern);
		return -EINVAL;
	}
	if (g.gl_pathc > CONFIG_INCLUDES_MAX) {
		config_diag_file(diag, true, c->path, "include '%s' matches more than %d files",
				 pattern, CONFIG_INCLUDES_MAX);
		globfree(&g);
		return -EINVAL;
	}
	for (size_t i = 0; i < g.gl_pathc; i++)
		load_file(c, env, g.gl_pathv[i], true, diag);
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
		.validate_every = 86400,
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
	r = load_file(c, env, path, false, diag);
	if (r < 0 && diag->n_errors == errors_before)
		return r;
	if (c->include)
		(void)load_includes(c, env, diag);
	check_unique_names(c, diag);
	resolve_accounts(c, diag);
	check_min_age(c, diag);
	schema_check_cluster(c, diag);
	if (diag->n_errors > errors_before)
		return -EINVAL;
	*ret = TAKE_PTR(c);
	return 0;
}

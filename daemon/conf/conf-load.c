/* SPDX-License-Identifier: MIT */
#include "conf/conf-load.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "basic/util.h"

#define PRINCIPALS_MAX 1024

/* ---- small typed helpers ---- */

bool schema_get_path(struct yaml_file *f, const yaml_node_t *n, const char *key, const char *base,
		     char **ret)
{
	const char *s;
	char *p;

	if (!yaml_get_string(f, n, key, &s))
		return false;
	p = path_relative_to(base, s);
	if (!p)
		return false;
	free(*ret);
	*ret = p;
	return true;
}

bool schema_get_dup(struct yaml_file *f, const yaml_node_t *n, const char *key, char **ret)
{
	const char *s;
	if (!yaml_get_string(f, n, key, &s))
		return false;
	free(*ret);
	*ret = strdup(s);
	return *ret != NULL;
}

/* https:// with a host, no credentials, no fragment; base URLs also no query. */
bool schema_get_url(struct yaml_file *f, const yaml_node_t *n, const char *key, bool allow_query,
		    char **ret)
{
	_cleanup_free_ char *copy = NULL;
	CURLU *u;
	char *scheme = NULL, *host = NULL, *user = NULL, *query = NULL, *frag = NULL;
	const char *s;
	bool ok = false;
	size_t len;

	if (!yaml_get_string(f, n, key, &s))
		return false;
	u = curl_url();
	if (!u)
		return false;
	if (curl_url_set(u, CURLUPART_URL, s, 0) != CURLUE_OK)
		yaml_err(f, n, "'%s': '%s' is not a valid URL", key, s);
	else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK || !streq(scheme, "https"))
		yaml_err(f, n, "'%s' must be an https:// URL, not '%s'", key, s);
	else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host)
		yaml_err(f, n, "'%s': URL '%s' has no host", key, s);
	else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK)
		yaml_err(f, n, "'%s': URL must not contain a user name or password", key);
	else if (curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0) == CURLUE_OK)
		yaml_err(f, n, "'%s': URL must not contain a fragment", key);
	else if (!allow_query && curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK)
		yaml_err(f, n, "'%s': URL must not contain a query", key);
	else
		ok = true;
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(query);
	curl_free(frag);
	curl_url_cleanup(u);
	if (!ok)
		return false;
	copy = strdup(s);
	if (!copy)
		return false;
	len = strlen(copy);
	while (!allow_query && len > 8 && copy[len - 1] == '/') /* base URLs: no trailing slash */
		copy[--len] = '\0';
	free(*ret);
	*ret = TAKE_PTR(copy);
	return true;
}

/* A file holding a secret or key: a regular file, not readable by group or others. */
bool schema_check_private_file(struct yaml_file *f, const yaml_node_t *n, const char *path,
			       bool must_exist)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		if (errno == ENOENT && !must_exist)
			return true;
		yaml_err(f, n, "cannot access '%s': %m", path);
		return false;
	}
	if (!S_ISREG(st.st_mode)) {
		yaml_err(f, n, "'%s' is not a regular file", path);
		return false;
	}
	if (st.st_mode & 077) {
		yaml_err(f, n, "'%s' is readable by group or others (mode %04o); run chmod 0600 on it",
			 path, (unsigned)(st.st_mode & 07777));
		return false;
	}
	return true;
}

static bool principal_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64 || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-' || (c == '$' && i == n - 1)))
			return false;
	}
	return true;
}

bool schema_resolve_user(const char *name, uid_t *ret)
{
	char buf[4096];
	struct passwd pw, *res = NULL;
	int64_t v;

	if (parse_int64(name, 0, INT32_MAX - 1, &v) == 0) {
		*ret = (uid_t)v;
		return true;
	}
	if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return false;
	*ret = res->pw_uid;
	return true;
}

bool schema_resolve_group(const char *name, gid_t *ret)
{
	char buf[16384];
	struct group gr, *res = NULL;
	int64_t v;

	if (parse_int64(name, 0, INT32_MAX - 1, &v) == 0) {
		*ret = (gid_t)v;
		return true;
	}
	if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) != 0 || !res)
		return false;
	*ret = res->gr_gid;
	return true;
}

/* [root, "@group"]: unknown names are warnings (they match nobody until they exist). */
bool schema_get_principals(struct yaml_file *f, yaml_node_t *n, const char *key,
			   struct principal_list *ret)
{
	size_t count;

	if (!yaml_is_sequence(f, n, key))
		return false;
	count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (count > PRINCIPALS_MAX) {
		yaml_err(f, n, "'%s' has more than %d entries", key, PRINCIPALS_MAX);
		return false;
	}
	free(ret->items);
	ret->items = calloc(count + 1, sizeof(*ret->items));
	ret->n = 0;
	if (!ret->items)
		return false;
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		yaml_node_t *e = yaml_file_node(f, *it);
		struct principal *p = &ret->items[ret->n];
		const char *s;

		if (!yaml_get_string(f, e, key, &s))
			continue;
		p->is_group = s[0] == '@';
		if (!principal_name_valid(s + p->is_group)) {
			yaml_err(f, e, "'%s': '%s' is not a user name or @group", key, s);
			continue;
		}
		p->name = strdup(s + p->is_group);
		if (!p->name)
			return false;
		p->resolved = p->is_group ? schema_resolve_group(p->name, &p->gid)
				  : schema_resolve_user(p->name, &p->uid);
		if (!p->resolved)
			yaml_warn(f, e, "'%s': %s '%s' does not exist; it matches nobody", key,
				  p->is_group ? "group" : "user", p->name);
		ret->n++;
	}
	return true;
}

bool schema_get_strv(struct yaml_file *f, yaml_node_t *n, const char *key, size_t max,
		     struct config_pos **ret_pos, char ***ret)
{
	_cleanup_strv_free_ char **l = NULL;
	_cleanup_free_ struct config_pos *pos = NULL;
	size_t count, i = 0;
	bool ok = true;

	if (!yaml_is_sequence(f, n, key))
		return false;
	count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (count > max) {
		yaml_err(f, n, "'%s' has more than %zu entries", key, max);
		return false;
	}
	l = calloc(count + 1, sizeof(char *));
	pos = calloc(count + 1, sizeof(*pos));
	if (!l || !pos)
		return false;
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		yaml_node_t *e = yaml_file_node(f, *it);
		const char *s;

		if (!yaml_get_string(f, e, key, &s)) {
			ok = false;
			continue;
		}
		pos[i] = yaml_node_pos(f, e);
		if (!(l[i++] = strdup(s)))
			return false;
	}
	if (!ok)
		return false;
	if (ret_pos) {
		free(*ret_pos);
		*ret_pos = TAKE_PTR(pos);
	}
	strv_free(*ret);
	*ret = TAKE_PTR(l);
	return true;
}

/* ---- refresh: and rate_limit: ---- */

/* Remembers the nodes of values checked against each other. */
struct cross_ctx {
	void *cfg;
	yaml_node_t *second; /* retry_max, slow_above */
};

static bool refresh_pair(struct yaml_file *f, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud)
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
		if (d < durations[i].min)
			yaml_err(f, v, "'%s' must be at least %llds", key, (long long)durations[i].min);
		else if (streq(key, "timeout") && d > 3600)
			yaml_err(f, v, "'timeout' must be at most 1h");
		else
			*(int64_t *)((char *)r + durations[i].off) = d;
		return true;
	}
	return false;
}

static bool ratelimit_pair(struct yaml_file *f, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud)
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
		return schema_parse_apps(f, v, l), true;
	if (streq(key, "accounts"))
		return schema_parse_accounts(f, v, l), true;
	if (l->is_include) {
		static const char *const main_only[] = { "vault", "key", "socket", "admins",
							 "include", "refresh", "rate_limit" };
		for (size_t i = 0; i < ELEMENTSOF(main_only); i++)
			if (streq(key, main_only[i])) {
				yaml_err(f, k, "'%s' is only allowed in the main config file; "
					       "included files hold 'apps' and 'accounts'", key);
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
	if (streq(key, "admins"))
		return schema_get_principals(f, v, key, &c->admins), true;
	if (streq(key, "include"))
		return schema_get_dup(f, v, key, &c->include), true;
	if (streq(key, "refresh")) {
		struct cross_ctx x = { .cfg = &c->refresh };
		if (yaml_is_mapping(f, v, key)) {
			yaml_each_pair(f, v, key, true, refresh_pair, &x);
			check_refresh(f, x.second ?: v, c);
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

int confschema_load_file(struct config *c, const struct config_env *env, const char *path,
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

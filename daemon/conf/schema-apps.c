/* SPDX-License-Identifier: MIT */
/* apps: of igtokend.yaml. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "conf/schema-apps.h"

#include "basic/util.h"
#include "conf/graph-versions.h"
#include "conf/schema-values.h"

static const struct platform_defaults {
	const char *api_url, *oauth_url, *authorize_url, *basic_scope;
} platform_defaults[] = {
	[PLATFORM_INSTAGRAM] = { "https://graph.instagram.com", "https://api.instagram.com",
				 "https://www.instagram.com/oauth/authorize",
				 "instagram_business_basic" },
	[PLATFORM_FACEBOOK] = { "https://graph.facebook.com", "https://graph.facebook.com",
				NULL /* https://www.facebook.com/{api_version}/dialog/oauth */,
				"instagram_basic" },
};

/* ---- apps ---- */

struct app_ctx {
	struct config *c;
	const struct config_env *env;
	struct app_config *a;
	yaml_node_t *secret_node;
	const char *secret_key;
	bool platform_ok;
	bool app_id_seen, secret_seen; /* given, even if invalid: no second error */
};

static bool load_app_secret(struct yaml_file *f, struct app_ctx *x)
{
	return schema_read_secret(f, x->secret_node, x->a->secret_path, &x->a->secret);
}

/* Meta retires each Graph API version about two years after the next one comes. */
static void check_api_version(struct yaml_file *f, const yaml_node_t *n, const char *version,
			      int64_t now)
{
	int64_t end = graph_version_end(version);
	char when[16];
	time_t e = (time_t)end;
	struct tm tm;

	if (!now)
		now = (int64_t)time(NULL);
	if (!end || end - now > (int64_t)GRAPH_VERSION_WARN_DAYS * 86400)
		return;
	gmtime_r(&e, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d", &tm);
	if (end <= now)
		yaml_warn(f, n, "Graph API %s was retired by Meta on %s: move to %s", version, when,
			  GRAPH_VERSION_DEFAULT);
	else
		yaml_warn(f, n, "Graph API %s is retired by Meta on %s: move to %s", version, when,
			  GRAPH_VERSION_DEFAULT);
}

static bool app_pair(struct yaml_file *f, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud)
{
	struct app_ctx *x = ud;
	struct app_config *a = x->a;
	const char *s;
	(void)k;

	if (streq(key, "platform")) {
		if (!yaml_get_string(f, v, key, &s))
			x->platform_ok = false;
		else if (streq(s, "instagram"))
			a->platform = PLATFORM_INSTAGRAM;
		else if (streq(s, "facebook"))
			a->platform = PLATFORM_FACEBOOK;
		else {
			yaml_err(f, v, "'platform' must be instagram or facebook, not '%s'", s);
			x->platform_ok = false;
		}
	} else if (streq(key, "app_id")) {
		x->app_id_seen = true;
		if (yaml_get_string(f, v, key, &s)) {
			int64_t dummy;
			if (strlen(s) > 32 || parse_int64(s, 1, INT64_MAX, &dummy) < 0)
				yaml_err(f, v, "'app_id' must be the app's numeric id, not '%s'",
					 s);
			else
				schema_get_dup(f, v, key, &a->app_id);
		}
	} else if (streq(key, "app_secret_file") || streq(key, "app_secret_credential")) {
		if (x->secret_node) {
			yaml_err(f, k, "'%s' and '%s' cannot both be set", x->secret_key, key);
			return true;
		}
		x->secret_seen = true;
		if (!schema_get_secret_path(f, v, key, x->env->credentials_dir, &a->secret_path))
			return true;
		x->secret_node = v;
		x->secret_key =
			streq(key, "app_secret_file") ? "app_secret_file" : "app_secret_credential";
	} else if (streq(key, "api_url"))
		schema_get_url(f, v, key, false, &a->api_url);
	else if (streq(key, "oauth_url"))
		schema_get_url(f, v, key, false, &a->oauth_url);
	else if (streq(key, "authorize_url"))
		schema_get_url(f, v, key, false, &a->authorize_url);
	else if (streq(key, "redirect_uri"))
		schema_get_url(f, v, key, true, &a->redirect_uri);
	else if (streq(key, "api_version")) {
		unsigned maj, min;
		char end;
		if (yaml_get_string(f, v, key, &s)) {
			if (sscanf(s, "v%u.%u%c", &maj, &min, &end) != 2 || strlen(s) > 12)
				yaml_err(f, v, "'api_version' must look like v21.0, not '%s'", s);
			else if (schema_get_dup(f, v, key, &a->api_version))
				check_api_version(f, v, a->api_version, x->env->now);
		}
	} else if (streq(key, "config_id")) {
		/* Facebook Login for Business: the configuration stands for the scopes */
		if (yaml_get_string(f, v, key, &s)) {
			int64_t dummy;
			if (strlen(s) > 32 || parse_int64(s, 1, INT64_MAX, &dummy) < 0)
				yaml_err(f, v,
					 "'config_id' must be the configuration's numeric id, not "
					 "'%s'",
					 s);
			else
				schema_get_dup(f, v, key, &a->config_id);
		}
	} else if (streq(key, "ca_file")) {
		if (schema_get_path(f, v, key, f->path, &a->ca_file) &&
		    access(a->ca_file, R_OK) < 0)
			yaml_err(f, v, "cannot read 'ca_file' '%s': %m", a->ca_file);
	} else
		return false;
	return true;
}

static int app_defaults(struct app_config *a)
{
	const struct platform_defaults *d = &platform_defaults[a->platform];

	if (!a->api_version && a->platform == PLATFORM_FACEBOOK &&
	    !(a->api_version = strdup(GRAPH_VERSION_DEFAULT)))
		return -ENOMEM;
	if (!a->api_url && !(a->api_url = strdup(d->api_url)))
		return -ENOMEM;
	if (!a->oauth_url && !(a->oauth_url = strdup(d->oauth_url)))
		return -ENOMEM;
	if (!a->authorize_url) {
		if (d->authorize_url)
			a->authorize_url = strdup(d->authorize_url);
		else if (asprintf(&a->authorize_url, "https://www.facebook.com/%s/dialog/oauth",
				  a->api_version) < 0)
			a->authorize_url = NULL;
		if (!a->authorize_url)
			return -ENOMEM;
	}
	return 0;
}

static bool apps_pair(struct yaml_file *f, const char *key, yaml_node_t *k, yaml_node_t *v,
		      void *ud)
{
	struct app_ctx *x = ud;
	struct config *c = x->c;
	struct app_config *a =
		schema_new_entry(f, key, k, v, "app", (void ***)&c->apps, &c->n_apps, sizeof(*a));

	if (!a)
		return true;
	a->seq = (uint32_t)c->n_apps - 1;
	a->pos_name = yaml_node_pos(f, k);
	if (!(a->name = strdup(key))) {
		yaml_err(f, k, "out of memory");
		return true;
	}
	x->a = a;
	x->platform_ok = true;
	x->app_id_seen = x->secret_seen = false;
	x->secret_node = NULL;
	x->secret_key = NULL;
	yaml_each_pair(f, v, key, true, app_pair, x);
	if (!x->app_id_seen)
		yaml_err(f, k, "app '%s' has no 'app_id'", key);
	if (!x->secret_seen)
		yaml_err(f, k, "app '%s' needs 'app_secret_file' or 'app_secret_credential'", key);
	else if (a->secret_path)
		load_app_secret(f, x);
	if (app_defaults(a) < 0)
		yaml_err(f, k, "out of memory");
	return true;
}

void schema_parse_apps(struct yaml_file *f, yaml_node_t *n, struct config *c,
		       const struct config_env *env)
{
	struct app_ctx x = { .c = c, .env = env };

	if (yaml_is_mapping(f, n, "apps"))
		yaml_each_pair(f, n, "apps", false, apps_pair, &x);
}

/* ---- accounts ---- */

const char *schema_basic_scope(enum platform p)
{
	return platform_defaults[p].basic_scope;
}

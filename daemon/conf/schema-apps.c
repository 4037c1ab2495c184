/* SPDX-License-Identifier: MIT */
/* apps: and accounts: of igtokend.yaml, and the scope rules. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "conf/schema-apps.h"

#include "basic/util.h"
#include "conf/graph-versions.h"
#include "conf/schema-values.h"

#define SINK_DEFAULT_MODE	0400
#define SINK_DEFAULT_MODE_GROUP 0440

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
		if (streq(key, "app_secret_file")) {
			if (!schema_get_path(f, v, key, f->path, &a->secret_path))
				return true;
		} else {
			if (!yaml_get_string(f, v, key, &s))
				return true;
			if (!name_is_valid(s)) {
				yaml_err(f, v, "'%s': '%s' is not a credential name", key, s);
				return true;
			}
			if (!x->env->credentials_dir) {
				yaml_err(f, v,
					 "'%s' needs $CREDENTIALS_DIRECTORY (systemd "
					 "LoadCredential=)",
					 key);
				return true;
			}
			if (asprintf(&a->secret_path, "%s/%s", x->env->credentials_dir, s) < 0)
				return true;
		}
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

/* An app or account being defined: its name checked, its value a mapping, and a
 * zeroed entry of `size` bytes appended to *list (grown 64 at a time). NULL when
 * there is nothing more to parse here (what is wrong is reported). */
static void *new_entry(struct yaml_file *f, const char *key, yaml_node_t *k, yaml_node_t *v,
		       const char *what, void ***list, size_t *n, size_t size)
{
	void **grown = *list, *e;

	if (!name_is_valid(key)) {
		yaml_err(f, k,
			 "'%s' is not a valid %s name ([A-Za-z0-9._-], at most 64, not starting "
			 "with '.')",
			 key, what);
		return NULL;
	}
	if (!yaml_is_mapping(f, v, key))
		return NULL;
	if (*n >= CONFIG_ACCOUNTS_MAX) {
		yaml_err(f, k, "more than %d %ss", CONFIG_ACCOUNTS_MAX, what);
		return NULL;
	}
	if (*n % 64 == 0 && !(grown = reallocarray(*list, *n + 64, sizeof(void *)))) {
		yaml_err(f, k, "out of memory");
		return NULL;
	}
	*list = grown;
	e = calloc(1, size);
	if (!e) {
		yaml_err(f, k, "out of memory");
		return NULL;
	}
	(*list)[(*n)++] = e;
	return e;
}

static bool apps_pair(struct yaml_file *f, const char *key, yaml_node_t *k, yaml_node_t *v,
		      void *ud)
{
	struct app_ctx *x = ud;
	struct config *c = x->c;
	struct app_config *a =
		new_entry(f, key, k, v, "app", (void ***)&c->apps, &c->n_apps, sizeof(*a));

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

struct sink_ctx {
	struct sink_config *s;
	bool path_seen;
};

static bool sink_pair(struct yaml_file *f, const char *key, yaml_node_t *k, yaml_node_t *v,
		      void *ud)
{
	struct sink_ctx *x = ud;
	struct sink_config *s = x->s;
	const char *str;
	mode_t mode;
	(void)k;

	if (streq(key, "path")) {
		x->path_seen = true;
		if (yaml_get_string(f, v, key, &str)) {
			if (str[0] != '/')
				yaml_err(f, v, "sink 'path' must be absolute, not '%s'", str);
			else if (str[strlen(str) - 1] == '/')
				yaml_err(f, v, "sink 'path' must name a file, not a directory");
			else
				schema_get_dup(f, v, key, &s->path);
		}
	} else if (streq(key, "mode")) {
		if (!yaml_get_string(f, v, key, &str))
			return true;
		if (parse_mode(str, &mode) < 0 || (mode & ~0777))
			yaml_err(f, v,
				 "sink 'mode' must be an octal mode such as \"0440\", not '%s'",
				 str);
		else if (mode & 0007)
			yaml_err(f, v, "sink 'mode' %04o gives others access to the token",
				 (unsigned)mode);
		else
			s->mode = mode;
	} else if (streq(key, "owner")) {
		if (yaml_get_string(f, v, key, &str)) {
			if (!schema_resolve_user(str, &s->uid))
				yaml_err(f, v, "sink 'owner': user '%s' does not exist", str);
			else
				s->has_owner = true;
		}
	} else if (streq(key, "group")) {
		if (yaml_get_string(f, v, key, &str)) {
			if (!schema_resolve_group(str, &s->gid))
				yaml_err(f, v, "sink 'group': group '%s' does not exist", str);
			else
				s->has_group = true;
		}
	} else
		return false;
	return true;
}

static void parse_sink(struct yaml_file *f, yaml_node_t *k, yaml_node_t *v,
		       struct account_config *a)
{
	if (!yaml_is_mapping(f, v, "sink"))
		return;
	a->sink = calloc(1, sizeof(*a->sink));
	if (!a->sink)
		return;
	struct sink_ctx x = { .s = a->sink };

	a->sink->mode = (mode_t)-1;
	yaml_each_pair(f, v, "sink", true, sink_pair, &x);
	if (!x.path_seen)
		yaml_err(f, k, "'sink' needs a 'path'");
	if (a->sink->mode == (mode_t)-1)
		a->sink->mode = a->sink->has_group ? SINK_DEFAULT_MODE_GROUP : SINK_DEFAULT_MODE;
}

static void parse_hook(struct yaml_file *f, const char *key, yaml_node_t *v, char ***ret)
{
	if (!schema_get_strv(f, v, key, HOOK_ARGS_MAX, NULL, ret))
		return;
	if (!(*ret)[0]) {
		yaml_err(f, v, "'%s' must not be empty", key);
		return;
	}
	if ((*ret)[0][0] != '/') {
		yaml_err(f, v, "'%s': the program must be an absolute path, not '%s'", key,
			 (*ret)[0]);
		return;
	}
	if (access((*ret)[0], X_OK) < 0)
		yaml_warn(f, v, "'%s': '%s' is not executable: %m", key, (*ret)[0]);
}

static bool account_pair(struct yaml_file *f, const char *key, yaml_node_t *k, yaml_node_t *v,
			 void *ud)
{
	struct account_config *a = ud;

	if (streq(key, "app")) {
		a->pos_app = yaml_node_pos(f, v); /* seen, even if invalid: no second error */
		(void)schema_get_dup(f, v, key, &a->app_name);
	} else if (streq(key, "scopes")) {
		if (schema_get_strv(f, v, key, SCOPES_MAX, &a->pos_scopes, &a->scopes) &&
		    !a->scopes[0])
			yaml_err(f, v, "'scopes' must not be empty");
	} else if (streq(key, "readers"))
		schema_get_principals(f, v, key, &a->readers);
	else if (streq(key, "sink"))
		parse_sink(f, k, v, a);
	else if (streq(key, "on_refresh"))
		parse_hook(f, key, v, &a->on_refresh);
	else if (streq(key, "on_state_change"))
		parse_hook(f, key, v, &a->on_state_change);
	else
		return false;
	return true;
}

static bool accounts_pair(struct yaml_file *f, const char *key, yaml_node_t *k, yaml_node_t *v,
			  void *ud)
{
	struct config *c = ud;
	struct account_config *a = new_entry(f, key, k, v, "account", (void ***)&c->accounts,
					     &c->n_accounts, sizeof(*a));

	if (!a)
		return true;
	a->seq = (uint32_t)c->n_accounts - 1;
	a->pos_name = yaml_node_pos(f, k);
	if (!(a->name = strdup(key))) {
		yaml_err(f, k, "out of memory");
		return true;
	}
	yaml_each_pair(f, v, key, true, account_pair, a);
	if (a->pos_app.line == 0)
		yaml_err(f, k, "account '%s' has no 'app'", key);
	return true;
}

void schema_parse_accounts(struct yaml_file *f, yaml_node_t *n, struct config *c)
{
	if (yaml_is_mapping(f, n, "accounts"))
		yaml_each_pair(f, n, "accounts", false, accounts_pair, c);
}

/* ---- scopes ---- */

static const char *const scopes_instagram[] = {
	"instagram_business_basic",	      "instagram_business_content_publish",
	"instagram_business_manage_comments", "instagram_business_manage_messages",
	"instagram_business_manage_insights", NULL,
};

static const char *const scopes_facebook[] = {
	"instagram_basic",
	"instagram_content_publish",
	"instagram_manage_comments",
	"instagram_manage_insights",
	"instagram_manage_messages",
	"instagram_shopping_tag_products",
	"instagram_branded_content_brand",
	"instagram_branded_content_creator",
	"instagram_branded_content_ads_brand",
	"pages_show_list",
	"pages_read_engagement",
	"pages_read_user_content",
	"pages_manage_metadata",
	"pages_manage_posts",
	"pages_manage_engagement",
	"pages_messaging",
	"business_management",
	"public_profile",
	"email",
	"ads_management",
	"ads_read",
	"read_insights",
	NULL,
};

static const struct {
	const char *name, *why, *instead;
} retired_scopes[] = {
	{ "basic", "of the legacy Instagram API, retired on 2020-06-29", NULL },
	{ "public_content", "of the legacy Instagram API, retired on 2020-06-29", NULL },
	{ "follower_list", "of the legacy Instagram API, retired on 2020-06-29", NULL },
	{ "comments", "of the legacy Instagram API, retired on 2020-06-29", NULL },
	{ "relationships", "of the legacy Instagram API, retired on 2020-06-29", NULL },
	{ "likes", "of the legacy Instagram API, retired on 2020-06-29", NULL },
	{ "user_profile", "of the Instagram Basic Display API, retired on 2024-12-04", NULL },
	{ "user_media", "of the Instagram Basic Display API, retired on 2024-12-04", NULL },
	{ "instagram_graph_user_profile",
	  "of the Instagram Basic Display API, retired on 2024-12-04", NULL },
	{ "instagram_graph_user_media", "of the Instagram Basic Display API, retired on 2024-12-04",
	  NULL },
	{ "business_basic", "retired on 2025-01-27", "instagram_business_basic" },
	{ "business_content_publish", "retired on 2025-01-27",
	  "instagram_business_content_publish" },
	{ "business_manage_comments", "retired on 2025-01-27",
	  "instagram_business_manage_comments" },
	{ "business_manage_messages", "retired on 2025-01-27",
	  "instagram_business_manage_messages" },
	{ "instagram_business_content_publishing", "not a valid permission",
	  "instagram_business_content_publish" },
};

static bool in_list(const char *const *l, const char *s)
{
	for (; *l; l++)
		if (streq(*l, s))
			return true;
	return false;
}

int schema_finish_account(struct config *c, struct account_config *a, struct config_diag *diag)
{
	enum platform p = a->app->platform;
	const char *basic = platform_defaults[p].basic_scope;
	bool has_basic = false;

	if (!a->scopes) { /* not given: the platform's basic permission, one list for all */
		if (!c->default_scopes[p]) {
			char *s = strdup(basic);
			if (!s || strv_push(&c->default_scopes[p], s) < 0) {
				free(s);
				return -ENOMEM;
			}
		}
		a->scopes = c->default_scopes[p];
		a->scopes_shared = true;
		return 0;
	}

	for (size_t i = 0; a->scopes && a->scopes[i]; i++) {
		const char *s = a->scopes[i];
		bool retired = false;

		for (size_t j = 0; j < ELEMENTSOF(retired_scopes); j++)
			if (streq(s, retired_scopes[j].name)) {
				config_diag_at(diag, true, &a->pos_scopes[i],
					       "scope '%s' is %s; use %s", s, retired_scopes[j].why,
					       retired_scopes[j].instead ?: basic);
				retired = true;
			}
		if (retired)
			continue;
		if (streq(s, basic))
			has_basic = true;
		else if (!in_list(p == PLATFORM_INSTAGRAM ? scopes_instagram : scopes_facebook, s))
			config_diag_at(diag, false, &a->pos_scopes[i],
				       "unknown scope '%s' for platform %s", s, platform_name(p));
	}
	if (a->scopes && a->scopes[0] && !has_basic && p == PLATFORM_INSTAGRAM)
		config_diag_at(diag, false, &a->pos_scopes[0],
			       "scopes of account '%s' lack %s, which Meta requires", a->name,
			       basic);
	return 0;
}

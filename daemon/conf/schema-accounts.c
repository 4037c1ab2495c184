/* SPDX-License-Identifier: MIT */
/* accounts: of igtokend.yaml (sinks, hooks), and the scope rules. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "conf/schema-accounts.h"

#include "basic/util.h"
#include "conf/schema-apps.h"
#include "conf/schema-values.h"

#define SINK_DEFAULT_MODE	0400
#define SINK_DEFAULT_MODE_GROUP 0440

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
	struct account_config *a = schema_new_entry(f, key, k, v, "account", (void ***)&c->accounts,
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
	const char *basic = schema_basic_scope(p);
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

/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "conf/config-diag.h"
#include "basic/secret.h"

#define CONFIG_DEFAULT_PATH   "/etc/igtokend/igtokend.yaml"
#define CONFIG_DEFAULT_VAULT  "/var/lib/igtokend/vault"
#define CONFIG_DEFAULT_KEY    "/etc/igtokend/vault.key"
#define CONFIG_DEFAULT_SOCKET "/run/igtokend/igtokend.sock"
#define CONFIG_ACCOUNTS_MAX   1000000

enum platform {
	PLATFORM_INSTAGRAM,
	PLATFORM_FACEBOOK,
};
const char *platform_name(enum platform p);

/* A user or @group from `admins:` or `readers:`, resolved at load. */
struct principal {
	char *name; /* without the '@' */
	bool is_group;
	bool resolved;
	uid_t uid; /* users */
	gid_t gid; /* groups */
};

struct principal_list {
	struct principal *items;
	size_t n;
};

struct sink_config {
	char *path;
	mode_t mode;
	bool has_owner, has_group;
	uid_t uid;
	gid_t gid;
};

struct app_config {
	char *name;
	enum platform platform;
	char *app_id;
	char *secret_path;
	struct secret *secret;
	char *api_url;
	char *oauth_url;
	char *authorize_url;
	char *api_version;
	char *ca_file;	    /* NULL: system trust store only */
	char *redirect_uri; /* NULL: enrolment unavailable */
	char *config_id;    /* Facebook Login for Business configuration, or NULL */
	struct config_pos pos_name;
	uint32_t seq; /* order of definition, so "defined twice" names the first one */
};

struct account_config {
	char *name;
	char *app_name;
	struct app_config *app; /* resolved after all files are read */
	char **scopes;
	struct principal_list readers;
	struct sink_config *sink;
	char **on_refresh;
	char **on_state_change;
	/* where things were written, for checks after parsing */
	struct config_pos pos_name, pos_app;
	struct config_pos *pos_scopes; /* freed once checked */
	uint32_t seq;
	bool scopes_shared; /* scopes is the config's default list, not owned */
};

struct refresh_config {
	int64_t before_expiry, min_age, jitter, retry_initial, retry_max, timeout; /* seconds */
	int64_t validate_every; /* seconds between checks of a token (Meta's daily "Login Security")
				 */
	int64_t max_in_flight;
};

struct ratelimit_config {
	int64_t slow_above, stop_above; /* percent */
};

/* cluster: (CONTRACT 13), NULL without */
struct cluster_config {
	char **endpoints;  /* https:// (or http://) URLs of etcd members */
	char *name;	   /* keys live under /igtokend/<name>/ */
	char *host;	   /* this host's id (default: the hostname) */
	int64_t lease_ttl; /* seconds */
	char *ca_file, *cert_file, *key_file;
	char *user; /* etcd password auth, or NULL */
	char *password_path;
	struct secret *password;
	struct config_pos pos;
};
void cluster_config_free(struct cluster_config *cc);

struct config {
	char *path;
	char *vault_dir;
	char *key_path;
	char *socket_path;
	char *metrics_listen;	     /* HOST:PORT of the scrape endpoint (CONTRACT 15.1), or NULL */
	char *metrics_password_path; /* NULL: no basic auth */
	struct secret *metrics_password;
	struct principal_list admins;
	char *include;
	struct refresh_config refresh;
	struct config_pos pos_min_age; /* where min_age was set, for its warning; line 0 if not */
	struct ratelimit_config rate_limit;
	struct app_config **apps;
	size_t n_apps;
	struct account_config **accounts; /* sorted by name */
	size_t n_accounts;
	char **files;		  /* every file read, owning the names in config_pos */
	char **default_scopes[2]; /* per platform, shared by accounts that give none */
	struct cluster_config *cluster;
};

/* What the environment contributes to defaults ($CREDENTIALS_DIRECTORY,
 * $STATE_DIRECTORY). Passed in so that loading is reproducible in tests. */
struct config_env {
	const char *credentials_dir;
	const char *state_dir;
	int64_t now; /* for date checks (API versions); 0: the clock */
};

void config_env_from_environment(struct config_env *env);

struct config *config_free(struct config *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct config *, config_free)

struct app_config *config_find_app(const struct config *c, const char *name);
struct account_config *config_find_account(const struct config *c, const char *name);

/* Does the caller (uid, its gids) match the list? */
bool principal_list_match(const struct principal_list *l, uid_t uid, const gid_t *gids,
			  size_t n_gids);

/* SPDX-License-Identifier: MIT */
/* In-process config loading: what each key turns into. The messages, lines and
 * columns of every rejection are checked by check_config_cli.py. */
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/stat.h>

#include "conf/config-load.h"
#include "tap.h"
#include "basic/util.h"

static char tmp[] = "/tmp/igtokend-test-config-XXXXXX";

static int load(const char *name, const struct config_env *env, struct config **ret,
		struct config_diag *diag)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", tmp, name);
	return config_load(p, env, ret, diag);
}

static void test_full(void)
{
	static const struct config_env env = { 0 };
	struct config_diag d = { 0 };
	struct config *c = NULL;
	struct account_config *a;
	struct app_config *app;
	char p[512];

	tap_write_file(tmp, "shop.secret", "s3cret-value\n", 0600);
	tap_write_file(tmp, "full.yaml",
		       "vault: vault\n"
		       "key: /etc/does-not-exist/vault.key\n"
		       "socket: /run/test.sock\n"
		       "admins: [root, \"@root\", \"12345\"]\n"
		       "include: inc/*.yaml\n"
		       "refresh: {before_expiry: 10d, min_age: 1h, jitter: 0, retry_initial: 5s,\n"
		       "          retry_max: 1h, timeout: 7s, max_in_flight: 2}\n"
		       "rate_limit: {slow_above: 60, stop_above: 90}\n"
		       "apps:\n"
		       "  shop: {app_id: \"42\", app_secret_file: shop.secret, api_url: "
		       "\"https://127.0.0.1:8443/\"}\n"
		       "  fb: {platform: facebook, app_id: \"7\", app_secret_file: shop.secret}\n"
		       "accounts:\n"
		       "  zed: {app: shop, readers: [\"@root\"], sink: {path: /run/t/zed}}\n"
		       "  alpha: {app: fb, on_refresh: [/bin/true, a b]}\n",
		       0644);
	snprintf(p, sizeof(p), "%s/inc", tmp);
	mkdir(p, 0755);
	tap_write_file(tmp, "inc/a.yaml",
		       "accounts:\n  mid: {app: shop, sink: {path: /x, group: root}}\n", 0644);

	CHECK_INT(load("full.yaml", &env, &c, &d), 0);
	CHECK_INT(d.n_errors, 0);
	if (!c)
		return;
	snprintf(p, sizeof(p), "%s/vault", tmp);
	CHECK_STR(c->vault_dir, p);
	CHECK_STR(c->key_path, "/etc/does-not-exist/vault.key");
	CHECK_STR(c->socket_path, "/run/test.sock");
	CHECK_INT(c->admins.n, 3);
	CHECK(!c->admins.items[0].is_group && c->admins.items[0].resolved &&
	      c->admins.items[0].uid == 0);
	CHECK(c->admins.items[1].is_group && c->admins.items[1].gid == 0);
	CHECK(c->admins.items[2].resolved && c->admins.items[2].uid == 12345);
	CHECK_INT(c->refresh.before_expiry, 10 * 86400);
	CHECK_INT(c->refresh.min_age, 3600);
	CHECK_INT(c->refresh.jitter, 0);
	CHECK_INT(c->refresh.retry_initial, 5);
	CHECK_INT(c->refresh.retry_max, 3600);
	CHECK_INT(c->refresh.timeout, 7);
	CHECK_INT(c->refresh.max_in_flight, 2);
	CHECK_INT(c->rate_limit.slow_above, 60);
	CHECK_INT(c->rate_limit.stop_above, 90);
	CHECK_INT(c->n_apps, 2);
	CHECK_INT(c->n_accounts, 3);
	/* sorted by name, found by name */
	CHECK_STR(c->accounts[0]->name, "alpha");
	CHECK_STR(c->accounts[1]->name, "mid");
	CHECK_STR(c->accounts[2]->name, "zed");
	app = config_find_app(c, "shop");
	CHECK(app != NULL);
	if (app) {
		CHECK_STR(app->api_url, "https://127.0.0.1:8443"); /* trailing slash dropped */
		CHECK_STR(app->oauth_url, "https://api.instagram.com");
		CHECK_STR(app->authorize_url, "https://www.instagram.com/oauth/authorize");
		CHECK(app->api_version == NULL);
		CHECK_INT(app->secret->len, 12);
		CHECK(memcmp(app->secret->data, "s3cret-value", 12) == 0);
	}
	app = config_find_app(c, "fb");
	if (app) {
		CHECK_INT(app->platform, PLATFORM_FACEBOOK);
		CHECK_STR(app->api_url, "https://graph.facebook.com");
		CHECK_STR(app->api_version, "v25.0"); /* the default (CONTRACT 12.10) */
		CHECK_STR(app->authorize_url, "https://www.facebook.com/v25.0/dialog/oauth");
	}
	a = config_find_account(c, "alpha");
	CHECK(a && a->app == app);
	if (a) {
		CHECK_STR(a->scopes[0], "instagram_basic"); /* the platform's default */
		CHECK_STR(a->on_refresh[1], "a b");
		CHECK(a->sink == NULL);
	}
	a = config_find_account(c, "zed");
	if (a && a->sink) {
		CHECK_STR(a->sink->path, "/run/t/zed");
		CHECK_INT(a->sink->mode, 0400);
		CHECK_STR(a->scopes[0], "instagram_business_basic");
		CHECK(principal_list_match(&a->readers, 1000, (gid_t[]){ 5, 0 }, 2));
		CHECK(!principal_list_match(&a->readers, 0, (gid_t[]){ 5 }, 1));
	}
	a = config_find_account(c, "mid");
	if (a && a->sink)
		CHECK_INT(a->sink->mode, 0440);
	CHECK(config_find_account(c, "nope") == NULL);
	config_free(c);
	config_diag_clear(&d);
}

static void test_env_defaults(void)
{
	struct config_env env = { .credentials_dir = "/run/credentials/igtokend.service",
				  .state_dir = "/var/lib/igtokend" };
	struct config_diag d = { 0 };
	struct config *c = NULL;

	tap_write_file(tmp, "empty.yaml", "", 0644);
	CHECK_INT(load("empty.yaml", &env, &c, &d), 0);
	if (c) {
		CHECK_STR(c->vault_dir, "/var/lib/igtokend/vault");
		CHECK_STR(c->key_path, "/run/credentials/igtokend.service/vault.key");
		CHECK_STR(c->socket_path, "/run/igtokend/igtokend.sock");
		CHECK_INT(c->refresh.before_expiry, 15 * 86400);
		CHECK_INT(c->refresh.min_age, 86400);
		CHECK_INT(c->refresh.jitter, 3600);
		CHECK_INT(c->refresh.retry_initial, 60);
		CHECK_INT(c->refresh.retry_max, 6 * 3600);
		CHECK_INT(c->refresh.timeout, 30);
		CHECK_INT(c->refresh.max_in_flight, 4);
		CHECK_INT(c->rate_limit.slow_above, 75);
		CHECK_INT(c->rate_limit.stop_above, 95);
	}
	config_free(c);
	c = NULL;
	env = (struct config_env){ 0 };
	CHECK_INT(load("empty.yaml", &env, &c, &d), 0);
	if (c) {
		CHECK_STR(c->vault_dir, "/var/lib/igtokend/vault");
		CHECK_STR(c->key_path, "/etc/igtokend/vault.key");
	}
	config_free(c);
	config_diag_clear(&d);
}

/* The diagnostic lines that contain `what`. */
static size_t count_lines(const struct config_diag *d, const char *what)
{
	size_t n = 0;

	for (size_t i = 0; i < d->n_lines; i++)
		n += strstr(d->lines[i], what) != NULL;
	return n;
}

/* Second-round keys and warnings (CONTRACT 12.1, 12.7, 12.9, 12.10), at a chosen date. */
static void test_health_keys(void)
{
	struct config_env env = { .now = 1795824000 }; /* 2026-11-28 00:00 UTC */
	struct config_diag d = { 0 };
	struct config *c = NULL;

	tap_write_file(tmp, "health.yaml",
		       "refresh: {min_age: 1h, validate_every: 6h}\n"
		       "apps:\n"
		       "  ig: {app_id: \"1\", app_secret_file: shop.secret}\n"
		       "  old: {platform: facebook, app_id: \"2\", app_secret_file: shop.secret, "
		       "api_version: v21.0}\n"
		       "  gone: {platform: facebook, app_id: \"3\", app_secret_file: shop.secret, "
		       "api_version: v19.0}\n"
		       "  new: {platform: facebook, app_id: \"4\", app_secret_file: shop.secret, "
		       "api_version: v25.0, config_id: \"1234567890\"}\n",
		       0644);
	CHECK_INT(load("health.yaml", &env, &c, &d), 0);
	CHECK_INT(count_lines(&d, "health.yaml:1:20: warning: 'min_age' is under 24h"), 1);
	CHECK_INT(count_lines(&d,
			      "Graph API v21.0 is retired by Meta on 2027-01-21: move to v25.0"),
		  1);
	CHECK_INT(count_lines(&d, "Graph API v19.0 was retired by Meta on 2026-05-21"), 1);
	CHECK_INT(count_lines(&d, "v25.0"), 2); /* only in the advice of the two above */
	CHECK_INT(d.n_warnings, 3);
	if (c) {
		CHECK_INT(c->refresh.validate_every, 6 * 3600);
		CHECK_STR(config_find_app(c, "new")->config_id, "1234567890");
		CHECK(config_find_app(c, "ig")->config_id == NULL);
	}
	config_free(c);
	config_diag_clear(&d);

	/* half a year earlier v21.0 was fine */
	env.now = 1779321600 - 86400; /* 2026-05-20 */
	CHECK_INT(load("health.yaml", &env, &c, &d), 0);
	CHECK_INT(count_lines(&d, "v21.0"), 0);
	CHECK_INT(count_lines(&d, "Graph API v19.0 is retired by Meta on 2026-05-21"), 1);
	config_free(c);
	config_diag_clear(&d);

	/* facebook alone: Meta's 24-hour rule is Instagram's */
	tap_write_file(tmp, "fbonly.yaml",
		       "refresh: {min_age: 1h}\n"
		       "apps: {f: {platform: facebook, app_id: \"2\", app_secret_file: "
		       "shop.secret}}\n",
		       0644);
	CHECK_INT(load("fbonly.yaml", &env, &c, &d), 0);
	CHECK_INT(d.n_warnings, 0);
	if (c)
		CHECK_INT(c->refresh.validate_every, 86400); /* the default */
	config_free(c);
	config_diag_clear(&d);

	tap_write_file(tmp, "badhealth.yaml",
		       "refresh: {validate_every: 0}\n"
		       "apps: {f: {platform: facebook, app_id: \"2\", app_secret_file: "
		       "shop.secret, "
		       "config_id: \"12ab\"}}\n",
		       0644);
	CHECK_INT(load("badhealth.yaml", &env, &c, &d), -EINVAL);
	CHECK_INT(count_lines(&d, "'validate_every' must be at least 1s"), 1);
	CHECK_INT(count_lines(&d, "'config_id' must be the configuration's numeric id, not '12ab'"),
		  1);
	config_diag_clear(&d);
}

static void test_all_errors_reported(void)
{
	static const struct config_env env = { 0 };
	struct config_diag d = { 0 };
	struct config *c = NULL;

	tap_write_file(tmp, "bad.yaml", "refresh: {jitter: x, timeout: y}\nfoo: 1\nbar: 2\n", 0644);
	CHECK_INT(load("bad.yaml", &env, &c, &d), -EINVAL);
	CHECK(c == NULL);
	CHECK_INT(d.n_errors, 4);
	CHECK_INT(d.n_lines, 4);
	config_diag_clear(&d);
}

static void test_credential(void)
{
	struct config_env env = { .credentials_dir = tmp };
	struct config_diag d = { 0 };
	struct config *c = NULL;

	tap_write_file(tmp, "cred", "from-credential\r\n", 0400);
	tap_write_file(tmp, "cred.yaml",
		       "apps: {a: {app_id: \"1\", app_secret_credential: cred}}\n", 0644);
	CHECK_INT(load("cred.yaml", &env, &c, &d), 0);
	if (c) {
		CHECK_INT(c->apps[0]->secret->len, 15);
		CHECK(memcmp(c->apps[0]->secret->data, "from-credential", 15) == 0);
	}
	config_free(c);
	config_diag_clear(&d);
}

static void test_many_accounts(void)
{
	static const struct config_env env = { 0 };
	struct config_diag d = { 0 };
	struct config *c = NULL;
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/many.yaml", tmp);
	f = fopen(p, "w");
	fprintf(f, "apps: {a: {app_id: \"1\", app_secret_file: shop.secret}}\naccounts:\n");
	for (int i = 0; i < 20000; i++)
		fprintf(f, "  acct-%05d: {app: a}\n", 19999 - i);
	fprintf(f, "  acct-00007: {app: a}\n");
	fclose(f);
	CHECK_INT(load("many.yaml", &env, &c, &d), -EINVAL);
	CHECK_INT(d.n_errors, 1); /* the duplicate, found without quadratic scans */
	if (d.n_lines)
		CHECK(strstr(d.lines[0],
			     ":20003:3: error: account 'acct-00007' is defined twice (first at ") !=
		      NULL);
	config_diag_clear(&d);
}

int main(void)
{
	if (sodium_init() < 0 || !mkdtemp(tmp))
		return 1;
	test_full();
	test_env_defaults();
	test_all_errors_reported();
	test_health_keys();
	test_credential();
	test_many_accounts();
	tap_rmtree(tmp);
	return tap_done("test-config");
}

/* SPDX-License-Identifier: MIT */
#include "engine/reload.h"

#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "basic/log.h"
#include "basic/util.h"
#include "conf/config-load.h"
#include "engine/account-record.h"
#include "engine/cluster-link.h"
#include "engine/hooks.h"
#include "engine/operation.h"
#include "engine/sink.h"
#include "serve/metrics-http.h"

int reload_load_config(const char *path, struct config **ret, struct config_diag *out)
{
	struct config_diag diag = { 0 };
	struct config_env env;
	int r;

	config_env_from_environment(&env);
	r = config_load(path, &env, ret, &diag);
	for (size_t i = 0; i < diag.n_lines; i++)
		log_full(r < 0 ? LOG_ERR : LOG_WARNING, 0, NULL, NULL, NULL, "%s", diag.lines[i]);
	if (r < 0 && diag.n_errors == 0) {
		errno = -r;
		log_error_errno(r, "%s: error: cannot load: %m", path);
		config_diag_file(&diag, true, path, "cannot load: %m");
	}
	if (out)
		*out = diag;
	else
		config_diag_clear(&diag);
	return r;
}

/* The apps and accounts of the next configuration. */
struct plan {
	struct app **apps;
	size_t n_apps;
	struct account **accounts;
	size_t n_accounts;
};

static void plan_clear(struct plan *p)
{
	free(p->apps);
	free(p->accounts);
	*p = (struct plan){ 0 };
}

static struct app *plan_find_app(const struct plan *p, const char *name)
{
	for (size_t k = 0; k < p->n_apps; k++)
		if (streq(p->apps[k]->name, name))
			return p->apps[k];
	return NULL;
}

/* Builds the apps and accounts of config c, reusing the running ones by name
 * (with their state, queues and requests under way); reused ones are marked
 * `keep`. On failure only what was new is freed. */
static int build(struct manager *m, const struct config *c, struct plan *p)
{
	int r = 0;

	for (size_t i = 0; i < m->n_apps; i++)
		m->apps[i]->keep = false;
	for (size_t i = 0; i < m->n_accounts; i++)
		m->accounts[i]->keep = false;
	p->apps = calloc(c->n_apps + 1, sizeof(*p->apps));
	p->accounts = calloc(c->n_accounts + 1, sizeof(*p->accounts));
	if (!p->apps || !p->accounts)
		r = -ENOMEM;
	for (size_t i = 0; r >= 0 && i < c->n_apps; i++) {
		struct app *old = manager_find_app(m, c->apps[i]->name);
		if (old) {
			old->keep = true;
			p->apps[p->n_apps++] = old;
		} else if ((r = app_new(&m->ctx, c->apps[i], &p->apps[p->n_apps])) >= 0)
			p->n_apps++;
	}
	for (size_t i = 0; r >= 0 && i < c->n_accounts; i++) {
		const struct account_config *ac = c->accounts[i];
		struct account *old = manager_find_account(m, ac->name);
		struct app *app = plan_find_app(p, ac->app->name);

		if (old && old->app == app) {
			old->keep = true;
			p->accounts[p->n_accounts++] = old;
		} else if ((r = account_new(&m->ctx, ac, app, &p->accounts[p->n_accounts])) >= 0)
			p->n_accounts++;
	}
	if (r < 0) {
		for (size_t i = 0; i < p->n_accounts; i++)
			if (!p->accounts[i]->keep)
				account_free(p->accounts[i]);
		for (size_t i = 0; i < p->n_apps; i++)
			if (!p->apps[i]->keep)
				app_free(p->apps[i]);
		plan_clear(p);
	}
	return r;
}

/* An account that is not configured any more: its waiting requests are answered,
 * its sink goes, its vault file stays. */
static void drop_account(struct account *a)
{
	log_account(LOG_NOTICE, a->name, a->app->name, NULL,
		    "no longer configured: not refreshed any more (its vault file stays)");
	operation_cancel_all(a, -ENOENT, "the account was removed from the configuration");
	if (a->cfg->sink && sink_remove(a->cfg->sink) < 0)
		log_account(LOG_WARNING, a->name, a->app->name, NULL, "cannot remove its sink %s",
			    a->cfg->sink->path);
	account_free(a);
}

/* Switches to the plan and config c: departed accounts and apps go, new accounts
 * read their records, every deadline is computed afresh. */
static void switch_to(struct manager *m, struct config *c, struct plan *p)
{
	struct config *old_config;

	manager_reset_deadlines(m); /* refilled below, with the new refresh settings */
	for (size_t i = 0; i < m->n_accounts; i++)
		if (!m->accounts[i]->keep)
			drop_account(m->accounts[i]);
	for (size_t i = 0; i < m->n_apps; i++)
		if (!m->apps[i]->keep)
			app_free(m->apps[i]);
	free(m->apps);
	free(m->accounts);
	m->apps = p->apps;
	m->n_apps = p->n_apps;
	m->accounts = p->accounts;
	m->n_accounts = p->n_accounts;
	old_config = m->config;
	m->config = c;
	m->ctx.config = c;
	for (size_t i = 0; i < m->n_apps; i++)
		if (m->apps[i]->keep)
			app_configure(m->apps[i], c->apps[i]);
	for (size_t i = 0; i < m->n_accounts; i++) {
		struct account *a = m->accounts[i];
		const struct sink_config *old_sink = a->keep ? a->cfg->sink : NULL;
		if (old_sink &&
		    (!c->accounts[i]->sink || !streq(old_sink->path, c->accounts[i]->sink->path)))
			(void)sink_remove(old_sink); /* moved or dropped */
		if (a->keep)
			account_reconfigure(a, c->accounts[i]); /* the old config goes below */
		else
			a->cfg = c->accounts[i];
		a->name = a->cfg->name;
		if (!a->keep) {
			account_load(a);
			a->state = a->reported = account_compute_state(a, m->ctx.now());
			log_account(LOG_INFO, a->name, a->app->name, account_state_name(a->state),
				    "loaded");
		}
	}
	if (old_config != c)
		config_free(old_config); /* nothing points into it any more */
	hooks_set_timeout(m->hooks, c->refresh.timeout);
	for (size_t i = 0; i < m->n_accounts; i++) {
		account_changed(m->accounts[i]);
		/* /run is a tmpfs: sinks are written again at every start */
		manager_update_sink(m, m->accounts[i]);
	}
	*p = (struct plan){ 0 };
}

int reload_apply(struct manager *m, struct config *c)
{
	struct plan p = { 0 };
	int r;

	/* new apps and accounts are made under the new settings */
	const struct config *saved = m->ctx.config;
	m->ctx.config = c;
	r = build(m, c, &p);
	m->ctx.config = saved;
	if (r < 0)
		return r;
	switch_to(m, c, &p);
	return 0;
}

int reload_from_file(struct manager *m, struct config_diag *diag)
{
	struct config *c = NULL;
	int r;

	(void)sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%llu",
			 (unsigned long long)now_monotonic_usec());
	r = reload_load_config(m->config_path, &c, diag);
	if (r >= 0) {
		if (!streq(c->vault_dir, m->config->vault_dir) ||
		    !streq(c->key_path, m->config->key_path))
			log_warning("%s: 'vault' and 'key' changes take effect at the next start",
				    m->config_path);
		if (!streq(c->socket_path, m->config->socket_path))
			log_warning("%s: a 'socket' change takes effect at the next start",
				    m->config_path);
		if (!streq_ptr(c->metrics_listen, m->config->metrics_listen))
			log_warning("%s: a 'metrics_listen' change takes effect at the next start",
				    m->config_path);
		if (!c->cluster != !m->cluster)
			log_warning("%s: a 'cluster' change takes effect at the next start",
				    m->config_path);
		r = reload_apply(m, c);
		if (r >= 0 && m->cluster)
			cluster_link_reloaded(m->cluster, c);
		if (r >= 0 && m->metrics_http &&
		    metrics_http_set_password(m->metrics_http, m->config->metrics_password) < 0)
			log_error("%s: cannot apply the new metrics password", m->config_path);
		if (r < 0) {
			config_diag_file(diag, true, m->config_path, "cannot apply: %s",
					 strerror(-r));
			config_free(c);
		}
	}
	m->last_reload_failed = r < 0;
	if (r < 0)
		log_error("%s: reload refused; still running on the previous configuration",
			  m->config_path);
	else
		log_info("%s: reloaded: %zu apps, %zu accounts", m->config_path, m->n_apps,
			 m->n_accounts);
	(void)sd_notify(false, "READY=1");
	manager_update_status(m);
	return r;
}

/* SPDX-License-Identifier: MIT */
/* The manager's life: start-up (config, vault, apps, accounts, socket, READY=1),
 * reload (applied whole or not at all), shutdown, and key rotation. */
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>

#include "conf/config-load.h"
#include "basic/log.h"
#include "engine/manager-internal.h"
#include "engine/manager.h"
#include "engine/hooks.h"
#include "engine/sink.h"
#include "basic/tokencache.h"
#include "basic/util.h"

static int load_config(const char *path, struct config **ret, struct config_diag *out)
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

static const char *vault_error(int r)
{
	switch (r) {
	case -EKEYREJECTED: return "the key does not open this vault (wrong key?); nothing was changed";
	case -EINPROGRESS: return "a key rotation was interrupted; run igtokend --rotate-key again";
	case -EPERM: return "the key file is readable by group or others, or the vault directory is not ours";
	case -EINVAL: return "the key file does not hold a vault key (use igtokend --keygen)";
	default: return NULL;
	}
}

static int open_vault(const struct config *c, struct vault **ret)
{
	int r = vault_open(c->vault_dir, c->key_path, ret);
	const char *why = vault_error(r);

	if (r >= 0)
		return r;
	if (r == -ENOENT)
		return log_error_errno(r, "%s: error: vault key not found (create one with igtokend --keygen %s)",
				       c->key_path, c->key_path);
	if (why)
		return log_error_errno(r, "%s: error: %s", r == -EPERM || r == -EINVAL ? c->key_path : c->vault_dir, why);
	return log_error_errno(r, "%s: error: cannot open the vault: %m", c->vault_dir);
}

/* ---- building apps and accounts from a config ---- */

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

/* Builds the apps and accounts of config c, reusing the running ones by name
 * (with their state, queues and requests under way); reused ones are marked
 * `keep`. On failure only what was new is freed. */
static int build(struct manager *m, struct config *c, struct plan *p)
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
		} else if ((r = app_new(m, c->apps[i], c, &p->apps[p->n_apps])) >= 0)
			p->n_apps++;
	}
	for (size_t i = 0; r >= 0 && i < c->n_accounts; i++) {
		struct account_config *ac = c->accounts[i];
		struct account *old = manager_find_account(m, ac->name);
		struct app *app = NULL;

		for (size_t k = 0; k < p->n_apps; k++)
			if (streq(p->apps[k]->name, ac->app->name))
				app = p->apps[k];
		if (old && old->app == app) {
			old->keep = true;
			p->accounts[p->n_accounts++] = old;
		} else if ((r = account_new(m, ac, app, &p->accounts[p->n_accounts])) >= 0)
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

/* Switches to the plan and config c: departed accounts and apps go (vault files
 * stay), new accounts read their records, every deadline is computed afresh. */
static void apply(struct manager *m, struct config *c, struct plan *p)
{
	int64_t now = now_realtime_sec();
	struct config *old_config;

	m->n_heap = 0; /* refilled below, with the new refresh settings */
	for (size_t i = 0; i < m->n_accounts; i++) {
		struct account *a = m->accounts[i];
		a->heap_index = SIZE_MAX;
		if (a->keep)
			continue;
		log_account(LOG_NOTICE, a->name, a->app->name, NULL,
			    "no longer configured: not refreshed any more (its vault file stays)");
		if (a->cfg->sink && sink_remove(a->cfg->sink) < 0)
			log_account(LOG_WARNING, a->name, a->app->name, NULL, "cannot remove its sink %s",
				    a->cfg->sink->path);
		account_free(a);
	}
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
	for (size_t i = 0; i < m->n_apps; i++)
		if (m->apps[i]->keep)
			app_configure(m->apps[i], c->apps[i]);
	for (size_t i = 0; i < m->n_accounts; i++) {
		struct account *a = m->accounts[i];
		const struct sink_config *old_sink = a->keep ? a->cfg->sink : NULL;
		if (old_sink && (!c->accounts[i]->sink || !streq(old_sink->path, c->accounts[i]->sink->path)))
			(void)sink_remove(old_sink); /* moved or dropped */
		a->cfg = c->accounts[i];
		a->name = a->cfg->name; /* the old config goes below */
		if (!a->keep) {
			account_load(a, now);
			a->state = a->reported = account_compute_state(a, now);
			log_account(LOG_INFO, a->name, a->app->name, account_state_name(a->state), "loaded");
		}
	}
	if (old_config != c)
		config_free(old_config); /* nothing points into it any more */
	hooks_set_timeout(m->hooks, c->refresh.timeout);
	for (size_t i = 0; i < m->n_accounts; i++) {
		manager_account_changed(m, m->accounts[i]);
		/* /run is a tmpfs: sinks are written again at every start */
		manager_update_sink(m, m->accounts[i]);
	}
	*p = (struct plan){ 0 };
}

int manager_reload(struct manager *m, struct config_diag *diag)
{
	struct config *c = NULL;
	struct plan p = { 0 };
	int r;

	(void)sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long)now_monotonic_usec());
	r = load_config(m->config_path, &c, diag);
	if (r >= 0) {
		if (!streq(c->vault_dir, m->config->vault_dir) || !streq(c->key_path, m->config->key_path))
			log_warning("%s: 'vault' and 'key' changes take effect at the next start", m->config_path);
		if (!streq(c->socket_path, m->config->socket_path))
			log_warning("%s: a 'socket' change takes effect at the next start", m->config_path);
		r = build(m, c, &p);
		if (r < 0) {
			config_diag_file(diag, true, m->config_path, "cannot apply: %s", strerror(-r));
			config_free(c);
		}
	}
	if (r < 0)
		log_error("%s: reload refused; still running on the previous configuration", m->config_path);
	else {
		apply(m, c, &p);
		log_info("%s: reloaded: %zu apps, %zu accounts", m->config_path, m->n_apps, m->n_accounts);
	}
	(void)sd_notify(false, "READY=1");
	manager_update_status(m);
	return r;
}

/* ---- start and stop ---- */

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct config_diag diag = { 0 };
	(void)s;
	(void)si;
	(void)manager_reload(userdata, &diag);
	config_diag_clear(&diag);
	return 0;
}

static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	(void)userdata;
	(void)sd_notify(false, "STOPPING=1");
	log_info("stopping (%s)", strsignal((int)si->ssi_signo));
	(void)sd_event_exit(sd_event_source_get_event(s), 0);
	return 0;
}

static int listen_fd(void)
{
	int n = sd_listen_fds(true);
	if (n <= 0)
		return n < 0 ? n : -1;
	if (n > 1)
		return log_error_errno(-EINVAL, "socket activation passed %d sockets; igtokend takes one", n);
	if (sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0) <= 0)
		return log_error_errno(-EINVAL, "the socket passed by socket activation is not a listening Unix stream socket");
	return SD_LISTEN_FDS_START;
}

static void raise_fd_limit(void)
{
	struct rlimit rl;
	/* idle control clients and HTTP connections are file descriptors */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = MIN(rl.rlim_max, (rlim_t)65536);
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static struct manager *manager_free(struct manager *m)
{
	if (!m)
		return NULL;
	control_free(m->control);
	for (size_t i = 0; i < m->n_accounts; i++)
		account_free(m->accounts[i]);
	for (size_t i = 0; i < m->n_apps; i++)
		app_free(m->apps[i]);
	free(m->accounts);
	free(m->apps);
	free(m->heap);
	hooks_free(m->hooks);
	tokencache_free(m->tokens);
	sd_event_source_disable_unref(m->deadline_timer);
	sd_event_source_disable_unref(m->status_defer);
	sd_event_unref(m->event);
	vault_close(m->vault);
	config_free(m->config);
	free(m->config_path);
	free(m);
	return NULL;
}

static int setup_events(struct manager *m)
{
	sigset_t ss;
	int r;

	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGHUP);
	sigaddset(&ss, SIGCHLD);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((r = sd_event_default(&m->event)) < 0 || (r = hooks_new(m->event, &m->hooks)) < 0 ||
	    (r = sd_event_add_signal(m->event, NULL, SIGTERM, on_sigterm, m)) < 0 ||
	    (r = sd_event_add_signal(m->event, NULL, SIGINT, on_sigterm, m)) < 0 ||
	    (r = sd_event_add_signal(m->event, NULL, SIGHUP, on_sighup, m)) < 0 ||
	    (r = sd_event_set_watchdog(m->event, true)) < 0)
		return r;
	r = sd_event_add_time(m->event, &m->deadline_timer, CLOCK_REALTIME, UINT64_MAX, USEC_PER_SEC,
			      manager_on_deadline, m);
	if (r < 0)
		return r;
	(void)sd_event_source_set_description(m->deadline_timer, "refresh-deadline");
	(void)sd_event_source_set_enabled(m->deadline_timer, SD_EVENT_OFF);
	r = sd_event_add_time_relative(m->event, &m->status_defer, CLOCK_BOOTTIME, STATUS_INTERVAL_USEC,
				       USEC_PER_SEC / 10, manager_on_status_timer, m);
	if (r < 0)
		return r;
	(void)sd_event_source_set_description(m->status_defer, "status-update");
	(void)sd_event_source_set_enabled(m->status_defer, SD_EVENT_OFF);
	return 0;
}

int manager_main(const char *config_path)
{
	struct manager *m = calloc(1, sizeof(*m));
	struct plan p = { 0 };
	struct config *c = NULL;
	int r, fd;

	if (!m || !(m->config_path = strdup(config_path))) {
		free(m);
		return 1;
	}
	if (load_config(config_path, &c, NULL) < 0) {
		manager_free(m);
		return EXIT_CONFIG_ERROR;
	}
	m->config = c;
	raise_fd_limit();
	if (open_vault(c, &m->vault) < 0 || http_global_init() < 0 ||
	    tokencache_new(TOKENCACHE_SLOTS, &m->tokens) < 0) {
		manager_free(m);
		return 1;
	}
	r = setup_events(m);
	if (r < 0) {
		log_error_errno(r, "cannot set up the event loop: %m");
		manager_free(m);
		return 1;
	}
	/* the socket first: if another igtokend runs, touch nothing */
	fd = listen_fd();
	if (fd < -1 || (r = control_new(m->event, fd, c->socket_path, &manager_control_ops, m, &m->control)) < 0) {
		if (fd >= -1 && r == -EADDRINUSE)
			log_error("%s: error: another igtokend is already answering on this socket", c->socket_path);
		else if (fd >= -1)
			log_error_errno(r, "%s: error: cannot listen: %m", c->socket_path);
		manager_free(m);
		return 1;
	}
	r = build(m, c, &p);
	if (r < 0) {
		log_error_errno(r, "cannot set up the accounts: %m");
		manager_free(m);
		return 1;
	}
	apply(m, c, &p);
	m->started = now_realtime_sec();
	log_info("ready: %zu apps, %zu accounts; vault %s; socket %s", m->n_apps, m->n_accounts,
		 c->vault_dir, fd >= 0 ? "(socket-activated)" : c->socket_path);
	(void)sd_notify(false, "READY=1");
	manager_update_status(m);
	r = sd_event_loop(m->event);
	manager_free(m);
	http_global_done();
	if (r < 0) {
		log_error_errno(r, "event loop failed: %m");
		return 1;
	}
	log_info("stopped");
	return 0;
}

int manager_rotate_key(const char *config_path, const char *new_key_path)
{
	_cleanup_(config_freep) struct config *c = NULL;
	struct vault_rotate_stats st = { 0 };
	const char *why;
	int r;

	if (load_config(config_path, &c, NULL) < 0)
		return EXIT_CONFIG_ERROR;
	r = vault_rotate(c->vault_dir, c->key_path, new_key_path, &st);
	fprintf(stderr, "%s: %u resealed, %u already under the new key, %u unreadable, %u failed\n",
		c->vault_dir, st.resealed, st.already, st.unreadable, st.failed);
	if (r < 0) {
		why = vault_error(r);
		fprintf(stderr, "%s: error: key rotation not finished: %s\n", c->vault_dir, why ?: strerror(-r));
		return 1;
	}
	fprintf(stderr, "%s: now sealed under %s; point 'key:' at it (or move it over the old key file)\n",
		c->vault_dir, new_key_path);
	return 0;
}

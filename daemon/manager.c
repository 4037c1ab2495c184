/* SPDX-License-Identifier: MIT */
#include "manager.h"

#include <signal.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "log.h"
#include "util.h"
#include "vault.h"

struct manager {
	char *config_path;
	struct config *config;
	struct vault *vault;
	sd_event *event;
};

/* Loads the config, printing every diagnostic. Returns -EINVAL on errors. */
static int load_config(const char *path, struct config **ret)
{
	struct config_diag diag = { 0 };
	struct config_env env;
	int r;

	config_env_from_environment(&env);
	r = config_load(path, &env, ret, &diag);
	for (size_t i = 0; i < diag.n_lines; i++)
		log_full(r < 0 ? LOG_ERR : LOG_WARNING, 0, NULL, NULL, NULL, "%s", diag.lines[i]);
	if (r < 0 && diag.n_errors == 0)
		log_error_errno(r, "%s: error: cannot load: %m", path);
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

static int on_reload(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct manager *m = userdata;
	struct config *c = NULL;
	(void)s;
	(void)si;

	sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long)now_boottime_usec());
	if (load_config(m->config_path, &c) < 0)
		log_error("%s: reload refused; still running on the previous configuration", m->config_path);
	else {
		config_free(m->config);
		m->config = c;
		log_info("%s: reloaded (%zu apps, %zu accounts)", m->config_path, c->n_apps, c->n_accounts);
	}
	sd_notify(false, "READY=1");
	return 0;
}

static struct manager *manager_free(struct manager *m)
{
	if (!m)
		return NULL;
	sd_event_unref(m->event);
	vault_close(m->vault);
	config_free(m->config);
	free(m->config_path);
	free(m);
	return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct manager *, manager_free)

int manager_main(const char *config_path)
{
	_cleanup_(manager_freep) struct manager *m = NULL;
	sigset_t ss;
	int r;

	m = calloc(1, sizeof(*m));
	if (!m || !(m->config_path = strdup(config_path)))
		return 1;
	if (load_config(config_path, &m->config) < 0)
		return EXIT_CONFIG_ERROR;
	if (open_vault(m->config, &m->vault) < 0)
		return 1;

	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGHUP);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	r = sd_event_default(&m->event);
	if (r >= 0)
		r = sd_event_add_signal(m->event, NULL, SIGTERM, NULL, NULL);
	if (r >= 0)
		r = sd_event_add_signal(m->event, NULL, SIGINT, NULL, NULL);
	if (r >= 0)
		r = sd_event_add_signal(m->event, NULL, SIGHUP, on_reload, m);
	if (r >= 0)
		r = sd_event_set_watchdog(m->event, true);
	if (r < 0) {
		log_error_errno(r, "cannot set up the event loop: %m");
		return 1;
	}
	log_info("started: %zu apps, %zu accounts, vault %s", m->config->n_apps,
		 m->config->n_accounts, m->config->vault_dir);
	sd_notifyf(false, "READY=1\nSTATUS=%zu accounts", m->config->n_accounts);
	r = sd_event_loop(m->event);
	sd_notify(false, "STOPPING=1");
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

	if (load_config(config_path, &c) < 0)
		return EXIT_CONFIG_ERROR;
	r = vault_rotate(c->vault_dir, c->key_path, new_key_path, &st);
	fprintf(stderr, "%s: %u resealed, %u already under the new key, %u unreadable, %u failed\n",
		c->vault_dir, st.resealed, st.already, st.unreadable, st.failed);
	if (r < 0) {
		why = vault_error(r);
		fprintf(stderr, "%s: error: key rotation not finished: %s\n", c->vault_dir,
			why ?: strerror(-r));
		return 1;
	}
	fprintf(stderr, "%s: now sealed under %s; point 'key:' at it (or replace the old key file)\n",
		c->vault_dir, new_key_path);
	return 0;
}

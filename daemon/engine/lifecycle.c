/* SPDX-License-Identifier: MIT */
#include "engine/lifecycle.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/tokencache.h"
#include "basic/util.h"
#include "engine/cluster-link.h"
#include "engine/commands.h"
#include "engine/hooks.h"
#include "engine/manager.h"
#include "engine/reload.h"
#include "net/http.h"
#include "serve/control.h"
#include "store/seal.h"
#include "store/vault.h"

static const char *vault_error(int r)
{
	switch (r) {
	case -EKEYREJECTED:
		return "the key does not open this vault (wrong key?); nothing was changed";
	case -EINPROGRESS: return "a key rotation was interrupted; run igtokend --rotate-key again";
	case -EPERM: return "the vault directory is not owned by the user igtokend runs as";
	case -EINVAL: return "the key file does not hold a vault key (use igtokend --keygen)";
	case -EEXIST:
		return "an interrupted rotation to a different key is unfinished; run --rotate-key "
		       "again "
		       "with that key";
	default: return NULL;
	}
}

/* -EPERM from vault_open: the key file, or the vault directory? Say which. */
static int key_refused(const char *key_path)
{
	_cleanup_secret_ struct secret *key = NULL;
	char why[256];

	if (seal_read_key(key_path, &key) != -EPERM)
		return 0;
	file_explain(AT_FDCWD, key_path, FILE_PRIVATE, why, sizeof(why));
	return log_error_errno(-EPERM, "%s: error: the vault key %s", key_path, why);
}

static int open_vault(const struct config *c, struct vault **ret)
{
	int r = vault_open(c->vault_dir, c->key_path, ret);
	const char *why = vault_error(r);
	char holder[128] = "";

	if (r >= 0)
		return r;
	if (r == -EPERM && key_refused(c->key_path) < 0)
		return r;
	if (r == -EBUSY) {
		(void)vault_lock_holder(c->vault_dir, holder, sizeof(holder));
		return log_error_errno(r,
				       "%s: error: the vault is locked by another igtokend%s%s; "
				       "nothing was touched",
				       c->vault_dir, *holder ? ": " : "", holder);
	}
	if (r == -ENOENT)
		return log_error_errno(r,
				       "%s: error: vault key not found (create one with igtokend "
				       "--keygen %s)",
				       c->key_path, c->key_path);
	if (why)
		return log_error_errno(r, "%s: error: %s",
				       r == -EINVAL ? c->key_path : c->vault_dir, why);
	return log_error_errno(r, "%s: error: cannot open the vault: %m", c->vault_dir);
}

/* ---- signals ---- */

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct config_diag diag = { 0 };
	(void)s;
	(void)si;

	(void)reload_from_file(userdata, &diag);
	config_diag_clear(&diag);
	return 0;
}

static void stopped(void *userdata)
{
	struct manager *m = userdata;

	(void)sd_event_exit(m->event, 0);
}

static int stop_anyway(sd_event_source *s, uint64_t usec, void *userdata)
{
	(void)s;
	(void)usec;
	log_warning("cluster store: the lease was not revoked in time; it lapses by itself");
	stopped(userdata);
	return 0;
}

static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct manager *m = userdata;
	(void)s;

	(void)sd_notify(false, "STOPPING=1");
	log_info("stopping (%s)", strsignal((int)si->ssi_signo));
	/* cluster mode: the lease revoked first, so that other hosts take over now
	 * (a second signal meanwhile stops at once) */
	if (m->cluster && !m->stopping && cluster_link_stop(m->cluster, stopped, m) >= 0 &&
	    sd_event_add_time_relative(m->event, NULL, CLOCK_MONOTONIC, 3 * USEC_PER_SEC, 0,
				       stop_anyway, m) >= 0) {
		m->stopping = true;
		return 0;
	}
	stopped(m);
	return 0;
}

/* ---- cluster mode: what the link asks of the manager ---- */

static struct account *link_find(void *userdata, const char *name)
{
	return manager_find_account(userdata, name);
}

static struct app *link_find_app(void *userdata, const char *name)
{
	return manager_find_app(userdata, name);
}

static struct account **link_accounts(void *userdata, size_t *ret_n)
{
	struct manager *m = userdata;

	*ret_n = m->n_accounts;
	return m->accounts;
}

static void link_kick(void *userdata, const char *app)
{
	struct manager *m = userdata;

	for (size_t i = 0; i < m->n_accounts; i++)
		if (!m->accounts[i]->ops && streq(m->accounts[i]->app->name, app))
			account_changed(m->accounts[i]); /* files its deadline again */
	manager_update_status(m);
}

static void link_fatal(void *userdata, const char *why)
{
	struct manager *m = userdata;

	(void)sd_notifyf(false, "STATUS=stopping: %s", why);
	(void)sd_event_exit(m->event, 1);
}

static void link_changed(void *userdata)
{
	manager_update_status(userdata);
}

static const struct cluster_link_ops link_ops = {
	.find = link_find,
	.find_app = link_find_app,
	.accounts = link_accounts,
	.kick = link_kick,
	.fatal = link_fatal,
	.changed = link_changed,
};

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
	/* sd_event_new(), not the thread's default loop: sd-event checks the default
	 * loop's thread with a gettid() syscall on every iteration. */
	if ((r = sd_event_new(&m->event)) < 0 || (r = hooks_new(m->event, &m->hooks)) < 0 ||
	    (r = sd_event_add_signal(m->event, NULL, SIGTERM, on_sigterm, m)) < 0 ||
	    (r = sd_event_add_signal(m->event, NULL, SIGINT, on_sigterm, m)) < 0 ||
	    (r = sd_event_add_signal(m->event, NULL, SIGHUP, on_sighup, m)) < 0 ||
	    (r = sd_event_set_watchdog(m->event, true)) < 0)
		return r;
	m->ctx.event = m->event;
	r = engine_ctx_init(&m->ctx);
	return r < 0 ? r : manager_add_timers(m);
}

static int listen_fd(void)
{
	int n = sd_listen_fds(true);

	if (n <= 0)
		return n < 0 ? n : -1;
	if (n > 1)
		return log_error_errno(-EINVAL,
				       "socket activation passed %d sockets; igtokend takes one",
				       n);
	if (sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0) <= 0)
		return log_error_errno(-EINVAL, "the socket passed by socket activation is not a "
						"listening Unix stream socket");
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

/* The socket first: if another igtokend runs, touch nothing. */
static int open_control(struct manager *m, const struct config *c, bool *ret_activated)
{
	int fd = listen_fd(), r;

	if (fd < -1)
		return fd;
	r = control_new(m->event, fd, c->socket_path, &commands_ops, m, &m->control);
	if (r == -ENOTSOCK)
		return log_error_errno(r,
				       "%s: error: something that is not a socket is there; "
				       "igtokend "
				       "does not remove it (move it away, or set 'socket:')",
				       c->socket_path);
	if (r == -EADDRINUSE)
		return log_error_errno(r,
				       "%s: error: another igtokend is already answering on this "
				       "socket",
				       c->socket_path);
	if (r < 0)
		return log_error_errno(r, "%s: error: cannot listen: %m", c->socket_path);
	*ret_activated = fd >= 0;
	return 0;
}

static int open_metrics_http(struct manager *m, const struct config *c)
{
	int r;

	if (!c->metrics_listen)
		return 0;
	r = metrics_http_new(m->event, c->metrics_listen, c->metrics_password,
			     &commands_metrics_http_ops, m, &m->metrics_http);
	if (r < 0)
		return log_error_errno(r, "%s: error: metrics_listen %s: cannot listen: %m",
				       c->path, c->metrics_listen);
	log_info("metrics on http://%s/metrics%s", c->metrics_listen,
		 c->metrics_password ? " (basic auth)" : "");
	return 0;
}

static int start(struct manager *m, struct config *c)
{
	bool activated = false;
	int r;

	raise_fd_limit();
	if (open_vault(c, &m->vault) < 0 || http_global_init() < 0 ||
	    tokencache_new(TOKENCACHE_SLOTS, &m->tokens) < 0)
		return -EIO;
	m->ctx.vault = m->vault;
	m->ctx.tokens = m->tokens;
	m->ctx.config = c;
	r = setup_events(m);
	if (r < 0)
		return log_error_errno(r, "cannot set up the event loop: %m");
	r = open_control(m, c, &activated);
	if (r < 0)
		return r;
	r = open_metrics_http(m, c);
	if (r < 0)
		return r;
	r = reload_apply(m, c);
	if (r < 0)
		return log_error_errno(r, "cannot set up the accounts: %m");
	if (c->cluster) {
		/* READY does not wait for the store: the vault is served meanwhile */
		r = cluster_link_new(m->event, c, m->vault, &link_ops, m, &m->cluster);
		if (r < 0)
			return log_error_errno(r, "cannot set up cluster mode: %m");
		m->ctx.cluster = cluster_link_engine(m->cluster);
	}
	log_info("ready: %zu apps, %zu accounts; vault %s; socket %s", m->n_apps, m->n_accounts,
		 c->vault_dir, activated ? "(socket-activated)" : c->socket_path);
	return 0;
}

int lifecycle_run(const char *config_path)
{
	struct manager *m = NULL;
	struct config *c = NULL;
	int r;

	if (manager_new(config_path, &m) < 0)
		return 1;
	if (reload_load_config(config_path, &c, NULL) < 0) {
		manager_free(m);
		return EXIT_CONFIG_ERROR;
	}
	if (start(m, c) < 0) {
		if (m->config != c)
			config_free(c);
		manager_free(m);
		http_global_done();
		return 1;
	}
	m->started = m->ctx.now();
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
	return r > 0 ? 1 : 0;
}

int lifecycle_rotate_key(const char *config_path, const char *new_key_path)
{
	_cleanup_(config_freep) struct config *c = NULL;
	struct vault_rotate_stats st = { 0 };
	const char *why;
	int r;

	if (reload_load_config(config_path, &c, NULL) < 0)
		return EXIT_CONFIG_ERROR;
	r = vault_rotate(c->vault_dir, c->key_path, new_key_path, &st);
	if (r == -EBUSY) {
		char holder[128] = "";
		(void)vault_lock_holder(c->vault_dir, holder, sizeof(holder));
		fprintf(stderr,
			"%s: error: the vault is in use by %s; stop it first (nothing was "
			"changed)\n",
			c->vault_dir, *holder ? holder : "another process");
		return 1;
	}
	fprintf(stderr, "%s: %u resealed, %u already under the new key, %u unreadable, %u failed\n",
		c->vault_dir, st.resealed, st.already, st.unreadable, st.failed);
	if (r < 0) {
		why = vault_error(r);
		fprintf(stderr, "%s: error: key rotation not finished: %s\n", c->vault_dir,
			why ?: strerror(-r));
		return 1;
	}
	fprintf(stderr,
		"%s: now sealed under %s; point 'key:' at it (or move it over the old key file)\n",
		c->vault_dir, new_key_path);
	return 0;
}

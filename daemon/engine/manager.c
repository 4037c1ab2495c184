/* SPDX-License-Identifier: MIT */
#include "engine/manager.h"

#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "basic/log.h"
#include "basic/tokencache.h"
#include "basic/util.h"
#include "engine/cluster-link.h"
#include "engine/hooks.h"
#include "engine/operation.h"
#include "engine/sink.h"
#include "engine/view.h"
#include "meta/schedule.h"
#include "serve/control.h"
#include "serve/metrics-http.h"
#include "serve/render.h"
#include "store/vault.h"

#define STATUS_INTERVAL_USEC (1 * USEC_PER_SEC) /* at most one STATUS= a second, however busy */

static const struct engine_events manager_events;

int manager_new(const char *config_path, struct manager **ret)
{
	struct manager *m = calloc(1, sizeof(*m));

	if (!m || !(m->config_path = strdup(config_path))) {
		free(m);
		return -ENOMEM;
	}
	m->ctx = (struct engine_ctx){
		.now = engine_clock_now,
		.now_ceil = engine_clock_now_ceil,
		.random = engine_random,
		.events = &manager_events,
		.events_userdata = m,
	};
	*ret = m;
	return 0;
}

struct manager *manager_free(struct manager *m)
{
	if (!m)
		return NULL;
	control_free(m->control);
	metrics_http_free(m->metrics_http);
	m->cluster = cluster_link_free(m->cluster);
	m->ctx.cluster = NULL;
	for (size_t i = 0; i < m->n_accounts; i++) {
		operation_cancel_all(m->accounts[i], -ECANCELED, "igtokend is stopping");
		account_free(m->accounts[i]);
	}
	for (size_t i = 0; i < m->n_apps; i++)
		app_free(m->apps[i]);
	free(m->accounts);
	free(m->apps);
	free(m->heap);
	hooks_free(m->hooks);
	tokencache_free(m->tokens);
	sd_event_source_disable_unref(m->deadline_timer);
	sd_event_source_disable_unref(m->status_timer);
	engine_ctx_done(&m->ctx);
	sd_event_unref(m->event);
	vault_close(m->vault);
	config_free(m->config);
	free(m->config_path);
	free(m);
	return NULL;
}

static int cmp_account_name(const void *key, const void *e)
{
	return strcmp(key, (*(struct account *const *)e)->name);
}

struct account *manager_find_account(struct manager *m, const char *name)
{
	struct account **a;

	if (!m->n_accounts)
		return NULL;
	a = bsearch(name, m->accounts, m->n_accounts, sizeof(*m->accounts), cmp_account_name);
	return a ? *a : NULL;
}

struct app *manager_find_app(struct manager *m, const char *name)
{
	for (size_t i = 0; i < m->n_apps; i++)
		if (streq(m->apps[i]->name, name))
			return m->apps[i];
	return NULL;
}

int manager_view(struct manager *m, const struct caller *caller, bool admin, struct view_set *ret)
{
	return manager_view_part(m, caller, admin, false, ret);
}

int manager_view_part(struct manager *m, const struct caller *caller, bool admin,
		      bool accounts_only, struct view_set *ret)
{
	*ret = (struct view_set){
		.accounts_only = accounts_only,
		.accounts = m->accounts,
		.n_accounts = m->n_accounts,
		.apps = m->apps,
		.n_apps = m->n_apps,
		.admins = &m->config->admins,
		.caller = caller,
		.admin = admin,
		.started = m->started,
		.last_reload_ok = !m->last_reload_failed,
		.cluster = m->cluster,
	};
	return view_set_init(ret, m->ctx.now());
}

/* ---- deadlines: one timer for all accounts, at the earliest ---- */

static void heap_swap(struct manager *m, size_t i, size_t j)
{
	struct account *t = m->heap[i];

	m->heap[i] = m->heap[j];
	m->heap[j] = t;
	m->heap[i]->heap_index = i;
	m->heap[j]->heap_index = j;
}

static void heap_up(struct manager *m, size_t i)
{
	while (i > 0 && m->heap[(i - 1) / 2]->deadline > m->heap[i]->deadline) {
		heap_swap(m, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(struct manager *m, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, s = i;
		if (l < m->n_heap && m->heap[l]->deadline < m->heap[s]->deadline)
			s = l;
		if (r < m->n_heap && m->heap[r]->deadline < m->heap[s]->deadline)
			s = r;
		if (s == i)
			return;
		heap_swap(m, i, s);
		i = s;
	}
}

static void heap_remove(struct manager *m, struct account *a)
{
	size_t i = a->heap_index;

	if (i == SIZE_MAX)
		return;
	a->heap_index = SIZE_MAX;
	if (i != --m->n_heap) {
		m->heap[i] = m->heap[m->n_heap];
		m->heap[i]->heap_index = i;
		heap_up(m, i);
		heap_down(m, i);
	}
}

static void heap_set(struct manager *m, struct account *a, int64_t deadline)
{
	if (deadline == 0) {
		heap_remove(m, a);
		a->deadline = 0;
		return;
	}
	a->deadline = deadline;
	if (a->heap_index == SIZE_MAX) {
		if (m->n_heap == m->heap_size) {
			size_t ns = m->heap_size ? m->heap_size * 2 : 64;
			struct account **nh = reallocarray(m->heap, ns, sizeof(*nh));
			if (!nh) {
				log_account_errno(LOG_ERR, -ENOMEM, a->name, a->app->name,
						  "cannot schedule: %m");
				return;
			}
			m->heap = nh;
			m->heap_size = ns;
		}
		a->heap_index = m->n_heap;
		m->heap[m->n_heap++] = a;
	}
	heap_up(m, a->heap_index);
	heap_down(m, a->heap_index);
}

static void arm_deadline_timer(struct manager *m)
{
	int64_t now, next;
	int r;

	if (!m->deadline_timer)
		return;
	if (m->n_heap == 0) {
		(void)sd_event_source_set_enabled(m->deadline_timer, SD_EVENT_OFF);
		return;
	}
	now = m->ctx.now();
	next = m->heap[0]->deadline;
	r = sd_event_source_set_time(m->deadline_timer, (uint64_t)MAX(next, 0) * USEC_PER_SEC);
	if (r >= 0)
		r = sd_event_source_set_time_accuracy(m->deadline_timer,
						      schedule_accuracy_usec(next - now));
	if (r >= 0)
		r = sd_event_source_set_enabled(m->deadline_timer, SD_EVENT_ONESHOT);
	if (r < 0)
		log_error_errno(r, "cannot arm the refresh timer: %m");
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;
	int64_t now = m->ctx.now();
	(void)s;
	(void)usec;

	while (m->n_heap > 0 && m->heap[0]->deadline <= now) {
		struct account *a = m->heap[0];
		heap_remove(m, a);
		operation_on_deadline(a, now);
		if (a->heap_index == SIZE_MAX && !a->ops)
			account_changed(a); /* files its next deadline */
	}
	arm_deadline_timer(m);
	return 0;
}

void manager_reset_deadlines(struct manager *m)
{
	m->n_heap = 0;
	for (size_t i = 0; i < m->n_accounts; i++)
		m->accounts[i]->heap_index = SIZE_MAX;
}

/* ---- state changes ---- */

void manager_update_status(struct manager *m)
{
	struct view_set set = { 0 };
	size_t counts[_STATE_MAX] = { 0 };
	_cleanup_free_ char *summary = NULL;
	int64_t now = m->ctx.now(), next = 0;

	if (manager_view(m, NULL, true, &set) < 0)
		return;
	for (size_t i = 0; i < m->n_accounts; i++) {
		const struct account *a = m->accounts[i];
		int64_t t = account_next_refresh(a, now);
		counts[account_compute_state(a, now)]++;
		if (t > 0 && (next == 0 || t < next))
			next = t;
	}
	summary = render_summary(&set.src, counts, m->n_accounts, next);
	view_set_done(&set);
	if (summary)
		(void)sd_notifyf(false, "STATUS=%s", summary);
}

static int on_status_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	(void)s;
	(void)usec;
	manager_update_status(userdata);
	return 0;
}

static void status_soon(struct manager *m)
{
	int enabled = SD_EVENT_OFF;

	if (!m->status_timer)
		return;
	(void)sd_event_source_get_enabled(m->status_timer, &enabled);
	if (enabled != SD_EVENT_OFF)
		return;
	(void)sd_event_source_set_time_relative(m->status_timer, STATUS_INTERVAL_USEC);
	(void)sd_event_source_set_enabled(m->status_timer, SD_EVENT_ONESHOT);
}

int manager_add_timers(struct manager *m)
{
	int r = sd_event_add_time(m->event, &m->deadline_timer, CLOCK_REALTIME, UINT64_MAX,
				  USEC_PER_SEC, on_deadline, m);

	if (r < 0)
		return r;
	(void)sd_event_source_set_description(m->deadline_timer, "refresh-deadline");
	(void)sd_event_source_set_enabled(m->deadline_timer, SD_EVENT_OFF);
	r = sd_event_add_time_relative(m->event, &m->status_timer, CLOCK_BOOTTIME,
				       STATUS_INTERVAL_USEC, USEC_PER_SEC / 10, on_status_timer, m);
	if (r < 0)
		return r;
	(void)sd_event_source_set_description(m->status_timer, "status-update");
	(void)sd_event_source_set_enabled(m->status_timer, SD_EVENT_OFF);
	return 0;
}

static bool servable(enum account_state s)
{
	return s != STATE_NO_TOKEN && s != STATE_EXPIRED && s != STATE_REAUTH_REQUIRED;
}

void manager_update_sink(struct manager *m, struct account *a)
{
	_cleanup_(record_freep) struct vault_record *r = NULL;
	const struct sink_config *s = a->cfg->sink;
	int k;

	if (!s)
		return;
	if (!servable(account_compute_state(a, m->ctx.now()))) {
		/* an app must never read a dead token */
		k = sink_remove(s);
		if (k < 0)
			log_account_errno(LOG_ERR, k, a->name, a->app->name,
					  "cannot remove sink %s: %m", s->path);
		return;
	}
	k = vault_load(m->vault, a->name, &r);
	if (k >= 0)
		k = sink_write(s, r->token->data, r->token->len);
	if (k < 0)
		log_account_errno(LOG_ERR, k, a->name, a->app->name, "cannot write sink %s: %m%s",
				  s->path,
				  k == -ELOOP ? " (the path passes through a symlink)" : "");
}

static void broadcast(struct manager *m, struct account *a, const char *event,
		      enum account_state state)
{
	_cleanup_free_ char *line = NULL;

	if (!m->control)
		return;
	line = render_event(event, a->name, account_state_name(state),
			    a->has_token ? a->expires_at : 0, m->ctx.now());
	if (line)
		control_broadcast(m->control, a->name, line, strlen(line));
}

/* Journal MESSAGE_IDs of state changes; contrib/systemd/igtokend.catalog explains
 * each (tests/check-catalog keeps the two in step). */
#define MESSAGE_ID_NEEDS_HUMAN "09695e9af26f40df852baa32528666da" /* no_token, expired, reauth */
#define MESSAGE_ID_TROUBLE     "2773a147cb434b42b7a88fb16f5d0704" /* retrying, throttled, expiring */
#define MESSAGE_ID_STATE_OK    "2a3e0b22b13745bbb2e4dda21304ed1c" /* fresh again */

/* What a person should do about an account in this state (CONTRACT 15.4), and the
 * journal MESSAGE_ID whose catalog entry says more. */
static const char *what_to_do(const struct account *a, enum account_state s, char *buf, size_t len,
			      const char **ret_id)
{
	*ret_id = MESSAGE_ID_STATE_OK;
	switch (s) {
	case STATE_NO_TOKEN:
	case STATE_EXPIRED:
		*ret_id = MESSAGE_ID_NEEDS_HUMAN;
		snprintf(buf, len,
			 "a human must log in: igtokenctl enroll %s (or igtokenctl import %s)",
			 a->name, a->name);
		return buf;
	case STATE_REAUTH_REQUIRED:
		*ret_id = MESSAGE_ID_NEEDS_HUMAN;
		if (a->verdict == VERDICT_REAUTH_RECOVERABLE)
			snprintf(buf, len,
				 "the user must act on Meta's side (see above); checked again "
				 "every "
				 "validate_every; or log in anew: igtokenctl enroll %s",
				 a->name);
		else
			snprintf(buf, len,
				 "a human must log in again: igtokenctl enroll %s (or igtokenctl "
				 "import "
				 "%s)",
				 a->name, a->name);
		return buf;
	case STATE_EXPIRING:
		*ret_id = MESSAGE_ID_TROUBLE;
		snprintf(buf, len, "log in again before it expires: igtokenctl enroll %s", a->name);
		return buf;
	case STATE_RETRYING:
	case STATE_THROTTLED:
		*ret_id = MESSAGE_ID_TROUBLE;
		snprintf(buf, len, "the token is still served; details: igtokenctl status %s",
			 a->name);
		return buf;
	default: return NULL;
	}
}

static void announce(struct manager *m, struct account *a, enum account_state from,
		     enum account_state to)
{
	bool bad = to == STATE_EXPIRED || to == STATE_REAUTH_REQUIRED || to == STATE_NO_TOKEN ||
		   to == STATE_RETRYING || to == STATE_THROTTLED || to == STATE_EXPIRING;
	const char *why = bad ? a->last_error : NULL, *id, *todo;
	char hint[256];

	todo = what_to_do(a, to, hint, sizeof(hint), &id);
	log_full_id(bad ? LOG_WARNING : LOG_NOTICE, id, a->name, a->app->name,
		    account_state_name(to), "%s: %s -> %s%s%s%s%s", a->name,
		    account_state_name(from), account_state_name(to), why ? ": " : "", why ?: "",
		    todo ? "; " : "", todo ?: "");
	broadcast(m, a, "state", to);
	if (servable(from) != servable(to))
		manager_update_sink(m, a);
	if (a->cfg->on_state_change && m->hooks) {
		struct hook_facts f = {
			.account = a->name,
			.app = a->app->name,
			.state = account_state_name(to),
			.previous_state = account_state_name(from),
			.expires_at = a->has_token ? a->expires_at : 0,
			.error = why,
		};
		hooks_run(m->hooks, "on_state_change", a->cfg->on_state_change, &f);
	}
}

static void on_changed(struct account *a, void *userdata)
{
	struct manager *m = userdata;
	int64_t now = m->ctx.now();
	enum account_state s;

	if (!m->config)
		return; /* starting: every account is settled afterwards */
	s = account_compute_state(a, now);
	a->state = s;
	/* A pass through `refreshing` that ends where it began is no change. */
	if (s != STATE_REFRESHING && s != a->reported) {
		enum account_state from = a->reported;
		a->reported = s;
		announce(m, a, from, s);
	}
	heap_set(m, a, a->ops ? 0 : account_deadline(a, now));
	arm_deadline_timer(m);
	status_soon(m);
}

static void refreshed(struct manager *m, struct account *a, bool hooks)
{
	enum account_state now_state =
		a->verdict == VERDICT_NOT_EXTENDED ? STATE_EXPIRING : STATE_FRESH;

	broadcast(m, a, "refreshed", now_state);
	manager_update_sink(m, a);
	if (hooks && a->cfg->on_refresh && m->hooks) {
		struct hook_facts f = {
			.account = a->name,
			.app = a->app->name,
			.state = account_state_name(now_state),
			.previous_state = account_state_name(a->reported),
			.expires_at = a->expires_at,
		};
		hooks_run(m->hooks, "on_refresh", a->cfg->on_refresh, &f);
	}
}

static void on_refreshed(struct account *a, void *userdata)
{
	refreshed(userdata, a, true);
}

/* A token another host got: served here too; its hooks ran there (CLUSTER.md). */
static void on_adopted(struct account *a, void *userdata)
{
	refreshed(userdata, a, false);
}

static void on_written(struct account *a, void *userdata)
{
	(void)userdata;
	operation_resume(a);
}

static const struct engine_events manager_events = {
	.changed = on_changed,
	.refreshed = on_refreshed,
	.adopted = on_adopted,
	.written = on_written,
};

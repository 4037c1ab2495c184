/* SPDX-License-Identifier: MIT */
#include "engine/manager.h"

#include <sodium.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "engine/hooks.h"
#include "basic/log.h"
#include "engine/sink.h"
#include "engine/manager-internal.h"
#include "meta/schedule.h"
#include "basic/util.h"


/* ---- accessors for account.c and app.c ---- */

struct vault *manager_vault(struct manager *m)
{
	return m->vault;
}

struct tokencache *manager_tokens(struct manager *m)
{
	return m->tokens;
}

sd_event *manager_event(struct manager *m)
{
	return m->event;
}

const struct config *manager_config(struct manager *m)
{
	return m->config;
}

double manager_random(void)
{
	return (double)randombytes_uniform(1u << 30) / (double)(1u << 30);
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
				log_account_errno(LOG_ERR, -ENOMEM, a->name, a->app->name, "cannot schedule: %m");
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

	if (m->n_heap == 0) {
		(void)sd_event_source_set_enabled(m->deadline_timer, SD_EVENT_OFF);
		return;
	}
	now = now_realtime_sec();
	next = m->heap[0]->deadline;
	r = sd_event_source_set_time(m->deadline_timer, (uint64_t)MAX(next, 0) * USEC_PER_SEC);
	if (r >= 0)
		r = sd_event_source_set_time_accuracy(m->deadline_timer, schedule_accuracy_usec(next - now));
	if (r >= 0)
		r = sd_event_source_set_enabled(m->deadline_timer, SD_EVENT_ONESHOT);
	if (r < 0)
		log_error_errno(r, "cannot arm the refresh timer: %m");
}

int manager_on_deadline(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;
	int64_t now = now_realtime_sec();
	(void)s;
	(void)usec;

	while (m->n_heap > 0 && m->heap[0]->deadline <= now) {
		struct account *a = m->heap[0];
		heap_remove(m, a);
		account_on_deadline(a, now);
		if (a->heap_index == SIZE_MAX && !a->ops)
			manager_account_changed(m, a); /* re-files its next deadline */
	}
	arm_deadline_timer(m);
	return 0;
}

/* ---- state changes ---- */

int manager_on_status_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;
	(void)s;
	(void)usec;
	manager_update_status(m);
	return 0;
}

void manager_update_status(struct manager *m)
{
	_cleanup_free_ char *summary = report_summary(m);
	if (summary)
		(void)sd_notifyf(false, "STATUS=%s", summary);
}

static void status_soon(struct manager *m)
{
	int enabled = SD_EVENT_OFF;
	(void)sd_event_source_get_enabled(m->status_defer, &enabled);
	if (enabled != SD_EVENT_OFF)
		return; /* at most one STATUS= a second, however busy */
	(void)sd_event_source_set_time_relative(m->status_defer, STATUS_INTERVAL_USEC);
	(void)sd_event_source_set_enabled(m->status_defer, SD_EVENT_ONESHOT);
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
	if (!servable(account_compute_state(a, now_realtime_sec()))) {
		/* an app must never read a dead token */
		k = sink_remove(s);
		if (k < 0)
			log_account_errno(LOG_ERR, k, a->name, a->app->name, "cannot remove sink %s: %m", s->path);
		return;
	}
	k = vault_load(m->vault, a->name, &r);
	if (k >= 0)
		k = sink_write(s, r->token->data, r->token->len);
	if (k < 0)
		log_account_errno(LOG_ERR, k, a->name, a->app->name, "cannot write sink %s: %m%s", s->path,
				  k == -ELOOP ? " (the path passes through a symlink)" : "");
}

static void announce(struct manager *m, struct account *a, enum account_state from, enum account_state to)
{
	int64_t now = now_realtime_sec();
	bool bad = to == STATE_EXPIRED || to == STATE_REAUTH_REQUIRED || to == STATE_NO_TOKEN ||
		   to == STATE_RETRYING || to == STATE_THROTTLED || to == STATE_EXPIRING;

	log_full(bad ? LOG_WARNING : LOG_NOTICE, 0, a->name, a->app->name, account_state_name(to),
		 "state %s -> %s%s%s", account_state_name(from), account_state_name(to),
		 bad && a->last_error ? ": " : "", bad && a->last_error ? a->last_error : "");
	if (m->control)
		control_broadcast(m->control, a->name, report_event(a, "state", now));
	if (servable(from) != servable(to))
		manager_update_sink(m, a);
	if (a->cfg->on_state_change && m->hooks) {
		struct hook_facts f = {
			.account = a->name, .app = a->app->name,
			.state = account_state_name(to), .previous_state = account_state_name(from),
			.expires_at = a->has_token ? a->expires_at : 0,
			.error = bad ? a->last_error : NULL,
		};
		hooks_run(m->hooks, "on_state_change", a->cfg->on_state_change, &f);
	}
}

void manager_account_changed(struct manager *m, struct account *a)
{
	int64_t now = now_realtime_sec();
	enum account_state s;

	if (!m->config)
		return; /* starting: apply() settles every account afterwards */
	s = account_compute_state(a, now);
	a->state = s;
	/* A pass through `refreshing` that ends where it began is no change. */
	if (s != STATE_REFRESHING && s != a->reported) {
		enum account_state from = a->reported;
		a->reported = s;
		announce(m, a, from, s);
	}
	heap_set(m, a, a->ops ? 0 : account_deadline(a, now));
	if (m->deadline_timer)
		arm_deadline_timer(m);
	status_soon(m);
}

void manager_account_refreshed(struct manager *m, struct account *a)
{
	int64_t now = now_realtime_sec();
	enum account_state saved = a->state;

	a->state = a->verdict == VERDICT_EXPIRING ? STATE_EXPIRING : STATE_FRESH;
	if (m->control)
		control_broadcast(m->control, a->name, report_event(a, "refreshed", now));
	manager_update_sink(m, a);
	if (a->cfg->on_refresh && m->hooks) {
		struct hook_facts f = {
			.account = a->name, .app = a->app->name,
			.state = account_state_name(a->state), .previous_state = account_state_name(a->reported),
			.expires_at = a->expires_at,
		};
		hooks_run(m->hooks, "on_refresh", a->cfg->on_refresh, &f);
	}
	a->state = saved;
}


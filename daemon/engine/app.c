/* SPDX-License-Identifier: MIT */
/* An app at run time: its HTTP client, its rate-limit state, and the queue of
 * accounts waiting to send (at most max_in_flight requests at once; none while
 * Meta has paused it; above slow_above only urgent ones). */
#include <stdio.h>

#include "engine/account.h"
#include "basic/log.h"
#include "basic/util.h"
#include "store/vault.h"

static int make_http(struct app *app, const struct config *c)
{
	struct http_client_options o = {
		.name = app->name,
		.ca_file = app->cfg->ca_file,
		.timeout_sec = c->refresh.timeout,
		.max_connections = (unsigned)c->refresh.max_in_flight,
	};
	struct http_client *h;
	int r = http_client_new(manager_event(app->m), &o, &h);
	if (r < 0)
		return r;
	http_client_free(app->http);
	app->http = h;
	return 0;
}

static void persist(struct app *app)
{
	struct app_record rec = {
		.paused_until = app->rl.paused_until,
		.throttle_count = app->rl.throttle_count,
		.backoff_level = app->rl.backoff_level,
	};
	int r = vault_store_app(manager_vault(app->m), app->name, &rec);
	if (r < 0)
		log_full(LOG_WARNING, r, NULL, app->name, NULL,
			 "cannot store the rate-limit state (a restart would forget the pause): %m");
}

int app_new(struct manager *m, struct app_config *cfg, const struct config *c, struct app **ret)
{
	struct app *app = calloc(1, sizeof(*app));
	struct app_record rec = { 0 };
	int r;

	if (!app || !(app->name = strdup(cfg->name))) {
		free(app);
		return -ENOMEM;
	}
	app->m = m;
	app->cfg = cfg;
	r = make_http(app, c);
	if (r < 0) {
		app_free(app);
		return r;
	}
	/* Pauses survive a restart: Meta's lockout does not care that we restarted. */
	r = vault_load_app(manager_vault(m), app->name, &rec);
	if (r == 0) {
		app->rl.paused_until = rec.paused_until;
		app->rl.throttle_count = rec.throttle_count;
		app->rl.backoff_level = rec.backoff_level;
		app->rl.probe = rec.paused_until > 0;
	} else if (r != -ENOENT)
		log_full(LOG_WARNING, r, NULL, app->name, NULL, "rate-limit state unreadable, starting afresh: %m");
	*ret = app;
	return 0;
}

struct app *app_free(struct app *app)
{
	if (!app)
		return NULL;
	http_client_free(app->http);
	sd_event_source_disable_unref(app->wake);
	sd_event_source_disable_unref(app->reconfigure_source);
	free(app->queue);
	free(app->name);
	free(app);
	return NULL;
}

/* The CA file or timeout may have changed: a new HTTP client, once no request of
 * the old one is under way, and never from inside one of its callbacks. */
static int on_reconfigure(sd_event_source *s, void *userdata)
{
	struct app *app = userdata;
	int r;
	(void)s;

	app->reconfigure_source = sd_event_source_disable_unref(app->reconfigure_source);
	if (app->in_flight > 0)
		return 0; /* app_on_answer asks again */
	r = make_http(app, manager_config(app->m));
	if (r < 0)
		log_full(LOG_ERR, r, NULL, app->name, NULL, "cannot apply the new HTTP settings: %m");
	app->reconfigure = false;
	app_dispatch(app);
	return 0;
}

static void schedule_reconfigure(struct app *app)
{
	int r;
	if (app->reconfigure_source)
		return;
	r = sd_event_add_defer(manager_event(app->m), &app->reconfigure_source, on_reconfigure, app);
	if (r < 0)
		log_full(LOG_ERR, r, NULL, app->name, NULL, "cannot schedule the new HTTP settings: %m");
}

int app_configure(struct app *app, struct app_config *cfg)
{
	app->cfg = cfg;
	app->reconfigure = true;
	schedule_reconfigure(app);
	return 0;
}

void app_enqueue(struct app *app, struct account *a)
{
	if (a->queued)
		return;
	if (app->n_queue == app->queue_size) {
		size_t ns = app->queue_size ? app->queue_size * 2 : 16;
		struct account **nq = reallocarray(app->queue, ns, sizeof(*nq));
		if (!nq) {
			log_account_errno(LOG_ERR, -ENOMEM, a->name, app->name, "cannot queue a request: %m");
			return;
		}
		app->queue = nq;
		app->queue_size = ns;
	}
	app->queue[app->n_queue++] = a;
	a->queued = true;
	app_dispatch(app);
}

static void remove_at(struct app *app, size_t i)
{
	app->queue[i]->queued = false;
	memmove(app->queue + i, app->queue + i + 1, (app->n_queue - i - 1) * sizeof(*app->queue));
	app->n_queue--;
}

void app_dequeue(struct app *app, struct account *a)
{
	for (size_t i = 0; a->queued && i < app->n_queue; i++)
		if (app->queue[i] == a)
			remove_at(app, i);
}

bool app_paused(const struct app *app, int64_t now)
{
	return app->rl.paused_until > now;
}

static int on_wake(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct app *app = userdata;
	int64_t now = now_realtime_sec();
	(void)s;
	(void)usec;

	if (app->rl.paused_until && app->rl.paused_until <= now)
		log_app(LOG_NOTICE, app->name, "rate-limit pause over; one probe request goes first");
	app_dispatch(app);
	/* accounts shown as throttled may now be waiting or refreshing */
	for (size_t i = 0; i < app->n_queue; i++)
		manager_account_changed(app->m, app->queue[i]);
	return 0;
}

static void wake_at(struct app *app, int64_t when)
{
	uint64_t usec = (uint64_t)when * USEC_PER_SEC;
	int r;

	if (!app->wake) {
		r = sd_event_add_time(manager_event(app->m), &app->wake, CLOCK_REALTIME, usec,
				      USEC_PER_SEC / 10, on_wake, app);
		if (r >= 0)
			(void)sd_event_source_set_description(app->wake, "app-wake");
	} else {
		r = sd_event_source_set_time(app->wake, usec);
		if (r >= 0)
			r = sd_event_source_set_enabled(app->wake, SD_EVENT_ONESHOT);
	}
	if (r < 0)
		log_full(LOG_ERR, r, NULL, app->name, NULL, "cannot arm the app timer: %m");
}

void app_dispatch(struct app *app)
{
	const struct config *c = manager_config(app->m);
	int64_t now = now_realtime_sec();

	while (app->n_queue > 0 && app->in_flight < (unsigned)c->refresh.max_in_flight) {
		size_t pick = 0;
		int64_t until = ratelimit_check(&app->rl, &c->rate_limit, now,
						account_urgent(app->queue[0], now), app->in_flight);
		if (until > 0 && !app_paused(app, now) && !app->rl.probe) {
			/* held back by usage above slow_above: urgent ones may still go, and the
			 * others are looked at again as soon as the first of them turns urgent */
			for (pick = 1; pick < app->n_queue && !account_urgent(app->queue[pick], now); pick++)
				;
			if (pick < app->n_queue)
				until = 0;
			for (size_t i = 0; until > 0 && i < app->n_queue; i++) {
				int64_t u = account_urgent_at(app->queue[i]);
				if (u > now && u < until)
					until = u;
			}
		}
		if (until != 0) {
			if (until > 0)
				wake_at(app, until);
			return;
		}
		struct account *a = app->queue[pick];
		remove_at(app, pick);
		app->in_flight++;
		if (account_send(a) < 0) /* else its answer calls app_on_answer */
			app->in_flight--;
	}
}

void app_on_answer(struct app *app, const struct http_response *r, enum graph_outcome o)
{
	const struct config *c = manager_config(app->m);
	int64_t now = now_realtime_sec_ceil(), paused; /* a pause is never shorter than asked */
	struct rl_state before = app->rl;

	if (app->in_flight > 0)
		app->in_flight--;
	if (r) {
		paused = ratelimit_on_answer(&app->rl, &c->rate_limit, &c->refresh, now,
					     o == GRAPH_THROTTLED ? RL_ANSWER_THROTTLED : RL_ANSWER_OK,
					     r->app_usage, r->buc_usage, r->retry_after, manager_random());
		if (paused && paused != before.paused_until) {
			char d[32];
			format_duration(paused - now, d, sizeof(d));
			log_app(LOG_WARNING, app->name, "%s: no requests to this app for %s",
				o == GRAPH_THROTTLED ? "throttled by Meta" : "usage above stop_above", d);
			wake_at(app, paused);
		}
		if (app->rl.paused_until != before.paused_until ||
		    app->rl.throttle_count != before.throttle_count ||
		    app->rl.backoff_level != before.backoff_level)
			persist(app);
	}
	if (app->in_flight == 0 && app->reconfigure)
		schedule_reconfigure(app);
	app_dispatch(app);
}

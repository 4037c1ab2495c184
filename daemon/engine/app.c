/* SPDX-License-Identifier: MIT */
#include "engine/app.h"

#include <stdio.h>

#include "basic/log.h"
#include "basic/util.h"
#include "meta/schedule.h"
#include "store/vault.h"

static int http_submit(void *userdata, const struct secret *url, const struct secret *form,
		       http_callback_t cb, void *cb_userdata, struct http_request **ret)
{
	struct app *app = userdata;

	if (form)
		return http_post_form(app->http, url, form, cb, cb_userdata, ret);
	return http_get(app->http, url, cb, cb_userdata, ret);
}

static void http_cancel(void *userdata, struct http_request *req)
{
	(void)userdata;
	http_request_cancel(req);
}

static const struct app_transport http_transport = { .submit = http_submit, .cancel = http_cancel };

static int make_http(struct app *app)
{
	const struct refresh_config *rc = &app->ctx->config->refresh;
	struct http_client_options o = {
		.name = app->name,
		.ca_file = app->cfg->ca_file,
		.timeout_sec = rc->timeout,
		.max_connections = (unsigned)rc->max_in_flight,
	};
	struct http_client *h;
	int r = http_client_new(app->ctx->event, &o, &h);

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
	int r = vault_store_app(app->ctx->vault, app->name, &rec);

	if (r < 0)
		log_full(LOG_WARNING, r, NULL, app->name, NULL,
			 "cannot store the rate-limit state (a restart would forget the pause): "
			 "%m");
	else if (app->ctx->cluster && app->ctx->cluster->app_changed)
		app->ctx->cluster->app_changed(app->ctx->cluster->userdata, app);
}

int app_new(const struct engine_ctx *ctx, const struct app_config *cfg, struct app **ret)
{
	struct app *app = calloc(1, sizeof(*app));
	struct app_record rec = { 0 };
	int r;

	if (!app || !(app->name = strdup(cfg->name))) {
		free(app);
		return -ENOMEM;
	}
	app->ctx = ctx;
	app->cfg = cfg;
	app->transport = &http_transport;
	app->transport_userdata = app;
	r = make_http(app);
	if (r < 0) {
		app_free(app);
		return r;
	}
	/* Pauses survive a restart: Meta's lockout does not care that we restarted. */
	r = vault_load_app(ctx->vault, app->name, &rec);
	if (r == 0) {
		app->rl.paused_until = rec.paused_until;
		app->rl.throttle_count = rec.throttle_count;
		app->rl.backoff_level = rec.backoff_level;
		app->rl.probe = rec.paused_until > 0;
	} else if (r != -ENOENT)
		log_full(LOG_WARNING, r, NULL, app->name, NULL,
			 "rate-limit state unreadable, starting afresh: %m");
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
	free(app->credentials_error);
	free(app->name);
	free(app);
	return NULL;
}

void app_set_transport(struct app *app, const struct app_transport *t, void *userdata)
{
	app->transport = t;
	app->transport_userdata = userdata;
}

static void dispatch(struct app *app);
static void wake_at(struct app *app, int64_t when);

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
	r = make_http(app);
	if (r < 0)
		log_full(LOG_ERR, r, NULL, app->name, NULL,
			 "cannot apply the new HTTP settings: %m");
	app->reconfigure = false;
	dispatch(app);
	return 0;
}

static void schedule_reconfigure(struct app *app)
{
	int r;

	if (app->reconfigure_source)
		return;
	r = sd_event_add_defer(app->ctx->event, &app->reconfigure_source, on_reconfigure, app);
	if (r < 0)
		log_full(LOG_ERR, r, NULL, app->name, NULL,
			 "cannot schedule the new HTTP settings: %m");
	else
		(void)sd_event_source_set_description(app->reconfigure_source, "app-reconfigure");
}

void app_configure(struct app *app, const struct app_config *cfg)
{
	/* a new secret or id may be the fix for rejected credentials: try again at once */
	if (!secret_equal(app->cfg->secret, cfg->secret) || !streq(app->cfg->app_id, cfg->app_id)) {
		app->credentials = CREDENTIALS_UNKNOWN;
		app->credentials_error = mfree(app->credentials_error);
		app->credentials_until = 0;
		app->credentials_failures = 0;
	}
	app->cfg = cfg;
	app->reconfigure = true;
	schedule_reconfigure(app);
}

void app_enqueue(struct app *app, struct app_request *r)
{
	if (r->queued)
		return;
	if (app->n_queue == app->queue_size) {
		size_t ns = app->queue_size ? app->queue_size * 2 : 16;
		struct app_request **nq = reallocarray(app->queue, ns, sizeof(*nq));
		if (!nq) {
			log_full(LOG_ERR, -ENOMEM, NULL, app->name, NULL,
				 "cannot queue a request: %m");
			return;
		}
		app->queue = nq;
		app->queue_size = ns;
	}
	app->queue[app->n_queue++] = r;
	r->queued = true;
	dispatch(app);
}

static void remove_at(struct app *app, size_t i)
{
	app->queue[i]->queued = false;
	memmove(app->queue + i, app->queue + i + 1, (app->n_queue - i - 1) * sizeof(*app->queue));
	app->n_queue--;
}

void app_dequeue(struct app *app, struct app_request *r)
{
	for (size_t i = 0; r->queued && i < app->n_queue; i++)
		if (app->queue[i] == r)
			remove_at(app, i);
}

bool app_paused(const struct app *app, int64_t now)
{
	return app->rl.paused_until > now;
}

static void pause_changed(struct app *app)
{
	/* walk a copy: a callback may take its request out of the queue */
	size_t n = app->n_queue;
	_cleanup_free_ struct app_request **q = n ? reallocarray(NULL, n, sizeof(*q)) : NULL;

	if (!q)
		return;
	memcpy(q, app->queue, n * sizeof(*q));
	for (size_t i = 0; i < n; i++)
		if (q[i]->ops->pause_changed)
			q[i]->ops->pause_changed(q[i]);
}

void app_wake(struct app *app)
{
	if (app->rl.paused_until && app->rl.paused_until <= app->ctx->now())
		log_app(LOG_NOTICE, app->name,
			"rate-limit pause over; one probe request goes first");
	dispatch(app);
	pause_changed(app); /* requests shown as throttled may now wait or be under way */
}

static int on_wake(sd_event_source *s, uint64_t usec, void *userdata)
{
	(void)s;
	(void)usec;
	app_wake(userdata);
	return 0;
}

static void wake_at(struct app *app, int64_t when)
{
	uint64_t usec = (uint64_t)when * USEC_PER_SEC;
	int r;

	if (!app->wake) {
		r = sd_event_add_time(app->ctx->event, &app->wake, CLOCK_REALTIME, usec,
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

/* When r may go as far as its own account and the app's credentials say: 0 now. */
static int64_t own_not_before(const struct app *app, struct app_request *r, int64_t now)
{
	const struct config *c = app->ctx->config;
	int64_t t = 0, u;

	if (r->carries_credentials && r->scheduled && app->credentials == CREDENTIALS_REJECTED &&
	    app->credentials_until > now)
		t = app->credentials_until;
	if (r->ops->own && r->ops->own(r, false)) {
		u = ratelimit_check(r->ops->own(r, false), &c->rate_limit, now,
				    r->ops->urgent(r, now), 0);
		if (u > 0)
			t = MAX(t, u);
	}
	return t;
}

static int64_t earliest(int64_t a, int64_t b)
{
	return a <= 0 ? b : b <= 0 ? a : MIN(a, b);
}

/* The first waiting request that may go now, or -1 (and *wake: when to look again, 0 never). */
static ssize_t pick(struct app *app, int64_t now, int64_t *wake)
{
	const struct config *c = app->ctx->config;

	*wake = 0;
	for (size_t i = 0; i < app->n_queue; i++) {
		struct app_request *r = app->queue[i];
		int64_t t = own_not_before(app, r, now);

		if (t > 0) {
			*wake = earliest(*wake, t);
			continue;
		}
		t = ratelimit_check(&app->rl, &c->rate_limit, now, r->ops->urgent(r, now),
				    app->in_flight);
		if (t == 0)
			return (ssize_t)i;
		if (t < 0)
			return -1; /* a probe is out: nothing else goes before its answer */
		*wake = earliest(*wake, t);
		if (app_paused(app, now) || app->rl.probe)
			return -1; /* the app's pause holds them all */
		/* held back above slow_above: look again when this one turns urgent */
		if (r->ops->urgent_at(r) > now)
			*wake = earliest(*wake, r->ops->urgent_at(r));
	}
	return -1;
}

static void dispatch(struct app *app)
{
	const struct config *c = app->ctx->config;
	int64_t now = app->ctx->now(), wake;

	while (app->n_queue > 0 && !app->reconfigure &&
	       app->in_flight < (unsigned)c->refresh.max_in_flight) {
		struct app_request *r;
		ssize_t i = pick(app, now, &wake);

		if (i < 0) {
			if (wake > 0)
				wake_at(app, wake);
			return;
		}
		r = app->queue[i];
		remove_at(app, (size_t)i);
		app->in_flight++;
		if (r->ops->send(r) < 0) /* else its answer reaches app_on_answer() */
			app->in_flight--;
	}
}

void app_kick(struct app *app)
{
	dispatch(app);
}

int app_submit(struct app *app, const struct secret *url, const struct secret *form,
	       http_callback_t cb, void *userdata, struct http_request **ret)
{
	return app->transport->submit(app->transport_userdata, url, form, cb, userdata, ret);
}

static void slot_freed(struct app *app)
{
	if (app->in_flight > 0)
		app->in_flight--;
	if (app->in_flight == 0 && app->reconfigure)
		schedule_reconfigure(app);
}

void app_release(struct app *app)
{
	slot_freed(app);
	dispatch(app);
}

void app_cancel(struct app *app, struct http_request *req)
{
	if (!req)
		return;
	app->transport->cancel(app->transport_userdata, req);
	slot_freed(app);
	dispatch(app);
}

const char *app_credentials_name(enum app_credentials c)
{
	return c == CREDENTIALS_OK ? "ok" : c == CREDENTIALS_REJECTED ? "rejected" : "unknown";
}

/* What an answer to a call carrying the app's credentials says of them. */
static void credentials_answer(struct app *app, enum verdict v, const char *why, int64_t now)
{
	const struct refresh_config *rc = &app->ctx->config->refresh;
	bool was = app->credentials == CREDENTIALS_REJECTED;

	if (v == VERDICT_OK) {
		if (was)
			log_app(LOG_NOTICE, app->name, "Meta accepts the app's credentials again");
		app->credentials = CREDENTIALS_OK;
		app->credentials_error = mfree(app->credentials_error);
		app->credentials_failures = 0;
		app->credentials_until = 0;
		return;
	}
	if (v != VERDICT_CREDENTIALS)
		return;
	app->credentials = CREDENTIALS_REJECTED;
	free(app->credentials_error);
	app->credentials_error = strdup(why ?: "rejected");
	app->credentials_failures++;
	app->credentials_until =
		now + schedule_backoff(rc->retry_initial, rc->retry_max, app->credentials_failures,
				       app->ctx->random());
	if (!was)
		log_full(LOG_WARNING, 0, NULL, app->name, NULL,
			 "credentials refused: %s; fix app_id or the app secret (app_secret_file "
			 "or "
			 "app_secret_credential) and run igtokenctl reload; no account changes "
			 "state "
			 "meanwhile",
			 why ?: "");
	wake_at(app, app->credentials_until);
}

void app_take_rl(struct app *app, const struct app_record *rec, const char *from)
{
	int64_t now = app->ctx->now();
	struct app_record mine = { .paused_until = app->rl.paused_until,
				   .throttle_count = app->rl.throttle_count,
				   .backoff_level = app->rl.backoff_level };
	int r;

	if (rec->paused_until == mine.paused_until && rec->throttle_count == mine.throttle_count &&
	    rec->backoff_level == mine.backoff_level)
		return;
	app->rl.paused_until = rec->paused_until;
	app->rl.throttle_count = rec->throttle_count;
	app->rl.backoff_level = rec->backoff_level;
	app->rl.probe = rec->paused_until > now;
	r = vault_store_app(app->ctx->vault, app->name, rec);
	if (r < 0)
		log_full(LOG_WARNING, r, NULL, app->name, NULL,
			 "cannot store the rate-limit state from %s: %m", from);
	if (rec->paused_until > now && rec->paused_until != mine.paused_until) {
		char d[32];
		format_duration(rec->paused_until - now, d, sizeof(d));
		log_app(LOG_WARNING, app->name, "paused by Meta's rate limits for %s (from %s)", d,
			from);
		wake_at(app, rec->paused_until);
	}
	pause_changed(app);
}

static void log_pause(struct app *app, const char *who, int64_t paused, int64_t now, bool throttled)
{
	char d[32];

	format_duration(paused - now, d, sizeof(d));
	log_app(LOG_WARNING, app->name, "%s: no requests to %s for %s",
		throttled ? "throttled by Meta" : "usage above stop_above", who, d);
}

int64_t app_on_answer(struct app *app, const struct http_response *r, enum verdict v,
		      const char *why, struct app_request *req)
{
	const struct config *c = app->ctx->config;
	int64_t now = app->ctx->now_ceil(), paused,
		own = 0; /* a pause is never shorter than asked */
	struct rl_state before = app->rl;
	struct rl_usage all;
	struct rl_figures mine, theirs;
	bool throttled = v == VERDICT_THROTTLED, own_throttled;

	slot_freed(app);
	(void)ratelimit_parse_usage(r->app_usage, r->buc_usage, now, &all);
	ratelimit_split(&all, req && req->ops->user_id ? req->ops->user_id(req) : NULL, &theirs,
			&mine);
	/* a throttle that comes with the account's own figures is the account's (CONTRACT 12.8) */
	own_throttled = throttled && req && req->ops->own && mine.n_buc > 0;
	paused = ratelimit_apply(&app->rl, &c->rate_limit, &c->refresh, now,
				 throttled && !own_throttled ? RL_ANSWER_THROTTLED : RL_ANSWER_OK,
				 &theirs, r->retry_after, app->ctx->random());
	if (req && req->ops->own) {
		/* the account's state is made only when there is something to keep */
		struct rl_state *s = req->ops->own(req, own_throttled || mine.at);
		if (s)
			own = ratelimit_apply(s, &c->rate_limit, &c->refresh, now,
					      own_throttled ? RL_ANSWER_THROTTLED : RL_ANSWER_OK,
					      &mine, r->retry_after, app->ctx->random());
	}
	if (req && req->carries_credentials && !r->error)
		credentials_answer(app, v, why, now);
	if (paused && paused != before.paused_until) {
		log_pause(app, "this app", paused, now, throttled);
		wake_at(app, paused);
	}
	if (own)
		wake_at(app, own);
	if (app->rl.paused_until != before.paused_until ||
	    app->rl.throttle_count != before.throttle_count ||
	    app->rl.backoff_level != before.backoff_level)
		persist(app);
	dispatch(app);
	if (paused && paused != before.paused_until)
		pause_changed(app);
	return own;
}

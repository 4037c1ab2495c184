/* SPDX-License-Identifier: MIT */
#include "engine/view.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "basic/util.h"
#include "conf/graph-versions.h"
#include "serve/control.h"

#define DATA_ACCESS_WARN_DAYS 14

static void warn(struct render_account *r, const char *fmt, ...) _printf_(2, 3);
static void warn(struct render_account *r, const char *fmt, ...)
{
	va_list ap;

	if (r->n_warnings >= RENDER_WARNINGS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(r->warnings[r->n_warnings++], RENDER_WARNING_LEN, fmt, ap);
	va_end(ap);
}

/* What the account's status says needs a person soon (CONTRACT 12.11). */
static void add_warnings(const struct account *a, int64_t now, struct render_account *r)
{
	int64_t da = a->data_access_expires_at;
	char d[32], day[32];

	if (!a->has_token)
		return;
	if (da > 0 && da - now < (int64_t)DATA_ACCESS_WARN_DAYS * 86400) {
		time_t t = (time_t)da;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(day, sizeof(day), "%Y-%m-%d", &tm);
		format_duration(da > now ? da - now : now - da, d, sizeof(d));
		if (da > now)
			warn(r,
			     "data access ends in %s (%s): the user must log in again (igtokenctl "
			     "enroll) to renew it",
			     d, day);
		else
			warn(r,
			     "data access ended %s ago (%s): the user must log in again "
			     "(igtokenctl enroll) to renew it",
			     d, day);
	}
	if (a->missing_scopes)
		warn(r, "scopes in the configuration that Meta did not grant: %s",
		     a->missing_scopes);
	if (a->expiry_assumed)
		warn(r,
		     "expiry assumed: Meta has not said when this token expires (import time + 60 "
		     "days); its first refresh will tell");
}

void view_account(const struct account *a, int64_t now, struct render_account *ret)
{
	*ret = (struct render_account){
		.name = a->name,
		.app = a->app->name,
		.state = account_compute_state(a, now),
		.has_token = a->has_token,
		.facebook = a->app->cfg->platform == PLATFORM_FACEBOOK,
		.issued_at = a->issued_at,
		.expires_at = a->expires_at,
		.next_refresh = account_next_refresh(a, now),
		.last_refresh = a->last_refresh,
		.data_access_expires_at = a->data_access_expires_at,
		.failures = a->failures,
		.last_error = a->last_error,
		.user_id = a->user_id,
		.username = a->username,
		.last_validated = a->last_validated,
		.expiry_assumed = a->expiry_assumed,
		.rl = account_rl(a),
		.paused_until = account_rl(a)->paused_until > now ? account_rl(a)->paused_until : 0,
		.reads = a->reads,
		.refresh_ok = a->refresh_ok,
		.refresh_error = a->refresh_error,
		.refresh_throttled = a->refresh_throttled,
		.refresh_revoked = a->refresh_revoked,
		.refresh_expired = a->refresh_expired,
		.last_success = a->has_token
					? MAX(a->issued_at, MAX(a->last_refresh, a->last_validated))
					: 0,
	};
	add_warnings(a, now, ret);
}

void view_app(const struct app *app, int64_t now, struct render_app *ret)
{
	*ret = (struct render_app){
		.name = app->name,
		.rl = &app->rl,
		.paused_until = app_paused(app, now) ? app->rl.paused_until : 0,
		.in_flight = app->in_flight,
		.queued = app->n_queue,
		.credentials = app_credentials_name(app->credentials),
		.credentials_error =
			app->credentials == CREDENTIALS_REJECTED ? app->credentials_error : NULL,
		.api_version_expires_at = graph_version_end(app->cfg->api_version),
	};
}

static bool visible(const struct view_set *set, const struct account *a)
{
	return !set->caller || set->admin ||
	       control_may_read(set->caller, set->admins, &a->cfg->readers);
}

static bool next_account(void *userdata, size_t *cursor, struct render_account *ret)
{
	struct view_set *set = userdata;

	for (; *cursor < set->n_accounts; (*cursor)++)
		if (visible(set, set->accounts[*cursor])) {
			view_account(set->accounts[(*cursor)++], set->src.now, ret);
			return true;
		}
	return false;
}

static bool next_app(void *userdata, size_t *cursor, struct render_app *ret)
{
	struct view_set *set = userdata;

	for (; *cursor < set->n_apps && !set->accounts_only; (*cursor)++)
		if (!set->app_seen || set->app_seen[*cursor]) {
			view_app(set->apps[(*cursor)++], set->src.now, ret);
			if (set->cluster) {
				ret->clustered = true;
				ret->owner = cluster_link_owner(set->cluster, ret->name);
				ret->owned = cluster_link_owns(set->cluster, ret->name);
			}
			return true;
		}
	return false;
}

int view_set_init(struct view_set *set, int64_t now)
{
	set->app_seen = NULL;
	if (set->caller && !set->admin && !set->accounts_only) {
		set->app_seen = calloc(set->n_apps + 1, sizeof(bool));
		if (!set->app_seen)
			return -ENOMEM;
		for (size_t i = 0; i < set->n_accounts; i++)
			if (visible(set, set->accounts[i]))
				for (size_t k = 0; k < set->n_apps; k++)
					if (set->apps[k] == set->accounts[i]->app)
						set->app_seen[k] = true;
	}
	set->src = (struct render_source){
		.userdata = set,
		.now = now,
		.started = set->started,
		.last_reload_ok = set->last_reload_ok,
		.state_names = account_state_names,
		.n_states = _STATE_MAX,
		.account = next_account,
		.app = next_app,
	};
	if (set->cluster) {
		set->cluster_view = (struct render_cluster){
			.name = cluster_link_name(set->cluster),
			.host = cluster_link_host(set->cluster),
			.store_up = cluster_link_store_up(set->cluster),
			.store_error = cluster_link_error(set->cluster),
		};
		set->cluster_view.hosts =
			cluster_link_hosts(set->cluster, &set->cluster_view.n_hosts);
		set->cluster_view.differ =
			cluster_link_config_differs(set->cluster, &set->cluster_view.n_differ);
		set->src.cluster = &set->cluster_view;
	}
	return 0;
}

void view_set_done(struct view_set *set)
{
	free(set->app_seen);
	set->app_seen = NULL;
}

size_t view_set_after(const struct view_set *set, const char *name)
{
	size_t lo = 0, hi = set->n_accounts;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(set->accounts[mid]->name, name) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

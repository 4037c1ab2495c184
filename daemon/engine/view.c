/* SPDX-License-Identifier: MIT */
#include "engine/view.h"

#include "basic/util.h"
#include "serve/control.h"

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
		.reads = a->reads,
		.refresh_ok = a->refresh_ok,
		.refresh_error = a->refresh_error,
		.refresh_throttled = a->refresh_throttled,
	};
}

void view_app(const struct app *app, int64_t now, struct render_app *ret)
{
	*ret = (struct render_app){
		.name = app->name,
		.rl = &app->rl,
		.paused_until = app_paused(app, now) ? app->rl.paused_until : 0,
		.in_flight = app->in_flight,
		.queued = app->n_queue,
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

	for (; *cursor < set->n_apps; (*cursor)++)
		if (!set->app_seen || set->app_seen[*cursor]) {
			view_app(set->apps[(*cursor)++], set->src.now, ret);
			return true;
		}
	return false;
}

int view_set_init(struct view_set *set, int64_t now)
{
	set->app_seen = NULL;
	if (set->caller && !set->admin) {
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
		.state_names = account_state_names,
		.n_states = _STATE_MAX,
		.account = next_account,
		.app = next_app,
	};
	return 0;
}

void view_set_done(struct view_set *set)
{
	free(set->app_seen);
	set->app_seen = NULL;
}

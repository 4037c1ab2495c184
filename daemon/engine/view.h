/* SPDX-License-Identifier: MIT */
#pragma once

/* Accounts and apps as serve/render.h shows them, and the source that walks
 * what one caller may see (CONTRACT 11.6: an unreadable account looks like a
 * missing one). */

#include <stdbool.h>

#include "engine/account.h"
#include "engine/app.h"
#include "engine/cluster-link.h"
#include "serve/listener.h"
#include "serve/render.h"

void view_account(const struct account *a, int64_t now, struct render_account *ret);
void view_app(const struct app *app, int64_t now, struct render_app *ret);

struct view_set {
	struct account *const *accounts;
	size_t n_accounts;
	struct app *const *apps;
	size_t n_apps;
	const struct principal_list *admins;
	const struct caller *caller; /* NULL: everything */
	bool admin;
	int64_t started;
	bool last_reload_ok;
	bool accounts_only; /* no apps: a piece of a streamed status answer */
	bool *app_seen;	    /* for a non-admin: the apps of the accounts it may read */
	const struct cluster_link *cluster; /* cluster mode, or NULL */
	struct render_cluster cluster_view;
	struct render_source src;
};

/* Fills set->src (set->accounts etc. filled in by the caller). -ENOMEM. */
int view_set_init(struct view_set *set, int64_t now);
void view_set_done(struct view_set *set);
/* The cursor of the first account after name (accounts are sorted by name). */
size_t view_set_after(const struct view_set *set, const char *name);

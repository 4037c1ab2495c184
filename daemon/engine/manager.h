/* SPDX-License-Identifier: MIT */
#pragma once

/* The manager: every app and account of the configuration in force, one timer
 * for all their deadlines, and what happens when an account changes: the log
 * line, watch events, its sink, its hooks, systemd's STATUS=. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "conf/config.h"
#include "engine/account.h"
#include "engine/app.h"
#include "engine/context.h"

struct cluster_link;
struct control;
struct hooks;

struct manager {
	char *config_path;
	struct config *config;
	struct engine_ctx ctx; /* what apps and accounts are given */
	sd_event *event;
	struct vault *vault;
	struct tokencache *tokens;
	struct hooks *hooks;
	struct control *control;
	struct metrics_http *metrics_http; /* the scrape endpoint, or NULL */
	struct cluster_link *cluster;	   /* cluster mode (engine/cluster-link.h), or NULL */
	struct app **apps;		   /* sorted by name like config->apps */
	size_t n_apps;
	struct account **accounts; /* sorted by name like config->accounts */
	size_t n_accounts;
	struct account **heap; /* deadline min-heap */
	size_t n_heap, heap_size;
	sd_event_source *deadline_timer, *status_timer;
	int64_t started;	 /* Unix seconds */
	bool last_reload_failed; /* the configuration in force is older than the file */
	bool stopping;		 /* cluster mode: the lease is being revoked before the exit */
};

/* The parts that need no configuration: event loop, signals stay with the caller. */
int manager_new(const char *config_path, struct manager **ret);
struct manager *manager_free(struct manager *m);
/* Timers on the manager's event loop (after the event loop exists). */
int manager_add_timers(struct manager *m);

struct account *manager_find_account(struct manager *m, const char *name);
struct app *manager_find_app(struct manager *m, const char *name);

struct view_set;
struct caller;
/* What this caller may see (NULL: everything), for serve/render.h; view_set_done() after. */
int manager_view(struct manager *m, const struct caller *caller, bool admin, struct view_set *ret);
/* accounts_only: without apps (and cheaper for a non-admin caller). */
int manager_view_part(struct manager *m, const struct caller *caller, bool admin,
		      bool accounts_only, struct view_set *ret);

/* Files every account again in the deadline heap (after a reload). */
void manager_reset_deadlines(struct manager *m);
/* Writes or removes the account's sink file to match its state. */
void manager_update_sink(struct manager *m, struct account *a);
/* Sends STATUS= now. */
void manager_update_status(struct manager *m);

/* SPDX-License-Identifier: MIT */
#pragma once

/* The manager's state, shared by the orchestration files (manager.c, commands.c,
 * report.c). Nothing below this layer includes it. */

#include <systemd/sd-event.h>

#include "engine/account.h"
#include "conf/config.h"
#include "serve/control.h"
#include "store/vault.h"

struct manager {
	char *config_path;
	struct config *config;
	struct vault *vault;
	sd_event *event;
	struct app **apps; /* sorted like config->apps */
	size_t n_apps;
	struct account **accounts; /* sorted by name like config->accounts */
	size_t n_accounts;
	struct account **heap; /* deadline min-heap */
	size_t n_heap, heap_size;
	sd_event_source *deadline_timer;
	sd_event_source *status_defer;
	struct control *control;
	struct tokencache *tokens;
	struct hooks *hooks;
	int64_t started;
};

#define STATUS_INTERVAL_USEC (1 * USEC_PER_SEC)

int manager_on_deadline(sd_event_source *s, uint64_t usec, void *userdata);
int manager_on_status_timer(sd_event_source *s, uint64_t usec, void *userdata);

struct account *manager_find_account(struct manager *m, const char *name);
struct app *manager_find_app(struct manager *m, const char *name);
/* Re-reads the configuration; on failure keeps the old one and returns the errors. */
int manager_reload(struct manager *m, struct config_diag *diag);
void manager_update_status(struct manager *m);
/* Writes or removes the account's sink file to match its state. */
void manager_update_sink(struct manager *m, struct account *a);

/* report.c: what status, metrics and STATUS= say */
struct cJSON;
struct cJSON *report_status(struct manager *m, const struct control_caller *caller, bool admin);
char *report_metrics(struct manager *m);
char *report_summary(struct manager *m);
struct cJSON *report_event(const struct account *a, const char *event, int64_t now);

/* commands.c: the control commands */
extern const struct control_ops manager_control_ops;

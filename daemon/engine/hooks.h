/* SPDX-License-Identifier: MIT */
#pragma once

/* Hook programs (on_refresh, on_state_change): argv run with posix_spawn, no
 * shell, a clean environment holding only IGTOKEN_* facts (never the token),
 * output bounded and logged, reaped through sd-event, killed after a timeout. */

#include <stdint.h>
#include <systemd/sd-event.h>

#define HOOKS_RUNNING_MAX 16   /* at once; more wait in line */
#define HOOKS_QUEUE_MAX	  4096 /* waiting; beyond this a hook is dropped (and logged) */
#define HOOK_OUTPUT_MAX	  4096 /* bytes of a hook's output that are logged */

struct hooks;

struct hook_facts {
	const char *account, *app;
	const char *state, *previous_state;
	int64_t expires_at;
	const char *error; /* NULL: none */
};

int hooks_new(sd_event *e, struct hooks **ret);
struct hooks *hooks_free(struct hooks *h); /* kills what still runs */
void hooks_set_timeout(struct hooks *h, int64_t seconds);
/* Queues argv to run with the facts in its environment. */
void hooks_run(struct hooks *h, const char *kind, char *const *argv, const struct hook_facts *f);

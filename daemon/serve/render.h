/* SPDX-License-Identifier: MIT */
#pragma once

/* What igtokend tells about itself, rendered from plain views of its accounts
 * and apps (the engine fills them): the status answer (CONTRACT 5 and 11.7),
 * the Prometheus exposition (11.8), watch events and the one-line STATUS=. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta/ratelimit.h"

struct cJSON;

#define RENDER_WARNINGS_MAX 3
#define RENDER_STATES_MAX   16 /* at least render_source.n_states */
#define RENDER_WARNING_LEN  256

struct render_account {
	const char *name, *app;
	unsigned state; /* index into render_source.state_names */
	bool has_token, facebook, expiry_assumed;
	int64_t issued_at, expires_at, next_refresh, last_refresh, data_access_expires_at;
	int64_t last_validated; /* 0: never */
	uint32_t failures;
	const char *last_error, *user_id, *username; /* NULL: none */
	const struct rl_state *rl;		     /* its own usage figures (CONTRACT 12.8) */
	int64_t paused_until;			     /* its own pause; 0: not paused now */
	uint64_t reads, refresh_ok, refresh_error, refresh_throttled, refresh_revoked,
		refresh_expired;
	int64_t last_success; /* when Meta last confirmed the token (refresh, import, check); 0
				 never */
	unsigned n_warnings;
	char warnings[RENDER_WARNINGS_MAX][RENDER_WARNING_LEN];
};

struct render_app {
	const char *name;
	const struct rl_state *rl;
	int64_t paused_until; /* 0: not paused now */
	unsigned in_flight;
	size_t queued;
	const char *credentials;	/* ok, rejected, unknown (CONTRACT 12.2) */
	const char *credentials_error;	/* what Meta said, while rejected */
	int64_t api_version_expires_at; /* 0: not known */
	bool clustered;			/* cluster mode: owner is shown (NULL: none known) */
	bool owned;			/* by this host */
	const char *owner;
};

/* Cluster mode (CONTRACT 13): the store and the hosts as this host sees them. */
struct render_cluster {
	const char *name, *host;
	bool store_up;
	const char *store_error; /* "" when up */
	char *const *hosts;	 /* the live hosts, sorted */
	size_t n_hosts;
	char *const *differ; /* the live hosts that run another configuration */
	size_t n_differ;
};

struct render_source {
	void *userdata;
	int64_t now;
	int64_t started;     /* when the daemon started (Unix seconds) */
	bool last_reload_ok; /* the last reload (or the start) applied its configuration */
	const struct render_cluster *cluster; /* NULL: a single host */
	const char *const *state_names;
	unsigned n_states;
	/* The next account or app to show from *cursor on (only what the caller may
	 * see), advancing *cursor past it; false at the end. Start with *cursor 0. */
	bool (*account)(void *userdata, size_t *cursor, struct render_account *ret);
	bool (*app)(void *userdata, size_t *cursor, struct render_app *ret);
};

/* The status answer {"ok":true,"version","accounts":[...],"summary","apps":[...]}
 * in pieces, so that it is never whole in memory (CONTRACT 5, 11.7, 15.5);
 * each NULL without memory. */
struct render_tally {
	size_t counts[RENDER_STATES_MAX], n;
	int64_t next; /* the earliest next refresh, 0: none */
};
/* {"ok":true,"version":"…","accounts":[ */
char *render_status_head(void);
/* Up to max accounts from *cursor on, comma-separated (with a leading comma
 * after the first account of the answer), counted in t; *ret_done at the end. */
char *render_status_accounts(const struct render_source *s, size_t *cursor, size_t max,
			     struct render_tally *t, bool *ret_done);
/* ],"summary":"…","apps":[…]} */
char *render_status_tail(const struct render_source *s, const struct render_tally *t);
/* Prometheus text exposition; NULL without memory. */
char *render_metrics(const struct render_source *s);
/* A watch event line (one JSON object, no newline); NULL without memory. */
char *render_event(const char *event, const char *account, const char *state, int64_t expires_at,
		   int64_t at);
/* "12 accounts: 11 fresh, 1 reauth_required; next refresh in 3d 4h" from counts per state. */
char *render_summary(const struct render_source *s, const size_t *counts, size_t n_accounts,
		     int64_t next);

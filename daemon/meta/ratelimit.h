/* SPDX-License-Identifier: MIT */
#pragma once

/* Meta's rate limits (CONTRACT section 10): usage headers, pauses, and whether
 * a request may go out. Pure: time and randomness are passed in. */

#include <stdbool.h>
#include <stdint.h>

#include "conf/config.h"

#define RL_HEADER_MAX 16384 /* bytes of one usage header we accept */
#define RL_BUC_MAX    64    /* entries read from one X-Business-Use-Case-Usage */
#define RL_BUC_KEPT   4	    /* kept in a state: the highest (an account has one or two) */
#define RL_USAGE_TTL  3600  /* X-App-Usage is a rolling hour: older figures are unknown */

struct rl_buc {
	char id[40];
	char type[40];
	double call_count, total_time, total_cputime; /* percent, -1 unknown */
	int64_t eta_minutes; /* estimated_time_to_regain_access, -1 unknown */
};

#define RL_USAGE_FIELDS(n)                                                                         \
	bool app_known;				      /* X-App-Usage seen */                       \
	double call_count, total_time, total_cputime; /* percent, -1 unknown */                    \
	struct rl_buc buc[n];                                                                      \
	size_t n_buc;                                                                              \
	int64_t at /* when these figures arrived; 0 never */

/* The figures of one answer, as read. */
struct rl_usage {
	RL_USAGE_FIELDS(RL_BUC_MAX);
};

/* The figures a state keeps: X-App-Usage and the RL_BUC_KEPT BUC entries that
 * decide (a throttled one first, then the highest usage). Small, as every
 * account with figures of its own keeps one (CONTRACT 12.8). */
struct rl_figures {
	RL_USAGE_FIELDS(RL_BUC_KEPT);
};

struct rl_state {
	struct rl_figures usage;
	int64_t paused_until;	 /* 0: not paused */
	uint32_t throttle_count; /* throttles seen (not counting usage-based pauses) */
	uint32_t backoff_level;	 /* pauses in a row without Meta saying how long */
	bool probe;		 /* after a pause: one request before the rest */
};

/* Header parsers: -EINVAL for anything malformed or hostile (the figures then stay unknown). */
int ratelimit_parse_app_usage(const char *v, struct rl_usage *u);
int ratelimit_parse_buc(const char *v, struct rl_usage *u);
/* Retry-After: delay-seconds or an HTTP date; the wait in seconds from now (>= 0). */
int ratelimit_parse_retry_after(const char *v, int64_t now, int64_t *ret);

/* The highest known usage figure, or -1 if none is known (or the figures are stale). */
double ratelimit_max_usage(const struct rl_figures *u, int64_t now);

enum rl_answer {
	RL_ANSWER_OK,	     /* not throttled */
	RL_ANSWER_THROTTLED, /* HTTP 429 or a throttle code */
};

/* The usage figures of an answer's headers (ret->at = now), false if there are none. */
bool ratelimit_parse_usage(const char *app_usage, const char *buc_usage, int64_t now,
			   struct rl_usage *ret);
/* An X-Business-Use-Case-Usage entry of type instagram or pages keyed by an
 * account's user id concerns that account alone (CONTRACT 12.8): own gets those
 * (at 0 if none), app the rest and X-App-Usage. */
void ratelimit_split(const struct rl_usage *all, const char *user_id, struct rl_figures *app,
		     struct rl_figures *own);
/* Updates the state from an answer (u: its figures for this state, NULL or at 0 if
 * none). Returns the pause deadline if it is now paused, else 0. */
int64_t ratelimit_apply(struct rl_state *s, const struct ratelimit_config *rl,
			const struct refresh_config *rc, int64_t now, enum rl_answer answer,
			const struct rl_figures *u, const char *retry_after, double rnd);

/* Updates the state from an answer's headers (success or not). Returns the pause
 * deadline if the app is now paused, else 0. rnd in [0, 1) lengthens waits by up to 25 %. */
int64_t ratelimit_on_answer(struct rl_state *s, const struct ratelimit_config *rl,
			    const struct refresh_config *rc, int64_t now, enum rl_answer answer,
			    const char *app_usage, const char *buc_usage, const char *retry_after,
			    double rnd);

/* May a request go out now? 0: yes. >0: not before that time (re-ask then).
 * -EAGAIN: not until something else changes (an answer arrives). */
int64_t ratelimit_check(const struct rl_state *s, const struct ratelimit_config *rl, int64_t now,
			bool urgent, unsigned in_flight);

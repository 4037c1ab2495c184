/* SPDX-License-Identifier: MIT */
#pragma once

/* An app at run time: Meta's rate-limit unit (CONTRACT section 10). It owns the
 * HTTP client its requests go through and paces the requests waiting to go out:
 * at most max_in_flight at once, none while Meta has paused the app, one probe
 * after a pause, above slow_above only urgent ones. It knows nothing of accounts:
 * a waiting request is a struct app_request with callbacks. */

#include <stdbool.h>
#include <stdint.h>

#include "engine/context.h"
#include "meta/ratelimit.h"
#include "meta/verdict.h"
#include "net/http.h"

struct app_request;

struct app_request_ops {
	/* The app lets the request go now: send it through app_submit(), or return < 0 if
	 * nothing went out (the request has dealt with that itself). */
	int (*send)(struct app_request *r);
	bool (*urgent)(struct app_request *r, int64_t now);
	int64_t (*urgent_at)(struct app_request *r); /* when it turns urgent, 0 never */
	/* A pause began or ended while it waits (its account may show `throttled`). */
	void (*pause_changed)(struct app_request *r);
	/* Its account's user id: usage figures named with it are the account's own. */
	const char *(*user_id)(struct app_request *r);
	/* Its account's own rate-limit state (CONTRACT 12.8): NULL while there is
	 * none, unless take (then made; NULL without memory). NULL op: no account. */
	struct rl_state *(*own)(struct app_request *r, bool take);
};

struct app_request {
	const struct app_request_ops *ops;
	bool queued;
	bool scheduled;		  /* nobody waits for it: the credentials' backoff may hold it */
	bool carries_credentials; /* the app secret or app token goes with it */
};

enum app_credentials {
	CREDENTIALS_UNKNOWN, /* no call with them has been answered yet */
	CREDENTIALS_OK,
	CREDENTIALS_REJECTED, /* Meta refused the app's secret or id: calls with them back off */
};
const char *app_credentials_name(enum app_credentials c);

/* How requests reach Meta: the app's HTTP client, or a fake in tests. */
struct app_transport {
	int (*submit)(void *userdata, const struct secret *url, const struct secret *form,
		      http_callback_t cb, void *cb_userdata, struct http_request **ret);
	void (*cancel)(void *userdata, struct http_request *req);
};

struct app {
	const struct engine_ctx *ctx;
	char *name;
	const struct app_config *cfg; /* in the current config */
	struct http_client *http;
	const struct app_transport *transport;
	void *transport_userdata;
	struct rl_state rl;
	enum app_credentials credentials;
	char *credentials_error;   /* what Meta said, while rejected */
	int64_t credentials_until; /* calls with them wait until then */
	uint32_t credentials_failures;
	struct app_request **queue; /* waiting to go out, in order */
	size_t n_queue, queue_size;
	unsigned in_flight;
	sd_event_source *wake; /* a pause ends, or usage figures go stale */
	sd_event_source *reconfigure_source;
	bool reconfigure; /* new HTTP settings wait for requests under way */
	bool keep;	  /* reload bookkeeping */
};

/* Makes the app and reads its rate-limit state from the vault (pauses survive restarts). */
int app_new(const struct engine_ctx *ctx, const struct app_config *cfg, struct app **ret);
struct app *app_free(struct app *app);
/* After a reload: new settings, a new HTTP client once no request is under way. */
void app_configure(struct app *app, const struct app_config *cfg);
/* Tests: requests go to this transport instead of Meta. */
void app_set_transport(struct app *app, const struct app_transport *t, void *userdata);

void app_enqueue(struct app *app, struct app_request *r);
/* What the app's timer does when a pause ends or usage figures go stale: the
 * requests that may go now go, and those waiting hear the pause changed. */
void app_wake(struct app *app);
void app_dequeue(struct app *app, struct app_request *r);
/* A waiting request may go now (someone waits for it): the queue is looked at again. */
void app_kick(struct app *app);
bool app_paused(const struct app *app, int64_t now);
/* Cluster mode: the app's rate-limit state as its owner wrote it in the store
 * (from: who, for the log), kept in the vault too. */
struct app_record;
void app_take_rl(struct app *app, const struct app_record *rec, const char *from);

/* From a send callback: the request goes out; cb runs once with Meta's answer,
 * which must then reach app_on_answer(). */
int app_submit(struct app *app, const struct secret *url, const struct secret *form,
	       http_callback_t cb, void *userdata, struct http_request **ret);
/* The answer to request req of this app: rate-limit bookkeeping (the app's, and
 * req's account's), what it says of the app's credentials, then the next ones go.
 * Returns when the request's account is now paused on its own, else 0. */
int64_t app_on_answer(struct app *app, const struct http_response *r, enum verdict v,
		      const char *why, struct app_request *req);
/* A request whose send callback returned 0 without submitting (it kept its
 * turn for a while: cluster mode's intent) sent nothing after all. */
void app_release(struct app *app);
/* A request under way is given up (its account leaves): cancelled, its slot freed. */
void app_cancel(struct app *app, struct http_request *req);

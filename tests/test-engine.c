/* SPDX-License-Identifier: MIT */
/* The engine's state machine (CONTRACT section 4) without a manager or a
 * network: an account and its app get an injected clock, randomness, vault,
 * token cache and events table; Meta is a fake transport whose answers the
 * table below gives. Every transition of the section is a row. */
#include <sodium.h>
#include <stdio.h>
#include <sys/stat.h>
#include <systemd/sd-event.h>

#include "basic/tokencache.h"
#include "conf/config-load.h"
#include "engine/account.h"
#include "engine/app.h"
#include "engine/operation.h"
#include "store/seal.h"
#include "store/vault.h"
#include "tap.h"

#define T0 1800000000 /* the fake clock's start */

static int64_t fake_now = T0;
static int64_t clock_now(void)
{
	return fake_now;
}
static double no_jitter(void)
{
	return 0.0;
}

/* ---- what the account reports upward ---- */

static enum account_state seen[64];
static size_t n_seen;

static void on_changed(struct account *a, void *ud)
{
	enum account_state s = account_compute_state(a, fake_now);
	(void)ud;

	if (n_seen == 0 || seen[n_seen - 1] != s)
		if (n_seen < ELEMENTSOF(seen))
			seen[n_seen++] = s;
}

static unsigned refreshed_events;
static void on_refreshed(struct account *a, void *ud)
{
	(void)a;
	(void)ud;
	refreshed_events++;
}

static const struct engine_events events = { .changed = on_changed, .refreshed = on_refreshed };

/* ---- Meta: a fake transport ---- */

static struct {
	unsigned calls;
	char url[4096];
	http_callback_t cb;
	void *cb_userdata;
} meta;

static int fake_submit(void *ud, const struct secret *url, const struct secret *form,
		       http_callback_t cb, void *cb_userdata, struct http_request **ret)
{
	(void)ud;
	(void)form;
	meta.calls++;
	snprintf(meta.url, sizeof(meta.url), "%s", url->data);
	meta.cb = cb;
	meta.cb_userdata = cb_userdata;
	*ret = (struct http_request *)&meta; /* a handle only */
	return 0;
}

static void fake_cancel(void *ud, struct http_request *req)
{
	(void)ud;
	(void)req;
	meta.cb = NULL;
}

static const struct app_transport fake = { .submit = fake_submit, .cancel = fake_cancel };

struct answer {
	long status;
	const char *body;	 /* "TOKEN" in it becomes a fresh token */
	const char *retry_after; /* header, or NULL */
	int error;		 /* transport error (-ETIMEDOUT ...) */
};

static void respond(const struct answer *ans)
{
	char body[1024];
	static unsigned n;
	const char *t = ans->body ? strstr(ans->body, "TOKEN") : NULL;
	struct http_response r = {
		.error = ans->error,
		.error_text = ans->error ? "fake" : NULL,
		.status = ans->status,
		.retry_after = ans->retry_after,
		.sent_at = fake_now,
	};
	http_callback_t cb = meta.cb;

	if (t)
		snprintf(body, sizeof(body), "%.*sIGAAnew%u%s", (int)(t - ans->body), ans->body,
			 ++n, t + 5);
	else
		snprintf(body, sizeof(body), "%s", ans->body ?: "");
	r.body = body;
	r.body_len = strlen(body);
	meta.cb = NULL;
	CHECK(cb != NULL);
	if (cb)
		cb(&r, meta.cb_userdata);
}

/* ---- the world ---- */

static char dir[256];
static struct config *cfg;
static struct engine_ctx ctx;
static sd_event *event;

static void write_file(const char *name, const char *text, mode_t mode)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	fputs(text, f);
	fclose(f);
	chmod(p, mode);
}

static void setup(void)
{
	static const struct config_env env = { 0 };
	struct config_diag diag = { 0 };
	struct vault *v = NULL;
	struct tokencache *tc = NULL;
	char p[512];

	snprintf(dir, sizeof(dir), "/tmp/igtokend-test-engine-XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	write_file("app.secret", "s3cret\n", 0600);
	write_file("igtokend.yaml",
		   "refresh: {before_expiry: 15d, min_age: 24h, jitter: 0, retry_initial: 1m, "
		   "retry_max: 6h}\n"
		   "apps:\n"
		   "  ig: {app_id: '1', app_secret_file: app.secret}\n"
		   "  fb: {platform: facebook, app_id: '2', app_secret_file: app.secret}\n"
		   "accounts:\n"
		   "  a: {app: ig}\n"
		   "  f: {app: fb}\n",
		   0600);
	snprintf(p, sizeof(p), "%s/igtokend.yaml", dir);
	CHECK_INT(config_load(p, &env, &cfg, &diag), 0);
	config_diag_clear(&diag);
	snprintf(p, sizeof(p), "%s/key", dir);
	CHECK_INT(seal_keygen(p), 0);
	{
		char vd[512];
		snprintf(vd, sizeof(vd), "%s/vault", dir);
		CHECK_INT(vault_open(vd, p, &v), 0);
	}
	CHECK_INT(tokencache_new(16, &tc), 0);
	CHECK(sd_event_new(&event) >= 0);
	ctx = (struct engine_ctx){
		.event = event,
		.vault = v,
		.tokens = tc,
		.config = cfg,
		.now = clock_now,
		.now_ceil = clock_now,
		.random = no_jitter,
		.events = &events,
	};
}

/* An account of a new app (fresh rate-limit state), named `name`, with no token. */
static struct account *new_account(const char *name, struct app **ret_app)
{
	const struct account_config *ac = config_find_account(cfg, name);
	struct account *a = NULL;
	struct app *app = NULL;
	char p[512];

	snprintf(p, sizeof(p), "%s/vault/%s.token", dir, name);
	unlink(p);
	snprintf(p, sizeof(p), "%s/vault/%s.app", dir, ac->app->name);
	unlink(p);
	CHECK_INT(app_new(&ctx, ac->app, &app), 0);
	app_set_transport(app, &fake, NULL);
	CHECK_INT(account_new(&ctx, ac, app, &a), 0);
	account_load(a);
	*ret_app = app;
	return a;
}

static void free_account(struct account *a, struct app *app)
{
	operation_cancel_all(a, -ECANCELED, NULL);
	account_free(a);
	app_free(app);
}

/* ---- starting points ---- */

static int last_error;
static unsigned answered;
static void done(struct account *a, int error, const char *message, void *ud)
{
	(void)a;
	(void)message;
	(void)ud;
	last_error = error;
	answered++;
}

static void give_token(struct account *a, int64_t lifetime)
{
	struct secret *t = NULL;
	struct new_token n = { .issued_at = fake_now - 2 * 86400,
			       .expires_at = fake_now + lifetime };

	CHECK_INT(secret_from_mem("IGAAstart", 9, &t), 0);
	n.token = t;
	CHECK_INT(account_store_token(a, &n), 0);
	secret_free(t);
}

enum start {
	START_NO_TOKEN,
	START_FRESH,	/* 10 days left: refresh due (before_expiry 15d) */
	START_RETRYING, /* one failure behind it */
	START_THROTTLED,
	START_EXPIRING,
	START_EXPIRED,
	START_REAUTH,
};

static void bring_to(struct account *a, enum start s)
{
	static const struct answer throttle = { .status = 429, .body = "{}", .retry_after = "600" };

	if (s != START_NO_TOKEN)
		give_token(a, 10 * 86400);
	switch (s) {
	case START_RETRYING: account_note_failure(a, "HTTP 503 from Meta"); break;
	case START_EXPIRING: account_set_verdict(a, VERDICT_NOT_EXTENDED, "no extension"); break;
	case START_EXPIRED: account_set_verdict(a, VERDICT_EXPIRED, "190/463"); break;
	case START_REAUTH: account_set_verdict(a, VERDICT_REAUTH, "190/460"); break;
	case START_THROTTLED:
		/* Meta throttles a refresh; the next one waits in the paused app's queue */
		operation_refresh(a, NULL, NULL);
		respond(&throttle);
		operation_refresh(a, NULL, NULL);
		break;
	default: break;
	}
}

/* ---- the table ---- */

enum event {
	EV_REFRESH,	/* an admin's refresh */
	EV_IMPORT,	/* an admin's import of a long-lived token */
	EV_TIME_PASSES, /* the clock passes the expiry */
	EV_PAUSE_ENDS,	/* the app's pause is over: the waiting refresh goes out */
	EV_DEADLINE,	/* the schedule's own refresh */
};

#define OK_TOKEN "{\"access_token\":\"TOKEN\",\"token_type\":\"bearer\",\"expires_in\":5184000}"
#define ME	 "{\"user_id\":17841405793187218,\"username\":\"u\"}"
#define E(c, s)                                                                                    \
	"{\"error\":{\"message\":\"m\",\"type\":\"OAuthException\",\"code\":" #c                   \
	",\"error_subcode\":" #s "}}"

static const struct row {
	const char *what;
	const char *account; /* a: instagram, f: facebook */
	enum start from;
	enum event event;
	struct answer answers[3];  /* Meta's, in order (none: Meta must not be called) */
	enum account_state during; /* while the first request is out */
	enum account_state to;
	int error; /* what the operation answered (-1: nobody waits for it) */
} rows[] = {
/* clang-format off */
#define A(s, b) { .status = (s), .body = (b) }
	{ "import: no_token -> fresh", "a", START_NO_TOKEN, EV_IMPORT,
	  { A(200, ME), A(200, OK_TOKEN) }, STATE_NO_TOKEN, STATE_FRESH, 0 },
	{ "refresh ok: fresh -> refreshing -> fresh", "a", START_FRESH, EV_REFRESH,
	  { A(200, OK_TOKEN) }, STATE_REFRESHING, STATE_FRESH, 0 },
	{ "the schedule's refresh ok: fresh -> refreshing -> fresh", "a", START_FRESH, EV_DEADLINE,
	  { A(200, OK_TOKEN) }, STATE_REFRESHING, STATE_FRESH, -1 },
	{ "5xx: fresh -> retrying", "a", START_FRESH, EV_REFRESH,
	  { A(503, "<html>down</html>") }, STATE_REFRESHING, STATE_RETRYING, -EREMOTEIO },
	{ "code 2, is_transient: fresh -> retrying", "a", START_FRESH, EV_REFRESH,
	  { A(500, "{\"error\":{\"code\":2,\"is_transient\":true,\"message\":\"x\"}}") },
	  STATE_REFRESHING, STATE_RETRYING, -EREMOTEIO },
	{ "timeout: fresh -> retrying", "a", START_FRESH, EV_REFRESH,
	  { { .error = -ETIMEDOUT } }, STATE_REFRESHING, STATE_RETRYING, -EREMOTEIO },
	{ "190/463: fresh -> expired", "a", START_FRESH, EV_REFRESH,
	  { A(400, E(190, 463)) }, STATE_REFRESHING, STATE_EXPIRED, -EKEYEXPIRED },
	{ "190/460: fresh -> reauth_required", "a", START_FRESH, EV_REFRESH,
	  { A(400, E(190, 460)) }, STATE_REFRESHING, STATE_REAUTH_REQUIRED, -EKEYREVOKED },
	{ "code 10: fresh -> reauth_required", "a", START_FRESH, EV_REFRESH,
	  { A(400, E(10, 0)) }, STATE_REFRESHING, STATE_REAUTH_REQUIRED, -EKEYREVOKED },
	{ "code 200: fresh -> reauth_required", "a", START_FRESH, EV_REFRESH,
	  { A(403, E(200, 0)) }, STATE_REFRESHING, STATE_REAUTH_REQUIRED, -EKEYREVOKED },
	{ "code 4 throttles the app, not the token: fresh stays", "a", START_FRESH, EV_REFRESH,
	  { A(403, E(4, 0)) }, STATE_REFRESHING, STATE_FRESH, -EBUSY },
	{ "429 on the schedule's refresh: the app pauses, fresh stays", "a", START_FRESH, EV_DEADLINE,
	  { { .status = 429, .body = "{}", .retry_after = "600" } }, STATE_REFRESHING, STATE_FRESH, -1 },
	{ "pause over, the probe succeeds: throttled -> refreshing -> fresh", "a", START_THROTTLED,
	  EV_PAUSE_ENDS, { A(200, OK_TOKEN) }, STATE_REFRESHING, STATE_FRESH, -1 },
	{ "retry ok: retrying -> fresh", "a", START_RETRYING, EV_REFRESH,
	  { A(200, OK_TOKEN) }, STATE_REFRESHING, STATE_FRESH, 0 },
	{ "retry meets a verdict: retrying -> reauth_required", "a", START_RETRYING, EV_REFRESH,
	  { A(400, E(190, 467)) }, STATE_REFRESHING, STATE_REAUTH_REQUIRED, -EKEYREVOKED },
	{ "retry fails again: retrying -> retrying", "a", START_RETRYING, EV_REFRESH,
	  { A(502, "bad gateway") }, STATE_REFRESHING, STATE_RETRYING, -EREMOTEIO },
	{ "facebook re-exchange without extension: fresh -> expiring", "f", START_FRESH, EV_REFRESH,
	  { A(200, "{\"access_token\":\"TOKEN\",\"expires_in\":864000}") },
	  STATE_REFRESHING, STATE_EXPIRING, 0 },
	{ "time passes: expiring -> expired", "f", START_EXPIRING, EV_TIME_PASSES,
	  { { 0 } }, STATE_EXPIRING, STATE_EXPIRED, -1 },
	{ "time passes: fresh -> expired", "a", START_FRESH, EV_TIME_PASSES,
	  { { 0 } }, STATE_FRESH, STATE_EXPIRED, -1 },
	{ "time passes: retrying -> expired", "a", START_RETRYING, EV_TIME_PASSES,
	  { { 0 } }, STATE_RETRYING, STATE_EXPIRED, -1 },
	{ "import: reauth_required -> fresh", "a", START_REAUTH, EV_IMPORT,
	  { A(200, ME), A(200, OK_TOKEN) }, STATE_REAUTH_REQUIRED, STATE_FRESH, 0 },
	{ "import: expired -> fresh", "a", START_EXPIRED, EV_IMPORT,
	  { A(200, ME), A(200, OK_TOKEN) }, STATE_EXPIRED, STATE_FRESH, 0 },
	{ "an import Meta refuses: reauth_required stays", "a", START_REAUTH, EV_IMPORT,
	  { A(400, E(190, 467)) }, STATE_REAUTH_REQUIRED, STATE_REAUTH_REQUIRED, -EKEYREVOKED },
	{ "refresh of a revoked token: answered without a call", "a", START_REAUTH, EV_REFRESH,
	  { { 0 } }, STATE_REAUTH_REQUIRED, STATE_REAUTH_REQUIRED, -EKEYREVOKED },
	{ "refresh of an expired token: answered without a call", "a", START_EXPIRED, EV_REFRESH,
	  { { 0 } }, STATE_EXPIRED, STATE_EXPIRED, -EKEYEXPIRED },
	{ "refresh without a token: answered without a call", "a", START_NO_TOKEN, EV_REFRESH,
	  { { 0 } }, STATE_NO_TOKEN, STATE_NO_TOKEN, -ENOKEY },
	{ "refresh while the app is paused: throttled, without a call", "a", START_THROTTLED, EV_REFRESH,
	  { { 0 } }, STATE_THROTTLED, STATE_THROTTLED, -EBUSY },
#undef A
	/* clang-format on */
};

static bool served(struct account *a)
{
	struct token_view v = { 0 };
	int r = account_read_token(a, fake_now, &v);

	token_view_clear(&v);
	return r == 0;
}

static void run(const struct row *row)
{
	struct app *app;
	struct account *a;
	struct secret *tok = NULL;
	unsigned calls_before;
	enum account_state during;
	size_t i;

	fake_now = T0;
	a = new_account(row->account, &app);
	bring_to(a, row->from);
	n_seen = 0;
	last_error = -1;
	answered = 0;
	calls_before = meta.calls;
	switch (row->event) {
	case EV_REFRESH: operation_refresh(a, done, NULL); break;
	case EV_DEADLINE: operation_on_deadline(a, fake_now); break;
	case EV_IMPORT:
		(void)secret_from_mem("IGAAimported", 12, &tok);
		operation_import(a, tok, false, done, NULL);
		break;
	case EV_TIME_PASSES:
		fake_now = a->expires_at + 1;
		operation_on_deadline(a, fake_now);
		break;
	case EV_PAUSE_ENDS:
		fake_now = app->rl.paused_until + 1;
		app_wake(app); /* what the app's timer does then */
		break;
	}
	during = account_compute_state(a, fake_now);
	if (row->answers[0].status || row->answers[0].error)
		CHECK_INT(during, row->during);
	for (i = 0;
	     i < ELEMENTSOF(row->answers) && (row->answers[i].status || row->answers[i].error); i++)
		respond(&row->answers[i]);
	CHECK_INT(meta.calls - calls_before, i);
	if (account_compute_state(a, fake_now) != row->to || last_error != row->error)
		fprintf(stderr, "row '%s': state %s (want %s), error %d (want %d)\n", row->what,
			account_state_name(account_compute_state(a, fake_now)),
			account_state_name(row->to), last_error, row->error);
	CHECK_INT(account_compute_state(a, fake_now), row->to);
	CHECK_INT(last_error, row->error);
	/* the token in hand is served exactly while Meta has not declared it dead */
	CHECK_INT(served(a), row->to != STATE_NO_TOKEN && row->to != STATE_EXPIRED &&
				     row->to != STATE_REAUTH_REQUIRED);
	free_account(a, app);
}

int main(void)
{
	CHECK(sodium_init() >= 0);
	setup();
	for (size_t i = 0; i < ELEMENTSOF(rows); i++)
		run(&rows[i]);
	fprintf(stderr, "%zu transitions\n", ELEMENTSOF(rows));
	tokencache_free(ctx.tokens);
	vault_close(ctx.vault);
	config_free(cfg);
	sd_event_unref(event);
	tap_rmtree(dir);
	return tap_done("test-engine");
}

/* SPDX-License-Identifier: MIT */
/* test-engine's world: a fake clock, the events an account reports, a fake
 * transport standing in for Meta, a vault and config in a temporary directory,
 * and the starting points of the table's rows. */
#include "engine-world.h"

#include <sodium.h>
#include <stdio.h>
#include <sys/stat.h>

#include "basic/tokencache.h"
#include "conf/config-load.h"
#include "engine/account-record.h"
#include "engine/token-write.h"
#include "store/seal.h"
#define TAP_SHARED
#include "tap.h"

int64_t fake_now = T0;
static int64_t clock_now(void)
{
	return fake_now;
}
static double no_jitter(void)
{
	return 0.0;
}

/* ---- what the account reports upward ---- */

enum account_state seen[64];
size_t n_seen;

static void on_changed(struct account *a, void *ud)
{
	enum account_state s = account_compute_state(a, fake_now);
	(void)ud;

	if (n_seen == 0 || seen[n_seen - 1] != s)
		if (n_seen < ELEMENTSOF(seen))
			seen[n_seen++] = s;
}

unsigned refreshed_events;
static void on_refreshed(struct account *a, void *ud)
{
	(void)a;
	(void)ud;
	refreshed_events++;
}

static const struct engine_events events = { .changed = on_changed, .refreshed = on_refreshed };

/* ---- Meta: a fake transport ---- */

struct fake_meta meta;

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

void respond(const struct answer *ans)
{
	char body[1024];
	static unsigned n;
	const char *t = ans->body ? strstr(ans->body, "TOKEN") : NULL;
	struct http_response r = {
		.error = ans->error,
		.error_text = ans->error ? "fake" : NULL,
		.status = ans->status,
		.retry_after = ans->retry_after,
		.buc_usage = ans->buc,
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
	if (!hold_writes)
		settle();
}

bool hold_writes;

void settle(void)
{
	if (ctx.written)
		vault_flush(ctx.vault);
}

void use_writer(bool on)
{
	if (on && !ctx.written)
		CHECK_INT(engine_ctx_init(&ctx), 0);
	else if (!on)
		engine_ctx_done(&ctx);
}

/* ---- the world ---- */

char dir[256];
struct config *cfg;
struct engine_ctx ctx;
sd_event *event;

void setup(void)
{
	static const struct config_env env = { 0 };
	struct config_diag diag = { 0 };
	struct vault *v = NULL;
	struct tokencache *tc = NULL;
	char p[512];

	snprintf(dir, sizeof(dir), "/tmp/igtokend-test-engine-XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	tap_write_file(dir, "app.secret", "s3cret\n", 0600);
	tap_write_file(dir, "igtokend.yaml",
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
struct account *new_account(const char *name, struct app **ret_app)
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

void free_account(struct account *a, struct app *app)
{
	operation_cancel_all(a, -ECANCELED, NULL);
	account_free(a);
	app_free(app);
}

/* ---- starting points ---- */

int last_error;
unsigned answered;
void done(struct account *a, int error, const char *message, void *ud)
{
	(void)a;
	(void)message;
	(void)ud;
	last_error = error;
	answered++;
}

void give_token_issued(struct account *a, int64_t issued, int64_t lifetime)
{
	struct secret *t = NULL;
	struct new_token n = { .issued_at = issued,
			       .expires_at = fake_now + lifetime,
			       .user_id = USER_ID };

	CHECK_INT(secret_from_mem("IGAAstart", 9, &t), 0);
	n.token = t;
	/* 1: written at once (no writer thread); 0: under way */
	CHECK_INT(account_store_token(a, &n, NULL, NULL), ctx.written ? 0 : 1);
	settle();
	secret_free(t);
}

void give_token(struct account *a, int64_t lifetime)
{
	give_token_issued(a, fake_now - 2 * 86400, lifetime);
}

void bring_to(struct account *a, enum start s)
{
	static const struct answer throttle = { .status = 429, .body = "{}", .retry_after = "600" };

	if (s == START_YOUNG)
		give_token_issued(a, fake_now - 3600, 60 * 86400);
	else if (s == START_LONG || s == START_RECOVERABLE)
		give_token(a, 59 * 86400);
	else if (s != START_NO_TOKEN)
		give_token(a, 10 * 86400);
	switch (s) {
	case START_RETRYING: account_note_failure(a, "HTTP 503 from Meta"); break;
	case START_EXPIRING: account_set_verdict(a, VERDICT_NOT_EXTENDED, "no extension"); break;
	case START_EXPIRED: account_set_verdict(a, VERDICT_EXPIRED, "190/463"); break;
	case START_REAUTH: account_set_verdict(a, VERDICT_REAUTH, "190/460"); break;
	case START_RECOVERABLE:
		account_set_verdict(a, VERDICT_REAUTH_RECOVERABLE, "190/459 checkpoint");
		break;
	case START_OWN_PAUSED: {
		const struct answer own = { .status = 200, .body = OK_TOKEN, .buc = BUC_FULL };
		operation_refresh(a, NULL, NULL);
		respond(&own);
		break;
	}
	case START_THROTTLED:
		/* Meta throttles a refresh; the next one waits in the paused app's queue */
		operation_refresh(a, NULL, NULL);
		respond(&throttle);
		operation_refresh(a, NULL, NULL);
		break;
	default: break;
	}
}

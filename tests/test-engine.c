/* SPDX-License-Identifier: MIT */
/* The engine's state machine (CONTRACT section 4) without a manager or a
 * network: an account and its app get an injected clock, randomness, vault,
 * token cache and events table; Meta is a fake transport whose answers the
 * table below gives. Every transition of the section is a row. */
#include <sodium.h>
#include <stdio.h>

#include "basic/tokencache.h"
#include "engine-world.h"
#include "engine/account-record.h"
#include "engine/token-write.h"
#include "store/vault.h"
#define TAP_COUNTERS
#include "tap.h"

/* ---- the table ---- */

enum event {
	EV_REFRESH,	/* an admin's refresh */
	EV_IMPORT,	/* an admin's import of a long-lived token */
	EV_TIME_PASSES, /* the clock passes the expiry */
	EV_PAUSE_ENDS,	/* the app's pause is over: the waiting refresh goes out */
	EV_DEADLINE,	/* the schedule's own refresh */
	EV_CHECK,	/* the daily check comes due */
};

#define ME "{\"user_id\":17841405793187218,\"username\":\"u\"}"
#define E(c, s)                                                                                    \
	"{\"error\":{\"message\":\"m\",\"type\":\"OAuthException\",\"code\":" #c                   \
	",\"error_subcode\":" #s "}}"
#define EM(c, m) "{\"error\":{\"message\":\"" m "\",\"type\":\"OAuthException\",\"code\":" #c "}}"
#define DBG_OK                                                                                     \
	"{\"data\":{\"type\":\"USER\",\"is_valid\":true,\"expires_at\":1805000000,"                \
	"\"data_access_expires_at\":1807000000,\"scopes\":[\"pages_show_list\"]}}"
#define DBG_459                                                                                    \
	"{\"data\":{\"is_valid\":false,\"error\":{\"code\":190,\"subcode\":459,\"message\":"       \
	"\"checkpoint\"}}}"

static void also_checked(struct account *a, struct app *app);
static void also_credentials(struct account *a, struct app *app);
static void also_assumed(struct account *a, struct app *app);
static void also_exchanged(struct account *a, struct app *app);
static void also_own_pause(struct account *a, struct app *app);
static void also_recovered(struct account *a, struct app *app);

/* most rows need no `also` */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct row {
	const char *what;
	const char *account; /* a: instagram, f: facebook */
	enum start from;
	enum event event;
	struct answer answers[3];  /* Meta's, in order (none: Meta must not be called) */
	enum account_state during; /* while the first request is out */
	enum account_state to;
	int error; /* what the operation answered (-1: nobody waits for it) */
	void (*also)(struct account *a, struct app *app); /* more to check afterwards */
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
	/* CONTRACT 12.1: the daily check; a check shows in no state */
	{ "ig check ok: fresh stays, never refreshing", "a", START_LONG, EV_CHECK,
	  { A(200, ME) }, STATE_FRESH, STATE_FRESH, -1, also_checked },
	{ "ig check finds 190/460: fresh -> reauth_required at once", "a", START_LONG, EV_CHECK,
	  { A(400, E(190, 460)) }, STATE_FRESH, STATE_REAUTH_REQUIRED, -1 },
	{ "ig check meets a 5xx: nothing changes", "a", START_LONG, EV_CHECK,
	  { A(503, "down") }, STATE_FRESH, STATE_FRESH, -1 },
	{ "ig check throttled: nothing changes", "a", START_LONG, EV_CHECK,
	  { A(400, E(4, 0)) }, STATE_FRESH, STATE_FRESH, -1 },
	{ "fb check ok (debug_token): fresh stays", "f", START_LONG, EV_CHECK,
	  { A(200, DBG_OK) }, STATE_FRESH, STATE_FRESH, -1 },
	{ "fb check: data.error 190/459 -> reauth_required", "f", START_LONG, EV_CHECK,
	  { A(200, DBG_459) }, STATE_FRESH, STATE_REAUTH_REQUIRED, -1 },
	/* CONTRACT 12.2: the app's own credentials are not a token's fault */
	{ "fb check: top-level 190 is the app's secret: nothing changes", "f", START_LONG, EV_CHECK,
	  { A(400, EM(190, "Invalid OAuth access token signature.")) }, STATE_FRESH, STATE_FRESH, -1,
	  also_credentials },
	{ "fb refresh: code 1 client secret: nothing changes", "f", START_FRESH, EV_REFRESH,
	  { A(400, EM(1, "Error validating client secret.")) }, STATE_REFRESHING, STATE_FRESH,
	  -EREMOTEIO, also_credentials },
	/* CONTRACT 12.3: recoverable verdicts */
	{ "ig check: checkpoint 459 -> reauth_required", "a", START_LONG, EV_CHECK,
	  { A(400, E(190, 459)) }, STATE_FRESH, STATE_REAUTH_REQUIRED, -1 },
	{ "recoverable: a good check -> fresh", "a", START_RECOVERABLE, EV_CHECK,
	  { A(200, ME) }, STATE_REAUTH_REQUIRED, STATE_FRESH, -1, also_recovered },
	{ "recoverable: still checkpointed -> reauth_required", "a", START_RECOVERABLE, EV_CHECK,
	  { A(400, E(190, 459)) }, STATE_REAUTH_REQUIRED, STATE_REAUTH_REQUIRED, -1 },
	/* CONTRACT 12.4: short-lived tokens imported as long-lived */
	{ "import: refresh and exchange refused: fresh, expiry assumed", "a", START_NO_TOKEN, EV_IMPORT,
	  { A(200, ME), A(400, E(100, 0)), A(400, E(100, 0)) }, STATE_NO_TOKEN, STATE_FRESH, 0,
	  also_assumed },
	{ "import: a short-lived token after all: exchanged", "a", START_NO_TOKEN, EV_IMPORT,
	  { A(200, ME), A(400, E(100, 0)), A(200, OK_TOKEN) }, STATE_NO_TOKEN, STATE_FRESH, 0,
	  also_exchanged },
	{ "import: the refresh meets a verdict: refused", "a", START_NO_TOKEN, EV_IMPORT,
	  { A(200, ME), A(400, E(190, 460)) }, STATE_NO_TOKEN, STATE_NO_TOKEN, -EKEYREVOKED },
	/* CONTRACT 12.5: a Basic Display token */
	{ "refresh: 100 Unsupported request: reauth_required", "a", START_FRESH, EV_REFRESH,
	  { A(400, EM(100, "Unsupported request - method type: get")) }, STATE_REFRESHING,
	  STATE_REAUTH_REQUIRED, -EKEYREVOKED },
	/* CONTRACT 12.8: the account's own limit */
	{ "its own BUC entry at 100%: the account alone is throttled", "a", START_FRESH, EV_REFRESH,
	  { { .status = 200, .body = OK_TOKEN, .buc = BUC_FULL } }, STATE_REFRESHING, STATE_THROTTLED,
	  0, also_own_pause },
	{ "refresh while the account is paused: throttled, without a call", "a", START_OWN_PAUSED,
	  EV_REFRESH, { { 0 } }, STATE_THROTTLED, STATE_THROTTLED, -EBUSY },
	/* CONTRACT 12.9 */
	{ "refresh of a token younger than min_age: too_early, without a call", "a", START_YOUNG,
	  EV_REFRESH, { { 0 } }, STATE_FRESH, STATE_FRESH, -ETIME },
#undef A
	/* clang-format on */
};
#pragma GCC diagnostic pop

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
	case EV_CHECK:
		fake_now = account_next_check(a, fake_now);
		CHECK(fake_now > 0);
		CHECK(account_next_refresh(a, fake_now) == 0 || /* a check, not a refresh */
		      account_next_refresh(a, fake_now) > fake_now);
		operation_on_deadline(a, fake_now);
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
	/* a check never shows as a refresh */
	if (row->event == EV_CHECK)
		for (size_t k = 0; k < n_seen; k++)
			CHECK(seen[k] != STATE_REFRESHING);
	if (row->also)
		row->also(a, app);
	free_account(a, app);
}

/* ---- what some rows check besides the state ---- */

static void also_checked(struct account *a, struct app *app)
{
	(void)app;
	CHECK_INT(a->last_validated, fake_now);
	CHECK_STR(a->username, "u");
	CHECK_INT(a->refresh_ok, 0);
	/* the next check a day later, give or take a tenth */
	CHECK(account_next_check(a, fake_now) >= fake_now + 86400);
	CHECK(account_next_check(a, fake_now) <= fake_now + 86400 + 8640);
}

static void also_credentials(struct account *a, struct app *app)
{
	int64_t until = app->credentials_until;
	unsigned calls = meta.calls;
	const struct answer ok = { .status = 200, .body = DBG_OK };

	CHECK_INT(app->credentials, CREDENTIALS_REJECTED);
	CHECK(app->credentials_error && strstr(app->credentials_error, "app secret"));
	CHECK(until > fake_now);
	CHECK_INT(a->failures, 0);
	CHECK(a->last_error == NULL);
	/* the schedule's calls with the credentials wait for the backoff */
	operation_on_deadline(a, fake_now);
	CHECK_INT(meta.calls, calls);
	fake_now = MAX(until, account_next_check(a, fake_now));
	app_wake(app);
	operation_on_deadline(a, fake_now);
	CHECK_INT(meta.calls, calls + 1);
	if (meta.cb) {
		if (strstr(meta.url, "debug_token"))
			respond(&ok);
		else
			respond(&(struct answer){ .status = 200, .body = OK_TOKEN });
	}
	CHECK_INT(app->credentials, CREDENTIALS_OK);
	CHECK(app->credentials_error == NULL);
}

static void also_assumed(struct account *a, struct app *app)
{
	(void)app;
	CHECK(a->expiry_assumed);
	CHECK_INT(a->expires_at, fake_now + 60 * 86400);
	CHECK(strstr(meta.url, "ig_exchange_token") != NULL); /* the exchange was tried */
	CHECK_STR(a->username, "u");
	CHECK_INT(a->last_validated, fake_now); /* /me validated it: no check right after */
}

static void also_exchanged(struct account *a, struct app *app)
{
	(void)app;
	CHECK(!a->expiry_assumed);
	CHECK_INT(a->expires_at, fake_now + 5184000);
}

static void also_own_pause(struct account *a, struct app *app)
{
	CHECK(account_rl(a)->paused_until > fake_now);
	CHECK(!app_paused(app, fake_now)); /* the app's other accounts go on */
	CHECK_INT(account_next_refresh(a, fake_now), account_rl(a)->paused_until);
}

/* An entry keyed by another id, and X-App-Usage, are the app's (CONTRACT 12.8). */
static void test_buc_other(void)
{
	struct app *app;
	struct account *a;

	fake_now = T0;
	a = new_account("a", &app);
	give_token(a, 10 * 86400);
	operation_refresh(a, done, NULL);
	respond(&(struct answer){ .status = 200, .body = OK_TOKEN, .buc = BUC_OTHER });
	CHECK(app_paused(app, fake_now));
	CHECK_INT(account_rl(a)->paused_until, 0);
	CHECK_INT(account_rl(a)->usage.n_buc, 0);
	CHECK_INT(app->rl.usage.n_buc, 1);
	free_account(a, app);
}

static void also_recovered(struct account *a, struct app *app)
{
	(void)app;
	CHECK_INT(a->verdict, VERDICT_OK);
	CHECK(a->last_error == NULL);
}

/* ---- while a new token is on its way to the disk (the vault's writer thread) ---- */

/* The token the account serves now, read past the token cache. */
static bool serves(struct account *a, const char *token)
{
	struct token_view v = { 0 };
	bool same;

	account_uncache(a);
	same = account_read_token(a, fake_now, &v) == 0 && v.len == strlen(token) &&
	       memcmp(v.data, token, v.len) == 0;
	token_view_clear(&v);
	return same;
}

static bool vault_holds_new_token(struct account *a)
{
	_cleanup_(record_freep) struct vault_record *r = NULL;

	return vault_load(ctx.vault, a->name, &r) == 0 && r->token &&
	       strncmp(r->token->data, "IGAAnew", 7) == 0;
}

/* A refresh answered; its new token's write not yet reported. */
static struct account *refresh_held(struct app **app)
{
	struct account *a;

	fake_now = T0;
	a = new_account("a", app);
	give_token(a, 10 * 86400);
	last_error = -1;
	refreshed_events = 0;
	hold_writes = true;
	operation_refresh(a, done, NULL);
	respond(&(struct answer){ .status = 200, .body = OK_TOKEN });
	hold_writes = false;
	CHECK(a->write != NULL);
	return a;
}

/* Until the new token is durable the old one is served, even when the vault's
 * file already holds the new one; then the new one, and the refresh ends. */
static void test_old_token_served_until_durable(void)
{
	struct app *app;
	struct account *a = refresh_held(&app);

	for (int i = 0; i < 200 && !vault_holds_new_token(a); i++)
		usleep(10 * 1000); /* the file changes before its write reports */
	CHECK(vault_holds_new_token(a));
	CHECK(serves(a, "IGAAstart"));
	CHECK_INT(account_compute_state(a, fake_now), STATE_REFRESHING);
	CHECK_INT(last_error, -1);
	CHECK_INT(refreshed_events, 0);
	settle();
	CHECK(a->write == NULL);
	CHECK_INT(last_error, 0);
	CHECK_INT(refreshed_events, 1);
	CHECK(!serves(a, "IGAAstart") && served(a));
	CHECK_INT(account_compute_state(a, fake_now), STATE_FRESH);
	free_account(a, app);
}

/* A revoke meanwhile wins: the token that lands is not taken, and the record
 * written after it holds none. */
static void test_wipe_while_written(void)
{
	struct app *app;
	struct account *a = refresh_held(&app);
	_cleanup_(record_freep) struct vault_record *r = NULL;

	CHECK_INT(account_wipe_token(a, VERDICT_OK, "revoked"), 0);
	operation_cancel_all(a, -ENOKEY, "the token was revoked");
	CHECK_INT(last_error, -ENOKEY);
	settle();
	CHECK(!a->has_token && !served(a));
	CHECK_INT(vault_load(ctx.vault, a->name, &r), 0);
	CHECK(r->no_token && !r->token);
	CHECK_INT(refreshed_events, 0);
	free_account(a, app);
}

/* The account leaves (a reload) meanwhile: the token Meta issued still lands. */
static void test_account_gone_while_written(void)
{
	struct app *app;
	struct account *a = refresh_held(&app);
	const struct account_config *ac = a->cfg;

	free_account(a, app);
	CHECK_INT(last_error, -ECANCELED);
	settle();
	CHECK_INT(app_new(&ctx, ac->app, &app), 0);
	CHECK_INT(account_new(&ctx, ac, app, &a), 0);
	CHECK(vault_holds_new_token(a));
	account_free(a);
	app_free(app);
}

int main(void)
{
	CHECK(sodium_init() >= 0);
	setup();
	/* the table twice: tokens written at once, then by the vault's writer thread */
	for (int writer = 0; writer <= 1; writer++) {
		use_writer(writer);
		for (size_t i = 0; i < ELEMENTSOF(rows); i++)
			run(&rows[i]);
		test_buc_other();
	}
	test_old_token_served_until_durable();
	test_wipe_while_written();
	test_account_gone_while_written();
	use_writer(false);
	fprintf(stderr, "%zu transitions\n", ELEMENTSOF(rows));
	tokencache_free(ctx.tokens);
	vault_close(ctx.vault);
	config_free(cfg);
	sd_event_unref(event);
	tap_rmtree(dir);
	return tap_done("test-engine");
}

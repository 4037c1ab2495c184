/* SPDX-License-Identifier: MIT */
#include "engine/commands.h"

#include <cjson/cJSON.h>
#include <sodium.h>
#include <stdio.h>

#include "basic/log.h"
#include "basic/util.h"
#include "engine/account-record.h"
#include "engine/manager.h"
#include "engine/operation.h"
#include "engine/reload.h"
#include "engine/view.h"
#include "meta/enroll.h"
#include "meta/graph-url.h"
#include "meta/graph.h"
#include "meta/signed-request.h"

static const struct principal_list *op_admins(void *ud)
{
	struct manager *m = ud;
	return &m->config->admins;
}

static void *op_lookup(void *ud, const char *name, const struct principal_list **ret_readers)
{
	struct account *a = manager_find_account(ud, name);

	*ret_readers = a ? &a->cfg->readers : NULL;
	return a;
}

static const char *why_no_token(int error)
{
	switch (error) {
	case -ENOKEY: return "no token yet: import one or enroll";
	case -EKEYEXPIRED: return "the token has expired; a new login is needed";
	case -EKEYREVOKED: return "Meta withdrew the grant; a new login is needed";
	default: return "the token cannot be read from the vault";
	}
}

/* Appends s as a JSON string body (tokens and names are printable ASCII). */
static size_t json_escape(char *out, size_t room, const char *s, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n && k + 2 < room; i++) {
		if (s[i] == '"' || s[i] == '\\')
			out[k++] = '\\';
		out[k++] = s[i];
	}
	return k;
}

static size_t append(char *out, const char *s, size_t n)
{
	memcpy(out, s, n);
	return n;
}

#define APPEND_LITERAL(out, s) append(out, s, sizeof(s) - 1)

/* The hot path: the answer is written straight into a buffer, without a JSON
 * tree, printf or heap copies of the token; the bytes used are wiped after. */
static void op_token(void *ud, struct control_request *req, void *account)
{
	struct manager *m = ud;
	struct account *a = account;
	struct token_view tok = { 0 };
	int r = account_read_token(a, m->ctx.now(), &tok);
	char line[2 * SECRET_MAX + 512], proof[65] = "", num[24];
	size_t n = 0;

	if (r < 0) {
		control_answer_error(req, r, why_no_token(r));
		return;
	}
	if (a->app->cfg->platform == PLATFORM_FACEBOOK) {
		struct secret view = { .len = tok.len, .data = (char *)(uintptr_t)tok.data };
		(void)graph_url_appsecret_proof(a->app->cfg->secret, &view, proof);
	}
	n += APPEND_LITERAL(line + n, "{\"ok\":true,\"account\":\"");
	n += append(line + n, a->name, strlen(a->name));
	n += APPEND_LITERAL(line + n, "\",\"token\":\"");
	n += json_escape(line + n, sizeof(line) - n - 128, tok.data, tok.len);
	token_view_clear(&tok);
	n += APPEND_LITERAL(line + n, "\",\"expires_at\":");
	n += append(line + n, num, format_int64(num, a->expires_at));
	if (*proof) {
		n += APPEND_LITERAL(line + n, ",\"appsecret_proof\":\"");
		n += append(line + n, proof, strlen(proof));
		n += APPEND_LITERAL(line + n, "\"");
	}
	line[n++] = '}';
	control_answer_raw(req, line, n);
	explicit_bzero(line, n);
}

/* The status answer is written in pieces as the client reads it (never whole
 * in memory: 100 000 accounts are about 40 MB of JSON). Each piece looks the
 * accounts up again and goes on after the last name written, so a reload
 * between pieces cannot leave it pointing at freed accounts. */
#define STATUS_ACCOUNTS_PER_PIECE 256

struct status_stream {
	struct manager *m;
	struct control_request *req;
	bool admin;
	enum { STATUS_HEAD, STATUS_ACCOUNTS, STATUS_TAIL } phase;
	char last[NAME_MAX_LEN + 1]; /* the last account written, "" before the first */
	struct render_tally tally;
};

static int status_next(void *state, char **ret, size_t *ret_len)
{
	struct status_stream *st = state;
	const struct caller *c = control_request_caller(st->req);
	struct view_set set;
	size_t cursor;
	bool done = false;
	int r = 1;

	*ret = NULL;
	switch (st->phase) {
	case STATUS_HEAD:
		*ret = render_status_head();
		st->phase = STATUS_ACCOUNTS;
		break;
	case STATUS_ACCOUNTS:
		if (manager_view_part(st->m, c, st->admin, true, &set) < 0)
			return -ENOMEM;
		cursor = view_set_after(&set, st->last);
		*ret = render_status_accounts(&set.src, &cursor, STATUS_ACCOUNTS_PER_PIECE,
					      &st->tally, &done);
		if (cursor > 0)
			snprintf(st->last, sizeof(st->last), "%s", set.accounts[cursor - 1]->name);
		view_set_done(&set);
		if (done)
			st->phase = STATUS_TAIL;
		break;
	case STATUS_TAIL:
		if (manager_view(st->m, c, st->admin, &set) < 0)
			return -ENOMEM;
		*ret = render_status_tail(&set.src, &st->tally);
		view_set_done(&set);
		r = 0;
		break;
	}
	if (!*ret)
		return -ENOMEM;
	*ret_len = strlen(*ret);
	return r;
}

static const struct control_stream_ops status_stream_ops = { .next = status_next, .free = free };

static void op_status(void *ud, struct control_request *req, const struct caller *c, bool admin)
{
	struct status_stream *st = calloc(1, sizeof(*st));
	(void)c;

	if (!st) {
		control_answer_error(req, -ENOMEM, "out of memory");
		return;
	}
	*st = (struct status_stream){ .m = ud, .req = req, .admin = admin };
	control_answer_stream(req, &status_stream_ops, st);
}

static void answer_result(struct account *a, int error, const char *message, void *userdata,
			  bool with_state)
{
	struct control_request *req = userdata;
	cJSON *ans;

	if (error < 0) {
		control_answer_error(req, error, message);
		return;
	}
	ans = control_answer_new();
	cJSON_AddStringToObject(ans, "account", a->name);
	if (with_state)
		cJSON_AddStringToObject(ans, "state", account_state_name(a->state));
	cJSON_AddNumberToObject(ans, "expires_at", (double)a->expires_at);
	/* Meta has not said when it expires: import time + 60 days (CONTRACT 12.4) */
	cJSON_AddBoolToObject(ans, "expiry_assumed", a->expiry_assumed);
	control_answer(req, ans);
}

static void refresh_done(struct account *a, int error, const char *message, void *userdata)
{
	answer_result(a, error, message, userdata, true);
}

static void import_done(struct account *a, int error, const char *message, void *userdata)
{
	answer_result(a, error, message, userdata, false);
}

static void op_refresh(void *ud, struct control_request *req, void *account)
{
	struct account *a = account;
	(void)ud;

	log_account(LOG_INFO, a->name, a->app->name, NULL, "refresh requested by uid %u",
		    (unsigned)control_request_caller(req)->uid);
	operation_refresh(a, refresh_done, req);
}

static void op_import(void *ud, struct control_request *req, void *account, struct secret *token,
		      bool short_lived)
{
	struct account *a = account;
	char fp[SECRET_FP_LEN];
	(void)ud;

	if (token->len >= 4 &&
	    (memcmp(token->data, "IGQV", 4) == 0 || memcmp(token->data, "IGQW", 4) == 0)) {
		secret_free(token);
		control_answer_error(
			req, -EINVAL,
			"this is an Instagram Basic Display token: Meta shut that API down on "
			"2024-12-04 and its tokens no longer work; connect the account through "
			"Instagram Login instead (igtokenctl enroll, or import an IGAA... token)");
		return;
	}
	secret_fingerprint(token, fp);
	log_account(LOG_INFO, a->name, a->app->name, NULL, "import of %s token fp=%s by uid %u",
		    short_lived ? "a short-lived" : "a long-lived", fp,
		    (unsigned)control_request_caller(req)->uid);
	operation_import(a, token, short_lived, import_done, req);
}

static void op_enroll(void *ud, struct control_request *req, void *account)
{
	struct account *a = account;
	char state[2 * ENROLL_STATE_BYTES + 1];
	_cleanup_free_ char *url = NULL;
	cJSON *ans;
	(void)ud;

	if (!a->app->cfg->redirect_uri) {
		control_answer_error(req, -EINVAL,
				     "the account's app has no redirect_uri to enrol with");
		return;
	}
	if (!a->enroll && !(a->enroll = calloc(1, sizeof(*a->enroll)))) {
		control_answer_error(req, -ENOMEM, "out of memory");
		return;
	}
	enroll_begin(a->enroll, now_boottime_usec(), state); /* replaces any earlier one */
	if (enroll_url(a->app->cfg, a->cfg->scopes, state, &url) < 0) {
		control_answer_error(req, -ENOMEM, "cannot build the authorization URL");
		return;
	}
	log_account(LOG_INFO, a->name, a->app->name, NULL, "enrolment started by uid %u",
		    (unsigned)control_request_caller(req)->uid);
	ans = control_answer_new();
	cJSON_AddStringToObject(ans, "url", url);
	control_answer(req, ans);
}

static void op_enroll_finish(void *ud, struct control_request *req, void *account,
			     const char *redirect)
{
	struct account *a = account;
	struct enroll_redirect er = { 0 };
	char why[ENROLL_WHY_MAX];
	int r;
	(void)ud;

	if (!a->app->cfg->redirect_uri) {
		control_answer_error(req, -EINVAL,
				     "the account's app has no redirect_uri to enrol with");
		return;
	}
	r = enroll_parse_redirect(redirect, a->app->cfg->redirect_uri, &er, why);
	if (r == -EACCES) {
		/* Meta's own error: the enrolment under way ends here */
		if (a->enroll)
			sodium_memzero(a->enroll, sizeof(*a->enroll));
		control_answer_error(req, -EREMOTEIO, why);
		return;
	}
	if (r < 0) {
		control_answer_error(req, -EINVAL, why);
		return;
	}
	if (!a->enroll || !enroll_take(a->enroll, er.state_hex, now_boottime_usec())) {
		enroll_redirect_clear(&er);
		control_answer_error(req, -EINVAL,
				     "the state does not match an enrolment under way (wrong, used "
				     "or older than "
				     "10 minutes): run igtokenctl enroll again");
		return;
	}
	log_account(LOG_INFO, a->name, a->app->name, NULL,
		    "enrolment: exchanging the authorization code");
	operation_enroll(a, TAKE_PTR(er.code), import_done, req);
	enroll_redirect_clear(&er);
}

static void op_reload(void *ud, struct control_request *req)
{
	struct config_diag diag = { 0 };
	_cleanup_free_ char *text = NULL;

	if (reload_from_file(ud, &diag) >= 0) {
		config_diag_clear(&diag);
		control_answer(req, control_answer_new());
		return;
	}
	text = config_diag_text(&diag);
	control_answer_error(req, -EINVAL,
			     text && *text ? text : "the configuration does not load");
	config_diag_clear(&diag);
}

static void op_metrics(void *ud, struct control_request *req, const struct caller *c, bool admin)
{
	struct view_set set;
	_cleanup_free_ char *text = NULL;
	cJSON *ans;

	/* per-account series only for what the caller may read (CONTRACT 14.1) */
	if (manager_view(ud, c, admin, &set) >= 0) {
		text = render_metrics(&set.src);
		view_set_done(&set);
	}
	if (!text) {
		control_answer_error(req, -ENOMEM, "out of memory");
		return;
	}
	ans = control_answer_new();
	cJSON_AddStringToObject(ans, "text", text);
	control_answer(req, ans);
}

/* Revoke (CONTRACT 12.13): the token goes from memory, vault and sink; Meta is not told. */
static void op_revoke(void *ud, struct control_request *req, void *account)
{
	struct manager *m = ud;
	struct account *a = account;
	char why[128];
	cJSON *ans;
	int r;

	snprintf(why, sizeof(why), "token revoked by uid %u",
		 (unsigned)control_request_caller(req)->uid);
	if (a->has_token || a->verdict != VERDICT_OK) {
		r = account_wipe_token(a, VERDICT_OK, why);
		if (r < 0) {
			control_answer_error(req, -EIO,
					     "cannot overwrite the vault record: the token stays");
			return;
		}
	}
	operation_cancel_all(a, -ENOKEY, "the token was revoked");
	account_changed(a);
	manager_update_sink(m, a);
	ans = control_answer_new();
	cJSON_AddStringToObject(ans, "account", a->name);
	cJSON_AddStringToObject(ans, "state", account_state_name(a->state));
	control_answer(req, ans);
}

/* Meta's deauthorize callback, forwarded (CONTRACT 12.13): the accounts of that
 * user in that app lose their token and need a new login. */
static void op_deauthorize(void *ud, struct control_request *req, const char *app_name,
			   const char *sr)
{
	struct manager *m = ud;
	struct app *app = manager_find_app(m, app_name);
	struct signed_request s = { 0 };
	const char *why = NULL;
	char msg[256];
	cJSON *ans, *list;
	int r, failed = 0;

	if (!app) {
		control_answer_error(req, -EINVAL, "no such app");
		return;
	}
	r = signed_request_parse(sr, app->cfg->secret, &s, &why);
	if (r < 0) {
		log_app(LOG_WARNING, app->name, "deauthorize refused: %s", why);
		control_answer_error(req, r == -ENOMEM ? -ENOMEM : -EINVAL, why);
		return;
	}
	ans = control_answer_new();
	list = cJSON_AddArrayToObject(ans, "accounts");
	snprintf(msg, sizeof(msg),
		 "the user removed the app on Meta's side (deauthorize callback): a new login is "
		 "needed");
	for (size_t i = 0; i < m->n_accounts; i++) {
		struct account *a = m->accounts[i];
		if (a->app != app || !a->user_id || !streq(a->user_id, s.user_id))
			continue;
		if (account_wipe_token(a, VERDICT_REAUTH, msg) < 0) {
			failed++; /* logged; the others still go */
			continue;
		}
		operation_cancel_all(a, -EKEYREVOKED, msg);
		account_changed(a); /* on_state_change fires */
		manager_update_sink(m, a);
		cJSON_AddItemToArray(list, cJSON_CreateString(a->name));
	}
	log_app(LOG_NOTICE, app->name, "deauthorize for user %s: %d account(s) wiped", s.user_id,
		cJSON_GetArraySize(list));
	signed_request_clear(&s);
	if (failed) {
		cJSON_Delete(ans);
		snprintf(msg, sizeof(msg),
			 "%d matching account(s) could not be wiped (the vault could not be "
			 "written, "
			 "see the journal): send it again",
			 failed);
		control_answer_error(req, -EIO, msg);
		return;
	}
	control_answer(req, ans);
}

static char *render_for_scrape(void *ud)
{
	struct view_set set;
	char *text = NULL;

	if (manager_view(ud, NULL, true, &set) >= 0) {
		text = render_metrics(&set.src);
		view_set_done(&set);
	}
	return text;
}

const struct metrics_http_ops commands_metrics_http_ops = { .render = render_for_scrape };

const struct control_ops commands_ops = {
	.admins = op_admins,
	.lookup = op_lookup,
	.token = op_token,
	.status = op_status,
	.refresh = op_refresh,
	.import = op_import,
	.enroll = op_enroll,
	.enroll_finish = op_enroll_finish,
	.reload = op_reload,
	.metrics = op_metrics,
	.revoke = op_revoke,
	.deauthorize = op_deauthorize,
};

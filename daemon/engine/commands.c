/* SPDX-License-Identifier: MIT */
/* The control commands, as the manager carries them out. Who may call them is
 * decided in control.c before they get here. */
#include <cjson/cJSON.h>
#include <sodium.h>
#include <stdio.h>

#include "meta/enroll.h"
#include "basic/log.h"
#include "engine/manager-internal.h"
#include "basic/util.h"

static const struct principal_list *op_admins(void *ud)
{
	struct manager *m = ud;
	return &m->config->admins;
}

static const struct principal_list *op_readers(void *ud, const char *account)
{
	struct account *a = manager_find_account(ud, account);
	return a ? &a->cfg->readers : NULL;
}

static const char *why_no_token(enum proto_error e)
{
	switch (e) {
	case PROTO_NO_TOKEN: return "no token yet: import one or enroll";
	case PROTO_EXPIRED: return "the token has expired; a new login is needed";
	case PROTO_REAUTH_REQUIRED: return "Meta withdrew the grant; a new login is needed";
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

/* The hot path: the answer is written straight into a buffer that is wiped,
 * without a JSON tree or heap copies of the token. */
static void op_token(void *ud, struct control_request *req, const char *account)
{
	struct account *a = manager_find_account(ud, account);
	struct token_view tok = { 0 };
	enum proto_error e = account_read_token(a, now_realtime_sec(), &tok);
	char line[2 * SECRET_MAX + 512], proof[65] = "";
	size_t n;

	if (e != PROTO_OK) {
		control_answer_error(req, e, why_no_token(e));
		return;
	}
	if (a->app->cfg->platform == PLATFORM_FACEBOOK) {
		struct secret view = { .len = tok.len, .data = (char *)(uintptr_t)tok.data };
		(void)graph_appsecret_proof(a->app->cfg->secret, &view, proof);
	}
	n = (size_t)snprintf(line, sizeof(line), "{\"ok\":true,\"account\":\"%s\",\"token\":\"", a->name);
	n += json_escape(line + n, sizeof(line) - n - 128, tok.data, tok.len);
	n += (size_t)snprintf(line + n, sizeof(line) - n, "\",\"expires_at\":%lld%s%s%s}",
			      (long long)a->expires_at, *proof ? ",\"appsecret_proof\":\"" : "", proof,
			      *proof ? "\"" : "");
	token_view_clear(&tok);
	control_answer_raw(req, line, n);
	explicit_bzero(line, sizeof(line));
}

static void op_status(void *ud, struct control_request *req, const struct control_caller *c, bool admin)
{
	cJSON *ans = report_status(ud, c, admin);
	if (!ans)
		control_answer_error(req, PROTO_INTERNAL, "out of memory");
	else
		control_answer(req, ans);
}

static void answer_result(struct account *a, enum proto_error e, const char *message, void *userdata,
			  bool with_state)
{
	struct control_request *req = userdata;
	cJSON *ans;

	if (e != PROTO_OK) {
		control_answer_error(req, e, message);
		return;
	}
	ans = control_answer_new();
	cJSON_AddStringToObject(ans, "account", a->name);
	if (with_state)
		cJSON_AddStringToObject(ans, "state", account_state_name(a->state));
	cJSON_AddNumberToObject(ans, "expires_at", (double)a->expires_at);
	control_answer(req, ans);
}

static void refresh_done(struct account *a, enum proto_error e, const char *message, void *userdata)
{
	answer_result(a, e, message, userdata, true);
}

static void import_done(struct account *a, enum proto_error e, const char *message, void *userdata)
{
	answer_result(a, e, message, userdata, false);
}

static void op_refresh(void *ud, struct control_request *req, const char *account)
{
	struct account *a = manager_find_account(ud, account);
	log_account(LOG_INFO, a->name, a->app->name, NULL, "refresh requested by uid %u",
		    (unsigned)control_request_caller(req)->uid);
	account_refresh(a, refresh_done, req);
}

static void op_import(void *ud, struct control_request *req, const char *account,
		      struct secret *token, bool short_lived)
{
	struct account *a = manager_find_account(ud, account);
	char fp[SECRET_FP_LEN];

	secret_fingerprint(token, fp);
	log_account(LOG_INFO, a->name, a->app->name, NULL, "import of %s token fp=%s by uid %u",
		    short_lived ? "a short-lived" : "a long-lived", fp,
		    (unsigned)control_request_caller(req)->uid);
	account_import(a, token, short_lived, import_done, req);
}

static void op_enroll(void *ud, struct control_request *req, const char *account)
{
	struct account *a = manager_find_account(ud, account);
	char state[2 * ENROLL_STATE_BYTES + 1];
	_cleanup_free_ char *url = NULL;
	cJSON *ans;
	int r;

	if (!a->app->cfg->redirect_uri) {
		control_answer_error(req, PROTO_BAD_REQUEST, "the account's app has no redirect_uri to enrol with");
		return;
	}
	if (!a->enroll && !(a->enroll = calloc(1, sizeof(*a->enroll)))) {
		control_answer_error(req, PROTO_INTERNAL, "out of memory");
		return;
	}
	enroll_begin(a->enroll, now_boottime_usec(), state); /* replaces any earlier one */
	r = enroll_url(a->app->cfg, a->cfg->scopes, state, &url);
	if (r < 0) {
		control_answer_error(req, PROTO_INTERNAL, "cannot build the authorization URL");
		return;
	}
	log_account(LOG_INFO, a->name, a->app->name, NULL, "enrolment started by uid %u",
		    (unsigned)control_request_caller(req)->uid);
	ans = control_answer_new();
	cJSON_AddStringToObject(ans, "url", url);
	control_answer(req, ans);
}

static void op_enroll_finish(void *ud, struct control_request *req, const char *account, const char *redirect)
{
	struct account *a = manager_find_account(ud, account);
	struct enroll_redirect er = { 0 };
	char why[ENROLL_WHY_MAX];
	int r;

	if (!a->app->cfg->redirect_uri) {
		control_answer_error(req, PROTO_BAD_REQUEST, "the account's app has no redirect_uri to enrol with");
		return;
	}
	r = enroll_parse_redirect(redirect, a->app->cfg->redirect_uri, &er, why);
	if (r == -EACCES) {
		/* Meta's own error: the enrolment under way ends here */
		if (a->enroll)
			sodium_memzero(a->enroll, sizeof(*a->enroll));
		control_answer_error(req, PROTO_UPSTREAM, why);
		return;
	}
	if (r < 0) {
		control_answer_error(req, PROTO_BAD_REQUEST, why);
		return;
	}
	if (!a->enroll || !enroll_take(a->enroll, er.state_hex, now_boottime_usec())) {
		enroll_redirect_clear(&er);
		control_answer_error(req, PROTO_BAD_REQUEST,
				     "the state does not match an enrolment under way (wrong, used or older than "
				     "10 minutes): run igtokenctl enroll again");
		return;
	}
	log_account(LOG_INFO, a->name, a->app->name, NULL, "enrolment: exchanging the authorization code");
	account_enroll(a, TAKE_PTR(er.code), import_done, req);
	enroll_redirect_clear(&er);
}

static void op_reload(void *ud, struct control_request *req)
{
	struct config_diag diag = { 0 };
	char *text = NULL;
	size_t n = 0;
	FILE *f;

	if (manager_reload(ud, &diag) >= 0) {
		config_diag_clear(&diag);
		control_answer(req, control_answer_new());
		return;
	}
	f = open_memstream(&text, &n);
	for (size_t i = 0; f && i < diag.n_lines; i++)
		fprintf(f, "%s%s", i ? "\n" : "", diag.lines[i]);
	if (f)
		fclose(f);
	control_answer_error(req, PROTO_BAD_REQUEST, text && *text ? text : "the configuration does not load");
	free(text);
	config_diag_clear(&diag);
}

static void op_metrics(void *ud, struct control_request *req)
{
	char *text = report_metrics(ud);
	cJSON *ans;

	if (!text) {
		control_answer_error(req, PROTO_INTERNAL, "out of memory");
		return;
	}
	ans = control_answer_new();
	cJSON_AddStringToObject(ans, "text", text);
	free(text);
	control_answer(req, ans);
}

static void op_cancel(void *ud, struct control_request *req)
{
	struct manager *m = ud;
	for (size_t i = 0; i < m->n_accounts; i++)
		account_forget_userdata(m->accounts[i], req);
}

const struct control_ops manager_control_ops = {
	.admins = op_admins,
	.readers = op_readers,
	.token = op_token,
	.status = op_status,
	.refresh = op_refresh,
	.import = op_import,
	.enroll = op_enroll,
	.enroll_finish = op_enroll_finish,
	.reload = op_reload,
	.metrics = op_metrics,
	.cancel = op_cancel,
};

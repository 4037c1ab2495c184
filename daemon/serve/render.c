/* SPDX-License-Identifier: MIT */
#include "serve/render.h"

#include <cjson/cJSON.h>
#include <stdio.h>

#include "basic/util.h"
#include "serve/control.h"

static void add_time(cJSON *o, const char *key, int64_t t, bool zero_is_null)
{
	if (zero_is_null && t == 0)
		cJSON_AddNullToObject(o, key);
	else
		cJSON_AddNumberToObject(o, key, (double)t);
}

static void add_percent(cJSON *o, const char *key, double v)
{
	if (v < 0)
		cJSON_AddNullToObject(o, key);
	else
		cJSON_AddNumberToObject(o, key, v);
}

static void add_string_or_null(cJSON *o, const char *key, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, key, v);
	else
		cJSON_AddNullToObject(o, key);
}

static cJSON *usage_json(const struct rl_figures *u);

static cJSON *account_json(const struct render_source *s, const struct render_account *a)
{
	cJSON *o = cJSON_CreateObject(), *warnings;

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "name", a->name);
	cJSON_AddStringToObject(o, "app", a->app);
	cJSON_AddStringToObject(o, "state", s->state_names[a->state]);
	if (a->has_token) {
		add_time(o, "issued_at", a->issued_at, false);
		add_time(o, "expires_at", a->expires_at, false);
	} else {
		cJSON_AddNullToObject(o, "issued_at");
		cJSON_AddNullToObject(o, "expires_at");
	}
	add_time(o, "next_refresh", a->next_refresh, true);
	add_time(o, "last_refresh", a->last_refresh, true);
	cJSON_AddNumberToObject(o, "failures", a->failures);
	add_string_or_null(o, "last_error", a->last_error);
	if (a->user_id)
		cJSON_AddStringToObject(o, "user_id", a->user_id);
	if (!a->facebook)
		add_string_or_null(o, "username", a->username);
	if (a->facebook && a->has_token)
		add_time(o, "data_access_expires_at", a->data_access_expires_at, true);
	add_time(o, "last_validated", a->last_validated, true);
	cJSON_AddBoolToObject(o, "expiry_assumed", a->has_token && a->expiry_assumed);
	cJSON_AddItemToObject(o, "usage", usage_json(&a->rl->usage));
	add_time(o, "paused_until", a->paused_until, true);
	warnings = cJSON_AddArrayToObject(o, "warnings");
	for (unsigned i = 0; i < a->n_warnings && i < RENDER_WARNINGS_MAX; i++)
		cJSON_AddItemToArray(warnings, cJSON_CreateString(a->warnings[i]));
	return o;
}

static cJSON *usage_json(const struct rl_figures *u)
{
	cJSON *o = cJSON_CreateObject(), *buc = cJSON_CreateArray();
	bool app = u->app_known;

	if (!o || !buc) {
		cJSON_Delete(o);
		cJSON_Delete(buc);
		return NULL;
	}
	add_percent(o, "call_count", app ? u->call_count : -1);
	add_percent(o, "total_time", app ? u->total_time : -1);
	add_percent(o, "total_cputime", app ? u->total_cputime : -1);
	for (size_t i = 0; i < u->n_buc; i++) {
		const struct rl_buc *b = &u->buc[i];
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "id", b->id);
		cJSON_AddStringToObject(e, "type", b->type);
		add_percent(e, "call_count", b->call_count);
		add_percent(e, "total_time", b->total_time);
		add_percent(e, "total_cputime", b->total_cputime);
		if (b->eta_minutes < 0)
			cJSON_AddNullToObject(e, "estimated_time_to_regain_access");
		else
			cJSON_AddNumberToObject(e, "estimated_time_to_regain_access",
						(double)b->eta_minutes);
		cJSON_AddItemToArray(buc, e);
	}
	cJSON_AddItemToObject(o, "buc", buc);
	if (u->at)
		cJSON_AddNumberToObject(o, "at", (double)u->at);
	return o;
}

static cJSON *app_json(const struct render_app *app)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "name", app->name);
	cJSON_AddItemToObject(o, "usage", usage_json(&app->rl->usage));
	add_time(o, "paused_until", app->paused_until, true);
	cJSON_AddNumberToObject(o, "throttle_count", app->rl->throttle_count);
	cJSON_AddNumberToObject(o, "in_flight", app->in_flight);
	cJSON_AddNumberToObject(o, "queued", (double)app->queued);
	cJSON_AddStringToObject(o, "credentials", app->credentials ?: "unknown");
	if (app->credentials_error)
		cJSON_AddStringToObject(o, "error", app->credentials_error);
	add_time(o, "api_version_expires_at", app->api_version_expires_at, true);
	if (app->clustered) {
		if (app->owner)
			cJSON_AddStringToObject(o, "owner", app->owner);
		else
			cJSON_AddNullToObject(o, "owner");
	}
	return o;
}

static cJSON *cluster_json(const struct render_cluster *c)
{
	cJSON *o = cJSON_CreateObject(), *hosts = cJSON_CreateArray(),
	      *differ = cJSON_CreateArray();

	if (!o || !hosts || !differ) {
		cJSON_Delete(o);
		cJSON_Delete(hosts);
		cJSON_Delete(differ);
		return NULL;
	}
	cJSON_AddStringToObject(o, "name", c->name);
	cJSON_AddStringToObject(o, "host", c->host);
	cJSON_AddStringToObject(o, "store", c->store_up ? "ok" : "unreachable");
	cJSON_AddStringToObject(o, "store_error", c->store_error ?: "");
	for (size_t i = 0; i < c->n_hosts; i++)
		cJSON_AddItemToArray(hosts, cJSON_CreateString(c->hosts[i]));
	cJSON_AddItemToObject(o, "hosts", hosts);
	for (size_t i = 0; i < c->n_differ; i++)
		cJSON_AddItemToArray(differ, cJSON_CreateString(c->differ[i]));
	cJSON_AddItemToObject(o, "config_differs", differ);
	return o;
}

char *render_status_head(void)
{
	char *s = NULL;

	return asprintf(&s, "{\"ok\":true,\"version\":\"%s\",\"accounts\":[", IGTOKEND_VERSION) < 0
		       ? NULL
		       : s;
}

/* Appends the unformatted JSON of o (deleted) to f. */
static bool put_json(FILE *f, cJSON *o)
{
	char *text = o ? cJSON_PrintUnformatted(o) : NULL;
	bool ok = text && fputs(text, f) >= 0;

	cJSON_Delete(o);
	cJSON_free(text);
	return ok;
}

char *render_status_accounts(const struct render_source *s, size_t *cursor, size_t max,
			     struct render_tally *t, bool *ret_done)
{
	struct render_account a;
	char *text = NULL;
	size_t len = 0, k = 0;
	FILE *f = open_memstream(&text, &len);
	bool ok = f != NULL;

	*ret_done = false;
	while (ok && k < max) {
		if (!s->account(s->userdata, cursor, &a)) {
			*ret_done = true;
			break;
		}
		ok = (t->n == 0 || fputc(',', f) != EOF) && put_json(f, account_json(s, &a));
		if (a.state < RENDER_STATES_MAX)
			t->counts[a.state]++;
		t->n++;
		k++;
		if (a.next_refresh > 0 && (t->next == 0 || a.next_refresh < t->next))
			t->next = a.next_refresh;
	}
	if (f && fclose(f) != 0)
		ok = false;
	if (!ok) {
		free(text);
		return NULL;
	}
	return text;
}

char *render_status_tail(const struct render_source *s, const struct render_tally *t)
{
	_cleanup_free_ char *summary = render_summary(s, t->counts, t->n, t->next);
	cJSON *tail = cJSON_CreateObject(), *apps = cJSON_CreateArray();
	struct render_app app;
	char *text, *out = NULL;

	if (!summary || !tail || !apps) {
		cJSON_Delete(tail);
		cJSON_Delete(apps);
		return NULL;
	}
	/* the STATUS= line, for what this caller may see (CONTRACT 15.5) */
	cJSON_AddStringToObject(tail, "summary", summary);
	for (size_t i = 0; s->app(s->userdata, &i, &app);)
		cJSON_AddItemToArray(apps, app_json(&app));
	cJSON_AddItemToObject(tail, "apps", apps);
	if (s->cluster)
		cJSON_AddItemToObject(tail, "cluster", cluster_json(s->cluster));
	/* {"summary":…,"apps":[…]} becomes ],"summary":…,"apps":[…]} */
	text = cJSON_PrintUnformatted(tail);
	cJSON_Delete(tail);
	if (text && asprintf(&out, "],%s", text + 1) < 0)
		out = NULL;
	cJSON_free(text);
	return out;
}

/* ---- metrics ---- */

static void help(FILE *f, const char *name, const char *type, const char *text)
{
	fprintf(f, "# HELP igtokend_%s %s\n# TYPE igtokend_%s %s\n", name, text, name, type);
}

/* One gauge per account: name, help, and the value taken from the view. */
static void account_gauge(FILE *f, const struct render_source *s, const char *name,
			  const char *text, int64_t (*value)(const struct render_account *a))
{
	struct render_account a;

	help(f, name, "gauge", text);
	for (size_t i = 0; s->account(s->userdata, &i, &a);)
		fprintf(f, "igtokend_%s{account=\"%s\",app=\"%s\"} %lld\n", name, a.name, a.app,
			(long long)value(&a));
}

static int64_t next_refresh_of(const struct render_account *a)
{
	return a->next_refresh;
}

static int64_t last_success_of(const struct render_account *a)
{
	return a->last_success;
}

static int64_t failures_of(const struct render_account *a)
{
	return a->failures;
}

static void account_metrics(FILE *f, const struct render_source *s)
{
	static const char *const results[] = { "ok", "error", "throttled", "revoked", "expired" };
	struct render_account a;

	help(f, "token_expiry_timestamp_seconds", "gauge", "When the token expires (0 = never).");
	for (size_t i = 0; s->account(s->userdata, &i, &a);)
		if (a.has_token)
			fprintf(f,
				"igtokend_token_expiry_timestamp_seconds{account=\"%s\",app=\"%s\"}"
				" %lld\n",
				a.name, a.app, (long long)a.expires_at);
	help(f, "data_access_expiry_timestamp_seconds", "gauge",
	     "Facebook: when the data access granted with the token expires (0 = unknown).");
	for (size_t i = 0; s->account(s->userdata, &i, &a);)
		if (a.has_token && a.facebook)
			fprintf(f,
				"igtokend_data_access_expiry_timestamp_seconds{account=\"%s\",app="
				"\"%s\"}"
				" %lld\n",
				a.name, a.app, (long long)a.data_access_expires_at);
	help(f, "account_state", "gauge", "1 for the account's current state.");
	for (size_t i = 0; s->account(s->userdata, &i, &a);)
		for (unsigned k = 0; k < s->n_states; k++)
			fprintf(f, "igtokend_account_state{account=\"%s\",app=\"%s\",state=\"%s\"} %d\n",
				a.name, a.app, s->state_names[k], k == a.state);
	help(f, "refresh_total", "counter",
	     "Calls about the token by result: ok, error, throttled, revoked (Meta withdrew it: "
	     "reauth_required), expired.");
	for (size_t i = 0; s->account(s->userdata, &i, &a);) {
		const uint64_t v[] = { a.refresh_ok, a.refresh_error, a.refresh_throttled,
				       a.refresh_revoked, a.refresh_expired };
		for (int k = 0; k < 5; k++)
			fprintf(f,
				"igtokend_refresh_total{account=\"%s\",app=\"%s\",result=\"%s\"} "
				"%llu\n",
				a.name, a.app, results[k], (unsigned long long)v[k]);
	}
	account_gauge(f, s, "next_refresh_timestamp_seconds",
		      "When the next refresh attempt is planned (0 = none).", next_refresh_of);
	account_gauge(f, s, "last_success_timestamp_seconds",
		      "When Meta last confirmed the token: a refresh, the import, or a check (0 = "
		      "never).",
		      last_success_of);
	account_gauge(f, s, "consecutive_failures",
		      "Refresh attempts that failed in a row (transient errors; verdicts are "
		      "states).",
		      failures_of);
	help(f, "token_reads_total", "counter", "Tokens handed out over the control socket.");
	for (size_t i = 0; s->account(s->userdata, &i, &a);)
		fprintf(f, "igtokend_token_reads_total{account=\"%s\"} %llu\n", a.name,
			(unsigned long long)a.reads);
}

/* A label value as the exposition format wants it: \\, \" and \n escaped (Meta's
 * header values are hostile input; names of accounts and apps are [A-Za-z0-9._-]). */
static const char *label_value(const char *v, char *buf, size_t len)
{
	size_t k = 0;

	for (; *v && k + 3 < len; v++) {
		if (*v == '\\' || *v == '"' || *v == '\n') {
			buf[k++] = '\\';
			buf[k++] = *v == '\n' ? 'n' : *v;
		} else
			buf[k++] = *v;
	}
	buf[k] = '\0';
	return buf;
}

static void usage_metrics(FILE *f, const char *app, const struct rl_figures *u)
{
	char id[2 * sizeof(u->buc[0].id)], type[2 * sizeof(u->buc[0].type)];

	static const char *const names[] = { "call_count", "total_time", "total_cputime" };
	const double app_v[] = { u->call_count, u->total_time, u->total_cputime };

	for (int i = 0; u->app_known && i < 3; i++)
		if (app_v[i] >= 0)
			fprintf(f, "igtokend_app_usage_percent{app=\"%s\",metric=\"%s\"} %g\n", app,
				names[i], app_v[i]);
	for (size_t b = 0; b < u->n_buc; b++) {
		const double bv[] = { u->buc[b].call_count, u->buc[b].total_time,
				      u->buc[b].total_cputime };
		for (int i = 0; i < 3; i++)
			if (bv[i] >= 0)
				fprintf(f,
					"igtokend_app_usage_percent{app=\"%s\",metric=\"buc_%s\","
					"business=\"%s\",type=\"%s\"} %g\n",
					app, names[i], label_value(u->buc[b].id, id, sizeof(id)),
					label_value(u->buc[b].type, type, sizeof(type)), bv[i]);
	}
}

static void app_metrics(FILE *f, const struct render_source *s)
{
	struct render_app app;

	help(f, "app_usage_percent", "gauge", "Latest usage figures Meta reported, in percent.");
	for (size_t k = 0; s->app(s->userdata, &k, &app);)
		usage_metrics(f, app.name, &app.rl->usage);
	help(f, "app_paused_until_timestamp_seconds", "gauge",
	     "End of the app's rate-limit pause (0 = not paused).");
	for (size_t k = 0; s->app(s->userdata, &k, &app);)
		fprintf(f, "igtokend_app_paused_until_timestamp_seconds{app=\"%s\"} %lld\n",
			app.name, (long long)app.paused_until);
	help(f, "app_credentials_ok", "gauge",
	     "0 while Meta refuses the app's secret or id, else 1 (CONTRACT 12.2).");
	for (size_t k = 0; s->app(s->userdata, &k, &app);)
		fprintf(f, "igtokend_app_credentials_ok{app=\"%s\"} %d\n", app.name,
			!streq_ptr(app.credentials, "rejected"));
	help(f, "app_throttled_total", "counter", "Times Meta throttled the app.");
	for (size_t k = 0; s->app(s->userdata, &k, &app);)
		fprintf(f, "igtokend_app_throttled_total{app=\"%s\"} %u\n", app.name,
			app.rl->throttle_count);
	if (!s->cluster)
		return;
	help(f, "cluster_store_up", "gauge", "1 while the cluster store answers (CONTRACT 13).");
	fprintf(f, "igtokend_cluster_store_up %d\n", s->cluster->store_up);
	help(f, "cluster_hosts", "gauge", "Hosts holding a session lease in the cluster store.");
	fprintf(f, "igtokend_cluster_hosts %zu\n", s->cluster->n_hosts);
	help(f, "cluster_config_mismatch", "gauge",
	     "Live hosts whose apps, accounts or refresh settings differ from this host's.");
	fprintf(f, "igtokend_cluster_config_mismatch %zu\n", s->cluster->n_differ);
	help(f, "cluster_app_owned", "gauge", "1 if this host calls Meta for the app.");
	for (size_t k = 0; s->app(s->userdata, &k, &app);)
		fprintf(f, "igtokend_cluster_app_owned{app=\"%s\"} %d\n", app.name, app.owned);
}

char *render_metrics(const struct render_source *s)
{
	char *text = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&text, &n);

	if (!f)
		return NULL;
	help(f, "build_info", "gauge", "1, labelled with the running version.");
	fprintf(f, "igtokend_build_info{version=\"%s\"} 1\n", IGTOKEND_VERSION);
	help(f, "start_time_seconds", "gauge", "When the daemon started (Unix seconds).");
	fprintf(f, "igtokend_start_time_seconds %lld\n", (long long)s->started);
	help(f, "last_reload_success", "gauge",
	     "0 when the last reload was refused (the previous configuration stays in force), else "
	     "1.");
	fprintf(f, "igtokend_last_reload_success %d\n", s->last_reload_ok);
	account_metrics(f, s);
	app_metrics(f, s);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* ---- events and the one-line summary ---- */

char *render_event(const char *event, const char *account, const char *state, int64_t expires_at,
		   int64_t at)
{
	cJSON *o = cJSON_CreateObject();
	char *s;

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "event", event);
	cJSON_AddStringToObject(o, "account", account);
	cJSON_AddStringToObject(o, "state", state);
	cJSON_AddNumberToObject(o, "expires_at", (double)expires_at);
	cJSON_AddNumberToObject(o, "at", (double)at);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

char *render_summary(const struct render_source *s, const size_t *counts, size_t n_accounts,
		     int64_t next)
{
	char *text = NULL, d[32];
	size_t n = 0;
	bool first = true;
	FILE *f = open_memstream(&text, &n);

	if (!f)
		return NULL;
	fprintf(f, "%zu account%s", n_accounts, n_accounts == 1 ? "" : "s");
	for (unsigned k = 0; k < s->n_states; k++) {
		if (!counts[k])
			continue;
		fprintf(f, "%s %zu %s", first ? ":" : ",", counts[k], s->state_names[k]);
		first = false;
	}
	if (next > s->now) {
		format_duration(next - s->now, d, sizeof(d));
		fprintf(f, "; next refresh in %s", d);
	} else if (next > 0)
		fprintf(f, "; refresh due now");
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

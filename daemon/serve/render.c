/* SPDX-License-Identifier: MIT */
/* What igtokend tells about itself: the status answer, Prometheus metrics, the
 * one-line systemd STATUS= and watch events. */
#include <cjson/cJSON.h>
#include <stdio.h>

#include "engine/manager-internal.h"
#include "meta/schedule.h"
#include "basic/util.h"

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

/* When the next refresh attempt is planned, 0 if none. */
static int64_t next_refresh(const struct account *a, int64_t now)
{
	enum account_state s = account_compute_state(a, now);

	if (s == STATE_NO_TOKEN || s == STATE_EXPIRED || s == STATE_REAUTH_REQUIRED || a->expires_at == 0)
		return 0;
	if (s == STATE_THROTTLED && a->app->rl.paused_until > now)
		return a->app->rl.paused_until;
	if (a->failures > 0)
		return schedule_retry_at(&a->m->config->refresh, a->next_attempt, now);
	return schedule_due(&a->m->config->refresh, a->issued_at, a->expires_at, a->expiry_assumed, a->hash);
}

static cJSON *account_json(const struct account *a, int64_t now)
{
	cJSON *o = cJSON_CreateObject();
	bool tok = a->has_token;

	cJSON_AddStringToObject(o, "name", a->name);
	cJSON_AddStringToObject(o, "app", a->app->name);
	cJSON_AddStringToObject(o, "state", account_state_name(account_compute_state(a, now)));
	if (tok) {
		add_time(o, "issued_at", a->issued_at, false);
		add_time(o, "expires_at", a->expires_at, false);
	} else {
		cJSON_AddNullToObject(o, "issued_at");
		cJSON_AddNullToObject(o, "expires_at");
	}
	add_time(o, "next_refresh", next_refresh(a, now), true);
	add_time(o, "last_refresh", a->last_refresh, true);
	cJSON_AddNumberToObject(o, "failures", a->failures);
	if (a->last_error)
		cJSON_AddStringToObject(o, "last_error", a->last_error);
	else
		cJSON_AddNullToObject(o, "last_error");
	if (a->user_id)
		cJSON_AddStringToObject(o, "user_id", a->user_id);
	if (a->app->cfg->platform == PLATFORM_FACEBOOK && tok)
		add_time(o, "data_access_expires_at", a->data_access_expires_at, true);
	return o;
}

static cJSON *usage_json(const struct rl_usage *u)
{
	cJSON *o = cJSON_CreateObject(), *buc = cJSON_CreateArray();
	bool app = u->app_known;

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
			cJSON_AddNumberToObject(e, "estimated_time_to_regain_access", (double)b->eta_minutes);
		cJSON_AddItemToArray(buc, e);
	}
	cJSON_AddItemToObject(o, "buc", buc);
	if (u->at)
		cJSON_AddNumberToObject(o, "at", (double)u->at);
	return o;
}

cJSON *report_status(struct manager *m, const struct control_caller *caller, bool admin)
{
	cJSON *ans = control_answer_new(), *accounts = cJSON_CreateArray(), *apps = cJSON_CreateArray();
	int64_t now = now_realtime_sec();
	bool *seen = calloc(m->n_apps + 1, sizeof(bool));

	if (!ans || !accounts || !apps || !seen) {
		cJSON_Delete(ans);
		cJSON_Delete(accounts);
		cJSON_Delete(apps);
		free(seen);
		return NULL;
	}
	cJSON_AddStringToObject(ans, "version", IGTOKEND_VERSION);
	for (size_t i = 0; i < m->n_accounts; i++) {
		struct account *a = m->accounts[i];
		if (!admin && !control_may_read(caller, &m->config->admins, &a->cfg->readers))
			continue;
		cJSON_AddItemToArray(accounts, account_json(a, now));
		for (size_t k = 0; k < m->n_apps; k++)
			if (m->apps[k] == a->app)
				seen[k] = true;
	}
	for (size_t k = 0; k < m->n_apps; k++) {
		struct app *app = m->apps[k];
		cJSON *o;
		if (!admin && !seen[k])
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", app->name);
		cJSON_AddItemToObject(o, "usage", usage_json(&app->rl.usage));
		add_time(o, "paused_until", app->rl.paused_until > now ? app->rl.paused_until : 0, true);
		cJSON_AddNumberToObject(o, "throttle_count", app->rl.throttle_count);
		cJSON_AddNumberToObject(o, "in_flight", app->in_flight);
		cJSON_AddNumberToObject(o, "queued", (double)app->n_queue);
		cJSON_AddItemToArray(apps, o);
	}
	free(seen);
	cJSON_AddItemToObject(ans, "accounts", accounts);
	cJSON_AddItemToObject(ans, "apps", apps);
	return ans;
}

static void help(FILE *f, const char *name, const char *type, const char *text)
{
	fprintf(f, "# HELP igtokend_%s %s\n# TYPE igtokend_%s %s\n", name, text, name, type);
}

char *report_metrics(struct manager *m)
{
	char *text = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&text, &n);
	int64_t now = now_realtime_sec();
	static const char *const results[] = { "ok", "error", "throttled" };

	if (!f)
		return NULL;
	help(f, "token_expiry_timestamp_seconds", "gauge", "When the token expires (0 = never).");
	for (size_t i = 0; i < m->n_accounts; i++) {
		const struct account *a = m->accounts[i];
		if (a->has_token)
			fprintf(f, "igtokend_token_expiry_timestamp_seconds{account=\"%s\",app=\"%s\"} %lld\n",
				a->name, a->app->name, (long long)a->expires_at);
	}
	help(f, "token_data_access_expiry_timestamp_seconds", "gauge",
	     "Facebook: when the data access granted with the token expires (0 = unknown).");
	for (size_t i = 0; i < m->n_accounts; i++) {
		const struct account *a = m->accounts[i];
		if (a->has_token && a->app->cfg->platform == PLATFORM_FACEBOOK)
			fprintf(f, "igtokend_token_data_access_expiry_timestamp_seconds{account=\"%s\",app=\"%s\"} %lld\n",
				a->name, a->app->name, (long long)a->data_access_expires_at);
	}
	help(f, "account_state", "gauge", "1 for the account's current state.");
	for (size_t i = 0; i < m->n_accounts; i++) {
		const struct account *a = m->accounts[i];
		enum account_state s = account_compute_state(a, now);
		for (int k = 0; k < _STATE_MAX; k++)
			fprintf(f, "igtokend_account_state{account=\"%s\",app=\"%s\",state=\"%s\"} %d\n", a->name,
				a->app->name, account_state_name(k), k == (int)s);
	}
	help(f, "refresh_total", "counter", "Refresh attempts by result.");
	for (size_t i = 0; i < m->n_accounts; i++) {
		const struct account *a = m->accounts[i];
		const uint64_t v[] = { a->refresh_ok, a->refresh_error, a->refresh_throttled };
		for (int k = 0; k < 3; k++)
			fprintf(f, "igtokend_refresh_total{account=\"%s\",app=\"%s\",result=\"%s\"} %llu\n",
				a->name, a->app->name, results[k], (unsigned long long)v[k]);
	}
	help(f, "token_reads_total", "counter", "Tokens handed out over the control socket.");
	for (size_t i = 0; i < m->n_accounts; i++)
		fprintf(f, "igtokend_token_reads_total{account=\"%s\"} %llu\n", m->accounts[i]->name,
			(unsigned long long)m->accounts[i]->reads);
	help(f, "app_usage_percent", "gauge", "Latest usage figures Meta reported, in percent.");
	for (size_t k = 0; k < m->n_apps; k++) {
		const struct rl_usage *u = &m->apps[k]->rl.usage;
		const char *app = m->apps[k]->name;
		const char *names[] = { "call_count", "total_time", "total_cputime" };
		const double app_v[] = { u->call_count, u->total_time, u->total_cputime };
		for (int i = 0; u->app_known && i < 3; i++)
			if (app_v[i] >= 0)
				fprintf(f, "igtokend_app_usage_percent{app=\"%s\",metric=\"%s\"} %g\n", app, names[i], app_v[i]);
		for (size_t b = 0; b < u->n_buc; b++) {
			const double bv[] = { u->buc[b].call_count, u->buc[b].total_time, u->buc[b].total_cputime };
			for (int i = 0; i < 3; i++)
				if (bv[i] >= 0)
					fprintf(f, "igtokend_app_usage_percent{app=\"%s\",metric=\"buc_%s\",business=\"%s\",type=\"%s\"} %g\n",
						app, names[i], u->buc[b].id, u->buc[b].type, bv[i]);
		}
	}
	help(f, "app_paused_until_timestamp_seconds", "gauge", "End of the app's rate-limit pause (0 = not paused).");
	for (size_t k = 0; k < m->n_apps; k++)
		fprintf(f, "igtokend_app_paused_until_timestamp_seconds{app=\"%s\"} %lld\n", m->apps[k]->name,
			(long long)(m->apps[k]->rl.paused_until > now ? m->apps[k]->rl.paused_until : 0));
	help(f, "app_throttled_total", "counter", "Times Meta throttled the app.");
	for (size_t k = 0; k < m->n_apps; k++)
		fprintf(f, "igtokend_app_throttled_total{app=\"%s\"} %u\n", m->apps[k]->name,
			m->apps[k]->rl.throttle_count);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

char *report_summary(struct manager *m)
{
	size_t counts[_STATE_MAX] = { 0 };
	int64_t now = now_realtime_sec(), next = 0;
	char *text = NULL, d[32];
	size_t n = 0;
	bool first = true;
	FILE *f = open_memstream(&text, &n);

	if (!f)
		return NULL;
	for (size_t i = 0; i < m->n_accounts; i++) {
		const struct account *a = m->accounts[i];
		int64_t t = next_refresh(a, now);
		counts[account_compute_state(a, now)]++;
		if (t > 0 && (next == 0 || t < next))
			next = t;
	}
	fprintf(f, "%zu account%s", m->n_accounts, m->n_accounts == 1 ? "" : "s");
	for (int s = 0; s < _STATE_MAX; s++) {
		if (!counts[s])
			continue;
		fprintf(f, "%s %zu %s", first ? ":" : ",", counts[s], account_state_name(s));
		first = false;
	}
	if (next > now) {
		format_duration(next - now, d, sizeof(d));
		fprintf(f, "; next refresh in %s", d);
	} else if (next > 0)
		fprintf(f, "; refresh due now");
	fclose(f);
	return text;
}

cJSON *report_event(const struct account *a, const char *event, int64_t now)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "event", event);
	cJSON_AddStringToObject(o, "account", a->name);
	cJSON_AddStringToObject(o, "state", account_state_name(a->state));
	cJSON_AddNumberToObject(o, "expires_at", (double)(a->has_token ? a->expires_at : 0));
	cJSON_AddNumberToObject(o, "at", (double)now);
	return o;
}

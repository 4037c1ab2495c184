/* SPDX-License-Identifier: MIT */
#include "meta/ratelimit.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <time.h>

#include "basic/util.h"

/* A percentage as a JSON number or numeric string; -1 if absent; -EINVAL if hostile. */
static int get_percent(const cJSON *o, const char *key, double *ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	*ret = -1;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (cJSON_IsNumber(v)) {
		if (!isfinite(v->valuedouble) || v->valuedouble < 0 || v->valuedouble > 100000)
			return -EINVAL;
		*ret = v->valuedouble;
		return 0;
	}
	if (cJSON_IsString(v))
		return parse_percent(v->valuestring, ret) < 0 ? -EINVAL : 0;
	return -EINVAL;
}

static cJSON *parse_bounded(const char *v)
{
	size_t n;
	if (!v)
		return NULL;
	n = strnlen(v, RL_HEADER_MAX + 1);
	if (n > RL_HEADER_MAX)
		return NULL;
	/* cJSON limits nesting itself (CJSON_NESTING_LIMIT); our headers are two levels deep. */
	return cJSON_ParseWithLength(v, n);
}

int ratelimit_parse_app_usage(const char *v, struct rl_usage *u)
{
	cJSON *j = parse_bounded(v);
	double cc, tt, tc;
	int r = -EINVAL;

	if (cJSON_IsObject(j) && get_percent(j, "call_count", &cc) == 0 &&
	    get_percent(j, "total_time", &tt) == 0 && get_percent(j, "total_cputime", &tc) == 0 &&
	    (cc >= 0 || tt >= 0 || tc >= 0)) {
		u->app_known = true;
		u->call_count = cc;
		u->total_time = tt;
		u->total_cputime = tc;
		r = 0;
	}
	cJSON_Delete(j);
	return r;
}

static int parse_buc_entry(const cJSON *id, const cJSON *e, struct rl_buc *b)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type");
	double eta;

	if (!cJSON_IsObject(e) || strlen(id->string) >= sizeof(b->id))
		return -EINVAL;
	*b = (struct rl_buc){ .eta_minutes = -1 };
	snprintf(b->id, sizeof(b->id), "%s", id->string);
	if (cJSON_IsString(type) && strlen(type->valuestring) < sizeof(b->type))
		snprintf(b->type, sizeof(b->type), "%s", type->valuestring);
	/* shown in status, metrics and terminals: no control characters */
	string_scrub_controls(b->id);
	string_scrub_controls(b->type);
	if (get_percent(e, "call_count", &b->call_count) < 0 ||
	    get_percent(e, "total_time", &b->total_time) < 0 ||
	    get_percent(e, "total_cputime", &b->total_cputime) < 0 ||
	    get_percent(e, "estimated_time_to_regain_access", &eta) < 0)
		return -EINVAL;
	if (eta > 7 * 24 * 60) /* more than a week in minutes: not believable */
		return -EINVAL;
	b->eta_minutes = eta < 0 ? -1 : (int64_t)ceil(eta);
	return 0;
}

int ratelimit_parse_buc(const char *v, struct rl_usage *u)
{
	cJSON *j = parse_bounded(v), *id, *e;
	struct rl_buc buc[RL_BUC_MAX];
	size_t n = 0;
	int r = 0;

	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return -EINVAL;
	}
	cJSON_ArrayForEach (id, j) {
		if (!cJSON_IsArray(id)) {
			r = -EINVAL;
			break;
		}
		cJSON_ArrayForEach (e, id) {
			if (n == RL_BUC_MAX)
				break; /* Meta sends up to 32 objects: keep the first ones */
			if ((r = parse_buc_entry(id, e, &buc[n])) < 0)
				break;
			n++;
		}
		if (r < 0)
			break;
	}
	cJSON_Delete(j);
	if (r < 0 || n == 0)
		return -EINVAL;
	memcpy(u->buc, buc, n * sizeof(buc[0]));
	u->n_buc = n;
	return 0;
}

int ratelimit_parse_retry_after(const char *v, int64_t now, int64_t *ret)
{
	struct tm tm = { 0 };
	int64_t s;
	char *end;

	if (!v || !*v || strlen(v) > 64)
		return -EINVAL;
	if (parse_int64(v, 0, 7 * 86400, &s) == 0) {
		*ret = s;
		return 0;
	}
	/* IMF-fixdate, e.g. "Wed, 21 Oct 2015 07:28:00 GMT" */
	end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end || *end)
		return -EINVAL;
	s = (int64_t)timegm(&tm) - now;
	if (s > 7 * 86400)
		return -EINVAL;
	*ret = MAX(s, 0);
	return 0;
}

double ratelimit_max_usage(const struct rl_figures *u, int64_t now)
{
	double m = -1;

	if (u->at == 0 || now - u->at >= RL_USAGE_TTL)
		return -1;
	if (u->app_known)
		m = MAX(m, MAX(u->call_count, MAX(u->total_time, u->total_cputime)));
	for (size_t i = 0; i < u->n_buc; i++)
		m = MAX(m, MAX(u->buc[i].call_count,
			       MAX(u->buc[i].total_time, u->buc[i].total_cputime)));
	return m;
}

static int64_t lengthen(int64_t wait, double rnd)
{
	if (!(rnd >= 0 && rnd < 1))
		rnd = 0;
	return wait + (int64_t)floor((double)wait * 0.25 * rnd);
}

/* How long Meta asked us to stay away: Retry-After, else the BUC estimate, else backoff. */
static int64_t pause_length(struct rl_state *s, const struct refresh_config *rc, int64_t now,
			    const char *retry_after, double rnd)
{
	int64_t wait = -1, eta = -1;

	if (retry_after && ratelimit_parse_retry_after(retry_after, now, &wait) == 0) {
		s->backoff_level = 0;
		return lengthen(MAX(wait, 1), rnd);
	}
	for (size_t i = 0; i < s->usage.n_buc; i++)
		eta = MAX(eta, s->usage.buc[i].eta_minutes);
	if (eta > 0) {
		s->backoff_level = 0;
		return lengthen(eta * 60, rnd);
	}
	wait = rc->retry_initial;
	for (uint32_t i = 0; i < s->backoff_level && wait < rc->retry_max; i++)
		wait = wait > rc->retry_max / 2 ? rc->retry_max : wait * 2;
	s->backoff_level = MIN(s->backoff_level + 1, 63u);
	return lengthen(MIN(wait, rc->retry_max), rnd);
}

bool ratelimit_parse_usage(const char *app_usage, const char *buc_usage, int64_t now,
			   struct rl_usage *ret)
{
	struct rl_usage u = { .call_count = -1, .total_time = -1, .total_cputime = -1 };
	bool got = false;

	/* A missing header means unknown: figures are replaced only by what an answer says. */
	if (app_usage && ratelimit_parse_app_usage(app_usage, &u) == 0)
		got = true;
	if (buc_usage && ratelimit_parse_buc(buc_usage, &u) == 0)
		got = true;
	u.at = got ? now : 0;
	*ret = u;
	return got;
}

static bool own_entry(const struct rl_buc *b, const char *user_id)
{
	return user_id && streq(b->id, user_id) &&
	       (streq(b->type, "instagram") || streq(b->type, "pages"));
}

/* What decides first: an entry Meta throttled (it says when access returns),
 * then the highest usage. */
static double weight(const struct rl_buc *b)
{
	return b->eta_minutes > 0 ? 1e9 : MAX(b->call_count, MAX(b->total_time, b->total_cputime));
}

/* Adds b to the kept entries (sorted, heaviest first) if it is among the heaviest. */
static void keep(struct rl_figures *f, const struct rl_buc *b)
{
	size_t i = f->n_buc < RL_BUC_KEPT ? f->n_buc++ : RL_BUC_KEPT;

	if (i == RL_BUC_KEPT) { /* full: it replaces the lightest if heavier */
		if (weight(b) <= weight(&f->buc[RL_BUC_KEPT - 1]))
			return;
		i = RL_BUC_KEPT - 1;
	}
	for (; i > 0 && weight(&f->buc[i - 1]) < weight(b); i--)
		f->buc[i] = f->buc[i - 1];
	f->buc[i] = *b;
}

void ratelimit_split(const struct rl_usage *all, const char *user_id, struct rl_figures *app,
		     struct rl_figures *own)
{
	*app = (struct rl_figures){ .app_known = all->app_known,
				    .call_count = all->call_count,
				    .total_time = all->total_time,
				    .total_cputime = all->total_cputime,
				    .at = all->at };
	*own = (struct rl_figures){ .call_count = -1, .total_time = -1, .total_cputime = -1 };
	for (size_t i = 0; i < all->n_buc; i++)
		keep(own_entry(&all->buc[i], user_id) ? own : app, &all->buc[i]);
	own->at = own->n_buc ? all->at : 0;
	if (!app->app_known && app->n_buc == 0)
		app->at = 0;
}

int64_t ratelimit_apply(struct rl_state *s, const struct ratelimit_config *rl,
			const struct refresh_config *rc, int64_t now, enum rl_answer answer,
			const struct rl_figures *u, const char *retry_after, double rnd)
{
	bool got = u && u->at;

	if (got)
		s->usage = *u;
	if (answer == RL_ANSWER_THROTTLED) {
		s->throttle_count++;
		s->paused_until = now + pause_length(s, rc, now, retry_after, rnd);
		s->probe = true;
		return s->paused_until;
	}
	if (got && ratelimit_max_usage(&s->usage, now) >= (double)rl->stop_above) {
		/* like a throttle, without counting one */
		s->paused_until = now + pause_length(s, rc, now, retry_after, rnd);
		s->probe = true;
		return s->paused_until;
	}
	s->backoff_level = 0;
	s->probe = false;
	return 0;
}

int64_t ratelimit_on_answer(struct rl_state *s, const struct ratelimit_config *rl,
			    const struct refresh_config *rc, int64_t now, enum rl_answer answer,
			    const char *app_usage, const char *buc_usage, const char *retry_after,
			    double rnd)
{
	struct rl_usage u;
	struct rl_figures kept, none;

	(void)ratelimit_parse_usage(app_usage, buc_usage, now, &u);
	ratelimit_split(&u, NULL, &kept, &none);
	return ratelimit_apply(s, rl, rc, now, answer, &kept, retry_after, rnd);
}

int64_t ratelimit_check(const struct rl_state *s, const struct ratelimit_config *rl, int64_t now,
			bool urgent, unsigned in_flight)
{
	double max;

	if (s->paused_until > now)
		return s->paused_until;
	if (s->probe) /* the first request after a pause goes alone; its answer decides */
		return in_flight == 0 ? 0 : -EAGAIN;
	max = ratelimit_max_usage(&s->usage, now);
	if (max >= (double)rl->stop_above)
		return s->usage.at + RL_USAGE_TTL;
	if (max >= (double)rl->slow_above && !urgent)
		return s->usage.at + RL_USAGE_TTL;
	return 0;
}

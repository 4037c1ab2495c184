/* SPDX-License-Identifier: MIT */
/* A refresh's intent in the cluster store, and the commit of what it brought
 * (engine/cluster-intent.h). */
#include "engine/cluster-intent.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "basic/log.h"
#include "basic/testseam.h"
#include "basic/util.h"
#include "cluster/owner.h"
#include "cluster/tokens.h"

#define GRACE_MAX 600 /* seconds another host's intent is waited for, at most */

/* A refresh's intent: asked for, then standing until the commit or withdrawal. */
struct cluster_intent {
	struct cluster_link *link;
	char *account;
	engine_intent_done_t done;
	struct cluster_tok_keys keys;
	int64_t base, mod; /* mod: the intent key's revision once written */
	bool under_way, cancelled, retried;
	struct cluster_intent *next;
};

static void intent_free(struct cluster_intent *i)
{
	struct cluster_link *l = i->link;

	for (struct cluster_intent **p = &l->intents; *p; p = &(*p)->next)
		if (*p == i) {
			*p = i->next;
			break;
		}
	free(i->account);
	cluster_tok_keys_clear(&i->keys);
	free(i);
}

void cluster_intent_token_changed(void *userdata, struct account *a)
{
	struct cluster_link *l = userdata;
	struct cluster_intent *i = a->cluster_call;

	if (i) {
		/* a refresh's: Meta's answer is durable here, not committed yet; the
		 * commit deletes the intent with it */
		testseam_freeze("commit", a->name);
		a->cluster_call = NULL;
		if (i->under_way)
			i->cancelled = true;
		else
			intent_free(i);
	}
	if (!l->synced || a->store_rev < 0) {
		l->resync = true; /* the next read of the store finds ours newer */
		return;
	}
	cluster_sync_push(l, a, a->store_rev);
}

/* ---- intents ---- */

static void on_withdrawn(const struct cluster_tok_result *r, void *userdata)
{
	(void)r;
	intent_free(userdata);
}

static void withdraw(struct cluster_intent *i)
{
	if (i->mod <= 0 ||
	    cluster_tok_withdraw(i->link->etcd, &i->keys, i->mod, on_withdrawn, i) < 0)
		intent_free(i);
}

static int send_intent(struct cluster_intent *i, int64_t epoch, int64_t intent_mod);

/* Another host's intent stands on the token: the refresh waits, unless it is
 * this host's own (from before a restart), old, or the token is urgent. */
static bool may_replace(struct cluster_link *l, struct account *a, const char *json,
			int64_t *ret_until, char *host, size_t host_len)
{
	cJSON *j = cJSON_Parse(json ?: "");
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "host"),
		    *t = cJSON_GetObjectItemCaseSensitive(j, "started_at");
	int64_t now = a->ctx->now(), grace = MIN(GRACE_MAX, 20 * l->ttl), started;
	bool replace = true;

	snprintf(host, host_len, "%s", cJSON_IsString(h) ? h->valuestring : "?");
	if (cJSON_IsString(h) && cJSON_IsNumber(t) && !streq(h->valuestring, l->host)) {
		started = (int64_t)t->valuedouble;
		*ret_until = started + grace;
		replace = started + grace <= now || account_urgent(a, now);
	}
	cJSON_Delete(j);
	return replace;
}

static void intent_failed(struct cluster_intent *i, struct account *a, const char *fmt, ...)
	_printf_(3, 4);
static void intent_failed(struct cluster_intent *i, struct account *a, const char *fmt, ...)
{
	engine_intent_done_t done = i->done;
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	a->cluster_call = NULL;
	intent_free(i);
	log_account(LOG_INFO, a->name, a->app->name, NULL, "not refreshed here now: %s", why);
	done(a, -EREMOTEIO, why);
}

static void on_intent(const struct cluster_tok_result *r, void *userdata)
{
	struct cluster_intent *i = userdata;
	struct cluster_link *l = i->link;
	struct account *a = l->ops->find(l->userdata, i->account);
	int64_t until = 0, epoch;
	char host[64];

	i->under_way = false;
	if (!a || a->cluster_call != i || i->cancelled) {
		i->mod = r->done ? r->revision : 0;
		withdraw(i);
		return;
	}
	if (r->error)
		return intent_failed(i, a, "the cluster store did not answer");
	if (r->done) {
		i->mod = r->revision;
		i->done(a, 0, NULL);
		return;
	}
	if (r->owner_changed)
		return intent_failed(i, a, "this host no longer owns app '%s'", a->app->name);
	if (r->mod_revision != i->base) {
		cluster_sync_reconcile(l, a, r->value, r->value_len, r->mod_revision);
		return intent_failed(i, a, "the token changed in the cluster store meanwhile");
	}
	if (!i->retried && may_replace(l, a, r->intent, &until, host, sizeof(host)) &&
	    (epoch = cluster_sync_my_epoch(l, a->app->name)) > 0) {
		i->retried = true;
		if (send_intent(i, epoch, r->intent_mod) >= 0)
			return;
	}
	a->cluster_wait_until = until;
	intent_failed(i, a, "host %s may be refreshing it (its intent stands); waiting", host);
}

static int send_intent(struct cluster_intent *i, int64_t epoch, int64_t intent_mod)
{
	struct cluster_link *l = i->link;
	char json[256];
	int k;

	snprintf(json, sizeof(json),
		 "{\"host\":\"%s\",\"base\":\"%" PRId64 "\",\"started_at\":%lld}", l->host, i->base,
		 (long long)engine_clock_now());
	k = cluster_tok_intent(l->etcd, &i->keys, epoch, i->base, intent_mod, json, on_intent, i);
	i->under_way = k >= 0;
	return k;
}

int cluster_intent_ask(void *userdata, struct account *a, engine_intent_done_t done)
{
	struct cluster_link *l = userdata;
	struct cluster_intent *i;
	int64_t epoch = cluster_sync_my_epoch(l, a->app->name);
	int k;

	if (!epoch || a->store_rev < 0 || a->cluster_call)
		return -EAGAIN;
	i = calloc(1, sizeof(*i));
	if (!i)
		return -ENOMEM;
	i->link = l;
	i->done = done;
	i->base = a->store_rev;
	i->next = l->intents;
	l->intents = i;
	k = (i->account = strdup(a->name)) ? cluster_sync_keys(l, a, &i->keys) : -ENOMEM;
	if (k >= 0)
		k = send_intent(i, epoch, 0);
	if (k < 0) {
		intent_free(i);
		return k;
	}
	a->cluster_wait_until = 0;
	a->cluster_call = i;
	return 0;
}

void cluster_intent_cancel(void *userdata, struct account *a)
{
	struct cluster_intent *i = a->cluster_call;
	(void)userdata;

	if (!i)
		return;
	a->cluster_call = NULL;
	if (i->under_way)
		i->cancelled = true; /* on_intent() withdraws it */
	else
		withdraw(i);
}

void cluster_intents_free(struct cluster_link *l)
{
	while (l->intents)
		intent_free(l->intents);
}

/* SPDX-License-Identifier: MIT */
/* The store's tokens and the local vault (engine/cluster-sync.h). */
#include "engine/cluster-sync.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "basic/log.h"
#include "basic/testseam.h"
#include "basic/util.h"
#include "cluster/owner.h"
#include "cluster/tokens.h"
#include "engine/account-record.h"
#include "net/etcd-watch.h"
#include "net/etcd.h"
#include "store/vault.h"

#define PAGE	  64  /* records per range page: well inside ETCD_ANSWER_MAX */
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

/* A commit (or withdrawal, read-back) under way. */
struct write {
	struct cluster_link *link;
	struct write *next;
	char *account;
	struct cluster_tok_keys keys;
	unsigned char *sealed;
	size_t len;
};

static int keys_for(struct cluster_link *l, const struct account *a, struct cluster_tok_keys *k)
{
	return cluster_tok_keys(l->prefix, a->name, a->app->name, k);
}

static struct account *account_of(struct cluster_link *l, const char *key)
{
	size_t n = strlen(l->tok_prefix);

	return strncmp(key, l->tok_prefix, n) == 0 ? l->ops->find(l->userdata, key + n) : NULL;
}

/* ---- which record is newer ---- */

static int compare(const struct vault_record *r, const struct account *a)
{
	if (r->generation != a->generation)
		return r->generation > a->generation ? 1 : -1;
	if (r->expires_at != a->expires_at && !r->no_token && a->has_token)
		return r->expires_at > a->expires_at ? 1 : -1;
	return 0;
}

static void push(struct cluster_link *l, struct account *a, int64_t base);

/* The store holds value (NULL: nothing) at revision mod for a. */
static void reconcile(struct cluster_link *l, struct account *a, const unsigned char *value,
		      size_t len, int64_t mod)
{
	_cleanup_(record_freep) struct vault_record *r = NULL;
	int k, c;

	if (!value) {
		a->store_rev = 0;
		if (a->has_token || a->generation > 0)
			push(l, a, 0); /* seeding an empty store from this vault */
		return;
	}
	k = vault_open_sealed(l->vault, a->name, value, len, &r);
	if (k < 0) {
		log_account_errno(LOG_ERR, k, a->name, a->app->name,
				  "the cluster store's record does not open here (%s): not taken",
				  k == -EBADMSG ? "forged, torn, or another key's" : "error");
		return;
	}
	c = compare(r, a);
	if (c > 0) {
		k = account_take_record(a, r, "the cluster store");
		if (k == -EBUSY) {
			l->resync = true; /* after this host's own write */
			return;
		}
		if (k < 0) {
			log_account_errno(LOG_ERR, k, a->name, a->app->name,
					  "cannot write the cluster store's record to the vault: "
					  "%m");
			return;
		}
	}
	a->store_rev = mod;
	if (c < 0)
		push(l, a, mod); /* ours is newer (a store restored from a backup, a seed) */
}

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

/* ---- commits ---- */

static void write_free(struct write *w)
{
	if (!w)
		return;
	for (struct write **p = &w->link->writes; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			break;
		}
	free(w->account);
	cluster_tok_keys_clear(&w->keys);
	free(w->sealed);
	free(w);
}

static void on_read_back(const struct cluster_tok_result *r, void *userdata);

static void on_committed(const struct cluster_tok_result *r, void *userdata)
{
	struct write *w = userdata;
	struct cluster_link *l = w->link;
	struct account *a = l->ops->find(l->userdata, w->account);

	if (a && r->error && r->maybe_applied &&
	    cluster_tok_read(l->etcd, &w->keys, w->sealed, w->len, on_read_back, w) >= 0)
		return; /* was it applied? read it back */
	if (a && r->error) {
		log_account(LOG_WARNING, a->name, a->app->name, NULL,
			    "token not in the cluster store yet (it does not answer): sent again "
			    "once it does");
		l->resync = true;
	} else if (a && r->done) {
		a->store_rev = r->revision;
		log_account(LOG_DEBUG, a->name, a->app->name, NULL,
			    "committed to the cluster store (revision %" PRId64 ")", r->revision);
	} else if (a)
		reconcile(l, a, r->value, r->value_len, r->mod_revision);
	write_free(w);
}

static void on_read_back(const struct cluster_tok_result *r, void *userdata)
{
	struct write *w = userdata;
	struct cluster_link *l = w->link;
	struct account *a = l->ops->find(l->userdata, w->account);

	if (a && r->error)
		l->resync = true;
	else if (a && r->done)
		a->store_rev = r->mod_revision;
	else if (a)
		reconcile(l, a, r->value, r->value_len, r->mod_revision);
	write_free(w);
}

/* The vault record of a, committed over the store's revision base. */
static void push(struct cluster_link *l, struct account *a, int64_t base)
{
	struct write *w = calloc(1, sizeof(*w));
	int k = w ? 0 : -ENOMEM;

	if (w) {
		w->link = l;
		w->next = l->writes;
		l->writes = w;
	}
	if (k == 0 && !(w->account = strdup(a->name)))
		k = -ENOMEM;
	if (k == 0)
		k = keys_for(l, a, &w->keys);
	if (k == 0)
		k = vault_read_sealed(l->vault, a->name, &w->sealed, &w->len);
	if (k == 0)
		k = cluster_tok_commit(l->etcd, &w->keys, base, w->sealed, w->len, on_committed, w);
	if (k < 0) {
		if (k != -ENOENT)
			log_account_errno(LOG_WARNING, k, a->name, a->app->name,
					  "cannot send the token to the cluster store: %m");
		l->resync = k != -ENOENT;
		write_free(w);
	}
}

void cluster_sync_token_changed(void *userdata, struct account *a)
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
	push(l, a, a->store_rev);
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
		reconcile(l, a, r->value, r->value_len, r->mod_revision);
		return intent_failed(i, a, "the token changed in the cluster store meanwhile");
	}
	if (!i->retried && may_replace(l, a, r->intent, &until, host, sizeof(host)) &&
	    cluster_owner_of(l->owner, a->app->name, &epoch) && epoch > 0) {
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

int cluster_sync_intent(void *userdata, struct account *a, engine_intent_done_t done)
{
	struct cluster_link *l = userdata;
	struct cluster_intent *i;
	int64_t epoch = 0;
	const char *owner = cluster_owner_of(l->owner, a->app->name, &epoch);
	int k;

	if (!owner || !streq(owner, l->host) || epoch <= 0 || a->store_rev < 0 || a->cluster_call)
		return -EAGAIN;
	i = calloc(1, sizeof(*i));
	if (!i)
		return -ENOMEM;
	i->link = l;
	i->done = done;
	i->base = a->store_rev;
	i->next = l->intents;
	l->intents = i;
	k = (i->account = strdup(a->name)) ? keys_for(l, a, &i->keys) : -ENOMEM;
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

void cluster_sync_intent_cancel(void *userdata, struct account *a)
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

/* ---- reading the store: one range, then the watch ---- */

static void on_watch(const struct etcd_watch_msg *m, void *userdata)
{
	struct cluster_link *l = userdata;

	for (size_t n = 0; n < m->n_events; n++) {
		const struct etcd_event *e = &m->events[n];
		struct account *a = account_of(l, e->kv.key);

		/* our own commits come back too: known already */
		if (a && !e->deleted && e->kv.mod_revision > a->store_rev)
			reconcile(l, a, e->kv.value, e->kv.value_len, e->kv.mod_revision);
	}
}

static void on_watch_ended(int error, const char *why, int64_t compact, void *userdata)
{
	struct cluster_link *l = userdata;

	l->watch = NULL; /* freed after this */
	l->synced = false;
	l->resync = true;
	log_warning("cluster store: the watch of tokens ended (%s%s), reading them again",
		    why
			    ?: error ? strerror(-error)
				     : "closed",
		    compact ? ", compacted" : "");
	if (l->ops->changed)
		l->ops->changed(l->userdata);
}

static const struct etcd_watch_ops watch_ops = { .message = on_watch, .ended = on_watch_ended };

static void on_page(const struct etcd_answer *ans, void *userdata);

static int ask_page(struct cluster_link *l, const char *from)
{
	return etcd_range(l->etcd, from, l->tok_end, PAGE, l->sync_rev, on_page, l, &l->page);
}

static void sync_failed(struct cluster_link *l, int error, const char *why)
{
	l->syncing = false;
	l->resync = true;
	log_warning("cluster store: cannot read the tokens (%s)", why ?: strerror(-error));
}

static void on_page(const struct etcd_answer *ans, void *userdata)
{
	struct cluster_link *l = userdata;
	size_t n_acc;
	struct account **all;
	int k;

	l->page = NULL;
	if (ans->error)
		return sync_failed(l, ans->error, ans->why);
	if (!l->sync_rev)
		l->sync_rev = ans->header.revision;
	for (size_t i = 0; i < ans->kvs.n; i++) {
		struct account *a = account_of(l, ans->kvs.kv[i].key);
		if (a)
			reconcile(l, a, ans->kvs.kv[i].value, ans->kvs.kv[i].value_len,
				  ans->kvs.kv[i].mod_revision);
	}
	if (ans->kvs.more && ans->kvs.n > 1) {
		/* the next page from the last key (read twice: reconcile() is idempotent) */
		k = ask_page(l, ans->kvs.kv[ans->kvs.n - 1].key);
		if (k < 0)
			sync_failed(l, k, NULL);
		return;
	}
	/* accounts the store does not hold yet: seeded from this vault */
	all = l->ops->accounts(l->userdata, &n_acc);
	for (size_t i = 0; i < n_acc; i++)
		if (all[i]->store_rev < 0)
			reconcile(l, all[i], NULL, 0, 0);
	k = etcd_watch(l->etcd, l->tok_prefix, l->tok_end, l->sync_rev + 1,
		       (uint64_t)MAX(3 * l->ttl, 660) * USEC_PER_SEC, &watch_ops, l, &l->watch);
	if (k < 0)
		return sync_failed(l, k, NULL);
	l->syncing = false;
	l->synced = true;
	log_info("cluster store: %zu accounts in step at revision %" PRId64, n_acc, l->sync_rev);
	if (l->ops->changed)
		l->ops->changed(l->userdata);
}

void cluster_sync_stop(struct cluster_link *l)
{
	if (l->watch)
		etcd_watch_free(TAKE_PTR(l->watch));
	if (l->page)
		etcd_call_cancel(TAKE_PTR(l->page));
	l->synced = false;
	l->syncing = false;
}

void cluster_sync_start(struct cluster_link *l)
{
	size_t n;
	struct account **all = l->ops->accounts(l->userdata, &n);
	int k;

	cluster_sync_stop(l);
	l->resync = false;
	l->syncing = true;
	l->sync_rev = 0;
	for (size_t i = 0; i < n; i++)
		all[i]->store_rev = -1; /* until the store is read */
	k = ask_page(l, l->tok_prefix);
	if (k < 0)
		sync_failed(l, k, NULL);
}

int cluster_sync_init(struct cluster_link *l)
{
	if (strjoin3(&l->tok_prefix, l->prefix, "tok/", "") < 0 ||
	    etcd_prefix_end(l->tok_prefix, &l->tok_end) < 0)
		return -ENOMEM;
	return 0;
}

void cluster_sync_done(struct cluster_link *l)
{
	while (l->intents)
		intent_free(l->intents);
	while (l->writes)
		write_free(l->writes);
	free(l->tok_prefix);
	free(l->tok_end);
}

/* SPDX-License-Identifier: MIT */
/* The store's tokens and the local vault (engine/cluster-sync.h). */
#include "engine/cluster-sync.h"

#include <inttypes.h>
#include <stdio.h>

#include "basic/log.h"
#include "basic/util.h"
#include "cluster/owner.h"
#include "cluster/tokens.h"
#include "engine/account-record.h"
#include "engine/token-write.h"
#include "meta/verdict.h"
#include "net/etcd-watch.h"
#include "net/etcd.h"
#include "store/vault.h"

#define PAGE 64 /* records per range page: well inside ETCD_ANSWER_MAX */

/* A commit (or its read-back) under way. */
struct write {
	struct cluster_link *link;
	struct write *next;
	char *account;
	struct cluster_tok_keys keys;
	unsigned char *sealed;
	size_t len;
};

int64_t cluster_sync_my_epoch(const struct cluster_link *l, const char *app)
{
	int64_t epoch = 0;
	const char *owner = l->owner ? cluster_owner_of(l->owner, app, &epoch) : NULL;

	return owner && streq(owner, l->host) && epoch > 0 ? epoch : 0;
}

int cluster_sync_keys(struct cluster_link *l, const struct account *a, struct cluster_tok_keys *k)
{
	return cluster_tok_keys(l->prefix, a->name, a->app->name, k);
}

static struct account *account_of(struct cluster_link *l, const char *key)
{
	size_t n = strlen(l->tok_prefix);

	return strncmp(key, l->tok_prefix, n) == 0 ? l->ops->find(l->userdata, key + n) : NULL;
}

/* ---- which record is newer ---- */

/* >0: r (the store's) is newer than what a holds; <0: a's is; 0: the same. */
static int compare(const struct vault_record *r, const struct account *a)
{
	bool r_revoked = r->no_token && r->verdict == VERDICT_OK,
	     a_revoked = !a->has_token && a->verdict == VERDICT_OK;

	if (r->generation != a->generation)
		return r->generation > a->generation ? 1 : -1;
	/* of one generation: an admin's revoke beats a token, a token beats a
	 * verdict's wipe (a verdict on a token another host has since replaced
	 * is no verdict, CLUSTER.md), the later expiry beats the earlier */
	if (r->no_token != !a->has_token) {
		if (r->no_token)
			return r_revoked ? 1 : -1;
		return a_revoked ? -1 : 1;
	}
	if (r->expires_at != a->expires_at)
		return r->expires_at > a->expires_at ? 1 : -1;
	return 0;
}

void cluster_sync_reconcile(struct cluster_link *l, struct account *a, const unsigned char *value,
			    size_t len, int64_t mod)
{
	_cleanup_(record_freep) struct vault_record *r = NULL;
	int k, c;

	/* a record as new is on its way to the vault: the account is compared once it lands */
	if (account_taking(a, mod))
		return;
	if (!value) {
		a->store_rev = 0;
		if (a->has_token || a->generation > 0)
			cluster_sync_push(l, a, 0); /* seeding an empty store from this vault */
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
		/* a->store_rev becomes mod once the record is durable here */
		k = account_take_record(a, r, "the cluster store", mod);
		if (k == -EBUSY)
			l->resync = true; /* after this host's own write */
		else if (k < 0)
			log_account_errno(LOG_ERR, k, a->name, a->app->name,
					  "cannot write the cluster store's record to the vault: "
					  "%m");
		return;
	}
	a->store_rev = mod;
	if (c < 0)
		cluster_sync_push(l, a,
				  mod); /* ours is newer (a store restored from a backup, a seed) */
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
		cluster_sync_reconcile(l, a, r->value, r->value_len, r->mod_revision);
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
		cluster_sync_reconcile(l, a, r->value, r->value_len, r->mod_revision);
	write_free(w);
}

/* The vault record of a, committed over the store's revision base. */
void cluster_sync_push(struct cluster_link *l, struct account *a, int64_t base)
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
		k = cluster_sync_keys(l, a, &w->keys);
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
/* ---- reading the store: one range, then the watch ---- */

static void on_watch(const struct etcd_watch_msg *m, void *userdata)
{
	struct cluster_link *l = userdata;

	for (size_t n = 0; n < m->n_events; n++) {
		const struct etcd_event *e = &m->events[n];
		struct account *a = account_of(l, e->kv.key);

		if (e->deleted)
			continue;
		/* our own commits come back too: known already */
		if (a && e->kv.mod_revision > a->store_rev)
			cluster_sync_reconcile(l, a, e->kv.value, e->kv.value_len,
					       e->kv.mod_revision);
		else if (!a && l->other_key)
			l->other_key(l, &e->kv);
		l->watch_rev = MAX(l->watch_rev, e->kv.mod_revision);
	}
	/* a progress notification: every event up to its revision has come */
	if (m->n_events == 0 && !m->created)
		l->watch_rev = MAX(l->watch_rev, m->header.revision);
}

static void on_watch_ended(int error, const char *why, int64_t compact, void *userdata)
{
	struct cluster_link *l = userdata;

	l->watch = NULL; /* freed after this */
	if (compact || l->watch_rev <= 0) {
		/* what it missed is gone from etcd's history: everything read again */
		l->synced = false;
		l->resync = true;
	} else
		l->rewatch = true; /* from where it was, on the next endpoint */
	log_warning("cluster store: the watch ended (%s%s), %s",
		    why
			    ?: error ? strerror(-error)
				     : "closed",
		    compact ? ", compacted" : "",
		    l->rewatch ? "watching again" : "reading the store again");
	if (l->ops->changed)
		l->ops->changed(l->userdata);
}

static const struct etcd_watch_ops watch_ops = { .message = on_watch, .ended = on_watch_ended };

static void on_page(const struct etcd_answer *ans, void *userdata);

static int ask_page(struct cluster_link *l, const char *from)
{
	return etcd_range(l->etcd, from, l->prefix_end, PAGE, l->sync_rev, on_page, l, &l->page);
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
			cluster_sync_reconcile(l, a, ans->kvs.kv[i].value, ans->kvs.kv[i].value_len,
					       ans->kvs.kv[i].mod_revision);
		else if (l->other_key)
			l->other_key(l, &ans->kvs.kv[i]);
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
			cluster_sync_reconcile(l, all[i], NULL, 0, 0);
	l->watch_rev = l->sync_rev;
	k = cluster_sync_rewatch(l);
	if (k < 0)
		return sync_failed(l, k, NULL);
	l->syncing = false;
	l->synced = true;
	log_info("cluster store: %zu accounts in step at revision %" PRId64, n_acc, l->sync_rev);
	if (l->ops->changed)
		l->ops->changed(l->userdata);
}

int cluster_sync_rewatch(struct cluster_link *l)
{
	/* three lease TTLs without a word, not even a progress notification
	 * (etcd's --experimental-watch-progress-notify-interval): a dead stream */
	l->rewatch = false;
	return etcd_watch(l->etcd, l->prefix, l->prefix_end, l->watch_rev + 1,
			  (uint64_t)(3 * l->ttl) * USEC_PER_SEC, &watch_ops, l, &l->watch);
}

void cluster_sync_stop(struct cluster_link *l)
{
	if (l->watch)
		etcd_watch_free(TAKE_PTR(l->watch));
	if (l->page)
		etcd_call_cancel(TAKE_PTR(l->page));
	l->synced = false;
	l->syncing = false;
	l->rewatch = false;
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
	k = ask_page(l, l->prefix);
	if (k < 0)
		sync_failed(l, k, NULL);
}

int cluster_sync_init(struct cluster_link *l)
{
	if (strjoin3(&l->tok_prefix, l->prefix, "tok/", "") < 0 ||
	    etcd_prefix_end(l->prefix, &l->prefix_end) < 0)
		return -ENOMEM;
	return 0;
}

void cluster_sync_done(struct cluster_link *l)
{
	while (l->writes)
		write_free(l->writes);
	free(l->tok_prefix);
	free(l->prefix_end);
}

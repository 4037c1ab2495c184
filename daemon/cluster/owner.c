/* SPDX-License-Identifier: MIT */
#include "cluster/owner.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>

#include "basic/log.h"
#include "basic/util.h"
#include "cluster/session.h"
#include "net/etcd.h"

struct app_owner {
	struct cluster_owner *o;
	char *app, *key;
	char *owner;		/* as last read, or NULL */
	int64_t epoch, lease;	/* the owner key's create revision and lease */
	uint64_t unowned_since; /* CLOCK_MONOTONIC; 0 while owned */
	struct etcd_call *claim;
};

struct cluster_owner {
	sd_event *event;
	struct etcd_client *etcd;
	struct cluster_session *session;
	char *host, *apps_prefix, *apps_end;
	int64_t ttl;
	uint64_t started; /* claims wait a TTL: hosts starting together see each other */
	struct app_owner *apps;
	size_t n_apps;
	sd_event_source *tick;
	struct etcd_call *read;
	const struct cluster_owner_ops *ops;
	void *userdata;
};

const char *cluster_owner_preferred(const char *app, char *const *hosts, size_t n_hosts)
{
	const char *best = NULL;
	uint64_t top = 0;

	/* SipHash under a fixed key: well mixed, the same on every host (FNV-1a
	 * ranked hosts the same way for every app) */
	static const unsigned char key[crypto_shorthash_KEYBYTES] = "igtokend-owners";

	for (size_t i = 0; i < n_hosts; i++) {
		unsigned char out[crypto_shorthash_BYTES];
		char both[512];
		uint64_t h;
		int n = snprintf(both, sizeof(both), "%s\n%s", hosts[i], app);
		crypto_shorthash(out, (const unsigned char *)both,
				 (unsigned long long)MIN((size_t)n, sizeof(both) - 1), key);
		memcpy(&h, out, sizeof(h));
		if (!best || h > top || (h == top && strcmp(hosts[i], best) < 0)) {
			best = hosts[i];
			top = h;
		}
	}
	return best;
}

static void set_owner(struct app_owner *a, const char *owner, int64_t epoch, int64_t lease)
{
	bool same =
		owner && a->owner ? streq(owner, a->owner) && a->epoch == epoch : owner == a->owner;

	if (same)
		return;
	free(a->owner);
	a->owner = owner ? strdup(owner) : NULL;
	a->epoch = owner ? epoch : 0;
	a->lease = owner ? lease : 0;
	a->unowned_since = owner ? 0 : now_monotonic_usec();
	log_info("cluster: app %s: owner %s%s", a->app, owner ?: "none",
		 owner && streq(owner, a->o->host) ? " (this host)" : "");
	if (a->o->ops && a->o->ops->changed)
		a->o->ops->changed(a->o, a->app, a->o->userdata);
}

/* The owner key as etcd has it (kv NULL: none). */
static void read_owner(struct app_owner *a, const struct etcd_kv *kv)
{
	if (!kv || kv->value_len == 0 || memchr(kv->value, '\0', kv->value_len))
		set_owner(a, NULL, 0, 0);
	else
		set_owner(a, (const char *)kv->value, kv->create_revision, kv->lease);
}

static void on_claimed(const struct etcd_answer *r, void *userdata)
{
	struct app_owner *a = userdata;
	const struct etcd_kvs *now;

	a->claim = NULL;
	if (r->error) {
		log_debug("cluster: claim of app %s not answered: %s", a->app, r->why ?: "");
		return; /* read again at the next tick: it may have been applied */
	}
	if (r->txn.succeeded) {
		set_owner(a, a->o->host, r->header.revision, cluster_session_lease(a->o->session));
		return;
	}
	now = r->txn.n_ranges > 0 ? &r->txn.ranges[0] : NULL;
	read_owner(a, now && now->n > 0 ? &now->kv[0] : NULL);
}

static void claim(struct app_owner *a)
{
	struct cluster_owner *o = a->o;
	int64_t lease = cluster_session_lease(o->session);
	struct etcd_cmp none = { .key = a->key, .target = ETCD_CREATE, .number = 0 };
	struct etcd_op put = { .kind = ETCD_OP_PUT,
			       .key = a->key,
			       .value = o->host,
			       .value_len = strlen(o->host),
			       .lease = lease };
	struct etcd_op read = { .kind = ETCD_OP_RANGE, .key = a->key };

	if (a->claim || !lease || !cluster_session_alive_for(o->session, 0))
		return;
	if (etcd_txn(o->etcd, &(struct etcd_txn){ &none, 1, &put, &read, 1, 1 }, on_claimed, a,
		     &a->claim) < 0)
		a->claim = NULL;
}

/* Claims what nobody owns: the preferred host at once, the others after a TTL. */
static void claim_unowned(struct cluster_owner *o)
{
	size_t n_hosts;
	char *const *hosts = cluster_session_hosts(o->session, &n_hosts);
	uint64_t now = now_monotonic_usec(), ttl = (uint64_t)o->ttl * USEC_PER_SEC;

	if (now < o->started + ttl)
		return;
	for (size_t i = 0; i < o->n_apps; i++) {
		struct app_owner *a = &o->apps[i];
		const char *pref = cluster_owner_preferred(a->app, hosts, n_hosts);
		if (a->owner)
			continue;
		if ((pref && streq(pref, o->host)) || now >= a->unowned_since + ttl)
			claim(a);
	}
}

static struct app_owner *find(const struct cluster_owner *o, const char *app)
{
	for (size_t i = 0; i < o->n_apps; i++)
		if (streq(o->apps[i].app, app))
			return &o->apps[i];
	return NULL;
}

static void on_read(const struct etcd_answer *r, void *userdata)
{
	struct cluster_owner *o = userdata;

	o->read = NULL;
	if (r->error)
		return; /* what is known stands; mine() still asks the lease */
	for (size_t i = 0; i < o->n_apps; i++) {
		const struct etcd_kv *kv = NULL;
		for (size_t k = 0; k < r->kvs.n && !kv; k++)
			if (streq(r->kvs.kv[k].key, o->apps[i].key))
				kv = &r->kvs.kv[k];
		read_owner(&o->apps[i], kv);
	}
	claim_unowned(o);
}

static int on_tick(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct cluster_owner *o = userdata;
	(void)usec;

	(void)sd_event_source_set_time_relative(src, (uint64_t)o->ttl * USEC_PER_SEC / 3);
	if (!o->read &&
	    etcd_range(o->etcd, o->apps_prefix, o->apps_end, 0, 0, on_read, o, &o->read) < 0)
		o->read = NULL;
	return 0;
}

int cluster_owner_new(sd_event *e, struct etcd_client *c, struct cluster_session *s,
		      const char *prefix, const char *host, char *const *apps, size_t n_apps,
		      int64_t ttl_sec, const struct cluster_owner_ops *ops, void *userdata,
		      struct cluster_owner **ret)
{
	struct cluster_owner *o = calloc(1, sizeof(*o));
	int k = o ? 0 : -ENOMEM;

	if (!o)
		return k;
	o->event = sd_event_ref(e);
	o->etcd = c;
	o->session = s;
	o->ttl = ttl_sec;
	o->started = now_monotonic_usec();
	o->ops = ops;
	o->userdata = userdata;
	if (!(o->host = strdup(host)) || !(o->apps = calloc(n_apps ?: 1, sizeof(*o->apps))))
		k = -ENOMEM;
	if (k >= 0)
		k = strjoin3(&o->apps_prefix, prefix, "apps/", "");
	if (k >= 0)
		k = etcd_prefix_end(o->apps_prefix, &o->apps_end);
	for (size_t i = 0; k >= 0 && i < n_apps; i++, o->n_apps++) {
		o->apps[i].o = o;
		o->apps[i].unowned_since = now_monotonic_usec();
		if (!(o->apps[i].app = strdup(apps[i])))
			k = -ENOMEM;
		else
			k = strjoin3(&o->apps[i].key, o->apps_prefix, apps[i], "/owner");
	}
	if (k >= 0)
		k = sd_event_add_time_relative(e, &o->tick, CLOCK_MONOTONIC, 0, 10 * USEC_PER_MSEC,
					       on_tick, o);
	if (k >= 0)
		k = sd_event_source_set_enabled(o->tick, SD_EVENT_ON);
	if (k < 0) {
		cluster_owner_free(o);
		return k;
	}
	(void)sd_event_source_set_description(o->tick, "cluster-owner");
	*ret = o;
	return 0;
}

struct cluster_owner *cluster_owner_free(struct cluster_owner *o)
{
	if (!o)
		return NULL;
	etcd_call_cancel(o->read);
	for (size_t i = 0; i < o->n_apps; i++) {
		etcd_call_cancel(o->apps[i].claim);
		free(o->apps[i].app);
		free(o->apps[i].key);
		free(o->apps[i].owner);
	}
	free(o->apps);
	sd_event_source_disable_unref(o->tick);
	sd_event_unref(o->event);
	free(o->host);
	free(o->apps_prefix);
	free(o->apps_end);
	free(o);
	return NULL;
}

bool cluster_owner_mine(const struct cluster_owner *o, const char *app, uint64_t margin_usec)
{
	const struct app_owner *a = find(o, app);
	int64_t lease = cluster_session_lease(o->session);

	return a && a->owner && streq(a->owner, o->host) && lease && a->lease == lease &&
	       cluster_session_alive_for(o->session, margin_usec);
}

const char *cluster_owner_of(const struct cluster_owner *o, const char *app, int64_t *ret_epoch)
{
	const struct app_owner *a = find(o, app);

	if (ret_epoch)
		*ret_epoch = a ? a->epoch : 0;
	return a ? a->owner : NULL;
}

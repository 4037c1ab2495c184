/* SPDX-License-Identifier: MIT */
/* This host's link to the cluster store: start-up order, ownership, and what
 * the engine asks (engine/cluster-link.h). The store's tokens and the local
 * vault: engine/cluster-sync.c. */
#include "engine/cluster-link.h"

#include <cjson/cJSON.h>
#include <sodium.h>
#include <stdio.h>

#include "basic/log.h"
#include "basic/util.h"
#include "cluster/keycheck.h"
#include "cluster/owner.h"
#include "cluster/session.h"
#include "engine/cluster-admin.h"
#include "engine/cluster-intent.h"
#include "engine/cluster-rl.h"
#include "engine/cluster-sync.h"

#define TICK_USEC (1 * USEC_PER_SEC)

/* ---- what the engine asks ---- */

static bool link_may_call(void *userdata, const struct account *a, char *why, size_t len)
{
	struct cluster_link *l = userdata;
	const char *app = a->app->name, *owner;
	uint64_t margin = (uint64_t)(l->timeout + 1) * USEC_PER_SEC;

	if (!l->synced || a->store_rev < 0) {
		if (why)
			snprintf(why, len, "the cluster store %s",
				 cluster_link_store_up(l) ? "has not been read yet"
							  : "does not answer");
		return false;
	}
	if (cluster_owner_mine(l->owner, app, margin))
		return true;
	if (why) {
		owner = cluster_owner_of(l->owner, app, NULL);
		if (owner && streq(owner, l->host))
			snprintf(why, len,
				 "this host's lease in the cluster store may lapse before Meta "
				 "answers");
		else if (owner)
			snprintf(why, len, "app '%s' is refreshed by host %s in cluster '%s'", app,
				 owner, l->name);
		else
			snprintf(why, len, "app '%s' has no owner in cluster '%s' yet", app,
				 l->name);
	}
	return false;
}

/* A key of the prefix that is not a token's. */
static void other_key(struct cluster_link *l, const struct etcd_kv *kv)
{
	cluster_rl_take(l, kv);
	cluster_admin_take(l, kv);
}

/* ---- start-up: the key check first, then the session, owners, tokens ---- */

static void on_owner_changed(struct cluster_owner *o, const char *app, void *userdata)
{
	struct cluster_link *l = userdata;
	(void)o;
	(void)app;

	if (l->ops->changed)
		l->ops->changed(l->userdata);
}

/* A digest of what must be the same on every host (apps, accounts, refresh
 * and rate-limit settings), keyed from the vault key: comparable between
 * hosts, meaningless to anyone without the key. */
static int config_digest(const struct config *c, const struct secret *key, char out[33])
{
	_cleanup_free_ char *text = NULL;
	unsigned char h[16], k[crypto_generichash_KEYBYTES];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	const struct refresh_config *r = &c->refresh;

	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_apps; i++) {
		const struct app_config *a = c->apps[i];
		fprintf(f, "app %s %d %s %s %s %s\n", a->name, (int)a->platform, a->app_id ?: "",
			a->api_url ?: "", a->oauth_url ?: "", a->api_version ?: "");
	}
	for (size_t i = 0; i < c->n_accounts; i++) {
		const struct account_config *a = c->accounts[i];
		fprintf(f, "account %s %s", a->name, a->app_name);
		for (size_t s = 0; a->scopes && a->scopes[s]; s++)
			fprintf(f, " %s", a->scopes[s]);
		fputc('\n', f);
	}
	fprintf(f, "refresh %lld %lld %lld %lld %lld %lld %lld %lld rl %lld %lld\n",
		(long long)r->before_expiry, (long long)r->min_age, (long long)r->jitter,
		(long long)r->retry_initial, (long long)r->retry_max, (long long)r->timeout,
		(long long)r->validate_every, (long long)r->max_in_flight,
		(long long)c->rate_limit.slow_above, (long long)c->rate_limit.stop_above);
	if (fclose(f) != 0)
		return -ENOMEM;
	crypto_generichash(k, sizeof(k), (const unsigned char *)"igtokend config digest", 22,
			   (const unsigned char *)key->data, key->len);
	crypto_generichash(h, sizeof(h), (const unsigned char *)text, len, k, sizeof(k));
	sodium_memzero(k, sizeof(k));
	sodium_bin2hex(out, 33, h, sizeof(h));
	return 0;
}

/* What this host publishes in hosts/<host>. */
static int make_info(struct cluster_link *l, const struct config *c)
{
	char *info = NULL;
	int r = config_digest(c, vault_key(l->vault), l->digest);

	if (r < 0)
		return r;
	if (asprintf(&info, "{\"version\":\"%s\",\"started_at\":%lld,\"config\":\"%s\"}",
		     IGTOKEND_VERSION, (long long)l->started_at, l->digest) < 0)
		return -ENOMEM;
	free(l->info);
	l->info = info;
	return 0;
}

/* The hosts that publish another configuration digest than ours. */
static void compare_configs(struct cluster_link *l)
{
	size_t n;
	char *const *hosts = cluster_session_hosts(l->session, &n);
	_cleanup_strv_free_ char **differ = NULL;
	size_t k = 0;

	differ = calloc(n + 1, sizeof(char *));
	if (!differ)
		return;
	for (size_t i = 0; i < n; i++) {
		cJSON *j = cJSON_Parse(cluster_session_host_info(l->session, i) ?: "");
		const char *d = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "config"));
		if (!streq(hosts[i], l->host) && !streq_ptr(d, l->digest) &&
		    (differ[k] = strdup(hosts[i])))
			k++;
		cJSON_Delete(j);
	}
	if (strv_equal(differ, l->differ))
		return;
	if (k > 0)
		log_warning("cluster '%s': %zu host(s), %s first, run another configuration of "
			    "apps, accounts or refresh settings than this host",
			    l->name, k, differ[0]);
	else if (l->differ && l->differ[0])
		log_info("cluster '%s': every host runs the same configuration", l->name);
	strv_free(l->differ);
	l->differ = TAKE_PTR(differ);
}

static void on_session_changed(struct cluster_session *s, void *userdata)
{
	struct cluster_link *l = userdata;

	compare_configs(l);
	if (!cluster_session_store_up(s) && l->synced) {
		/* reads go on from the vault; the store is read again once it answers */
		cluster_sync_stop(l);
		l->resync = true;
	}
	if (l->ops->changed)
		l->ops->changed(l->userdata);
}

static const struct cluster_session_ops session_ops = { .changed = on_session_changed };
static const struct cluster_owner_ops owner_ops = { .changed = on_owner_changed };

static int join(struct cluster_link *l)
{
	struct cluster_session_config sc = {
		.prefix = l->prefix, .host = l->host, .ttl_sec = l->ttl, .info = l->info
	};
	int r = cluster_session_new(l->event, l->etcd, &sc, &session_ops, l, &l->session);

	if (r >= 0)
		r = cluster_owner_new(l->event, l->etcd, l->session, l->prefix, l->host, l->apps,
				      l->n_apps, l->ttl, &owner_ops, l, &l->owner);
	if (r < 0)
		return log_error_errno(r, "cluster: cannot join: %m");
	l->resync = true;
	return 0;
}

static void on_keycheck(int error, void *userdata)
{
	struct cluster_link *l = userdata;

	l->keycheck = NULL;
	if (error == -EKEYREJECTED) {
		log_error("cluster '%s': the store's key check does not open under this host's "
			  "vault key: another key's store; not joining, nothing written",
			  l->name);
		l->ops->fatal(l->userdata, "the cluster store belongs to another vault key");
		return;
	}
	if (error < 0) {
		log_warning_errno(error, "cluster '%s': store not checked yet (%m); trying again",
				  l->name);
		return;
	}
	l->key_ok = true;
	log_info("cluster '%s': the store's key check opens; joining as %s", l->name, l->host);
	(void)join(l);
}

/* Once a second: what waits for the store, and which apps this host owns
 * (their accounts' deadlines are filed again when that changes). */
static int on_tick(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct cluster_link *l = userdata;

	if (!l->key_ok && !l->keycheck)
		(void)cluster_keycheck(l->etcd, l->prefix, l->name, vault_key(l->vault),
				       on_keycheck, l, &l->keycheck);
	if (l->session && l->resync && !l->syncing && cluster_session_store_up(l->session) &&
	    cluster_session_lease(l->session) > 0)
		cluster_sync_start(l);
	else if (l->rewatch && !l->watch && cluster_sync_rewatch(l) < 0) {
		l->synced = false;
		l->resync = true;
	}
	for (size_t i = 0; l->owner && i < l->n_apps; i++) {
		bool may = l->synced && cluster_sync_my_epoch(l, l->apps[i]) > 0;
		if (may != l->may[i]) {
			l->may[i] = may;
			log_info("cluster: app '%s' %s", l->apps[i],
				 may ? "is refreshed by this host"
				     : "is not refreshed by this host now");
			l->ops->kick(l->userdata, l->apps[i]);
		}
	}
	(void)sd_event_source_set_time(s, usec + TICK_USEC);
	return 0;
}

static bool link_owns(void *userdata, const struct account *a)
{
	struct cluster_link *l = userdata;

	return l->synced && a->store_rev >= 0 && cluster_sync_my_epoch(l, a->app->name);
}

int cluster_link_new(sd_event *e, const struct config *c, struct vault *v,
		     const struct cluster_link_ops *ops, void *userdata, struct cluster_link **ret)
{
	const struct cluster_config *cc = c->cluster;
	struct cluster_link *l = calloc(1, sizeof(*l));
	struct etcd_options o = {
		.endpoints = cc->endpoints,
		.n_endpoints = strv_length(cc->endpoints),
		.ca_file = cc->ca_file,
		.cert_file = cc->cert_file,
		.key_file = cc->key_file,
		.user = cc->user,
		.password = cc->password,
		.timeout_sec = MAX(cc->lease_ttl / 3, 1),
	};
	int r;

	if (!l)
		return -ENOMEM;
	l->event = sd_event_ref(e);
	l->vault = v;
	l->ops = ops;
	l->userdata = userdata;
	l->ttl = cc->lease_ttl;
	l->other_key = other_key;
	l->timeout = c->refresh.timeout;
	l->engine = (struct engine_cluster){ .may_call = link_may_call,
					     .owns = link_owns,
					     .intent = cluster_intent_ask,
					     .intent_cancel = cluster_intent_cancel,
					     .token_changed = cluster_intent_token_changed,
					     .app_changed = cluster_rl_app_changed,
					     .forward_refresh = cluster_admin_forward,
					     .userdata = l };
	l->n_apps = c->n_apps;
	l->apps = calloc(c->n_apps + 1, sizeof(char *));
	l->may = calloc(c->n_apps + 1, sizeof(bool));
	r = l->apps && l->may ? 0 : -ENOMEM;
	for (size_t i = 0; r == 0 && i < c->n_apps; i++)
		if (!(l->apps[i] = strdup(c->apps[i]->name)))
			r = -ENOMEM;
	l->started_at = engine_clock_now();
	if (r == 0 && (!(l->name = strdup(cc->name)) || !(l->host = strdup(cc->host)) ||
		       asprintf(&l->prefix, "/igtokend/%s/v1/", cc->name) < 0))
		r = -ENOMEM;
	if (r == 0)
		r = make_info(l, c);
	if (r == 0)
		r = cluster_sync_init(l);
	if (r == 0)
		r = etcd_client_new(e, &o, &l->etcd);
	if (r == 0)
		r = sd_event_add_time_relative(e, &l->tick, CLOCK_MONOTONIC, 0, 0, on_tick, l);
	if (r == 0)
		r = sd_event_source_set_enabled(l->tick, SD_EVENT_ON);
	if (r < 0) {
		cluster_link_free(l);
		return r;
	}
	log_info("cluster '%s': host %s, store %s, lease %llds", l->name, l->host,
		 etcd_client_endpoint(l->etcd), (long long)l->ttl);
	*ret = l;
	return 0;
}

struct cluster_link *cluster_link_free(struct cluster_link *l)
{
	if (!l)
		return NULL;
	sd_event_source_disable_unref(l->tick);
	if (l->etcd) {
		if (l->keycheck)
			etcd_call_cancel(l->keycheck);
		cluster_admin_done(l);
		cluster_sync_stop(l);
		cluster_owner_free(l->owner);
		cluster_session_free(l->session);
		etcd_client_free(l->etcd);
	}
	cluster_intents_free(l);
	cluster_sync_done(l);
	strv_free(l->apps);
	strv_free(l->differ);
	free(l->may);
	free(l->name);
	free(l->host);
	free(l->prefix);
	free(l->info);
	sd_event_unref(l->event);
	free(l);
	return NULL;
}

int cluster_link_stop(struct cluster_link *l, void (*done)(void *userdata), void *userdata)
{
	if (!l->session || cluster_session_lease(l->session) <= 0)
		return -ENOENT;
	cluster_sync_stop(l);
	l->synced = false; /* no Meta call from here on */
	return cluster_session_stop(l->session, done, userdata);
}

void cluster_link_reloaded(struct cluster_link *l, const struct config *c)
{
	bool same = c->n_apps == l->n_apps;

	for (size_t i = 0; same && i < c->n_apps; i++)
		same = streq(c->apps[i]->name, l->apps[i]);
	if (!same)
		log_warning("cluster: apps added or removed are owned from the next start on; "
			    "until then this host calls Meta for the apps it started with only");
	if (c->cluster && (!streq(c->cluster->name, l->name) || !streq(c->cluster->host, l->host) ||
			   c->cluster->lease_ttl != l->ttl))
		log_warning("cluster: changed 'cluster' settings take effect at the next start");
	l->timeout = MIN(c->refresh.timeout, l->ttl * 2 / 3 - 1);
	if (make_info(l, c) >= 0 && l->session)
		(void)cluster_session_set_info(l->session, l->info);
	if (l->key_ok)
		l->resync = true;
}

const struct engine_cluster *cluster_link_engine(const struct cluster_link *l)
{
	return &l->engine;
}

const char *cluster_link_name(const struct cluster_link *l)
{
	return l->name;
}

const char *cluster_link_host(const struct cluster_link *l)
{
	return l->host;
}

bool cluster_link_store_up(const struct cluster_link *l)
{
	return l->session ? cluster_session_store_up(l->session) : l->key_ok;
}

const char *cluster_link_error(const struct cluster_link *l)
{
	if (!l->session)
		return l->key_ok ? "" : "the store's key check is not read yet";
	return cluster_session_error(l->session);
}

char *const *cluster_link_hosts(const struct cluster_link *l, size_t *ret_n)
{
	if (!l->session) {
		*ret_n = 0;
		return NULL;
	}
	return cluster_session_hosts(l->session, ret_n);
}

const char *cluster_link_owner(const struct cluster_link *l, const char *app)
{
	return l->owner ? cluster_owner_of(l->owner, app, NULL) : NULL;
}

char *const *cluster_link_config_differs(const struct cluster_link *l, size_t *ret_n)
{
	*ret_n = strv_length(l->differ);
	return l->differ;
}

bool cluster_link_owns(const struct cluster_link *l, const char *app)
{
	return cluster_sync_my_epoch(l, app) > 0;
}

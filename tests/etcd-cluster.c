/* SPDX-License-Identifier: MIT */
/* test-etcd's scenarios for the cluster modules (cluster/): a host's session,
 * one owner per app, the store's key check, a token's intent and commit. */
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/util.h"
#include "cluster/keycheck.h"
#include "cluster/owner.h"
#include "cluster/session.h"
#include "cluster/tokens.h"
#include "etcd-world.h"
#define TAP_SHARED
#include "tap.h"

/* ---- a host's session (cluster/session.h) ---- */

static struct cluster_session *session(struct etcd_client *c, const char *host)
{
	struct cluster_session_config cfg = { .prefix = "/igtokend/test/v1/",
					      .host = host,
					      .ttl_sec = 2,
					      .info = "{\"version\":\"test\"}" };
	struct cluster_session *s = NULL;

	CHECK_INT(cluster_session_new(event, c, &cfg, NULL, NULL, &s), 0);
	return s;
}

static size_t n_hosts(struct cluster_session *s)
{
	size_t n;

	(void)cluster_session_hosts(s, &n);
	return n;
}

/* Runs the loop until n_hosts(s) == want; the seconds it took, or -1. */
static double until_hosts(struct cluster_session *s, size_t want, double seconds)
{
	uint64_t t0 = now_monotonic_usec(), end = t0 + (uint64_t)(seconds * 1e6);

	while (n_hosts(s) != want && now_monotonic_usec() < end)
		sd_event_run(event, 50 * 1000);
	return n_hosts(s) == want ? (double)(now_monotonic_usec() - t0) / 1e6 : -1;
}

static void stopped(void *userdata)
{
	*(bool *)userdata = true;
}

void scenario_session(char **argv)
{
	struct etcd_client *c = client(argv, 3, &(struct etcd_options){ .timeout_sec = 1 });
	struct cluster_session *a = session(c, "a"), *b = session(c, "b"), *h = session(c, "c");
	pid_t pids[2] = { (pid_t)strtol(argv[3], NULL, 10), (pid_t)strtol(argv[4], NULL, 10) };
	bool done = false;
	double t;
	uint64_t last_alive = 0, lost_at;

	CHECK(until_hosts(a, 3, 10) >= 0);
	CHECK(cluster_session_store_up(a) && cluster_session_lease(a) > 0);
	CHECK(cluster_session_alive_for(a, USEC_PER_SEC)); /* TTL 2 s, renewed every 0.67 s */
	/* a host that dies: its lease lapses, the others see it gone */
	b = cluster_session_free(b);
	t = until_hosts(a, 2, 10);
	fprintf(stderr, "  a dead host left the list after %.2f s (TTL 2 s)\n", t);
	CHECK(t >= 0 && t < 2 * 2 + 5); /* CONTRACT 13's bound for a takeover */
	/* a clean stop: the lease is revoked, at once */
	CHECK_INT(cluster_session_stop(h, stopped, &done), 0);
	CHECK(run_until(&done, 5));
	h = cluster_session_free(h);
	t = until_hosts(a, 1, 5);
	fprintf(stderr, "  a stopped host left the list after %.2f s\n", t);
	CHECK(t >= 0 && t < 2); /* before its lease could have lapsed: it was revoked */
	/* the store loses its quorum: the lease is surely alive only until it was last
	 * renewed + TTL, then nothing holds; afterwards, a lease again */
	CHECK_INT(kill(pids[0], SIGSTOP), 0);
	CHECK_INT(kill(pids[1], SIGSTOP), 0);
	lost_at = now_monotonic_usec();
	while (now_monotonic_usec() <
	       lost_at + 8 * USEC_PER_SEC) { /* 3 endpoints x 1 s, and slack */
		sd_event_run(event, 50 * 1000);
		if (cluster_session_alive_for(a, 0))
			last_alive = now_monotonic_usec();
	}
	fprintf(stderr, "  quorum lost: surely alive until %.2f s after, store %s (%s)\n",
		(double)(last_alive - lost_at) / 1e6, cluster_session_store_up(a) ? "up" : "down",
		cluster_session_error(a));
	CHECK(last_alive - lost_at <= 2 * USEC_PER_SEC + 100 * 1000); /* within the TTL */
	CHECK(!cluster_session_store_up(a) && !cluster_session_alive_for(a, 0));
	CHECK_INT(kill(pids[0], SIGCONT), 0);
	CHECK_INT(kill(pids[1], SIGCONT), 0);
	{
		uint64_t end = now_monotonic_usec() + 20 * USEC_PER_SEC;
		while (!cluster_session_alive_for(a, USEC_PER_SEC) && now_monotonic_usec() < end)
			sd_event_run(event, 50 * 1000);
	}
	CHECK(cluster_session_store_up(a) && cluster_session_alive_for(a, USEC_PER_SEC));
	CHECK(until_hosts(a, 1, 10) >= 0);
	cluster_session_free(a);
	etcd_client_free(c);
}

/* ---- one owner per app (cluster/owner.h) ---- */

#define N_APPS 6
static char app_names[N_APPS][8] = { "app0", "app1", "app2", "app3", "app4", "app5" };
static char *const apps[N_APPS] = { app_names[0], app_names[1], app_names[2],
				    app_names[3], app_names[4], app_names[5] };

struct host {
	const char *name;
	struct cluster_session *s;
	struct cluster_owner *o;
};

/* Every app owned by a live host, and every live host agrees; no app ever
 * owned (mine) by two hosts at once. */
static bool settled(struct host *h, size_t n, unsigned *overlaps)
{
	bool ok = true;

	for (size_t a = 0; a < N_APPS; a++) {
		const char *first = NULL;
		unsigned mine = 0;
		for (size_t i = 0; i < n; i++) {
			const char *o;
			if (!h[i].o)
				continue;
			o = cluster_owner_of(h[i].o, apps[a], NULL);
			mine += cluster_owner_mine(h[i].o, apps[a], 0);
			if (!o || (first && !streq(o, first)))
				ok = false;
			first = first ?: o;
		}
		bool live = false;
		for (size_t i = 0; first && i < n; i++)
			live |= h[i].o && streq(h[i].name, first);
		ok &= live && mine == 1;
		*overlaps += mine > 1;
	}
	return ok;
}

static double until_settled(struct host *h, size_t n, double seconds, unsigned *overlaps)
{
	uint64_t t0 = now_monotonic_usec(), end = t0 + (uint64_t)(seconds * 1e6);

	while (!settled(h, n, overlaps) && now_monotonic_usec() < end)
		sd_event_run(event, 20 * 1000);
	return settled(h, n, overlaps) ? (double)(now_monotonic_usec() - t0) / 1e6 : -1;
}

void scenario_owner(char **urls)
{
	struct etcd_client *c = client(urls, 3, &(struct etcd_options){ .timeout_sec = 1 });
	struct host h[3] = { { .name = "a" }, { .name = "b" }, { .name = "c" } };
	unsigned overlaps = 0, dead_owned = 0;
	const char *victim;
	double t;

	for (size_t i = 0; i < 3; i++) {
		h[i].s = session(c, h[i].name);
		CHECK_INT(cluster_owner_new(event, c, h[i].s, "/igtokend/test/v1/", h[i].name, apps,
					    N_APPS, 2, NULL, NULL, &h[i].o),
			  0);
	}
	t = until_settled(h, 3, 15, &overlaps);
	fprintf(stderr, "  every app owned, all hosts agreeing, after %.2f s\n", t);
	CHECK(t >= 0);
	/* the owner of app0 dies, three times over (it comes back each time) */
	for (int round = 0; round < 3; round++) {
		victim = cluster_owner_of(h[0].o, "app0", NULL);
		for (size_t i = 0; i < 3; i++)
			if (h[i].o && streq(h[i].name, victim)) {
				for (size_t a = 0; a < N_APPS; a++)
					dead_owned += cluster_owner_mine(h[i].o, apps[a], 0);
				h[i].o = cluster_owner_free(h[i].o);
				h[i].s = cluster_session_free(h[i].s);
				t = until_settled(h, 3, 20, &overlaps);
				fprintf(stderr,
					"  round %d: %s died; its apps owned again after %.2f s "
					"(TTL 2 s; the bound is 2 x TTL + 5 s)\n",
					round, h[i].name, t);
				CHECK(t >= 0 && t < 2 * 2 + 5);
				h[i].s = session(c, h[i].name); /* it comes back */
				CHECK_INT(cluster_owner_new(event, c, h[i].s, "/igtokend/test/v1/",
							    h[i].name, apps, N_APPS, 2, NULL, NULL,
							    &h[i].o),
					  0);
				break;
			}
		CHECK(until_settled(h, 3, 15, &overlaps) >= 0);
	}
	CHECK(dead_owned >= 3);
	CHECK_INT(overlaps, 0);
	for (size_t i = 0; i < 3; i++) {
		cluster_owner_free(h[i].o);
		cluster_session_free(h[i].s);
	}
	etcd_client_free(c);
}

/* ---- the store's key check (cluster/keycheck.h) ---- */

struct checked {
	bool done;
	int error;
};

static void on_checked(int error, void *userdata)
{
	struct checked *k = userdata;

	k->done = true;
	k->error = error;
}

static int keycheck(struct etcd_client *c, const char *name, const struct secret *key)
{
	struct checked k = { 0 };

	CHECK_INT(cluster_keycheck(c, "/igtokend/kc/v1/", name, key, on_checked, &k, NULL), 0);
	CHECK(run_until(&k.done, 20));
	return k.error;
}

void scenario_keycheck(char **urls, size_t n)
{
	struct etcd_client *c = client(urls, n, NULL);
	_cleanup_secret_ struct secret *mine = NULL, *other = NULL;
	int64_t rev;

	CHECK_INT(secret_new(32, &mine), 0);
	CHECK_INT(secret_new(32, &other), 0);
	randombytes_buf(mine->data, 32);
	randombytes_buf(other->data, 32);
	CHECK_INT(keycheck(c, "prod", mine), 0); /* an empty store: written */
	rev = range(c, "/igtokend/kc/v1/meta", NULL, 0).mod[0];
	CHECK(rev > 0);
	CHECK_INT(keycheck(c, "prod", mine), 0); /* and read back */
	CHECK_INT(keycheck(c, "prod", other), -EKEYREJECTED);
	CHECK_INT(keycheck(c, "staging", mine), -EKEYREJECTED); /* bound to the cluster's name */
	CHECK_INT(range(c, "/igtokend/kc/v1/meta", NULL, 0).mod[0], rev); /* nothing written */
	etcd_client_free(c);
}

/* ---- a token's intent and commit (cluster/tokens.h) ---- */

struct tok_got {
	bool called, done, owner_changed, maybe_applied;
	int error;
	int64_t revision, mod, intent_mod;
	char value[64], intent[128];
};

static void on_tok(const struct cluster_tok_result *r, void *userdata)
{
	struct tok_got *g = userdata;

	*g = (struct tok_got){ .called = true,
			       .intent_mod = r->intent_mod,
			       .done = r->done,
			       .owner_changed = r->owner_changed,
			       .maybe_applied = r->maybe_applied,
			       .error = r->error,
			       .revision = r->revision,
			       .mod = r->mod_revision };
	snprintf(g->value, sizeof(g->value), "%.*s", (int)r->value_len,
		 r->value ? (const char *)r->value : "");
	snprintf(g->intent, sizeof(g->intent), "%s", r->intent ?: "");
}

static struct tok_got intent_over(struct etcd_client *c, struct cluster_tok_keys *k, int64_t epoch,
				  int64_t base, int64_t intent_mod, const char *host)
{
	struct tok_got g = { 0 };
	char v[64];

	snprintf(v, sizeof(v), "{\"host\":\"%s\"}", host);
	CHECK_INT(cluster_tok_intent(c, k, epoch, base, intent_mod, v, on_tok, &g), 0);
	CHECK(run_until(&g.called, 20));
	return g;
}

static struct tok_got intent(struct etcd_client *c, struct cluster_tok_keys *k, int64_t epoch,
			     int64_t base)
{
	return intent_over(c, k, epoch, base, 0, "a");
}

static struct tok_got withdraw(struct etcd_client *c, struct cluster_tok_keys *k, int64_t mod)
{
	struct tok_got g = { 0 };

	CHECK_INT(cluster_tok_withdraw(c, k, mod, on_tok, &g), 0);
	CHECK(run_until(&g.called, 20));
	return g;
}

static struct tok_got commit(struct etcd_client *c, struct cluster_tok_keys *k, int64_t base,
			     const char *v)
{
	struct tok_got g = { 0 };

	CHECK_INT(cluster_tok_commit(c, k, base, (const unsigned char *)v, strlen(v), on_tok, &g),
		  0);
	CHECK(run_until(&g.called, 20));
	return g;
}

static struct tok_got read_back(struct etcd_client *c, struct cluster_tok_keys *k, const char *v)
{
	struct tok_got g = { 0 };

	CHECK_INT(cluster_tok_read(c, k, (const unsigned char *)v, v ? strlen(v) : 0, on_tok, &g),
		  0);
	CHECK(run_until(&g.called, 20));
	return g;
}

static int64_t claim_as(struct etcd_client *c, const char *key, const char *host)
{
	struct etcd_op del = { .kind = ETCD_OP_DELETE, .key = key };
	struct got g;

	CHECK_INT(txn(c, &(struct etcd_txn){ .success = &del, .n_success = 1 }).error, 0);
	CHECK_INT(put(c, key, host, 0).error, 0);
	g = range(c, key, NULL, 0);
	CHECK_INT(g.n, 1);
	return g.mod[0]; /* created just now: create == mod revision */
}

void scenario_tokens(char **urls, size_t n)
{
	struct etcd_client *c = client(urls, n, NULL);
	struct cluster_tok_keys k;
	struct tok_got g;
	int64_t epoch, r1;

	CHECK_INT(cluster_tok_keys("/igtokend/tk/v1/", "acct", "shop", &k), 0);
	CHECK(streq(k.owner, "/igtokend/tk/v1/apps/shop/owner") &&
	      streq(k.tok, "/igtokend/tk/v1/tok/acct"));
	epoch = claim_as(c, k.owner, "a");
	/* the owner says it calls Meta about the token it read (none yet: base 0) */
	g = intent(c, &k, epoch, 0);
	CHECK(g.done);
	CHECK(streq(read_back(c, &k, NULL).intent, "{\"host\":\"a\"}"));
	g = commit(c, &k, 0, "sealed-1");
	CHECK(g.done && g.revision > 0);
	r1 = g.revision;
	g = read_back(c, &k, "sealed-1");
	CHECK(g.done && g.mod == r1 && !g.intent[0]); /* the intent went with the commit */
	/* another host's intent stands: refused, with that intent; replaced only knowingly */
	CHECK(intent_over(c, &k, epoch, r1, 0, "b").done);
	g = intent(c, &k, epoch, r1);
	CHECK(!g.done && !g.owner_changed && streq(g.intent, "{\"host\":\"b\"}") &&
	      g.intent_mod > r1);
	CHECK(!withdraw(c, &k, g.intent_mod - 1).done); /* not the one read: it stays */
	CHECK(withdraw(c, &k, g.intent_mod).done);
	CHECK(!read_back(c, &k, NULL).intent[0]);
	/* not the owner of that epoch: refused, and says so */
	g = intent(c, &k, epoch + 1000, r1);
	CHECK(!g.done && g.owner_changed);
	/* a token moved on since it was read: refused, with the token as it is */
	g = intent(c, &k, epoch, 0);
	CHECK(!g.done && !g.owner_changed && g.mod == r1 && streq(g.value, "sealed-1"));
	g = commit(c, &k, 0, "sealed-stale");
	CHECK(!g.done && g.mod == r1 && streq(g.value, "sealed-1")); /* nothing rolled back */
	/* a new owner; the deposed one's late but legitimate token still wins */
	(void)claim_as(c, k.owner, "b");
	g = commit(c, &k, r1, "sealed-2");
	CHECK(g.done && g.revision > r1);
	CHECK(read_back(c, &k, "sealed-2").done);
	CHECK(!read_back(c, &k, "sealed-1").done);
	cluster_tok_keys_clear(&k);
	etcd_client_free(c);
}

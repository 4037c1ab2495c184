/* SPDX-License-Identifier: MIT */
/* net/etcd.h against a real etcd cluster, started by tests/cluster/test_store.py,
 * which names the scenario and the members:
 *
 *   test-etcd basic URL...            range (paged), txn (create, CAS), leases, watch
 *   test-etcd failover URL...          the first endpoints dead: reads go on
 *   test-etcd stopped URL PID URL      a member frozen: a read moves on, a write says maybe_applied
 *   test-etcd dead-watch URL PID       a frozen member's watch is declared dead
 *   test-etcd auth URL USER PASSWORD PREFIX
 *   test-etcd tls URL CA CERT KEY OTHER_CA
 *   test-etcd garbage URL              an "etcd" that answers garbage */
#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "basic/util.h"
#include "cluster/keycheck.h"
#include "cluster/owner.h"
#include "cluster/session.h"
#include "cluster/tokens.h"
#include "net/etcd-watch.h"
#include "net/etcd.h"
#include "net/http.h"
#include "tap.h"

static sd_event *event;

/* ---- one answer at a time ---- */

struct got {
	bool done;
	int error, code;
	bool maybe_applied;
	bool succeeded;
	int64_t revision, lease_id, ttl;
	size_t n, n_ranges;
	bool more;
	int64_t count;
	char keys[8][64], values[8][64];
	int64_t mod[8];
	char range0_value[64];
};

static void on_answer(const struct etcd_answer *a, void *userdata)
{
	struct got *g = userdata;

	*g = (struct got){ .done = true,
			   .error = a->error,
			   .code = a->code,
			   .maybe_applied = a->maybe_applied,
			   .succeeded = a->txn.succeeded,
			   .revision = a->header.revision,
			   .lease_id = a->lease_id,
			   .ttl = a->ttl,
			   .n = a->kvs.n,
			   .more = a->kvs.more,
			   .count = a->kvs.count,
			   .n_ranges = a->txn.n_ranges };
	for (size_t i = 0; i < a->kvs.n && i < 8; i++) {
		snprintf(g->keys[i], sizeof(g->keys[i]), "%s", a->kvs.kv[i].key);
		snprintf(g->values[i], sizeof(g->values[i]), "%s", (char *)a->kvs.kv[i].value);
		g->mod[i] = a->kvs.kv[i].mod_revision;
	}
	if (a->txn.n_ranges > 0 && a->txn.ranges[0].n > 0)
		snprintf(g->range0_value, sizeof(g->range0_value), "%s",
			 (char *)a->txn.ranges[0].kv[0].value);
	if (a->error)
		fprintf(stderr, "  etcd: error %d code %d: %s%s\n", a->error, a->code, a->why ?: "",
			a->maybe_applied ? " (maybe applied)" : "");
}

/* Runs the loop until *flag or the deadline; whether it came. */
static bool run_until(const bool *flag, double seconds)
{
	uint64_t end = now_monotonic_usec() + (uint64_t)(seconds * 1e6);

	while (!*flag && now_monotonic_usec() < end)
		sd_event_run(event, 100 * 1000);
	return *flag;
}

static struct etcd_client *client(char **urls, size_t n, const struct etcd_options *extra)
{
	struct etcd_options o = extra ? *extra : (struct etcd_options){ 0 };
	struct etcd_client *c = NULL;

	o.endpoints = urls;
	o.n_endpoints = n;
	if (!o.timeout_sec)
		o.timeout_sec = 3;
	CHECK_INT(etcd_client_new(event, &o, &c), 0);
	return c;
}

static struct got range(struct etcd_client *c, const char *key, const char *end, int64_t limit)
{
	struct got g = { 0 };

	CHECK_INT(etcd_range(c, key, end, limit, 0, on_answer, &g, NULL), 0);
	CHECK(!g.done); /* never before the call returns */
	CHECK(run_until(&g.done, 20));
	return g;
}

static struct got txn(struct etcd_client *c, const struct etcd_txn *t)
{
	struct got g = { 0 };

	CHECK_INT(etcd_txn(c, t, on_answer, &g, NULL), 0);
	CHECK(run_until(&g.done, 20));
	return g;
}

static struct got put(struct etcd_client *c, const char *key, const char *value, int64_t lease)
{
	struct etcd_op op = { .kind = ETCD_OP_PUT,
			      .key = key,
			      .value = value,
			      .value_len = strlen(value),
			      .lease = lease };
	return txn(c, &(struct etcd_txn){ .success = &op, .n_success = 1 });
}

/* ---- scenarios ---- */

static void basic_kv(struct etcd_client *c)
{
	struct etcd_cmp absent = { .key = "/t/a", .target = ETCD_CREATE, .number = 0 };
	struct etcd_op create = {
		.kind = ETCD_OP_PUT, .key = "/t/a", .value = "v1", .value_len = 2
	};
	struct etcd_op read = { .kind = ETCD_OP_RANGE, .key = "/t/a" };
	struct etcd_txn once = { &absent, 1, &create, &read, 1, 1 };
	_cleanup_free_ char *end = NULL;
	struct got g, page;
	char key[32];

	g = txn(c, &once);
	CHECK_INT(g.error, 0);
	CHECK(g.succeeded && g.revision > 0);
	g = txn(c, &once); /* it exists now: the failure branch reads it */
	CHECK(!g.succeeded && g.n_ranges == 1 && streq(g.range0_value, "v1"));

	/* compare-and-swap on the key's revision */
	g = range(c, "/t/a", NULL, 0);
	CHECK(g.n == 1 && streq(g.values[0], "v1"));
	{
		struct etcd_cmp same = { .key = "/t/a", .target = ETCD_MOD, .number = g.mod[0] };
		struct etcd_op v2 = {
			.kind = ETCD_OP_PUT, .key = "/t/a", .value = "v2", .value_len = 2
		};
		struct etcd_txn cas = { &same, 1, &v2, NULL, 1, 0 };
		CHECK(txn(c, &cas).succeeded);
		CHECK(!txn(c, &cas).succeeded); /* the revision moved on */
	}
	CHECK(streq(range(c, "/t/a", NULL, 0).values[0], "v2"));

	/* a range in pages */
	for (int i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), "/t/k%d", i);
		CHECK_INT(put(c, key, "x", 0).error, 0);
	}
	CHECK_INT(etcd_prefix_end("/t/k", &end), 0);
	CHECK(streq(end, "/t/l"));
	page = range(c, "/t/k", end, 2);
	CHECK(page.n == 2 && page.more && page.count == 5);
	CHECK(streq(page.keys[0], "/t/k0") && streq(page.keys[1], "/t/k1"));
	snprintf(key, sizeof(key), "%s%c", page.keys[1], '\x01'); /* just after the last */
	page = range(c, key, end, 10);
	CHECK(page.n == 3 && !page.more && streq(page.keys[2], "/t/k4"));
	/* a revision from the future: etcd refuses, and says why */
	{
		struct got f = { 0 };
		CHECK_INT(etcd_range(c, "/t/a", NULL, 0, INT64_C(1) << 40, on_answer, &f, NULL), 0);
		CHECK(run_until(&f.done, 20));
		CHECK(f.error == -EPROTO && f.code == 11);
	}
}

static void basic_lease(struct etcd_client *c)
{
	struct got g = { 0 }, k;
	int64_t id;

	CHECK_INT(etcd_lease_grant(c, 5, on_answer, &g, NULL), 0);
	CHECK(run_until(&g.done, 20));
	CHECK(g.error == 0 && g.lease_id > 0 && g.ttl == 5);
	id = g.lease_id; /* beyond a double's 53 bits, usually: kept exactly */
	fprintf(stderr, "  lease id %" PRId64 "\n", id);
	CHECK_INT(put(c, "/t/leased", "x", id).error, 0);
	k = (struct got){ 0 };
	CHECK_INT(etcd_lease_keepalive(c, id, on_answer, &k, NULL), 0);
	CHECK(run_until(&k.done, 20));
	CHECK(k.error == 0 && k.lease_id == id && k.ttl == 5);
	k = (struct got){ 0 };
	CHECK_INT(etcd_lease_revoke(c, id, on_answer, &k, NULL), 0);
	CHECK(run_until(&k.done, 20));
	CHECK_INT(k.error, 0);
	CHECK_INT(range(c, "/t/leased", NULL, 0).n, 0); /* gone with its lease */
	k = (struct got){ 0 };
	CHECK_INT(etcd_lease_keepalive(c, id, on_answer, &k, NULL), 0);
	CHECK(run_until(&k.done, 20));
	CHECK(k.error == 0 && k.ttl == 0); /* the lease is gone: no TTL */
}

struct watched {
	unsigned created, progress, puts, deletes, with_prev;
	int64_t last_revision;
	bool ended;
	int error;
	double ended_at;
};

static void on_watch(const struct etcd_watch_msg *m, void *userdata)
{
	struct watched *w = userdata;

	w->last_revision = m->header.revision;
	if (m->created)
		w->created++;
	else if (m->n_events == 0)
		w->progress++;
	for (size_t i = 0; i < m->n_events; i++) {
		if (m->events[i].deleted)
			w->deletes++;
		else
			w->puts++;
		w->with_prev += m->events[i].has_prev;
	}
}

static void on_watch_end(int error, const char *why, int64_t compact, void *userdata)
{
	struct watched *w = userdata;

	(void)compact;
	fprintf(stderr, "  watch ended: %d %s\n", error, why);
	w->ended = true;
	w->error = error;
	w->ended_at = (double)now_monotonic_usec() / 1e6;
}

static const struct etcd_watch_ops watch_ops = { .message = on_watch, .ended = on_watch_end };

static void basic_watch(struct etcd_client *c)
{
	struct watched w = { 0 };
	struct etcd_watch *h = NULL;
	struct etcd_op del = { .kind = ETCD_OP_DELETE, .key = "/t/w1" };
	bool two = false;

	CHECK_INT(etcd_watch(c, "/t/w", "/t/x", 0, 10 * USEC_PER_SEC, &watch_ops, &w, &h), 0);
	CHECK(run_until((bool *)&w.created, 10)); /* created: any nonzero byte */
	CHECK_INT(put(c, "/t/w1", "a", 0).error, 0);
	CHECK_INT(put(c, "/t/w1", "b", 0).error, 0);
	CHECK_INT(txn(c, &(struct etcd_txn){ .success = &del, .n_success = 1 }).error, 0);
	for (int i = 0; i < 50 && !two; i++) {
		sd_event_run(event, 100 * 1000);
		two = w.puts == 2 && w.deletes == 1;
	}
	CHECK(two);
	CHECK_INT(w.with_prev, 2); /* the second put and the delete had one */
	/* idle: progress notifications (every 2 s) say the stream lives */
	{
		uint64_t end = now_monotonic_usec() + 6 * USEC_PER_SEC;
		while (w.progress == 0 && now_monotonic_usec() < end)
			sd_event_run(event, 100 * 1000);
	}
	CHECK(w.progress >= 1);
	CHECK(!w.ended);
	etcd_watch_free(h);
}

static void scenario_basic(char **urls, size_t n)
{
	struct etcd_client *c = client(urls, n, NULL);

	basic_kv(c);
	basic_lease(c);
	basic_watch(c);
	etcd_client_free(c);
}

static void scenario_failover(char **urls, size_t n)
{
	struct etcd_client *c = client(urls, n, NULL);
	struct got g = range(c, "/t/a", NULL, 0);

	CHECK_INT(g.error, 0);
	CHECK(streq(etcd_client_endpoint(c), urls[n - 1])); /* the dead ones were passed over */
	CHECK_INT(put(c, "/t/after-failover", "x", 0).error, 0); /* and it stays there */
	etcd_client_free(c);
}

static void scenario_stopped(char **argv)
{
	char *urls[] = { argv[0], argv[2] };
	pid_t pid = (pid_t)strtol(argv[1], NULL, 10);
	struct etcd_client *c = client(urls, 2, &(struct etcd_options){ .timeout_sec = 2 });
	struct got g;

	CHECK_INT(kill(pid, SIGSTOP), 0);
	g = put(c, "/t/frozen", "x", 0); /* to the frozen member: never sent twice */
	CHECK(g.error == -ETIMEDOUT && g.maybe_applied);
	CHECK(streq(etcd_client_endpoint(c), urls[1]));
	etcd_client_free(c);
	c = client(urls, 2, &(struct etcd_options){ .timeout_sec = 2 });
	g = range(c, "/t/a", NULL, 0); /* a read moves on to the next member */
	CHECK_INT(g.error, 0);
	CHECK(streq(etcd_client_endpoint(c), urls[1]));
	CHECK_INT(kill(pid, SIGCONT), 0);
	etcd_client_free(c);
}

static void scenario_dead_watch(char **argv)
{
	pid_t pid = (pid_t)strtol(argv[1], NULL, 10);
	struct etcd_client *c = client(argv, 1, NULL);
	struct watched w = { 0 };
	double frozen_at;

	CHECK_INT(etcd_watch(c, "/t/", "/t0", 0, 3 * USEC_PER_SEC, &watch_ops, &w, NULL), 0);
	CHECK(run_until((bool *)&w.created, 10));
	CHECK_INT(kill(pid, SIGSTOP), 0);
	frozen_at = (double)now_monotonic_usec() / 1e6;
	CHECK(run_until(&w.ended, 10));
	CHECK_INT(w.error, -ETIMEDOUT);
	/* no later than the dead-stream time (3 s) and the time it takes to notice */
	fprintf(stderr, "  declared dead %.2f s after the freeze\n", w.ended_at - frozen_at);
	CHECK(w.ended_at - frozen_at < 4.5);
	CHECK_INT(kill(pid, SIGCONT), 0);
	etcd_client_free(c);
}

static void scenario_auth(char **argv)
{
	_cleanup_secret_ struct secret *pw = NULL, *bad = NULL;
	struct etcd_client *c;
	struct got g;
	char key[128];

	CHECK_INT(secret_from_mem(argv[2], strlen(argv[2]), &pw), 0);
	CHECK_INT(secret_from_mem("wrong", 5, &bad), 0);
	snprintf(key, sizeof(key), "%sauth", argv[3]);
	c = client(argv, 1, &(struct etcd_options){ .user = argv[1], .password = pw });
	g = put(c, key, "x", 0); /* the token is fetched first */
	CHECK_INT(g.error, 0);
	CHECK_INT(range(c, key, NULL, 0).n, 1);
	g = put(c, "/elsewhere", "x", 0); /* outside the role's prefix */
	CHECK(g.error == -EPROTO && g.code == 7);
	etcd_client_free(c);
	c = client(argv, 1, &(struct etcd_options){ .user = argv[1], .password = bad });
	g = range(c, key, NULL, 0);
	CHECK(g.error == -EACCES && g.n == 0); /* refused: says so */
	etcd_client_free(c);
	{
		char url[] = "http://127.0.0.1:1", *dead[] = { url };
		c = client(dead, 1, &(struct etcd_options){ .user = argv[1], .password = pw });
		CHECK_INT(range(c, key, NULL, 0).error, -ECONNREFUSED); /* not a refusal */
	}
	etcd_client_free(c);
	c = client(argv, 1, NULL); /* no user at all */
	g = range(c, key, NULL, 0);
	CHECK(g.error == -EPROTO && g.n == 0);
	etcd_client_free(c);
}

static void scenario_tls(char **argv)
{
	struct etcd_options ok = { .ca_file = argv[1], .cert_file = argv[2], .key_file = argv[3] };
	struct etcd_options other = { .ca_file = argv[4],
				      .cert_file = argv[2],
				      .key_file = argv[3] };
	struct etcd_options anonymous = { .ca_file = argv[1] };
	struct etcd_client *c;

	c = client(argv, 1, &ok);
	CHECK_INT(put(c, "/t/tls", "x", 0).error, 0);
	CHECK_INT(range(c, "/t/tls", NULL, 0).n, 1);
	etcd_client_free(c);
	c = client(argv, 1, &other); /* a server our CA does not vouch for */
	CHECK_INT(range(c, "/t/tls", NULL, 0).error, -EPROTO);
	etcd_client_free(c);
	c = client(argv, 1, &anonymous); /* no client certificate: refused */
	CHECK(range(c, "/t/tls", NULL, 0).error < 0);
	etcd_client_free(c);
}

static void scenario_garbage(char **argv)
{
	struct etcd_client *c = client(argv, 1, NULL);
	struct watched w = { 0 };
	struct got g = range(c, "/t/a", NULL, 0);

	CHECK_INT(g.error, -EBADMSG);
	g = put(c, "/t/a", "x", 0);
	CHECK(g.error == -EBADMSG && g.maybe_applied);
	CHECK_INT(etcd_watch(c, "/t/", "/t0", 0, 5 * USEC_PER_SEC, &watch_ops, &w, NULL), 0);
	CHECK(run_until(&w.ended, 10));
	CHECK_INT(w.error, -EBADMSG);
	etcd_client_free(c);
}

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

static void scenario_session(char **argv)
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

static void scenario_owner(char **urls)
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

static void scenario_keycheck(char **urls, size_t n)
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
	int64_t revision, mod;
	char value[64], intent[128];
};

static void on_tok(const struct cluster_tok_result *r, void *userdata)
{
	struct tok_got *g = userdata;

	*g = (struct tok_got){ .called = true,
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

static struct tok_got intent(struct etcd_client *c, struct cluster_tok_keys *k, int64_t epoch,
			     int64_t base)
{
	struct tok_got g = { 0 };

	CHECK_INT(cluster_tok_intent(c, k, epoch, base, "{\"host\":\"a\"}", on_tok, &g), 0);
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

static void scenario_tokens(char **urls, size_t n)
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

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";

	if (argc < 3 || sodium_init() < 0 || http_global_init() < 0 || sd_event_new(&event) < 0)
		return 2;
	if (streq(what, "basic"))
		scenario_basic(argv + 2, (size_t)argc - 2);
	else if (streq(what, "failover"))
		scenario_failover(argv + 2, (size_t)argc - 2);
	else if (streq(what, "stopped") && argc == 5)
		scenario_stopped(argv + 2);
	else if (streq(what, "dead-watch") && argc == 4)
		scenario_dead_watch(argv + 2);
	else if (streq(what, "auth") && argc == 6)
		scenario_auth(argv + 2);
	else if (streq(what, "tls") && argc == 7)
		scenario_tls(argv + 2);
	else if (streq(what, "session") && argc == 7)
		scenario_session(argv + 2);
	else if (streq(what, "owner") && argc == 5)
		scenario_owner(argv + 2);
	else if (streq(what, "keycheck"))
		scenario_keycheck(argv + 2, (size_t)argc - 2);
	else if (streq(what, "tokens"))
		scenario_tokens(argv + 2, (size_t)argc - 2);
	else if (streq(what, "garbage"))
		scenario_garbage(argv + 2);
	else
		return 2;
	sd_event_unref(event);
	http_global_done();
	return tap_done("test-etcd");
}

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
 *   test-etcd garbage URL              an "etcd" that answers garbage
 *   test-etcd session|owner|keycheck|tokens ...   the cluster modules (etcd-cluster.c) */
#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/util.h"
#include "etcd-world.h"
#include "net/etcd-watch.h"
#include "net/http.h"
#define TAP_COUNTERS
#include "tap.h"

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

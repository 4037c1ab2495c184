"""Cluster mode end to end (CONTRACT 13, CLUSTER.md's test plan): a real
3-member etcd cluster, three igtokend on loopback sharing it, and the Meta
simulator, all started here. Timings are shrunk: lease_ttl 3 s, a Meta request
times out after 1 s, tokens live a minute.

Each test uses its own cluster name (its own key prefix) and its own vaults.
Figures are printed to stderr (takeover times, propagation)."""
import base64
import hashlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

from etcd_cluster import Cluster

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import IGTOKENCTL, Env, Sim, wait_for, APP_SECRET, FB_APP_SECRET  # noqa: E402

TTL = 3
ACCOUNTS = {"a1": "shop", "a2": "shop", "b1": "brand", "b2": "brand"}


def fingerprint(token):
    """The fp= of log lines (basic/secret.c: BLAKE2b-32 under a fixed key)."""
    key = b"igtokend token fingerprint v1".ljust(32, b"\0")
    return hashlib.blake2b(token.encode(), digest_size=4, key=key).hexdigest()


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))] if values else 0.0


def figure(text):
    sys.stderr.write("  " + text + "\n")
    sys.stderr.flush()


class GapWriter(threading.Thread):
    """Puts a key through etcd's gateway every 20 ms, to any member that
    answers; stop() gives the longest time between two acknowledged writes."""

    def __init__(self, endpoints, key):
        super().__init__(daemon=True)
        self.endpoints, self.key, self.acked, self.running = endpoints, key, [], True
        self.start()

    def run(self):
        i = 0
        while self.running:
            body = json.dumps({"key": base64.b64encode(self.key.encode()).decode(),
                               "value": base64.b64encode(str(i).encode()).decode()}).encode()
            for ep in self.endpoints[i % len(self.endpoints):] + self.endpoints[:i % len(self.endpoints)]:
                try:
                    req = urllib.request.Request(ep + "/v3/kv/put", data=body, method="POST")
                    with urllib.request.urlopen(req, timeout=1) as r:
                        if r.status == 200:
                            self.acked.append(time.monotonic())
                            break
                except OSError:
                    continue
            i += 1
            time.sleep(0.02)

    def stop(self):
        self.running = False
        self.join(5)
        gaps = [b - a for a, b in zip(self.acked, self.acked[1:])]
        return max(gaps or [0]) * 1000


class Host:
    def __init__(self, test, name, key_from=None):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="igtokend-%s-" % name)
        os.chmod(self.dir, 0o755)
        self.env = Env(test.sim, self.dir)
        if key_from:
            shutil.copyfile(key_from, self.env.key)
        self.test = test

    def configure(self, cluster_name, endpoints, accounts=None, before_expiry="40s"):
        app = {"app_id": "1234567890", "app_secret_file": "app.secret", "api_url": self.test.sim.url,
               "oauth_url": self.test.sim.url, "ca_file": self.test.sim.ca}
        accounts = accounts or ACCOUNTS
        extra = "cluster: " + json.dumps({"endpoints": endpoints, "name": cluster_name, "host": self.name,
                                          "lease_ttl": "%ds" % TTL}) + "\n"
        self.env.write_config(accounts={n: {"app": a} for n, a in accounts.items()},
                              apps={"shop": app, "brand": dict(app)},
                              refresh={"timeout": "1s", "before_expiry": before_expiry, "retry_initial": "1s",
                                       "retry_max": "2s"},
                              extra=extra)

    def start(self, wait=True, extra_env=None):
        return self.env.start(wait=wait, extra_env=extra_env)

    def stopped(self):
        """SIGSTOPped (by itself at a test seam, or by a test)."""
        with open("/proc/%d/stat" % self.pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "T"

    @property
    def pid(self):
        return self.env.daemon.proc.pid

    def alive(self):
        return self.env.daemon is not None and self.env.daemon.proc.poll() is None

    def status(self):
        return self.env.status()

    def token(self, account):
        """The token served, or None (why: self.why)."""
        try:
            a = self.env.request({"cmd": "token", "account": account})
        except (OSError, ValueError) as e:
            self.why = repr(e)
            return None
        self.why = a and a.get("error")
        return a.get("token") if a and a.get("ok") else None

    def kill(self):
        self.env.daemon.proc.kill()
        self.env.daemon.proc.wait()
        self.env.stop()

    def owners(self):
        st = self.status()
        return {a["name"]: a.get("owner") for a in st["apps"]}, st["cluster"]

    def cleanup(self):
        if self.env.daemon:
            self.env.stop()
        if os.environ.get("IGTOKEND_KEEP_TEST_DIRS"):
            print("kept", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


class ClusterDaemonsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.etcd = Cluster(3)
        cls.sim_dir = tempfile.mkdtemp(prefix="igtokend-sim-")
        cls.sim = Sim(cls.sim_dir)

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()
        cls.etcd.stop()
        shutil.rmtree(cls.sim_dir, ignore_errors=True)

    def setUp(self):
        self.sim.reset()
        self.sim.config(min_age=1, lifetime=60)
        self.name = "t%d" % time.time_ns()
        self.hosts = []

    def tearDown(self):
        codes = {h.name: h.env.stop() for h in self.hosts if h.alive()}
        logs = "".join(h.env.logs() for h in self.hosts)
        for h in self.hosts:
            h.cleanup()
        # a clean stop is a clean exit (sanitizers in CI's ASan stage report here)
        for pattern in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            self.assertNotIn(pattern, logs)
        self.assertEqual({n: rc for n, rc in codes.items() if rc != 0}, {}, "a host did not stop cleanly")
        # no token the simulator issued, no app secret, no vault key in any log line
        for s in list(self.sim.call("/tokens").keys()) + [APP_SECRET, FB_APP_SECRET]:
            self.assertNotIn(s, logs, "a secret reached a log")
        self.assertFalse(self.store_values_with_tokens(), "a token reached the store in the clear")

    def store_values_with_tokens(self):
        out = self.etcd.ctl("get", "--prefix", "/igtokend/%s/" % self.name, "-w", "json")
        values = json.loads(out).get("kvs", [])
        text = json.dumps(values)
        plain = b"".join(base64.b64decode(kv.get("value", "")) for kv in values)
        return [t for t in self.sim.call("/tokens") if t in text or t.encode() in plain]

    def make_hosts(self, n=3, accounts=None, **kw):
        first = None
        for i in range(n):
            h = Host(self, "h%d" % i, key_from=first)
            first = first or h.env.key
            h.configure(self.name, self.etcd.endpoints, accounts, **kw)
            self.hosts.append(h)
        return self.hosts

    def settled(self, hosts):
        """Every app owned by a live host, all hosts agreeing."""
        views = []
        for h in hosts:
            owners, cl = h.owners()
            if cl["store"] != "ok" or None in owners.values():
                return None
            views.append((owners, sorted(cl["hosts"])))
        live = sorted(h.name for h in hosts)
        if all(v == views[0] for v in views) and views[0][1] == live and \
                set(views[0][0].values()) <= set(live):
            return views[0][0]
        return None

    def import_all(self, host, lifetime=60, age=5):
        toks = {}
        for acc in ACCOUNTS:
            toks[acc] = self.sim.token(lifetime=lifetime, age=age)
            rc, out, err = host.env.import_token(toks[acc], acc)
            self.assertEqual(rc, 0, err)
        return toks

    def refreshed_tokens(self):
        """The token each successful refresh started from (the simulator's own record)."""
        return [i["refreshed_from"] for i in self.sim.call("/tokens").values() if "refreshed_from" in i]

    def read_for(self, hosts, seconds):
        """Token reads on every host for a while: latencies (ms), failures (each
        as host, account, time and the answer's error), reads."""
        lat, failures, end = [], [], time.time() + seconds
        while time.time() < end:
            for h in hosts:
                for acc in ACCOUNTS:
                    t0 = time.perf_counter()
                    ok = h.token(acc) is not None
                    lat.append((time.perf_counter() - t0) * 1000)
                    if not ok:
                        failures.append((h.name, acc, "%.3f" % time.time(), h.why))
            time.sleep(0.02)
        return lat, failures, len(lat)

    def assert_chain_intact(self, hosts, accounts=ACCOUNTS):
        """Every host serves, for each account, the newest token of its chain at
        the simulator: none newer exists (nothing lost), none older is served
        (nothing rolled back)."""
        def intact():
            tokens = self.sim.call("/tokens")
            parents = {i.get("refreshed_from") for i in tokens.values()}
            for acc in accounts:
                served = {h.token(acc) for h in hosts}
                if len(served) != 1 or None in served or served.pop() in parents:
                    return False
            return True
        wait_for(intact, 5, step=0.1, what="the newest token of each chain served on every host")

    def assert_no_double_refresh(self):
        seen = self.refreshed_tokens()
        twice = {t for t in seen if seen.count(t) > 1}
        self.assertFalse(twice, "%d token(s) refreshed more than once" % len(twice))
        return len(seen)

    # ---- scenarios ----

    def test_steady_state_one_owner_no_double_refresh_tokens_everywhere(self):
        hosts = self.make_hosts()
        for h in hosts:
            h.start()
        owners = wait_for(lambda: self.settled(hosts), 20, step=0.2, what="owners settled")
        figure("owners: %s" % owners)
        toks = self.import_all(hosts[2])  # an import on any host
        # tokens live 60 s and are due 40 s before expiry: refreshed about every 20 s.
        # When each host first served each token: the spread is the propagation.
        first = {}
        deadline = time.time() + 45
        while time.time() < deadline:
            for acc in ACCOUNTS:
                for h in hosts:
                    t = h.token(acc)
                    first.setdefault((acc, t), {}).setdefault(h.name, time.time())
            time.sleep(0.02)
        lags = []
        for (acc, tok), seen in first.items():
            if tok is None or tok == toks.get(acc):
                continue  # the imported ones were there before the loop
            self.assertEqual(len(seen), 3, "%s: a token not served by every host" % acc)
            lags.append(max(seen.values()) - min(seen.values()))
        self.assertTrue(lags and max(lags) < 1.0, "a new token reached every host within 1 s: %s" % lags)
        n = self.assert_no_double_refresh()
        self.assertGreaterEqual(n, 8, "refreshes went on (4 accounts, 45 s)")
        self.assert_chain_intact(hosts)
        # the refreshes went out from the owners only
        self.assertEqual(self.settled(hosts), owners)
        # an admin's refresh on a host that does not own the app: its owner does it
        other = next(h for h in hosts if h.name != owners["shop"])
        before = other.token("a1")
        rc, out, err = other.env.ctl("refresh", "a1")
        self.assertEqual(rc, 0, err)
        wait_for(lambda: len({h.token("a1") for h in hosts} - {before}) == 1 and
                 len({h.token("a1") for h in hosts}) == 1, 2, step=0.02, what="the owner's refresh everywhere")
        self.assertIn("refresh requested by host %s" % other.name,
                      next(h for h in hosts if h.name == owners["shop"]).env.logs())
        self.assert_no_double_refresh()
        # the table shows the owners and the cluster; the metrics say the same
        rc, out, err = hosts[1].env.ctl("status")
        self.assertEqual(rc, 0, err)
        self.assertIn("OWNER", out)
        self.assertRegex(out, r"\nshop +.* %s +" % owners["shop"])
        self.assertIn("cluster %s: this host h1; store ok; hosts h0, h1, h2" % self.name, out)
        rc, out, err = hosts[1].env.ctl("metrics")
        self.assertIn("igtokend_cluster_store_up 1\n", out)
        self.assertIn("igtokend_cluster_config_mismatch 0\n", out)
        self.assertIn("igtokend_cluster_hosts 3\n", out)
        self.assertIn('igtokend_cluster_app_owned{app="shop"} %d\n' % (owners["shop"] == "h1"), out)
        lags.sort()
        figure("refreshes: %d, none twice; new token on every host: p50 %.3f s, max %.3f s "
               "(%d tokens, polled every ~50 ms)" % (n, lags[len(lags) // 2], lags[-1], len(lags)))

    def test_owner_killed_repeatedly_takes_over_and_refreshes_go_on(self):
        hosts = self.make_hosts()
        for h in hosts:
            h.start()
        wait_for(lambda: self.settled(hosts), 20, step=0.2, what="owners settled")
        self.import_all(hosts[0])
        takeovers = []
        for round in range(10):
            owners = wait_for(lambda: self.settled(hosts), 20, step=0.2, what="owners settled")
            victim = next(h for h in hosts if h.name == owners["shop"])
            t0 = time.time()
            victim.kill()
            rest = [h for h in hosts if h is not victim]
            new = wait_for(lambda: (lambda o: o if o and o["shop"] != victim.name else None)(
                self.settled(rest)), 2 * TTL + 5, step=0.1, what="another owner")
            takeovers.append(time.time() - t0)
            self.assertIn(new["shop"], [h.name for h in rest])
            victim.env.start()  # it comes back
        figure("takeover after SIGKILL: p50 %.2f s, max %.2f s (bound %d s)"
               % (statistics.median(takeovers), max(takeovers), 2 * TTL + 5))
        # refreshes go on: every account refreshed after the last kill
        before = len(self.refreshed_tokens())
        wait_for(lambda: len(self.refreshed_tokens()) >= before + 4, 40, step=0.5, what="refreshes after")
        self.assert_no_double_refresh()
        self.assert_chain_intact(hosts)

    def test_quorum_lost_for_a_minute_reads_go_on_and_no_meta_call_after_the_deadline(self):
        # tokens due all the time (they live 90 s, refreshed 100 s before
        # expiry): the owner would call Meta all along if it were let, and
        # they outlive the minute without a store
        hosts = self.make_hosts(before_expiry="100s")
        for h in hosts:
            h.start()
        wait_for(lambda: self.settled(hosts), 20, step=0.2, what="owners settled")
        self.sim.config(min_age=1, lifetime=90)
        self.import_all(hosts[0], lifetime=90)
        # an import refreshes its token at Meta: four more are the owner's
        imported = len(self.refreshed_tokens())
        wait_for(lambda: len(self.refreshed_tokens()) >= imported + 4, 20, step=0.2, what="refreshes")
        wait_for(lambda: all(len({h.token(acc) for h in hosts}) == 1 and hosts[0].token(acc)
                             for acc in ACCOUNTS), 20, step=0.05, what="every token on every host")
        normal, failures, _ = self.read_for(hosts, 6)
        self.assertEqual(failures, [])
        # two members of three stopped (SIGSTOP): the one left has no quorum
        lost = self.etcd.members[1:]
        for m in lost:
            m.stop()
        stopped = time.time()
        try:
            away, failures, reads = self.read_for(hosts, 60)
            calls = [e for e in self.sim.log("/refresh_access_token") if e["t"] > stopped + TTL + 1]
            st = hosts[1].status()
        finally:
            for m in lost:
                m.resume()
        self.assertEqual(failures, [], "reads failed while the store had no quorum")
        self.assertEqual(calls, [], "Meta was called after the lease could have lapsed")
        self.assertEqual(st["cluster"]["store"], "unreachable")
        figure("quorum lost 60 s: %d reads, 0 failures; no Meta call after %d s" % (reads, TTL + 1))
        figure("token read latency (one connection per read, Python client): normal p50 %.3f p99 %.3f ms; "
               "quorum lost p50 %.3f p99 %.3f ms" % (pct(normal, 50), pct(normal, 99), pct(away, 50), pct(away, 99)))
        self.etcd.wait_healthy()
        before = len(self.refreshed_tokens())
        wait_for(lambda: len(self.refreshed_tokens()) > before, 30, step=0.5, what="refreshes resume")
        self.assert_no_double_refresh()
        self.assert_chain_intact(hosts)

    def test_a_host_with_another_key_refuses_to_join_and_writes_nothing(self):
        hosts = self.make_hosts(2)
        hosts[0].start()
        wait_for(lambda: self.settled(hosts[:1]), 20, step=0.2, what="first host settled")
        before = self.etcd.ctl("get", "--prefix", "/igtokend/%s/" % self.name, "--keys-only")
        # hosts[1] has the same key; a third with its own
        stranger = Host(self, "h9")
        stranger.configure(self.name, self.etcd.endpoints)
        self.hosts.append(stranger)
        d = stranger.start(wait=False)
        rc = d.proc.wait(20)
        self.assertEqual(rc, 1)
        self.assertIn("does not open under this host's vault key", stranger.env.logs())
        after = self.etcd.ctl("get", "--prefix", "/igtokend/%s/" % self.name, "--keys-only")
        self.assertEqual(before, after, "the refused host wrote to the store")
        stranger.env.daemon = None
        # a host with the right key but another list of accounts joins; the
        # difference is shown on both
        hosts[1].configure(self.name, self.etcd.endpoints, accounts=dict(ACCOUNTS, extra="shop"))
        hosts[1].start()
        wait_for(lambda: hosts[0].status()["cluster"]["config_differs"] == ["h1"], 10, step=0.2,
                 what="the other configuration shown")
        self.assertEqual(hosts[1].status()["cluster"]["config_differs"], ["h0"])
        self.assertIn("igtokend_cluster_config_mismatch 1\n", hosts[0].env.ctl("metrics")[1])
        self.assertIn("configuration differs on h1", hosts[0].env.ctl("status")[1])

    def test_seeding_keeps_the_later_expiring_token_imports_race_to_one_winner_revoke_anywhere(self):
        hosts = self.make_hosts(2, accounts={"a1": "shop"})
        # each host has a token of a1 in its own vault before it joins; the
        # second one's, sealed a second later, expires a second later
        held = []
        for h in reversed(hosts):
            text = open(h.env.config_path).read()
            with open(h.env.config_path, "w") as f:
                f.write(text.split("cluster:")[0])
            h.start()
            rc, out, err = h.env.import_token(self.sim.token(lifetime=50, age=5), "a1")
            self.assertEqual(rc, 0, err)
            held.append((h.env.account("a1")["expires_at"], h.token("a1")))
            h.env.stop()
            with open(h.env.config_path, "w") as f:
                f.write(text)
            time.sleep(1.1)
        later = max(held)[1]
        self.assertGreater(held[1][0], held[0][0])
        for h in hosts:
            h.start()
        wait_for(lambda: all(h.token("a1") == later for h in hosts), 20, step=0.2, what="the later one everywhere")
        # an import on each host at once: both hosts end on one of them
        a, b = self.sim.token(lifetime=70, age=5), self.sim.token(lifetime=70, age=5)
        procs = [subprocess.Popen([IGTOKENCTL, "-s", h.env.socket, "import",
                                   "a1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for h in hosts]
        for p, tok in zip(procs, (a, b)):
            p.communicate(tok + "\n", timeout=30)
        for p in procs:
            self.assertEqual(p.returncode, 0)
        # each import was checked with Meta (and refreshed): the tokens the two
        # hosts got from a and b; both hosts end on one of them
        got = {t for t, i in self.sim.call("/tokens").items() if i.get("refreshed_from") in (a, b)}
        self.assertEqual(len(got), 2)
        final = wait_for(lambda: (lambda s: s.pop() if len(s) == 1 else None)({h.token("a1") for h in hosts}),
                         10, step=0.1, what="one winner on both hosts")
        self.assertIn(final, got)
        # a revoke on either host: no host serves the token any more, within a second
        rc, out, err = hosts[0].env.ctl("revoke", "a1")
        self.assertEqual(rc, 0, err)
        wait_for(lambda: all(h.token("a1") is None for h in hosts), 1.0, step=0.02,
                 what="the token gone from every host")
        self.assertEqual(hosts[1].env.account("a1")["state"], "no_token")


    def frozen_after_meta_answered(self, keep_old):
        """The owner of shop stops itself between Meta's answer (durable in its
        vault) and the commit; the others take over and must not refresh that
        token again; thawed, its token is the one every host serves."""
        self.sim.config(min_age=1, lifetime=60, keep_old=keep_old)
        hosts = self.make_hosts()
        for h in hosts:
            h.start(extra_env={"IGTOKEND_TEST_FREEZE": "commit:a1"})
        wait_for(lambda: self.settled(hosts), 20, step=0.2, what="owners settled")
        toks = self.import_all(hosts[0], lifetime=60, age=5)
        old = {acc: hosts[0].token(acc) for acc in ACCOUNTS}
        frozen = wait_for(lambda: next((h for h in hosts if h.stopped()), None), 40, step=0.1,
                          what="the owner frozen after Meta answered about a1")
        t0 = time.time()
        rest = [h for h in hosts if h is not frozen]
        new = wait_for(lambda: (lambda o: o if o and o["shop"] != frozen.name else None)(self.settled(rest)),
                       2 * TTL + 5, step=0.1, what="another owner")
        figure("frozen owner %s replaced by %s after %.2f s" % (frozen.name, new["shop"], time.time() - t0))
        time.sleep(3 * TTL)
        # the new owner refreshed a2 meanwhile but not a1: its old token is still served
        self.assertTrue(all(h.token("a1") == old["a1"] for h in rest))
        os.kill(frozen.pid, signal.SIGCONT)
        thawed = wait_for(lambda: (lambda s: s.pop() if len(s) == 1 else None)({h.token("a1") for h in hosts}),
                          10, step=0.05, what="the thawed host's token everywhere")
        self.assertNotEqual(thawed, old["a1"])
        refreshed_from = self.sim.call("/tokens")[thawed].get("refreshed_from")
        self.assertEqual(refreshed_from, old["a1"], "the chain is intact")
        # the new owner waited for the frozen host's intent; that refresh has
        # committed, so the wait ends: the thawed token is refreshed when it is
        # due (20-40 s after Meta issued it, with the jitter), not when the wait
        # would have run out (20 leases after the intent: 60 s)
        issued = self.sim.call("/tokens")[thawed]["issued"]
        wait_for(lambda: any(i.get("refreshed_from") == thawed for i in self.sim.call("/tokens").values()),
                 max(issued + 50 - time.time(), 5), step=0.5, what="the thawed token refreshed when due")
        figure("thawed token refreshed by the new owner %.1f s after Meta issued it"
               % (min(i["issued"] for i in self.sim.call("/tokens").values()
                      if i.get("refreshed_from") == thawed) - issued))
        # the new owner runs with the same seam: it stops itself at its first
        # commit of a1, this refresh's; it goes on, and its token is served
        owner = next(h for h in rest if h.name == new["shop"])
        wait_for(owner.stopped, 10, step=0.05, what="the new owner at its commit of a1")
        os.kill(owner.pid, signal.SIGCONT)
        wait_for(lambda: (lambda s: len(s) == 1 and None not in s and thawed not in s)(
            {h.token("a1") for h in hosts}), 10, step=0.05, what="the new owner's token everywhere")
        self.assert_no_double_refresh()
        for h in hosts:
            states = {a["name"]: a["state"] for a in h.status()["accounts"]}
            self.assertNotIn("reauth_required", states.values(), h.name)
        del toks

    def test_owner_frozen_after_meta_answered_meta_keeps_old_tokens(self):
        self.frozen_after_meta_answered(keep_old=True)

    def test_owner_frozen_after_meta_answered_meta_invalidates_old_tokens(self):
        self.frozen_after_meta_answered(keep_old=False)

    def test_owner_sigstopped_sends_nothing_after_thawing(self):
        self.sim.config(min_age=1, lifetime=30)  # always due: the owner would call Meta all along
        hosts = self.make_hosts()
        for h in hosts:
            h.start()
        owners = wait_for(lambda: self.settled(hosts), 20, step=0.2, what="owners settled")
        self.import_all(hosts[0], lifetime=30)
        owner = next(h for h in hosts if h.name == owners["shop"])
        # stopped right after the imports, while it tries its refreshes every
        # second (the tokens are younger than min_age at first): a request may be out
        os.kill(owner.pid, signal.SIGSTOP)
        rest = [h for h in hosts if h is not owner]
        wait_for(lambda: (lambda o: o and owner.name not in o.values())(self.settled(rest)), 2 * TTL + 5,
                 step=0.1, what="other owners")
        time.sleep(TTL)
        thawed_at = time.time()
        os.kill(owner.pid, signal.SIGCONT)
        wait_for(lambda: self.settled(hosts), 20, step=0.2, what="all three again")
        time.sleep(2 * TTL)
        # every token it sealed was issued by Meta before it thawed (an answer to a
        # request sent before it stopped may land after): no call after thawing
        issued = {fingerprint(t): i["issued"] for t, i in self.sim.call("/tokens").items()}
        sealed = re.findall(r"new token fp=([0-9a-f]{8}) sealed", owner.env.logs())
        late = [fp for fp in sealed if issued.get(fp, 0) > thawed_at]
        self.assertFalse(late, "the thawed host called Meta before it owned anything again")
        self.assertIn("from host the cluster store", owner.env.logs(), "it follows the store")
        self.assert_no_double_refresh()

    def test_etcd_follower_then_leader_killed_refreshes_go_on(self):
        self.sim.config(min_age=1, lifetime=30)
        hosts = self.make_hosts()
        for h in hosts:
            h.start()
        wait_for(lambda: self.settled(hosts), 20, step=0.2, what="owners settled")
        self.import_all(hosts[0], lifetime=30)
        for which in ("follower", "leader"):
            leader = self.etcd.leader()
            victim = leader if which == "leader" else next(m for m in self.etcd.members
                                                            if m.proc and m is not leader)
            before = len(self.refreshed_tokens())
            writer = GapWriter([m.url for m in self.etcd.members], "/igtokend/%s/gap" % self.name)
            time.sleep(1)
            victim.kill()
            wait_for(lambda: len(self.refreshed_tokens()) >= before + 4, 30, step=0.2,
                     what="refreshes after the %s died" % which)
            figure("etcd %s killed: longest gap between acknowledged writes %.0f ms" % (which, writer.stop()))
            victim.start(state="existing")
            self.etcd.wait_healthy()
        self.assert_no_double_refresh()
        wait_for(lambda: self.settled(hosts), 20, step=0.2, what="owners settled")
        self.assert_chain_intact(hosts)

    def test_an_etcd_member_frozen_under_the_watches(self):
        """Every host watches through the first endpoint; frozen, it says
        nothing (no error, no close): the watches are declared dead after
        three leases without a progress notification and resume from where
        they were on another member."""
        hosts = self.make_hosts()
        for h in hosts:
            h.start()
        owners = wait_for(lambda: self.settled(hosts), 20, step=0.2, what="owners settled")
        self.import_all(hosts[0])
        owner = next(h for h in hosts if h.name == owners["shop"])
        wait_for(lambda: len({h.token("a1") for h in hosts}) == 1, 5, step=0.05, what="a1 everywhere")
        frozen = self.etcd.members[0]
        frozen.stop()
        try:
            # the owner's keepalives move to another member (its lease may lapse
            # meanwhile: then it says so, and calls nothing); then it refreshes
            wait_for(lambda: owner.env.ctl("refresh", "a1")[0] == 0, 20, step=0.5, what="a refresh on the owner")
            t0, new = time.time(), owner.token("a1")
            wait_for(lambda: all(h.token("a1") == new for h in hosts), 3 * TTL + 6, step=0.05,
                     what="the new token on every host")
            figure("an etcd member frozen under the watches: a new token on every host after %.2f s "
                   "(dead-stream timer %d s)" % (time.time() - t0, 3 * TTL))
        finally:
            frozen.resume()
        self.etcd.wait_healthy()
        self.assert_no_double_refresh()

    def test_a_throttle_pause_survives_the_owners_death(self):
        # tokens live 75 s and are due 100 s before expiry: always due, alive long after the pause
        self.sim.config(min_age=1, lifetime=75)
        accounts = {"a1": "shop", "a2": "shop"}
        hosts = self.make_hosts(accounts=accounts, before_expiry="100s")
        for h in hosts:
            h.start()
        owners = wait_for(lambda: self.settled(hosts), 20, step=0.2, what="owners settled")
        for acc in accounts:
            rc, out, err = hosts[0].env.import_token(self.sim.token(lifetime=75, age=5), acc)
            self.assertEqual(rc, 0, err)
        owner = next(h for h in hosts if h.name == owners["shop"])
        rest = [h for h in hosts if h is not owner]
        self.sim.script(path="/refresh_access_token", times=1, status=429, headers={"Retry-After": "25"},
                        json={"error": {"message": "Application request limit reached", "code": 4}})

        def paused_everywhere():
            until = [next(a for a in h.status()["apps"] if a["name"] == "shop").get("paused_until")
                     for h in hosts]
            return until[0] if until[0] and all(u == until[0] for u in until) else None
        until = wait_for(paused_everywhere, 20, step=0.2, what="the pause on every host")
        # its calls were answered (no token): it has withdrawn its intents
        wait_for(lambda: not self.etcd.ctl("get", "--prefix", "/igtokend/%s/v1/intent/" % self.name,
                                           "--keys-only").strip(), 10, step=0.2, what="no intent left")
        owner.kill()
        killed = time.time()
        wait_for(lambda: (lambda o: o and o["shop"] != owner.name)(self.settled(rest)), 2 * TTL + 5,
                 step=0.1, what="a new owner")
        self.assertGreater(until, time.time(), "the pause outlasts the takeover (else the test shows nothing)")
        wait_for(lambda: len([e for e in self.sim.log("/refresh_access_token") if e["t"] > until]) >= 1,
                 until - time.time() + 20, step=0.2, what="refreshes after the pause")
        during = [e for e in self.sim.log("/refresh_access_token") if killed < e["t"] < until - 0.5]
        self.assertEqual(during, [], "the new owner called Meta during its predecessor's pause")
        figure("pause of %d s kept by the new owner (0 calls before it ended)" % (until - killed))
        self.assert_no_double_refresh()


    def test_a_host_slow_to_write_takes_tokens_without_stalling_reads(self):
        # Every fsync of h1 takes a second more (a disk busy elsewhere): another
        # host's token is written there off the event loop, so reads go on,
        # served the token before it until the new one is durable, then the new one.
        hosts = self.make_hosts(2, before_expiry="5s")  # nothing falls due during the test
        hosts[0].start()
        hosts[1].start(extra_env={"IGTOKEND_TEST_FAULT": "fsync:slow"})
        wait_for(lambda: self.settled(hosts), 20, step=0.2, what="owners settled")
        self.import_all(hosts[0])
        first = {a: hosts[0].token(a) for a in ACCOUNTS}  # what the import made of them
        wait_for(lambda: all(hosts[1].token(a) == first[a] for a in ACCOUNTS), 30, step=0.1,
                 what="the imported tokens served by the slow host")
        self.import_all(hosts[0])
        imported = time.perf_counter()
        second = {a: hosts[0].token(a) for a in ACCOUNTS}
        self.assertFalse(set(first.values()) & set(second.values()))
        lat, seen = [], {a: [] for a in ACCOUNTS}
        while time.perf_counter() < imported + 30:
            for acc in ACCOUNTS:
                t0 = time.perf_counter()
                tok = hosts[1].token(acc)
                lat.append(time.perf_counter() - t0)
                if not seen[acc] or seen[acc][-1] != tok:
                    seen[acc].append(tok)
            if all(seen[a][-1] == second[a] for a in ACCOUNTS):
                break
            time.sleep(0.01)
        self.assertLess(max(lat), 1.0, "a read waited for the slow disk")
        for acc in ACCOUNTS:
            # the old token until the new one, never nothing, never back
            self.assertIn(seen[acc], ([second[acc]], [first[acc], second[acc]]), acc)
        self.assertTrue(any(seen[a][0] == first[a] for a in ACCOUNTS),
                        "the old token was served while the new one was written (else the test shows nothing)")
        self.assertGreaterEqual(hosts[1].env.logs().count("from host the cluster store"), 2 * len(ACCOUNTS))
        figure("slow host: %d reads while it wrote others' tokens, slowest %.3f s (an fsync took 1 s more)"
               % (len(lat), max(lat)))

if __name__ == "__main__":
    unittest.main()

"""The cluster store's client (net/etcd.h) against a real 3-member etcd
cluster on loopback: test-etcd runs each scenario in C and checks what it
sees; this file starts and breaks the members."""
import http.server
import os
import subprocess
import threading
import unittest

from etcd_cluster import Cluster, free_port

TEST_ETCD = os.environ.get("TEST_ETCD") or os.path.join(os.path.dirname(__file__), "..", "..", "build", "tests",
                                                        "test-etcd")


def run(*args, timeout=120):
    out = subprocess.run([TEST_ETCD] + [str(a) for a in args], capture_output=True, text=True, timeout=timeout)
    return out.returncode, out.stderr


class StoreTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(3)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def scenario(self, *args):
        rc, err = run(*args)
        self.assertEqual(rc, 0, err)
        return err

    def test_range_txn_leases_and_watch(self):
        self.scenario("basic", *self.cluster.endpoints)
        # what the C side wrote is what etcdctl reads
        self.assertEqual(self.cluster.ctl("get", "/t/a", "--print-value-only").strip(), "v2")

    def test_reads_and_writes_go_past_dead_endpoints(self):
        dead = ["http://127.0.0.1:%d" % free_port() for _ in range(2)]
        self.scenario("failover", *(dead + [self.cluster.members[2].url]))

    def test_a_frozen_member(self):
        m, other = self.cluster.members[0], self.cluster.members[1]
        self.scenario("stopped", m.url, m.proc.pid, other.url)

    def test_a_hosts_session_lease_and_the_store_losing_its_quorum(self):
        m = self.cluster.members
        self.scenario("session", m[0].url, m[1].url, m[2].url, m[1].proc.pid, m[2].proc.pid)
        self.cluster.wait_healthy()

    def test_one_owner_per_app_and_takeover_when_it_dies(self):
        self.scenario("owner", *self.cluster.endpoints)

    def test_a_host_with_another_key_is_refused_and_writes_nothing(self):
        self.scenario("keycheck", *self.cluster.endpoints)

    def test_intents_and_commits_lose_nothing_and_roll_nothing_back(self):
        self.scenario("tokens", *self.cluster.endpoints)

    def test_a_watch_on_a_frozen_member_is_declared_dead(self):
        m = self.cluster.members[1]
        self.scenario("dead-watch", m.url, m.proc.pid)


class AuthTest(unittest.TestCase):
    def test_password_auth_and_a_role_limited_to_the_prefix(self):
        c = Cluster(1)
        try:
            c.enable_auth("igtokend", "s3cret-pw", "/igtokend/")
            rc, err = run("auth", c.endpoints[0], "igtokend", "s3cret-pw", "/igtokend/")
            self.assertEqual(rc, 0, err)
        finally:
            c.stop()


class TlsTest(unittest.TestCase):
    def test_server_verified_client_certificate_presented(self):
        c = Cluster(1, tls=True)
        try:
            rc, err = run("tls", c.endpoints[0], c.pki("ca.crt"), c.pki("client.crt"), c.pki("client.key"),
                          c.pki("other.crt"))
            self.assertEqual(rc, 0, err)
        finally:
            c.stop()


class Garbage(http.server.BaseHTTPRequestHandler):
    """Answers every request with 200 and JSON that is not etcd's."""
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b'{"header":{"revision":1.5e300},"kvs":"\xff\xfe"}\n'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


class GarbageTest(unittest.TestCase):
    def test_an_etcd_that_answers_garbage(self):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        try:
            rc, err = run("garbage", "http://127.0.0.1:%d" % srv.server_address[1])
            self.assertEqual(rc, 0, err)
        finally:
            srv.shutdown()


if __name__ == "__main__":
    unittest.main()

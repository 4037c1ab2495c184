"""The scrape endpoint (CONTRACT 15.1, 15.2): metrics over HTTP for Prometheus,
basic auth, and hostile HTTP clients costing only themselves."""
import base64
import http.client
import os
import shutil
import socket
import subprocess
import threading
import time
import unittest

from harness import IntegrationTest, cpu_seconds, free_port, rss_kib, wait_for


class ScrapeTest(IntegrationTest):
    def start(self, password=None, **kw):
        self.port = free_port()
        extra = "metrics_listen: 127.0.0.1:%d\n" % self.port
        if password is not None:
            path = os.path.join(self.dir, "metrics.password")
            old = os.umask(0o077)
            with open(path, "w") as f:
                f.write(password + "\n")
            os.umask(old)
            extra += "metrics_password_file: metrics.password\n"
        self.env.write_config(extra=extra, **kw)
        self.env.start()
        return self.env.daemon.proc.pid

    def get(self, path, method="GET", auth=None, timeout=10):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        headers = {}
        if auth is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
        c.request(method, path, headers=headers)
        r = c.getresponse()
        body = r.read().decode()
        c.close()
        return r.status, dict(r.getheaders()), body

    def test_metrics_and_healthz_over_http(self):
        self.start(accounts={"shop-main": {"app": "shop"}, "other": {"app": "shop"}})
        self.fresh_account()
        status, headers, body = self.get("/metrics")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
        for family in ("build_info", "start_time_seconds", "last_reload_success", "next_refresh_timestamp_seconds",
                       "last_success_timestamp_seconds", "consecutive_failures", "token_expiry_timestamp_seconds",
                       "refresh_total", "app_credentials_ok"):
            self.assertIn("# HELP igtokend_%s " % family, body)
            self.assertIn("# TYPE igtokend_%s " % family, body)
        self.assertIn('igtokend_build_info{version="', body)
        self.assertIn("igtokend_last_reload_success 1", body)
        self.assertIn('igtokend_refresh_total{account="shop-main",app="shop",result="revoked"} 0', body)
        self.assertIn('igtokend_account_state{account="other",app="shop",state="no_token"} 1', body)  # admin view
        if shutil.which("promtool"):
            p = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(self.get("/healthz")[0], 200)
        self.assertEqual(self.get("/metrics", method="HEAD")[0], 200)
        for path, method in (("/", "GET"), ("/metrics/x", "GET"), ("/metrics", "POST"), ("/metrics", "DELETE"),
                             ("/../etc/passwd", "GET")):
            self.assertEqual(self.get(path, method=method)[0], 404, (path, method))
        # a refused reload shows; a verdict counts as revoked
        with open(self.env.config_path, "a") as f:
            f.write("bogus: [\n")
        self.assertEqual(self.env.ctl("reload")[0], 1)
        time.sleep(1.1)  # one rendering serves a second of scrapes
        self.assertIn("igtokend_last_reload_success 0", self.get("/metrics")[2])
        time.sleep(1.1)
        self.sim.script(path="/refresh_access_token", times=1, status=400,
                        json={"error": {"message": "x", "type": "OAuthException", "code": 190, "error_subcode": 460}})
        self.assertEqual(self.env.ctl("refresh", "shop-main")[0], 4)
        time.sleep(1.1)
        self.assertIn('igtokend_refresh_total{account="shop-main",app="shop",result="revoked"} 1', self.get("/metrics")[2])

    def test_basic_auth_any_user_that_password(self):
        self.start(password="s3cret-scrape")
        self.assertEqual(self.get("/metrics")[0], 401)
        status, headers, _ = self.get("/metrics", auth="prometheus:wrong")
        self.assertEqual(status, 401)
        self.assertIn('Basic realm="igtokend"', headers.get("WWW-Authenticate", ""))
        self.assertEqual(self.get("/metrics", auth="prometheus:s3cret-scrape")[0], 200)
        self.assertEqual(self.get("/metrics", auth="anyone:s3cret-scrape")[0], 200)
        self.assertEqual(self.get("/metrics", auth="anyone:s3cret-scrape-and-more")[0], 401)
        self.assertEqual(self.get("/healthz")[0], 200)  # liveness needs no password
        # a reload takes a new password
        with open(os.path.join(self.dir, "metrics.password"), "w") as f:
            f.write("rotated\n")
        self.assertEqual(self.env.ctl("reload")[0], 0)
        self.assertEqual(self.get("/metrics", auth="p:s3cret-scrape")[0], 401)
        self.assertEqual(self.get("/metrics", auth="p:rotated")[0], 200)
        self.assertNotIn("rotated", self.env.logs())
        self.secrets += ["s3cret-scrape", "rotated"]

    def test_a_busy_port_and_a_bad_address_are_clear_errors(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        self.env.write_config(extra="metrics_listen: 127.0.0.1:%d\n" % port)
        from harness import IGTOKEND
        p = subprocess.run([IGTOKEND, "-c", self.env.config_path], capture_output=True, text=True, timeout=20)
        s.close()
        self.assertEqual(p.returncode, 1)
        self.assertIn("metrics_listen 127.0.0.1:%d: cannot listen: Address already in use" % port, p.stderr)
        self.env.write_config(extra="metrics_listen: ::1:9862\n")
        p = subprocess.run([IGTOKEND, "--check-config", "-c", self.env.config_path], capture_output=True, text=True)
        self.assertEqual(p.returncode, 78)
        self.assertIn("'metrics_listen' must be HOST:PORT (an IPv6 address in brackets)", p.stderr)

    def test_stalled_flooding_and_malformed_clients_cost_only_themselves(self):
        pid = self.start()
        self.fresh_account()
        rss0, cpu0 = rss_kib(pid), cpu_seconds(pid)
        # 100 clients trickle a request one byte at a time: cut off at the 10 s deadline
        trickle = []
        for _ in range(100):
            c = socket.create_connection(("127.0.0.1", self.port))
            c.sendall(b"GET /metr")
            trickle.append(c)
        # meanwhile a scrape, a healthz and token reads are answered at once
        t0 = time.time()
        self.assertEqual(self.get("/metrics", timeout=3)[0], 200)
        self.assertEqual(self.env.ctl("token", "shop-main")[0], 0)
        self.assertLess(time.time() - t0, 2)
        stop = time.time() + 14
        alive = list(trickle)
        while time.time() < stop and alive:
            for c in list(alive):
                try:
                    c.sendall(b"i")
                except OSError:
                    alive.remove(c)
            time.sleep(1)
        self.assertEqual(alive, [], "a trickling client outlived the request deadline")
        # a flood beyond the connection limit: refused, others still served once it stops
        flood = []
        for _ in range(300):
            try:
                flood.append(socket.create_connection(("127.0.0.1", self.port), timeout=2))
            except OSError:
                break
        self.assertEqual(self.env.ctl("token", "shop-main")[0], 0)
        for c in flood:
            c.close()
        wait_for(lambda: self.get("/healthz", timeout=2)[0] == 200, 15, what="scrapes after the flood")
        # malformed requests: an error answer, nothing more
        for raw in (b"\x00\xff\r\n\r\n", b"GET /metrics HTTP/9.9\r\n\r\n", b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n",
                    b"GET " + b"/a" * 20000 + b" HTTP/1.1\r\n\r\n"):
            c = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            try:
                c.sendall(raw)
                answer = c.recv(200)
            except OSError:
                answer = b""
            c.close()
            self.assertFalse(answer.startswith(b"HTTP/1.1 200"), raw[:40])
        # pipelined scrapes that are never read: one shared rendering, bounded memory
        readers = []
        for _ in range(4):
            c = socket.create_connection(("127.0.0.1", self.port))
            c.setblocking(False)
            try:
                c.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 2000)
            except BlockingIOError:
                pass
            readers.append(c)
        time.sleep(2)
        self.assertEqual(self.get("/healthz", timeout=3)[0], 200)
        for c in readers:
            c.close()
        for c in trickle:
            c.close()
        grown, cpu = rss_kib(pid) - rss0, cpu_seconds(pid) - cpu0
        print("\n# hostile HTTP clients: RSS +%d KiB, %.2f s CPU" % (grown, cpu))
        self.assertLess(grown, 32 * 1024)
        self.assertEqual(self.env.ctl("status")[0], 0)
        self.assertEqual(self.get("/metrics")[0], 200)


if __name__ == "__main__":
    unittest.main()

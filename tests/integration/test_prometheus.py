"""A real Prometheus (Debian's) scraping igtokend's endpoint with the shipped
alert rules (CONTRACT 15.1-15.3): the series arrive, and an account driven to
reauth_required fires IgtokendAccountNeedsHuman, which resolves once it is fixed."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import unittest
import urllib.parse
import urllib.request

from harness import HERE, IntegrationTest, free_port, wait_for

SRC = os.path.join(HERE, "..", "..")
RULES = os.path.abspath(os.path.join(SRC, "contrib", "prometheus", "igtokend.rules.yml"))
DASHBOARD = os.path.abspath(os.path.join(SRC, "contrib", "grafana", "igtokend.json"))


class PrometheusTest(IntegrationTest):
    def setUp(self):
        super().setUp()
        self.prom = None
        self.prometheus = shutil.which("prometheus")
        # tools/dev installs it: missing is a failure, not a skip
        self.assertIsNotNone(self.prometheus, "prometheus is not installed (tools/dev deps)")

    def tearDown(self):
        if self.prom and self.prom.poll() is None:
            os.kill(self.prom.pid, signal.SIGTERM)
            try:
                self.prom.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.prom.pid, signal.SIGKILL)
                self.prom.wait()
        if self.prom:
            self.prom_log.close()
        super().tearDown()

    def start_prometheus(self, target):
        self.prom_port = free_port()
        d = os.path.join(self.dir, "prometheus")
        os.makedirs(os.path.join(d, "data"))
        cfg = os.path.join(d, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                    "rule_files: [%s]\n"
                    "scrape_configs:\n"
                    "  - job_name: igtokend\n"
                    "    static_configs: [{targets: ['%s']}]\n" % (json.dumps(RULES), target))
        self.prom_log = open(os.path.join(d, "prometheus.log"), "w")
        self.prom = subprocess.Popen(
            [self.prometheus, "--config.file=" + cfg, "--storage.tsdb.path=" + os.path.join(d, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.prom_port, "--web.enable-lifecycle"],
            stdout=self.prom_log, stderr=subprocess.STDOUT)
        wait_for(lambda: self.api("/-/ready", raw=True), 60, step=0.2, what="prometheus ready")

    def api(self, path, raw=False, **query):
        url = "http://127.0.0.1:%d%s" % (self.prom_port, path)
        if query:
            url += "?" + urllib.parse.urlencode(query)
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                body = r.read().decode()
        except OSError:
            return None
        return body if raw else json.loads(body)["data"]

    def alerts(self, name):
        data = self.api("/api/v1/alerts") or {"alerts": []}
        return [a for a in data["alerts"] if a["labels"]["alertname"] == name]

    def test_prometheus_scrapes_and_the_needs_human_alert_fires_and_resolves(self):
        port = free_port()
        self.env.write_config(accounts={"shop-main": {"app": "shop"}},
                              extra="metrics_listen: 127.0.0.1:%d\n" % port)
        self.env.start()
        self.fresh_account()
        self.start_prometheus("127.0.0.1:%d" % port)
        expires = self.env.account()["expires_at"]

        def series():
            res = self.api("/api/v1/query", query='igtokend_token_expiry_timestamp_seconds{account="shop-main"}')
            return res and res["result"]
        result = wait_for(series, 30, step=0.5, what="the series in Prometheus")
        self.assertEqual(int(float(result[0]["value"][1])), expires)
        self.assertEqual(result[0]["metric"]["job"], "igtokend")
        up = self.api("/api/v1/query", query='up{job="igtokend"}')["result"]
        self.assertEqual(up[0]["value"][1], "1")
        self.assertEqual(self.alerts("IgtokendAccountNeedsHuman"), [])
        # every metric the shipped rules and dashboard use is one igtokend exports
        names = set(re.findall(r"\bigtokend_[a-z_]+", open(RULES).read() + open(DASHBOARD).read()))
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            exported = set(re.findall(r"^# HELP (igtokend_[a-z_]+) ", r.read().decode(), re.M))
        self.assertEqual(names - exported, set())

        # Meta withdraws the grant: the alert fires, naming the account and what to do
        time.sleep(1.1)
        self.sim.script(path="/refresh_access_token", times=1, status=400,
                        json={"error": {"message": "The session has been invalidated", "type": "OAuthException",
                                        "code": 190, "error_subcode": 460}})
        self.assertEqual(self.env.ctl("refresh", "shop-main")[0], 4)
        t0 = time.time()
        firing = wait_for(lambda: [a for a in self.alerts("IgtokendAccountNeedsHuman") if a["state"] == "firing"],
                          30, step=0.5, what="the alert to fire")
        print("\n# IgtokendAccountNeedsHuman firing %.1f s after the verdict" % (time.time() - t0))
        self.assertEqual(firing[0]["labels"]["account"], "shop-main")
        self.assertEqual(firing[0]["labels"]["state"], "reauth_required")
        self.assertIn("igtokenctl enroll shop-main", firing[0]["annotations"]["description"])

        # a person logs in again: the alert resolves
        self.fresh_account()
        t0 = time.time()
        wait_for(lambda: self.alerts("IgtokendAccountNeedsHuman") == [], 30, step=0.5, what="the alert to resolve")
        print("# resolved %.1f s after the new login" % (time.time() - t0))
        res = self.api("/api/v1/query", query='igtokend_account_state{account="shop-main",state="fresh"}')["result"]
        self.assertEqual(res[0]["value"][1], "1")


if __name__ == "__main__":
    unittest.main()

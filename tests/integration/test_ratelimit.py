"""Meta's rate limits: usage headers, throttle codes, 429 and Retry-After, per-app pacing."""
import json
import time
import unittest

from harness import IntegrationTest, wait_for


def calls(sim, since=0.0):
    return [e for e in sim.log() if e["t"] >= since and e["path"] in ("/refresh_access_token", "/me", "/access_token")]


def app_status(env, name="shop"):
    return next(a for a in env.status()["apps"] if a["name"] == name)


class RateLimitTest(IntegrationTest):
    def two_apps(self):
        shop = {"app_id": "1234567890", "app_secret_file": "app.secret", "api_url": self.sim.url,
                "oauth_url": self.sim.url, "ca_file": self.sim.ca}
        return {"shop": shop, "other": dict(shop)}

    def test_429_retry_after_pauses_then_exactly_one_probe(self):
        self.env.write_config(accounts={"a": {"app": "shop"}, "b": {"app": "shop"}, "c": {"app": "shop"}},
                              refresh={"before_expiry": "3597s", "min_age": "1s"})
        self.env.start()
        for n in "abc":
            self.fresh_account(n)
        time.sleep(1.1)  # past min_age (1 s): else an admin's refresh is too_early
        self.sim.script(path="/refresh_access_token", times=1, status=429, headers={"Retry-After": "5"},
                        json={"error": {"message": "slow down", "code": 4}})
        t0 = time.time()
        rc, out, err = self.env.ctl("refresh", "a")
        self.assertEqual(rc, 1)
        self.assertIn("throttled", err)
        app = app_status(self.env)
        self.assertGreaterEqual(app["paused_until"], int(t0) + 5)
        self.assertEqual(app["throttle_count"], 1)
        # the probe's answer comes a second late: the others must wait for it
        self.sim.script(path="/refresh_access_token", times=1, action="passthrough", delay=1.0)
        wait_for(lambda: self.env.account("b")["state"] == "throttled", 8, what="b throttled")
        rc, out, err = self.env.ctl("refresh", "c")  # an admin is refused while paused, without a call
        self.assertEqual(rc, 1)
        self.assertIn("paused", err)
        wait_for(lambda: len(calls(self.sim, t0)) >= 5, 20, what="calls after the pause")
        throttled, *after = sorted(e["t"] for e in calls(self.sim, t0))
        self.assertGreaterEqual(after[0], throttled + 5, "a call went out during the pause")
        self.assertGreaterEqual(after[1], after[0] + 0.9, "more than one request went out before the probe's answer")
        for n in "abc":
            self.env.wait_state("fresh", n)

    def test_code_4_with_usage_100_pauses_the_app(self):
        self.env.write_config(refresh={"retry_initial": "3s", "retry_max": "60s"})
        self.env.start()
        self.fresh_account()
        self.sim.script(path="/refresh_access_token", times=1, status=403,
                        headers={"X-App-Usage": json.dumps({"call_count": 100, "total_time": 40, "total_cputime": 30})},
                        json={"error": {"message": "(#4) Application request limit reached", "type": "OAuthException",
                                        "is_transient": True, "code": 4}})
        t0 = time.time()
        rc, out, err = self.env.ctl("refresh", "shop-main")
        self.assertEqual(rc, 1)
        app = app_status(self.env)
        self.assertEqual(app["usage"]["call_count"], 100)
        self.assertEqual(app["usage"]["total_time"], 40)
        self.assertIsNotNone(app["paused_until"])
        self.assertGreaterEqual(app["paused_until"], int(t0) + 3)
        self.assertEqual(app["throttle_count"], 1)
        # throttling is no failure of the token: it is still served, and not `retrying`
        self.assertEqual(self.env.ctl("token", "shop-main")[0], 0)
        self.assertEqual(self.env.account()["failures"], 0)
        rc, text, _ = self.env.ctl("metrics")
        self.assertIn('igtokend_app_usage_percent{app="shop",metric="call_count"} 100', text)
        self.assertIn('igtokend_app_throttled_total{app="shop"} 1', text)
        self.assertIn('igtokend_refresh_total{account="shop-main",app="shop",result="throttled"} 1', text)

    def test_buc_estimate_pauses_that_many_minutes(self):
        self.env.write_config()
        self.env.start()
        self.fresh_account()
        # keyed by another business object than the account's user: the app's (CONTRACT 12.8)
        buc = {"17841400000000999": [{"type": "instagram", "call_count": 100, "total_cputime": 10,
                                      "total_time": 12, "estimated_time_to_regain_access": 2}]}
        self.sim.script(path="/refresh_access_token", times=1, status=400,
                        headers={"X-Business-Use-Case-Usage": json.dumps(buc)},
                        json={"error": {"message": "(#80002) There have been too many calls to this Instagram account.",
                                        "type": "OAuthException", "code": 80002}})
        t0 = time.time()
        self.env.ctl("refresh", "shop-main")
        app = app_status(self.env)
        self.assertGreaterEqual(app["paused_until"], int(t0) + 120)
        self.assertLessEqual(app["paused_until"], int(t0) + 152)
        b = app["usage"]["buc"][0]
        self.assertEqual((b["id"], b["type"], b["call_count"], b["estimated_time_to_regain_access"]),
                         ("17841400000000999", "instagram", 100, 2))
        # a pause survives a restart
        self.env.stop()
        self.env.start()
        n = len(calls(self.sim))
        self.assertEqual(app_status(self.env)["paused_until"], app["paused_until"])
        rc, out, err = self.env.ctl("refresh", "shop-main")
        self.assertEqual(rc, 1)
        self.assertIn("throttled", err)
        self.assertEqual(len(calls(self.sim)), n)

    def test_stop_above_on_a_good_answer_pauses_without_counting(self):
        self.env.write_config(refresh={"retry_initial": "4s", "retry_max": "60s"})
        self.env.start()
        self.fresh_account()
        time.sleep(1.1)
        self.sim.script(path="/refresh_access_token", times=1, action="passthrough",
                        headers={"X-App-Usage": json.dumps({"call_count": "96", "total_time": 3, "total_cputime": 3})})
        t0 = time.time()
        rc, out, err = self.env.ctl("refresh", "shop-main")
        self.assertEqual(rc, 0, err)  # the refresh itself succeeded
        app = app_status(self.env)
        self.assertEqual(app["usage"]["call_count"], 96)
        self.assertEqual(app["throttle_count"], 0)
        self.assertGreaterEqual(app["paused_until"], int(t0) + 4)
        rc, out, err = self.env.ctl("refresh", "shop-main")
        self.assertEqual(rc, 1)
        self.assertIn("throttled", err)

    def test_above_slow_only_urgent_refreshes_go_out(self):
        # lifetime 24 s, refresh 21 s before expiry: due 3 s after issue, urgent when 7 s are left
        self.env.write_config(accounts={"u": {"app": "shop"}, "n": {"app": "shop"}},
                              refresh={"before_expiry": "21s", "min_age": "1s"})
        self.sim.config(lifetime=24)
        self.env.start()
        self.fresh_account("n")
        n_exp = self.env.account("n")["expires_at"]
        self.fresh_account("u")
        time.sleep(1.1)
        # usage above slow_above (75) arrives with a manual refresh of u
        self.sim.script(path="/refresh_access_token", times=1, action="passthrough",
                        headers={"X-App-Usage": json.dumps({"call_count": 80})})
        self.assertEqual(self.env.ctl("refresh", "u")[0], 0)
        n_tok = self.env.ctl("token", "n")[1].strip()
        # n is due (3 s after issue) but not urgent until 7 s before expiry: it waits
        time.sleep(max(0, n_exp - 21 - time.time()) + 3)
        self.assertFalse([e for e in self.sim.log("/refresh_access_token") if e["query"]["access_token"] == n_tok],
                         "a non-urgent refresh went out above slow_above")
        # once urgent it goes out, usage or not
        wait_for(lambda: [e for e in self.sim.log("/refresh_access_token") if e["query"]["access_token"] == n_tok],
                 20, what="the urgent refresh")
        t = [e["t"] for e in self.sim.log("/refresh_access_token") if e["query"]["access_token"] == n_tok][0]
        self.assertGreaterEqual(t, n_exp - 7 - 1)

    def test_one_app_never_pauses_another(self):
        self.env.write_config(apps=self.two_apps(), accounts={"s": {"app": "shop"}, "o": {"app": "other"}})
        self.env.start()
        self.fresh_account("s")
        self.fresh_account("o")
        time.sleep(1.1)
        self.sim.script(path="/refresh_access_token", times=1, status=429, headers={"Retry-After": "60"}, json={})
        self.assertEqual(self.env.ctl("refresh", "s")[0], 1)
        self.assertIsNotNone(app_status(self.env, "shop")["paused_until"])
        self.assertIsNone(app_status(self.env, "other")["paused_until"])
        rc, out, err = self.env.ctl("refresh", "o")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.env.account("o")["state"], "fresh")

    def test_max_in_flight_per_app(self):
        accounts = {"a%d" % i: {"app": "shop"} for i in range(8)}
        # due 10 s after each import: every scheduled refresh starts after the
        # script below, however slowly the imports go (an ASan build)
        self.env.write_config(accounts=accounts, refresh={"max_in_flight": 2, "before_expiry": "3590s"})
        self.env.start()
        for n in accounts:
            self.fresh_account(n)
        # every refresh now takes a second: at most two may be under way at once
        self.sim.script(path="/refresh_access_token", times=8, action="passthrough", delay=1.0)
        t0 = time.time()
        wait_for(lambda: len(self.sim.log("/refresh_access_token")) >= 16, 30, what="8 scheduled refreshes")
        starts = sorted(e["t"] for e in self.sim.log("/refresh_access_token") if e["t"] >= t0)[:8]
        for i in range(2, 8):  # the third can start only when the first answered
            self.assertGreaterEqual(starts[i], starts[i - 2] + 0.9)


if __name__ == "__main__":
    unittest.main()

"""Token health (CONTRACT section 12): the daemon's picture of each token matches
what Meta (the simulator) says, item by item, including recovery."""
import base64
import hashlib
import hmac
import json
import os
import subprocess
import threading
import time
import unittest
import urllib.parse

from harness import IGTOKENCTL, IGTOKEND, IntegrationTest, wait_for

IG_USER = "17841405793187218"


def signed_request(payload, secret):
    """What Meta POSTs to a deauthorize callback: base64url(HMAC-SHA256).base64url(JSON)."""
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=")
    p = b64(json.dumps(payload).encode())
    return (b64(hmac.new(secret.encode(), p, hashlib.sha256).digest()) + b"." + p).decode()


class HealthTest(IntegrationTest):
    def served(self, name="shop-main"):
        """The token in hand (an Instagram import refreshes the imported one at once)."""
        rc, out, err = self.env.ctl("token", name)
        self.assertEqual(rc, 0, err)
        return out.strip()

    def apps(self, fb_extra=None, ig_extra=None):
        ig = {"app_id": "1234567890", "app_secret_file": "app.secret", "api_url": self.sim.url,
              "oauth_url": self.sim.url, "ca_file": self.sim.ca, "redirect_uri": "https://example.com/ig/callback",
              **(ig_extra or {})}
        fb = {"platform": "facebook", "app_id": "99887766", "app_secret_file": "fb.secret",
              "api_url": self.sim.url, "api_version": "v21.0", "ca_file": self.sim.ca,
              "redirect_uri": "https://example.com/fb/callback", **(fb_extra or {})}
        return {"shop": ig, "pages": fb}

    def start(self, accounts=None, refresh=None, apps=None):
        accounts = accounts or {"shop-main": {"app": "shop"}, "brand": {"app": "pages"}}
        self.env.write_config(apps=apps or self.apps(), accounts=accounts,
                              refresh={"validate_every": "2s", **(refresh or {})})
        self.env.start()

    def app(self, name):
        return next(a for a in self.env.status()["apps"] if a["name"] == name)

    def checks(self, path="/me"):
        return [e for e in self.sim.log(path) if e["query"].get("fields") == "user_id,username" or path != "/me"]

    # ---- 12.1 the daily check ----

    def test_instagram_token_checked_daily_and_revocation_seen_at_the_next_check(self):
        self.start(accounts={"shop-main": {"app": "shop"}})
        tok = self.sim.token(lifetime=3600, age=5, username="shop_one")
        self.assertEqual(self.env.import_token(tok)[0], 0)
        a = self.env.account()
        # /me validated the import: no check right after it, and the user's name is known
        self.assertEqual((a["state"], a["username"]), ("fresh", "shop_one"))
        self.assertLessEqual(abs(a["last_validated"] - time.time()), 2)
        n = len(self.checks())
        # the check: /me?fields=user_id,username with the token in hand, never a refresh
        self.sim.script(path="/me", times=1, delay=1.0, action="passthrough")
        wait_for(lambda: len(self.sim.log("/me")) > n, 5, what="a check")
        self.assertEqual(self.env.account()["state"], "fresh")  # not `refreshing` while it is out
        wait_for(lambda: self.env.account()["last_validated"] > a["last_validated"], 5, what="last_validated")
        tok = self.served()
        self.assertEqual(self.sim.log("/me")[-1]["query"]["access_token"], tok)
        refreshes = len(self.sim.log("/refresh_access_token"))
        # a 5xx or a throttle on a check changes nothing
        self.sim.script(path="/me", times=1, status=503, raw="down")
        self.sim.script(path="/me", times=1, status=400, json={"error": {"code": 4, "message": "limit"}})
        m = len(self.sim.log("/me"))
        wait_for(lambda: len(self.sim.log("/me")) >= m + 2, 15, what="two failed checks")
        a = self.env.account()
        self.assertEqual((a["state"], a["failures"], a["last_error"]), ("fresh", 0, None))
        self.assertEqual(self.env.ctl("token", "shop-main")[0], 0)
        # Meta revokes the token (the user changed their password): gone within a check
        self.sim.call("/revoke", {"token": tok})
        a = self.env.wait_state("reauth_required", timeout=15)
        self.assertIn("190/460", a["last_error"])
        self.assertEqual(self.env.ctl("token", "shop-main")[0], 4)
        self.assertEqual(len(self.sim.log("/refresh_access_token")), refreshes)  # checks, not refreshes

    def test_facebook_check_is_debug_token_and_never_shows_refreshing(self):
        self.start(accounts={"brand": {"app": "pages"}}, refresh={"validate_every": "3s"})
        tok = self.sim.token(app="fb", kind="long", lifetime=3600)
        self.assertEqual(self.env.import_token(tok, "brand")[0], 0)
        a = self.env.account("brand")
        self.assertIsNotNone(a["last_validated"])
        self.assertNotIn("username", a)  # instagram only
        n = len(self.sim.log("/v21.0/debug_token"))
        self.sim.script(path="/v21.0/debug_token", times=1, delay=1.0, action="passthrough")
        wait_for(lambda: len(self.sim.log("/v21.0/debug_token")) > n, 6, what="a check")
        self.assertEqual(self.env.account("brand")["state"], "fresh")
        wait_for(lambda: self.env.account("brand")["last_validated"] > a["last_validated"], 5, what="check done")
        self.assertEqual(len(self.sim.log("/v21.0/oauth/access_token")), 0)

    def test_checks_of_many_accounts_are_spread(self):
        """1000 accounts last checked at the same moment are checked validate_every
        later over a tenth of it, not in one burst (a bulk import, a day later)."""
        n, every = 1000, 100
        tokens = self.sim.call("/tokens/bulk", {"count": n, "age": 3600, "lifetime": 30 * 86400})["tokens"]
        last = int(time.time()) - every + 4  # due from 4 s after now, over 10 s
        build = os.environ.get("IGTOKEND_BUILD_DIR") or os.path.dirname(os.path.abspath(IGTOKEND))
        vb = os.path.join(build, "tests", "bench", "vaultbench")
        self.assertTrue(os.path.exists(vb), "vaultbench is built with igtokend: " + vb)
        subprocess.run([vb, "create", self.env.vault, self.env.key, str(n), str(last - 100),
                        str(int(time.time()) + 30 * 86400), "-", str(last)],
                       input="\n".join(tokens) + "\n", text=True, check=True, capture_output=True)
        accounts = {"acct-%06d" % i: {"app": "shop"} for i in range(n)}
        self.env.write_config(apps=self.apps(), accounts=accounts,
                              refresh={"validate_every": "%ds" % every, "before_expiry": "1d", "max_in_flight": 8})
        t0 = time.time()
        self.env.start()
        wait_for(lambda: len(self.sim.log("/me")) >= n, 60, step=0.5, what="every account checked")
        times = sorted(e["t"] for e in self.sim.log("/me"))
        per_second = {}
        for t in times:
            per_second[int(t - times[0])] = per_second.get(int(t - times[0]), 0) + 1
        span = times[-1] - times[0]
        print("\n# %d checks over %.1f s, at most %d in one second (mean %.0f); first %.1f s after start"
              % (n, span, max(per_second.values()), n / max(span, 1), times[0] - t0))
        self.assertGreaterEqual(times[0], last + every - 1)  # none before it was due
        self.assertGreaterEqual(span, 8)  # spread over the tenth of validate_every ...
        self.assertLessEqual(max(per_second.values()), 3 * n / 10)  # ... with no second taking a burst
        self.assertEqual(len(self.sim.log("/refresh_access_token")), 0)

    # ---- 12.2 the app's own credentials ----

    def test_wrong_app_secret_is_the_apps_fault_and_a_reload_fixes_it(self):
        self.start(accounts={"brand": {"app": "pages"}, "brand2": {"app": "pages"}})
        toks = [self.sim.token(app="fb", kind="long", lifetime=3600, user_id=u) for u in ("501", "502")]
        for name, tok in zip(("brand", "brand2"), toks):
            self.assertEqual(self.env.import_token(tok, name)[0], 0)
        self.assertEqual(self.app("pages")["credentials"], "ok")
        # the secret is rotated at Meta: debug_token answers a top-level 190 about the app token
        self.sim.config(fb_app_secret="rotated-secret")
        wait_for(lambda: self.app("pages")["credentials"] == "rejected", 10, what="credentials rejected")
        app = self.app("pages")
        self.assertIn("Invalid OAuth access token signature.", app["error"])
        self.assertIn("app secret", app["error"])
        rc, text, _ = self.env.ctl("metrics")
        self.assertIn('igtokend_app_credentials_ok{app="pages"} 0', text)
        self.assertIn('igtokend_app_credentials_ok{app="shop"} 1', text)
        time.sleep(3)  # more checks come and back off; no account is blamed
        for name in ("brand", "brand2"):
            a = self.env.account(name)
            self.assertEqual((a["state"], a["failures"], a["last_error"]), ("fresh", 0, None), name)
            self.assertEqual(self.env.ctl("token", name)[0], 0)
        warnings = [l for l in self.env.logs().splitlines() if "credentials refused" in l and " warning " in l]
        self.assertEqual(len(warnings), 1, warnings)
        self.assertIn("APP=pages", warnings[0])
        self.assertIn("app_secret_file", warnings[0])
        # the operator fixes the secret and reloads: ok again, nothing re-imported
        old = len(self.sim.log("/v21.0/oauth/access_token"))
        with open(os.path.join(self.dir, "fb.secret"), "w") as f:
            f.write("rotated-secret\n")
        self.assertEqual(self.env.ctl("reload")[0], 0)
        wait_for(lambda: self.app("pages")["credentials"] == "ok", 15, what="credentials ok again")
        self.assertNotIn("error", self.app("pages"))
        self.assertIn('igtokend_app_credentials_ok{app="pages"} 1', self.env.ctl("metrics")[1])
        for name, tok in zip(("brand", "brand2"), toks):
            self.assertEqual(self.env.account(name)["state"], "fresh")
            self.assertEqual(self.env.ctl("token", name)[1].strip(), tok)
        self.assertEqual(len(self.sim.log("/v21.0/oauth/access_token")), old)

    def test_wrong_client_secret_on_an_exchange_is_code_1_and_no_accounts_fault(self):
        self.start(accounts={"shop-main": {"app": "shop"}})
        self.assertEqual(self.app("shop")["credentials"], "unknown")  # nothing carried them yet
        self.sim.config(app_secret="rotated")
        short = self.sim.token(kind="short", lifetime=3600)
        rc, out, err = self.env.import_token(short, short=True)
        self.assertEqual(rc, 1)
        self.assertIn("Error validating client secret.", err)
        self.assertEqual(self.app("shop")["credentials"], "rejected")
        self.assertEqual(self.env.account()["state"], "no_token")
        self.assertIn("fbtrace_id", err)

    # ---- 12.3 recoverable verdicts ----

    def test_checkpoint_is_reauth_until_a_check_finds_the_token_good_again(self):
        self.start(accounts={"shop-main": {"app": "shop"}})
        self.fresh_account()
        tok = self.served()
        self.sim.call("/revoke", {"token": tok, "subcode": 459})
        a = self.env.wait_state("reauth_required", timeout=10)
        self.assertIn("190/459", a["last_error"])
        self.assertIn("security checkpoint", a["last_error"])
        self.assertIn("next successful check", a["last_error"])
        self.assertEqual(self.env.ctl("token", "shop-main")[0], 4)
        rc, out, err = self.env.ctl("refresh", "shop-main")
        self.assertEqual(rc, 4)  # no refresh of a withdrawn token
        n = len(self.sim.log("/me"))
        wait_for(lambda: len(self.sim.log("/me")) > n + 1, 10, what="checks go on")
        # the user clears the checkpoint on facebook.com: fresh again, the same token served
        self.sim.call("/restore", {"token": tok})
        a = self.env.wait_state("fresh", timeout=10)
        self.assertIsNone(a["last_error"])
        self.assertEqual(self.env.ctl("token", "shop-main")[1].strip(), tok)
        # and after a restart too
        self.env.stop()
        self.env.start()
        self.assertEqual(self.env.account()["state"], "fresh")

    def test_unconfirmed_user_and_lost_page_role_say_what_to_do(self):
        self.start(accounts={"shop-main": {"app": "shop"}, "brand": {"app": "pages"}})
        self.fresh_account()
        ig = self.served()
        fb = self.sim.token(app="fb", kind="long", lifetime=3600)
        self.assertEqual(self.env.import_token(fb, "brand")[0], 0)
        self.sim.call("/revoke", {"token": ig, "subcode": 464})
        self.sim.call("/revoke", {"token": fb, "subcode": 492})
        a = self.env.wait_state("reauth_required", "shop-main", timeout=10)
        self.assertIn("confirm their account", a["last_error"])
        b = self.env.wait_state("reauth_required", "brand", timeout=10)
        self.assertIn("190/492", b["last_error"])
        self.assertIn("role on the Page", b["last_error"])
        self.sim.call("/restore", {"token": fb})
        self.env.wait_state("fresh", "brand", timeout=10)
        self.sim.call("/restore", {"token": ig})
        self.env.wait_state("fresh", "shop-main", timeout=10)
        # a verdict that is not recoverable stops the checks
        self.sim.call("/revoke", {"token": ig, "subcode": 460})
        self.env.wait_state("reauth_required", "shop-main", timeout=10)
        n = len(self.sim.log("/me"))
        time.sleep(4.5)
        self.assertEqual(len(self.sim.log("/me")), n)

    # ---- 12.4 short-lived tokens imported as long-lived ----

    def test_short_lived_token_imported_as_long_lived_is_exchanged(self):
        self.start(accounts={"shop-main": {"app": "shop"}})
        self.sim.config(lifetime=5184000)
        short = self.sim.token(kind="short", lifetime=3600)
        t0 = time.time()
        ans = self.env.request({"cmd": "import", "account": "shop-main", "token": short})
        self.assertTrue(ans["ok"], ans)
        self.assertFalse(ans["expiry_assumed"])
        self.assertLessEqual(abs(ans["expires_at"] - (t0 + 5184000)), 3)  # Meta's word, 60 days
        self.assertEqual(self.sim.log("/access_token")[-1]["query"]["grant_type"], "ig_exchange_token")
        served = self.env.ctl("token", "shop-main")[1].strip()
        self.assertNotEqual(served, short)  # the long-lived one is sealed
        a = self.env.account()
        self.assertFalse(a["expiry_assumed"])
        self.assertEqual(a["warnings"], [])

    def test_young_long_lived_token_keeps_an_assumed_expiry_and_says_so(self):
        self.start(accounts={"shop-main": {"app": "shop"}})
        self.sim.config(min_age=86400)
        tok = self.sim.token(lifetime=5184000, age=0)
        t0 = time.time()
        ans = self.env.request({"cmd": "import", "account": "shop-main", "token": tok})
        self.assertTrue(ans["ok"], ans)
        self.assertTrue(ans["expiry_assumed"])
        self.assertLessEqual(abs(ans["expires_at"] - (t0 + 60 * 86400)), 3)
        self.assertEqual(len(self.sim.log("/access_token")), 1)  # the exchange was tried once
        a = self.env.account()
        self.assertTrue(a["expiry_assumed"])
        self.assertEqual(len(a["warnings"]), 1)
        self.assertIn("expiry assumed", a["warnings"][0])
        self.assertEqual(self.env.ctl("token", "shop-main")[1].strip(), tok)

    # ---- 12.5 dead APIs ----

    def test_basic_display_tokens_are_refused_and_named(self):
        self.start(accounts={"shop-main": {"app": "shop"}})
        rc, out, err = self.env.import_token("IGQVJYeUk4NWNnQmRsbWZABcdEfGh")
        self.assertEqual(rc, 1)
        self.assertIn("bad_request", err)
        self.assertIn("2024-12-04", err)
        self.assertIn("Instagram Login", err)
        self.assertEqual(len(self.sim.log()), 0)  # Meta was not asked
        # a token the refresh finds dead with Meta's Basic Display answer
        self.fresh_account()
        time.sleep(1.1)
        self.sim.script(path="/refresh_access_token", times=1, status=400,
                        json={"error": {"message": "Unsupported request - method type: get",
                                        "type": "IGApiException", "code": 100, "fbtrace_id": "Bd1"}})
        rc, out, err = self.env.ctl("refresh", "shop-main")
        self.assertEqual(rc, 4)
        a = self.env.account()
        self.assertEqual(a["state"], "reauth_required")
        self.assertIn("2024-12-04", a["last_error"])
        self.assertTrue(a["last_error"].endswith(" (fbtrace_id Bd1)"), a["last_error"])

    # ---- 12.6 system-user tokens ----

    def test_system_user_tokens_validated_or_renewed_for_sixty_days(self):
        self.start(accounts={"never": {"app": "pages"}, "sixty": {"app": "pages"}},
                   refresh={"before_expiry": "20s", "validate_every": "1h"})
        never = self.sim.token(app="fb", kind="system_user", lifetime=0)
        self.assertEqual(self.env.import_token(never, "never")[0], 0)
        a = self.env.account("never")
        self.assertEqual((a["state"], a["expires_at"], a["next_refresh"]), ("fresh", 0, None))
        self.sim.config(lifetime=3600)
        sixty = self.sim.token(app="fb", kind="system_user", lifetime=25)
        self.assertEqual(self.env.import_token(sixty, "sixty")[0], 0)
        b = self.env.account("sixty")
        wait_for(lambda: self.env.account("sixty")["expires_at"] > b["expires_at"] + 60, 20, what="renewal")
        ex = self.sim.log("/v21.0/oauth/access_token")
        self.assertEqual(len(ex), 1)
        self.assertEqual(ex[0]["query"]["set_token_expires_in_60_days"], "true")
        self.assertEqual(ex[0]["query"]["fb_exchange_token"], sixty)
        self.assertEqual(self.env.account("sixty")["state"], "fresh")
        self.assertEqual(self.env.account("never")["expires_at"], 0)

    # ---- 12.7 Facebook Login for Business ----

    def test_config_id_replaces_scopes_in_the_enrolment_url(self):
        self.start(accounts={"brand": {"app": "pages", "scopes": ["pages_show_list"]}, "shop-main": {"app": "shop"}},
                   apps=self.apps(fb_extra={"config_id": "1234567890123"}))
        ans = self.env.request({"cmd": "enroll", "account": "brand"})
        self.assertTrue(ans["ok"], ans)
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(ans["url"]).query))
        self.assertEqual(q["config_id"], "1234567890123")
        self.assertEqual((q["response_type"], q["override_default_response_type"]), ("code", "true"))
        self.assertNotIn("scope", q)
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(
            self.env.request({"cmd": "enroll", "account": "shop-main"})["url"]).query))
        self.assertIn("scope", q)
        self.assertNotIn("config_id", q)

    # ---- 12.8 per-account Instagram limits ----

    def test_an_accounts_own_buc_entry_pauses_that_account_only(self):
        self.start(accounts={"busy": {"app": "shop"}, "quiet": {"app": "shop"}}, refresh={"validate_every": "1h"})
        busy = self.sim.token(lifetime=3600, age=5, user_id="17841400000000001")
        quiet = self.sim.token(lifetime=3600, age=5, user_id="17841400000000002")
        self.assertEqual(self.env.import_token(busy, "busy")[0], 0)
        self.assertEqual(self.env.import_token(quiet, "quiet")[0], 0)
        time.sleep(1.1)
        self.sim.config(buc_users={"17841400000000001": {"call_count": 100, "total_time": 20, "total_cputime": 5,
                                                         "estimated_time_to_regain_access": 3}})
        t0 = time.time()
        rc, out, err = self.env.ctl("refresh", "busy")
        self.assertEqual(rc, 0, err)  # the answer was good; its figures pause the account
        a = self.env.account("busy")
        self.assertEqual(a["state"], "throttled")
        self.assertGreaterEqual(a["paused_until"], int(t0) + 180)
        b = a["usage"]["buc"][0]
        self.assertEqual((b["id"], b["type"], b["call_count"]), ("17841400000000001", "instagram", 100))
        self.assertEqual(self.env.ctl("token", "busy")[0], 0)  # still served
        rc, out, err = self.env.ctl("refresh", "busy")
        self.assertEqual(rc, 1)
        self.assertIn("throttled", err)
        # the app and its other accounts go on
        app = self.app("shop")
        self.assertIsNone(app["paused_until"])
        self.assertEqual(app["usage"]["buc"], [])
        rc, out, err = self.env.ctl("refresh", "quiet")
        self.assertEqual(rc, 0, err)
        q = self.env.account("quiet")
        self.assertEqual((q["state"], q["paused_until"]), ("fresh", None))
        # the account's pause survives a restart
        self.env.stop()
        self.env.start()
        self.assertEqual(self.env.account("busy")["paused_until"], a["paused_until"])
        self.assertEqual(self.env.account("busy")["state"], "throttled")

    # ---- 12.9 timing guards ----

    def test_admin_refresh_of_a_young_token_is_too_early_without_asking_meta(self):
        self.start(accounts={"shop-main": {"app": "shop"}}, refresh={"min_age": "1h"})
        self.fresh_account()
        n = len(self.sim.log())
        ans = self.env.request({"cmd": "refresh", "account": "shop-main"})
        self.assertEqual((ans["ok"], ans["error"]), (False, "too_early"))
        self.assertIn("refresh after", ans["message"])
        self.assertEqual(len(self.sim.log()), n)
        rc, out, err = self.env.ctl("refresh", "shop-main")
        self.assertEqual(rc, 1)
        self.assertIn("too_early", err)

    def test_check_config_warns_about_min_age_under_a_day_for_instagram(self):
        self.env.write_config(apps=self.apps(), accounts={"shop-main": {"app": "shop"}},
                              refresh={"min_age": "1h"})
        p = subprocess.run([IGTOKEND, "--check-config", "-c", self.env.config_path], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("warning: 'min_age' is under 24h", p.stderr)

    # ---- 12.10 Graph API versions ----

    def test_status_apps_carry_the_api_versions_end(self):
        self.start(apps=self.apps(fb_extra={"api_version": "v21.0"}))
        self.assertEqual(self.app("pages")["api_version_expires_at"], 1800489600)  # 2027-01-21
        self.assertIsNone(self.app("shop")["api_version_expires_at"])

    # ---- 12.11 warnings ----

    def test_warnings_data_access_and_scopes_not_granted(self):
        self.start(accounts={"brand": {"app": "pages", "scopes": ["instagram_basic", "pages_show_list",
                                                                    "instagram_content_publish"]}},
                   refresh={"validate_every": "1h"})
        # issued 80 days ago: data access (90 days) ends in 10
        tok = self.sim.token(app="fb", kind="long", lifetime=80 * 86400 + 3600, age=80 * 86400,
                             scopes=["instagram_basic", "pages_show_list"])
        self.assertEqual(self.env.import_token(tok, "brand")[0], 0)
        a = self.env.account("brand")
        self.assertEqual(len(a["warnings"]), 2, a["warnings"])
        self.assertRegex(a["warnings"][0], r"^data access ends in (9d 23h|10d)")
        self.assertIn("instagram_content_publish", a["warnings"][1])
        self.assertNotIn("pages_show_list", a["warnings"][1])
        text = self.env.ctl("metrics")[1]
        self.assertIn('igtokend_data_access_expiry_timestamp_seconds{account="brand",app="pages"} %d'
                      % a["data_access_expires_at"], text)
        # the configuration asks for less: the warning goes at the reload
        self.env.write_config(apps=self.apps(), accounts={"brand": {"app": "pages", "scopes": ["instagram_basic"]}},
                              refresh={"validate_every": "1h"})
        self.assertEqual(self.env.ctl("reload")[0], 0)
        self.assertEqual(len(self.env.account("brand")["warnings"]), 1)

    # ---- 12.12 Meta's trace id ----

    def test_last_error_ends_with_metas_trace_id(self):
        self.start(accounts={"shop-main": {"app": "shop"}})
        self.fresh_account()
        time.sleep(1.1)
        self.sim.script(path="/refresh_access_token", times=1, status=500,
                        json={"error": {"message": "An unexpected error has occurred.", "type": "OAuthException",
                                        "code": 2, "is_transient": True, "fbtrace_id": "A1b2C3d4E5f"}})
        self.assertEqual(self.env.ctl("refresh", "shop-main")[0], 1)
        a = self.env.account()
        self.assertEqual(a["state"], "retrying")
        self.assertTrue(a["last_error"].endswith(" (fbtrace_id A1b2C3d4E5f)"), a["last_error"])

    # ---- 12.13 revocation and deauthorization ----

    def test_revoke_wipes_memory_vault_and_sink(self):
        sink = os.path.join(self.dir, "sink", "shop-main")
        self.start(accounts={"shop-main": {"app": "shop", "sink": {"path": sink}}})
        tok = self.fresh_account()
        wait_for(lambda: os.path.exists(sink), 5, what="sink")
        rc, out, err = self.env.ctl("revoke", "shop-main")
        self.assertEqual(rc, 0, err)
        self.assertIn("no_token", out)
        self.assertEqual(self.env.account()["state"], "no_token")
        self.assertEqual(self.env.ctl("token", "shop-main")[0], 4)
        self.assertFalse(os.path.exists(sink))
        # nothing of it is left in the vault: a restart has no token either
        self.env.stop()
        self.env.start()
        self.assertEqual(self.env.account()["state"], "no_token")
        self.assertEqual(self.env.ctl("token", "shop-main")[0], 4)
        # not for readers; an admin's revoke of nothing is fine
        self.assertEqual(self.env.ctl("revoke", "shop-main", user=65534)[0], 3)
        self.assertEqual(self.env.ctl("revoke", "shop-main")[0], 0)

    def test_deauthorize_wipes_exactly_the_users_accounts_and_a_forgery_nothing(self):
        rec = os.path.join(self.dir, "rec.sh")
        with open(rec, "w") as f:
            f.write('#!/bin/sh\necho "$IGTOKEN_ACCOUNT $IGTOKEN_STATE" >> "%s/hooks.txt"\n' % self.dir)
        os.chmod(rec, 0o755)
        hook = {"on_state_change": [rec]}
        self.start(accounts={"a1": {"app": "pages", **hook}, "a2": {"app": "pages", **hook},
                             "other": {"app": "pages", **hook}, "ig": {"app": "shop", **hook}},
                   refresh={"validate_every": "1h"})
        for name, uid in (("a1", "777"), ("a2", "777"), ("other", "888")):
            tok = self.sim.token(app="fb", kind="long", lifetime=3600, user_id=uid)
            self.assertEqual(self.env.import_token(tok, name)[0], 0)
        self.assertEqual(self.env.import_token(self.sim.token(lifetime=3600, age=5, user_id="777"), "ig")[0], 0)
        payload = {"algorithm": "HMAC-SHA256", "issued_at": int(time.time()), "user_id": "777"}
        # forged: signed with another secret
        forged = signed_request(payload, "not-the-secret")
        ans = self.env.request({"cmd": "deauthorize", "app": "pages", "signed_request": forged})
        self.assertEqual((ans["ok"], ans["error"]), (False, "bad_request"))
        self.assertIn("signature", ans["message"])
        for n in ("a1", "a2", "other", "ig"):
            self.assertEqual(self.env.account(n)["state"], "fresh")
        # Meta's, through igtokenctl: a1 and a2 of app pages, not `other`, not the ig app's
        p = subprocess.run([IGTOKENCTL, "-s", self.env.socket, "deauthorize", "pages"],
                           input=signed_request(payload, "fb-app-secret") + "\n", capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("2 account(s)", p.stdout)
        ans = self.env.request({"cmd": "deauthorize", "app": "pages",
                                "signed_request": signed_request(payload, "fb-app-secret")})
        self.assertEqual(sorted(ans["accounts"]), ["a1", "a2"])
        for n, state in (("a1", "reauth_required"), ("a2", "reauth_required"), ("other", "fresh"), ("ig", "fresh")):
            self.assertEqual(self.env.account(n)["state"], state, n)
        self.assertIn("removed the app", self.env.account("a1")["last_error"])
        self.assertEqual(self.env.ctl("token", "a1")[0], 4)
        hooks = os.path.join(self.dir, "hooks.txt")
        wait_for(lambda: sorted(l for l in open(hooks).read().splitlines() if "reauth" in l) ==
                 ["a1 reauth_required", "a2 reauth_required"], 10, what="on_state_change for a1 and a2")
        self.env.stop()
        self.env.start()
        self.assertEqual(self.env.account("a1")["state"], "reauth_required")
        # a new login brings it back
        self.assertEqual(self.env.import_token(self.sim.token(app="fb", kind="long", lifetime=3600), "a1")[0], 0)
        self.assertEqual(self.env.account("a1")["state"], "fresh")
        # not for a non-admin, whatever it sends
        rc, out, err = self.env.ctl("deauthorize", "pages", stdin="x.y\n", user=65534)
        self.assertEqual(rc, 3)


if __name__ == "__main__":
    unittest.main()

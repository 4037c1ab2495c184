"""Facebook Login accounts and first-time enrolment (both platforms)."""
import json
import re
import subprocess
import time
import urllib.parse
import unittest

from harness import IGTOKENCTL, IntegrationTest, wait_for


class FacebookTest(IntegrationTest):
    def config(self, **kw):
        fb = {"platform": "facebook", "app_id": "99887766", "app_secret_file": "fb.secret",
              "api_url": self.sim.url, "api_version": "v21.0", "ca_file": self.sim.ca,
              "redirect_uri": "https://example.com/fb/callback"}
        ig = {"app_id": "1234567890", "app_secret_file": "app.secret", "api_url": self.sim.url,
              "oauth_url": self.sim.url, "ca_file": self.sim.ca, "redirect_uri": "https://example.com/ig/callback"}
        self.env.write_config(apps={"pages": fb, "shop": ig},
                              accounts=kw.pop("accounts", {"brand": {"app": "pages", "scopes": ["instagram_basic", "pages_show_list"]},
                                                           "shop-main": {"app": "shop", "scopes": ["instagram_business_basic", "instagram_business_content_publish"]}}),
                              **kw)

    def test_long_lived_user_token_proof_and_data_access(self):
        self.config()
        self.env.start()
        tok = self.sim.token(app="fb", kind="long", lifetime=3600, scopes=["instagram_basic", "pages_show_list"])
        rc, out, err = self.env.import_token(tok, "brand")
        self.assertEqual(rc, 0, err)
        a = self.env.account("brand")
        self.assertEqual(a["state"], "fresh")
        self.assertLessEqual(abs(a["expires_at"] - (time.time() + 3600)), 5)
        self.assertGreater(a["data_access_expires_at"], time.time() + 80 * 86400)
        # debug_token with the app token and without appsecret_proof; nothing else was called
        dbg = self.sim.log("/v21.0/debug_token")
        self.assertEqual(len(dbg), 1)
        self.assertEqual(dbg[0]["query"]["access_token"], "99887766|fb-app-secret")
        self.assertNotIn("appsecret_proof", dbg[0]["query"])
        # the token answer carries appsecret_proof, which Meta (the simulator) accepts
        ans = self.env.request({"cmd": "token", "account": "brand"})
        self.assertRegex(ans["appsecret_proof"], r"^[0-9a-f]{64}$")
        ok = urllib.parse.urlencode({"access_token": ans["token"], "appsecret_proof": ans["appsecret_proof"]})
        self.assertEqual(self.sim_get("/v21.0/me?" + ok)[0], 200)
        bad = urllib.parse.urlencode({"access_token": ans["token"], "appsecret_proof": "0" * 64})
        self.assertIn("Invalid appsecret_proof", self.sim_get("/v21.0/me?" + bad)[1])
        missing = urllib.parse.urlencode({"access_token": ans["token"]})
        self.assertIn("require an appsecret_proof", self.sim_get("/v21.0/me?" + missing)[1])
        rc, text, _ = self.env.ctl("metrics")
        self.assertIn('igtokend_data_access_expiry_timestamp_seconds{account="brand",app="pages"}', text)

    def sim_get(self, path):
        import ssl
        import urllib.request
        ctx = ssl.create_default_context(cafile=self.sim.ca)
        try:
            with urllib.request.urlopen(self.sim.url + path, context=ctx, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def test_short_lived_exchanged_then_not_extended(self):
        self.config(refresh={"before_expiry": "20s", "min_age": "1s"})
        self.sim.config(lifetime=25)
        self.env.start()
        short = self.sim.token(app="fb", kind="short", lifetime=3600)
        rc, out, err = self.env.import_token(short, "brand", short=True)
        self.assertEqual(rc, 0, err)
        a = self.env.account("brand")
        self.assertLessEqual(abs(a["expires_at"] - (time.time() + 25)), 3)
        ex = self.sim.log("/v21.0/oauth/access_token")
        self.assertEqual(ex[0]["query"]["grant_type"], "fb_exchange_token")
        self.assertNotIn("appsecret_proof", ex[0]["query"])
        # when due, the long-lived user token is re-exchanged: Meta does not extend it
        # (META-API 8), and the account says so and when to log in again
        b = self.env.wait_state("expiring", "brand", timeout=20)
        self.assertEqual(b["expires_at"], a["expires_at"])
        self.assertIn("log in again before", b["last_error"])
        ex = self.sim.log("/v21.0/oauth/access_token")
        self.assertEqual(len(ex), 2)
        self.assertNotIn("set_token_expires_in_60_days", ex[1]["query"])  # a user's token

    def test_no_extension_means_expiring_then_expired(self):
        self.config(refresh={"before_expiry": "8s", "min_age": "1s"})
        self.env.start()
        tok = self.sim.token(app="fb", kind="long", lifetime=12)
        self.assertEqual(self.env.import_token(tok, "brand")[0], 0)
        a = self.env.wait_state("expiring", "brand", timeout=15)
        self.assertIn("log in again", a["last_error"])
        self.assertEqual(self.env.ctl("token", "brand")[0], 0)  # still served until it expires
        n = len(self.sim.log("/v21.0/oauth/access_token"))
        self.env.wait_state("expired", "brand", timeout=15)
        self.assertEqual(len(self.sim.log("/v21.0/oauth/access_token")), n)  # no hammering
        self.assertEqual(self.env.ctl("token", "brand")[0], 4)

    def test_page_token_never_expires_and_is_validated_not_refreshed(self):
        self.config()
        self.env.start()
        page = self.sim.token(app="fb", kind="page")
        self.assertEqual(self.env.import_token(page, "brand")[0], 0)
        a = self.env.account("brand")
        self.assertEqual((a["state"], a["expires_at"], a["next_refresh"]), ("fresh", 0, None))
        rc, out, _ = self.env.ctl("status")
        self.assertRegex(out, r"brand\s+pages\s+fresh\s+never")
        self.assertIn('igtokend_token_expiry_timestamp_seconds{account="brand",app="pages"} 0', self.env.ctl("metrics")[1])
        # an admin refresh of a page token only inspects it; when Meta says it is gone, it is gone
        rc, out, err = self.env.ctl("refresh", "brand")
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(self.sim.log("/v21.0/oauth/access_token")), 0)
        self.sim.call("/revoke", {"token": page})
        rc, out, err = self.env.ctl("refresh", "brand")
        self.assertEqual(rc, 4)
        self.env.wait_state("reauth_required", "brand")

    def enroll(self, account, redirect_base, code, flat=True, suffix="#_"):
        rc, out, err = self.env.ctl("status")  # the daemon is up
        ans = self.env.request({"cmd": "enroll", "account": account})
        self.assertTrue(ans["ok"], ans)
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(ans["url"]).query))
        self.sim.call("/code", {"code": code, "user_id": "27640875392278831",
                                "scopes": ["instagram_business_basic", "instagram_business_content_publish"]})
        self.sim.config(flat=flat)
        return ans["url"], q, "%s?code=%s&state=%s%s" % (redirect_base, code, q["state"], suffix)

    def test_instagram_enrolment_end_to_end_with_igtokenctl(self):
        self.config()
        self.sim.config(redirect_uri="https://example.com/ig/callback")
        self.env.start()
        p = subprocess.Popen([IGTOKENCTL, "-s", self.env.socket, "enroll", "shop-main"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        url = p.stdout.readline().strip()
        u = urllib.parse.urlsplit(url)
        q = dict(urllib.parse.parse_qsl(u.query))
        self.assertEqual(u.netloc + u.path, "www.instagram.com/oauth/authorize")
        self.assertEqual((q["client_id"], q["redirect_uri"], q["response_type"]),
                         ("1234567890", "https://example.com/ig/callback", "code"))
        self.assertEqual(q["scope"], "instagram_business_basic,instagram_business_content_publish")
        self.assertRegex(q["state"], r"^[0-9a-f]{64}$")
        self.sim.call("/code", {"code": "AQDcode1", "user_id": "27640875392278831",
                                "scopes": ["instagram_business_basic", "instagram_business_content_publish"]})
        out, err = p.communicate("https://example.com/ig/callback?code=AQDcode1&state=%s#_\n" % q["state"], timeout=30)
        self.assertEqual(p.returncode, 0, err)
        a = self.env.account("shop-main")
        self.assertEqual((a["state"], a["user_id"]), ("fresh", "27640875392278831"))
        self.assertGreater(a["next_refresh"], time.time())
        form = self.sim.log("/oauth/access_token")[0]["form"]
        self.assertEqual((form["code"], form["grant_type"], form["redirect_uri"]),
                         ("AQDcode1", "authorization_code", "https://example.com/ig/callback"))
        self.assertEqual(len(self.sim.log("/access_token")), 1)  # then exchanged for a long-lived one
        self.assertNotIn("AQDcode1", self.env.logs())

    def test_enrolment_data_wrapper_and_state_rules(self):
        self.config()
        self.env.start()
        url, q, redirect = self.enroll("shop-main", "https://example.com/ig/callback", "AQDwrapped", flat=False)
        # a wrong state is refused and the right one stays usable
        wrong = redirect.replace(q["state"], "f" * 64)
        a = self.env.request({"cmd": "enroll_finish", "account": "shop-main", "redirect": wrong})
        self.assertEqual(a["error"], "bad_request")
        self.assertIn("state", a["message"])
        a = self.env.request({"cmd": "enroll_finish", "account": "shop-main", "redirect": redirect})
        self.assertTrue(a["ok"], a)
        self.assertEqual(self.env.account("shop-main")["user_id"], "27640875392278831")
        # used once: a replay is refused
        a = self.env.request({"cmd": "enroll_finish", "account": "shop-main", "redirect": redirect})
        self.assertEqual(a["error"], "bad_request")
        # a denial on Meta's page, in plain words
        url, q, redirect = self.enroll("shop-main", "https://example.com/ig/callback", "AQDx")
        denied = ("https://example.com/ig/callback?error=access_denied&error_reason=user_denied"
                  "&error_description=Permissions+error&state=" + q["state"])
        a = self.env.request({"cmd": "enroll_finish", "account": "shop-main", "redirect": denied})
        self.assertEqual(a["ok"], False)
        self.assertIn("access was not granted", a["message"])
        # a URL that is not the app's redirect_uri
        a = self.env.request({"cmd": "enroll_finish", "account": "shop-main",
                              "redirect": redirect.replace("example.com", "evil.example")})
        self.assertIn("redirect_uri", a["message"])

    def test_facebook_enrolment(self):
        self.config()
        self.env.start()
        url, q, redirect = self.enroll("brand", "https://example.com/fb/callback", "AQDfb")
        u = urllib.parse.urlsplit(url)
        self.assertEqual(u.netloc + u.path, "www.facebook.com/v21.0/dialog/oauth")
        self.assertEqual(q["scope"], "instagram_basic,pages_show_list")
        a = self.env.request({"cmd": "enroll_finish", "account": "brand", "redirect": redirect})
        self.assertTrue(a["ok"], a)
        code_call = [e for e in self.sim.log("/v21.0/oauth/access_token") if "code" in e["query"]][0]["query"]
        self.assertEqual((code_call["code"], code_call["redirect_uri"], code_call["client_id"]),
                         ("AQDfb", "https://example.com/fb/callback", "99887766"))
        # the short-lived token was exchanged, then inspected with debug_token
        wait_for(lambda: self.sim.log("/v21.0/debug_token"), 10, what="debug_token after enrolment")
        self.env.wait_state("fresh", "brand")


if __name__ == "__main__":
    unittest.main()

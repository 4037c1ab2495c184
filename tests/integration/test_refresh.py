"""The refresh engine against the simulator (issue: refresh engine)."""
import os
import signal
import subprocess
import time
import unittest

from harness import IGTOKEND, IntegrationTest, wait_for


def refresh_calls(sim):
    return sim.log("/refresh_access_token")


class RefreshTest(IntegrationTest):
    def test_refresh_on_schedule_and_serve_new_token(self):
        self.env.write_config(refresh={"before_expiry": "20s"})
        self.env.start()
        old = self.fresh_account(lifetime=3600)  # imported: refreshed at once, real expiry learned
        a = self.env.wait_state("fresh")
        self.assertEqual(len(refresh_calls(self.sim)), 1)
        # the import refresh handed out a new token: that is what is served now
        rc, tok, _ = self.env.ctl("token", "shop-main")
        self.assertEqual(rc, 0)
        self.assertNotEqual(tok.strip(), old)
        # short lifetime: due when 20 s are left
        self.sim.config(lifetime=25)
        time.sleep(1.1)  # the simulator refuses tokens under min_age (1 s) old
        rc, out, err = self.env.ctl("refresh", "shop-main")
        self.assertEqual(rc, 0, err)
        a = self.env.account()
        self.assertLessEqual(abs(a["expires_at"] - (time.time() + 25)), 3)
        self.assertLessEqual(abs(a["next_refresh"] - (a["expires_at"] - 20)), 1)
        n = len(refresh_calls(self.sim))
        wait_for(lambda: len(refresh_calls(self.sim)) > n, 15, what="scheduled refresh")
        t = refresh_calls(self.sim)[n]["t"]
        self.assertGreaterEqual(t, a["expires_at"] - 20 - 0.5)  # not early
        self.assertLessEqual(t, a["expires_at"] - 20 + 3)  # and on time
        self.env.wait_state("fresh")
        self.assertGreater(self.env.account()["expires_at"], a["expires_at"])

    def test_a_new_token_is_durable_before_anything_serves_it(self):
        """The vault's writer thread (basic/durable.h) writes a new token's
        record, exchanges it into place and syncs its directory; only then is
        the token served. Traced with strace: the directory's fsync has returned
        before the refresh's answer leaves; the write is not made on the event
        loop's thread; no inode is created per write (the spare is reused); and
        the old file, now the spare, is emptied only after the directory's fsync
        (before, NAME on disk may still be that file: a crash would find it empty)."""
        self.env.write_config()
        self.sim.config(min_age=0)
        self.env.start()
        self.fresh_account()
        pid = self.env.daemon.proc.pid
        trace = os.path.join(self.env.dir, "strace.out")
        st = subprocess.Popen(["strace", "-f", "-qq", "-o", trace, "-e", "trace=openat,renameat2,renameat,fsync,sendto,write",
                               "-p", str(pid)])
        time.sleep(0.5)  # attached
        for _ in range(3):
            rc, out, err = self.env.ctl("refresh", "shop-main")
            self.assertEqual(rc, 0, err)
        st.terminate()
        st.wait()
        lines = open(trace).read().splitlines()
        exchanges = [i for i, l in enumerate(lines) if "renameat2(" in l and '"shop-main.token"' in l and "RENAME_EXCHANGE" in l]
        self.assertEqual(len(exchanges), 3, "\n".join(lines))

        def returned(k):
            """Where the call starting at line k returned (strace -f splits a call another thread interrupts)."""
            if "<unfinished ...>" not in lines[k]:
                return k
            who = lines[k].split()[0]
            return next(j for j in range(k + 1, len(lines)) if lines[j].split()[0] == who and "resumed>" in lines[j])

        for i in exchanges:
            writer = lines[i].split()[0]
            self.assertNotEqual(writer, str(pid), "the event loop's thread wrote the vault")
            dirfd = lines[i].split("renameat2(", 1)[1].split(",", 1)[0]
            synced = next(returned(k) for k in range(i, len(lines))
                          if lines[k].split()[0] == writer and ("fsync(%s)" % dirfd in lines[k] or "fsync(%s " % dirfd in lines[k]))
            answer = next(k for k in range(i, len(lines)) if "sendto(" in lines[k] and '"ok\\":true' in lines[k])
            emptied = next(k for k in range(i, len(lines)) if lines[k].split()[0] == writer and "openat(" in lines[k]
                           and '".shop-main.token.tmp"' in lines[k] and "O_TRUNC" in lines[k] and "O_CREAT" not in lines[k])
            self.assertGreater(emptied, synced, "the old file was emptied before the directory's fsync returned:\n"
                               + "\n".join(lines[i:emptied + 1]))
            self.assertLess(synced, answer, "the answer left before the directory fsync returned:\n" + "\n".join(lines[i:answer + 1]))
        self.assertFalse([l for l in lines if "O_CREAT" in l and ".shop-main.token.tmp" in l and "O_TRUNC" not in l],
                         "a new temporary file per write")

    def test_restarts_do_not_move_the_schedule(self):
        self.env.write_config(refresh={"before_expiry": "20s"})
        self.sim.config(lifetime=30)
        self.env.start()
        self.fresh_account()
        a = self.env.account()
        due = a["next_refresh"]
        n = len(refresh_calls(self.sim))
        # a daemon restarted every couple of seconds still refreshes on time
        while time.time() < due - 1:
            self.env.stop()
            self.env.start()
            self.assertEqual(self.env.account()["next_refresh"], due)
            self.assertEqual(self.env.account()["expires_at"], a["expires_at"])
            time.sleep(1.5)
        wait_for(lambda: len(refresh_calls(self.sim)) > n, 10, what="refresh after restarts")
        self.assertLessEqual(refresh_calls(self.sim)[n]["t"], due + 3)
        self.assertEqual(len(refresh_calls(self.sim)), n + 1)  # exactly one, no storm

    def test_expired_verdict(self):
        self.env.write_config()
        self.env.start()
        tok = self.fresh_account()
        self.sim.script(path="/refresh_access_token", times=1, status=400,
                        json={"error": {"message": "Error validating access token: Session has expired on Monday",
                                        "type": "OAuthException", "code": 190, "error_subcode": 463}})
        rc, out, err = self.env.ctl("refresh", "shop-main")
        self.assertEqual(rc, 4, err)
        a = self.env.wait_state("expired")
        self.assertIn("190", a["last_error"])
        rc, out, err = self.env.ctl("token", "shop-main")
        self.assertEqual((rc, out), (4, ""))
        # no further calls, and a refresh request answers without calling Meta
        n = len(refresh_calls(self.sim))
        rc, out, err = self.env.ctl("refresh", "shop-main")
        self.assertEqual(rc, 4)
        time.sleep(3)
        self.assertEqual(len(refresh_calls(self.sim)), n)

    def test_reauth_verdict_stops_calls_and_survives_restart(self):
        self.env.write_config(refresh={"before_expiry": "3590s"})  # due at once
        self.env.start()
        self.fresh_account()
        self.sim.script(path="/refresh_access_token", times=100, status=400,
                        json={"error": {"message": "The session has been invalidated because the user changed their password",
                                        "type": "OAuthException", "code": 190, "error_subcode": 460}})
        rc, out, err = self.env.ctl("refresh", "shop-main")
        self.assertEqual(rc, 4)
        self.env.wait_state("reauth_required")
        n = len(refresh_calls(self.sim))
        time.sleep(4)  # several retry_initial periods
        self.assertEqual(len(refresh_calls(self.sim)), n, "a reauth_required account was retried")
        self.env.stop()
        self.env.start()
        self.assertEqual(self.env.account()["state"], "reauth_required")
        time.sleep(2)
        self.assertEqual(len(refresh_calls(self.sim)), n)
        self.assertEqual(self.env.ctl("token", "shop-main")[0], 4)
        # a new token brings it back
        self.sim.call("/script/clear", {})
        self.fresh_account()
        self.env.wait_state("fresh")

    def test_transient_failures_back_off_then_recover(self):
        self.env.write_config(refresh={"before_expiry": "3590s", "retry_initial": "1s", "retry_max": "8s"})
        self.env.start()
        old = self.fresh_account()
        rc, served, _ = self.env.ctl("token", "shop-main")
        n = len(refresh_calls(self.sim))
        self.sim.script(path="/refresh_access_token", times=2, status=503, raw="<html>Service Unavailable</html>")
        self.sim.script(path="/refresh_access_token", times=2, status=500,
                        json={"error": {"message": "(#2) Service temporarily unavailable", "type": "OAuthException",
                                        "code": 2, "is_transient": True}})
        self.env.ctl("refresh", "shop-main")
        self.env.wait_state("retrying")
        # while retrying the token in hand is still served
        rc, tok, _ = self.env.ctl("token", "shop-main")
        self.assertEqual((rc, tok), (0, served))
        self.env.wait_state("fresh", timeout=40)
        calls = [c["t"] for c in refresh_calls(self.sim)[n:]]
        self.assertEqual(len(calls), 5)
        gaps = [b - a for a, b in zip(calls, calls[1:])]
        # 1 s, 2 s, 4 s, 8 s, each lengthened by up to 25 %
        for gap, base in zip(gaps, [1, 2, 4, 8]):
            self.assertGreaterEqual(gap, base - 0.2)
            self.assertLessEqual(gap, base * 1.25 + 1.5)
        self.assertEqual(self.env.account()["failures"], 0)
        self.assertIsNone(self.env.account()["last_error"])

    def test_hung_upstream_times_out_and_status_stays_responsive(self):
        self.env.write_config(refresh={"timeout": "2s", "before_expiry": "3590s", "retry_initial": "30s",
                                       "retry_max": "60s"})
        self.env.start()
        self.fresh_account()
        self.sim.script(path="/refresh_access_token", times=1, action="hang", hang=30)
        p = subprocess.Popen([*self.ctl_cmd(), "refresh", "shop-main"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        wait_for(lambda: self.env.account()["state"] == "refreshing", 5, what="refreshing")
        t0 = time.time()
        for _ in range(10):
            self.assertEqual(self.env.ctl("token", "shop-main")[0], 0)
        self.assertLess(time.time() - t0, 2.0, "the control socket stalled behind a hung request")
        out, err = p.communicate(timeout=10)
        self.assertEqual(p.returncode, 1)
        self.assertIn("upstream", err)
        a = self.env.wait_state("retrying")
        self.assertIn("timeout", a["last_error"])

    def ctl_cmd(self):
        from harness import IGTOKENCTL
        return [IGTOKENCTL, "-s", self.env.socket]

    def test_huge_and_malformed_answers(self):
        self.env.write_config(refresh={"before_expiry": "3590s", "retry_initial": "30s", "retry_max": "60s"})
        self.env.start()
        self.fresh_account()
        rc, served, _ = self.env.ctl("token", "shop-main")
        for action, words in (("huge", "larger than"), ("garbage", "not a JSON"), ("reset", "connection")):
            self.sim.script(path="/refresh_access_token", times=1, action=action)
            rc, out, err = self.env.ctl("refresh", "shop-main")
            self.assertEqual(rc, 1, action)
            a = self.env.account()
            self.assertEqual(a["state"], "retrying")
            self.assertIn(words, a["last_error"], action)
            self.assertEqual(self.env.ctl("token", "shop-main")[1], served)
        # non-JSON 200 with a token-like body, and a JSON answer without a token
        self.sim.script(path="/refresh_access_token", times=1, json={"token_type": "bearer"})
        self.assertEqual(self.env.ctl("refresh", "shop-main")[0], 1)
        self.assertIn("access_token", self.env.account()["last_error"])
        time.sleep(1.1)  # older than the simulator's min_age
        rc, out, err = self.env.ctl("refresh", "shop-main")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.env.account()["state"], "fresh")

    def test_one_broken_account_next_to_a_healthy_one(self):
        self.env.write_config(accounts={"good": {"app": "shop"}, "bad": {"app": "shop"}},
                              refresh={"before_expiry": "20s"})
        self.sim.config(lifetime=25)
        self.env.start()
        self.fresh_account("good")
        bad = self.fresh_account("bad")
        rc, bad_now, _ = self.env.ctl("token", "bad")
        self.sim.call("/revoke", {"token": bad_now.strip()})
        wait_for(lambda: self.env.account("bad")["state"] == "reauth_required", 15, what="bad account verdict")
        good = self.env.account("good")
        wait_for(lambda: self.env.account("good")["expires_at"] > good["expires_at"], 15, what="good refresh")
        self.assertEqual(self.env.account("good")["state"], "fresh")

    def test_import_short_lived_and_invalid(self):
        self.env.write_config()
        self.sim.config(lifetime=5184000)
        self.env.start()
        short = self.sim.token(kind="short", lifetime=3600)
        rc, out, err = self.env.import_token(short, short=True)
        self.assertEqual(rc, 0, err)
        a = self.env.account()
        self.assertEqual(a["state"], "fresh")
        self.assertLessEqual(abs(a["expires_at"] - (time.time() + 5184000)), 5)
        self.assertEqual(a["user_id"], "17841405793187218")  # above 2^53, exact
        self.assertEqual(len(self.sim.log("/access_token")), 1)
        # a token Meta does not know
        rc, out, err = self.env.import_token("IGAAnot-a-real-token")
        self.assertEqual(rc, 4, err)
        self.assertIn("reauth_required", err)
        self.assertEqual(self.env.account()["state"], "fresh")  # the good one is kept

    def test_young_import_assumes_sixty_days_then_refreshes_at_min_age(self):
        self.env.write_config(refresh={"min_age": "4s", "before_expiry": "1d"})
        self.sim.config(min_age=3, lifetime=5184000)
        self.env.start()
        tok = self.sim.token(age=0)
        t0 = time.time()
        rc, out, err = self.env.import_token(tok)
        self.assertEqual(rc, 0, err)
        a = self.env.account()
        self.assertEqual(a["state"], "fresh")
        self.assertLessEqual(abs(a["expires_at"] - (t0 + 60 * 86400)), 3)
        self.assertLessEqual(abs(a["next_refresh"] - (a["issued_at"] + 4)), 1)
        wait_for(lambda: len(refresh_calls(self.sim)) >= 2, 10, what="refresh at min_age")
        self.env.wait_state("fresh")
        self.assertLessEqual(abs(self.env.account()["expires_at"] - (time.time() + 5184000)), 5)

    def test_wrong_key_refuses_to_start_and_touches_nothing(self):
        self.env.write_config()
        self.env.start()
        self.fresh_account()
        self.env.stop()
        before = {f: open(os.path.join(self.env.vault, f), "rb").read() for f in os.listdir(self.env.vault)}
        os.unlink(self.env.key)
        subprocess.run([IGTOKEND, "--keygen", self.env.key], check=True, capture_output=True)
        p = subprocess.run([IGTOKEND, "-c", self.env.config_path], capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 1)
        lines = [l for l in p.stderr.splitlines() if "error" in l]
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertIn("key", lines[0])
        after = {f: open(os.path.join(self.env.vault, f), "rb").read() for f in os.listdir(self.env.vault)}
        self.assertEqual(before, after)

    def test_corrupt_record_is_quarantined_others_carry_on(self):
        self.env.write_config(accounts={"one": {"app": "shop"}, "two": {"app": "shop"}})
        self.env.start()
        self.fresh_account("one")
        self.fresh_account("two")
        self.env.stop()
        path = os.path.join(self.env.vault, "one.token")
        data = bytearray(open(path, "rb").read())
        data[40] ^= 0xFF
        open(path, "wb").write(bytes(data))
        self.env.start()
        a = self.env.account("one")
        self.assertEqual(a["state"], "no_token")
        self.assertIn("corrupt", a["last_error"])
        self.assertTrue(any(f.startswith("one.token.corrupt-") for f in os.listdir(self.env.vault)))
        self.assertEqual(self.env.account("two")["state"], "fresh")
        self.assertEqual(self.env.ctl("token", "two")[0], 0)
        self.assertEqual(self.env.ctl("token", "one")[0], 4)

    def test_sighup_reload_whole_or_nothing(self):
        self.env.write_config()
        d = self.env.start()
        self.fresh_account()
        self.env.write_config(accounts={"shop-main": {"app": "shop"}, "second": {"app": "shop"}})
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: len(self.env.status()["accounts"]) == 2, 10, what="reloaded config")
        self.assertTrue(any("RELOADING=1" in m for m in d.read_notify()))
        # a broken config is refused whole: the daemon keeps running on the old one
        with open(self.env.config_path, "a") as f:
            f.write("colour: blue\n")
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload refused" in self.env.logs(), 10, what="refused reload")
        self.assertIn("unknown key 'colour'", self.env.logs())
        self.assertEqual(len(self.env.status()["accounts"]), 2)
        # removing an account stops its refreshes; its vault file stays
        self.env.write_config(accounts={"second": {"app": "shop"}})
        rc, out, err = self.env.ctl("reload")
        self.assertEqual(rc, 0, err)
        self.assertEqual([a["name"] for a in self.env.status()["accounts"]], ["second"])
        self.assertTrue(os.path.exists(os.path.join(self.env.vault, "shop-main.token")))


if __name__ == "__main__":
    unittest.main()

"""Faults: a full or read-only vault filesystem, and SIGKILL at random moments
during refreshes and persistence. The token in hand is never lost."""
import os
import random
import signal
import subprocess
import threading
import time
import unittest

from harness import IntegrationTest, wait_for


def mount(*args):
    subprocess.run(["mount", *args], check=True, capture_output=True)


@unittest.skipUnless(os.geteuid() == 0, "needs root to mount a small tmpfs")
class VaultFilesystemTest(IntegrationTest):
    def setUp(self):
        super().setUp()
        self.mnt = os.path.join(self.dir, "mnt")
        os.mkdir(self.mnt)
        mount("-t", "tmpfs", "-o", "size=256k,mode=700", "tmpfs", self.mnt)
        self.env.write_config(extra="")
        with open(self.env.config_path) as f:
            text = f.read().replace("vault: vault", "vault: " + os.path.join(self.mnt, "vault"))
        with open(self.env.config_path, "w") as f:
            f.write(text)
        self.sim.config(min_age=0)
        self.env.start()
        self.fresh_account()

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            subprocess.run(["umount", "-l", self.mnt], capture_output=True)

    def test_full_filesystem_keeps_and_serves_the_old_token(self):
        served = self.env.ctl("token", "shop-main")[1]
        filler = os.path.join(self.mnt, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"x" * 4096)
        except OSError:
            pass  # full
        os.close(fd)
        rc, out, err = self.env.ctl("refresh", "shop-main")
        self.assertEqual(rc, 1)
        a = self.env.account()
        self.assertEqual(a["state"], "retrying")
        self.assertIn("No space left on device", a["last_error"])
        self.assertEqual(self.env.ctl("token", "shop-main")[1], served)
        self.assertFalse([f for f in os.listdir(os.path.join(self.mnt, "vault")) if ".tmp" in f])
        # space again: the next attempt goes through
        os.unlink(filler)
        rc, out, err = self.env.ctl("refresh", "shop-main")
        self.assertEqual(rc, 0, err)
        self.assertNotEqual(self.env.ctl("token", "shop-main")[1], served)
        self.assertEqual(self.env.account()["failures"], 0)

    def test_read_only_vault_keeps_and_serves_the_old_token(self):
        served = self.env.ctl("token", "shop-main")[1]
        mount("-o", "remount,ro", self.mnt)
        rc, out, err = self.env.ctl("refresh", "shop-main")
        self.assertEqual(rc, 1)
        self.assertIn("Read-only file system", self.env.account()["last_error"])
        self.assertEqual(self.env.ctl("token", "shop-main")[1], served)
        mount("-o", "remount,rw", self.mnt)
        self.assertEqual(self.env.ctl("refresh", "shop-main")[0], 0)


class KillTest(IntegrationTest):
    TRIALS = int(os.environ.get("IGTOKEND_KILL_TRIALS", "100"))

    def test_sigkill_at_random_moments_never_loses_a_valid_token(self):
        names = ["a", "b", "c"]
        self.env.write_config(accounts={n: {"app": "shop"} for n in names},
                              refresh={"before_expiry": "3599s", "min_age": "0"})
        self.sim.config(min_age=0)
        self.env.start()
        for n in names:
            self.fresh_account(n)
        lost = []
        for trial in range(self.TRIALS):
            if not self.env.daemon:
                self.env.start()
            stop = threading.Event()

            def hammer(name):  # admin refreshes on top of the scheduled ones
                while not stop.is_set():
                    self.env.ctl("refresh", name, timeout=10)
            threads = [threading.Thread(target=hammer, args=(n,)) for n in names]
            for t in threads:
                t.start()
            time.sleep(random.uniform(0.0, 0.25))
            self.env.stop(sig=signal.SIGKILL)
            stop.set()
            for t in threads:
                t.join()
            self.env.start()
            for n in names:
                rc, tok, err = self.env.ctl("token", n)
                a = self.env.account(n)
                valid = rc == 0 and self.sim.call("/tokens").get(tok.strip(), {}).get("valid")
                if not valid or a["state"] not in ("fresh", "refreshing", "retrying"):
                    lost.append((trial, n, rc, a["state"], a["last_error"]))
            self.env.stop()
        self.assertEqual(lost, [])
        # no quarantined record and no leftover write; an empty spare (".NAME.token.tmp",
        # basic/durable.h) stays for the next write of its record
        left = [f for f in os.listdir(self.env.vault) if "corrupt" in f or ".tmp" in f]
        self.assertFalse([f for f in left if not (f.endswith(".token.tmp") and
                                                  os.path.getsize(os.path.join(self.env.vault, f)) == 0)], left)
        print("%d SIGKILL trials, tokens lost: %d" % (self.TRIALS, len(lost)))


if __name__ == "__main__":
    unittest.main()

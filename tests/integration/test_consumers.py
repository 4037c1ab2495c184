"""Hooks (on_refresh, on_state_change) and token file sinks."""
import grp
import os
import stat
import threading
import time
import unittest

from harness import IntegrationTest, wait_for


def read_kv(path):
    out = {}
    for line in open(path):
        if "=" in line:
            k, v = line.rstrip("\n").split("=", 1)
            out[k] = v
    return out


class ConsumersTest(IntegrationTest):
    def hook(self, name, body):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body + "\n")
        os.chmod(path, 0o755)
        return path

    def test_hooks_see_facts_never_the_token(self):
        # each call leaves NAME.argv, then NAME.env (renamed into place: complete when seen)
        rec = self.hook("record.sh", 'd=%s/calls; mkdir -p "$d"; n=$(date +%%s%%N); echo "$@" > "$d/$1-$n.argv";'
                        ' env > "$d/.$n"; mv "$d/.$n" "$d/$1-$n.env"; echo "hook says hello"' % self.dir)
        self.env.write_config(accounts={"shop-main": {"app": "shop", "on_refresh": [rec, "refresh", "x"],
                                                      "on_state_change": [rec, "state"]}},
                              refresh={"retry_initial": "1s"})
        self.env.start()
        tok = self.fresh_account()
        time.sleep(1.1)
        self.sim.script(path="/refresh_access_token", times=1, status=503, raw="down")
        self.env.ctl("refresh", "shop-main")
        self.assertEqual(self.env.ctl("refresh", "shop-main")[0], 0)
        calls = os.path.join(self.dir, "calls")
        wait_for(lambda: len([f for f in os.listdir(calls) if f.endswith(".env")]) >= 5, 10, what="hooks")
        envs = sorted((f for f in os.listdir(calls) if f.endswith(".env")), key=lambda f: int(f.split("-")[1][:-4]))
        states = [read_kv(os.path.join(calls, f)) for f in envs if f.startswith("state")]
        transitions = [(e["IGTOKEN_PREVIOUS_STATE"], e["IGTOKEN_STATE"]) for e in states]
        # the alert and its recovery both arrive; a pass through refreshing is no change
        self.assertEqual(transitions, [("no_token", "fresh"), ("fresh", "retrying"), ("retrying", "fresh")])
        self.assertEqual(states[1]["IGTOKEN_ERROR"], "HTTP 503 from Meta")
        self.assertEqual(states[2]["IGTOKEN_ERROR"], "")
        refreshes = [read_kv(os.path.join(calls, f)) for f in envs if f.startswith("refresh")]
        self.assertEqual(len(refreshes), 2)  # the import and the refresh
        self.assertEqual(refreshes[-1]["IGTOKEN_ACCOUNT"], "shop-main")
        self.assertEqual(int(refreshes[-1]["IGTOKEN_EXPIRES_AT"]), self.env.account()["expires_at"])
        # the environment holds the facts and PATH, nothing of the daemon's
        self.assertNotIn("NOTIFY_SOCKET", refreshes[-1])
        served = self.env.ctl("token", "shop-main")[1].strip()
        for f in os.listdir(calls):
            with open(os.path.join(calls, f)) as fh:
                text = fh.read()
            for t in list(self.sim.call("/tokens")) + [served, tok]:
                self.assertNotIn(t, text)
        self.assertIn("refresh x", open(os.path.join(calls, sorted(f for f in os.listdir(calls) if f.startswith("refresh") and f.endswith(".argv"))[0])).read())
        # their output reaches the log, with the account
        wait_for(lambda: "on_refresh hook: hook says hello" in self.env.logs(), 5, what="hook output")

    def test_hanging_crashing_and_missing_hooks_change_nothing_else(self):
        hang = self.hook("hang.sh", "sleep 600")
        crash = self.hook("crash.sh", "kill -SEGV $$")
        self.env.write_config(accounts={
            "a": {"app": "shop", "on_refresh": [hang]},
            "b": {"app": "shop", "on_refresh": [crash], "on_state_change": ["/nonexistent/alert"]},
        }, refresh={"timeout": "2s"})
        self.env.start()
        self.fresh_account("a")
        self.fresh_account("b")
        wait_for(lambda: "ran longer than 2s: killing it" in self.env.logs(), 10, what="hung hook killed")
        wait_for(lambda: "killed by signal" in self.env.logs(), 10, what="crashed hook reported")
        wait_for(lambda: "could not start" in self.env.logs(), 10, what="missing hook reported")
        time.sleep(1.1)
        for n in ("a", "b"):
            rc, out, err = self.env.ctl("refresh", n)
            self.assertEqual(rc, 0, err)
            self.assertEqual(self.env.account(n)["state"], "fresh")
        out = subprocess_out(["pgrep", "-f", hang])
        wait_for(lambda: not subprocess_out(["pgrep", "-f", hang]), 10, what="no hung hook left")

    def test_sink_atomic_mode_group_and_removed_on_reauth(self):
        sink = os.path.join(self.dir, "run", "tokens", "shop-main")
        self.env.write_config(accounts={"shop-main": {"app": "shop", "sink": {"path": sink, "mode": "0440",
                                                                              "group": "nogroup"}}})
        self.env.start()
        self.fresh_account()
        wait_for(lambda: os.path.exists(sink), 5, what="sink")
        st = os.stat(sink)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o440)
        # the directories it made can be passed by the app that reads the sink
        for d in (os.path.dirname(sink), os.path.dirname(os.path.dirname(sink))):
            self.assertEqual(stat.S_IMODE(os.stat(d).st_mode), 0o755)
        self.assertEqual(st.st_gid, grp.getgrnam("nogroup").gr_gid)
        self.assertEqual(open(sink).read(), self.env.ctl("token", "shop-main")[1])
        # a reader looping on it never sees a partial file across many refreshes
        seen, stop = set(), threading.Event()
        bad = []

        def reader():
            while not stop.is_set():
                try:
                    t = open(sink).read()
                except FileNotFoundError:
                    bad.append("missing")
                    continue
                if not (t.endswith("\n") and len(t) > 20 and t.count("\n") == 1):
                    bad.append(t)
                seen.add(t)
        th = threading.Thread(target=reader)
        th.start()
        self.sim.config(min_age=0)
        for _ in range(20):
            self.assertEqual(self.env.ctl("refresh", "shop-main")[0], 0)
        stop.set()
        th.join()
        self.assertEqual(bad, [])
        self.assertGreater(len(seen), 5)
        self.assertEqual(open(sink).read(), self.env.ctl("token", "shop-main")[1])
        # re-written at start (after a reboot /run is empty)
        self.env.stop()
        os.unlink(sink)
        self.env.start()
        wait_for(lambda: os.path.exists(sink), 5, what="sink after restart")
        # gone once Meta withdraws the grant: an app never reads a dead token
        self.sim.call("/revoke", {"token": open(sink).read().strip()})
        self.env.ctl("refresh", "shop-main")
        self.env.wait_state("reauth_required")
        self.assertFalse(os.path.exists(sink))

    def test_sink_removed_when_account_leaves_and_symlinks_refused(self):
        sink = os.path.join(self.dir, "tokens", "x")
        self.env.write_config(accounts={"shop-main": {"app": "shop", "sink": {"path": sink}}})
        self.env.start()
        self.fresh_account()
        wait_for(lambda: os.path.exists(sink), 5, what="sink")
        self.assertEqual(stat.S_IMODE(os.stat(sink).st_mode), 0o400)
        self.env.write_config(accounts={"other": {"app": "shop"}})
        self.assertEqual(self.env.ctl("reload")[0], 0)
        self.assertFalse(os.path.exists(sink))
        # a path through a symlink is refused, and nothing is written where it points
        target = os.path.join(self.dir, "elsewhere")
        os.mkdir(target)
        os.symlink(target, os.path.join(self.dir, "link"))
        self.env.write_config(accounts={"other": {"app": "shop", "sink": {"path": os.path.join(self.dir, "link", "x")}}})
        self.assertEqual(self.env.ctl("reload")[0], 0)
        self.fresh_account("other")
        wait_for(lambda: "passes through a symlink" in self.env.logs(), 5, what="symlink refusal")
        self.assertEqual(os.listdir(target), [])


def subprocess_out(cmd):
    import subprocess
    return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    unittest.main()

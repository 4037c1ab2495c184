"""Hardening (CONTRACT section 14): what a hostile local user, a stalled client
and a second process can do, each a regression test of an audit finding."""
import hashlib
import json
import os
import select
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import IGTOKENCTL, IGTOKEND, IntegrationTest, cpu_seconds, rss_kib, wait_for

NOBODY = 65534
STRANGER = 4242


def connect(path, timeout=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def read_lines(s, n):
    buf, out = b"", []
    while len(out) < n:
        c = s.recv(65536)
        if not c:
            break
        buf += c
        while b"\n" in buf and len(out) < n:
            line, buf = buf.split(b"\n", 1)
            out.append(json.loads(line))
    return out


def snapshot(d):
    """Names, sizes, mtimes and contents of a directory: to prove nothing changed."""
    out = {}
    for n in sorted(os.listdir(d)):
        p = os.path.join(d, n)
        st = os.lstat(p)
        out[n] = (st.st_size, st.st_mtime_ns, hashlib.sha256(open(p, "rb").read()).hexdigest())
    return out


class HardeningTest(IntegrationTest):
    def start(self, accounts=None, extra_env=None, **kw):
        self.env.write_config(accounts=accounts or {
            "shop-main": {"app": "shop", "readers": [str(NOBODY)]},
            "private": {"app": "shop"},
        }, **kw)
        self.env.start(extra_env=extra_env)
        return self.env.daemon.proc.pid

    # ---- memory and fairness ----

    def test_an_unread_pipelining_client_costs_bounded_memory(self):
        # under ASan freed memory stays in its quarantine (256 MiB by default) and
        # counts as RSS: keep it small so that RSS still says what is held
        sanitized = os.environ.get("IGTOKEND_SANITIZED", "").upper() in ("ON", "1", "TRUE")
        pid = self.start(extra_env={"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") +
                                    ":quarantine_size_mb=1:thread_local_quarantine_size_kb=64"} if sanitized else None)
        self.fresh_account("shop-main")
        self.fresh_account("private")
        before = rss_kib(pid)
        req = b'{"cmd":"metrics"}\n' * 20000  # ~2 KB answers each: 40 MB if nothing held it back
        socks = []
        for _ in range(6):
            s = connect(self.env.socket)
            s.setblocking(False)
            try:
                s.send(req)
            except BlockingIOError:
                pass
            socks.append(s)
        time.sleep(2)
        t0 = time.time()
        rc, out, err = self.env.ctl("token", "shop-main", user=NOBODY)
        self.assertEqual(rc, 0, err)
        self.assertLess(time.time() - t0, 2.0, "others are answered promptly")
        grown = rss_kib(pid) - before
        print("RSS growth with 6 unread pipelining clients: %d KiB" % grown)
        self.assertLess(grown, 32 * 1024, "memory held for clients that do not read")
        for s in socks:
            s.close()
        self.assertEqual(self.env.ctl("status")[0], 0)

    def test_a_busy_client_does_not_starve_the_others(self):
        # 2000 accounts: each status answer is ~400 KB of work
        accounts = {"a%04d" % i: {"app": "shop"} for i in range(2000)}
        accounts["shop-main"] = {"app": "shop"}
        self.start(accounts=accounts)
        self.fresh_account("shop-main")
        busy = connect(self.env.socket, timeout=60)
        stop = threading.Event()

        def drain():
            while not stop.is_set():
                try:
                    if not busy.recv(1 << 16):
                        return
                except OSError:
                    return
                time.sleep(0.01)  # a slow reader
        t = threading.Thread(target=drain, daemon=True)
        t.start()
        busy.sendall(b'{"cmd":"status"}\n' * 2000)
        worst = 0.0
        for _ in range(20):
            t0 = time.time()
            s = connect(self.env.socket)
            s.sendall(b'{"cmd":"token","account":"shop-main"}\n')
            self.assertTrue(read_lines(s, 1)[0]["ok"])
            s.close()
            worst = max(worst, time.time() - t0)
        stop.set()
        busy.close()
        print("slowest token read while another client pipelines 2000 status requests: %.3f s" % worst)
        self.assertLess(worst, 0.5)

    def test_a_long_junk_line_then_a_valid_request_are_both_answered(self):
        self.start(refresh={"min_age": "0"})
        self.sim.config(min_age=0)
        self.fresh_account("shop-main")
        # while a refresh waits for Meta, a 64 KiB junk line and a valid request pile
        # up; when the answer comes, one read fills the whole input buffer
        self.sim.script(path="/refresh_access_token", times=1, action="passthrough", delay=1.5)
        s = connect(self.env.socket, timeout=15)
        s.sendall(b'{"cmd":"refresh","account":"shop-main"}\n')
        time.sleep(0.5)
        s.sendall(b"x" * 65536 + b"\n" + b'{"cmd":"token","account":"shop-main"}\n')
        # all three answers come without the client reading first (reading would
        # wake a daemon that missed the rest of its input)
        wait_for(lambda: s.recv(1 << 20, socket.MSG_PEEK | socket.MSG_DONTWAIT).count(b"\n") >= 3
                 if select.select([s], [], [], 0)[0] else False, 5, what="three answers")
        refresh, junk, token = read_lines(s, 3)
        self.assertTrue(refresh["ok"], refresh)
        self.assertEqual((junk["ok"], junk["error"]), (False, "bad_request"))
        self.assertTrue(token["ok"], token)
        s.close()

    def test_blank_lines_and_unread_answers_do_not_keep_a_connection(self):
        self.start()
        self.fresh_account("shop-main")
        blank = connect(self.env.socket)
        stuck = connect(self.env.socket)
        stuck.setblocking(False)
        try:
            stuck.send(b'{"cmd":"metrics"}\n' * 20000)  # its answers are never read
        except BlockingIOError:
            pass

        def hung_up(sock):
            # the daemon closed it: seen without reading what it sent
            p = select.poll()
            p.register(sock, select.POLLRDHUP)
            return any(ev & (select.POLLRDHUP | select.POLLHUP) for _, ev in p.poll(0))
        t0 = time.time()
        closed = {}
        while time.time() - t0 < 85 and len(closed) < 2:
            if "blank" not in closed:
                try:
                    blank.sendall(b"\n")  # a keep-alive that is no request
                except OSError:
                    pass
            for name, sock in (("blank", blank), ("stuck", stuck)):
                if name not in closed and hung_up(sock):
                    closed[name] = round(time.time() - t0)
            time.sleep(2)
        print("closed after (s): %s" % closed)
        self.assertIn("blank", closed, "blank lines kept the connection past the idle timeout")
        self.assertGreaterEqual(closed["blank"], 55)
        self.assertIn("stuck", closed, "a connection over its output bound stayed past the idle timeout")
        self.assertEqual(self.env.ctl("token", "shop-main")[0], 0)

    # ---- re-entrancy ----

    def test_pipelined_refreshes_and_a_reload_that_removes_the_account(self):
        self.start(refresh={"min_age": "0"})
        self.sim.config(min_age=0)
        self.fresh_account("shop-main")
        s = connect(self.env.socket, timeout=30)
        s.sendall(b'{"cmd":"refresh","account":"shop-main"}\n' * 2)
        a, b = read_lines(s, 2)
        self.assertTrue(a["ok"], a)
        self.assertTrue(b["ok"], b)
        # a refresh waiting for Meta, then a reload that removes its account
        self.sim.script(path="/refresh_access_token", times=1, action="passthrough", delay=2.0)
        waiting = connect(self.env.socket, timeout=30)
        waiting.sendall(b'{"cmd":"refresh","account":"shop-main"}\n{"cmd":"status"}\n')
        time.sleep(0.5)
        self.env.write_config(accounts={"private": {"app": "shop"}})
        self.assertEqual(self.env.ctl("reload")[0], 0)
        answer, status = read_lines(waiting, 2)
        self.assertEqual((answer["ok"], answer["error"]), (False, "unknown_account"), answer)
        self.assertEqual([x["name"] for x in status["accounts"]], ["private"])  # answered in order
        self.assertEqual(self.env.ctl("status")[0], 0)

    # ---- lock-out and disclosure ----

    def test_a_flood_of_watchers_does_not_lock_root_or_a_reader_out(self):
        self.start()
        self.fresh_account("shop-main")
        ready_r, ready_w = os.pipe()
        children = []
        for i in range(32):
            pid = os.fork()
            if pid == 0:
                try:
                    os.close(ready_r)
                    os.setgid(20000 + i)
                    os.setgroups([])
                    os.setuid(20000 + i)
                    socks = []
                    for _ in range(128):
                        s = connect(self.env.socket)
                        s.sendall(b'{"cmd":"watch"}\n')
                        s.recv(100)
                        socks.append(s)
                    os.write(ready_w, b"x")
                    time.sleep(600)
                finally:
                    os._exit(0)
            children.append(pid)
        os.close(ready_w)
        got = b""
        while len(got) < 32:
            c = os.read(ready_r, 64)
            if not c:
                break
            got += c
        os.close(ready_r)
        try:
            self.assertEqual(len(got), 32, "every flooding uid holds its 128 watchers")
            rc, out, err = self.env.ctl("token", "shop-main")
            self.assertEqual(rc, 0, err)
            rc, out, err = self.env.ctl("token", "shop-main", user=NOBODY)
            self.assertEqual(rc, 0, err)
        finally:
            for pid in children:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)

    def test_metrics_show_only_what_the_caller_may_read(self):
        self.start()
        self.fresh_account("shop-main")
        self.fresh_account("private")
        rc, text, err = self.env.ctl("metrics")
        self.assertIn('account="private"', text)
        rc, text, err = self.env.ctl("metrics", user=NOBODY)
        self.assertEqual(rc, 0, err)
        self.assertIn('account="shop-main"', text)
        self.assertNotIn("private", text)
        self.assertIn('igtokend_app_throttled_total{app="shop"}', text)  # the app of what it reads
        rc, text, err = self.env.ctl("metrics", user=STRANGER)
        self.assertEqual(rc, 0, err)
        self.assertNotIn("account=", text)
        self.assertNotIn('app="shop"', text)

    # ---- what Meta and clients say ----

    def test_a_meta_error_quoting_the_token_leaves_no_trace_of_it(self):
        rec = os.path.join(self.dir, "record.sh")
        with open(rec, "w") as f:
            f.write('#!/bin/sh\nenv > "%s/hook-$(date +%%s%%N).env"\n' % self.dir)
        os.chmod(rec, 0o755)
        self.start(accounts={"shop-main": {"app": "shop", "on_state_change": [rec]}},
                   refresh={"retry_initial": "30s", "retry_max": "60s"})
        self.fresh_account("shop-main")
        served = self.env.ctl("token", "shop-main")[1].strip()
        self.sim.script(path="/refresh_access_token", times=1, status=400,
                        json={"error": {"message": "Token {TOKEN} is odd \u001b[31mRED\u001b]0;title\u0007",
                                        "type": "OAuthException", "code": 100, "fbtrace_id": "AbC"}})
        rc, out, err = self.env.ctl("refresh", "shop-main")
        self.assertEqual(rc, 1)
        a = self.env.account()
        wait_for(lambda: [f for f in os.listdir(self.dir) if f.startswith("hook-")], 10, what="hook")
        time.sleep(0.5)
        texts = [err, a["last_error"], self.env.logs(), self.env.ctl("status")[1],
                 json.dumps(self.env.request({"cmd": "status"}))]
        texts += [open(os.path.join(self.dir, f)).read() for f in os.listdir(self.dir) if f.startswith("hook-")]
        for t in texts:
            self.assertNotIn(served, t)
            self.assertNotIn("\x1b", t)
            self.assertNotIn("\x07", t)
        self.assertIn("Token *** is odd", a["last_error"])

    def test_escapes_from_meta_never_reach_a_terminal_or_the_exposition(self):
        self.start(refresh={"retry_initial": "30s", "retry_max": "60s"})
        self.fresh_account("shop-main")
        buc = {'1"}\n# EVIL': [{"type": "insta\"gram\u001b[2J", "call_count": 10, "total_cputime": 1,
                                "total_time": 1, "estimated_time_to_regain_access": 0}]}
        self.sim.script(path="/refresh_access_token", times=1, action="passthrough",
                        headers={"X-Business-Use-Case-Usage": json.dumps(buc)})
        time.sleep(1.1)
        self.assertEqual(self.env.ctl("refresh", "shop-main")[0], 0)
        rc, text, err = self.env.ctl("metrics")
        self.assertNotIn("\x1b", text)
        path = os.path.join(self.dir, "metrics.txt")
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run(["promtool", "check", "metrics"], stdin=open(path), capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn('business="1\\"}?# EVIL",type="insta\\"gram?[2J"', text)

    # ---- a second process ----

    def test_rotation_and_a_second_daemon_are_refused_while_one_runs(self):
        self.start(accounts={"shop-main": {"app": "shop"}}, refresh={"before_expiry": "1s"})
        self.fresh_account("shop-main")
        time.sleep(0.5)
        before = snapshot(self.env.vault)
        newkey = os.path.join(self.dir, "new.key")
        subprocess.run([IGTOKEND, "--keygen", newkey], check=True, capture_output=True)
        p = subprocess.run([IGTOKEND, "--rotate-key", newkey, "-c", self.env.config_path],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("in use by igtokend (pid %d)" % self.env.daemon.proc.pid, p.stderr)
        other = os.path.join(self.dir, "second.yaml")
        with open(self.env.config_path) as f:
            text = f.read().replace(self.env.socket, os.path.join(self.dir, "second.sock"))
        with open(other, "w") as f:
            f.write(text)
        p = subprocess.run([IGTOKEND, "-c", other], capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("locked by another igtokend", p.stderr)
        self.assertEqual(snapshot(self.env.vault), before, "the vault's listing or mtimes changed")
        self.assertEqual(self.env.ctl("token", "shop-main")[0], 0)

    def test_a_regular_file_at_the_socket_path_is_an_error_and_stays(self):
        path = os.path.join(self.dir, "not-a-socket")
        with open(path, "w") as f:
            f.write("precious\n")
        self.env.write_config()
        with open(self.env.config_path) as f:
            text = f.read().replace(self.env.socket, path)
        with open(self.env.config_path, "w") as f:
            f.write(text)
        p = subprocess.run([IGTOKEND, "-c", self.env.config_path], capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not a socket", p.stderr)
        self.assertEqual(open(path).read(), "precious\n")

    def test_config_secret_and_key_files_are_checked_on_what_is_opened(self):
        self.env.write_config()
        run = lambda *args: subprocess.run([IGTOKEND, *args], capture_output=True, text=True, timeout=20)
        # a config file names hook programs: others may not write it, nor own it
        os.chmod(self.env.config_path, 0o664)
        p = run("-c", self.env.config_path)
        self.assertEqual(p.returncode, 78, p.stderr)
        self.assertIn("is writable by group or others (mode 0664)", p.stderr)
        os.chmod(self.env.config_path, 0o644)
        os.chown(self.env.config_path, NOBODY, NOBODY)
        p = run("-c", self.env.config_path)
        self.assertEqual(p.returncode, 78, p.stderr)
        self.assertIn("is owned by uid 65534", p.stderr)
        os.chown(self.env.config_path, 0, 0)
        link = os.path.join(self.dir, "link.yaml")
        os.symlink(self.env.config_path, link)
        p = run("-c", link)
        self.assertEqual(p.returncode, 78, p.stderr)
        self.assertIn("symbolic link", p.stderr)
        # the app secret and the key are opened once, without following a symlink
        for path in (os.path.join(self.dir, "app.secret"), self.env.key):
            os.rename(path, path + ".real")
            os.symlink(path + ".real", path)
            p = run("--check-config", "-c", self.env.config_path)
            self.assertEqual(p.returncode, 78, p.stderr)
            self.assertIn("'%s' is a symbolic link" % path, p.stderr)
            os.unlink(path)
            os.rename(path + ".real", path)
        self.assertEqual(run("--check-config", "-c", self.env.config_path).returncode, 0)

    # ---- file descriptors, hooks ----

    def test_running_out_of_file_descriptors_costs_little(self):
        self.env.write_config()
        # the daemon with 48 descriptors at most: 80 clients exhaust them
        log = open(self.env.log_path, "a")
        proc = subprocess.Popen(["prlimit", "--nofile=48:48", IGTOKEND, "-c", self.env.config_path],
                                stdout=log, stderr=log)
        try:
            wait_for(lambda: os.path.exists(self.env.socket), 10, what="socket")
            time.sleep(0.5)
            socks = [connect(self.env.socket) for _ in range(80)]
            lines_before = self.env.logs().count("cannot accept")
            cpu0 = cpu_seconds(proc.pid)
            time.sleep(3)
            cpu = cpu_seconds(proc.pid) - cpu0
            lines = self.env.logs().count("cannot accept") - lines_before
            print("out of descriptors for 3 s: %.2f s CPU, %d log lines" % (cpu, lines))
            self.assertGreater(lines, 0, "the descriptors did not run out")
            self.assertLess(cpu, 0.5)
            self.assertLess(lines, 60)
            for s in socks:
                s.close()
            time.sleep(0.5)
            rc, out, err = self.env.ctl("status")
            self.assertEqual(rc, 0, err)  # it accepts again
        finally:
            proc.terminate()
            proc.wait(10)
            log.close()

    def test_a_hook_is_killed_with_everything_it_started(self):
        hung = os.path.join(self.dir, "hung.sh")
        left = os.path.join(self.dir, "left.sh")
        with open(hung, "w") as f:
            f.write('#!/bin/sh\nsleep 600 &\necho $! > "%s/hung.child"\nsleep 600\n' % self.dir)
        with open(left, "w") as f:
            f.write('#!/bin/sh\nsleep 600 &\necho $! > "%s/left.child"\nexit 0\n' % self.dir)
        os.chmod(hung, 0o755)
        os.chmod(left, 0o755)
        self.start(accounts={"a": {"app": "shop", "on_refresh": [hung]}, "b": {"app": "shop", "on_refresh": [left]}},
                   refresh={"timeout": "2s"})
        self.fresh_account("a")
        self.fresh_account("b")
        for name in ("hung.child", "left.child"):
            path = os.path.join(self.dir, name)
            wait_for(lambda: os.path.exists(path) and open(path).read().strip(), 10, what=name)
            child = int(open(path).read())

            def gone():
                try:
                    os.kill(child, 0)
                except ProcessLookupError:
                    return True
                # reaped by init, or a zombie of ours: gone either way
                return open("/proc/%d/stat" % child).read().split()[2] == "Z"
            wait_for(gone, 10, what="%s killed with its hook's group" % name)
        self.assertIn("left processes running beyond 2s", self.env.logs())

    # ---- the edges ----

    def test_more_than_256_groups_are_all_seen(self):
        self.start(accounts={"shop-main": {"app": "shop", "readers": ["@30299"]}})
        self.fresh_account("shop-main")
        groups = ",".join(str(30000 + i) for i in range(300))
        p = subprocess.run(["setpriv", "--reuid", str(STRANGER), "--regid", str(STRANGER), "--groups", groups,
                            IGTOKENCTL, "-s", self.env.socket, "token", "shop-main"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_an_8192_byte_token_goes_in_and_comes_out(self):
        self.sim.config(min_age=86400)  # the import's immediate refresh is refused: the token stays
        self.start(accounts={"shop-main": {"app": "shop"}})
        tok = "IGAA" + "x" * 8188
        self.sim.token(token=tok, age=0)
        rc, out, err = self.env.import_token(tok)
        self.assertEqual(rc, 0, err)
        rc, out, err = self.env.ctl("token", "shop-main")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, tok + "\n")


if __name__ == "__main__":
    unittest.main()

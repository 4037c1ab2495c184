"""The control socket, igtokenctl and libigtoken (CONTRACT sections 5, 6, 7)."""
import json
import os
import pty
import select
import socket
import stat
import subprocess
import threading
import time
import unittest

from harness import IGTOKEND, IGTOKENCTL, IntegrationTest, wait_for

NOBODY = 65534
OTHER = 4242  # a uid with no name, in no group


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    return s


def ask(s, line):
    s.sendall(line if isinstance(line, bytes) else (json.dumps(line) + "\n").encode())
    return read_line(s)


def read_line(s):
    buf = b""
    while not buf.endswith(b"\n"):
        c = s.recv(1)
        if not c:
            return None
        buf += c
    return json.loads(buf)


class ControlTest(IntegrationTest):
    def setUp(self):
        super().setUp()
        self.env.write_config(accounts={
            "shop-main": {"app": "shop", "readers": [str(NOBODY)]},
            "analytics": {"app": "shop", "readers": ["@%d" % 5555]},
            "private": {"app": "shop"},
        })
        self.sim.config(min_age=0)
        self.env.start()
        for n in ("shop-main", "analytics", "private"):
            self.fresh_account(n)

    def test_every_command_and_error_code(self):
        s = connect(self.env.socket)
        # many requests on one connection, one answer each
        a = ask(s, {"cmd": "token", "account": "shop-main"})
        self.assertTrue(a["ok"])
        self.assertEqual(set(a), {"ok", "account", "token", "expires_at"})
        st = ask(s, {"cmd": "status"})
        self.assertEqual(st["version"], subprocess.run([IGTOKEND, "--version"], capture_output=True, text=True).stdout.split()[1])
        acc = st["accounts"][0]
        for k in ("name", "app", "state", "issued_at", "expires_at", "next_refresh", "last_refresh", "failures", "last_error"):
            self.assertIn(k, acc)
        self.assertEqual(set(st["apps"][0]) >= {"name", "usage", "paused_until"}, True)
        self.assertIn("text", ask(s, {"cmd": "metrics"}))
        self.assertEqual(ask(s, {"cmd": "reload"}), {"ok": True})
        r = ask(s, {"cmd": "refresh", "account": "private"})
        self.assertEqual((r["ok"], r["account"], r["state"]), (True, "private", "fresh"))
        self.assertIsInstance(r["expires_at"], int)
        for req, code in (
            (b"this is not json\n", "bad_request"),
            (b"[1,2,3]\n", "bad_request"),
            ({"account": "x"}, "bad_request"),
            ({"cmd": 5}, "bad_request"),
            ({"cmd": "token"}, "bad_request"),
            ({"cmd": "token", "account": "../../etc/passwd"}, "bad_request"),
            ({"cmd": "import", "account": "private", "token": "with space"}, "bad_request"),
            ({"cmd": "import", "account": "private", "token": "x", "short_lived": "yes"}, "bad_request"),
            ({"cmd": "enroll_finish", "account": "private"}, "bad_request"),
            ({"cmd": "fly"}, "unknown_command"),
            ({"cmd": "token", "account": "nope"}, "unknown_account"),
            ({"cmd": "refresh", "account": "nope"}, "unknown_account"),
        ):
            a = ask(s, req)
            self.assertEqual((a["ok"], a["error"]), (False, code), req)
            self.assertTrue(a["message"])
        # still usable after every error
        self.assertTrue(ask(s, {"cmd": "token", "account": "private"})["ok"])
        s.close()

    def test_readers_admins_and_strangers(self):
        # a reader gets its token (through igtokenctl and libigtoken), and nothing else
        rc, out, err = self.env.ctl("token", "shop-main", user=NOBODY)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, self.env.ctl("token", "shop-main")[1])
        for name in ("private", "analytics", "no-such-account"):
            rc, out, err = self.env.ctl("token", name, user=NOBODY)
            self.assertEqual((rc, out), (3, ""), name)  # unknown looks like forbidden
            self.assertIn("forbidden", err)
        for args in (("refresh", "shop-main"), ("reload",), ("import", "shop-main")):
            rc, out, err = self.env.ctl(*args, user=NOBODY, stdin="IGAAx\n")
            self.assertEqual(rc, 3, args)
        st = json.loads(self.env.ctl("status", "--json", user=NOBODY)[1])
        self.assertEqual([a["name"] for a in st["accounts"]], ["shop-main"])
        # a stranger sees nothing
        st = json.loads(self.env.ctl("status", "--json", user=OTHER)[1])
        self.assertEqual(st["accounts"], [])
        self.assertEqual(self.env.ctl("token", "shop-main", user=OTHER)[0], 3)
        # @group readers: primary or supplementary group
        cmd = ["setpriv", "--reuid", str(OTHER), "--regid", str(OTHER), "--groups", "5555", IGTOKENCTL,
               "-s", self.env.socket, "token", "analytics"]
        p = subprocess.run(cmd, capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        cmd = ["setpriv", "--reuid", str(OTHER), "--regid", "5555", "--clear-groups", IGTOKENCTL,
               "-s", self.env.socket, "token", "analytics"]
        self.assertEqual(subprocess.run(cmd, capture_output=True).returncode, 0)
        # metrics are for anyone
        self.assertEqual(self.env.ctl("metrics", user=OTHER)[0], 0)

    def test_hostile_clients_cost_only_themselves(self):
        # 500 idle connections, a stalled half line, a 1 MB line, garbage: others are served at once
        idle = [connect(self.env.socket) for _ in range(500)]
        half = connect(self.env.socket)
        half.sendall(b'{"cmd":"tok')
        big = connect(self.env.socket)
        def send_big():
            try:
                big.sendall(b"A" * (1 << 20) + b"\n")
            except OSError:
                pass  # the daemon hung up on it: as it should
        t = threading.Thread(target=send_big, daemon=True)
        t.start()
        junk = connect(self.env.socket)
        junk.sendall(os.urandom(4096) + b"\n")
        t0 = time.time()
        for _ in range(20):
            rc, out, err = self.env.ctl("token", "shop-main", user=NOBODY)
            self.assertEqual(rc, 0, err)
        self.assertLess(time.time() - t0, 5.0)
        # the oversized line got an error, then the connection was closed
        a = read_line(big)
        self.assertEqual((a["ok"], a["error"]), (False, "bad_request"))
        self.assertIn("64 KiB", a["message"])
        big.settimeout(5)
        rest = b""
        try:
            while True:
                c = big.recv(65536)
                if not c:
                    break
                rest += c
        except (ConnectionResetError, socket.timeout):
            pass
        self.assertEqual(rest, b"")
        self.assertEqual(read_line(junk)["error"], "bad_request")
        # a flood from one uid evicts that uid's oldest idle connections, not other users
        more = [connect(self.env.socket) for _ in range(50)]
        self.assertEqual(self.env.ctl("token", "private")[0], 0)
        for c in idle + more + [half, junk, big]:
            c.close()
        # the daemon is alive and well
        self.assertEqual(self.env.ctl("status")[0], 0)

    def test_requests_in_pieces_together_and_in_other_spellings_are_answered(self):
        """The read path takes a short read as "all there was" and reads token
        requests without cJSON when they are spelled as libigtoken spells them:
        requests cut anywhere, several in one write, other spellings and a
        hang-up right after the request still get their answers, each once."""
        want = {"ok": True, "account": "shop-main"}
        s = connect(self.env.socket)
        line = b'{"cmd":"token","account":"shop-main"}\n'
        for i in range(len(line)):  # one byte per write
            s.sendall(line[i:i + 1])
            time.sleep(0.002)
        a = read_line(s)
        self.assertEqual({k: a[k] for k in want}, want)
        s.sendall(line * 3 + line[:10])  # three and a piece, then the rest
        for _ in range(3):
            self.assertEqual(read_line(s)["account"], "shop-main")
        time.sleep(0.05)
        s.sendall(line[10:])
        self.assertEqual(read_line(s)["account"], "shop-main")
        for spelled in (b'{ "cmd": "token", "account": "shop-main" }', b'{"account":"shop-main","cmd":"token"}',
                        b'{"cmd":"token","account":"shop\\u002dmain"}', b'{"cmd":"token","account":"shop-main"}\r'):
            s.sendall(spelled + b"\n")
            self.assertEqual(read_line(s)["account"], "shop-main", spelled)
        for bad, error in ((b'{"cmd":"token","account":".x"}', "bad_request"),
                           (b'{"cmd":"token","account":"nosuch"}', "unknown_account")):
            c = connect(self.env.socket)
            c.sendall(bad + b"\n")
            self.assertEqual(read_line(c)["error"], error)
            c.close()
        s.sendall(line)
        s.shutdown(socket.SHUT_WR)  # the client is done sending: its answer still comes
        self.assertEqual(read_line(s)["account"], "shop-main")
        s.settimeout(5)
        self.assertEqual(s.recv(100), b"")  # and nothing more
        s.close()

    def test_watch_sees_refreshes_and_state_changes_it_may_read(self):
        w_admin = subprocess.Popen([IGTOKENCTL, "-s", self.env.socket, "watch"], stdout=subprocess.PIPE, text=True)
        w_nobody = subprocess.Popen(["setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY), "--clear-groups",
                                     IGTOKENCTL, "-s", self.env.socket, "watch"], stdout=subprocess.PIPE, text=True)
        time.sleep(1.2)
        self.assertEqual(self.env.ctl("refresh", "private")[0], 0)
        self.assertEqual(self.env.ctl("refresh", "shop-main")[0], 0)
        self.sim.script(path="/refresh_access_token", times=1, status=500, json={"error": {"code": 2, "message": "x"}})
        self.assertEqual(self.env.ctl("refresh", "shop-main")[0], 1)
        time.sleep(0.5)
        w_admin.terminate()
        w_nobody.terminate()
        admin = [json.loads(l) for l in w_admin.communicate(timeout=5)[0].splitlines()]
        nobody = [json.loads(l) for l in w_nobody.communicate(timeout=5)[0].splitlines()]
        self.assertEqual(w_admin.returncode, 0)
        self.assertIn(("refreshed", "private", "fresh"), [(e["event"], e["account"], e["state"]) for e in admin])
        self.assertIn(("refreshed", "shop-main", "fresh"), [(e["event"], e["account"], e["state"]) for e in admin])
        self.assertIn(("state", "shop-main", "retrying"), [(e["event"], e["account"], e["state"]) for e in admin])
        for e in admin:
            self.assertEqual(set(e), {"event", "account", "state", "expires_at", "at"})
        self.assertEqual({e["account"] for e in nobody}, {"shop-main"})

    def test_igtokenctl_exit_codes_and_table(self):
        rc, out, err = self.env.ctl("status")
        self.assertEqual(rc, 0)
        lines = out.splitlines()
        self.assertRegex(lines[0], r"^3 accounts: 3 fresh; next refresh in ")
        self.assertEqual(lines[2].split(), ["ACCOUNT", "APP", "STATE", "EXPIRES", "NEXT-REFRESH", "LAST-ERROR"])
        self.assertRegex(out, r"shop-main\s+shop\s+fresh\s+in (1h|59m \d+s)\s+in 59m \d+s\s+-")
        self.assertNotIn("\033[", out)  # not a terminal: no colour
        # a terminal gets colour, unless NO_COLOR is set
        for no_color, want in ((None, True), ("1", False)):
            env = dict(os.environ)
            env.pop("NO_COLOR", None)
            if no_color:
                env["NO_COLOR"] = no_color
            pid, fd = pty.fork()
            if pid == 0:
                os.execve(IGTOKENCTL, [IGTOKENCTL, "-s", self.env.socket, "status"], env)
            text = b""
            while True:
                r, _, _ = select.select([fd], [], [], 5)
                if not r:
                    break
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                text += chunk
            os.waitpid(pid, 0)
            self.assertEqual(b"\033[32m" in text, want, text)
        self.assertEqual(self.env.ctl()[0], 2)
        self.assertEqual(self.env.ctl("token")[0], 2)
        self.assertEqual(self.env.ctl("frobnicate")[0], 2)
        # the token for import comes from stdin only
        self.assertEqual(self.env.ctl("import", "private", "IGAAin-argv")[0], 2)
        rc, out, err = self.env.ctl("import", "private", stdin="")
        self.assertEqual(rc, 1)
        self.env.stop()
        rc, out, err = self.env.ctl("status")
        self.assertEqual(rc, 69, err)
        self.assertEqual(self.env.ctl("token", "shop-main")[0], 69)

    def test_socket_file_rules(self):
        # a socket in directories the daemon makes: 0755 despite its umask
        self.env.stop()
        deep = os.path.join(self.dir, "run", "sub", "igtokend.sock")
        with open(self.env.config_path) as f:
            text = f.read().replace("socket: " + self.env.socket, "socket: " + deep)
        with open(self.env.config_path, "w") as f:
            f.write(text)
        self.env.socket = deep
        self.env.start()
        for d in (os.path.dirname(deep), os.path.dirname(os.path.dirname(deep))):
            self.assertEqual(stat.S_IMODE(os.stat(d).st_mode), 0o755)
        self.assertEqual(self.env.ctl("status", user=NOBODY)[0], 0)
        st = os.stat(self.env.socket)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o666)
        # a second daemon on the same socket exits 1 and leaves the first alone
        p = subprocess.run([IGTOKEND, "-c", self.env.config_path], capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 1)
        self.assertIn("another igtokend", p.stderr)
        self.assertEqual(self.env.ctl("status")[0], 0)
        # a stale socket (nobody answering) is replaced
        self.env.stop(sig=9)
        self.assertTrue(os.path.exists(self.env.socket))
        self.env.start()
        self.assertEqual(self.env.ctl("token", "private")[0], 0)
        # a clean stop removes it
        self.env.stop()
        self.assertFalse(os.path.exists(self.env.socket))

    def test_socket_activation(self):
        self.env.stop()
        sock = os.path.join(self.dir, "activated.sock")
        e = dict(os.environ)
        p = subprocess.Popen(["systemd-socket-activate", "-l", sock, IGTOKEND, "-c", self.env.config_path],
                             stdout=subprocess.DEVNULL, stderr=open(self.env.log_path, "a"), env=e)
        try:
            wait_for(lambda: os.path.exists(sock), 10, what="activation socket")
            # the first client connection starts the daemon
            rc, out, err = subprocess.run([IGTOKENCTL, "-s", sock, "token", "private"], capture_output=True,
                                          text=True, timeout=20).returncode, None, None
            self.assertEqual(rc, 0)
            self.assertIn("socket-activated", self.env.logs())
        finally:
            p.terminate()
            p.wait(10)


if __name__ == "__main__":
    unittest.main()

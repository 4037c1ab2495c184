"""libigtoken as an app uses it: installed, found by pkg-config, linked, called."""
import errno
import hashlib
import hmac
import os
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import HERE, IntegrationTest

BUILD = os.environ.get("IGTOKEND_BUILD_DIR", os.path.join(HERE, "..", "..", "build"))


class SlowDaemon(threading.Thread):
    """A stand-in daemon that answers a token request after `delay` seconds."""

    def __init__(self, path, delay, answer):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4)
        self.delay, self.answer = delay, answer

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.recv(65536)
            time.sleep(self.delay)
            try:
                c.sendall(self.answer)
            except OSError:
                pass
            c.close()



class LibTest(IntegrationTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.prefix = tempfile.mkdtemp(prefix="igtokend-prefix-")
        subprocess.run(["cmake", "--install", BUILD, "--prefix", cls.prefix], check=True, capture_output=True)
        libdir = next(os.path.dirname(os.path.join(r, f)) for r, _, fs in os.walk(cls.prefix) for f in fs if f == "igtoken.pc")
        env = dict(os.environ, PKG_CONFIG_PATH=libdir)
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "igtoken"], env=env, check=True,
                               capture_output=True, text=True).stdout.split()
        cls.exe = os.path.join(cls.prefix, "igtoken-example")
        # a sanitized build's library needs the sanitizer runtime in the program too
        san = ["-fsanitize=address,undefined"] if os.environ.get("IGTOKEND_SANITIZED") == "ON" else []
        subprocess.run([os.environ.get("CC", "cc"), "-Wall", "-Werror", *san, "-o", cls.exe,
                        os.path.join(HERE, "igtoken-example.c"), *flags, "-lpthread"], check=True)
        cls.host = os.path.join(cls.prefix, "igtoken-cjson-host")
        cjson = subprocess.run(["pkg-config", "--cflags", "--libs", "libcjson"], check=True, capture_output=True,
                               text=True).stdout.split()
        subprocess.run([os.environ.get("CC", "cc"), "-Wall", "-Werror", *san, "-o", cls.host,
                        os.path.join(HERE, "igtoken-cjson-host.c"), *flags, *cjson, "-lpthread"], check=True)
        cls.signals = os.path.join(cls.prefix, "igtoken-signals")
        subprocess.run([os.environ.get("CC", "cc"), "-Wall", "-Werror", *san, "-o", cls.signals,
                        os.path.join(HERE, "igtoken-signals.c"), *flags], check=True)
        cls.libpath = os.path.dirname(libdir)
        os.chmod(cls.prefix, 0o755)

    def run_example(self, *args, socket=None, user=None):
        env = dict(os.environ, LD_LIBRARY_PATH=self.libpath, IGTOKEND_SOCKET=socket or self.env.socket)
        cmd = [self.exe, *args]
        if user:
            cmd = ["setpriv", "--reuid", str(user), "--regid", str(user), "--clear-groups", *cmd]
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
        return p.returncode, p.stdout.splitlines()

    def test_every_result(self):
        self.env.write_config(accounts={"shop-main": {"app": "shop", "readers": ["65534"]},
                                        "empty": {"app": "shop"}})
        self.env.start()
        self.fresh_account()
        rc, out = self.run_example("shop-main")
        self.assertEqual(out[0], "0")
        self.assertEqual(out[1], self.env.ctl("token", "shop-main")[1].strip())
        self.assertEqual(int(out[2]), self.env.account()["expires_at"])
        self.assertEqual(self.run_example("shop-main", user=65534)[1][0], "0")
        self.assertEqual(self.run_example("empty", user=65534)[1][0], str(-errno.EACCES))
        self.assertEqual(self.run_example("nope")[1][0], str(-errno.ENOENT))
        self.assertEqual(self.run_example("empty")[1][0], str(-errno.EKEYEXPIRED))
        self.assertEqual(self.run_example("shop-main", "10")[1][0], str(-errno.ENOBUFS))
        self.assertEqual(self.run_example("shop-main", socket=self.dir + "/nothing.sock")[1][0],
                         str(-errno.ECONNREFUSED))
        # thread-safe: 16 threads, 200 reads each
        rc, out = self.run_example("shop-main", "4096", "16")
        self.assertEqual((rc, out), (0, ["failures=0"]))
        rc, text, _ = self.env.ctl("metrics")
        reads = [l for l in text.splitlines() if l.startswith('igtokend_token_reads_total{account="shop-main"}')]
        self.assertEqual(int(reads[0].split()[1]), 3200 + 4)  # threads + the four reads that got a token


    def test_leaves_the_applications_cjson_alone(self):
        self.env.write_config()
        self.env.start()
        self.fresh_account()
        env = dict(os.environ, LD_LIBRARY_PATH=self.libpath, IGTOKEND_SOCKET=self.env.socket)
        p = subprocess.run([self.host, "shop-main"], capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual((p.returncode, p.stdout), (0, "ok\n"), p.stderr)


    def run_signals(self, sock, *args):
        env = dict(os.environ, LD_LIBRARY_PATH=self.libpath, IGTOKEND_SOCKET=sock)
        out = subprocess.run([self.signals, *args], capture_output=True, text=True, env=env, timeout=30).stdout
        r, ms, sigs, proof = out.split()
        return int(r), int(ms), int(sigs), proof

    def test_signals_do_not_cut_a_call_short_and_the_deadline_holds(self):
        sock = os.path.join(self.dir, "slow.sock")
        answer = b'{"ok":true,"account":"a","token":"IGAAslow","expires_at":5,"appsecret_proof":"' + b"ab" * 32 + b'"}\n'
        SlowDaemon(sock, 0.5, answer).start()
        for flags in ([], ["restart"]):
            r, ms, sigs, proof = self.run_signals(sock, "a", "3000", *flags)
            self.assertEqual(r, 0, flags)  # not -EINTR, with or without SA_RESTART
            self.assertGreaterEqual(ms, 450)
            self.assertGreater(sigs, 100)  # hundreds of signals arrived meanwhile
            self.assertEqual(proof, "ab" * 32)
        # the deadline is the caller's: 200 ms, signals or not
        r, ms, sigs, _ = self.run_signals(sock, "a", "200")
        self.assertEqual(r, -errno.ETIMEDOUT)
        self.assertGreaterEqual(ms, 190)
        self.assertLess(ms, 450)

    def test_appsecret_proof_from_the_daemon(self):
        fb = {"platform": "facebook", "app_id": "99887766", "app_secret_file": "fb.secret",
              "api_url": self.sim.url, "api_version": "v21.0", "ca_file": self.sim.ca}
        self.env.write_config(apps={"pages": fb}, accounts={"brand": {"app": "pages"}})
        self.env.start()
        tok = self.sim.token(app="fb", kind="long", lifetime=3600)
        self.assertEqual(self.env.import_token(tok, "brand")[0], 0)
        r, ms, sigs, proof = self.run_signals(self.env.socket, "brand", "0")
        self.assertEqual(r, 0)
        self.assertEqual(proof, hmac.new(b"fb-app-secret", tok.encode(), hashlib.sha256).hexdigest())


if __name__ == "__main__":
    unittest.main()

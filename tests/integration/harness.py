"""Integration test harness: the real igtokend against the local Meta simulator.

Each test gets a temporary directory with a generated config, a fresh vault key,
a captured NOTIFY_SOCKET, and the simulator (one per test class, reset per test).
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SIM = os.path.join(HERE, "..", "sim", "metasim.py")
IGTOKEND = os.environ.get("IGTOKEND_BIN", os.path.join(HERE, "..", "..", "build", "igtokend"))
IGTOKENCTL = os.environ.get("IGTOKENCTL_BIN", os.path.join(HERE, "..", "..", "build", "igtokenctl"))
APP_SECRET = "demo-app-secret"
FB_APP_SECRET = "fb-app-secret"


def free_port():
    """A loopback TCP port nobody listens on right now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    """User and system CPU time of a process so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for(pred, timeout=10.0, step=0.05, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("timed out waiting for " + what)


class Sim:
    def __init__(self, d):
        self.dir = d
        ready = os.path.join(d, "sim.json")
        self.log_file = open(os.path.join(d, "sim.log"), "w")
        self.proc = subprocess.Popen([sys.executable, SIM, "--dir", os.path.join(d, "sim"), "--ready-file", ready],
                                     stdout=self.log_file, stderr=subprocess.STDOUT)
        info = wait_for(lambda: os.path.exists(ready) and json.load(open(ready)), 30, what="simulator")
        self.port, self.control_port, self.ca = info["port"], info["control_port"], info["ca"]
        self.url = "https://127.0.0.1:%d" % self.port

    def call(self, path, body=None):
        data = json.dumps(body or {}).encode() if body is not None else None
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.control_port, path), data=data,
                                     method="POST" if data is not None else "GET")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def reset(self):
        self.call("/reset", {})

    def config(self, **kw):
        self.call("/config", kw)

    def token(self, **kw):
        return self.call("/token", kw)["token"]

    def script(self, **kw):
        self.call("/script", kw)

    def log(self, path=None):
        return [e for e in self.call("/log") if path is None or e["path"] == path]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log_file.close()


class Daemon:
    def __init__(self, env, extra_env=None):
        self.env = env
        self.notify_path = os.path.join(env.dir, "notify-%d.sock" % time.time_ns())
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.notify.settimeout(0.1)
        self.messages = []
        e = dict(os.environ)
        for k in ("CREDENTIALS_DIRECTORY", "STATE_DIRECTORY", "JOURNAL_STREAM", "LISTEN_FDS", "LISTEN_PID"):
            e.pop(k, None)
        e["NOTIFY_SOCKET"] = self.notify_path
        e.update(extra_env or {})
        self.stderr = open(env.log_path, "a")
        self.proc = subprocess.Popen([IGTOKEND, "-c", env.config_path], stdout=self.stderr,
                                     stderr=self.stderr, env=e)

    def read_notify(self):
        try:
            while True:
                self.messages.append(self.notify.recv(65536).decode())
        except (socket.timeout, BlockingIOError):
            pass
        return self.messages

    def wait_notify(self, text, timeout=10):
        def seen():
            if self.proc.poll() is not None:
                raise AssertionError("igtokend exited with %d:\n%s" % (self.proc.returncode, self.env.logs()))
            return any(text in m for m in self.read_notify())
        wait_for(seen, timeout, what="notify " + text)

    def status_line(self):
        st = [l for m in self.read_notify() for l in m.split("\n") if l.startswith("STATUS=")]
        return st[-1][7:] if st else None

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.notify.close()
        self.stderr.close()
        if os.path.exists(self.notify_path):
            os.unlink(self.notify_path)
        return self.proc.returncode


class Env:
    """A temporary igtokend installation."""

    def __init__(self, sim, d):
        self.sim, self.dir = sim, d
        self.config_path = os.path.join(d, "igtokend.yaml")
        self.socket = os.path.join(d, "igtokend.sock")
        self.vault = os.path.join(d, "vault")
        self.key = os.path.join(d, "vault.key")
        self.log_path = os.path.join(d, "daemon.log")
        old = os.umask(0o077)
        with open(os.path.join(d, "app.secret"), "w") as f:
            f.write(APP_SECRET + "\n")
        with open(os.path.join(d, "fb.secret"), "w") as f:
            f.write(FB_APP_SECRET + "\n")
        os.umask(old)
        subprocess.run([IGTOKEND, "--keygen", self.key], check=True, capture_output=True)
        self.daemon = None

    def write_config(self, accounts=None, refresh=None, rate_limit=None, apps=None, extra=""):
        # min_age 0: tests refresh at will (too_early has tests of its own); the
        # simulator still refuses tokens under its own min_age (1 s by default)
        refresh = {"before_expiry": "20s", "min_age": "0", "jitter": "0", "retry_initial": "1s",
                   "retry_max": "4s", "timeout": "3s", "max_in_flight": 4, **(refresh or {})}
        accounts = accounts if accounts is not None else {"shop-main": {"app": "shop"}}
        apps = apps if apps is not None else {
            "shop": {"app_id": "1234567890", "app_secret_file": "app.secret",
                     "api_url": self.sim.url, "oauth_url": self.sim.url, "ca_file": self.sim.ca,
                     "redirect_uri": "https://example.com/ig/callback",
                     "authorize_url": "https://www.instagram.com/oauth/authorize"},
        }
        lines = ["vault: vault", "key: vault.key", "socket: " + self.socket, "admins: [root]",
                 "refresh: " + json.dumps(refresh)]
        if rate_limit:
            lines.append("rate_limit: " + json.dumps(rate_limit))
        lines.append("apps: " + json.dumps(apps))
        lines.append("accounts: " + json.dumps(accounts))
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n" + extra)

    def start(self, wait=True, extra_env=None):
        self.daemon = Daemon(self, extra_env)
        if wait:
            self.daemon.wait_notify("READY=1")
        return self.daemon

    def stop(self, sig=signal.SIGTERM):
        rc = self.daemon.stop(sig) if self.daemon else None
        self.daemon = None
        return rc

    def ctl(self, *args, stdin=None, user=None, timeout=60):
        cmd = [IGTOKENCTL, "-s", self.socket, *args]
        if user:
            cmd = ["setpriv", "--reuid", str(user), "--regid", str(user), "--clear-groups", *cmd]
        p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr

    def status(self):
        rc, out, err = self.ctl("status", "--json")
        if rc != 0:
            raise AssertionError("status failed: %d %s" % (rc, err))
        return json.loads(out)

    def account(self, name="shop-main"):
        for a in self.status()["accounts"]:
            if a["name"] == name:
                return a
        raise AssertionError("no account " + name)

    def wait_state(self, state, name="shop-main", timeout=20):
        return wait_for(lambda: (lambda a: a if a["state"] == state else None)(self.account(name)),
                        timeout, what="%s to be %s (now %s)" % (name, state, self.account(name)["state"]))

    def import_token(self, token, name="shop-main", short=False):
        args = ["import", name] + (["--short-lived"] if short else [])
        return self.ctl(*args, stdin=token + "\n")

    def logs(self):
        if not os.path.exists(self.log_path):
            return ""  # no daemon was started
        with open(self.log_path) as f:
            return f.read()

    def request(self, obj, raw=None):
        """One request over the control socket, the answer as a dict."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(self.socket)
        s.sendall(raw if raw is not None else (json.dumps(obj) + "\n").encode())
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        s.close()
        return json.loads(buf) if buf else None


class IntegrationTest(unittest.TestCase):
    sim = None

    @classmethod
    def setUpClass(cls):
        cls.sim_dir = tempfile.mkdtemp(prefix="igtokend-sim-")
        cls.sim = Sim(cls.sim_dir)

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()
        shutil.rmtree(cls.sim_dir, ignore_errors=True)

    def setUp(self):
        self.sim.reset()
        self.sim.config(min_age=1, lifetime=3600)
        self.dir = tempfile.mkdtemp(prefix="igtokend-test-")
        os.chmod(self.dir, 0o755)
        self.env = Env(self.sim, self.dir)
        with open(self.env.key) as f:
            self.secrets = [APP_SECRET, FB_APP_SECRET, f.read().strip()]

    def tearDown(self):
        try:
            if self.env.daemon:
                self.env.stop()
            self.assert_no_secret_in_logs()
        finally:
            if os.environ.get("IGTOKEND_KEEP_TEST_DIRS"):
                print("kept", self.dir)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)

    def assert_no_secret_in_logs(self):
        """No token the simulator ever issued, no app secret, no key in any log line."""
        text = self.env.logs()
        tokens = list(self.sim.call("/tokens").keys())
        for s in tokens + self.secrets:
            self.assertNotIn(s, text, "a secret reached the log")

    def fresh_account(self, name="shop-main", lifetime=3600, age=5, **kw):
        tok = self.sim.token(lifetime=lifetime, age=age, **kw)
        rc, out, err = self.env.import_token(tok, name)
        self.assertEqual(rc, 0, err)
        return tok

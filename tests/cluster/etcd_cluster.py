"""A real etcd cluster on loopback for the tests: N members (Debian's
etcd-server), data on tmpfs, shrunk timings (CLUSTER.md): heartbeat 100 ms,
election 1 s, progress notifications every 2 s. Members can be killed,
stopped (SIGSTOP), resumed and restarted. Optionally TLS (a test CA made
with openssl, a client certificate without CN) and password auth with a user
whose role is limited to a prefix."""
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import free_port, wait_for  # noqa: E402

ETCD = shutil.which("etcd") or "/usr/bin/etcd"
ETCDCTL = shutil.which("etcdctl") or "/usr/bin/etcdctl"


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


class Member:
    def __init__(self, cluster, name):
        self.cluster, self.name = cluster, name
        self.client_port, self.peer_port = free_port(), free_port()
        self.data = os.path.join(cluster.dir, name)
        self.proc = None

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % ("https" if self.cluster.tls else "http", self.client_port)

    @property
    def peer_url(self):
        return "http://127.0.0.1:%d" % self.peer_port

    def start(self, state="new"):
        c = self.cluster
        args = [ETCD, "--name", self.name, "--data-dir", self.data,
                "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                "--listen-peer-urls", self.peer_url, "--initial-advertise-peer-urls", self.peer_url,
                "--initial-cluster", ",".join("%s=%s" % (m.name, m.peer_url) for m in c.members),
                "--initial-cluster-state", state, "--initial-cluster-token", c.token,
                "--heartbeat-interval", "100", "--election-timeout", "1000",
                "--experimental-watch-progress-notify-interval", "2s", "--log-level", "warn"]
        if c.tls:
            args += ["--cert-file", c.pki("server.crt"), "--key-file", c.pki("server.key"),
                     "--trusted-ca-file", c.pki("ca.crt"), "--client-cert-auth"]
        self.log = open(os.path.join(c.dir, self.name + ".log"), "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def stop(self):
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)


class Cluster:
    def __init__(self, n=3, tls=False):
        self.dir = tempfile.mkdtemp(prefix="igtokend-etcd-", dir="/dev/shm")
        self.token = os.path.basename(self.dir)
        self.tls = tls
        if tls:
            self.make_pki()
        self.members = [Member(self, "m%d" % i) for i in range(n)]
        for m in self.members:
            m.start()
        wait_for(self.healthy, 30, step=0.2, what="etcd cluster healthy")

    def pki(self, name):
        return os.path.join(self.dir, "pki", name)

    def make_pki(self):
        os.makedirs(os.path.join(self.dir, "pki"))

        def ssl(*a):
            subprocess.run(["openssl"] + list(a), check=True, capture_output=True)
        ssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=igtokend test CA", "-keyout", self.pki("ca.key"), "-out", self.pki("ca.crt"))
        for name, subj, ext in (("server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1"),
                                # etcd's gateway refuses a client certificate with a CN (CLUSTER.md)
                                ("client", "/O=igtokend", "extendedKeyUsage=clientAuth")):
            ssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", subj,
                "-keyout", self.pki(name + ".key"), "-out", self.pki(name + ".csr"))
            with open(self.pki(name + ".ext"), "w") as f:
                f.write(ext + "\n")
            ssl("x509", "-req", "-in", self.pki(name + ".csr"), "-CA", self.pki("ca.crt"), "-CAkey", self.pki("ca.key"),
                "-CAcreateserial", "-days", "2", "-extfile", self.pki(name + ".ext"), "-out", self.pki(name + ".crt"))
        # one more CA nobody signed with: a server it does not vouch for
        ssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=another CA", "-keyout", self.pki("other.key"), "-out", self.pki("other.crt"))

    @property
    def endpoints(self):
        return [m.url for m in self.members]

    def ctl(self, *args, user=None, endpoints=None, check=True):
        cmd = [ETCDCTL, "--endpoints", ",".join(endpoints or [m.url for m in self.members if m.proc]),
               "--dial-timeout", "3s", "--command-timeout", "5s"]
        if self.tls:
            cmd += ["--cacert", self.pki("ca.crt"), "--cert", self.pki("client.crt"), "--key", self.pki("client.key")]
        if user:
            cmd += ["--user", user]
        out = subprocess.run(cmd + list(args), capture_output=True, text=True, env=dict(os.environ, ETCDCTL_API="3"))
        if check and out.returncode != 0:
            raise AssertionError("etcdctl %s: %s" % (" ".join(args), out.stderr))
        return out.stdout

    def wait_healthy(self):
        wait_for(self.healthy, 30, step=0.2, what="etcd cluster healthy")

    def healthy(self):
        """Every running member answers and knows the leader."""
        st = [self.status(m) for m in self.members if m.proc]
        # etcdctl leaves out what is zero: no "leader" while one is being elected
        return bool(st) and all(s and s.get("leader") for s in st)

    def status(self, m):
        out = self.ctl("endpoint", "status", "-w", "json", endpoints=[m.url], check=False)
        try:
            return json.loads(out)[0]["Status"]
        except (ValueError, IndexError, KeyError):
            return None

    def leader(self):
        for m in self.members:
            s = m.proc and self.status(m)
            if s and s.get("leader") == s["header"]["member_id"]:
                return m
        return None

    def enable_auth(self, user, password, prefix):
        """root, and a user whose role may read and write prefix only."""
        self.ctl("user", "add", "root:rootpw")
        self.ctl("user", "add", "%s:%s" % (user, password))
        self.ctl("role", "add", "igtokend")
        self.ctl("role", "grant-permission", "igtokend", "--prefix=true", "readwrite", prefix)
        self.ctl("user", "grant-role", user, "igtokend")
        self.ctl("auth", "enable")

    def stop(self):
        for m in self.members:
            if m.proc:
                try:
                    m.resume()
                except ProcessLookupError:
                    pass
                m.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

"""Status of many accounts (issue 16): the answer is written in pieces as the
client reads it, so a client that reads slowly or not at all costs the daemon
a bounded amount of memory, others are served meanwhile, and a reload between
pieces gives an answer that is still whole and sorted."""
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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bench"))
import bench  # noqa: E402
from harness import IGTOKENCTL, rss_kib  # noqa: E402

BUILD = os.environ.get("IGTOKEND_BUILD_DIR", os.path.join(HERE, "..", "..", "build"))
NOBODY = 65534
N = 20000


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(path)
    return s


def read_answer(s, have=b""):
    buf = have
    while not buf.endswith(b"\n"):
        b = s.recv(1 << 20)
        if not b:
            break
        buf += b
    return json.loads(buf)


class StatusStreamTest(unittest.TestCase):
    def setUp(self):
        self.d = tempfile.mkdtemp(prefix="igtokend-scale-", dir="/dev/shm")  # 20 000 fsyncs elsewhere
        os.chmod(self.d, 0o755)
        self.cfg = bench.make_install(BUILD, N, self.d)
        # one include file with all of them, so that a reload can rewrite it
        parts = sorted(os.listdir(os.path.join(self.d, "accounts.d")))
        text = "accounts:\n"
        for name in parts:
            with open(os.path.join(self.d, "accounts.d", name)) as f:
                text += f.read().split("\n", 1)[1]
            os.unlink(os.path.join(self.d, "accounts.d", name))
        part = os.path.join(self.d, "accounts.d", "part-001.yaml")
        # the first ten may be read by nobody
        self.part = re.sub(r"(acct-00000\d): \{app: shop\}", r"\1: {app: shop, readers: [%d]}" % NOBODY, text)
        with open(part, "w") as f:
            f.write(self.part)
        self.sock = os.path.join(self.d, "igtokend.sock")
        if os.environ.get("IGTOKEND_SANITIZED", "").upper() in ("ON", "1", "TRUE"):
            # freed memory waits in ASan's quarantine (256 MiB) and counts as RSS: keep it small
            os.environ["ASAN_OPTIONS"] = (os.environ.get("ASAN_OPTIONS", "") +
                                          ":quarantine_size_mb=1:thread_local_quarantine_size_kb=64")
        self.daemon, _, self.notify = bench.start_daemon(BUILD, self.cfg, os.path.join(self.d, "notify"))

    def tearDown(self):
        if self.daemon.poll() is None:
            self.daemon.kill()
            self.daemon.wait()
        self.notify.close()
        shutil.rmtree(self.d, ignore_errors=True)

    def ctl(self, *args, user=None):
        pre = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user, "--clear-groups"] if user else []
        p = subprocess.run(pre + [IGTOKENCTL, "-s", self.sock, *args], capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout, p.stderr

    def test_a_slow_reader_costs_little_and_a_reload_between_pieces_keeps_the_answer_whole(self):
        pid = self.daemon.pid
        rss0 = rss_kib(pid)
        slow = connect(self.sock)
        slow.sendall(b'{"cmd":"status"}\n')
        first = slow.recv(65536)
        self.assertTrue(first.startswith(b'{"ok":true'), first[:100])
        time.sleep(1)
        # the whole answer (about 7.5 MB here) is not held for it: a few pieces are
        grown = rss_kib(pid) - rss0
        self.assertLess(grown, 8 * 1024, "daemon RSS grew by %d KiB for one unread status" % grown)
        # others are served meanwhile: token reads at once, a whole status too
        for _ in range(10):
            t0 = time.monotonic()
            c = connect(self.sock)
            c.sendall(b'{"cmd":"token","account":"acct-000003"}\n')
            a = read_answer(c)
            c.close()
            self.assertLess(time.monotonic() - t0, 0.5)
            self.assertEqual((a["ok"], a["account"]), (True, "acct-000003"))
        rc, out, err = self.ctl("status")
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertRegex(lines[0], r"^%d accounts: " % N)
        self.assertEqual(len([l for l in lines if l.startswith("acct-")]), N)
        # nobody sees the ten it may read, in a summary of its own
        rc, out, err = self.ctl("status", "--json", user=NOBODY)
        self.assertEqual(rc, 0, err)
        mine = json.loads(out)
        self.assertEqual([a["name"] for a in mine["accounts"]], ["acct-%06d" % i for i in range(10)])
        self.assertTrue(mine["summary"].startswith("10 accounts"), mine["summary"])
        # a reload drops the odd accounts while the slow client waits
        with open(os.path.join(self.d, "accounts.d", "part-001.yaml"), "w") as f:
            f.write("\n".join(l for l in self.part.splitlines() if not re.search(r"acct-\d{5}[13579]:", l)) + "\n")
        rc, out, err = self.ctl("reload")
        self.assertEqual(rc, 0, err)
        a = read_answer(slow, first)
        slow.close()
        names = [x["name"] for x in a["accounts"]]
        self.assertEqual(names, sorted(set(names)), "the answer repeats or misorders accounts")
        self.assertGreater(len(names), N // 2)
        self.assertLess(len(names), N)
        self.assertTrue(a["summary"].startswith("%d accounts" % len(names)), a["summary"])
        self.assertEqual([x["name"] for x in a["apps"]], ["shop"])
        # after the reload, a new answer has only the even ones
        rc, out, err = self.ctl("status", "--json")
        self.assertEqual(len(json.loads(out)["accounts"]), N // 2)

    def test_clients_that_leave_or_never_read_end_their_answers(self):
        for _ in range(20):  # a client gone mid-answer: its answer is dropped
            c = connect(self.sock)
            c.sendall(b'{"cmd":"status"}\n')
            c.recv(1000)
            c.close()
        rc, out, err = self.ctl("status", "--json")
        self.assertEqual((rc, len(json.loads(out)["accounts"])), (0, N), err)
        stalled = connect(self.sock)  # still waiting when the daemon stops: a clean exit
        stalled.sendall(b'{"cmd":"status"}\n')
        stalled.recv(1000)
        time.sleep(0.5)
        self.daemon.send_signal(signal.SIGTERM)
        self.assertEqual(self.daemon.wait(30), 0)
        stalled.close()


if __name__ == "__main__":
    unittest.main()

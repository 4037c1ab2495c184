"""igtokenctl for people (CONTRACT 15.5): the summary, a table that fits the
terminal, one account in detail, --problems, check, enrolment that survives a
slow login, and errors that name the mistake."""
import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
import unittest
import urllib.parse

from harness import IGTOKENCTL, IntegrationTest, wait_for

NOBODY = 65534
LONG_ERROR = "An unexpected error has occurred. Please retry your request later. " * 3


def run_in_terminal(argv, columns, rows=50):
    """argv's output as a terminal of that size shows it (colour codes stripped)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    out = b""
    while True:
        try:
            r, _, _ = select.select([fd], [], [], 10)
            if not r:
                break
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.decode()).replace("\r", "")
    return os.waitstatus_to_exitcode(status), text


class CliTest(IntegrationTest):
    def mixed(self):
        self.accounts = {n: {"app": "shop", "readers": [str(NOBODY)] if n == "fine" else []}
                         for n in ("fine", "dead", "none", "flaky", "young")}
        self.env.write_config(accounts=self.accounts, refresh={"retry_initial": "1h", "retry_max": "2h"})
        self.sim.config(min_age=0)
        self.env.start()
        for n in ("fine", "dead", "flaky"):
            self.fresh_account(n)
        self.sim.script(path="/refresh_access_token", times=1, status=400,
                        json={"error": {"message": "The session has been invalidated", "type": "OAuthException",
                                        "code": 190, "error_subcode": 460, "fbtrace_id": "Tr4ce"}})
        self.assertEqual(self.env.ctl("refresh", "dead")[0], 4)
        self.sim.script(path="/refresh_access_token", times=1, status=500,
                        json={"error": {"message": LONG_ERROR, "type": "OAuthException", "code": 2}})
        self.assertEqual(self.env.ctl("refresh", "flaky")[0], 1)
        # the young token's refresh is refused (its expiry is assumed); the daemon waits min_age
        self.sim.config(min_age=86400)
        self.env.write_config(accounts=self.accounts, refresh={"retry_initial": "1h", "retry_max": "2h",
                                                              "min_age": "1d"})
        self.assertEqual(self.env.ctl("reload")[0], 0)
        self.assertEqual(self.env.import_token(self.sim.token(lifetime=5184000, age=0), "young")[0], 0)

    def test_status_summary_table_detail_problems_and_check(self):
        self.mixed()
        rc, out, err = self.env.ctl("status")
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertRegex(lines[0], r"^5 accounts: 1 no_token, 2 fresh, 1 retrying, 1 reauth_required; next refresh in ")
        row = {l.split()[0]: l for l in lines if l and l.split()[0] in ("fine", "dead", "none", "flaky", "young")}
        self.assertRegex(row["dead"], r"^dead\s+shop\s+reauth_required\s+-\s+-\s+Meta error 190/460")
        self.assertRegex(row["none"], r"^none\s+shop\s+no_token\s+-\s+-\s+-$")
        self.assertRegex(row["fine"], r"^fine\s+shop\s+fresh\s+in (\d+m|1h)")
        self.assertIn(LONG_ERROR.strip(), row["flaky"])  # not a terminal: whole
        self.assertIn("WARNINGS", lines)
        self.assertTrue(any(l.startswith("young: expiry assumed") for l in lines))
        self.assertTrue(any(l.startswith("APP ") and "CREDENTIALS" in l for l in lines))
        # --problems: what is not fresh, or has a warning
        rc, out, _ = self.env.ctl("status", "--problems")
        self.assertIn("dead", out)
        self.assertNotRegex(out, r"(?m)^fine ")
        self.assertRegex(out, r"(?m)^young ")
        # one account in detail, with what to do
        rc, out, _ = self.env.ctl("status", "dead")
        self.assertEqual(rc, 0)
        self.assertIn("reauth_required", out)
        self.assertRegex(out, r"what to do\s+igtokenctl enroll dead")
        self.assertIn("(fbtrace_id Tr4ce)", out)
        self.assertRegex(out, r"expires\s+-")
        rc, out, _ = self.env.ctl("status", "young")
        self.assertRegex(out, r"expiry assumed\s+yes")
        rc, out, _ = self.env.ctl("status", "dead", "--json")
        self.assertEqual(json.loads(out)["name"], "dead")
        rc, out, err = self.env.ctl("status", "nope")
        self.assertEqual(rc, 1)
        self.assertIn("no account 'nope'", err)
        # check: 4 while a human is needed, naming who and the command
        rc, out, _ = self.env.ctl("check")
        self.assertEqual(rc, 4)
        self.assertIn("dead: reauth_required", out)
        self.assertIn("igtokenctl enroll none", out)
        self.assertNotIn("fine", out)
        # a reader sees only what it may read, in the summary too
        rc, out, _ = self.env.ctl("status", user=NOBODY)
        self.assertTrue(out.startswith("1 account: 1 fresh"), out)
        self.assertEqual(self.env.ctl("check", user=NOBODY)[0], 0)
        self.sim.config(min_age=0)
        for n in ("dead", "none"):
            self.fresh_account(n)  # imports are no refreshes: min_age does not hold them
        rc, out, _ = self.env.ctl("check")
        self.assertEqual((rc, out.strip()), (0, "ok: 5 accounts, none needs a human"))

    def test_the_table_fits_the_terminal(self):
        self.mixed()
        for columns in (80, 120):
            rc, out = run_in_terminal([IGTOKENCTL, "-s", self.env.socket, "status"], columns)
            self.assertEqual(rc, 0, out)
            widest = max(len(l) for l in out.splitlines())
            self.assertLessEqual(widest, columns, out)
            self.assertIn("...", out)  # the long error was cut
        rc, out = run_in_terminal([IGTOKENCTL, "-s", self.env.socket, "status", "-l"], 80)
        self.assertIn(LONG_ERROR.strip(), out.replace("\n", ""))
        self.assertGreater(max(len(l) for l in out.splitlines()), 80)

    def enrol_url(self, account="shop-main"):
        return self.env.request({"cmd": "enroll", "account": account})["url"]

    def test_enrolment_survives_a_slow_login_and_finishes_later(self):
        self.env.write_config()
        self.sim.config(redirect_uri="https://example.com/ig/callback")
        self.env.start()
        p = subprocess.Popen([IGTOKENCTL, "-s", self.env.socket, "enroll", "shop-main"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        url = p.stdout.readline().strip()
        state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["state"]
        self.sim.call("/code", {"code": "AQDslow", "user_id": "17841405793187218"})
        time.sleep(65)  # longer than the daemon keeps an idle connection (60 s)
        out, err = p.communicate("https://example.com/ig/callback?code=AQDslow&state=%s#_\n" % state, timeout=60)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(self.env.account()["state"], "fresh")
        # started once, finished by a later command
        state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.enrol_url()).query))["state"]
        self.sim.call("/code", {"code": "AQDlater", "user_id": "17841405793187218"})
        rc, out, err = self.env.ctl("enroll", "shop-main", "--finish", "-",
                                    stdin="https://example.com/ig/callback?code=AQDlater&state=%s#_\n" % state)
        self.assertEqual(rc, 0, err)
        self.assertIn("shop-main: expires in", out)
        state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.enrol_url()).query))["state"]
        self.sim.call("/code", {"code": "AQDargv", "user_id": "17841405793187218"})
        rc, out, err = self.env.ctl("enroll", "shop-main",
                                    "--finish=https://example.com/ig/callback?code=AQDargv&state=%s" % state)
        self.assertEqual(rc, 0, err)
        rc, out, err = self.env.ctl("enroll", "shop-main", "--finish",
                                    "https://example.com/ig/callback?code=AQDx&state=%s" % state)  # used
        self.assertEqual(rc, 1)
        self.assertIn("does not match an enrolment under way", err)

    def test_errors_name_the_mistake(self):
        self.env.write_config(accounts={"shop-main": {"app": "shop"}})
        self.env.start()
        cases = [
            (("frobnicate",), 2, "unknown command 'frobnicate'"),
            (("status", "--colour"), 2, "status: unknown option '--colour' (it takes --json -l --long --problems)"),
            (("token", "bad name"), 2, "'bad name' is not an account name"),
            (("token",), 2, "token: which account? (token ACCOUNT)"),
            (("refresh", "shop-main", "extra"), 2, "refresh: unexpected argument 'extra'"),
            (("enroll", "shop-main", "--finish"), 2, "--finish needs the URL"),
        ]
        for args, code, text in cases:
            rc, out, err = self.env.ctl(*args)
            self.assertEqual(rc, code, args)
            self.assertIn(text, err, args)
        rc, out, err = self.env.ctl("token", "shop-main", user=NOBODY)
        self.assertEqual(rc, 3)
        self.assertIn("uid %d may not read account 'shop-main'" % NOBODY, err)
        rc, out, err = self.env.ctl("reload", user=NOBODY)
        self.assertEqual(rc, 3)
        self.assertIn("this command is for admins: uid %d is not an admin" % NOBODY, err)
        rc, out, err = self.env.ctl("refresh", "nope")
        self.assertEqual(rc, 1)
        self.assertIn("no account 'nope' in the configuration", err)
        gone = os.path.join(self.dir, "gone.sock")
        p = subprocess.run([IGTOKENCTL, "-s", gone, "status"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 69)
        self.assertIn("no socket at %s: igtokend is not running (systemctl start igtokend.socket" % gone, p.stderr)
        self.env.stop()
        p = subprocess.run([IGTOKENCTL, "-s", self.env.socket, "status"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 69)
        self.assertTrue("not running" in p.stderr, p.stderr)


if __name__ == "__main__":
    unittest.main()

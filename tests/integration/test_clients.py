"""The app-language clients in contrib/clients (CONTRACT 15.7): Python, Node.js
and PHP, each reading a token, and each failing clearly when forbidden or when
the daemon is down."""
import hashlib
import hmac
import os
import shutil
import subprocess
import unittest

from harness import HERE, IntegrationTest

NOBODY = 65534
CLIENTS = os.path.join(HERE, "..", "..", "contrib", "clients")

# a program an app would write with each client: the token, its expiry and proof
PROGRAMS = {
    "python": ("python3", "app.py", """
import sys
sys.path.insert(0, %(dir)r)
from igtoken import get_token, IgtokenError
try:
    t = get_token(sys.argv[1])
    print(t.token, t.expires_at, t.appsecret_proof or "-")
except IgtokenError as e:
    print("ERROR", e.code, e)
    sys.exit(1)
"""),
    "node": ("node", "app.js", """
const { getToken } = require(%(dir)r + '/igtoken.js');
getToken(process.argv[2]).then(
  (t) => console.log(t.token, t.expiresAt, t.appsecretProof || '-'),
  (e) => { console.log('ERROR', e.code, e.message); process.exitCode = 1; });
"""),
    "php": ("php", "app.php", """<?php
require_once %(dir)r . '/igtoken.php';
try {
    $t = igtoken_get($argv[1]);
    echo $t['token'], ' ', $t['expires_at'], ' ', $t['appsecret_proof'] ?? '-', "\\n";
} catch (IgtokenError $e) {
    echo 'ERROR ', $e->errorCode, ' ', $e->getMessage(), "\\n";
    exit(1);
}
"""),
}
FILES = {"python": "igtoken.py", "node": "igtoken.js", "php": "igtoken.php"}


class ClientsTest(IntegrationTest):
    def setUp(self):
        super().setUp()
        for lang, (interp, _, _) in PROGRAMS.items():
            # tools/dev installs them: a missing one is a failure, not a skip
            self.assertIsNotNone(shutil.which(interp), "%s is not installed (tools/dev deps)" % interp)
        self.lib = os.path.join(self.dir, "clients")
        os.makedirs(self.lib)
        for lang, name in FILES.items():
            shutil.copy(os.path.join(CLIENTS, lang, name), os.path.join(self.lib, name))
        for lang, (interp, prog, text) in PROGRAMS.items():
            with open(os.path.join(self.lib, prog), "w") as f:
                f.write(text % {"dir": self.lib})
        for f in os.listdir(self.lib):
            os.chmod(os.path.join(self.lib, f), 0o644)
        os.chmod(self.lib, 0o755)
        fb = {"platform": "facebook", "app_id": "99887766", "app_secret_file": "fb.secret",
              "api_url": self.sim.url, "api_version": "v21.0", "ca_file": self.sim.ca}
        shop = {"app_id": "1234567890", "app_secret_file": "app.secret", "api_url": self.sim.url,
                "oauth_url": self.sim.url, "ca_file": self.sim.ca}
        self.env.write_config(apps={"shop": shop, "pages": fb},
                              accounts={"shop-main": {"app": "shop", "readers": [str(NOBODY)]},
                                        "private": {"app": "shop"}, "brand": {"app": "pages"}})

    def run_as(self, argv, user=None, socket=None):
        env = dict(os.environ, IGTOKEND_SOCKET=socket or self.env.socket, HOME=self.dir)
        if user is not None:
            argv = ["setpriv", "--reuid", str(user), "--regid", str(user), "--clear-groups", *argv]
        p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=30, cwd=self.lib)
        return p.returncode, p.stdout.strip(), p.stderr.strip()

    def test_each_client_reads_a_token_and_fails_clearly(self):
        self.env.start()
        self.fresh_account("shop-main")
        fb = self.sim.token(app="fb", kind="long", lifetime=3600)
        self.assertEqual(self.env.import_token(fb, "brand")[0], 0)
        token = self.env.ctl("token", "shop-main")[1].strip()
        expires = self.env.account("shop-main")["expires_at"]
        proof = hmac.new(b"fb-app-secret", fb.encode(), hashlib.sha256).hexdigest()
        for lang, (interp, prog, _) in PROGRAMS.items():
            with self.subTest(lang=lang):
                # as a library, by a reader that is not root
                rc, out, err = self.run_as([interp, prog, "shop-main"], user=NOBODY)
                self.assertEqual((rc, out), (0, "%s %d -" % (token, expires)), err)
                rc, out, err = self.run_as([interp, prog, "brand"])
                self.assertEqual((rc, out), (0, "%s %d %s" % (fb, self.env.account("brand")["expires_at"], proof)), err)
                # forbidden: the code, and the daemon's words naming the uid
                rc, out, err = self.run_as([interp, prog, "private"], user=NOBODY)
                self.assertEqual(rc, 1)
                self.assertTrue(out.startswith("ERROR forbidden"), out)
                self.assertIn("uid %d" % NOBODY, out)
                # as a command: the token on stdout; exit codes like igtokenctl's
                rc, out, err = self.run_as([interp, FILES[lang], "shop-main"], user=NOBODY)
                self.assertEqual((rc, out), (0, token), err)
                rc, out, err = self.run_as([interp, FILES[lang], "private"], user=NOBODY)
                self.assertEqual(rc, 3, err)
                self.assertIn("forbidden", err)
        self.env.stop()
        for lang, (interp, prog, _) in PROGRAMS.items():
            with self.subTest(lang=lang, daemon="down"):
                rc, out, err = self.run_as([interp, prog, "shop-main"])
                self.assertEqual(rc, 1)
                self.assertTrue(out.startswith("ERROR unavailable igtokend is not running"), out)
                rc, out, err = self.run_as([interp, FILES[lang], "shop-main"],
                                           socket=os.path.join(self.dir, "nothing.sock"))
                self.assertEqual(rc, 69)
                self.assertIn("not running", err)


if __name__ == "__main__":
    unittest.main()

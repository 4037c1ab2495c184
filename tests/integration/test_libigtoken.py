"""libigtoken as an app uses it: installed, found by pkg-config, linked, called."""
import errno
import os
import subprocess
import tempfile
import unittest

from harness import HERE, IntegrationTest

BUILD = os.environ.get("IGTOKEND_BUILD_DIR", os.path.join(HERE, "..", "..", "build"))


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


if __name__ == "__main__":
    unittest.main()

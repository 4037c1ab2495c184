#!/usr/bin/env python3
"""igtokend --check-config against every config fixture.

Bad fixtures end with `# expect: LINE:COL: error: ...` lines (or
`# expect: OTHER-FILE:LINE:COL: ...` for an included file): the command must exit
78 and print exactly those diagnostics, in order, each as FILE:LINE:COLUMN.
Good fixtures must exit 0 and print exactly their expected warnings.
@DIR@ stands for the fixture's directory and @FILE@ for the fixture's path.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

igtokend, data, example = sys.argv[1], sys.argv[2], sys.argv[3]
failures = 0
checks = 0


def fail(msg):
    global failures
    failures += 1
    print("FAIL: " + msg)


def expected_lines(path):
    d = os.path.dirname(path)
    out = []
    for line in open(path, encoding="utf-8"):
        m = re.match(r"# expect: (.*)$", line.rstrip("\n"))
        if not m:
            continue
        e = m.group(1).replace("@DIR@", d).replace("@FILE@", path)
        out.append(path + ":" + e if e[0].isdigit() else os.path.join(d, e))
    return out


def run(path, env=None):
    p = subprocess.run([igtokend, "--check-config", "-c", path], capture_output=True, text=True,
                       env=env, timeout=60)
    diags = [l for l in p.stderr.splitlines() if re.search(r": (error|warning): ", l)]
    return p.returncode, diags, p.stderr


with tempfile.TemporaryDirectory() as tmp:
    root = os.path.join(tmp, "config")
    shutil.copytree(data, root)
    for f in os.listdir(os.path.join(root, "secrets")):
        os.chmod(os.path.join(root, "secrets", f), 0o644 if f.startswith("open") else 0o600)
    env = {k: v for k, v in os.environ.items() if k not in ("CREDENTIALS_DIRECTORY", "STATE_DIRECTORY")}

    for kind, want_rc in (("bad", 78), ("good", 0)):
        d = os.path.join(root, kind)
        for name in sorted(os.listdir(d)):
            if not name.endswith(".yaml"):
                continue
            path = os.path.join(d, name)
            rc, diags, err = run(path, env)
            checks += 1
            if rc != want_rc:
                fail(f"{kind}/{name}: exit {rc}, expected {want_rc}\n{err}")
            exp = expected_lines(path)
            if kind == "bad" and not exp:
                fail(f"{kind}/{name}: has no '# expect:' lines")
            if diags != exp:
                fail(f"{kind}/{name}: diagnostics differ\n  got:\n    " + "\n    ".join(diags) +
                     "\n  expected:\n    " + "\n    ".join(exp))

    # A missing config file: exit 78, one line naming it.
    rc, diags, err = run(os.path.join(tmp, "nope.yaml"), env)
    checks += 1
    if rc != 78 or "nope.yaml" not in err:
        fail(f"missing file: exit {rc}: {err}")

    # An oversized file: refused before parsing, with its position.
    big = os.path.join(tmp, "big.yaml")
    with open(big, "w") as f:
        f.write("# padding\n" * (4 * 1024 * 1024 // 10 + 10))
    rc, diags, err = run(big, env)
    checks += 1
    if rc != 78 or diags != [big + ":1:1: error: file is larger than 4194304 bytes"]:
        fail(f"oversized: exit {rc}: {err}")

    # The shipped example config, with its /etc paths moved into the temp dir, loads.
    etc = os.path.join(tmp, "etc")
    os.makedirs(os.path.join(etc, "accounts.d"))
    text = open(example, encoding="utf-8").read().replace("/etc/igtokend/", etc + "/")
    for secret in re.findall(re.escape(etc) + r"/[\w.-]+\.secret", text):
        with open(secret, "w") as f:
            f.write("example-secret\n")
        os.chmod(secret, 0o600)
    for pem in re.findall(re.escape(etc) + r"/[\w.-]+\.pem", text):
        open(pem, "w").close()
    ex = os.path.join(etc, "igtokend.yaml")
    with open(ex, "w") as f:
        f.write(text)
    rc, diags, err = run(ex, env)
    checks += 1
    if rc != 0 or any(": error: " in d for d in diags):
        fail(f"example config: exit {rc}\n{err}")

    # The command line: usage errors, --version, --keygen, --rotate-key.
    def cli(*args, env_extra=None):
        return subprocess.run([igtokend, *args], capture_output=True, text=True, timeout=60,
                              env={**env, **(env_extra or {})})

    for args in (["--bogus"], ["extra-argument"], ["--keygen"], ["--check-config", "--keygen", "x"],
                 ["-c"], ["--keygen", os.path.join(tmp, "k"), "-c", "cfg"]):
        checks += 1
        p = cli(*args)
        if p.returncode != 64:
            fail(f"igtokend {' '.join(args)}: exit {p.returncode}, expected 64 (usage)")
    checks += 1
    p = cli("--version")
    if p.returncode != 0 or not p.stdout.startswith("igtokend "):
        fail(f"--version: exit {p.returncode}: {p.stdout}")
    k1, k2, k3 = (os.path.join(tmp, n) for n in ("k1", "k2", "k3"))
    checks += 1
    p = cli("--keygen", k1)
    if p.returncode != 0 or (os.stat(k1).st_mode & 0o777) != 0o600 or len(open(k1).read()) != 65:
        fail(f"--keygen: exit {p.returncode}, mode {oct(os.stat(k1).st_mode)}")
    before = open(k1).read()
    checks += 1
    p = cli("--keygen", k1)
    if p.returncode != 1 or open(k1).read() != before or "refusing to overwrite" not in p.stderr:
        fail(f"--keygen over an existing file: exit {p.returncode}: {p.stderr}")
    cli("--keygen", k2)
    cli("--keygen", k3)
    cfg = os.path.join(tmp, "rot.yaml")
    with open(cfg, "w") as f:
        f.write("vault: rot-vault\nkey: k1\n")
    checks += 1
    p = cli("--rotate-key", k2, "-c", cfg)
    if p.returncode != 0 or "now sealed under" not in p.stderr:
        fail(f"--rotate-key: exit {p.returncode}: {p.stderr}")
    checks += 1
    p = cli("--rotate-key", k2, "-c", cfg)  # done already: nothing to do
    if p.returncode != 0:
        fail(f"--rotate-key again: exit {p.returncode}: {p.stderr}")
    checks += 1
    with open(cfg, "w") as f:
        f.write("vault: rot-vault\nkey: k3\n")
    p = cli("--rotate-key", k1, "-c", cfg)  # neither key opens it
    if p.returncode != 1 or "does not open" not in p.stderr:
        fail(f"--rotate-key with a wrong key: exit {p.returncode}: {p.stderr}")
    checks += 1
    p = cli("-c", cfg)  # the daemon refuses the wrong key: exit 1, one line
    if p.returncode != 1 or len([l for l in p.stderr.splitlines() if "error" in l]) != 1:
        fail(f"start with the wrong key: exit {p.returncode}: {p.stderr}")

print(f"{checks - failures} passed, {failures} failed")
sys.exit(1 if failures else 0)

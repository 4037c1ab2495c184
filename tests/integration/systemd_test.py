#!/usr/bin/env python3
"""igtokend under a real systemd, booted in a PID + mount namespace.

Everything installed goes to tmpfs mounts inside the namespace (/usr/local,
/run, /var/lib, /var/log, copies of /etc/passwd and friends): the host is left
as it was. The namespace's systemd is always killed by its PID at the end.
Exits 77 (skipped) only where systemd cannot boot here, saying why.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

BUILD = os.environ.get("IGTOKEND_BUILD_DIR", os.path.join(HERE, "..", "..", "build"))
failures = 0
checks = 0


def check(cond, what):
    global failures, checks
    checks += 1
    if not cond:
        failures += 1
        print("FAIL:", what, flush=True)
    else:
        print("ok:", what, flush=True)


def skip(why):
    print("SKIP:", why)
    sys.exit(77)


BOOT = r"""#!/bin/sh
set -e
mount --make-rprivate /
for d in /run /usr/local /var/lib /var/log; do mount -t tmpfs -o mode=755 tmpfs $d; done
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
# /etc: writes (sysusers) go to a layer of our own, or to a copy
mkdir -p {stage}/upper {stage}/work
if ! mount -t overlay overlay -o lowerdir=/etc,upperdir={stage}/upper,workdir={stage}/work /etc 2>/dev/null; then
    cp -a /etc/. {stage}/etc-copy/ 2>/dev/null || {{ mkdir -p {stage}/etc-copy && cp -a /etc/. {stage}/etc-copy/; }}
    mount --bind {stage}/etc-copy /etc
fi
mkdir -p /run/systemd/system/igtokend.service.d
# Nothing of the boot itself may run: it would act on the host (clean /tmp,
# sysctls, ...). Only journald stays, to check the journal fields.
for u in $(ls /lib/systemd/system/sysinit.target.wants /etc/systemd/system/sysinit.target.wants \
           /lib/systemd/system/sockets.target.wants /lib/systemd/system/timers.target.wants \
           /etc/systemd/system/timers.target.wants 2>/dev/null | grep -v -e '^/' -e '^$' -e '^systemd-journald'); do
    ln -sf /dev/null /run/systemd/system/$u
done
for u in tmp.mount systemd-tmpfiles-clean.timer systemd-tmpfiles-clean.service systemd-timesyncd.service \
         systemd-journal-flush.service; do
    ln -sf /dev/null /run/systemd/system/$u
done
printf '[Unit]\nDescription=igtokend test target\n' > /run/systemd/system/igtokend-test.target
# the simulator listens on 127.0.0.1, which the shipped unit denies; and systemd
# booted in a namespace here leaves /run/credentials/UNIT empty and root-only, so
# the key comes as a file the service user owns (`key:` in the config)
printf '[Service]\nIPAddressDeny=\nLoadCredential=\n' > /run/systemd/system/igtokend.service.d/test.conf
cmake --install {build} --prefix /usr/local > /dev/null
systemd-sysusers /usr/local/lib/sysusers.d/igtokend.conf
systemd-tmpfiles --create /usr/local/lib/tmpfiles.d/igtokend.conf
cp -r {stage}/etc/. /usr/local/etc/igtokend/
chown -R root:igtokend /usr/local/etc/igtokend
chmod 0640 /usr/local/etc/igtokend/igtokend.yaml /usr/local/etc/igtokend/ca.pem
chown igtokend /usr/local/etc/igtokend/shop.secret /usr/local/etc/igtokend/vault.key
export container=igtokend-test
exec /lib/systemd/systemd --system --unit=igtokend-test.target --log-target=console --log-level=warning
"""


def main():
    if os.geteuid() != 0:
        skip("needs root to boot systemd in a namespace")
    for tool in ("unshare", "nsenter", "/lib/systemd/systemd", "systemd-sysusers"):
        if not shutil.which(tool) and not os.path.exists(tool):
            skip("%s is not installed" % tool)
    # not under /tmp: the namespace gets a /tmp of its own
    stage = tempfile.mkdtemp(prefix="systemd-test-", dir=os.path.abspath(BUILD))
    os.chmod(stage, 0o755)
    sim = harness.Sim(stage)
    sim.config(min_age=0, lifetime=5184000)
    etc = os.path.join(stage, "etc")
    os.makedirs(etc)
    shutil.copy(sim.ca, os.path.join(etc, "ca.pem"))
    with open(os.path.join(etc, "shop.secret"), "w") as f:
        f.write(harness.APP_SECRET + "\n")
    os.chmod(os.path.join(etc, "shop.secret"), 0o600)
    subprocess.run([os.path.join(BUILD, "igtokend"), "--keygen", os.path.join(etc, "vault.key")], check=True,
                   capture_output=True)
    with open(os.path.join(etc, "igtokend.yaml"), "w") as f:
        f.write("""admins: [root]
key: /usr/local/etc/igtokend/vault.key
refresh: {jitter: 0}
apps:
  shop: {app_id: "1234567890", app_secret_file: /usr/local/etc/igtokend/shop.secret,
         api_url: "%s", oauth_url: "%s", ca_file: /usr/local/etc/igtokend/ca.pem}
accounts:
  shop-main: {app: shop}
""" % (sim.url, sim.url))
    boot = os.path.join(stage, "boot.sh")
    with open(boot, "w") as f:
        f.write(BOOT.format(stage=stage, build=os.path.abspath(BUILD)))
    os.chmod(boot, 0o755)
    log = open(os.path.join(stage, "systemd.log"), "w")
    ns = subprocess.Popen(["unshare", "--pid", "--fork", "--mount", "--mount-proc", boot], stdout=log,
                          stderr=subprocess.STDOUT)
    pid = None
    try:
        def find_pid():
            out = subprocess.run(["pgrep", "-P", str(ns.pid)], capture_output=True, text=True).stdout.split()
            return int(out[0]) if out else None
        try:
            pid = harness.wait_for(find_pid, 30, what="systemd in the namespace")
        except AssertionError:
            skip("systemd did not start in a namespace: " + open(log.name).read()[-500:])

        def sc(*args, check_rc=False):
            p = subprocess.run(["nsenter", "-t", str(pid), "-m", "-p", *args], capture_output=True, text=True,
                               timeout=60)
            if check_rc and p.returncode != 0:
                raise AssertionError("%s: %s" % (args, p.stderr))
            return p

        try:
            harness.wait_for(lambda: sc("systemctl", "is-system-running").stdout.strip() in ("running", "degraded"),
                             60, what="systemd running")
        except AssertionError:
            skip("systemd booted but never reached running: " + open(log.name).read()[-800:])
        sc("systemctl", "start", "systemd-journald.socket", "systemd-journald.service")

        def show(unit, *props):
            out = sc("systemctl", "show", unit, "-p", ",".join(props)).stdout
            return dict(l.split("=", 1) for l in out.splitlines() if "=" in l)

        try:
            run_checks(sc, show, sim, etc, pid)
        except Exception as e:  # noqa: BLE001 - report what the service said, then fail
            check(False, "unexpected: %r" % e)
        if failures:
            print(sc("systemctl", "status", "--no-pager", "igtokend.service", "igtokend.socket").stdout)
            print(sc("journalctl", "--no-pager", "-n", "60").stdout)
            if os.environ.get("IGTOKEND_KEEP_NS"):
                print("namespace kept: nsenter -t %d -m -p ..." % pid, flush=True)
                time.sleep(float(os.environ["IGTOKEND_KEEP_NS"]))
    finally:
        if pid:
            subprocess.run(["kill", "-9", str(pid)])
        ns.kill()
        ns.wait()
        log.close()
        sim.stop()
        shutil.rmtree(stage, ignore_errors=True)
    print("%d passed, %d failed" % (checks - failures, failures))
    sys.exit(1 if failures else 0)


def run_checks(sc, show, sim, etc, pid):
    if True:
        # socket activation: only the socket runs until the first client connects
        sc("systemctl", "start", "igtokend.socket", check_rc=True)
        check(show("igtokend.service", "ActiveState")["ActiveState"] == "inactive", "service waits for a client")
        p = sc("timeout", "20", "/usr/local/bin/igtokenctl", "status")
        check(p.returncode == 0 and "shop-main" in p.stdout, "the first client starts it: " + p.stderr.strip())
        st = show("igtokend.service", "ActiveState", "StatusText", "MainPID", "NRestarts")
        check(st["ActiveState"] == "active", "igtokend.service active")
        check(st["StatusText"].startswith("1 account: 1 no_token"), "StatusText: " + st["StatusText"])
        tok = sim.token(lifetime=5184000)
        p = subprocess.run(["nsenter", "-t", str(pid), "-m", "-p", "/usr/local/bin/igtokenctl", "import",
                            "shop-main"], input=tok + "\n", capture_output=True, text=True, timeout=60)
        check(p.returncode == 0, "import through the activated socket: " + p.stderr.strip())
        harness.wait_for(lambda: "1 fresh" in show("igtokend.service", "StatusText")["StatusText"], 10,
                         what="StatusText to follow")
        check("next refresh in" in show("igtokend.service", "StatusText")["StatusText"], "StatusText names the next refresh")
        main_pid = show("igtokend.service", "MainPID")["MainPID"]
        p = sc("systemctl", "reload", "igtokend.service")
        st = show("igtokend.service", "ActiveState", "MainPID")
        check(p.returncode == 0 and st["ActiveState"] == "active" and st["MainPID"] == main_pid,
              "reload keeps the same process running")
        time.sleep(0.5)
        j = sc("journalctl", "-u", "igtokend.service", "-o", "json", "--no-pager").stdout.splitlines()
        entries = [json.loads(l) for l in j if l.strip()]
        check(any(e.get("ACCOUNT") == "shop-main" and e.get("APP") == "shop" for e in entries),
              "journal entries carry ACCOUNT= and APP= fields")
        check(any("reloaded" in str(e.get("MESSAGE", "")) for e in entries), "the reload is in the journal")
        secrets = [tok, harness.APP_SECRET, open(os.path.join(etc, "vault.key")).read().strip()]
        secrets += list(sim.call("/tokens"))
        check(not any(s in l for s in secrets for l in j), "no secret in the journal")
        check(show("igtokend.service", "WatchdogTimestampMonotonic")["WatchdogTimestampMonotonic"] != "0",
              "watchdog pings arrive")
        sc("systemctl", "stop", "igtokend.service", "igtokend.socket")
        st = show("igtokend.service", "ActiveState", "Result", "ExecMainStatus")
        check(st["ActiveState"] == "inactive" and st["Result"] == "success" and st["ExecMainStatus"] == "0",
              "stops cleanly: %s" % st)
        vault = sc("ls", "-la", "/var/lib/igtokend/vault").stdout
        check("shop-main.token" in vault, "the vault is in the StateDirectory")


if __name__ == "__main__":
    main()

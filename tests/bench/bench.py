#!/usr/bin/env python3
"""igtokend benchmarks: figures, not pass/fail. Prints a table.

    tests/bench/bench.py [--build DIR] [reads] [startup] [idle] [refresh]

reads    token reads/s and p50/p99 at 1 and 50 clients, next to redis-benchmark GET
         on a Unix socket (redis-server from Debian, started and stopped here)
startup  time from start to READY=1 and RSS, with 10k and 100k accounts in the vault
idle     wake-ups of an idle daemon with 10k accounts over 60 s
refresh  wall time and daemon CPU time to refresh 10k due accounts against the simulator
"""
import argparse
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402

ROWS = []


def row(what, figure, note=""):
    ROWS.append((what, figure, note))
    print("  %-58s %-22s %s" % (what, figure, note), flush=True)


def setup(build, accounts=None, refresh=None):
    d = tempfile.mkdtemp(prefix="igtokend-bench-")
    os.chmod(d, 0o755)
    sim = harness.Sim(d)
    sim.config(min_age=0, lifetime=5184000)
    env = harness.Env(sim, d)
    env.write_config(accounts=accounts, refresh=refresh)
    return d, sim, env


def bench_reads(build, seconds=5):
    d, sim, env = setup(build)
    try:
        env.start()
        tok = sim.token(lifetime=5184000)
        rc, out, err = env.import_token(tok)
        assert rc == 0, err
        for clients in (1, 50):
            out = subprocess.run([os.path.join(build, "tests", "bench", "readbench"), env.socket, "shop-main",
                                  str(clients), str(seconds)], capture_output=True, text=True, check=True).stdout
            _, rps, p50, p99, fails = out.split()
            row("igtokend token reads, %d client%s" % (clients, "s" if clients > 1 else ""),
                "%s/s" % rps, "p50 %s ms, p99 %s ms" % (p50, p99))
        env.stop()
        rsock = os.path.join(d, "redis.sock")
        r = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", rsock, "--unixsocketperm", "700",
                              "--save", "", "--appendonly", "no", "--dir", d], stdout=subprocess.DEVNULL)
        try:
            harness.wait_for(lambda: os.path.exists(rsock), 10, what="redis")
            subprocess.run(["redis-cli", "-s", rsock, "set", "key:__rand_int__", "x" * 300], check=True,
                           capture_output=True)
            for clients in (1, 50):
                n = 100000 if clients == 1 else 400000
                out = subprocess.run(["redis-benchmark", "-s", rsock, "-t", "get", "-c", str(clients), "-n", str(n),
                                      "-d", "300", "--csv"], capture_output=True, text=True, check=True).stdout
                rec = list(csv.DictReader(io.StringIO(out)))[0]
                row("redis-benchmark GET (Unix socket), %d client%s" % (clients, "s" if clients > 1 else ""),
                    "%s/s" % rec["rps"].split(".")[0], "p50 %s ms, p99 %s ms" % (rec["p50_latency_ms"], rec["p99_latency_ms"]))
        finally:
            r.terminate()
            r.wait()
    finally:
        if env.daemon:
            env.stop()
        sim.stop()
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "..", "build"))
    ap.add_argument("what", nargs="*", default=["reads"])
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    harness.IGTOKEND = os.path.join(build, "igtokend")
    harness.IGTOKENCTL = os.path.join(build, "igtokenctl")
    print("igtokend benchmarks (%s, %d CPUs)" % (time.strftime("%Y-%m-%d"), os.cpu_count()))
    for w in a.what:
        globals()["bench_" + w](build)


if __name__ == "__main__":
    main()

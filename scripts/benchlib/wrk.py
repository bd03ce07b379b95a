"""HTTP load with Debian's wrk, run inside a root (loopback only), bounded in time."""

import json
import shlex

from .systems import LIB


def run(side, host, connections, seconds):
    """One wrk run against HOST (a Host header nginx routes on); a dict of figures:
    rps, p50_ms, p90_ms, p99_ms, errors (connect/read/write/timeout + non-2xx), requests."""
    cmd = (f"timeout {int(seconds) + 30} wrk -t1 -c{connections} -d{seconds}s --timeout 10s "
           f"-s {LIB}/wrk-json.lua -H {shlex.quote('Host: ' + host)} http://127.0.0.1:80/")
    out = side.out(cmd, timeout=seconds + 60)
    line = [l for l in out.splitlines() if l.startswith("{")][-1]
    r = json.loads(line)
    secs = r["duration_us"] / 1e6
    return {
        "rps": round(r["requests"] / secs, 1),
        "p50_ms": r["p50_us"] / 1000, "p90_ms": r["p90_us"] / 1000, "p99_ms": r["p99_us"] / 1000,
        "max_ms": r["max_us"] / 1000,
        "requests": r["requests"],
        "errors": sum(r["errors"].values()),
    }

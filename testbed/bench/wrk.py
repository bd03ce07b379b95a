"""HTTP load with Debian's wrk, run inside a root (loopback only), bounded in time."""

import shlex

from .systems import INROOT


def run(side, host, connections, seconds, path="/"):
    """One wrk run of GET PATH against HOST (a Host header nginx routes on); a dict of figures:
    rps, p50_ms, p90_ms, p99_ms, errors (connect/read/write/timeout + non-2xx), requests, and
    server_cpu_us / nginx_cpu_us: CPU microseconds a request of the app server's processes
    (every uwsgi or gunicorn process of the root) and of nginx, from /proc in the root. At
    saturation on 2 cores, requests/s follow the CPU a request; unlike requests/s, the CPU of
    these processes does not count the other work of a shared machine."""
    r = side.inroot(f"wrk --host {shlex.quote(host)} --conns {connections} --seconds {seconds:g}"
                    f" --path {shlex.quote(path)}",
                    timeout=seconds + 60)
    secs = r["duration_us"] / 1e6
    n = r["requests"]
    return {
        "rps": round(n / secs, 1),
        "p50_ms": r["p50_us"] / 1000, "p90_ms": r["p90_us"] / 1000, "p99_ms": r["p99_us"] / 1000,
        "max_ms": r["max_us"] / 1000,
        "requests": n,
        "errors": sum(r["errors"].values()),
        "server_cpu_us": round(r["cpu_seconds"]["server"] / n * 1e6, 2) if n else None,
        "nginx_cpu_us": round(r["cpu_seconds"]["nginx"] / n * 1e6, 2) if n else None,
    }

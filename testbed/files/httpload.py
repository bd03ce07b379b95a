"""The HTTP load client of the testbed, run inside a root by Debian's python3 (stdlib only).

As a library (the bench's inroot.py): run() keeps N keep-alive connections busy against nginx
on 127.0.0.1:80 and returns one record per request.

As a command (the system tests, testbed.stack.Load): numbered requests.
Usage: httpload.py HOST CONNECTIONS MAX_SECONDS STOP_FILE MIN_REQUESTS
Sends GET /seq/N (N = 1, 2, ... across all connections) with Host: HOST until STOP_FILE exists
and at least MIN_REQUESTS were sent, or MAX_SECONDS passed (a bound, so a hung server cannot
hang the test). A request succeeds when the answer is 200 with the body "APP N" (APP = HOST
without ".test"). Prints one JSON object: counts, the numbers answered, the first failures.
"""

import http.client
import itertools
import json
import os
import sys
import threading
import time


def run(host, connections, keep_going, path=lambda n: "/", good=lambda n, status, body: status == 200,
        timeout=10):
    """Requests over CONNECTIONS threads, each on its own keep-alive connection, while
    KEEP_GOING(requests started so far) is true. Request N (1, 2, ...) is GET PATH(N) with
    Host: HOST; GOOD(N, status, body) says whether its answer is right.
    Returns (start time, [(n, started s, latency s, good, detail)]) in completion order."""
    counter = itertools.count(1)
    lock = threading.Lock()
    records = []
    start = time.monotonic()

    def worker():
        conn = None
        while True:
            with lock:
                n = next(counter)
            if not keep_going(n - 1):
                break
            t0 = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", 80, timeout=timeout)
                conn.request("GET", path(n), headers={"Host": host})
                resp = conn.getresponse()
                body = resp.read().decode(errors="replace")
                ok = good(n, resp.status, body)
                detail = f"{resp.status} {body[:80]!r}"
                if resp.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                ok, detail = False, f"{type(e).__name__}: {e}"
                if conn is not None:
                    conn.close()
                conn = None
            t1 = time.monotonic()
            with lock:
                records.append((n, t0 - start, t1 - t0, ok, detail))
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return start, records


def numbered(host, connections, max_seconds, stop_file, min_requests):
    """The system tests' numbered load (see the module's usage); its JSON result as a dict."""
    app = host.removesuffix(".test")
    deadline = time.monotonic() + max_seconds

    def keep_going(sent):
        if time.monotonic() > deadline:
            return False
        return not (os.path.exists(stop_file) and sent >= min_requests)

    start, records = run(host, connections, keep_going, path=lambda n: f"/seq/{n}",
                         good=lambda n, status, body: status == 200 and body == f"{app} {n}\n")
    ok = [r[0] for r in records if r[3]]
    failed = [r for r in records if not r[3]]
    # When the failures happened (seconds since start): how long an outage lasted.
    failure_times = [r[1] + r[2] for r in failed]
    return {
        "sent": len(records), "ok": len(ok), "failed": len(failed),
        "ok_numbers": sorted(ok), "failed_numbers": sorted(r[0] for r in failed),
        "errors": [f"/seq/{r[0]}: {r[4]}" for r in sorted(failed)[:20]],
        "seconds": round(time.monotonic() - start, 3),
        "timed_out": time.monotonic() > deadline,
        "max_latency_seconds": round(max((r[2] for r in records), default=0), 3),
        "failure_window_seconds": round(max(failure_times) - min(failure_times), 3) if failure_times else 0,
    }


if __name__ == "__main__":
    host, connections, max_seconds, stop_file, min_requests = sys.argv[1:6]
    print(json.dumps(numbered(host, int(connections), float(max_seconds), stop_file, int(min_requests))))

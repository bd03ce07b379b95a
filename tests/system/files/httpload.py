"""HTTP load client run inside a test root: numbered requests over N keep-alive connections.

Usage: httpload.py HOST CONNECTIONS MAX_SECONDS STOP_FILE MIN_REQUESTS
Sends GET /seq/N (N = 1, 2, ... across all connections) to 127.0.0.1:80 with Host: HOST until
STOP_FILE exists and at least MIN_REQUESTS were sent, or MAX_SECONDS passed (a bound, so a
hung server cannot hang the test). A request succeeds when the answer is 200 with the body
"APP N" (APP = HOST without ".test"). Prints one JSON object: counts, the numbers answered,
the first failures.
"""

import http.client
import itertools
import json
import os
import sys
import threading
import time

host, connections, max_seconds, stop_file, min_requests = sys.argv[1:6]
connections, max_seconds, min_requests = int(connections), float(max_seconds), int(min_requests)
app = host.removesuffix(".test")
counter = itertools.count(1)
lock = threading.Lock()
ok, failed, errors = [], [], []
failure_times = []  # seconds since start of each failed request: how long an outage lasted
deadline = time.monotonic() + max_seconds


def done(sent):
    if time.monotonic() > deadline:
        return True
    return os.path.exists(stop_file) and sent >= min_requests


def worker():
    conn = None
    while True:
        with lock:
            n = next(counter)
        if done(n - 1):
            return
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", 80, timeout=10)
            conn.request("GET", f"/seq/{n}", headers={"Host": host})
            resp = conn.getresponse()
            body = resp.read().decode(errors="replace")
            good = resp.status == 200 and body == f"{app} {n}\n"
            detail = f"{resp.status} {body[:80]!r}"
            if resp.getheader("connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as e:
            good, detail = False, f"{type(e).__name__}: {e}"
            if conn is not None:
                conn.close()
            conn = None
        with lock:
            (ok if good else failed).append(n)
            if not good:
                failure_times.append(time.monotonic() - start)
            if not good and len(errors) < 20:
                errors.append(f"/seq/{n}: {detail}")


start = time.monotonic()
threads = [threading.Thread(target=worker) for _ in range(connections)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({
    "sent": len(ok) + len(failed), "ok": len(ok), "failed": len(failed),
    "ok_numbers": sorted(ok), "failed_numbers": sorted(failed), "errors": errors,
    "seconds": round(time.monotonic() - start, 3),
    "timed_out": time.monotonic() > deadline,
    "failure_window_seconds": round(max(failure_times) - min(failure_times), 3) if failure_times else 0,
}))

"""Figure 2: time from enabling an app to its first HTTP 200 through nginx (median of N).

Three configurations: this package as installed (emperor-freq 1), this package with Debian's
default scan (EMPEROR_OPTS="--emperor-freq 3"), and Debian's emperor (scan 3 s), where
"enabling" is the admin's symlink into /etc/uwsgi-emperor/vassals/. Each trial enables a new
app (no stop in between) after a random pause of up to one scan period, so the moment of
enabling falls anywhere in the emperor's scan cycle, as it does for an admin.
"""

import random
import threading

from .log import say
from .stats import median

FREQ3 = 'EMPEROR_OPTS="--emperor-freq 3"'


def set_emperor_opts(side, opts):
    side.run(f"sed -i 's/^EMPEROR_OPTS=.*/EMPEROR_OPTS=\"{opts}\"/' /etc/default/uwsgi-emperor && "
             "/etc/init.d/uwsgi-emperor restart >/dev/null && uwsgi-ensite -q --wait --timeout=30 hello slow",
             timeout=120)


def trials(side, label, n, period, prefix, results):
    rng = random.Random(f"{label}")
    names = [f"{prefix}{i}" for i in range(1, n + 1)]
    for name in names:
        side.app_ini(name, "hello")
    times = []
    for i, name in enumerate(names):
        side.run(f"sleep {rng.uniform(0, period):.3f}")
        r = side.up([name], timeout=30)
        times.append(r["seconds"])
        say(f"figure 2: {label}: trial {i + 1}/{n}: {r['seconds']:.3f} s")
    side.down(names)
    results[label] = {"median_s": median(times), "min_s": min(t for t in times if t is not None),
                      "max_s": max(t for t in times if t is not None), "trials": times,
                      "scan_period_s": period}


def run(sides, scale):
    ours, deb = sides["ours"], sides["debian"]
    results = {}
    trials(ours, "ours", scale.ensite_trials, 1, "ea", results)
    set_emperor_opts(ours, "--emperor-freq 3")
    try:
        # The two 3 s configurations wait on their scans most of the time: run side by side.
        threads = [threading.Thread(target=trials, args=(ours, "ours_freq3", scale.ensite_trials, 3, "eb", results)),
                   threading.Thread(target=trials, args=(deb, "debian", scale.ensite_trials, 3, "ec", results))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        set_emperor_opts(ours, "")
    for key in ("ours", "ours_freq3", "debian"):
        if key not in results:
            raise RuntimeError(f"figure 2: {key} did not finish")
    return results

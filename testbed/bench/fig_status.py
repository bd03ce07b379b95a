"""Figure 7: how long `uwsgi-query --status` (and --status --json, --check, --metrics) takes
with N enabled apps (N = 1, 10, 100), this package only (Debian's uwsgi has no Emperor stats
to read: python3-uwsgi-ensite shows what is enabled, nothing more).

The apps are the hello app with `processes = 1`, everything else from the package's vassal
defaults (so each has its stats server, /run/uwsgi/NAME.stats). For the figure, apps-available
holds exactly these N apps: hello and slow are stopped and every disabled app's ini (of the
figures before) is moved aside meanwhile, then put back. Before the timings every app must be
running (uwsgi-query --status exits 0) and every app's stats server must have answered (its
workers are in --status --json); otherwise the figure would time less than it says.
Each form runs once unmeasured, then TRIALS times (wall time of the whole command, as root in
the root, output to /dev/null; the interpreter's start included). `uwsgi-query --list` (the
confdir only, no Emperor, no socket) is the floor the others are measured against.
"""

import json

from .log import say
from .stats import median
from .systems import wait_running

# form -> the command timed
FORMS = {
    "list": "uwsgi-query --list",
    "status": "uwsgi-query --status",
    "json": "uwsgi-query --status --json",
    "check": "uwsgi-query --check",
    "metrics": "uwsgi-query --metrics",
}
PREFIX = "st"
APP = """[uwsgi]
# Everything else (socket, stats server, user, log) from the package's vassal defaults.
chdir = /srv/bench
module = benchapp:hello
processes = 1
"""
AVAILABLE, ENABLED = "/etc/uwsgi/apps-available", "/etc/uwsgi/apps-enabled"
ASIDE = "/srv/bench/status-aside"


def snapshot(side):
    """What --status --json says, counted: apps listed, enabled, running, with worker figures."""
    report = json.loads(side.out("uwsgi-query --status --json", check=False))
    apps = report["apps"]
    return {"listed": len(apps),
            "enabled": sum(1 for a in apps if a["enabled"]),
            "running": sum(1 for a in apps if a["state"] == "running"),
            "with_worker_figures": sum(1 for a in apps if a["workers"] and not a["stats_problem"]),
            "vassals": report["vassals"]}


def run(sides, scale):
    ours = sides["ours"]
    result = {}
    ours.down(["hello", "slow"])
    ours.run(f"mkdir -p {ASIDE} && for f in {AVAILABLE}/*.ini; do "
             f"[ -e {ENABLED}/$(basename $f) ] || mv $f {ASIDE}/; done")
    enabled = []
    try:
        for n in scale.status_apps:
            new = [f"{PREFIX}{i}" for i in range(len(enabled) + 1, n + 1)]
            for name in new:
                ours.write(f"{AVAILABLE}/{name}.ini", APP)
            up = ours.up(new, timeout=300)
            if up["missing"]:
                raise RuntimeError(f"figure 7: {up['missing'][:5]} never answered")
            enabled += new
            wait_running(ours, 120)
            seen = snapshot(ours)
            if not seen["listed"] == seen["enabled"] == seen["running"] == seen["with_worker_figures"] == n:
                raise RuntimeError(f"figure 7: {n} apps: uwsgi-query --status --json shows {seen}")
            cell = result.setdefault(str(n), {"apps": seen})
            for form, command in FORMS.items():
                ours.run(f"{command} >/dev/null")
                times = ours.inroot(f"time-cmd --n {scale.status_trials} --cmd '{command} >/dev/null'",
                                    timeout=600)["seconds"]
                cell[form] = {"median_s": median(times), "min_s": round(min(times), 4),
                              "max_s": round(max(times), 4), "trials": [round(t, 4) for t in times]}
                say(f"figure 7: {n} apps: {command}: median {cell[form]['median_s']:.3f} s "
                    f"(min {min(times):.3f}, max {max(times):.3f})")
    finally:
        if enabled:
            ours.down(enabled)
            ours.run("rm " + " ".join(f"{AVAILABLE}/{n}.ini" for n in enabled))
        ours.run(f"mv {ASIDE}/*.ini {AVAILABLE}/ 2>/dev/null; rmdir {ASIDE}")
        ours.up(["hello", "slow"], timeout=60)
    return result

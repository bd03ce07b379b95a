"""Figure 1: requests/s, p50/p99 latency and CPU a request at 1, 16, 64 connections, hello
and slow apps.

Each round runs every (connections, app) cell for every system in turn, the order of the
systems rotated each round (A B C, B C A, ...), so drift of a busy machine hits all alike.
This package and Debian's uWSGI, the comparison the figure is for, always run back to back,
first one then the other in turn: neither always follows the same system (an earlier
design had Debian's run right after ours in 4 of 5 rounds). Each hello cell of a round starts
with an unmeasured 1 s run of its first system. A cell's figure is the median
over rounds; its ratio is the median of the per-round ratios system/ours (same round,
seconds apart for Debian's uWSGI, a minute at most for the others).
"""

from . import wrk
from .log import say
from .stats import median, ratio

import collections

APPS = ("hello", "slow")


# A variant is this package's uwsgi serving the hello app exactly as its Emperor runs a vassal,
# with the vassal defaults passed through a shell filter: the before/after of one package
# default, measured in every round beside the package as it ships. Started by
# systems.start_variant(). STYLE is its matplotlib line style in the plots.
Variant = collections.namedtuple("Variant", "app edit label style")
VARIANTS = {
    # touch-logreopen, the rotation mechanism before issue 14: it turns on uWSGI's log
    # master, every log line goes through the master.
    "ours_log_master": Variant("hellolm", "sed '$a touch-logreopen = /var/lib/uwsgi-emperor/logrotate.trigger'",
                               "this package with the log master (touch-logreopen)", "o:"),
}
# system -> (root it runs in, Host header); the ceiling is nginx answering by itself.
SYSTEMS = {
    "ours": ("ours", "{app}.test"),
    "debian": ("debian", "{app}.test"),
    "gunicorn": ("debian", "{app}.gunicorn"),
    "ceiling": ("ours", "ceiling.test"),
    **{name: ("ours", f"{v.app}.test") for name, v in VARIANTS.items()},
}
LABELS = {"ours": "this package", "debian": "Debian's uWSGI", "gunicorn": "gunicorn",
          "ceiling": "nginx ceiling", **{name: v.label for name, v in VARIANTS.items()}}


def _one(sides, system, app, conns, seconds):
    side, host = SYSTEMS[system]
    return wrk.run(sides[side], host.format(app=app), conns, seconds)


def orders(names, rnd):
    """The order of NAMES in round RND: rotated by one each round, with "ours" and "debian"
    one unit, in turn ours first and Debian's first. The turn also changes with each full
    rotation, so that the pair does not always start a round with the same one first."""
    others = [(n,) for n in names if n not in ("ours", "debian")]
    turn = (rnd + rnd // (len(others) + 1)) % 2
    units = [("ours", "debian") if turn == 0 else ("debian", "ours")] + others
    k = rnd % len(units)
    return [n for unit in units[k:] + units[:k] for n in unit]


def run(sides, scale):
    for v in VARIANTS.values():
        sides["ours"].start_variant(v.app, "hello", v.edit)
    say("figure 1: warming up every system")
    for system in SYSTEMS:
        for app in APPS if system not in VARIANTS else ("hello",):
            _one(sides, system, app, 4, 1)
    raw = {}  # (app, conns, system) -> [per-round result]
    names = list(SYSTEMS)
    for rnd in range(scale.rounds):
        order = orders(names, rnd)
        for conns in scale.connections:
            for app in APPS if rnd < scale.slow_rounds else ("hello",):
                # nginx's own answer (and a variant of the hello app) is measured on hello only
                cell = [s for s in order if app == "hello" or s not in set(VARIANTS) | {"ceiling"}]
                # Unmeasured: the first run of a hello cell, after a cell of other connections
                # or app, had a p99 up to 3x the same system's later in the round. Not on the
                # slow app: the requests wrk leaves behind (up to 62 at 64 connections, 50 ms
                # each for 2 workers) would still fill the listen queue when the measured
                # run starts, and nginx answers 502 to what does not fit.
                if app == "hello":
                    _one(sides, cell[0], app, conns, 1)
                for system in cell:
                    r = _one(sides, system, app, conns, scale.seconds)
                    raw.setdefault((app, conns, system), []).append(r)
                    say(f"figure 1 round {rnd + 1}/{scale.rounds}: {app:5} c={conns:<3} {system:8} {line(r)}")
    for v in VARIANTS.values():
        sides["ours"].stop_variant(v.app)
    result = {}
    for app in APPS:
        for conns in scale.connections:
            cell = result.setdefault(app, {}).setdefault(str(conns), {})
            ours = raw[(app, conns, "ours")]
            for system in names:
                if system in VARIANTS and app != "hello":
                    continue
                rounds = raw.get((app, conns, system)) or raw[("hello", conns, system)]
                cell[system] = summary(rounds, ours)
    return result


def line(r):
    """One wrk result R (wrk.run) for the log."""
    return (f"{r['rps']:9.1f} req/s  p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:8.2f} ms  "
            f"CPU a request: server {r['server_cpu_us']} us, nginx {r['nginx_cpu_us']} us"
            + (f"  {r['errors']} errors" if r["errors"] else ""))


def summary(rounds, ours):
    """A cell's figures for one system from ROUNDS, its wrk result of each round, and OURS,
    this package's of the same rounds: medians over the rounds, and the medians of the
    per-round ratios system/ours."""
    ratios = [ratio(r["rps"], o["rps"]) for r, o in zip(rounds, ours)]
    p99_ratios = [ratio(r["p99_ms"], o["p99_ms"]) for r, o in zip(rounds, ours)]
    cpu_ratios = [ratio(r["server_cpu_us"], o["server_cpu_us"]) for r, o in zip(rounds, ours)]
    return {
        "rps": median(r["rps"] for r in rounds),
        "p50_ms": median(r["p50_ms"] for r in rounds),
        "p99_ms": median(r["p99_ms"] for r in rounds),
        "errors": sum(r["errors"] for r in rounds),
        "rps_ratio_to_ours": median(ratios),
        "rps_ratios_per_round": ratios,
        "p99_ratio_to_ours": median(p99_ratios),
        "server_cpu_us": median(r["server_cpu_us"] for r in rounds),
        "nginx_cpu_us": median(r["nginx_cpu_us"] for r in rounds),
        "server_cpu_ratio_to_ours": median(cpu_ratios),
        "rounds": rounds,
    }

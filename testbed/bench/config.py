"""Sizes of a run: `full` (make bench, about 30 minutes on 2 cores) or `tiny` (smoke test)."""

import dataclasses
import os
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[2]


@dataclasses.dataclass(frozen=True)
class Scale:
    name: str
    rounds: int                # rounds of figure 1, hello app
    slow_rounds: int           # rounds of figure 1, slow app (the servers wait alike there)
    seconds: float             # one wrk run
    connections: tuple         # figure 1
    ensite_trials: int         # figure 2 (median of)
    zerg_seconds: float        # figure 3: each load
    zerg_idle: int             # figure 3: the zergs' idle (the template says 30)
    vassals: tuple             # figure 4
    idle_seconds: float        # figure 4: idle CPU window
    ensite_q_trials: int       # figure 5
    build: bool                # figure 5: time `make deb` in a clone
    status_apps: tuple         # figure 7: enabled apps
    status_trials: int         # figure 7: timed runs of each uwsgi-query form (median of)
    restart_before_s: float    # figure 8: load before the Emperor's restart
    restart_after_s: float     # figure 8: load after the restart command returned


SCALES = {
    # 15 hello rounds: the per-round ratios of ours to Debian's uWSGI scatter (standard
    # deviation 3-8 % for req/s, 17-60 % for p99 in the 9-round runs of issue 14), and the
    # median of 15 moves about 0.77x as far from run to run as that of 9.
    "full": Scale("full", rounds=15, slow_rounds=3, seconds=3, connections=(1, 16, 64), ensite_trials=20,
                  zerg_seconds=15, zerg_idle=30, vassals=(1, 10, 100), idle_seconds=60,
                  ensite_q_trials=20, build=True, status_apps=(1, 10, 100), status_trials=20,
                  restart_before_s=3, restart_after_s=5),
    "tiny": Scale("tiny", rounds=1, slow_rounds=1, seconds=1, connections=(1, 16), ensite_trials=2,
                  zerg_seconds=4, zerg_idle=3, vassals=(1, 2), idle_seconds=2,
                  ensite_q_trials=2, build=False, status_apps=(1, 2), status_trials=2,
                  restart_before_s=1, restart_after_s=2),
}


def scale():
    name = os.environ.get("BENCH_SCALE", "full")
    if name not in SCALES:
        raise SystemExit(f"bench: BENCH_SCALE={name!r}: one of {', '.join(SCALES)}")
    s = SCALES[name]
    if os.environ.get("BENCH_SKIP_BUILD"):
        s = dataclasses.replace(s, build=False)
    return s


# The suite whose full run is the published one (bench/, BENCHMARKS.md); other suites' full
# runs go to bench/SUITE/.
PUBLISHED_SUITE = "bookworm"


def out_dir(s, suite):
    """Where results go: bench/ (bench/SUITE/) for a full run, build/bench-tiny/SUITE/ for the
    smoke test."""
    if s.name != "full":
        default = REPO / "build/bench-tiny" / suite
    else:
        default = REPO / "bench" / ("" if suite == PUBLISHED_SUITE else suite)
    return pathlib.Path(os.environ.get("BENCH_OUT", default))


def publishes(s):
    """A full run into bench/ (not BENCH_OUT): it updates BENCHMARKS.md."""
    return s.name == "full" and "BENCH_OUT" not in os.environ


def report_path(s, out, suite):
    published = s.name == "full" and "BENCH_OUT" not in os.environ and suite == PUBLISHED_SUITE
    return REPO / "BENCHMARKS.md" if published else out / "BENCHMARKS.md"


def work_dir():
    return REPO / "build" / "bench-work"

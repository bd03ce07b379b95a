"""Entry point of `make bench` (scripts/bench): run every figure group, write JSON, plots, report.

BENCH_ONLY=throughput,ensite,zerg,scale,package,django,status,restart runs a subset (while developing).
"""

import datetime
import json
import os
import pathlib
import subprocess
import sys
import time

from ..suites import SUITES, deb_file, host_suite

from . import compare, config, fig_django, fig_ensite, fig_package, fig_restart, fig_scale, fig_status
from . import fig_throughput, fig_zerg
from . import machine, plots, report, systems
from .log import say

GROUPS = ("throughput", "ensite", "zerg", "scale", "package", "django", "status", "restart")


def bench_suite():
    """The suite to measure: $SUITE (`make bench SUITE=trixie`), else the host's."""
    suite = os.environ.get("SUITE") or host_suite()
    if suite not in SUITES:
        raise SystemExit(f"bench: SUITE={suite!r}: one of {', '.join(SUITES)}")
    return suite


def package_deb(suite):
    if os.environ.get("BENCH_DEB"):
        return pathlib.Path(os.environ["BENCH_DEB"])
    deb = deb_file(suite)
    if not deb.is_file():
        raise SystemExit(f"bench: {deb.relative_to(config.REPO)} is missing: "
                         f"run `make deb SUITE={suite}` first")
    return deb


def publish_all():
    """Rewrite every full run's report from its results.json and the plots beside it:
    BENCHMARKS.md from bench/results.json (the published suite, with every other suite's
    figures) and bench/SUITE/BENCHMARKS.md of every other suite measured, so that the report
    code's changes reach all of them; the path of BENCHMARKS.md."""
    full = config.SCALES["full"]
    main_dir = config.out_dir(full, config.PUBLISHED_SUITE)
    main_json = main_dir / "results.json"
    if not main_json.exists():
        raise SystemExit(f"bench: {main_json} is missing: run `make bench SUITE={config.PUBLISHED_SUITE}` too")
    others = []
    for suite in SUITES:
        out = config.out_dir(full, suite)
        if suite == config.PUBLISHED_SUITE or not (out / "results.json").exists():
            continue
        results = json.loads((out / "results.json").read_text())
        report.write(results, config.report_path(full, out, suite), out, sorted(out.glob("*.png")))
        others.append(results)
    md = config.report_path(full, main_dir, config.PUBLISHED_SUITE)
    report.write(json.loads(main_json.read_text()), md, main_dir, sorted(main_dir.glob("*.png")), others)
    return md


def main():
    scale = config.scale()
    only = [g for g in os.environ.get("BENCH_ONLY", ",".join(GROUPS)).split(",") if g]
    suite = bench_suite()
    out = config.out_dir(scale, suite)
    out.mkdir(parents=True, exist_ok=True)
    deb = package_deb(suite)
    started = time.monotonic()
    results = {
        "bench_scale": scale.name,
        "suite": suite,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=config.REPO,
                                 capture_output=True, text=True).stdout.strip(),
        "machine": machine.describe(),
        "settings": {k: v for k, v in vars(scale).items()},
    }
    say(f"suite {suite}; scale {scale.name}; load average before the run: {results['machine']['loadavg_before']}")
    partial = out / "results.partial.json"

    def save_partial():
        partial.write_text(json.dumps(results, indent=1) + "\n")

    build_times = fig_package.make_deb_times(suite) if scale.build and "package" in only else None
    sides, tmp = systems.setup(deb, suite)
    try:
        results["versions"] = systems.versions(sides)
        say("versions:", results["versions"])
        results["ours_vassal"] = systems.vassal_options(sides["ours"], "hello")
        say("our hello vassal:", results["ours_vassal"])
        runners = {
            "throughput": lambda: fig_throughput.run(sides, scale),
            "ensite": lambda: fig_ensite.run(sides, scale),
            "zerg": lambda: fig_zerg.run(sides, scale),
            "scale": lambda: fig_scale.run(sides, scale),
            "package": lambda: fig_package.run(sides, scale, deb, build_times),
            "django": lambda: fig_django.run(sides, scale),
            "status": lambda: fig_status.run(sides, scale),
            "restart": lambda: fig_restart.run(sides, scale),
        }
        for group in GROUPS:
            if group in only:
                results[group] = runners[group]()
                save_partial()
    finally:
        say("stopping the roots")
        systems.teardown(sides, tmp)
    results["machine"]["loadavg_after"] = machine.loadavg()
    results["duration_s"] = round(time.monotonic() - started, 1)
    path = out / "results.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    results["changes_vs_previous"] = compare.print_changes(previous, results)
    path.write_text(json.dumps(results, indent=1) + "\n")
    partial.unlink(missing_ok=True)
    pngs = plots.render(results, out)
    md = config.report_path(scale, out, suite)
    report.write(results, md, out, pngs)
    if config.publishes(scale):
        # BENCHMARKS.md: the published suite's report and every other suite's figures, from
        # the newest full run of each (whichever suite this run measured).
        md = publish_all()
    say(f"done in {results['duration_s']} s: {md}, {path} and {len(pngs)} plots")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Rewrite the reports after changing the report code, without measuring
anything:
    /usr/bin/python3 -m testbed.bench.render
rewrites BENCHMARKS.md and every bench/SUITE/BENCHMARKS.md from their results.json (the plots
as they are), and so does naming one of those results.json; with a results JSON of another
run (a tiny one, BENCH_OUT), its plots and the BENCHMARKS.md beside it."""

import json
import pathlib
import sys

from ..suites import SUITES

from . import config, plots, report
from .__main__ import publish_all


def main():
    path = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else None
    full_runs = {config.out_dir(config.SCALES["full"], s).resolve() for s in SUITES}
    if path is None or path.parent.resolve() in full_runs:
        # a full run's report links the findings and (BENCHMARKS.md) sums up the other suites
        print(publish_all())
        return
    results = json.loads(path.read_text())
    md = path.parent / "BENCHMARKS.md"
    report.write(results, md, path.parent, plots.render(results, path.parent))
    print(md)


if __name__ == "__main__":
    main()

"""Rewrite the reports after editing bench/findings.md or the report code, without measuring
anything:
    PYTHONPATH=scripts:. /usr/bin/python3 -m benchlib.render
rewrites BENCHMARKS.md and every bench/SUITE/BENCHMARKS.md from their results.json (the plots
as they are); with a results JSON of another run (a tiny one, BENCH_OUT), its plots and the
BENCHMARKS.md beside it."""

import json
import pathlib
import sys

from . import plots, report
from .__main__ import publish_all


def main():
    if len(sys.argv) == 1:
        print(publish_all())
        return
    path = pathlib.Path(sys.argv[1])
    results = json.loads(path.read_text())
    md = path.parent / "BENCHMARKS.md"
    report.write(results, md, path.parent, plots.render(results, path.parent))
    print(md)


if __name__ == "__main__":
    main()

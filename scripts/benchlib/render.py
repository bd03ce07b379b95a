"""Re-render the plots and BENCHMARKS.md from a results JSON (e.g. after editing
bench/findings.md), without measuring anything:
    PYTHONPATH=scripts /usr/bin/python3 -m benchlib.render [bench/results.json]"""

import json
import pathlib
import sys

from . import config, plots, report


def main():
    path = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else config.REPO / "bench" / "results.json")
    results = json.loads(path.read_text())
    out = path.parent
    md = config.REPO / "BENCHMARKS.md" if out.resolve() == (config.REPO / "bench").resolve() else out / "BENCHMARKS.md"
    report.write(results, md, out, plots.render(results, out))
    print(md)


if __name__ == "__main__":
    main()

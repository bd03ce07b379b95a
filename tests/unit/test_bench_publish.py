"""Publishing the bench reports (testbed/bench/__main__.publish_all, also what
`python3 -m testbed.bench.render` runs): every full run's report is rewritten from its results.json,
and each links bench/findings.md (the findings are not copied into them).
Run on a copy of the committed results."""

import json
import shutil
import sys

from project import ROOT

from testbed.bench import __main__ as bench, config, render, report


def _copy_of_the_results(tmp_path, monkeypatch):
    """bench/ copied under TMP_PATH, every suite's report stale, a marker findings file; the
    publishing code pointed at them. The copied bench/ directory."""
    bench_dir = tmp_path / "bench"
    shutil.copytree(ROOT / "bench", bench_dir)
    others = sorted(p.parent.name for p in bench_dir.glob("*/results.json"))
    assert "trixie" in others
    for md in bench_dir.glob("*/BENCHMARKS.md"):
        md.write_text("stale\n")
    findings = bench_dir / "findings.md"
    findings.write_text("## Findings\n\nmarker 7f3a: written after the runs\n")
    monkeypatch.setattr(report, "FINDINGS", findings)
    monkeypatch.setattr(config, "REPO", tmp_path)
    monkeypatch.setattr(config, "out_dir", lambda scale, suite: bench_dir / (
        "" if suite == config.PUBLISHED_SUITE else suite))
    return bench_dir


def test_every_suites_report_is_rewritten_and_links_the_findings(tmp_path, monkeypatch):
    bench_dir = _copy_of_the_results(tmp_path, monkeypatch)
    others = sorted(p.parent.name for p in bench_dir.glob("*/results.json"))
    assert bench.publish_all() == tmp_path / "BENCHMARKS.md"

    published = (tmp_path / "BENCHMARKS.md").read_text()
    reports = {"bookworm": published, **{s: (bench_dir / s / "BENCHMARKS.md").read_text() for s in others}}
    for suite, text in reports.items():
        assert "marker 7f3a" not in text
        link = "bench/findings.md" if suite == "bookworm" else "../findings.md"
        assert text.count(f"in dated steps: [{link}]({link}).") == 1
        assert f"side by side with {suite}'s own uWSGI" in text
    # each report links its own plots, relative to where it lies
    assert "](bench/throughput.png)" in published
    for suite in others:
        assert "](throughput.png)" in reports[suite]
        # the published report carries the other suites' figures too
        assert report.suite_summary(json.loads((bench_dir / suite / "results.json").read_text())) in published


def test_rendering_a_full_runs_results_rewrites_every_report(tmp_path, monkeypatch, capsys):
    """`python3 -m testbed.bench.render bench/trixie/results.json` once wrote only trixie's report,
    and BENCHMARKS.md kept what it said before."""
    bench_dir = _copy_of_the_results(tmp_path, monkeypatch)
    (tmp_path / "BENCHMARKS.md").write_text("stale\n")
    monkeypatch.setattr(sys, "argv", ["render", str(bench_dir / "trixie" / "results.json")])
    render.main()
    assert capsys.readouterr().out == f"{tmp_path / 'BENCHMARKS.md'}\n"
    for md in [tmp_path / "BENCHMARKS.md", *bench_dir.glob("*/BENCHMARKS.md")]:
        assert md.read_text() != "stale\n" and md.read_text().count("in dated steps: [") == 1, md

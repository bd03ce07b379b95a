"""`make bench SUITE=...` end to end at tiny sizes, per suite: the harness runs against that
suite's build and Debian's uWSGI of that suite, and its JSON has every figure group with
numbers in it. No thresholds: benchmarks are not tests (the figures are in BENCHMARKS.md)."""

import json
import numbers
import os
import subprocess

import pytest

from project import ROOT, suite as suite_info

pytestmark = pytest.mark.system


def numbers_in(value):
    if isinstance(value, bool):
        return []
    if isinstance(value, numbers.Number):
        return [value]
    if isinstance(value, dict):
        return [n for v in value.values() for n in numbers_in(v)]
    if isinstance(value, list):
        return [n for v in value for n in numbers_in(v)]
    return []


def test_bench_runs_end_to_end_at_tiny_size(suite, deb_path, tmp_path):
    env = dict(os.environ, BENCH_SCALE="tiny", BENCH_OUT=str(tmp_path), SUITE=suite,
               PATH="/usr/sbin:/usr/bin:/sbin:/bin")
    env.pop("PYTHONPATH", None)  # scripts/bench runs testbed.bench from the top itself
    proc = subprocess.run([str(ROOT / "scripts/bench")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["suite"] == suite
    assert results["versions"]["debian"] == suite_info(suite).debian_uwsgi
    assert results["versions"]["python"].startswith(suite_info(suite).python.removeprefix("python") + ".")
    for group in ("throughput", "ensite", "zerg", "scale", "package", "status", "django", "restart"):
        assert numbers_in(results.get(group)), f"no figures in group {group}"
    for conns, cell in results["django"]["cells"].items():  # figure 6: both served the login page
        for system in ("ours", "debian"):
            assert cell[system]["rps"] > 0, (conns, system)
    for app in ("hello", "slow"):
        for cell in results["throughput"][app].values():
            for system in ("ours", "debian", "gunicorn", "ceiling"):
                assert cell[system]["rps"] > 0, (app, system)
                assert cell[system]["errors"] == 0, (app, system)  # no 502, no timeout
                assert cell[system]["nginx_cpu_us"] > 0, (app, system)
            for system in ("ours", "debian", "gunicorn"):  # the ceiling has no app server
                assert cell[system]["server_cpu_us"] > 0, (app, system)
    for cell in results["throughput"]["hello"].values():
        for variant in ("ours_log_master",):  # the default before issue 14
            assert cell[variant]["rps"] > 0, variant
    for key in ("ours", "ours_freq3", "debian"):
        assert results["ensite"][key]["median_s"] is not None
    assert results["zerg"]["with"]["requests"] > 0
    for pkg in ("ours", "debian"):
        assert results["package"]["sizes"][pkg]["deb_kb"] > 0
    # figure 1's hello app runs with the installed vassal defaults, its stats server among them
    vassal = results["ours_vassal"]
    assert vassal["options"]["stats"] == "/run/uwsgi/hello.stats"
    assert vassal["options"]["memory-report"] is None
    assert (vassal["state"], vassal["stats_server_answers"]) == ("running", True)
    for n in ("1", "2"):  # figure 7: exactly N apps, every one running with its worker figures
        cell = results["status"][n]
        assert {k: cell["apps"][k] for k in ("listed", "enabled", "running", "with_worker_figures")} == \
            dict.fromkeys(("listed", "enabled", "running", "with_worker_figures"), int(n))
        for form in ("list", "status", "json", "check", "metrics"):
            assert len(cell[form]["trials"]) == 2 and cell[form]["median_s"] > 0, (n, form)
    restart = results["restart"]  # figure 8: one restart of each Emperor under load
    assert (restart["connections"], restart["before_s"], restart["after_s"]) == (16, 1, 2)
    for system in ("ours", "debian"):
        r = restart[system]
        assert r["restart_status"] == 0 and r["restart_s"] > 0, system
        assert r["ok"] > 0 and r["ok"] + r["failed"] == r["requests"], system
        assert r["slowest_s"] > 0 and r["load_s"] > r["restart_started_s"] + r["restart_s"], system
    # the socket keeper: ours refuses no request across its restart (Debian's failures: recorded)
    assert restart["ours"]["failed"] == 0, restart["ours"]
    assert (restart["ours"]["first_failure_s"], restart["ours"]["last_failure_s"]) == (None, None)
    assert "## 8. A restart of the Emperor under load" in (tmp_path / "BENCHMARKS.md").read_text()
    for png in ("throughput.png", "latency-p99.png", "zerg-timeline.png", "scale.png"):
        assert (tmp_path / png).stat().st_size > 0
    assert (tmp_path / "BENCHMARKS.md").read_text().startswith("# Benchmarks")
    assert "[bench" in proc.stderr  # progress lines

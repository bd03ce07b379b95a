"""Figure 7 of the bench (testbed/bench/fig_status.py, `uwsgi-query --status` for N apps)
and the record of what figure 1's hello app ran with (systems.vassal_options): their report
sections and run-to-run comparison from made-up figures. The benchmark itself runs in
tests/system/test_bench_smoke.py."""

from testbed.bench import compare, fig_status, report


def _form(*trials):
    return {"median_s": sorted(trials)[len(trials) // 2], "min_s": min(trials), "max_s": max(trials),
            "trials": list(trials)}


def _status(run=None):
    cells = {str(n): {"apps": dict.fromkeys(("listed", "enabled", "running", "with_worker_figures"), n),
                      **{f: _form(0.05 + n / 1000, 0.06 + n / 1000, 0.07 + n / 1000) for f in fig_status.FORMS}}
             for n in (1, 100)}
    return {**cells, **({"run": run} if run else {})}


def test_the_section_has_a_row_per_n_with_each_form_median_and_range():
    text = report.status_section({"status": _status()})
    assert text.startswith("## 7. `uwsgi-query --status` for N apps\n")
    assert "median of 3 runs (min-max)" in text
    assert ("| N | `uwsgi-query --list` s | `uwsgi-query --status` s | `uwsgi-query --status --json` s"
            " | `uwsgi-query --check` s | `uwsgi-query --metrics` s |") in text
    assert "| 1 | " + " | ".join(["0.061 (0.051-0.071)"] * 5) + " |" in text
    assert "| 100 | " + " | ".join(["0.160 (0.150-0.170)"] * 5) + " |" in text
    assert "run of its own" not in text


def test_a_group_merged_from_a_run_of_its_own_names_that_run():
    run = {"date": "2026-12-02T16:05:00+00:00", "commit": "abc1234", "version": "2.0.31-5+deb12",
           "loadavg_before": "0.10 0.20 0.30"}
    text = report.status_section({"status": _status(run)})
    assert ("Measured in a run of its own (`BENCH_ONLY=status`): 2026-12-02T16:05:00+00:00, commit "
            "abc1234, 2.0.31-5+deb12, load average before it 0.10 0.20 0.30.") in text
    assert "| 1 | " in text and "| run |" not in text
    labels = compare.headline({"status": _status(run)})
    assert sorted(labels) == sorted(f"fig7 N={n} uwsgi-query {f} s" for n in (1, 100)
                                    for f in ("status", "json", "check", "metrics"))
    assert labels["fig7 N=100 uwsgi-query json s"] == (0.16, False)


def test_the_setup_says_what_the_hello_app_ran_with():
    options = dict.fromkeys(("master", "processes", "threads", "stats", "stats-no-cores", "memory-report",
                             "logto", "master-fifo", "touch-logreopen"))
    options.update({"processes": "2", "stats": "/run/uwsgi/hello.stats", "stats-no-cores": "true"})
    line = report.vassal_line({"ours_vassal": {"app": "hello", "options": options, "state": "running",
                                               "stats_server_answers": True}})
    assert line == ("  The hello app as uWSGI reads its ini with the installed vassal defaults: "
                    "`processes = 2`, `stats = /run/uwsgi/hello.stats`, `stats-no-cores = true`; not set: "
                    "`master`, `threads`, `memory-report`, `logto`, `master-fifo`, `touch-logreopen`. Its "
                    "stats server answered `uwsgi-query --status` (state: running) before the figures.")
    assert report.vassal_line({"commit": "33416c5"}) == (
        "  This run (commit 33416c5) did not record what its hello app ran with: runs record it "
        "since issue 25 gave every app a stats server (`stats = /run/uwsgi/%N.stats`); the defaults "
        "of an earlier run are in its commit's etc/uwsgi/vassal-defaults.ini, and the Findings below "
        "say what the hello app gets since then and what figure 1 measured with it.")

"""Figure 8 of the bench (testbed/bench/fig_restart.py, one restart of the Emperor under
load): what it counts from a load's records, its report section, its losses and run-to-run
figures, from made-up loads. The benchmark itself runs in tests/system/test_bench_smoke.py."""

from testbed.bench import compare, fig_restart, report


def _load(records, started=1.0, ended=2.5, status=0, seconds=4.5):
    """inroot.py load --cmd's answer: records (started s, latency s, ok) and the command's run."""
    return {"seconds": seconds, "records": records, "samples": [], "drained_after": None,
            "cmd": {"started": started, "ended": ended, "status": status}}


def test_the_summary_counts_ok_failed_the_slowest_and_when_the_failures_came():
    load = _load([(0.1, 0.002, True), (1.2, 0.004, False), (1.3, 1.5, True), (2.0, 0.003, False),
                  (2.9, 0.001, True)])
    assert fig_restart.summary(load) == {
        "requests": 5, "ok": 3, "failed": 2, "slowest_s": 1.5, "slowest_ok_s": 1.5,
        "first_failure_s": 1.2, "last_failure_s": 2.003, "restart_started_s": 1.0, "restart_s": 1.5,
        "restart_status": 0, "load_s": 4.5}


def test_without_failures_there_is_no_failure_window_and_a_failed_request_can_be_the_slowest():
    ours = fig_restart.summary(_load([(0.1, 0.002, True), (1.1, 1.4, True)]))
    assert (ours["failed"], ours["first_failure_s"], ours["last_failure_s"]) == (0, None, None)
    assert ours["slowest_s"] == ours["slowest_ok_s"] == 1.4
    timed_out = fig_restart.summary(_load([(0.1, 0.002, True), (1.1, 30.0, False)]))
    assert (timed_out["slowest_s"], timed_out["slowest_ok_s"]) == (30.0, 0.002)


def _restart(run=None, ours_slowest=1.2):
    ours = fig_restart.summary(_load([(0.5, 0.002, True), (1.1, ours_slowest, True)]))
    debian = fig_restart.summary(_load([(0.5, 0.002, True)] + [(1.0 + i / 100, 0.001, False) for i in range(40)]
                                       + [(2.0, 0.2, True)]))
    return {"connections": 16, "host": "hello.test", "before_s": 3, "after_s": 5, "ours": ours,
            "debian": debian, **({"run": run} if run else {})}


def test_the_section_has_a_row_for_each_system():
    text = report.restart_section({"restart": _restart()})
    assert text.startswith("## 8. A restart of the Emperor under load\n")
    assert "16 keep-alive connections" in text and "This package: `/etc/init.d/uwsgi-emperor restart`" in text
    assert "SIGQUIT to the emperor" in text
    assert ("| system | requests ok | requests failed | slowest request s | restart took s | restart at s"
            " | failures from-to s |") in text
    assert f"| {report.NAMES['ours']} | 2 | 0 | 1.200 | 1.50 | 1.00 | none |" in text
    assert f"| {report.NAMES['debian']} | 2 | 40 | 0.200 | 1.50 | 1.00 | 1.00-1.39 |" in text
    assert "run of its own" not in text


def test_a_group_merged_from_a_run_of_its_own_names_that_run_and_is_compared_run_to_run():
    run = dict.fromkeys(("date", "commit", "version", "loadavg_before"), "x")
    assert report.own_run("restart", None) == ""
    assert report.own_run("restart", run).startswith(" Measured in a run of its own (`BENCH_ONLY=restart`)")
    assert report.own_run("restart", run) in report.restart_section({"restart": _restart(run)})
    assert compare.headline({"restart": _restart(run)}) == {
        "fig8 restart ours failed": (0, False), "fig8 restart ours slowest s": (1.2, False),
        "fig8 restart debian failed": (40, False), "fig8 restart debian slowest s": (0.2, False)}


def test_a_slower_slowest_request_than_debians_is_a_loss_no_failure_is_not():
    lost = report.losses({"restart": _restart()})
    assert lost == ["figure 8: the slowest request across the restart: ours 1.200 s, Debian's 0.200 s."]
    assert report.losses({"restart": _restart(ours_slowest=0.2)}) == []

"""wait.wait_up, the body of uwsgi-ensite --wait: how each wait ends (its Reason), on real
sockets and pid files in a temporary directory. The uwsgi binary is absent here, so the app's
socket and log are the defaults (RUNDIR/NAME.sock, LOGDIR/NAME.log)."""

import os
import socket

import pytest

from uwsgi_emperor import wait


@pytest.fixture
def dirs(tmp_path):
    run, log, emperor = tmp_path / "run", tmp_path / "log", tmp_path / "emperor"
    for d in (run, log, emperor):
        d.mkdir()
    return run, log, emperor


def wait_up(dirs, tmp_path, timeout=0.2):
    run, log, emperor = dirs
    ticks = iter(range(1000))
    return wait.wait_up(
        "app1", ini=str(tmp_path / "app1.ini"), rundir=str(run), logdir=str(log),
        stats_path=str(emperor / "stats.sock"), pidfile=str(emperor / "emperor.pid"),
        timeout=timeout, uwsgi=str(tmp_path / "no-uwsgi"),
        clock=lambda: next(ticks) * 0.1, sleep=lambda seconds: None,
    )


def test_no_emperor(dirs, tmp_path):
    emperor = dirs[2]
    result = wait_up(dirs, tmp_path)
    assert (result.reason, result.ok, result.log_tail) == (wait.Reason.NO_EMPEROR, False, [])
    assert result.message == (
        f"no emperor running (nothing answers on {emperor}/stats.sock, no live process in "
        f"{emperor}/emperor.pid); app app1 starts when the emperor starts"
    )


def test_a_stale_pid_file_is_no_emperor(dirs, tmp_path):
    (dirs[2] / "emperor.pid").write_text("999999999\n")  # above any pid_max
    assert wait_up(dirs, tmp_path).reason is wait.Reason.NO_EMPEROR


def test_up_when_the_app_socket_accepts(dirs, tmp_path):
    run, _, emperor = dirs
    (emperor / "emperor.pid").write_text(f"{os.getpid()}\n")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(run / "app1.sock"))
        listener.listen(1)
        result = wait_up(dirs, tmp_path)
    assert (result.reason, result.ok) == (wait.Reason.UP, True)
    assert result.message == f"App app1 is up ({run}/app1.sock accepts connections)."


def test_not_up_after_the_timeout_shows_the_log_tail(dirs, tmp_path):
    run, log, emperor = dirs
    (emperor / "emperor.pid").write_text(f"{os.getpid()}\n")
    (log / "app1.log").write_text("".join(f"line {i}\n" for i in range(1, 21)))
    result = wait_up(dirs, tmp_path)
    assert (result.reason, result.ok) == (wait.Reason.NOT_UP, False)
    assert result.message == (
        f"app app1 is not up after 0.2 s ({run}/app1.sock accepts no connection); "
        f"last lines of {log}/app1.log:"
    )
    assert result.log_tail == [f"line {i}" for i in range(6, 21)]

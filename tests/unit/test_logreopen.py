"""uwsgi_emperor.logreopen on real processes of this machine: a child writing to a log in a
temporary directory, renamed as logrotate renames it (the system test does it with uWSGI)."""

import os
import pathlib
import subprocess
import sys
import tempfile
import time

import pytest

from uwsgi_emperor import logreopen

# A writer like a uWSGI worker: its stderr (fd 2) is the log; it waits until told to exit.
WRITER = "import sys; sys.stdin.read()"


@pytest.fixture
def writer(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    with open(log, "a") as f:
        proc = subprocess.Popen([sys.executable, "-c", WRITER], stdin=subprocess.PIPE, stderr=f)
    yield proc, logs, log
    proc.stdin.close()
    proc.wait(timeout=10)


@pytest.mark.parametrize("rotated, log", [
    ("/var/log/uwsgi/app1.log.1", "/var/log/uwsgi/app1.log"),
    ("/var/log/uwsgi/app1.log-20261127", "/var/log/uwsgi/app1.log"),
    ("/var/log/uwsgi/app1.log.1 (deleted)", "/var/log/uwsgi/app1.log"),
    ("/var/log/uwsgi/my.login.log.2", "/var/log/uwsgi/my.login.log"),
])
def test_current_log(rotated, log):
    assert logreopen.current_log(rotated) == log


def test_a_writer_of_the_current_log_is_not_reported(writer):
    proc, logs, _ = writer
    assert proc.pid not in logreopen.rotated_writers(str(logs))


def test_a_writer_of_a_renamed_log_is_found(writer):
    proc, logs, log = writer
    log.rename(logs / "app.log.1")
    assert logreopen.rotated_writers(str(logs))[proc.pid] == [(2, f"{logs}/app.log.1")]
    # A new file at the old name does not change that: the fd is still on the old one.
    log.touch()
    assert logreopen.rotated_writers(str(logs))[proc.pid] == [(2, f"{logs}/app.log.1")]


def test_a_writer_of_a_deleted_log_is_found(writer):
    proc, logs, log = writer
    log.unlink()
    assert logreopen.rotated_writers(str(logs))[proc.pid] == [(2, f"{logs}/app.log (deleted)")]


def test_a_reader_is_not_a_writer(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "app.log").write_text("x\n")
    with open(logs / "app.log") as f:
        proc = subprocess.Popen([sys.executable, "-c", "import os, sys; sys.stdin.read()"],
                                stdin=subprocess.PIPE, pass_fds=(f.fileno(),))
    try:
        (logs / "app.log").rename(logs / "app.log.1")
        assert proc.pid not in logreopen.rotated_writers(str(logs))
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


def test_no_fifo_no_master_and_the_report_names_the_file(writer, tmp_path):
    proc, logs, log = writer
    log.rename(logs / "app.log.1")
    assert logreopen.vassal_master(proc.pid) == (None, None)
    ticks = iter(range(1000))
    problems = logreopen.reopen(str(logs), str(tmp_path / "trigger"), timeout=5,
                                clock=lambda: next(ticks), sleep=lambda s: None)
    assert problems == [f"{logs}/app.log.1 still written by PID {proc.pid} "
                        f"({sys.executable} -c {WRITER}): no master fifo to ask it to reopen"]
    # The trigger the Emperor watches was created.
    assert (tmp_path / "trigger").exists()


def test_ask_reopen_writes_the_commands_into_a_held_fifo(tmp_path):
    fifo = tmp_path / "app.fifo"
    os.mkfifo(fifo, 0o600)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert logreopen.ask_reopen(f"/proc/self/fd/{reader}", os.getuid())
        assert os.read(reader, 16) == b"lc"
        # A fifo of another user: nothing written (root opens /proc/PID/fd with root's rights).
        assert not logreopen.ask_reopen(f"/proc/self/fd/{reader}", os.getuid() + 1)
        assert os.read(reader, 16) == b""
    finally:
        os.close(reader)
    # Nobody holds it any more: nothing to ask, and no hang.
    assert not logreopen.ask_reopen(str(fifo), os.getuid())


def test_ask_reopen_writes_nothing_into_a_regular_file_put_in_the_fifos_place(tmp_path):
    """What an app could swap in after master_fifo() looked: a file root would otherwise write."""
    victim = tmp_path / "root-only"
    victim.write_text("root's data\n")
    victim.chmod(0o600)
    reader = os.open(victim, os.O_RDONLY)
    try:
        assert not logreopen.ask_reopen(f"/proc/self/fd/{reader}", os.getuid())
    finally:
        os.close(reader)
    assert victim.read_text() == "root's data\n"


def test_a_trigger_that_cannot_be_touched_is_one_line_not_a_traceback(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    trigger = tmp_path / "missing-dir" / "logrotate.trigger"
    assert logreopen.reopen(str(logs), str(trigger)) == [
        f"cannot touch {trigger} (the Emperor's reopen trigger): No such file or directory"]


def test_user_can_open_is_tried_as_the_processes_user():
    # A process of user nobody; the log is tried the way its master would reopen it, in a
    # directory nobody can reach (pytest's tmp_path is under a 0700 directory).
    with tempfile.TemporaryDirectory() as top:
        logs = pathlib.Path(top)
        logs.chmod(0o755)
        _user_can_open_checks(logs)


def _user_can_open_checks(logs):
    mine, everyones = logs / "root-only.log", logs / "everyones.log"
    mine.touch(mode=0o600)
    everyones.touch()
    everyones.chmod(0o666)
    proc = subprocess.Popen(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                             "sleep", "60"])
    try:
        # Until setpriv has dropped to nobody and exec'd sleep (a condition with a deadline).
        deadline = time.monotonic() + 10
        while not os.readlink(f"/proc/{proc.pid}/exe").endswith("/sleep"):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert not logreopen.user_can_open(proc.pid, str(mine))
        assert logreopen.user_can_open(proc.pid, str(everyones))
        # Missing: uWSGI would create it, which needs a directory nobody cannot write.
        assert not logreopen.user_can_open(proc.pid, str(logs / "new.log"))
        # The check itself left everything as it was.
        assert sorted(p.name for p in logs.iterdir()) == ["everyones.log", "root-only.log"]
    finally:
        proc.kill()
        proc.wait(timeout=10)

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


def test_a_process_not_of_the_emperor_is_reported_not_asked_nor_waited_for(writer, tmp_path):
    proc, logs, log = writer
    log.rename(logs / "app.log.1")
    ticks = iter(range(1000))
    problems = logreopen.reopen(str(logs), str(tmp_path / "trigger"), timeout=5,
                                clock=lambda: next(ticks), sleep=lambda s: None)
    assert problems == [f"{logs}/app.log.1 still written by PID {proc.pid} "
                        f"({sys.executable} -c {WRITER}): not a process of the Emperor or of "
                        "one of its vassals: not asked"]
    # The trigger the Emperor watches was created.
    assert (tmp_path / "trigger").exists()


# A writer that, each time it is looked at, hands the rotated file to a new child and exits
# (issue 24: with a fresh deadline per process this kept logrotate running for minutes).
FORKER = """
import os, sys, time
end = time.monotonic() + 60
while time.monotonic() < end:
    if os.fork():
        os._exit(0)
    time.sleep(0.05)
"""


def test_a_forking_writer_does_not_hold_up_the_reopen(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    with open(log, "a") as f:
        subprocess.run([sys.executable, "-c", FORKER], stderr=f, start_new_session=True,
                       check=True)
    log.rename(logs / "app.log.1")
    try:
        sleeps = []
        problems = logreopen.reopen(str(logs), str(tmp_path / "trigger"), timeout=3,
                                    sleep=sleeps.append)
        assert len(problems) == 1 and problems[0].startswith(f"{logs}/app.log.1 still written by")
        assert problems[0].endswith("not a process of the Emperor or of one of its vassals: not asked")
        assert sleeps == []  # not waited for at all
    finally:
        for pid in logreopen.rotated_writers(str(logs)):
            os.kill(pid, 9)


def test_a_writers_command_line_is_shown_with_control_characters_escaped(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    forged = "\x1b]0;owned\x07\x1b[2J\ruwsgi-emperor: every log reopened"
    with open(log, "a") as f:
        proc = subprocess.Popen([sys.executable, "-c", WRITER, forged], stdin=subprocess.PIPE,
                                stderr=f)
    try:
        log.rename(logs / "app.log.1")
        ticks = iter(range(1000))
        [problem] = logreopen.reopen(str(logs), str(tmp_path / "trigger"), timeout=5,
                                     clock=lambda: next(ticks), sleep=lambda s: None)
        assert "\\x1b]0;owned\\x07\\x1b[2J\\x0duwsgi-emperor: every log reopened" in problem
        assert not any(ord(c) < 32 for c in problem)
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


def _fifo_inode(path):
    st = os.stat(path)
    return st.st_dev, st.st_ino


def test_ask_reopen_writes_the_commands_into_the_masters_fifo(tmp_path):
    fifo = tmp_path / "app.fifo"
    os.mkfifo(fifo, 0o600)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert logreopen.ask_reopen(str(fifo), os.getuid(), _fifo_inode(fifo))
        assert os.read(reader, 16) == b"lc"
        # A fifo of another user than the vassal's: nothing written.
        assert not logreopen.ask_reopen(str(fifo), os.getuid() + 1)
        # Another fifo put at the name since the master's was found: nothing written.
        other = tmp_path / "other.fifo"
        os.mkfifo(other, 0o600)
        assert not logreopen.ask_reopen(str(other), os.getuid(), _fifo_inode(fifo))
        assert os.read(reader, 16) == b""
    finally:
        os.close(reader)
    # Nobody holds it any more: nothing to ask, and no hang.
    assert not logreopen.ask_reopen(str(fifo), os.getuid(), _fifo_inode(fifo))


def test_ask_reopen_writes_nothing_through_a_link_or_into_a_regular_file(tmp_path):
    """What an app could put at the fifo's name: a file root would otherwise write."""
    victim = tmp_path / "root-only"
    victim.write_text("root's data\n")
    victim.chmod(0o600)
    link = tmp_path / "app.fifo"
    link.symlink_to(victim)
    assert not logreopen.ask_reopen(str(link), os.getuid())
    assert not logreopen.ask_reopen(str(victim), os.getuid())
    assert victim.read_text() == "root's data\n"


def test_master_fifo_finds_the_fifo_a_process_reads(tmp_path):
    fifo = tmp_path / "app.fifo"
    os.mkfifo(fifo, 0o600)
    proc = subprocess.Popen([sys.executable, "-c",
                             f"import os, sys; fd = os.open({str(fifo)!r}, os.O_RDONLY | "
                             "os.O_NONBLOCK); print('ok', flush=True); sys.stdin.read()"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "ok\n"
        assert logreopen.master_fifo(proc.pid) == (str(fifo), _fifo_inode(fifo))
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


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

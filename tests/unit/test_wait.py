"""wait.wait_up, the body of uwsgi-ensite --wait: how each wait ends (its Reason), on real
sockets in a temporary directory and a stand-in for the Emperor's stats socket served by this
process (run as root, as the Emperor is). The uwsgi binary is absent here, so the app's socket
and log are the defaults (RUNDIR/NAME.sock, LOGDIR/NAME.log)."""

import contextlib
import json
import os
import signal
import socket
import socketserver
import threading
import time

import pytest

from uwsgi_emperor import wait


class StatsServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def dirs(tmp_path):
    run, log, emperor = tmp_path / "run", tmp_path / "log", tmp_path / "emperor"
    for d in (run, log, emperor):
        d.mkdir()
    return run, log, emperor


@pytest.fixture
def stats(dirs):
    """The Emperor's stats socket; set ["vassals"] (a list, or a callable giving one)."""
    state = {"vassals": []}

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            vassals = state["vassals"]
            vassals = vassals() if callable(vassals) else vassals
            self.request.sendall(json.dumps({"pid": os.getpid(), "vassals": vassals}).encode())

    server = StatsServer(str(dirs[2] / "stats.sock"), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state
    server.shutdown()
    server.server_close()


def wait_up(dirs, tmp_path, timeout=0.2, steady=wait.STEADY):
    run, log, emperor = dirs
    ticks = iter(range(1000))
    return wait.wait_up(
        "app1", ini=str(tmp_path / "app1.ini"), rundir=str(run), logdir=str(log),
        stats_path=str(emperor / "stats.sock"), pidfile=str(emperor / "emperor.pid"),
        timeout=timeout, uwsgi=str(tmp_path / "no-uwsgi"), steady=steady,
        clock=lambda: next(ticks) * 0.1, sleep=lambda seconds: None,
    )


def test_no_emperor(dirs, tmp_path):
    emperor = dirs[2]
    result = wait_up(dirs, tmp_path)
    assert (result.reason, result.ok, result.log_tail) == (wait.Reason.NO_EMPEROR, False, [])
    assert result.message == (
        f"no emperor running (nothing answers on {emperor}/stats.sock, no Emperor process in "
        f"{emperor}/emperor.pid); app app1 starts when the emperor starts"
    )


def test_a_pid_file_naming_a_process_that_is_not_the_emperor_is_no_emperor(dirs, tmp_path):
    (dirs[2] / "emperor.pid").write_text(f"{os.getpid()}\n")  # root, but not the uwsgi binary
    assert wait_up(dirs, tmp_path).reason is wait.Reason.NO_EMPEROR
    (dirs[2] / "emperor.pid").write_text("999999999\n")  # above any pid_max
    assert wait_up(dirs, tmp_path).reason is wait.Reason.NO_EMPEROR


def listening(path):
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(128)  # nobody accepts here: room for every probe
    return listener


def test_up_when_the_vassal_accepts_and_serves_its_socket_for_the_steady_window(dirs, tmp_path, stats):
    run = dirs[0]
    stats["vassals"] = [{"id": "app1.ini", "pid": os.getpid(), "accepting": 1, "ready": 1}]
    with listening(run / "app1.sock"):
        # Up for a moment is not up.
        assert wait_up(dirs, tmp_path, timeout=1.0, steady=2.0).reason is wait.Reason.NOT_UP
        result = wait_up(dirs, tmp_path, timeout=5)
    assert (result.reason, result.ok) == (wait.Reason.UP, True)
    assert result.message == (f"App app1 is up (its vassal, pid {os.getpid()}, accepts requests "
                              f"on {run}/app1.sock).")


@contextlib.contextmanager
def listening_as_an_app(path, uid=65534):
    """A socket at PATH whose listen() a process of UID made (what SO_PEERCRED reports):
    an app's forgery. Run as root, the child drops to UID first; otherwise it is our uid."""
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    ready_r, ready_w = os.pipe()
    child = os.fork()
    if child == 0:
        if os.getuid() == 0:
            os.setgid(uid)
            os.setuid(uid)
        sock.listen(128)
        os.write(ready_w, b"x")
        time.sleep(60)
        os._exit(0)
    try:
        os.read(ready_r, 1)
        yield child, uid if os.getuid() == 0 else os.getuid()
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        sock.close()
        os.close(ready_r)
        os.close(ready_w)


def test_a_listener_that_is_not_the_vassal_is_not_up(dirs, tmp_path, stats):
    """www-data bound the broken app's socket path: its pid is not the vassal's, nor root's
    (the socket keeper's)."""
    run = dirs[0]
    stats["vassals"] = [{"id": "app1.ini", "pid": 1234567, "accepting": 1, "ready": 1}]
    with listening_as_an_app(run / "app1.sock") as (pid, uid):
        result = wait_up(dirs, tmp_path, timeout=1)
    assert result.reason is wait.Reason.NOT_UP
    assert result.message.startswith(
        f"app app1 is not up after 1 s ({run}/app1.sock is served by pid {pid} "
        f"(uid {uid}), not by the app's vassal (pid 1234567)); last lines of ")


def test_a_vassal_started_again_and_again_is_not_up(dirs, tmp_path, stats):
    run = dirs[0]
    pids = iter(range(10**6))

    def respawning():
        return [{"id": "app1.ini", "pid": os.getpid() if next(pids) % 2 else 7, "accepting": 1}]
    stats["vassals"] = respawning
    with listening(run / "app1.sock"):
        result = wait_up(dirs, tmp_path, timeout=3)
    assert result.reason is wait.Reason.NOT_UP
    assert "(its vassal was started 2 times while waiting: it keeps exiting)" in result.message


def test_not_up_after_the_timeout_shows_the_log_tail(dirs, tmp_path, stats):
    run, log, emperor = dirs
    (log / "app1.log").write_text("".join(f"line {i}\n" for i in range(1, 21)))
    result = wait_up(dirs, tmp_path)
    assert (result.reason, result.ok) == (wait.Reason.NOT_UP, False)
    assert result.message == (
        f"app app1 is not up after 0.2 s (the emperor does not report it running); "
        f"last lines of {log}/app1.log:"
    )
    assert result.log_tail == [f"line {i}" for i in range(6, 21)]


def test_the_log_tail_is_made_safe_and_read_from_the_end(dirs, tmp_path, stats):
    log = dirs[1] / "app1.log"
    with open(log, "wb") as f:
        f.truncate(8 << 30)  # 8 GiB, sparse: only the end is read
        f.seek(0, os.SEEK_END)
        f.write(b"\n\x1b]0;owned\x07\x1b[2J\x1b[H\rApp app2 is up\n")
    result = wait_up(dirs, tmp_path)
    assert result.log_tail[-1] == "\\x1b]0;owned\\x07\\x1b[2J\\x1b[H\\x0dApp app2 is up"


def test_the_log_tail_keeps_the_exception_of_a_traceback_that_ended_earlier():
    data = ("Traceback (most recent call last):\n  File \"x.py\", line 1\n"
            "ModuleNotFoundError: No module named 'django'\n"
            + "".join(f"after {i}\n" for i in range(20))).encode()
    assert wait.log_tail(data, 3) == [
        "ModuleNotFoundError: No module named 'django'", "...", "after 17", "after 18", "after 19"]


@pytest.mark.parametrize("kind", ["fifo", "link", "dir"])
def test_a_log_that_is_no_regular_file_is_one_line_and_no_hang(dirs, tmp_path, stats, kind):
    log = dirs[1] / "app1.log"
    if kind == "fifo":
        os.mkfifo(log)
    elif kind == "link":
        (tmp_path / "secret").write_text("root's\n")
        log.symlink_to(tmp_path / "secret")
    else:
        log.mkdir()
    [line] = wait_up(dirs, tmp_path).log_tail
    assert line.startswith(f"(cannot read {log}: ")


@pytest.mark.parametrize("value, address", [
    ("/run/uwsgi/app1.sock", (socket.AF_UNIX, "/run/uwsgi/app1.sock")),
    ("unix:/run/uwsgi/app1.sock", (socket.AF_UNIX, "/run/uwsgi/app1.sock")),
    ("@app1", (socket.AF_UNIX, "\0app1")),
    ("127.0.0.1:3031", (socket.AF_INET, ("127.0.0.1", 3031))),
    (":3031", (socket.AF_INET, ("127.0.0.1", 3031))),
    ("[::1]:3031", (socket.AF_INET6, ("::1", 3031))),
    ("fd://3", None),
    ("localhost", None),
])
def test_connect_address(value, address):
    from uwsgi_emperor import sockets
    assert sockets.connect_address(value) == address

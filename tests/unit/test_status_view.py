"""uwsgi-query --status / --check / --metrics (status.py, metrics.py): the state rules, whose
figures are believed, the check's exit statuses and perfdata, the textfile, on stand-ins for
the Emperor's and a vassal's stats servers served by this process (run as root, as the
Emperor is; the vassal's master is this process too, so SO_PEERCRED names it)."""

import contextlib
import json
import os
import socket
import socketserver
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from uwsgi_emperor import cli, emperor, metrics, paths, status

SRC = str(Path(__file__).resolve().parents[2] / "src")


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@contextlib.contextmanager
def serving(path, payload):
    """A unix stream server at PATH writing json(PAYLOAD()) to each client, in a thread."""
    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            try:
                self.request.sendall(json.dumps(payload()).encode())
            except BrokenPipeError:
                pass  # a client that refused the listener closed before reading

    server = Server(str(path), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def vassal_entry(name, pid, accepting=True, zerg=False):
    return {"id": f"{name}.ini", "pid": pid, "uid": 0, "gid": 0, "ready": 1,
            "accepting": int(accepting), "respawns": 0, "born": 0, "zerg": int(zerg)}


WORKERS = [
    {"id": 1, "status": "busy", "requests": 30, "exceptions": 1, "harakiri_count": 0,
     "respawn_count": 1, "avg_rt": 2000},
    {"id": 2, "status": "idle", "requests": 10, "exceptions": 0, "harakiri_count": 1,
     "respawn_count": 3, "avg_rt": 6000},
]


@pytest.fixture
def emperor_stats(tree, monkeypatch):
    """The Emperor's stats socket in the tree's run dir; set ["vassals"], ["blacklist"]."""
    run = tree.root / "run"
    run.mkdir(mode=0o755)
    state = {"vassals": [], "blacklist": []}
    monkeypatch.setattr(status, "STEADY", 0)
    with serving(run / paths.STATS_SOCKET, lambda: {"pid": os.getpid(), **state}):
        yield state


def test_state_rules():
    vassal = emperor.Vassal("a", 1234, 33, 33, True, True, 0, 0, False)
    quiet = emperor.Vassal("a", 1234, 33, 33, True, False, 0, 0, False)

    def state(v, blacklisted=None, uptime=10.0):
        app = status.App("a", "x", uptime=uptime)
        return status._app_state(app, v, blacklisted).value, app.failed_starts

    assert state(vassal) == ("running", 0)
    assert state(vassal, uptime=0.5) == ("starting", 0)
    assert state(quiet) == ("starting", 0)
    assert state(None) == ("stopped", 0)
    # The Emperor's blacklist: "attempt" counts the exits after the first one.
    assert state(None, {"attempt": 0}) == ("starting", 1)
    assert state(None, {"attempt": 3}) == ("crash-looping", 4)
    assert state(quiet, {"attempt": 1}) == ("crash-looping", 2)
    # Up again for a while after exits (it has not served a request yet: still listed).
    assert state(vassal, {"attempt": 5}) == ("running", 6)
    assert state(vassal, {"attempt": 5}, uptime=0.5) == ("crash-looping", 6)


def test_worker_figures():
    app = status.App("a", "running")
    status.apply_vassal_stats(app, {"workers": WORKERS})
    assert (app.workers, app.requests, app.exceptions, app.harakiri, app.worker_respawns,
            app.avg_response_seconds, app.busy_percent) == (
        {"busy": 1, "idle": 1}, 40, 1, 1, 2, 0.003, 50)


def test_worker_status_from_the_app_is_made_visible():
    app = status.App("a", "running")
    status.apply_vassal_stats(app, {"workers": [{"status": "\x1b]0;owned\x07busy"}]})
    assert app.workers == {"\\x1b]0;owned\\x07busy": 1}


def test_vassal_stats_read_only_from_the_vassals_master(tmp_path):
    path = tmp_path / "a.stats"
    mine = emperor.Vassal("a", os.getpid(), 0, 0, True, True, 0, 0, False)
    with serving(path, lambda: {"workers": WORKERS}):
        assert status.read_vassal_stats(str(path), mine) == ({"workers": WORKERS}, None)
        other = emperor.Vassal("a", 999999, 33, 33, True, True, 0, 0, False)
        assert status.read_vassal_stats(str(path), other) == (None, (
            f"{path} is served by pid {os.getpid()} (uid 0), not by the app's master "
            "(pid 999999): ignored"))
    assert status.read_vassal_stats(str(tmp_path / "none.stats"), mine) == (
        None, f"no stats server at {tmp_path}/none.stats")


def test_listen_queue_is_the_kernels(tmp_path):
    path = str(tmp_path / "q.sock")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(path)
        listener.listen(7)
        clients = [socket.socket(socket.AF_UNIX) for _ in range(3)]
        for client in clients:
            client.connect(path)
        try:
            assert status.listen_queue(path, status.unix_listen_queues()) == (3, 7)
        finally:
            for client in clients:
                client.close()
    assert status.listen_queue(str(tmp_path / "gone.sock"), {}) == (None, None)


def test_last_exit():
    lines = ["Traceback (most recent call last):", "  File x", "RuntimeError: boom",
             "*** no app loaded. GAME OVER ***"]
    assert status.last_exit(lines) == "RuntimeError: boom"
    assert status.last_exit(lines, exceptions=False) == "*** no app loaded. GAME OVER ***"
    assert status.last_exit(["DAMN ! worker 1 (pid: 5) died, killed by signal 9 :( trying respawn ...",
                             "spawned uWSGI worker 1"], exceptions=False).startswith("DAMN ! worker 1")
    assert status.last_exit(["all fine"]) is None


def test_gather_running_crashlooping_stopped_disabled(tree, emperor_stats):
    for name in ("good", "crashy", "gone", "off"):
        tree.add(name)
    for name in ("good", "crashy", "gone"):
        tree.link(name)
    emperor_stats["vassals"] = [vassal_entry("good", os.getpid()),
                                vassal_entry("good.ini:zerg", os.getpid() + 1, zerg=True)]
    emperor_stats["blacklist"] = [{"id": "crashy.ini", "attempt": 4}]
    (tree.root / "log").mkdir()
    (tree.root / "log" / "crashy.log").write_text(
        "Traceback (most recent call last):\nValueError: bad \x1b[2J\n*** no app loaded. GAME OVER ***\n")
    with serving(tree.root / "run" / "good.stats", lambda: {"workers": WORKERS}):
        report = status.gather(check_ini=False)
    apps = {a.name: a for a in report.apps}
    assert (report.emperor, report.emperor_problem, report.vassals) == (os.getppid(), None, 2)
    assert {n: a.state for n, a in apps.items()} == {
        "crashy": "crash-looping", "gone": "stopped", "good": "running", "off": "disabled"}
    good = apps["good"]
    assert (good.pid, good.requests, good.workers, good.zergs, good.stats_problem) == (
        os.getpid(), 40, {"busy": 1, "idle": 1}, 1, None)
    assert good.rss_bytes > good.pss_bytes > 0 and good.uptime >= 0
    crashy = apps["crashy"]
    assert (crashy.pid, crashy.failed_starts, crashy.last_exit) == (None, 5, "ValueError: bad \\x1b[2J")
    assert crashy.log_tail[-1] == "*** no app loaded. GAME OVER ***"
    code, line = status.check(report)
    assert code == status.CRITICAL
    assert line == (
        "UWSGI CRITICAL: crashy crash-looping; gone stopped | apps=3;;;0 running=1;;;0;3 "
        "down=2;;0;0;3 crash_looping=1;;0;0;3 good_busy=50%;80;95;0;100 good_requests=40c")
    code, line = status.check(report, status.Thresholds(crit_down=2, crit_crashloop=None,
                                                         warn_busy=40))
    assert (code, line.split(" | ")[0]) == (
        status.WARNING, "UWSGI WARNING: crashy crash-looping; gone stopped; good 50% of workers busy")
    text = metrics.render(report)
    assert 'uwsgi_app_requests_total{app="good"} 40\n' in text
    assert 'uwsgi_app_state{app="crashy",state="crash-looping"} 1\n' in text
    assert 'uwsgi_app_up{app="gone"} 0\n' in text
    assert 'uwsgi_app_workers{app="good",status="busy"} 1\n' in text
    assert 'uwsgi_app_zergs{app="good"} 1\n' in text
    assert 'app="off"' not in text
    assert "# TYPE uwsgi_app_requests_total counter\n" in text


def test_a_forged_vassal_stats_socket_is_named_not_read(tree, emperor_stats):
    tree.add("good")
    tree.link("good")
    child = subprocess.Popen(["sleep", "60"])  # the "vassal master": not who listens below
    try:
        emperor_stats["vassals"] = [vassal_entry("good", child.pid)]
        forged = [{"status": "idle", "requests": 10 ** 9}]
        with serving(tree.root / "run" / "good.stats", lambda: {"workers": forged}):
            report = status.gather(check_ini=False)
    finally:
        child.kill()
        child.wait()
    good = report.apps[0]
    assert (good.state, good.requests, good.workers) == ("running", None, {})
    assert good.stats_problem.endswith(f"not by the app's master (pid {child.pid}): ignored")
    code, line = status.check(report)
    assert code == status.WARNING
    assert "requests" not in metrics.render(report)


def test_no_emperor(tree, capsys):
    tree.add("a")
    tree.link("a")
    assert cli.query_main(["--status"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Emperor: no Emperor running"
    assert out[2].split()[:2] == ["a", "stopped"]
    assert cli.query_main(["--check"]) == status.CRITICAL
    assert capsys.readouterr().out == "UWSGI CRITICAL: no Emperor running\n"
    assert cli.query_main(["--metrics"]) == 1
    assert capsys.readouterr().out.startswith(
        "# HELP uwsgi_emperor_up 1 when the Emperor answers on its stats socket\n"
        "# TYPE uwsgi_emperor_up gauge\nuwsgi_emperor_up 0\n")


def test_json(tree, emperor_stats, capsys):
    tree.add("a")
    assert cli.query_main(["--status", "--json", "a"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["flavour"] == "uwsgi-emperor" and data["emperor_problem"] is None
    assert [(a["name"], a["state"], a["enabled"]) for a in data["apps"]] == [("a", "disabled", False)]


def test_debian_flavour_says_what_it_cannot(tree, monkeypatch, capsys):
    monkeypatch.setenv("UWSGI_BIN", paths.DEBIAN_UWSGI_BIN)
    tree.add("a")
    tree.add("b")
    tree.link("a")
    assert cli.query_main(["--status"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[1:] == ["APP  STATE", "a    enabled", "b    disabled"]
    assert err == ("uwsgi-query: Debian's uwsgi package has no Emperor stats: no state, "
                   "workers or requests to show\n")
    assert cli.query_main(["--check"]) == status.UNKNOWN
    assert capsys.readouterr().out == (
        "UWSGI UNKNOWN: Debian's uwsgi package has no Emperor stats to check "
        "(install uwsgi-emperor for --check)\n")
    assert cli.query_main(["--metrics"]) == 1


def test_textfile_is_replaced_atomically(tmp_path):
    textfiles = tmp_path / "node-exporter"
    textfiles.mkdir(mode=0o755)
    target = textfiles / "uwsgi-emperor.prom"
    target.write_text("old\n")
    os.symlink("/etc/shadow-not-there", textfiles / ".uwsgi-emperor.prom.x.tmp")
    metrics.write_textfile("new 1\n", str(target))
    assert target.read_text() == "new 1\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert sorted(p.name for p in textfiles.iterdir()) == [
        ".uwsgi-emperor.prom.x.tmp", "uwsgi-emperor.prom"]


def test_textfile_directory_must_be_roots_alone(tmp_path):
    """Debian's /var/lib/prometheus is the prometheus user's: a link or a directory of its own
    put in place of node-exporter/ is refused, nothing is written."""
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "node-exporter")
    with pytest.raises(OSError):
        metrics.write_textfile("x 1\n", str(tmp_path / "node-exporter" / "uwsgi-emperor.prom"))
    (tmp_path / "theirs").mkdir()
    os.chown(tmp_path / "theirs", 33, 33)
    with pytest.raises(OSError):
        metrics.write_textfile("x 1\n", str(tmp_path / "theirs" / "uwsgi-emperor.prom"))
    assert list((tmp_path / "elsewhere").iterdir()) == list((tmp_path / "theirs").iterdir()) == []


def run(args, env):
    return subprocess.run([sys.executable, "-m", "uwsgi_emperor.cli", "query", *args],
                          env=dict(os.environ, PYTHONPATH=SRC, **env), capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("args, code, err", [
    (["--status", "../x"], 1,
     "uwsgi-query: error: invalid app name '../x': it must not contain a path separator\n"),
    (["--status", "nope"], 1, "uwsgi-query: error: no app nope in apps-available or apps-enabled\n"),
    (["a", "--json"], 2, "uwsgi-query: error: --json needs --status\n"),
    (["--check", "--warn-busy", "120"], 2,
     "uwsgi-query: error: argument --warn-busy: a percentage is at most 100: '120'\n"),
    (["--status", "--crit-down", "1"], 2, "uwsgi-query: error: --crit-down needs --check\n"),
    (["--metrics", "--output", "/nonexistent/dir/x.prom"], 1,
     "uwsgi-query: error: cannot write /nonexistent/dir/x.prom: No such file or directory\n"),
    (["--metrics", "--output", "/tmp/x.prom"], 1,
     "uwsgi-query: error: cannot write /tmp/x.prom: /tmp: others than root may create names "
     "there (uid 0, mode 1777)\n"),
    (["a", "b"], 2, "uwsgi-query: error: one NAME at a time (more with --status or --check)\n"),
])
def test_bad_input_one_line_no_traceback(tree, args, code, err):
    env = {k: os.environ[k] for k in ("UWSGI_CONFDIR", "UWSGI_STATEDIR", "UWSGI_RUNDIR",
                                      "UWSGI_EMPEROR_RUNDIR", "UWSGI_LOGDIR", "UWSGI_BIN")}
    done = run(args, env)
    assert done.returncode == code
    assert done.stderr.splitlines()[-1] == err.rstrip("\n")
    assert "Traceback" not in done.stderr

"""uwsgi-ensite / uwsgi-dissite / uwsgi-query as programs: output, exit status, untouched trees."""

import io
import json
import os
import pty
import select
import socket
import socketserver
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from uwsgi_emperor import cli

SRC = str(Path(__file__).resolve().parents[2] / "src")
PYTHON = "/usr/bin/python3"
HINT = cli.HINT


def no_tty():
    return io.StringIO("")


def ensite(*argv):
    return cli.ensite_main(list(argv), stdin=no_tty())


def dissite(*argv):
    return cli.dissite_main(list(argv), stdin=no_tty())


def output(capsys):
    out = capsys.readouterr()
    return out.out, out.err


# ---------------------------------------------------------------- uwsgi-ensite


@pytest.mark.needs_uwsgi
def test_ensite_enables_and_prints_the_hint(tree, capsys):
    tree.add("app1")
    assert ensite("app1.ini") == 0
    assert output(capsys) == (f"Enabling app app1.\n{HINT}\n", "")
    assert os.readlink(tree.enabled / "app1.ini") == "../apps-available/app1.ini"


@pytest.mark.needs_uwsgi
def test_already_enabled_is_success_without_hint(tree, capsys):
    tree.add("app1")
    tree.link("app1")
    assert ensite("app1") == 0
    assert output(capsys) == ("App app1 already enabled\n", "")


@pytest.mark.needs_uwsgi
def test_quiet_silences_information_not_errors(tree, capsys):
    tree.add("app1")
    assert ensite("-q", "app1", "nope") == 1
    assert output(capsys) == (
        "",
        f"uwsgi-ensite: error: app nope does not exist (no {tree.available}/nope.ini)\n",
    )
    assert os.path.islink(tree.enabled / "app1.ini")


@pytest.mark.needs_uwsgi
def test_glob_matches_apps_available(tree, capsys):
    for name in ("app1", "app2", "blog"):
        tree.add(name)
    assert ensite("app*") == 0
    assert sorted(os.listdir(tree.enabled)) == ["app1.ini", "app2.ini"]
    assert output(capsys)[0] == f"Enabling app app1.\nEnabling app app2.\n{HINT}\n"


@pytest.mark.needs_uwsgi
def test_one_failure_does_not_stop_the_others(tree, capsys):
    tree.add("a")
    tree.add("bad", "[uwsgi]\nfoobar = 1\n")
    tree.add("z")
    assert ensite("a", "bad", "z") == 1
    out, err = output(capsys)
    assert out == f"Enabling app a.\nEnabling app z.\n{HINT}\n"
    assert err == (
        f"uwsgi-ensite: error: app bad: {tree.available}/bad.ini: unknown option 'foobar' "
        "(uwsgi --strict rejects it)\n"
    )
    assert sorted(os.listdir(tree.enabled)) == ["a.ini", "z.ini"]


REFUSALS = [
    ("missing", lambda t: None, ["app1"], "app app1 does not exist (no {A}/app1.ini)"),
    ("slash", lambda t: t.add("app1"), ["../app1"],
     "invalid app name '../app1': it must not contain a path separator"),
    ("dotdot", lambda t: t.add("app1"), ["a..b"], "invalid app name 'a..b': it must not contain '..'"),
    ("leading-dot", lambda t: t.add("app1"), [".app1"],
     "invalid app name '.app1': it must not start with a dot"),
    ("bad-char", lambda t: t.add("app1"), ["app 1"],
     "invalid app name 'app 1': only letters, digits and . _ @ + - are allowed"),
    ("glob-nothing", lambda t: t.add("app1"), ["zz*"], "no app matches 'zz*'"),
    ("regular-file", lambda t: (t.add("app1"), (t.enabled / "app1.ini").write_text("[uwsgi]\n")),
     ["app1"], "app app1: {E}/app1.ini is a regular file, not a link; not touching it"),
    ("foreign-link", lambda t: (t.add("app1"), t.add("o"), t.link("app1", "../apps-available/o.ini")),
     ["app1"], "app app1: {E}/app1.ini points to ../apps-available/o.ini, not to "
     "../apps-available/app1.ini; not touching it"),
    ("no-section", lambda t: t.add("app1", "module = x\n"), ["app1"],
     "app app1: {A}/app1.ini: no [uwsgi] section"),
    ("not-utf8", lambda t: t.add("app1", b"[uwsgi]\nmodule = caf\xe9\n"), ["app1"],
     "app app1: {A}/app1.ini: not UTF-8 (byte 0xe9 on line 2)"),
    ("unreadable", lambda t: os.symlink("/proc/self/mem", t.available / "app1.ini"), ["app1"],
     "app app1: {A}/app1.ini: cannot read it: Input/output error"),
    ("unknown-option", lambda t: t.add("app1", "[uwsgi]\nmodule = x\nfoobar = 1\n"), ["app1"],
     "app app1: {A}/app1.ini: unknown option 'foobar' (uwsgi --strict rejects it)"),
]


# Every other refusal comes before the ini reaches the uwsgi binary.
FROM_UWSGI = {"unknown-option"}


@pytest.mark.parametrize(
    "setup, argv, message",
    [
        pytest.param(*r[1:], id=r[0], marks=pytest.mark.needs_uwsgi if r[0] in FROM_UWSGI else ())
        for r in REFUSALS
    ],
)
def test_ensite_refusals(tree, capsys, setup, argv, message):
    setup(tree)
    before = tree.snapshot()
    assert ensite(*argv) == 1
    expected = "uwsgi-ensite: error: " + message.format(A=tree.available, E=tree.enabled) + "\n"
    assert output(capsys) == ("", expected)
    assert tree.snapshot() == before


@pytest.mark.needs_uwsgi
def test_dry_run(tree, capsys):
    tree.add("app1")
    before = tree.snapshot()
    assert ensite("-n", "app1") == 0
    assert output(capsys) == ("Would enable app app1.\n", "")
    assert tree.snapshot() == before


def test_maintmode_respects_the_admin(tree, capsys):
    tree.add("app1")
    tree.link("app1")
    assert dissite("app1") == 0
    capsys.readouterr()
    before = tree.snapshot()
    assert ensite("-m", "-q", "app1") == 0
    assert output(capsys) == ("", "")
    assert tree.snapshot() == before
    assert ensite("-m", "app1") == 0
    assert output(capsys) == ("App app1 was disabled by the admin; not enabling it\n", "")


@pytest.mark.needs_uwsgi
def test_confdir_and_statedir_options_win_over_the_environment(tree, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("UWSGI_CONFDIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("UWSGI_STATEDIR", str(tmp_path / "nostate"))
    tree.add("app1")
    assert ensite("--confdir", str(tree.confdir), "--statedir", str(tree.statedir), "app1") == 0
    assert tree.markers() == {"enabled_by_admin/app1"}
    assert not (tmp_path / "nostate").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "uwsgi-ensite: error: no app named, and no terminal to ask on"),
        (["--bogus", "app1"], "uwsgi-ensite: error: unrecognized arguments: --bogus"),
        (["--wait", "--timeout=abc", "app1"],
         "uwsgi-ensite: error: argument --timeout: invalid number of seconds: 'abc'"),
        (["--wait", "--timeout", "0", "app1"],
         "uwsgi-ensite: error: argument --timeout: seconds must be more than 0 and less than a day: '0'"),
        (["--timeout=5", "app1"], "uwsgi-ensite: error: --timeout needs --wait"),
        (["-n", "app1", "--timeout", "5"], "uwsgi-ensite: error: --timeout needs --wait"),
        # The old spelling of a timeout: refused, never read as a wait of some other length.
        (["--wait=5", "app1"], "uwsgi-ensite: error: argument --wait: ignored explicit argument '5'"),
        (["--wait", "app1", "--timeout"], "uwsgi-ensite: error: argument --timeout: expected one argument"),
    ],
)
def test_usage_errors_exit_2(tree, capsys, argv, message):
    tree.add("app1")
    before = tree.snapshot()
    assert ensite(*argv) == 2
    out, err = output(capsys)
    assert out == ""
    assert err.splitlines()[-1] == message
    assert err.startswith("usage: uwsgi-ensite ")
    assert tree.snapshot() == before


@pytest.mark.needs_uwsgi
def test_wait_without_value_keeps_the_next_word_as_a_name(tree, capsys):
    tree.add("app1")
    assert ensite("--wait", "app1") == 1  # linked, but no emperor in the test's run dir
    out, err = output(capsys)
    assert out == f"Enabling app app1.\n{HINT}\n"
    run = tree.root / "run"
    assert err == (
        f"uwsgi-ensite: error: no emperor running (nothing answers on {run}/emperor-stats.sock, "
        f"no Emperor process in {run}/emperor.pid); app app1 starts when the emperor starts\n"
    )
    assert os.path.islink(tree.enabled / "app1.ini")


# ---------------------------------------------------------------- --wait against a stand-in emperor


class StatsServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def emperor_stats(tree):
    """A stand-in for the emperor's stats socket; set .vassals to what it should report."""
    run = tree.root / "run"
    run.mkdir(exist_ok=True)
    state = {"vassals": []}

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.sendall(json.dumps({"version": "2.0.31", "vassals": state["vassals"]}).encode())

    server = StatsServer(str(run / "emperor-stats.sock"), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def _listening(path):
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(128)
    return listener


@pytest.mark.needs_uwsgi
def test_wait_succeeds_when_the_emperor_reports_the_vassal_accepting(tree, capsys, emperor_stats):
    # The vassal is this process, which also listens on the app's socket.
    emperor_stats["vassals"] = [{"id": "app1.ini", "pid": os.getpid(), "ready": 1, "accepting": 1}]
    tree.add("app1")
    run = tree.root / "run"
    with _listening(run / "app1.sock"):
        assert ensite("--wait", "--timeout=5", "app1") == 0
    assert output(capsys) == (
        f"Enabling app app1.\n{HINT}\nApp app1 is up (its vassal, pid {os.getpid()}, accepts "
        f"requests on {run}/app1.sock).\n",
        "",
    )


@pytest.mark.needs_uwsgi
def test_a_socket_that_accepts_without_the_emperor_is_not_up(tree, capsys):
    run = tree.root / "run"
    run.mkdir()
    (run / "emperor.pid").write_text(f"{os.getpid()}\n")  # a root process, not the Emperor
    tree.add("app1")
    with _listening(run / "app1.sock"):
        assert ensite("-q", "--wait", "--timeout", "1", "app1") == 1
    assert "uwsgi-ensite: error: no emperor running" in output(capsys)[1]


@pytest.mark.needs_uwsgi
def test_wait_uses_the_socket_the_app_sets_itself(tree, capsys, emperor_stats):
    emperor_stats["vassals"] = [{"id": "app1.ini", "pid": os.getpid(), "ready": 1, "accepting": 1}]
    own = tree.root / "own.sock"
    tree.add("app1", f"[uwsgi]\nmodule = x\nsocket = {own}\n")
    with _listening(own):
        assert ensite("--wait", "app1") == 0
    assert output(capsys)[0].endswith(f"accepts requests on {own}).\n")


@pytest.mark.needs_uwsgi
def test_wait_failure_shows_the_end_of_the_app_log(tree, capsys, emperor_stats):
    emperor_stats["vassals"] = [{"id": "app1.ini", "pid": 9, "ready": 0, "accepting": 0}]
    log = tree.root / "log"
    log.mkdir()
    (log / "app1.log").write_text("".join(f"line {i}\n" for i in range(1, 31)))
    tree.add("app1")
    assert ensite("--wait", "--timeout=0.3", "app1") == 1
    out, err = output(capsys)
    assert out == f"Enabling app app1.\n{HINT}\n"
    run = tree.root / "run"
    assert err == (
        f"uwsgi-ensite: error: app app1 is not up after 0.3 s (the emperor does not report it "
        f"accepting requests); last lines of {log}/app1.log:\n"
        + "".join(f"  line {i}\n" for i in range(16, 31))
    )
    assert os.path.islink(tree.enabled / "app1.ini")


@pytest.mark.needs_uwsgi
def test_dry_run_does_not_wait(tree, capsys):
    tree.add("app1")
    assert ensite("-n", "--wait", "app1") == 0
    assert output(capsys) == ("Would enable app app1.\n", "")


# ---------------------------------------------------------------- uwsgi-dissite


def test_dissite_glob_matches_apps_enabled(tree, capsys):
    for name in ("app1", "app2", "app3"):
        tree.add(name)
    tree.link("app1")
    tree.link("app2")
    tree.link("app9")  # dangling
    assert dissite("app*") == 0
    assert os.listdir(tree.enabled) == []
    assert output(capsys) == (
        f"App app1 disabled.\nApp app2 disabled.\nRemoved dangling link {tree.enabled}/app9.ini.\n{HINT}\n",
        "",
    )
    assert tree.markers() == {"disabled_by_admin/app1", "disabled_by_admin/app2", "disabled_by_admin/app9"}


def test_dissite_already_disabled_prints_no_hint(tree, capsys):
    tree.add("app1")
    assert dissite("app1") == 0
    assert output(capsys) == ("App app1 already disabled\n", "")


def test_dissite_purge(tree, capsys):
    tree.add("app1")
    tree.link("app1")
    tree.marker("enabled_by_maint", "app1")
    assert dissite("-p", "-q", "app1") == 0
    assert output(capsys) == ("", "")
    assert tree.markers() == set()
    assert os.listdir(tree.enabled) == []


@pytest.mark.parametrize(
    "setup, argv, message",
    [
        (lambda t: None, ["app1"], "app app1 does not exist (no {A}/app1.ini)"),
        (lambda t: (t.add("app1"), (t.enabled / "app1.ini").write_text("x")), ["app1"],
         "app app1: {E}/app1.ini is a regular file, not a link; not touching it"),
        (lambda t: t.add("app1"), ["app*"], "no app matches 'app*'"),
        (lambda t: t.add("app1"), ["x/../app1"], "invalid app name 'x/../app1': it must not contain a path separator"),
    ],
    ids=["missing", "regular-file", "glob-not-enabled", "path"],
)
def test_dissite_refusals(tree, capsys, setup, argv, message):
    setup(tree)
    before = tree.snapshot()
    assert dissite(*argv) == 1
    expected = "uwsgi-dissite: error: " + message.format(A=tree.available, E=tree.enabled) + "\n"
    assert output(capsys) == ("", expected)
    assert tree.snapshot() == before


def test_dissite_dry_run(tree, capsys):
    tree.add("app1")
    tree.link("app1")
    before = tree.snapshot()
    assert dissite("--dry-run", "--purge", "app1") == 0
    assert output(capsys) == ("Would disable app app1.\n", "")
    assert tree.snapshot() == before


# ---------------------------------------------------------------- uwsgi-query


@pytest.mark.needs_uwsgi
def test_query_exit_statuses(tree, capsys):
    for name in ("a", "b", "c"):
        tree.add(name)
    assert ensite("-q", "a", "b") == 0
    assert dissite("-q", "b") == 0
    assert ensite("-q", "-m", "c") == 0
    assert dissite("-q", "-m", "c") == 0
    assert cli.query_main(["a"]) == 0
    assert cli.query_main(["b"]) == 32
    assert cli.query_main(["c.ini"]) == 33
    assert cli.query_main(["zzz"]) == 1
    assert cli.query_main(["-q", "b"]) == 32
    assert output(capsys) == (
        "a (enabled by site administrator)\n"
        "No app matches b (disabled by site administrator)\n"
        "No app matches c (disabled by maintainer script)\n"
        "No app matches zzz\n",
        "",
    )


def test_query_bad_name_and_usage(tree, capsys):
    assert cli.query_main(["../x"]) == 1
    assert output(capsys) == ("", "uwsgi-query: error: invalid app name '../x': it must not contain a path separator\n")
    assert cli.query_main([]) == 2
    assert cli.query_main(["-l", "x"]) == 2
    err = [line for line in output(capsys)[1].splitlines() if line.startswith("uwsgi-query:")]
    assert err[0] == ("uwsgi-query: error: one of the arguments NAME -l/--list --status "
                       "--check --metrics is required")
    assert err[-1] == "uwsgi-query: error: argument NAME: not allowed with argument -l/--list"


@pytest.mark.needs_uwsgi
def test_query_list(tree, capsys):
    tree.add("app1")
    tree.add("longer-name")
    assert ensite("-q", "-m", "app1") == 0
    assert cli.query_main(["--list"]) == 0
    assert output(capsys) == (
        "app1         enabled   by maintainer script\nlonger-name  disabled\n",
        "",
    )


# ---------------------------------------------------------------- real processes


def run(args, tree, input_=None):
    env = dict(os.environ, PYTHONPATH=SRC, LC_ALL="C.UTF-8")
    return subprocess.run(
        [PYTHON, "-m", "uwsgi_emperor.cli", *args],
        env=env, input=input_, capture_output=True, text=True, timeout=60,
    )


@pytest.mark.needs_uwsgi
def test_subprocess_success_and_errors_have_no_traceback(tree):
    tree.add("app1")
    done = run(["ensite", "app1", "missing", "../x"], tree)
    assert done.returncode == 1
    assert done.stdout == f"Enabling app app1.\n{HINT}\n"
    assert done.stderr == (
        "uwsgi-ensite: error: invalid app name '../x': it must not contain a path separator\n"
        f"uwsgi-ensite: error: app missing does not exist (no {tree.available}/missing.ini)\n"
    )
    done = run(["dissite", "app1"], tree)
    assert (done.returncode, done.stderr) == (0, "")
    done = run(["query", "app1"], tree)
    assert (done.returncode, done.stdout, done.stderr) == (
        32, "No app matches app1 (disabled by site administrator)\n", "")


def test_subprocess_without_names_and_without_a_terminal_is_a_usage_error(tree):
    done = run(["ensite"], tree, input_="")
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == "uwsgi-ensite: error: no app named, and no terminal to ask on"
    assert "Traceback" not in done.stderr


@pytest.mark.needs_uwsgi
def test_subprocess_unwritable_state_stops_before_linking(tree):
    tree.add("app1")
    (tree.root / "state").write_text("not a directory")
    before = tree.snapshot()
    done = run(["ensite", "app1"], tree)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"uwsgi-ensite: error: app app1: cannot record the change in {tree.statedir}: Not a directory\n"
    )
    assert tree.snapshot() == before


def test_ensite_path_does_not_import_jinja2():
    done = subprocess.run(
        [PYTHON, "-c", "import sys; import uwsgi_emperor.cli; print('jinja2' in sys.modules)"],
        env=dict(os.environ, PYTHONPATH=SRC), capture_output=True, text=True, timeout=60,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "False\n", "")


def read_until(fd, needle, limit=20.0):
    """Read the terminal until NEEDLE shows up (or EOF); a hang fails the test instead of blocking it."""
    data = b""
    while needle not in data:
        ready, _, _ = select.select([fd], [], [], limit)
        assert ready, f"no {needle!r} from the program; got {data!r}"
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the program closed the terminal
            break
        if not chunk:
            break
        data += chunk
    return data


def prompt_session(tree, program, answer):
    env = dict(os.environ, PYTHONPATH=SRC, LC_ALL="C.UTF-8")
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(PYTHON, [PYTHON, "-m", "uwsgi_emperor.cli", program], env)
    try:
        shown = read_until(fd, b"(wildcards ok)?\r\n")
        os.write(fd, answer)
        rest = read_until(fd, b"\0never\0")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return shown.replace(b"\r\n", b"\n").decode(), rest.replace(b"\r\n", b"\n").decode(), os.waitstatus_to_exitcode(status)


@pytest.mark.needs_uwsgi
def test_prompt_mode_on_a_real_terminal(tree):
    for name in ("app1", "app2", "blog"):
        tree.add(name)
    shown, rest, status = prompt_session(tree, "ensite", b"app* nope\n")
    assert shown == (
        "Your choices are: app1 app2 blog\nWhich apps do you want to enable (wildcards ok)?\n"
    )
    assert rest == (
        "app* nope\n"  # the terminal's echo
        "Enabling app app1.\nEnabling app app2.\n"
        f"uwsgi-ensite: error: app nope does not exist (no {tree.available}/nope.ini)\n"
        f"{HINT}\n"
    )
    assert status == 1
    assert sorted(os.listdir(tree.enabled)) == ["app1.ini", "app2.ini"]


def test_dissite_prompt_lists_enabled_apps(tree):
    for name in ("app1", "app2"):
        tree.add(name)
    tree.link("app2")
    shown, rest, status = prompt_session(tree, "dissite", b"app2\n")
    assert shown == "Your choices are: app2\nWhich apps do you want to disable (wildcards ok)?\n"
    assert rest == f"app2\nApp app2 disabled.\n{HINT}\n"
    assert status == 0


def test_hint_names_debians_init_script_without_the_emperor():
    # python3-uwsgi-ensite on a host with Debian's uwsgi: nothing watches apps-enabled.
    assert cli.hint({"UWSGI_BIN": "/usr/bin/uwsgi"}) == (
        "Debian's uwsgi runs the enabled apps when it starts: /etc/init.d/uwsgi restart"
    )
    assert cli.hint({"UWSGI_BIN": "/opt/venvs/uwsgi-emperor/bin/uwsgi"}) == cli.HINT


@pytest.mark.needs_uwsgi
def test_wait_stops_at_the_first_app_when_no_emperor_runs(tree, capsys):
    tree.add("app1")
    tree.add("app2")
    assert ensite("--wait", "app1", "app2") == 1
    out, err = output(capsys)
    assert out == f"Enabling app app1.\nEnabling app app2.\n{HINT}\n"
    assert err.count("no emperor running") == 1
    assert err.startswith("uwsgi-ensite: error: no emperor running ")


@pytest.mark.parametrize(
    "argv, names, wait, timeout",
    [
        (["--wait", "app1"], ["app1"], True, None),  # app1 is an app, never a number of seconds
        (["app1", "--wait"], ["app1"], True, None),
        (["--wait", "--timeout", "3", "app1", "app2"], ["app1", "app2"], True, 3.0),
        (["--timeout=0.5", "app1", "--wait"], ["app1"], True, 0.5),
        (["-q", "--", "--wait"], ["--wait"], False, None),  # after --, a name
        (["app1"], ["app1"], False, None),
        (["app1", "--wait", "app2"], ["app1", "app2"], True, None),  # options between names
        (["app1", "--timeout", "2", "app2", "--wait"], ["app1", "app2"], True, 2.0),
    ],
)
def test_wait_is_a_flag_and_timeout_its_length(argv, names, wait, timeout):
    args, status = cli._parse(cli.ensite_parser(), argv, cli.ENSITE.check_options, intermixed=True)
    assert status is None
    assert (args.names, args.wait, args.timeout) == (names, wait, timeout)


def test_dissite_has_no_wait(tree, capsys):
    assert dissite("--wait", "app1") == 2
    assert output(capsys)[1].splitlines()[-1] == "uwsgi-dissite: error: unrecognized arguments: --wait"


def test_the_table_names_each_commands_directory_and_verb(tree, capsys):
    # No app anywhere and a terminal: each command says what it would have offered, and where.
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert cli.ensite_main([], stdin=Terminal("")) == 1
    assert cli.dissite_main([], stdin=Terminal("")) == 1
    assert output(capsys) == ("", (
        f"uwsgi-ensite: error: no apps to enable in {tree.available}\n"
        f"uwsgi-dissite: error: no apps to disable in {tree.enabled}\n"
    ))

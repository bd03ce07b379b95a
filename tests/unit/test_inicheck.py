"""inicheck: our own checks, and the packaged uwsgi binary's strict parser (needs UWSGI_BIN)."""

import io
import os
import pwd

import pytest

from sitetree import GOOD_INI
from uwsgi_emperor import cli, inicheck


def write(tmp_path, data, name="app.ini"):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return str(path)


def test_good_file_passes_our_checks(tmp_path):
    assert inicheck.check_text(write(tmp_path, "; comment\n[uwsgi]\nmodule = x\n")) is None


def test_section_header_must_be_uwsgi(tmp_path):
    assert inicheck.check_text(write(tmp_path, "[app]\nmodule = x\n")) == "no [uwsgi] section"
    assert inicheck.check_text(write(tmp_path, "module = x\n")) == "no [uwsgi] section"
    assert inicheck.check_text(write(tmp_path, "  [uwsgi]  \nmodule = x\n")) is None
    assert inicheck.check_text(write(tmp_path, b"")) == "no [uwsgi] section"


def test_not_utf8(tmp_path):
    path = write(tmp_path, b"[uwsgi]\nchdir = /srv/caf\xe9\n")
    assert inicheck.check_text(path) == "not UTF-8 (byte 0xe9 on line 2)"


def test_unreadable(tmp_path):
    # Root reads any mode, so take a file whose read fails for everyone.
    link = tmp_path / "app.ini"
    os.symlink("/proc/self/mem", link)
    assert inicheck.check_text(str(link)) == "cannot read it: Input/output error"
    assert inicheck.check_text(str(tmp_path / "missing.ini")) == "cannot read it: No such file or directory"


def test_uwsgi_env_drops_uwsgi_variables():
    env = {"PATH": "/usr/bin", "UWSGI_CONFDIR": "/x", "UWSGI_BIN": "/y", "HOME": "/root"}
    assert inicheck.uwsgi_env(env) == {"PATH": "/usr/bin", "HOME": "/root"}


def test_binary_accepts_a_good_file(tmp_path, uwsgi):
    assert inicheck.check_options(write(tmp_path, GOOD_INI)) is None
    assert inicheck.check(write(tmp_path, GOOD_INI), uwsgi) is None


def test_binary_names_an_unknown_option(tmp_path, uwsgi):
    path = write(tmp_path, "[uwsgi]\nmodule = x\nfoobar = 1\n")
    assert inicheck.check(path) == "unknown option 'foobar' (uwsgi --strict rejects it)"


def test_our_variables_in_the_environment_are_not_taken_for_options(tmp_path, uwsgi, monkeypatch):
    # uWSGI reads UWSGI_<OPTION> from the environment: UWSGI_CONFDIR would be option 'confdir'.
    monkeypatch.setenv("UWSGI_CONFDIR", str(tmp_path))
    monkeypatch.setenv("UWSGI_STATEDIR", str(tmp_path))
    assert inicheck.check(write(tmp_path, GOOD_INI)) is None


def test_our_checks_come_before_the_binary(tmp_path, uwsgi):
    # The binary only warns about a missing section and exits 0; we refuse.
    assert inicheck.check(write(tmp_path, "[other]\nfoobar = 1\n")) == "no [uwsgi] section"


def test_missing_binary_is_reported(tmp_path):
    path = write(tmp_path, GOOD_INI)
    missing = str(tmp_path / "no-uwsgi")
    assert inicheck.check(path, missing) == f"cannot check it: uwsgi binary {missing} not found"


# ---------------------------------------------------------------- code the ini runs when read

REFUSE = "whenever uWSGI reads the file, even to check it; refusing to check or enable it"

PARSE_TIME = [
    ("chdir = @(exec://touch /tmp/x)", "line 3: exec:// runs a command " + REFUSE),
    ("ini = exec://cat /etc/app.ini", "line 3: exec:// runs a command " + REFUSE),
    ("  for-readline = exec://ls", "line 3: exec:// runs a command " + REFUSE),
    ("env = A=@(call://uwsgi_version)", "line 3: call:// calls a function " + REFUSE),
    ("env = A=@(callint://getpid)", "line 3: callint:// calls a function " + REFUSE),
    ("chdir = @(%n://touch /tmp/x)", "line 3: '@(%n://' is a scheme made of %-variables, which "
     "could be exec:// and run a command " + REFUSE),
    ("exec-asap = touch /tmp/x", "line 3: 'exec-asap' runs " + REFUSE),
    ("hook-asap = exec:touch /tmp/x", "line 3: 'hook-asap' runs " + REFUSE),
    ("call-asap = f", "line 3: 'call-asap' runs " + REFUSE),
    ("mount_asap = tmpfs /tmp", "line 3: 'mount_asap' runs " + REFUSE),
    ("stop = /run/uwsgi-emperor/emperor.pid",
     "line 3: 'stop' signals the process in a pid file " + REFUSE),
    ("reload=/run/x.pid", "line 3: 'reload' signals the process in a pid file " + REFUSE),
    ("connect-and-read = 127.0.0.1:25", "line 3: 'connect-and-read' connects to a socket " + REFUSE),
    ("plugins = /tmp/evil_plugin.so",
     "line 3: 'plugins = /tmp/evil_plugin.so' loads a library from a path " + REFUSE),
    ("plugins-dir = /tmp", "line 3: 'plugins-dir = /tmp' loads a library from a path " + REFUSE),
]


@pytest.mark.parametrize("line, message", PARSE_TIME)
def test_code_run_while_reading_is_named(line, message):
    assert inicheck.code_at_parse_time(f"[uwsgi]\nmodule = x\n{line}\n") == message


@pytest.mark.parametrize("text", [
    GOOD_INI,
    "[uwsgi]\nplugins = python3\nmodule = x\n",  # Debian's uwsgi: a plugin by name
    "[uwsgi]\n; exec-asap = touch /tmp/x\n# chdir = @(exec://id)\n",  # comments
    "[uwsgi]\nexec-as-root = mkdir -p /run/app\nhook-pre-app = exec:true\n",  # at start, not when read
    "[uwsgi]\nchdir = $(HOME)\nenv = B=@(/etc/hostname)\n",  # getenv and a file read: no code
    "[uwsgi]\nsocket = %d/%n.sock\nenv = URL=https://example.org/%%20\n",  # %-variables, no scheme
])
def test_what_only_runs_when_the_app_starts_is_not_refused(text):
    assert inicheck.code_at_parse_time(text) is None


def test_every_section_is_read(tmp_path):
    # The Emperor reads NAME.ini:zerg as well.
    text = "[uwsgi]\nmodule = x\n[zerg]\nexec-asap = id\n"
    assert inicheck.code_at_parse_time(text) == "line 4: 'exec-asap' runs " + REFUSE


def test_lines_end_at_newline_only_as_in_uwsgi():
    # uWSGI splits at \n alone: a form feed does not start a new (comment) line.
    assert inicheck.code_at_parse_time("[uwsgi]\nmodule = x\x0c# \n exec-asap = id\r\n") == (
        "line 3: 'exec-asap' runs " + REFUSE
    )


EXEC_INI = "[uwsgi]\nmodule = x\nchdir = @(exec://touch {marker}; echo /)\n"


def test_the_exec_ini_would_run_without_the_scan(tmp_path, uwsgi):
    """The attack below is real: the packaged parser does run it (unscanned, as nobody here)."""
    marker = tmp_path / "ran"
    tmp_path.chmod(0o777)
    path = write(tmp_path, EXEC_INI.format(marker=marker))
    status, out, _err = inicheck.run_parser(uwsgi, ["--ini", path, "--get", "chdir"])
    assert (status, out) == (0, ["/"])
    assert marker.exists() and marker.stat().st_uid == pwd.getpwnam("nobody").pw_uid


def test_exec_ini_runs_nothing_in_any_mode(tree, uwsgi, capsys):
    marker = tree.root / "ran"
    path = tree.add("app1", EXEC_INI.format(marker=marker))
    message = "line 3: exec:// runs a command " + REFUSE
    assert inicheck.check_static(str(path)) == message
    assert inicheck.check(str(path)) == message
    assert inicheck.get_option(str(path), "chdir") is None
    before = tree.snapshot()
    for argv in (["-n", "app1"], ["app1"], ["--wait", "--timeout=0.2", "app1"], ["-n", "--wait", "app1"]):
        assert cli.ensite_main(argv, stdin=io.StringIO("")) == 1
        assert capsys.readouterr() == ("", f"uwsgi-ensite: error: app app1: {path}: {message}\n")
        assert tree.snapshot() == before
    # Enabled by hand, --wait asks the ini for its socket: still nothing runs.
    tree.link("app1")
    run = tree.root / "run"
    run.mkdir()
    (run / "emperor.pid").write_text(f"{os.getpid()}\n")
    assert cli.ensite_main(["--wait", "--timeout=0.2", "app1"], stdin=io.StringIO("")) == 1
    assert not marker.exists()


def test_dry_run_runs_no_binary(tree, capsys, monkeypatch, tmp_path):
    # A binary that would leave a trace if it ran at all.
    fake = tmp_path / "uwsgi"
    fake.write_text(f"#!/bin/sh\ntouch {tmp_path}/ran\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("UWSGI_BIN", str(fake))
    tree.add("app1", "[uwsgi]\nmodule = x\nfoobar = 1\n")
    before = tree.snapshot()
    assert cli.ensite_main(["-n", "app1"], stdin=io.StringIO("")) == 0
    assert capsys.readouterr() == ("Would enable app app1.\n", "")
    assert not (tmp_path / "ran").exists()
    assert tree.snapshot() == before


def test_included_file_meets_the_parser_as_nobody_offline_with_an_empty_environment(
        tmp_path, uwsgi, monkeypatch):
    """The scan reads the ini, not what it includes: the sandbox is what holds there."""
    monkeypatch.setenv("SECRET_OF_ROOT", "s3cret")
    out = tmp_path / "out"
    out.mkdir(mode=0o777)
    out.chmod(0o777)
    tmp_path.chmod(0o755)
    include = tmp_path / "common.ini"
    include.write_text(
        "[uwsgi]\nchdir = @(exec://id -u > %s/uid; id -G > %s/groups; cat /proc/self/net/dev > "
        "%s/net; env > %s/env; grep ^CapEff /proc/self/status > %s/caps; echo /)\n"
        % ((out,) * 5))
    include.chmod(0o600)  # root's alone: the sandbox still reads it, as the Emperor would
    path = write(tmp_path, f"[uwsgi]\nmodule = x\nini = {include}\n")
    os.chmod(path, 0o600)
    assert inicheck.check(path, uwsgi) is None
    nobody = pwd.getpwnam("nobody")
    assert (out / "uid").read_text() == f"{nobody.pw_uid}\n"
    assert (out / "groups").read_text() == f"{nobody.pw_gid}\n"
    interfaces = [l.split(":")[0].strip() for l in (out / "net").read_text().splitlines()[2:]]
    assert interfaces == ["lo"]
    env = dict(l.split("=", 1) for l in (out / "env").read_text().splitlines())
    assert "SECRET_OF_ROOT" not in env and env["PATH"] == "/usr/sbin:/usr/bin:/sbin:/bin"
    # CAP_DAC_READ_SEARCH (bit 2) and nothing else.
    assert (out / "caps").read_text().split() == ["CapEff:", f"{1 << 2:016x}"]


def test_sandbox_command():
    nobody = pwd.getpwnam("nobody")
    caps = "-all,+dac_read_search"
    assert inicheck.sandboxed(["uwsgi", "--ini", "a.ini"], euid=0) == [
        "unshare", "--net", "--", "setpriv", f"--reuid={nobody.pw_uid}",
        f"--regid={nobody.pw_gid}", "--clear-groups", f"--inh-caps={caps}",
        f"--ambient-caps={caps}", f"--bounding-set={caps}", "--no-new-privs", "--",
        "uwsgi", "--ini", "a.ini",
    ]
    # Not root: nothing to drop.
    assert inicheck.sandboxed(["uwsgi"], euid=1000) == ["uwsgi"]


# ---------------------------------------------------------------- socket paths (sun_path)


def _long_name(rundir, extra=0):
    """The longest app name whose RUNDIR/NAME.sock fits, plus EXTRA characters."""
    return "a" * (107 - len(f"{rundir}/.sock") + extra)


def test_longest_name_that_fits_passes(tmp_path):
    name = _long_name(tmp_path)
    path = write(tmp_path, GOOD_INI, f"{name}.ini")
    assert inicheck.check_static(path, rundir=str(tmp_path)) is None


def test_name_one_byte_too_long_is_refused(tmp_path):
    name = _long_name(tmp_path, 1)
    path = write(tmp_path, GOOD_INI, f"{name}.ini")
    assert inicheck.check_static(path, rundir=str(tmp_path)) == (
        f"socket path {tmp_path}/{name}.sock is 108 bytes, more than the 107 a unix socket path "
        "can hold: use a shorter app name"
    )


def test_own_socket_replaces_the_default_and_is_checked_itself(tmp_path):
    name = _long_name(tmp_path, 1)
    path = write(tmp_path, "[uwsgi]\nmodule = x\nsocket = /run/x.sock\n", f"{name}.ini")
    assert inicheck.check_static(path, rundir=str(tmp_path)) is None
    zerg = "/run/" + "z" * 100 + ".sock"
    path = write(tmp_path, f"[uwsgi]\nmodule = x\nzerg-server = {zerg}\n", "app.ini")
    assert inicheck.check_static(path, rundir=str(tmp_path)) == (
        f"zerg-server path {zerg} is 110 bytes, more than the 107 a unix socket path can hold: "
        "shorten its zerg-server"
    )


def test_ensite_refuses_a_name_too_long_for_its_socket(tree, capsys):
    name = _long_name(tree.root / "run", 1)
    path = tree.add(name)
    before = tree.snapshot()
    for argv in (["-n", name], [name]):
        assert cli.ensite_main(argv, stdin=io.StringIO("")) == 1
        assert capsys.readouterr() == ("", (
            f"uwsgi-ensite: error: app {name}: {path}: socket path {tree.root}/run/{name}.sock is "
            "108 bytes, more than the 107 a unix socket path can hold: use a shorter app name\n"))
        assert tree.snapshot() == before


def test_a_scheme_made_of_the_app_name_is_refused(tmp_path, uwsgi):
    """exec.ini: %n is 'exec', so @(%n://...) is @(exec://...) to uWSGI."""
    marker = tmp_path / "ran"
    path = write(tmp_path, f"[uwsgi]\nmodule = x\nchdir = @(%n://touch {marker}; echo /)\n", "exec.ini")
    assert inicheck.check(path, uwsgi) == (
        "line 3: '@(%n://' is a scheme made of %-variables, which could be exec:// and run a "
        "command " + REFUSE)
    assert not marker.exists()
    # What the scan stops: the packaged parser does run it (here as nobody, offline).
    echo = write(tmp_path, "[uwsgi]\nchdir = @(%n://echo /from-exec)\n", "exec.ini")
    assert inicheck.run_parser(uwsgi, ["--ini", echo, "--get", "chdir"])[:2] == (0, ["/from-exec"])

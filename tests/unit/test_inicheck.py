"""inicheck: our own checks, and the packaged uwsgi binary's strict parser (needs UWSGI_BIN)."""

import os

from sitetree import GOOD_INI
from uwsgi_emperor import inicheck


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

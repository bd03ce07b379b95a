"""The parts of uwsgi-newapp: input checks (newapp_validate), what it reads from the host
(hostinfo: virtualenv detection, broodlord), templates (newapp_render), writing (newapp_write)."""

import pathlib
import subprocess
import sys

import os

import pytest

from uwsgi_emperor import (
    hostinfo, newapp, newapp_render, newapp_request, newapp_validate, newapp_write, paths,
)
from uwsgi_emperor.newapp import App, NewAppError, Request


def check_virtualenv(venv, strict):
    """newapp_validate's judgement of what hostinfo reads of VENV."""
    host = hostinfo.read_host(Request(App("app1", "m", virtualenv=venv)))
    return newapp_validate.check_virtualenv(venv, strict, host, "3.11")


@pytest.mark.parametrize("module", ["mysite.wsgi", "mysite.wsgi:application", "app", "_a.b_2.c:make_app"])
def test_module_accepted(module):
    assert newapp_validate.check_module(module) == module


@pytest.mark.parametrize(
    "module", ["", "my-site.wsgi", "mysite.wsgi:", "mysite..wsgi", ".wsgi", "2x.wsgi", "a:b:c", "a.wsgi:b.c", "a b"]
)
def test_module_refused(module):
    with pytest.raises(NewAppError, match="^invalid module "):
        newapp_validate.check_module(module)


def test_env_split_at_first_equals():
    assert newapp_validate.parse_env("URL=a=b") == ("URL", "a=b")
    assert newapp_validate.parse_env("EMPTY=") == ("EMPTY", "")


@pytest.mark.parametrize("item", ["FOO", "=x", "1A=x", "A-B=x", "A B=x"])
def test_env_refused(item):
    with pytest.raises(NewAppError) as err:
        newapp_validate.parse_env(item)
    assert str(err.value) == f"invalid --env {item!r}: expected KEY=VALUE with KEY a variable name"


def test_env_value_must_be_one_line():
    with pytest.raises(NewAppError, match="^invalid --env A: the value must be a single line$"):
        newapp_validate.parse_env("A=x\ny")


@pytest.mark.parametrize(
    "item, expected",
    [
        ("/static=/srv/app/static", ("/static/", "/srv/app/static")),
        ("/static/=/srv/app/static/", ("/static/", "/srv/app/static")),
        ("/=/srv/www", ("/", "/srv/www")),
    ],
)
def test_static_normalised(item, expected):
    assert newapp_validate.parse_static(item) == expected


@pytest.mark.parametrize(
    "item, reason",
    [
        ("static=/srv", "expected URL=DIR with URL starting with '/'"),
        ("/static", "expected URL=DIR with URL starting with '/'"),
        ("/static=", "expected URL=DIR with URL starting with '/'"),
        ("/static=srv/static", "DIR must be an absolute path"),
        ("/a b=/srv", "spaces, quotes and ; { } # $ \\ are not allowed"),
        ("/a=/srv/x;y", "spaces, quotes and ; { } # $ \\ are not allowed"),
        ("/a=/srv/}", "spaces, quotes and ; { } # $ \\ are not allowed"),
    ],
)
def test_static_refused(item, reason):
    with pytest.raises(NewAppError) as err:
        newapp_validate.parse_static(item)
    assert str(err.value) == f"invalid --static {item!r}: {reason}"


@pytest.mark.parametrize("name", ["app.example.org", "*.example.org", "localhost", "a-b.c9.org", "x" * 63 + ".org"])
def test_server_name_accepted(name):
    assert newapp_validate.check_server_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "a b.org", "a;b.org", "-a.org", "a-.org", "a..org", "*.", "*", "a.*.org", "x" * 64 + ".org", "a_b.org", "a.org."],
)
def test_server_name_refused(name):
    with pytest.raises(NewAppError) as err:
        newapp_validate.check_server_name(name)
    assert str(err.value) == (
        f"invalid server name {name!r}: expected a host name such as app.example.org or *.example.org"
    )


def _venv(tmp_path, cfg=None, libs=()):
    venv = tmp_path / "venv"
    venv.mkdir()
    if cfg is not None:
        (venv / "pyvenv.cfg").write_text(cfg)
    for lib in libs:
        (venv / "lib" / lib).mkdir(parents=True)
    return venv


def test_venv_version_from_pyvenv_cfg_of_venv(tmp_path):
    venv = _venv(tmp_path, "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.2\n")
    assert hostinfo.venv_pythons(str(venv)) == {"3.11"}
    assert check_virtualenv(str(venv), strict=True) is None


def test_venv_version_from_pyvenv_cfg_of_virtualenv(tmp_path):
    venv = _venv(tmp_path, "home = /usr/local/bin\nimplementation = CPython\nversion_info = 3.12.1.final.0\n")
    with pytest.raises(NewAppError) as err:
        check_virtualenv(str(venv), strict=False)
    assert str(err.value) == (
        f"virtualenv {venv} is built for Python 3.12; the packaged uWSGI runs Python 3.11"
    )


@pytest.mark.parametrize("kind", ["fifo", "link"])
def test_a_pyvenv_cfg_that_is_no_regular_file_is_not_read(tmp_path, kind):
    """Issue 24: the venv is the app user's; a fifo there made uwsgi-newapp hang forever."""
    venv = _venv(tmp_path, libs=["python3.11"])
    if kind == "fifo":
        os.mkfifo(venv / "pyvenv.cfg")
    else:
        (tmp_path / "other.cfg").write_text("version = 3.12.1\n")
        (venv / "pyvenv.cfg").symlink_to(tmp_path / "other.cfg")
    # Falls back to lib/pythonX.Y, and returns at once.
    assert hostinfo.venv_pythons(str(venv)) == {"3.11"}


def test_venv_version_from_lib_dir(tmp_path):
    venv = _venv(tmp_path, libs=["python3.12"])
    with pytest.raises(NewAppError, match=r"is built for Python 3\.12; the packaged uWSGI runs Python 3\.11$"):
        check_virtualenv(str(venv), strict=False)


@pytest.mark.parametrize("version_info, expected", [
    ((3, 11, 2, "final", 0), "3.11"),
    ((3, 13, 5, "final", 0), "3.13"),
    ((3, 9, 0, "beta", 1), "3.9"),
    ((4, 0, 0, "alpha", 1), "4.0"),
])
def test_python_version(version_info, expected):
    assert newapp_request.python_version(version_info) == expected


def test_packaged_python_is_the_interpreter_the_helpers_run_on():
    # On each suite the helpers run on the package's venv python (python3.11 on bookworm,
    # python3.13 on trixie): no version is written down anywhere.
    assert newapp_request.PACKAGED_PYTHON == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert Request(App("app1", "m")).python == newapp_request.PACKAGED_PYTHON


def test_venv_of_the_running_python_accepted_another_refused(tmp_path):
    # A real virtualenv made by the interpreter the helpers run on is accepted, even strictly.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    host = hostinfo.read_host(Request(App("app1", "m", virtualenv=str(venv))))
    assert host.venv_pythons == {newapp_request.PACKAGED_PYTHON}
    assert newapp_validate.check_virtualenv(
        str(venv), True, host, newapp_request.PACKAGED_PYTHON) is None
    other = f"{sys.version_info.major}.{sys.version_info.minor + 1}"
    with pytest.raises(NewAppError) as err:
        newapp_validate.check_virtualenv(str(venv), False, host, other)
    assert str(err.value) == (
        f"virtualenv {venv} is built for Python {newapp_request.PACKAGED_PYTHON}; "
        f"the packaged uWSGI runs Python {other}"
    )


def test_pyvenv_cfg_wins_over_lib_dir(tmp_path):
    venv = _venv(tmp_path, "version = 3.11.2\n", libs=["python3.12"])
    assert hostinfo.venv_pythons(str(venv)) == {"3.11"}


def test_venv_of_unknown_python_warns_or_refuses(tmp_path):
    venv = _venv(tmp_path)
    message = f"cannot tell which Python virtualenv {venv} was built for"
    assert check_virtualenv(str(venv), strict=False) == message
    with pytest.raises(NewAppError, match=f"^{message}$"):
        check_virtualenv(str(venv), strict=True)


def test_missing_venv_warns_or_refuses(tmp_path):
    missing = tmp_path / "nope"
    message = f"--virtualenv {missing} is not a directory"
    assert check_virtualenv(str(missing), strict=False) == message
    with pytest.raises(NewAppError, match=f"^{message}$"):
        check_virtualenv(str(missing), strict=True)


@pytest.mark.parametrize(
    "emperor_ini, enabled",
    [
        (None, False),
        ("[uwsgi]\n#emperor-broodlord = 8\n", False),
        ("[uwsgi]\n; emperor-broodlord = 8\n", False),
        ("[uwsgi]\nemperor-broodlord = 0\n", False),
        ("[uwsgi]\nemperor-broodlord =\n", False),
        ("[uwsgi]\nemperor-broodlord = 8\n", True),
        ("[uwsgi]\n  emperor-broodlord=4\n", True),
    ],
)
def test_broodlord_in_emperor_ini(tmp_path, emperor_ini, enabled):
    if emperor_ini is not None:
        (tmp_path / "emperor.ini").write_text(emperor_ini)
    assert hostinfo.broodlord_enabled(str(tmp_path), str(tmp_path / "default")) is enabled


@pytest.mark.parametrize(
    "defaults, enabled",
    [
        (None, False),
        ('EMPEROR_OPTS=""\n', False),
        ('#   EMPEROR_OPTS="--emperor-broodlord 8"\nEMPEROR_OPTS=""\n', False),
        ('# EMPEROR_OPTS="--emperor-broodlord 8"\n', False),
        ('EMPEROR_OPTS="--emperor-broodlord 8"\n', True),
        ('EMPEROR_OPTS="--emperor-broodlord=8"\n', True),
        ("EMPEROR_OPTS='--vassals-set harakiri=30 --emperor-broodlord 2'\n", True),
        ("export EMPEROR_OPTS=--emperor-broodlord=8\n", True),
        ('EMPEROR_OPTS="--emperor-broodlord 8"  # lend up to 8 zergs\n', True),
        ('EMPEROR_OPTS="--emperor-broodlord 0"\n', False),
        ('EMPEROR_OPTS="--emperor-broodlord"\n', False),
        ('EMPEROR_OPTS="--emperor-broodlord-x 8"\n', False),
        ('OTHER_OPTS="--emperor-broodlord 8"\n', False),
        # The last assignment wins, as when the shell sources the file.
        ('EMPEROR_OPTS="--emperor-broodlord 8"\nEMPEROR_OPTS=""\n', False),
        ('EMPEROR_OPTS=""\nEMPEROR_OPTS="--emperor-broodlord 8"\n', True),
        # A line the shell cannot parse either sets nothing.
        ('EMPEROR_OPTS="--emperor-broodlord 8\n', False),
    ],
)
def test_broodlord_in_emperor_opts(tmp_path, defaults, enabled):
    (tmp_path / "emperor.ini").write_text("[uwsgi]\n#emperor-broodlord = 8\n")
    if defaults is not None:
        (tmp_path / "default").write_text(defaults)
    assert hostinfo.broodlord_enabled(str(tmp_path), str(tmp_path / "default")) is enabled


def test_packaged_files_leave_broodlord_off():
    """The emperor.ini and /etc/default file the package ships mention the setting, commented."""
    root = pathlib.Path(__file__).parents[2]
    assert "\n#emperor-broodlord = 8\n" in (root / "etc/uwsgi/emperor.ini").read_text()
    assert '\n#   EMPEROR_OPTS="--emperor-broodlord 8"\n' in (root / "debian/uwsgi-emperor.default").read_text()
    assert not hostinfo.broodlord_enabled(str(root / "etc/uwsgi"), str(root / "debian/uwsgi-emperor.default"))


def test_broodlord_note_names_both_ways_and_the_restart():
    assert newapp.broodlord_note("/etc/uwsgi", "/etc/default/uwsgi-emperor") == (
        "broodlord is off in the emperor, so no zerg will ever start: set "
        'EMPEROR_OPTS="--emperor-broodlord 8" in /etc/default/uwsgi-emperor '
        "(or uncomment emperor-broodlord in /etc/uwsgi/emperor.ini), then "
        "systemctl restart uwsgi-emperor (or /etc/init.d/uwsgi-emperor restart without systemd)"
    )


def test_emperor_defaults_path():
    assert paths.emperor_defaults({}) == "/etc/default/uwsgi-emperor"
    assert paths.emperor_defaults({"UWSGI_EMPEROR_DEFAULTS": "/tmp/d"}) == "/tmp/d"


def test_tidy_removes_blank_runs_and_trailing_spaces():
    assert newapp_render.tidy("\n\na  \n\n\n\nb\t\n\n") == "a\n\nb\n"


def test_percent_is_escaped_for_uwsgi():
    assert newapp_render.ini_value("100% %n") == "100%% %%n"


def test_next_steps_for_a_sites_available_dir():
    assert newapp.next_steps("app", "/etc/nginx/sites-available/app") == [
        "uwsgi-ensite app",
        "ln -s ../sites-available/app /etc/nginx/sites-enabled/",
        "nginx -t && systemctl reload nginx",
    ]


def test_next_steps_for_another_dir_and_without_nginx():
    assert newapp.next_steps("app", "/srv/conf/app") == [
        "uwsgi-ensite app",
        "ln -s /srv/conf/app /etc/nginx/sites-enabled/",
        "nginx -t && systemctl reload nginx",
    ]
    assert newapp.next_steps("app", None) == ["uwsgi-ensite app"]


def test_write_files_checks_every_file_before_writing_any(tmp_path):
    (tmp_path / "b").write_text("old\n")
    with pytest.raises(NewAppError, match=f"^{tmp_path}/b already exists \\(use --force to overwrite it\\)$"):
        newapp_write.write_files([(str(tmp_path / "a"), "new\n"), (str(tmp_path / "b"), "new\n")], force=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]
    assert (tmp_path / "b").read_text() == "old\n"


def test_write_files_with_force_replaces_and_leaves_no_temp_file(tmp_path):
    (tmp_path / "b").write_text("old\n")
    newapp_write.write_files([(str(tmp_path / "a"), "A\n"), (str(tmp_path / "b"), "B\n")], force=True)
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {"a": "A\n", "b": "B\n"}
    assert oct((tmp_path / "a").stat().st_mode & 0o777) == "0o644"

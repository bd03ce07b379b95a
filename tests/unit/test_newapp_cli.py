"""uwsgi-newapp as the admin runs it: golden output, refusals, overrides, and the real parsers
(uwsgi --strict, nginx -t, and a real emperor starting a zerg)."""

import concurrent.futures
import contextlib
import grp
import io
import os
import pwd
import pathlib
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uwsgi_emperor import inicheck, newapp, newapp_cli, newapp_render

GOLDEN = pathlib.Path(__file__).parent / "golden"
# The Python the helpers run on (the packaged uWSGI's), and one it is not.
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
OTHER_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor + 1}"

GOLDEN_CASES = {
    "minimal": ["--module", "mysite.wsgi"],
    "full": [
        "--module", "mysite.wsgi:application", "--chdir", "/srv/mysite",
        "--virtualenv", "/srv/mysite/venv", "--processes", "4", "--threads", "2",
        "--user", "root", "--group", "root", "--allow-root",
        "--env", "DJANGO_SETTINGS_MODULE=mysite.settings", "--env", "DISCOUNT=100% off",
    ],
    "zerg": ["--module", "mysite.wsgi", "--chdir", "/srv/mysite", "--zerg"],
    "zerg-full": [
        "--module", "mysite.wsgi:application", "--virtualenv", "/srv/mysite/venv",
        "--processes", "1", "--threads", "4", "--user", "root", "--group", "root", "--allow-root",
        "--env", "MODE=prod", "--zerg",
    ],
    "nginx": ["--module", "mysite.wsgi", "--nginx", "app.example.org"],
    "nginx-static": [
        "--module", "mysite.wsgi", "--nginx", "*.example.org",
        "--static", "/static=/srv/mysite/static", "--static", "/media/=/srv/mysite/media/",
    ],
    "zerg-nginx": [
        "--module", "mysite.wsgi", "--zerg", "--nginx", "app.example.org",
        "--static", "/static=/srv/mysite/static",
    ],
}


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A confdir with apps-available/, an nginx sites-available/, and an Emperor defaults
    file of its own (none yet, so broodlord is off)."""
    conf = tmp_path / "conf"
    (conf / "apps-available").mkdir(parents=True)
    sites = tmp_path / "nginx" / "sites-available"
    sites.mkdir(parents=True)
    monkeypatch.setenv("UWSGI_CONFDIR", str(conf))
    monkeypatch.delenv("UWSGI_RUNDIR", raising=False)
    monkeypatch.setenv("UWSGI_EMPEROR_DEFAULTS", str(tmp_path / "default" / "uwsgi-emperor"))
    return tmp_path


def run(argv, capsys):
    code = newapp_cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(root):
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }


def ini_path(tree, name="app1"):
    return tree / "conf" / "apps-available" / f"{name}.ini"


def site_path(tree, name="app1"):
    return tree / "nginx" / "sites-available" / name


def golden(case, suffix):
    return (GOLDEN / f"{case}.{suffix}").read_text()


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_golden(tree, capsys, case):
    argv = ["app1", *GOLDEN_CASES[case]]
    if "--nginx" in argv:
        argv += ["--nginx-dir", str(site_path(tree).parent)]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert ini_path(tree).read_text() == golden(case, "ini")
    written = [f"wrote {ini_path(tree)}"]
    steps = ["next:", "  uwsgi-ensite app1"]
    if "--nginx" in argv:
        assert site_path(tree).read_text() == golden(case, "nginx")
        written.append(f"wrote {site_path(tree)}")
        steps += [
            f"  ln -s ../sites-available/app1 {tree}/nginx/sites-enabled/",
            "  nginx -t && systemctl reload nginx",
        ]
    else:
        assert not site_path(tree).exists()
    assert out.splitlines() == written + steps


def test_golden_files_read_as_written_by_a_person():
    for path in GOLDEN.iterdir():
        text = path.read_text()
        assert text.endswith("\n") and not text.endswith("\n\n"), path
        assert "\n\n\n" not in text and not text.startswith("\n"), path
        assert all(line == line.rstrip() for line in text.splitlines()), path


def test_stdout_prints_and_writes_nothing(tree, capsys):
    before = snapshot(tree)
    code, out, _err = run(["app1", *GOLDEN_CASES["minimal"], "--stdout"], capsys)
    assert (code, out) == (0, golden("minimal", "ini"))
    assert snapshot(tree) == before


def test_stdout_with_nginx_prints_both_files_with_headers(tree, capsys):
    before = snapshot(tree)
    code, out, _err = run(["app1", *GOLDEN_CASES["nginx"], "--stdout"], capsys)
    assert code == 0
    assert out == (
        f"# ==> {ini_path(tree)} <==\n" + golden("nginx", "ini")
        + "\n# ==> /etc/nginx/sites-available/app1 <==\n" + golden("nginx", "nginx")
    )
    assert snapshot(tree) == before


def test_stdout_does_not_mind_an_existing_file(tree, capsys):
    ini_path(tree).write_text("old\n")
    code, out, _err = run(["app1", "--module", "mysite.wsgi", "--stdout"], capsys)
    assert (code, out) == (0, golden("minimal", "ini"))
    assert ini_path(tree).read_text() == "old\n"


def test_missing_directories_are_warnings_without_strict(tree, capsys):
    argv = ["app1", "--module", "m", "--chdir", str(tree / "nope"), "--static", f"/s={tree}/gone",
            "--nginx", "a.org", "--nginx-dir", str(site_path(tree).parent)]
    code, _out, err = run(argv, capsys)
    assert code == 0
    assert err.splitlines() == [
        f"uwsgi-newapp: warning: --chdir {tree}/nope is not a directory",
        f"uwsgi-newapp: warning: --static {tree}/gone is not a directory",
    ]
    assert ini_path(tree).exists() and site_path(tree).exists()


def test_existing_directories_give_no_warning(tree, capsys):
    venv = tree / "venv"
    venv.mkdir()
    (venv / "pyvenv.cfg").write_text(f"home = /usr/bin\nversion = {PYTHON}.2\n")
    code, _out, err = run(["app1", "--module", "m", "--chdir", str(tree), "--virtualenv", str(venv),
                           "--strict"], capsys)
    assert (code, err) == (0, "")


def test_force_overwrites(tree, capsys):
    ini_path(tree).write_text("old\n")
    code, _out, _err = run(["app1", "--module", "mysite.wsgi", "--force"], capsys)
    assert code == 0
    assert ini_path(tree).read_text() == golden("minimal", "ini")


BROODLORD_OFF_NOTE = (
    "uwsgi-newapp: note: broodlord is off in the emperor, so no zerg will ever start: set "
    'EMPEROR_OPTS="--emperor-broodlord 8" in {tree}/default/uwsgi-emperor '
    "(or uncomment emperor-broodlord in {tree}/conf/emperor.ini), then "
    "systemctl restart uwsgi-emperor (or /etc/init.d/uwsgi-emperor restart without systemd)\n"
)


def _emperor_files(tree, defaults=None, emperor_ini=None):
    if defaults is not None:
        (tree / "default").mkdir()
        (tree / "default" / "uwsgi-emperor").write_text(defaults)
    if emperor_ini is not None:
        (tree / "conf" / "emperor.ini").write_text(emperor_ini)


# The packaged files as shipped: the setting is only mentioned, commented out.
SHIPPED_DEFAULTS = '# To lend up to 8 zerg workers, set:\n#   EMPEROR_OPTS="--emperor-broodlord 8"\nEMPEROR_OPTS=""\n'
SHIPPED_EMPEROR_INI = "[uwsgi]\nemperor = /etc/uwsgi/apps-enabled\n#emperor-broodlord = 8\n"


@pytest.mark.parametrize(
    "defaults, emperor_ini",
    [
        (None, None),
        (SHIPPED_DEFAULTS, SHIPPED_EMPEROR_INI),
        ('EMPEROR_OPTS="--emperor-broodlord 0"\n', SHIPPED_EMPEROR_INI),
    ],
)
def test_zerg_note_when_broodlord_is_off(tree, capsys, defaults, emperor_ini):
    _emperor_files(tree, defaults, emperor_ini)
    code, _out, err = run(["app1", "--module", "m", "--zerg"], capsys)
    assert code == 0
    assert err == BROODLORD_OFF_NOTE.format(tree=tree)


@pytest.mark.parametrize(
    "defaults, emperor_ini",
    [
        ('EMPEROR_OPTS="--emperor-broodlord 8"\n', None),
        (SHIPPED_DEFAULTS.replace('EMPEROR_OPTS=""', 'EMPEROR_OPTS="--emperor-broodlord=4"'), SHIPPED_EMPEROR_INI),
        (SHIPPED_DEFAULTS, SHIPPED_EMPEROR_INI.replace("#emperor-broodlord", "emperor-broodlord")),
    ],
)
def test_no_zerg_note_when_broodlord_is_on(tree, capsys, defaults, emperor_ini):
    _emperor_files(tree, defaults, emperor_ini)
    code, _out, err = run(["app1", "--module", "m", "--zerg"], capsys)
    assert (code, err) == (0, "")


def test_no_zerg_note_without_zerg(tree, capsys):
    code, _out, err = run(["app1", "--module", "m"], capsys)
    assert (code, err) == (0, "")


def test_emperor_d_dropin_does_not_count(tree, capsys):
    """The package has no emperor.d/ (uWSGI's for-glob cannot skip an empty directory),
    so a file there turns nothing on."""
    (tree / "conf" / "emperor.d").mkdir()
    (tree / "conf" / "emperor.d" / "broodlord.ini").write_text("[uwsgi]\nemperor-broodlord = 8\n")
    code, _out, err = run(["app1", "--module", "m", "--zerg"], capsys)
    assert (code, err) == (0, BROODLORD_OFF_NOTE.format(tree=tree))


def test_confdir_option_wins_over_environment(tree, capsys, tmp_path):
    other = tmp_path / "other"
    (other / "apps-available").mkdir(parents=True)
    code, _out, _err = run(["app1", "--module", "mysite.wsgi", "--confdir", str(other)], capsys)
    assert code == 0
    assert (other / "apps-available" / "app1.ini").read_text() == golden("minimal", "ini")
    assert not ini_path(tree).exists()


def test_name_suffix_is_stripped(tree, capsys):
    code, _out, _err = run(["app1.ini", "--module", "mysite.wsgi"], capsys)
    assert code == 0
    assert ini_path(tree).read_text() == golden("minimal", "ini")


def test_rundir_moves_the_sockets(tree, capsys, monkeypatch):
    monkeypatch.setenv("UWSGI_RUNDIR", "/srv/run")
    code, out, _err = run(["app1", "--module", "m", "--zerg", "--nginx", "a.org", "--stdout"], capsys)
    assert code == 0
    assert "zerg-server = /srv/run/app1-broodlord.sock\n" in out
    assert "zerg = /srv/run/app1-broodlord.sock\n" in out
    assert "socket = /srv/run/app1.sock\n" in out
    assert "uwsgi_pass unix:/srv/run/app1.sock;\n" in out


def test_admin_template_overrides_the_packaged_one(tree, capsys):
    (tree / "conf" / "templates").mkdir()
    (tree / "conf" / "templates" / "vassal.ini.j2").write_text(
        "# site template\n[uwsgi]\nmodule = {{ module }}\n\n\n\nplugins = python3   \n"
    )
    argv = ["app1", "--module", "mysite.wsgi", "--nginx", "app.example.org",
            "--nginx-dir", str(site_path(tree).parent)]
    code, _out, _err = run(argv, capsys)
    assert code == 0
    assert ini_path(tree).read_text() == "# site template\n[uwsgi]\nmodule = mysite.wsgi\n\nplugins = python3\n"
    assert site_path(tree).read_text() == golden("nginx", "nginx")


def test_admin_template_with_an_unknown_variable_is_refused(tree, capsys):
    (tree / "conf" / "templates").mkdir()
    (tree / "conf" / "templates" / "vassal.ini.j2").write_text("[uwsgi]\n\nmodule = {{ modul }}\n")
    before = snapshot(tree)
    code, out, err = run(["app1", "--module", "mysite.wsgi"], capsys)
    assert (code, out) == (1, "")
    assert err == f"uwsgi-newapp: template {tree}/conf/templates/vassal.ini.j2 line 3: 'modul' is undefined\n"
    assert snapshot(tree) == before


def test_admin_template_with_a_syntax_error_is_refused(tree, capsys):
    (tree / "conf" / "templates").mkdir()
    (tree / "conf" / "templates" / "nginx-site.conf.j2").write_text("server {\n{% if x %}\n}\n")
    before = snapshot(tree)
    argv = ["app1", "--module", "m", "--nginx", "a.org", "--nginx-dir", str(site_path(tree).parent)]
    code, out, err = run(argv, capsys)
    assert (code, out) == (1, "")
    assert err == (
        f"uwsgi-newapp: template {tree}/conf/templates/nginx-site.conf.j2 line 3: "
        "Unexpected end of template. Jinja was looking for the following tags: 'elif' or 'else' "
        "or 'endif'. The innermost block that needs to be closed is 'if'.\n"
    )
    assert snapshot(tree) == before


BAD_INPUTS = [
    (["../x", "--module", "m"], "invalid app name '../x': it must not contain a path separator"),
    ([".hidden", "--module", "m"], "invalid app name '.hidden': it must not start with a dot"),
    (["a b", "--module", "m"], "invalid app name 'a b': only letters, digits and . _ @ + - are allowed"),
    (["app1", "--module", "my-site.wsgi"],
     "invalid module 'my-site.wsgi': expected dotted Python names with an optional :callable, "
     "e.g. mysite.wsgi or mysite.wsgi:application"),
    (["app1", "--module", "m", "--env", "FOO"],
     "invalid --env 'FOO': expected KEY=VALUE with KEY a variable name"),
    (["app1", "--module", "m", "--nginx", "a.org", "--static", "static=/srv"],
     "invalid --static 'static=/srv': expected URL=DIR with URL starting with '/'"),
    (["app1", "--module", "m", "--nginx", "a b.org"],
     "invalid server name 'a b.org': expected a host name such as app.example.org or *.example.org"),
    (["app1", "--module", "m", "--nginx", "a.org;"],
     "invalid server name 'a.org;': expected a host name such as app.example.org or *.example.org"),
    (["app1", "--module", "m", "--user", "no-such-user-xyz", "--group", "root"],
     "no such user: no-such-user-xyz"),
    (["app1", "--module", "m", "--user", "root", "--group", "no-such-group-xyz"],
     "no such group: no-such-group-xyz"),
    (["app1", "--module", "m", "--chdir", "{tree}/nope", "--strict"],
     "--chdir {tree}/nope is not a directory"),
    (["app1", "--module", "m", "--virtualenv", "{tree}/nope", "--strict"],
     "--virtualenv {tree}/nope is not a directory"),
    (["app1", "--module", "m", "--nginx", "a.org", "--static", "/s={tree}/nope", "--strict"],
     "--static {tree}/nope is not a directory"),
    (["app1", "--module", "m", "--virtualenv", "{tree}/venv-other"],
     f"virtualenv {{tree}}/venv-other is built for Python {OTHER_PYTHON}; "
     f"the packaged uWSGI runs Python {PYTHON}"),
    (["taken", "--module", "m"],
     "{tree}/conf/apps-available/taken.ini already exists (use --force to overwrite it)"),
    # The ini could be written, the server block not: neither is.
    (["app1", "--module", "m", "--nginx", "a.org", "--nginx-dir", "{tree}/nginx/sites-available"],
     "{tree}/nginx/sites-available/app1 already exists (use --force to overwrite it)"),
    (["app1", "--module", "m", "--nginx", "a.org", "--nginx-dir", "{tree}/missing"],
     "directory {tree}/missing does not exist"),
    # Injected options (issue 10): a value that would be more than a literal in the ini.
    (["app1", "--module", "m", "--chdir", "/srv/x\nuid = 0"],
     "invalid --chdir '/srv/x\\nuid = 0': line breaks and control characters are not allowed"),
    (["app1", "--module", "m", "--virtualenv", "/srv/v\rexec-as-root = id"],
     "invalid --virtualenv '/srv/v\\rexec-as-root = id': line breaks and control characters "
     "are not allowed"),
    (["app1", "--module", "m", "--chdir", "/srv/x\x0cuid = 0"],
     "invalid --chdir '/srv/x\\x0cuid = 0': line breaks and control characters are not allowed"),
    (["app1", "--module", "m", "--env", "A=x\ruid = 0"], "invalid --env A: the value must be a single line"),
    (["app1", "--module", "m", "--env", "A=\u2028uid = 0"], "invalid --env A: the value must be a single line"),
    (["app1", "--module", "m", "--env", "A=\x1b[31m"],
     "invalid --env A '\\x1b[31m': line breaks and control characters are not allowed"),
    (["app1", "--module", "m", "--env", "A=@(exec://id)"],
     "invalid --env A '@(exec://id)': uWSGI would replace @(...) with a file's content, or a "
     "command's output when it reads the ini"),
    (["app1", "--module", "m", "--env", "A=x$(HOME)"],
     "invalid --env A 'x$(HOME)': uWSGI would replace $(...) with an environment variable of "
     "the Emperor when it reads the ini"),
    (["app1", "--module", "m", "--chdir", "/srv/@(/etc/shadow)"],
     "invalid --chdir '/srv/@(/etc/shadow)': uWSGI would replace @(...) with a file's content, "
     "or a command's output when it reads the ini"),
    (["app1", "--module", "m", "--virtualenv", "/srv/$(HOME)"],
     "invalid --virtualenv '/srv/$(HOME)': uWSGI would replace $(...) with an environment "
     "variable of the Emperor when it reads the ini"),
    (["app1", "--module", "m", "--chdir", "/srv/%(module)"],
     "invalid --chdir '/srv/%(module)': uWSGI would replace %(...) with the value of another "
     "option when it reads the ini"),
    (["app1", "--module", "m", "--user", "root\nuid", "--group", "root"],
     "invalid --user 'root\\nuid': line breaks and control characters are not allowed"),
    (["app1", "--module", "m", "--nginx", "a.org", "--nginx-dir", "/etc/nginx\n"],
     "invalid --nginx-dir '/etc/nginx\\n': line breaks and control characters are not allowed"),
    # Root, unless --allow-root.
    (["app1", "--module", "m", "--user", "root", "--group", "root"],
     "--user root is uid 0: the app would run as root (--allow-root if you mean it)"),
    (["app1", "--module", "m", "--user", "nobody", "--group", "root"],
     "--group root is gid 0: the app would run with root's group (--allow-root if you mean it)"),
    # Socket paths past sun_path (107 bytes): /run/uwsgi/NAME.sock, NAME-broodlord.sock.
    (["a" * 92, "--module", "m"],
     "app " + "a" * 92 + ": socket path /run/uwsgi/" + "a" * 92 + ".sock is 108 bytes, more than "
     "the 107 a unix socket path can hold: use a shorter app name"),
    (["a" * 82, "--module", "m", "--zerg"],
     "app " + "a" * 82 + ": zerg socket path /run/uwsgi/" + "a" * 82 + "-broodlord.sock is 108 "
     "bytes, more than the 107 a unix socket path can hold: use a shorter app name"),
    # The zerg server's socket is bound after the drop to --user, in root:www-data 0775.
    (["app1", "--module", "m", "--zerg", "--user", "nobody", "--group", "nogroup"],
     "--zerg with --user nobody --group nogroup: the app binds its zerg socket in /run/uwsgi as "
     "that user, and only group www-data may create files there; use --group www-data or add "
     "nobody to it (adduser nobody www-data)"),
]


@pytest.mark.parametrize("argv, message", BAD_INPUTS)
def test_bad_input_is_refused_and_nothing_is_written(tree, capsys, argv, message):
    (tree / "venv-other" / "lib" / f"python{OTHER_PYTHON}").mkdir(parents=True)
    ini_path(tree, "taken").write_text("[uwsgi]\nmodule = old\n")
    site_path(tree).write_text("server {}\n")
    before = snapshot(tree)
    code, out, err = run([a.format(tree=tree) for a in argv], capsys)
    assert (code, out) == (1, "")
    assert err == f"uwsgi-newapp: {message.format(tree=tree)}\n"
    assert snapshot(tree) == before


USAGE_ERRORS = [
    (["app1"], "the following arguments are required: --module"),
    (["app1", "--module", "m", "--processes", "0"], "argument --processes: must be 1 or more: '0'"),
    (["app1", "--module", "m", "--processes", "two"], "argument --processes: not a whole number: 'two'"),
    (["app1", "--module", "m", "--threads", "-1"], "argument --threads: must be 1 or more: '-1'"),
    (["app1", "--module", "m", "--user", "root"], "--user and --group go together"),
    (["app1", "--module", "m", "--group", "root"], "--user and --group go together"),
    (["app1", "--module", "m", "--static", "/s=/srv"], "--static needs --nginx"),
    (["app1", "--module", "m", "--nginx-dir", "/srv"], "--nginx-dir needs --nginx"),
]


@pytest.mark.parametrize("argv, message", USAGE_ERRORS)
def test_usage_errors_exit_2(tree, capsys, argv, message):
    before = snapshot(tree)
    with pytest.raises(SystemExit) as exit_:
        newapp_cli.main(argv)
    out, err = capsys.readouterr()
    assert (exit_.value.code, out) == (2, "")
    assert err.splitlines()[-1] == f"uwsgi-newapp: error: {message}"
    assert snapshot(tree) == before


def test_parser_has_a_description_and_help_for_every_option():
    parser = newapp_cli.build_parser()
    assert parser.prog == "uwsgi-newapp" and parser.description
    assert all(action.help for action in parser._actions)


# The real parsers.

def _uwsgi(uwsgi_bin, *args):
    return subprocess.run(
        [uwsgi_bin, "--strict", *args], stdin=subprocess.DEVNULL, capture_output=True, text=True,
        env=inicheck.uwsgi_env(), timeout=30,
    )


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_uwsgi_strict_accepts_the_ini(uwsgi_bin, tmp_path, case):
    ini = tmp_path / "app1.ini"
    shutil.copy(GOLDEN / f"{case}.ini", ini)
    zerg = "--zerg" in GOLDEN_CASES[case]
    # The app's socket comes from the vassal defaults, --zerg or not.
    proc = _uwsgi(uwsgi_bin, "--ini", str(ini), "--get", "socket")
    assert (proc.returncode, proc.stdout) == (0, ""), proc.stderr
    proc = _uwsgi(uwsgi_bin, "--ini", str(ini), "--get", "vassal-sos")
    assert (proc.returncode, proc.stdout) == (0, "1\n" if zerg else ""), proc.stderr
    if zerg:
        proc = _uwsgi(uwsgi_bin, "--ini", f"{ini}:zerg", "--get", "zerg")
        assert (proc.returncode, proc.stdout) == (0, "/run/uwsgi/app1-broodlord.sock\n"), proc.stderr
        proc = _uwsgi(uwsgi_bin, "--ini", f"{ini}:zerg", "--get", "socket")
        assert (proc.returncode, proc.stdout) == (0, "/run/uwsgi/app1.sock\n"), proc.stderr


def test_uwsgi_reads_a_percent_in_a_value_literally(uwsgi_bin, tmp_path):
    ini = tmp_path / "app1.ini"
    shutil.copy(GOLDEN / "full.ini", ini)
    proc = _uwsgi(uwsgi_bin, "--ini", str(ini), "--get", "env")
    assert (proc.returncode, proc.stdout) == (0, "DJANGO_SETTINGS_MODULE=mysite.settings\n")
    one = tmp_path / "one.ini"
    one.write_text("[uwsgi]\nchdir = " + newapp_render.ini_value("/srv/100% %n") + "\n")
    proc = _uwsgi(uwsgi_bin, "--ini", str(one), "--get", "chdir")
    assert (proc.returncode, proc.stdout) == (0, "/srv/100% %n\n")


def test_uwsgi_strict_would_catch_a_bad_option(uwsgi_bin, tmp_path):
    """The check above can fail: the same call rejects an unknown option."""
    ini = tmp_path / "app1.ini"
    ini.write_text(golden("zerg", "ini") + "foobar = 1\n")
    proc = _uwsgi(uwsgi_bin, "--ini", f"{ini}:zerg", "--get", "socket")
    assert proc.returncode == 1
    assert "[strict-mode] unknown config directive: foobar" in proc.stdout + proc.stderr


@pytest.mark.parametrize("case", sorted(c for c, argv in GOLDEN_CASES.items() if "--nginx" in argv))
def test_nginx_accepts_the_server_block(tmp_path, case):
    nginx = shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin")
    assert nginx, "nginx is missing (scripts/apt-test-deps.txt installs nginx-light)"
    app = newapp.App(name="app1", module="mysite.wsgi", zerg="--zerg" in GOLDEN_CASES[case],
                     server_name="app.example.org", static=[("/static/", "/srv/mysite/static")])
    plan = newapp.plan(newapp.Request(
        app, confdir=str(tmp_path), nginx_dir=str(tmp_path), rundir="/run/uwsgi",
        emperor_defaults=str(tmp_path / "default"), nginx_logdir=str(tmp_path)))
    (tmp_path / "site").write_text(plan.files[1][1])
    # Relative includes (uwsgi_params) are looked up beside the main config.
    shutil.copy("/etc/nginx/uwsgi_params", tmp_path)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nevents {{}}\nhttp {{\n    include {tmp_path}/site;\n}}\n"
    )
    proc = subprocess.run(
        [nginx, "-t", "-q", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
         "-e", str(tmp_path / "error.log")],
        capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    # The block really was read: the same call fails on a broken one.
    (tmp_path / "site").write_text(plan.files[1][1].replace("uwsgi_pass", "uwsgi_passs"))
    proc = subprocess.run(
        [nginx, "-t", "-q", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
         "-e", str(tmp_path / "error.log")],
        capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 1 and 'unknown directive "uwsgi_passs"' in proc.stderr


# A real emperor starting the zerg section: it must attach to the app's socket and bind nothing.

# The package's vassal defaults that matter here, with the run directory moved.
VASSAL_DEFAULTS = """[uwsgi]
if-not-opt = socket
socket = {run}/%N.sock
endif =
if-not-opt = chmod-socket
chmod-socket = 660
endif =
if-not-opt = logto
logto = {run}/%N.log
endif =
if-not-opt = master
master = true
endif =
if-not-opt = vacuum
vacuum = true
endif =
"""

# /hold keeps the worker busy until the test creates the file RELEASE.
HOLD_APP = """import os, time

RELEASE = {release!r}


def application(environ, start_response):
    if environ["PATH_INFO"] == "/hold":
        deadline = time.monotonic() + 60
        while not os.path.exists(RELEASE) and time.monotonic() < deadline:
            time.sleep(0.05)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]
"""


def _wait_for(predicate, what, proc, timeout=60):
    """Poll until PREDICATE holds; a bounded wait, not a timing assertion."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"emperor exited while waiting for {what}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.1)


def _uwsgi_get(sock_path, path, timeout=60):
    """GET PATH over the uwsgi protocol, as nginx's uwsgi_pass does; the raw response."""
    pairs = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "SERVER_PROTOCOL": "HTTP/1.0",
             "SERVER_NAME": "localhost", "SERVER_PORT": "80"}
    body = b"".join(
        struct.pack("<H", len(k)) + k.encode() + struct.pack("<H", len(v)) + v.encode()
        for k, v in pairs.items()
    )
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(timeout)
        sock.connect(str(sock_path))
        sock.sendall(struct.pack("<BHB", 0, len(body), 0) + body)
        chunks = []
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def test_real_emperor_starts_a_zerg_that_serves_the_app_socket(uwsgi_bin, tmp_path):
    run_dir, vassals, app_dir = tmp_path / "run", tmp_path / "vassals", tmp_path / "app"
    for d in (run_dir, vassals, app_dir):
        d.mkdir()
    release = tmp_path / "release"
    (app_dir / "hello.py").write_text(HOLD_APP.format(release=str(release)))
    app = newapp.App(name="app1", module="hello", chdir=str(app_dir), processes=1, zerg=True)
    plan = newapp.plan(newapp.Request(
        app, confdir=str(tmp_path), nginx_dir=str(tmp_path), rundir=str(run_dir), strict=True,
        emperor_defaults=str(tmp_path / "default")))
    (vassals / "app1.ini").write_text(plan.files[0][1])
    (tmp_path / "defaults.ini").write_text(VASSAL_DEFAULTS.format(run=run_dir))
    (tmp_path / "emperor.ini").write_text(
        f"[uwsgi]\nemperor = {vassals}\nemperor-freq = 1\nvassals-include = {tmp_path}/defaults.ini\n"
        f"emperor-broodlord = 1\nlogto = {tmp_path}/emperor.log\n"
    )
    log, app_sock = run_dir / "app1.log", run_dir / "app1.sock"
    emperor = subprocess.Popen(
        [uwsgi_bin, "--ini", str(tmp_path / "emperor.ini")], stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=inicheck.uwsgi_env(),
        start_new_session=True,
    )
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        _wait_for(lambda: log.exists() and "spawned uWSGI worker 1" in log.read_text(), "app worker",
                  emperor)
        # The app's only worker busy: vassal-sos asks the emperor for a zerg.
        held = pool.submit(_uwsgi_get, app_sock, "/hold")
        _wait_for(lambda: "zerg sockets attached" in log.read_text(), "zerg", emperor)
        _wait_for(lambda: log.read_text().count("spawned uWSGI worker 1") == 2, "zerg worker", emperor)
        # With the app's worker still held, only the zerg can answer.
        assert _uwsgi_get(app_sock, "/").endswith(b"\r\n\r\nhello")
        assert not held.done()
        release.touch()
        assert held.result(timeout=60).endswith(b"\r\n\r\nhello")
        text = log.read_text()
        assert "asking Emperor for reinforcements (overload: " in text
        sockets = [l for l in text.splitlines() if " bound to " in l or " attached to " in l]
        # The fd numbers depend on what the emperor hands down; the addresses are the point.
        assert [re.sub(r" fd \d+$", "", l) for l in sockets] == [
            f"uwsgi socket 0 bound to UNIX address {app_sock}",
            f"uwsgi zerg socket 1 attached to UNIX address {app_sock}",
        ]
        assert sorted(p.name for p in run_dir.iterdir()) == ["app1-broodlord.sock", "app1.log", "app1.sock"]
        assert oct(app_sock.stat().st_mode & 0o777) == "0o660"
        assert "vassal app1.ini:zerg is ready to accept requests" in (tmp_path / "emperor.log").read_text()
    finally:
        release.touch()
        pool.shutdown(wait=False)
        os.killpg(emperor.pid, signal.SIGINT)
        try:
            emperor.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(emperor.pid, signal.SIGKILL)
            emperor.wait()


def test_debians_uwsgi_gets_its_plugin_and_socket(tree, capsys, monkeypatch):
    # python3-uwsgi-ensite on a host with Debian's uwsgi package (no venv binary there).
    monkeypatch.setenv("UWSGI_BIN", "/usr/bin/uwsgi")
    argv = ["app1", "--module", "mysite.wsgi", "--nginx", "app.example.org",
            "--nginx-dir", str(site_path(tree).parent)]
    code, _out, err = run(argv, capsys)
    assert (code, err) == (0, "")
    assert ini_path(tree).read_text() == golden("debian", "ini")
    assert "        uwsgi_pass unix:/run/uwsgi/app/app1/socket;\n" in site_path(tree).read_text()


def test_debians_uwsgi_refuses_zerg(tree, capsys, monkeypatch):
    monkeypatch.setenv("UWSGI_BIN", "/usr/bin/uwsgi")
    before = snapshot(tree)
    code, out, err = run(["app1", "--module", "mysite.wsgi", "--zerg"], capsys)
    assert (code, out) == (1, "")
    assert err == ("uwsgi-newapp: --zerg needs the Emperor of the uwsgi-emperor package "
                   "(broodlord); Debian's uwsgi package has none\n")
    assert snapshot(tree) == before


# Issue 10: secrets, zerg sockets, and values that stay literal.

def test_ini_with_env_values_is_not_world_readable(tree, capsys):
    argv = ["app1", "--module", "m", "--env", "SECRET_KEY=s3cret", "--nginx", "a.org",
            "--nginx-dir", str(site_path(tree).parent)]
    assert run(argv, capsys)[0] == 0
    assert oct(ini_path(tree).stat().st_mode & 0o777) == "0o640"
    assert oct(site_path(tree).stat().st_mode & 0o777) == "0o644"
    # Replacing it with --force keeps the mode tight, and without --env it is 0644.
    assert run(argv[:3] + ["--force"], capsys)[0] == 0
    assert oct(ini_path(tree).stat().st_mode & 0o777) == "0o644"
    assert run(argv[:5] + ["--force"], capsys)[0] == 0
    assert oct(ini_path(tree).stat().st_mode & 0o777) == "0o640"


def test_allow_root_lets_root_through(tree, capsys):
    code, _out, err = run(["app1", "--module", "m", "--user", "root", "--group", "root",
                           "--allow-root"], capsys)
    assert (code, err) == (0, "")
    assert "uid = root\ngid = root\n" in ini_path(tree).read_text()


def test_zerg_with_group_www_data_is_accepted(tree, capsys):
    code, _out, _err = run(["app1", "--module", "m", "--zerg", "--user", "nobody",
                            "--group", "www-data"], capsys)
    assert code == 0
    assert "uid = nobody\ngid = www-data\n" in ini_path(tree).read_text()


def _accounts(www_data_members):
    users = {"app": pwd.struct_passwd(("app", "x", 1500, 1500, "", "/", "/bin/sh"))}
    groups = {"app": grp.struct_group(("app", "x", 1500, [])),
              "www-data": grp.struct_group(("www-data", "x", 33, list(www_data_members)))}
    return users.__getitem__, groups.__getitem__


def test_zerg_with_a_member_of_www_data_is_accepted(tmp_path):
    getpwnam, getgrnam = _accounts(["app"])
    app = newapp.App(name="app1", module="m", user="app", group="app", zerg=True)
    plan = newapp.plan(newapp.Request(app, confdir=str(tmp_path), getpwnam=getpwnam,
                                      getgrnam=getgrnam, emperor_defaults=str(tmp_path / "d")))
    assert "uid = app\ngid = app\n" in plan.files[0].text
    getpwnam, getgrnam = _accounts([])
    with pytest.raises(newapp.NewAppError, match="^--zerg with --user app --group app: "):
        newapp.plan(newapp.Request(app, confdir=str(tmp_path), getpwnam=getpwnam,
                                   getgrnam=getgrnam, emperor_defaults=str(tmp_path / "d")))


@pytest.fixture
def open_tmp():
    """A temporary directory every user can reach (pytest's tmp_path is under a 0700 one)."""
    path = pathlib.Path(tempfile.mkdtemp(prefix="newapp-zerg."))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_zerg_as_another_user_really_cannot_bind_in_the_run_directory(uwsgi_bin, open_tmp):
    """What the refusal above is about: the packaged uWSGI, dropped to nobody:nogroup, cannot
    bind the zerg server in a root:www-data 0775 run directory, and can with gid www-data."""
    tmp_path = open_tmp
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    os.chown(run_dir, 0, grp.getgrnam("www-data").gr_gid)
    run_dir.chmod(0o775)
    results = {}
    for group in ("nogroup", "www-data"):
        ini = tmp_path / f"{group}.ini"
        # As the vassal defaults run an app: chown-socket makes uWSGI bind the app's own
        # socket before it drops to uid/gid.
        ini.write_text(f"[uwsgi]\nmaster = true\nuid = nobody\ngid = {group}\n"
                       f"socket = {run_dir}/{group}.sock\nchown-socket = www-data:www-data\n"
                       f"chmod-socket = 660\nzerg-server = {run_dir}/{group}-z.sock\n"
                       "processes = 1\n")
        zerg_sock = run_dir / f"{group}-z.sock"
        proc = subprocess.Popen([uwsgi_bin, "--ini", str(ini)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                env=inicheck.uwsgi_env(), start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while not zerg_sock.exists() and proc.poll() is None:
                assert time.monotonic() < deadline, "uwsgi neither bound its zerg socket nor exited"
                time.sleep(0.05)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            output = proc.communicate(timeout=30)[0].decode()
        results[group] = zerg_sock.exists()
        if group == "nogroup":
            # The app's own socket is bound before the drop, as root; the zerg server's after.
            bound = f"uwsgi socket 0 bound to UNIX address {run_dir}/nogroup.sock"
            assert bound in output, output
            assert output.index(bound) < output.index("bind(): Permission denied [core/socket.c")
    assert results == {"nogroup": False, "www-data": True}


VALUE_MARKS = st.sampled_from(["\n", "\r", "\x0b", "\x0c", "\x85", "\u2028", "\x00", "\x1b",
                               "@(", "$(", "%("])
SAFE_TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=20)


@settings(max_examples=200, deadline=None)
@given(before=SAFE_TEXT, mark=VALUE_MARKS, after=SAFE_TEXT,
       option=st.sampled_from(["--chdir", "--virtualenv", "--env"]))
def test_any_value_with_a_break_or_an_expansion_is_refused(tmp_path_factory, before, mark, after,
                                                           option):
    tmp = tmp_path_factory.mktemp("prop")
    (tmp / "apps-available").mkdir()
    value = "/" + before + mark + after
    argv = ["app1", "--module", "m", "--confdir", str(tmp)]
    argv += ["--env", "K=" + value] if option == "--env" else [option, value]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = newapp_cli.main(argv)
    assert (code, out.getvalue()) == (1, "")
    assert err.getvalue().startswith(f"uwsgi-newapp: invalid {option} ") and err.getvalue().count("\n") == 1
    assert os.listdir(tmp / "apps-available") == []


@settings(max_examples=40, deadline=None)
@given(value=SAFE_TEXT.filter(
    lambda v: not any(m in v for m in ("@(", "$(", "%(")) and v == v.strip() and "\\" not in v))
def test_what_is_accepted_is_what_uwsgi_reads(uwsgi_bin, tmp_path_factory, value):
    """The other side: a value newapp writes comes back from the packaged parser unchanged."""
    tmp = tmp_path_factory.mktemp("prop")
    app = newapp.App(name="app1", module="m", chdir="/srv/" + value, env=[("K", value)])
    plan = newapp.plan(newapp.Request(app, confdir=str(tmp), emperor_defaults=str(tmp / "d")))
    ini = tmp / "app1.ini"
    ini.write_text(plan.files[0].text)
    proc = _uwsgi(uwsgi_bin, "--ini", str(ini), "--get", "chdir", "--get", "env")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"/srv/{value}\nK={value}\n"

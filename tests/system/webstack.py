"""The web stack of the system tests inside a root: Flask apps in their own venvs, nginx, curl.

Everything is put in place the way an admin would: `apt-get install ./uwsgi-emperor_*.deb`,
an app ini in /etc/uwsgi/apps-available, the article's nginx server block, nginx's own init
script. The generic half (staging, download-then-install, the process tree, the load client,
wait_for) is the testbed's (testbed/stack.py); its names are used through this module too.
"""

import pathlib
import shutil

from testbed import stack as testbed_stack
from testbed.stack import (  # noqa: F401  (the tests use them as stack.NAME)
    Load, ini_processes, install, masters, stage_deb, uwsgi_count, vassal_master,
    vassal_processes, wait_for, workers)

FILES = pathlib.Path(__file__).resolve().with_name("files")
PACKAGE = "uwsgi-emperor"
SPEC_SECONDS = 5  # the bound for "served" / "stopped" / "answers again"


def write_app_files(root, name):
    """/srv/NAME (app.py, requirements), its nginx site and static file."""
    srv = root.path / "srv" / name
    srv.mkdir(parents=True, exist_ok=True)
    shutil.copy(FILES / "app.py", srv / "app.py")
    shutil.copy(FILES / "app-requirements.txt", srv / "requirements.txt")
    static = root.path / "var/www" / name / "assets/static"
    static.mkdir(parents=True, exist_ok=True)
    (static / "hello.txt").write_text(f"static file of {name}\n")
    site = (FILES / "nginx-site.conf").read_text().replace("@NAME@", name)
    (root.path / "etc/nginx/sites-available" / name).write_text(site)
    enabled = root.path / "etc/nginx/sites-enabled" / name
    if not enabled.is_symlink():
        enabled.symlink_to(f"../sites-available/{name}")


def app_ini(name):
    """The app's ini: the package's defaults do the rest (socket, uid, log, processes)."""
    return f"[uwsgi]\nchdir = /srv/{name}\nvirtualenv = /srv/{name}/venv\nmodule = app:app\n"


def build_venvs(apps):
    """An online step for testbed.stack.prepare(): each app's own venv, made with the root's
    /usr/bin/python3, Flask from PyPI (pip's cache)."""
    def build(online, pip_env):
        for name in apps:
            online.run(f"/usr/bin/python3 -m venv /srv/{name}/venv && "
                       f"/srv/{name}/venv/bin/pip install -q --disable-pip-version-check "
                       f"--only-binary :all: -r /srv/{name}/requirements.txt", env=pip_env)
    return build


def prepare(root, deb, apps=()):
    """Download what installing DEB needs and build the apps' venvs; what install() takes.

    Nothing is installed from the package yet: that happens in the isolated machine.
    """
    for name in apps:
        write_app_files(root, name)
    return testbed_stack.prepare(root, deb, online=build_venvs(apps))


def installed(root, what):
    """The isolated machine of ROOT (own pid/mount/net namespaces, only lo) with WHAT (from
    prepare()) installed by apt; `machine.install` is apt's CompletedProcess. nginx runs when
    the root has apps."""
    m = root.machine(offline=True)
    m.install = install(m, what)
    assert m.install.returncode == 0, m.install.stdout + m.install.stderr
    if (root.path / "etc/nginx/sites-available").exists() and any(
            (root.path / "srv").iterdir()):
        start_nginx(m)
    return m


def add_app(machine, name):
    """Write NAME's ini into apps-available (not enabled)."""
    machine.run(f"cat > /etc/uwsgi/apps-available/{name}.ini", input=app_ini(name))


def start_nginx(machine):
    machine.run("rm -f /etc/nginx/sites-enabled/default && nginx -t -q && /etc/init.d/nginx start")


def get(machine, app, path="/"):
    """(HTTP status, body) of GET PATH through nginx for APP (Host: APP.test)."""
    out = machine.run(f"curl -sS --max-time 10 -H 'Host: {app}.test' -w '\\n%{{http_code}}' "
                      f"http://127.0.0.1{path}", check=False).stdout
    # -w puts "\n<status>" after the body: everything before the last newline is the body.
    body, _, status = out.rpartition("\n")
    return int(status or 0), body


def serves(machine, app):
    """True when APP answers 200 "Hello from APP" through nginx."""
    return get(machine, app) == (200, f"Hello from {app}\n")


def enable(machine, name):
    """Add NAME's ini, `uwsgi-ensite NAME`, and wait until nginx serves it; seconds it took."""
    add_app(machine, name)
    machine.run(f"uwsgi-ensite -q {name}")
    return wait_for(lambda: serves(machine, name), SPEC_SECONDS)[1]


def served(machine, name):
    """NAME enabled and served, unless a test before enabled it (each test stands alone)."""
    if machine.run(f"test -L /etc/uwsgi/apps-enabled/{name}.ini", check=False).returncode:
        enable(machine, name)
    wait_for(lambda: serves(machine, name), SPEC_SECONDS)


def wait_for_log(machine, path, text, timeout=SPEC_SECONDS):
    """Wait until the file PATH inside contains TEXT; seconds it took."""
    return wait_for(lambda: text in machine.out(f"cat {path}", check=False), timeout)[1]

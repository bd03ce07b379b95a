"""Issue 13 under the suite's real systemd (252, 257; systemd-nspawn -b): an upgrade drops
no request.

The booted root runs the lower revision (the real .deb repacked as VERSION~prev) as
uwsgi-emperor.service and nginx.service in front of app1, a stdlib WSGI app that answers
"app1 N" for /seq/N. While 16 connections keep it busy: `apt-get install` of the real .deb
(0 failed, every vassal on the binary on disk, the Emperor unchanged and saying so),
`systemctl reload` (0 failed), then `systemctl restart` (its cost recorded; afterwards
nothing runs a deleted binary), a downgrade (0 failed), and `apt-get remove` stops the
unit and every process.
"""

import pathlib
import shlex

import pytest

from project import suite as suite_info
from testbed import debtools, nspawn, roots, stack
from upgradelib import (DAEMON, EMPEROR_LOG, assert_no_failure, lower_version, on_deleted_binary,
                        processes, split, under_load, vassal, version, wait_settled)

pytestmark = pytest.mark.system

# Installed with the old package: the front end, curl, and python3 for the load client and
# upgradelib (the package depends only on the suite's python3.X).
PACKAGES = ("nginx", "python3", "curl")
NGINX_SITE = pathlib.Path(__file__).resolve().with_name("files") / "nginx-site.conf"
APPS = ("app1",)

# No venv and no download inside the container: the app needs only the standard library.
SEQ_APP = '''\
def application(environ, start_response):
    app = environ.get("HTTP_HOST", "").split(".")[0]
    number = environ.get("PATH_INFO", "").rsplit("/", 1)[-1]
    start_response("200 OK", [("Content-Type", "text/plain")])
    if environ.get("PATH_INFO") == "/":
        return [f"Hello from {app}\\n".encode()]
    return [f"{app} {number}\\n".encode()]
'''


@pytest.fixture(scope="module")
def machine(suite, deb_path, tmp_path_factory):
    """The booted root of SUITE running the lower revision under systemd, nginx in front of
    app1; the real .deb staged for the upgrade (m.new_deb). What apt needs for both was
    downloaded before the boot."""
    root = roots.Root.fresh(suite, tmp_path_factory.mktemp(f"{suite}-upgrade-systemd") / "root",
                            include=nspawn.BOOT_PACKAGES)
    try:
        old_version = lower_version(deb_path)
        old = debtools.with_version(deb_path, old_version, tmp_path_factory.mktemp("old-deb"))
        new_deb = stack.stage_deb(root, deb_path)
        what = stack.prepare(root, old, packages=PACKAGES)
        (root.path / "srv/app1").mkdir(parents=True)
        (root.path / "srv/app1/app.py").write_text(SEQ_APP)
        with nspawn.booted(root) as m:
            install = stack.install(m, what)
            assert install.returncode == 0, install.stdout + install.stderr
            site = NGINX_SITE.read_text().replace("@NAME@", "app1")
            m.run("cat > /etc/nginx/sites-available/app1", input=site)
            m.run("rm /etc/nginx/sites-enabled/default && "
                  "ln -s ../sites-available/app1 /etc/nginx/sites-enabled/app1 && "
                  "nginx -t -q && systemctl reload nginx")
            m.run("printf '[uwsgi]\\nchdir = /srv/app1\\nmodule = app\\n' "
                  "> /etc/uwsgi/apps-available/app1.ini")
            assert "App app1 is up" in m.out("uwsgi-ensite --wait app1")
            m.old_version = old_version
            m.old_deb = shlex.split(what)[0]  # prepare() puts the staged .deb first
            m.new_deb = new_deb
            yield m
    finally:
        root.discard()


def test_systemd_is_the_suites(machine, suite):
    assert machine.systemd_major() == suite_info(suite).systemd


def main_pid(m):
    return int(m.out("systemctl show -p MainPID --value uwsgi-emperor"))


def serves(m):
    return m.out("curl -sS --max-time 10 -H 'Host: app1.test' http://127.0.0.1/") == "Hello from app1"


def test_upgrade_under_load_drops_no_request(machine, record):
    assert version(machine) == machine.old_version
    before = wait_settled(machine, APPS)
    emperor = main_pid(machine)
    upgrade, result = under_load(machine, APPS, f"apt-get install -y --no-install-recommends {machine.new_deb}")
    record("upgrade under systemd, 16 connections (ok/failed)", f"{result['ok']}/{result['failed']}")
    output = upgrade.stdout + upgrade.stderr
    assert upgrade.returncode == 0, output
    new_version = version(machine)
    assert f"Unpacking uwsgi-emperor ({new_version}) over ({machine.old_version}) ..." in output
    assert "dpkg: warning" not in output
    assert_no_failure(result)

    after = processes(machine)
    emperor_procs, vassals = split(after)
    master, workers = vassal(after, "app1")
    old_master, old_workers = vassal(before, "app1")
    assert master == old_master and not workers & old_workers
    assert {v[1] for v in vassals.values()} == {DAEMON}
    # Not restarted: same main PID, active, its processes on the deleted binary, and said.
    assert main_pid(machine) == emperor
    assert machine.out("systemctl is-active uwsgi-emperor") == "active"
    assert on_deleted_binary(after) == sorted(emperor_procs) and emperor in emperor_procs
    notice = (f"upgraded from {machine.old_version}: every app is reloaded gracefully onto the new uwsgi;"
              f" the Emperor itself (pid {emperor}) keeps running the previous binary until its"
              " next restart")
    assert f"uwsgi-emperor: {notice}" in output
    log = machine.out(f"cat {EMPEROR_LOG}")
    assert f"[uwsgi-emperor {new_version}] {notice}" in log
    assert "[emperor] reload the uwsgi instance app1.ini" in log
    assert serves(machine)


def test_systemctl_reload_under_load_drops_no_request(machine, record):
    emperor = main_pid(machine)
    before = processes(machine)
    reload, result = under_load(machine, APPS, "systemctl reload uwsgi-emperor")
    assert reload.returncode == 0, reload.stdout + reload.stderr
    record("systemctl reload, 16 connections (ok/failed)", f"{result['ok']}/{result['failed']}")
    assert_no_failure(result)
    after = processes(machine)
    assert main_pid(machine) == emperor
    assert vassal(after, "app1")[0] == vassal(before, "app1")[0]
    assert not vassal(after, "app1")[1] & vassal(before, "app1")[1]


def test_systemctl_restart_moves_the_emperor_and_costs_requests(machine, record):
    """The cost the README gives for a restart: measured and recorded, not asserted."""
    emperor = main_pid(machine)
    restart, result = under_load(machine, APPS, "systemctl restart uwsgi-emperor")
    assert restart.returncode == 0, restart.stdout + restart.stderr
    record("systemctl restart, 16 connections (ok/failed)", f"{result['ok']}/{result['failed']}")
    record("systemctl restart: outage (s)", result["failure_window_seconds"])
    assert main_pid(machine) not in (emperor, 0)
    after = processes(machine)
    assert on_deleted_binary(after) == []
    assert len(split(after)[0]) == 2
    assert serves(machine)


def test_downgrade_under_load_drops_no_request(machine, record):
    emperor = main_pid(machine)
    downgrade, result = under_load(machine, APPS, f"apt-get install -y --no-install-recommends --allow-downgrades {machine.old_deb}")
    record("downgrade under systemd, 16 connections (ok/failed)",
           f"{result['ok']}/{result['failed']}")
    assert downgrade.returncode == 0, downgrade.stdout + downgrade.stderr
    assert version(machine) == machine.old_version
    assert_no_failure(result)
    after = processes(machine)
    emperor_procs, vassals = split(after)
    assert main_pid(machine) == emperor
    assert on_deleted_binary(after) == sorted(emperor_procs)
    assert {v[1] for v in vassals.values()} == {DAEMON}
    assert serves(machine)


def test_remove_stops_the_unit_and_every_process(machine):
    """The Emperor runs a deleted binary (the downgrade above); systemd stops it all the same."""
    remove = machine.run("DEBIAN_FRONTEND=noninteractive apt-get remove -y uwsgi-emperor </dev/null",
                         check=False)
    assert remove.returncode == 0, remove.stdout + remove.stderr
    assert machine.out("systemctl is-active uwsgi-emperor", check=False) == "inactive"
    assert processes(machine) == {}

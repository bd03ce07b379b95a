"""Issue 13 under a real systemd 252 (systemd-nspawn -b): an upgrade drops no request.

The booted root runs the lower revision (the real .deb repacked as VERSION~prev) as
uwsgi-emperor.service and nginx.service in front of app1, a stdlib WSGI app that answers
"app1 N" for /seq/N. While 16 connections keep it busy: `apt-get install` of the real .deb
(0 failed, every vassal on the binary on disk, the Emperor unchanged and saying so),
`systemctl reload` (0 failed), then `systemctl restart` (its cost recorded; afterwards
nothing runs a deleted binary), a downgrade (0 failed), and `apt-get remove` stops the
unit and every process.
"""

import shutil
import subprocess

import pytest

import debtools
import nspawn
import roots
import stack
from project import ROOT
from upgradelib import (DAEMON, EMPEROR_LOG, lower_version, on_deleted_binary, processes,
                        seen_requests, split, vassal, version, wait_for_load, wait_settled)

CACHE = ROOT / ".cache"
ROOT_PACKAGES = ("systemd-sysv", "dbus", "procps", "nginx", "python3", "curl")
OLD_IN_ROOT = "/root/uwsgi-emperor_old_amd64.deb"
NEW_IN_ROOT = "/root/uwsgi-emperor_new_amd64.deb"
CONNECTIONS = 16
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


class Machine(nspawn.Machine):
    """nspawn's Machine, plus the background command that stack.Load needs."""

    def popen(self, command):
        return subprocess.Popen(
            ["nsenter", "-t", str(self.leader), "-a", "/bin/sh", "-c", command],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"})


@pytest.fixture(scope="module")
def machine(deb_path, tmp_path_factory):
    root = tmp_path_factory.mktemp("upgrade-systemd") / "root"
    root.mkdir()
    subprocess.run(["tar", "-xf", str(roots.tarball(include=ROOT_PACKAGES)), "-C", str(root)],
                   check=True)
    old_version = lower_version(deb_path)
    old = debtools.with_version(deb_path, old_version, tmp_path_factory.mktemp("old-deb"))
    shutil.copy(old, root / OLD_IN_ROOT.lstrip("/"))
    shutil.copy(deb_path, root / NEW_IN_ROOT.lstrip("/"))
    (root / "srv/app1").mkdir(parents=True)
    (root / "srv/app1/app.py").write_text(SEQ_APP)
    site = (stack.FILES / "nginx-site.conf").read_text().replace("@NAME@", "app1")
    (root / "etc/nginx/sites-available/app1").write_text(site)
    (root / "etc/nginx/sites-enabled/default").unlink()
    (root / "etc/nginx/sites-enabled/app1").symlink_to("../sites-available/app1")
    (root / stack.LOAD_CLIENT.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(stack.FILES / "httpload.py", root / stack.LOAD_CLIENT.lstrip("/"))
    # The container has no network: the package's dependencies come from the archive now
    # (not its Recommends: apt inside installs with --no-install-recommends).
    depends = subprocess.run(["dpkg-deb", "-f", str(deb_path), "Depends"], check=True,
                             capture_output=True, text=True).stdout.strip()
    subprocess.run(
        ["unshare", "--fork", "--pid", "--mount", f"--mount-proc={root}/proc", "chroot", str(root),
         "sh", "-c", f"apt-get update -qq && apt-get satisfy -y -qq --no-install-recommends '{depends}'"],
        check=True, stdout=subprocess.DEVNULL, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                                     "DEBIAN_FRONTEND": "noninteractive"})
    with nspawn.booted(root, CACHE / "nspawn") as booted:
        m = Machine(booted.leader)
        m.run(f"DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {OLD_IN_ROOT}")
        m.run("printf '[uwsgi]\\nchdir = /srv/app1\\nmodule = app\\n' > /etc/uwsgi/apps-available/app1.ini")
        assert "App app1 is up" in m.out("uwsgi-ensite --wait=10 app1")
        m.old_version = old_version
        yield m


def main_pid(m):
    return int(m.out("systemctl show -p MainPID --value uwsgi-emperor"))


def serves(m):
    return m.out("curl -sS --max-time 10 -H 'Host: app1.test' http://127.0.0.1/") == "Hello from app1"


def under_load(m, action):
    seen = seen_requests(m, "app1")
    load = stack.Load(m, "app1", connections=CONNECTIONS, min_requests=3000)
    try:
        wait_for_load(m, "app1", seen)
        proc = m.run(f"DEBIAN_FRONTEND=noninteractive {action} </dev/null", check=False)
        if proc.returncode == 0:
            wait_settled(m, APPS)
    finally:
        result = load.finish()
    return proc, result


def assert_no_failure(result):
    assert (result["failed"], result["errors"]) == (0, [])
    assert result["ok"] >= 3000 and not result["timed_out"]


def test_upgrade_under_load_drops_no_request(machine, record):
    assert version(machine) == machine.old_version
    before = wait_settled(machine, APPS)
    emperor = main_pid(machine)
    upgrade, result = under_load(machine, f"apt-get install -y --no-install-recommends {NEW_IN_ROOT}")
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
    reload, result = under_load(machine, "systemctl reload uwsgi-emperor")
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
    restart, result = under_load(machine, "systemctl restart uwsgi-emperor")
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
    downgrade, result = under_load(
        machine, f"apt-get install -y --no-install-recommends --allow-downgrades {OLD_IN_ROOT}")
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

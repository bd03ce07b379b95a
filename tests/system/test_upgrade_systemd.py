"""Issue 13 under the suite's real systemd (252, 257; systemd-nspawn -b): an upgrade drops
no request, and leaves no process on the previous binary.

The booted root runs the lower revision (the real .deb repacked as VERSION~prev) as
uwsgi-emperor.service and nginx.service in front of app1, a stdlib WSGI app that answers
"app1 N" for /seq/N. The unit's main process is the socket keeper (uwsgi_emperor/keeper.py,
python), which holds app1's listening socket (also in the unit's fd store) and runs the
Emperor as its child: the Emperor's master is the uwsgi process whose parent is MainPID.
While 16 connections keep app1 busy: `apt-get install` of the real .deb, whose postinst
restarts the unit (0 failed; a new keeper, a new Emperor and a new vassal master, every
uwsgi process on the binary on disk, and said), `systemctl reload` (0 failed, the same
Emperor and vassal master, new workers), `systemctl restart` (0 failed, figures recorded;
everything new), a downgrade (0 failed, restarted the same way), and `apt-get remove` stops
the unit and every process.
"""

import pathlib
import shlex

import pytest

from project import suite as suite_info
from testbed import debtools, nspawn, roots, stack
from upgradelib import (EMPEROR_LOG, assert_no_failure, assert_restarted, emperor_parent,
                        keepers, lower_version, on_deleted_binary, processes, split,
                        under_load, vassal, version, wait_settled)

pytestmark = pytest.mark.system

# Installed with the old package: the front end, curl, and python3 for the load client and
# upgradelib (the package depends only on the suite's python3.X).
# needrestart: what a Debian admin asks after an upgrade (its apt hook is suspended in the
# installs below, NEEDRESTART_SUSPEND, so that it restarts nothing by itself).
PACKAGES = ("nginx", "python3", "curl", "needrestart")
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


def restarted_notice(old_version):
    return (f"upgraded from {old_version}: the Emperor and every app restarted onto the new"
            " uwsgi, their sockets held (no request refused)")


def assert_keeper_is_main(m, procs):
    """MainPID is the keeper (python, named uwsgi-keeper), the only one, and the Emperor's
    master is its child; returns it."""
    main = main_pid(m)
    assert keepers(m) == [main] and main not in procs
    assert emperor_parent(procs) == main
    return main


def test_upgrade_under_load_drops_no_request(machine, record):
    assert version(machine) == machine.old_version
    before = wait_settled(machine, APPS)
    keeper = assert_keeper_is_main(machine, before)
    assert len(split(before)[0]) == 2 and not on_deleted_binary(before)
    upgrade, result = under_load(machine, APPS, "NEEDRESTART_SUSPEND=1 apt-get install -y "
                                 f"--no-install-recommends {machine.new_deb}")
    record("upgrade under systemd, 16 connections (ok/failed)", f"{result['ok']}/{result['failed']}")
    output = upgrade.stdout + upgrade.stderr
    assert upgrade.returncode == 0, output
    new_version = version(machine)
    assert f"Unpacking uwsgi-emperor ({new_version}) over ({machine.old_version}) ..." in output
    assert "dpkg: warning" not in output
    assert_no_failure(result)

    # Restarted: a new keeper (MainPID), under it a new Emperor with a new vassal master,
    # nothing on the old, deleted binary; said to the installer and in emperor.log.
    after = processes(machine)
    new_keeper = assert_keeper_is_main(machine, after)
    assert new_keeper != keeper
    assert_restarted(before, after, APPS, new_keeper)
    assert machine.out("systemctl is-active uwsgi-emperor") == "active"
    notice = restarted_notice(machine.old_version)
    assert f"uwsgi-emperor: {notice}." in output
    assert "keeps running the previous binary" not in output
    assert f"[uwsgi-emperor {new_version}] {notice}" in machine.out(f"cat {EMPEROR_LOG}")
    assert serves(machine)
    # needrestart (batch mode) names no service of the package: nothing runs old code.
    batch = machine.out("needrestart -b -r l")
    assert "NEEDRESTART-VER:" in batch
    assert [line for line in batch.splitlines() if "uwsgi" in line] == [], batch


def test_systemctl_reload_under_load_drops_no_request(machine, record):
    before = wait_settled(machine, APPS)
    keeper = assert_keeper_is_main(machine, before)
    reload, result = under_load(machine, APPS, "systemctl reload uwsgi-emperor")
    assert reload.returncode == 0, reload.stdout + reload.stderr
    record("systemctl reload, 16 connections (ok/failed)", f"{result['ok']}/{result['failed']}")
    assert_no_failure(result)
    after = processes(machine)
    # The same keeper and Emperor; the vassal's master re-executed itself, new workers.
    assert assert_keeper_is_main(machine, after) == keeper
    assert sorted(split(after)[0]) == sorted(split(before)[0])
    assert vassal(after, "app1")[0] == vassal(before, "app1")[0]
    assert not vassal(after, "app1")[1] & vassal(before, "app1")[1]
    assert on_deleted_binary(after) == []


def test_systemctl_restart_under_load_drops_no_request(machine, record):
    """systemd hands the stored socket to the next keeper: every request answered (figures
    recorded), and everything new."""
    before = wait_settled(machine, APPS)
    keeper = assert_keeper_is_main(machine, before)
    restart, result = under_load(machine, APPS, "systemctl restart uwsgi-emperor")
    assert restart.returncode == 0, restart.stdout + restart.stderr
    record("systemctl restart, 16 connections (ok/failed)", f"{result['ok']}/{result['failed']}")
    record("systemctl restart: slowest request (s)", result["max_latency_seconds"])
    assert_no_failure(result)
    after = processes(machine)
    new_keeper = assert_keeper_is_main(machine, after)
    assert new_keeper not in (keeper, 0)
    assert_restarted(before, after, APPS, new_keeper)
    assert serves(machine)


def test_downgrade_under_load_drops_no_request(machine, record):
    before = wait_settled(machine, APPS)
    keeper = assert_keeper_is_main(machine, before)
    newer = version(machine)
    downgrade, result = under_load(machine, APPS, "NEEDRESTART_SUSPEND=1 apt-get install -y "
                                   f"--no-install-recommends --allow-downgrades {machine.old_deb}")
    record("downgrade under systemd, 16 connections (ok/failed)",
           f"{result['ok']}/{result['failed']}")
    output = downgrade.stdout + downgrade.stderr
    assert downgrade.returncode == 0, output
    assert version(machine) == machine.old_version
    assert_no_failure(result)
    after = processes(machine)
    new_keeper = assert_keeper_is_main(machine, after)
    assert new_keeper != keeper
    assert_restarted(before, after, APPS, new_keeper)
    assert f"uwsgi-emperor: {restarted_notice(newer)}." in output
    assert f"[uwsgi-emperor {machine.old_version}] {restarted_notice(newer)}" in machine.out(
        f"cat {EMPEROR_LOG}")
    assert serves(machine)


def test_remove_stops_the_unit_and_every_process(machine):
    """The keeper, the Emperor and every vassal stop with the unit."""
    remove = machine.run("DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get remove -y "
                         "uwsgi-emperor </dev/null",
                         check=False)
    assert remove.returncode == 0, remove.stdout + remove.stderr
    assert machine.out("systemctl is-active uwsgi-emperor", check=False) == "inactive"
    assert processes(machine) == {}
    assert keepers(machine) == []

"""Issue 13 under the init script: an upgrade drops no request, and leaves no process on
the previous binary.

"The previous build" is the real .deb repacked with a lower revision (VERSION~prev,
debtools.with_version): the root starts on it and serves two apps through nginx. That
revision already runs the socket keeper (uwsgi_emperor/keeper.py, the init script's
process, holding every app's listening socket with the Emperor as its child). While 16
connections keep app1 busy, `apt-get install` of the real .deb upgrades it and the postinst
restarts the service (SIGUSR2: the keeper re-executes itself and starts a new Emperor, the
sockets held meanwhile): 0 failed requests, a new Emperor and new vassal masters, every
uwsgi process (the Emperor's two included) on the binary on disk, and the installer and
emperor.log say so. Then the init script's restart under load (0 failed, figures recorded),
a downgrade under load (0 failed, restarted the same way), an upgrade where policy-rc.d
forbids the restart (said, everything left on the old binary; the restart it names moves
everything, under load, 0 failed), and a removal that stops everything.
"""

import pytest

import stack
from upgradelib import (EMPEROR_LOG, assert_no_failure, assert_restarted, emperor_master,
                        emperor_parent, keepers, lower_version, on_deleted_binary, processes,
                        split, under_load, version, wait_settled)
from testbed import debtools

APPS = ("app1", "app2")
INIT = "/etc/init.d/uwsgi-emperor"
KEEPER_PIDFILE = "/run/uwsgi-emperor/keeper.pid"


def restarted_notice(old_version):
    return (f"upgraded from {old_version}: the Emperor and every app restarted onto the new"
            " uwsgi, their sockets held (no request refused)")


def keeper_pid(machine):
    return int(machine.out(f"cat {KEEPER_PIDFILE}"))


@pytest.fixture(scope="module")
def old_version(deb_path):
    return lower_version(deb_path)


@pytest.fixture(scope="module")
def old_deb(deb_path, old_version, tmp_path_factory):
    return debtools.with_version(deb_path, old_version, tmp_path_factory.mktemp("old-deb"))


@pytest.fixture(scope="module")
def deb_inside(clean_root, old_deb):
    """The group's machine installs the lower revision first."""
    return stack.prepare(clean_root, old_deb, apps=APPS)


@pytest.fixture(scope="module")
def new_deb(clean_root, deb_path):
    return stack.stage_deb(clean_root, deb_path)


def test_upgrade_under_load_drops_no_request(machine, new_deb, old_version, record):
    assert version(machine) == old_version
    for app in APPS:
        stack.enable(machine, app)
    before = wait_settled(machine, APPS)
    keeper = keeper_pid(machine)
    assert keepers(machine) == [keeper] and emperor_parent(before) == keeper
    assert len(split(before)[0]) == 2 and not on_deleted_binary(before)

    upgrade, result = under_load(machine, APPS, f"apt-get install -y {new_deb}")
    record("upgrade under 16 connections (ok/failed)", f"{result['ok']}/{result['failed']}")
    output = upgrade.stdout + upgrade.stderr
    assert upgrade.returncode == 0, output
    new_version = version(machine)
    assert f"Unpacking uwsgi-emperor ({new_version}) over ({old_version}) ..." in output
    assert new_version != old_version
    assert "dpkg: warning" not in output
    assert_no_failure(result)

    after = processes(machine)
    # Restarted: the keeper re-executed itself (same pid) and started a new Emperor, whose
    # vassals are new masters; nothing is left on the old, deleted binary.
    assert keeper_pid(machine) == keeper and keepers(machine) == [keeper]
    assert_restarted(before, after, APPS, keeper)
    notice = restarted_notice(old_version)
    assert f"uwsgi-emperor: {notice}." in output
    assert "keeps running the previous binary" not in output
    log = machine.out(f"cat {EMPEROR_LOG}")
    assert f"[uwsgi-emperor {new_version}] {notice}" in log
    for app in APPS:
        assert stack.serves(machine, app)
    assert machine.run(f"{INIT} status", check=False).returncode == 0


def test_init_script_restart_under_load_drops_no_request(machine, record):
    """The admin's restart: the keeper holds the sockets while the Emperor and every app
    start again; every request answered (figures recorded), all of it new."""
    before = wait_settled(machine, APPS)
    keeper = keeper_pid(machine)
    restart, result = under_load(machine, APPS, f"{INIT} restart")
    assert restart.returncode == 0, restart.stdout + restart.stderr
    record("init script restart under 16 connections (ok/failed)",
           f"{result['ok']}/{result['failed']}")
    record("init script restart: slowest request (s)", result["max_latency_seconds"])
    assert_no_failure(result)
    after = processes(machine)
    assert keeper_pid(machine) == keeper
    assert_restarted(before, after, APPS, keeper)
    for app in APPS:
        assert stack.serves(machine, app)


def test_downgrade_under_load_drops_no_request(machine, old_deb, old_version, record, clean_root):
    """The lower revision's postinst restarts the service the same way (it comes from a
    version with the keeper): 0 failed, every process on the binary now on disk."""
    older = stack.stage_deb(clean_root, old_deb)
    before = wait_settled(machine, APPS)
    keeper = keeper_pid(machine)
    newer = version(machine)
    downgrade, result = under_load(machine, APPS, f"apt-get install -y --allow-downgrades {older}")
    record("downgrade under 16 connections (ok/failed)", f"{result['ok']}/{result['failed']}")
    output = downgrade.stdout + downgrade.stderr
    assert downgrade.returncode == 0, output
    assert version(machine) == old_version
    assert_no_failure(result)
    after = processes(machine)
    assert keeper_pid(machine) == keeper
    assert_restarted(before, after, APPS, keeper)
    assert f"uwsgi-emperor: {restarted_notice(newer)}." in output
    assert f"[uwsgi-emperor {old_version}] {restarted_notice(newer)}" in machine.out(
        f"cat {EMPEROR_LOG}")
    for app in APPS:
        assert stack.serves(machine, app)


def test_upgrade_where_policy_forbids_the_restart_says_so(machine, new_deb, old_version, record):
    """A policy-rc.d that denies services (a chroot, an image build): nothing is restarted,
    the installer and emperor.log say the apps still run the old version and how to move
    them; the restart it names does, under load, refusing no request."""
    before = wait_settled(machine, APPS)
    policy = "/usr/sbin/policy-rc.d"
    machine.run(f"printf '#!/bin/sh\\nexit 101\\n' > {policy}")
    try:
        upgrade = machine.run(f"apt-get install -y {new_deb} </dev/null", check=False)
    finally:
        machine.run(f"printf '#!/bin/sh\\nexit 0\\n' > {policy}")
    output = upgrade.stdout + upgrade.stderr
    assert upgrade.returncode == 0, output
    new_version = version(machine)
    assert new_version != old_version
    procs = processes(machine)
    master = emperor_master(procs)
    why = "the local policy (policy-rc.d) forbade it"
    assert (f"uwsgi-emperor: did not restart the Emperor (pid {master}): {why}; every app still"
            f" runs {old_version}.") in output
    assert ("uwsgi-emperor: restart them with: systemctl restart uwsgi-emperor"
            " (or /etc/init.d/uwsgi-emperor restart); no request is refused") in output
    assert (f"[uwsgi-emperor {new_version}] upgraded from {old_version}, but no restart ({why}):"
            f" every app still runs {old_version}") in machine.out(f"cat {EMPEROR_LOG}")
    # Nothing moved: the same processes, all of them on the old, deleted binary.
    assert sorted(procs) == sorted(before)
    assert on_deleted_binary(procs) == sorted(procs)
    for app in APPS:
        assert stack.serves(machine, app)

    keeper = keeper_pid(machine)
    restart, result = under_load(machine, APPS, f"{INIT} restart")
    assert restart.returncode == 0, restart.stdout + restart.stderr
    record("restart named after a forbidden one, 16 connections (ok/failed)",
           f"{result['ok']}/{result['failed']}")
    assert_no_failure(result)
    assert_restarted(procs, processes(machine), APPS, keeper)


def test_remove_stops_everything(machine):
    """The keeper, the Emperor and every vassal stop; the keeper's and the Emperor's pid
    files go with them."""
    assert keepers(machine) == [keeper_pid(machine)]
    remove = machine.run("apt-get remove -y uwsgi-emperor </dev/null", check=False)
    assert remove.returncode == 0, remove.stdout + remove.stderr
    assert processes(machine) == {}
    assert keepers(machine) == []
    assert machine.run(f"test -e {KEEPER_PIDFILE} || test -e /run/uwsgi-emperor/emperor.pid",
                       check=False).returncode == 1
    assert machine.out("dpkg-query -W -f '${db:Status-Abbrev}' uwsgi-emperor").strip() == "rc"

"""Issue 13 under the init script: an upgrade drops no request.

"The previous build" is the real .deb repacked with a lower revision (VERSION~prev,
debtools.with_version): the root starts on it and serves two apps through nginx; while 16
connections keep app1 busy, `apt-get install` of the real .deb upgrades it. The postinst
reloads every app gracefully (no restart): 0 failed requests, every vassal process then
runs the binary on disk, and the Emperor's own two processes say (installer, emperor.log)
that they keep the previous binary until the next restart. Then what an admin's restart
costs (measured, recorded), a downgrade under load (0 failed) and a removal that stops
everything, even an Emperor on a deleted binary.
"""

import pytest

import stack
from upgradelib import (DAEMON, EMPEROR_LOG, assert_no_failure, emperor_master, lower_version,
                        on_deleted_binary, processes, split, under_load, vassal, version,
                        wait_settled)
from testbed import debtools

APPS = ("app1", "app2")
INIT = "/etc/init.d/uwsgi-emperor"


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
    emperor_before, _ = split(before)
    assert len(emperor_before) == 2 and not on_deleted_binary(before)

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
    emperor_after, vassals_after = split(after)
    # Every app's master re-executed itself (same pid, socket kept) on the new binary,
    # with new workers.
    for app in APPS:
        master, workers = vassal(after, app)
        old_master, old_workers = vassal(before, app)
        assert master == old_master and not workers & old_workers
    assert {v[1] for v in vassals_after.values()} == {DAEMON}
    # The Emperor was not restarted: its two processes keep the old, deleted binary, and
    # say so to the installer and in emperor.log.
    assert sorted(emperor_after) == sorted(emperor_before)
    assert on_deleted_binary(after) == sorted(emperor_after)
    master = emperor_master(after)
    notice = (f"upgraded from {old_version}: every app is reloaded gracefully onto the new uwsgi;"
              f" the Emperor itself (pid {master}) keeps running the previous binary until its"
              " next restart")
    assert f"uwsgi-emperor: {notice}" in output
    log = machine.out(f"cat {EMPEROR_LOG}")
    assert f"[uwsgi-emperor {new_version}] {notice}" in log
    for app in APPS:
        assert f"[emperor] reload the uwsgi instance {app}.ini" in log
        assert stack.serves(machine, app)
    assert machine.run(f"{INIT} status", check=False).returncode == 0
    # The old Emperor starts an app by the binary's path: a newly enabled app runs the new one.
    machine.run("uwsgi-dissite -q app2")
    stack.wait_for(lambda: vassal(processes(machine), "app2")[0] is None, stack.SPEC_SECONDS)
    machine.run("uwsgi-ensite -q app2")
    started = wait_settled(machine, APPS)
    assert vassal(started, "app2")[0] != vassal(after, "app2")[0]


def test_init_script_restart_moves_the_emperor_and_costs_requests(machine, record):
    """What the README says an admin's restart costs: measured and recorded, not asserted
    (it depends on how fast the apps start); afterwards nothing runs a deleted binary."""
    emperor_before, _ = split(processes(machine))
    restart, result = under_load(machine, APPS, f"{INIT} restart")
    assert restart.returncode == 0, restart.stdout + restart.stderr
    record("init script restart under 16 connections (ok/failed)",
           f"{result['ok']}/{result['failed']}")
    record("init script restart: outage (s)", result["failure_window_seconds"])
    after = processes(machine)
    emperor_after, _ = split(after)
    assert len(emperor_after) == 2 and not set(emperor_after) & set(emperor_before)
    assert on_deleted_binary(after) == []
    for app in APPS:
        assert stack.serves(machine, app)


def test_downgrade_under_load_drops_no_request(machine, old_deb, old_version, record, clean_root):
    older = stack.stage_deb(clean_root, old_deb)
    downgrade, result = under_load(machine, APPS, f"apt-get install -y --allow-downgrades {older}")
    record("downgrade under 16 connections (ok/failed)", f"{result['ok']}/{result['failed']}")
    output = downgrade.stdout + downgrade.stderr
    assert downgrade.returncode == 0, output
    assert version(machine) == old_version
    assert_no_failure(result)
    after = processes(machine)
    emperor, vassals = split(after)
    assert on_deleted_binary(after) == sorted(emperor)
    assert {v[1] for v in vassals.values()} == {DAEMON}
    for app in APPS:
        assert stack.serves(machine, app)


def test_upgrade_where_policy_forbids_the_reload_says_so(machine, new_deb, old_version):
    """A policy-rc.d that denies services (a chroot, an image build): nothing is reloaded,
    the installer and emperor.log say the apps still run the old version and how to move
    them; the reload it names does."""
    policy = "/usr/sbin/policy-rc.d"
    machine.run(f"printf '#!/bin/sh\\nexit 101\\n' > {policy}")
    try:
        upgrade = machine.run(f"apt-get install -y {new_deb} </dev/null", check=False)
    finally:
        machine.run(f"printf '#!/bin/sh\\nexit 0\\n' > {policy}")
    output = upgrade.stdout + upgrade.stderr
    assert upgrade.returncode == 0, output
    new_version = version(machine)
    procs = processes(machine)
    master = emperor_master(procs)
    why = "the local policy (policy-rc.d) forbade it"
    assert (f"uwsgi-emperor: did not reload the Emperor (pid {master}): {why}; every app still"
            f" runs {old_version}.") in output
    assert ("uwsgi-emperor: reload them gracefully with: systemctl reload uwsgi-emperor"
            " (or /etc/init.d/uwsgi-emperor reload)") in output
    assert (f"[uwsgi-emperor {new_version}] upgraded from {old_version}, but no reload ({why}):"
            f" every app still runs {old_version}") in machine.out(f"cat {EMPEROR_LOG}")
    assert on_deleted_binary(procs) == sorted(procs)
    for app in APPS:
        assert stack.serves(machine, app)
    machine.run(f"{INIT} reload")
    wait_settled(machine, APPS)


def test_remove_stops_everything(machine):
    """The Emperor runs a deleted binary (since the downgrade): the init script still finds
    it (start-stop-daemon matches the path) and stops it with every vassal."""
    remove = machine.run("apt-get remove -y uwsgi-emperor </dev/null", check=False)
    assert remove.returncode == 0, remove.stdout + remove.stderr
    assert processes(machine) == {}
    assert machine.out("dpkg-query -W -f '${db:Status-Abbrev}' uwsgi-emperor").strip() == "rc"

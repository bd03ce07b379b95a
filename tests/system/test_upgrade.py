"""Issue 13: an upgrade drops no request, and leaves no process on the previous binary, under
either init system (`init`: the LSB init script in an isolated root, or the suite's real
systemd, 252 and 257, booted with systemd-nspawn -b).

"The previous build" is the real .deb repacked with a lower revision (VERSION~prev,
debtools.with_version): the root starts on it. That revision already runs the socket keeper
(uwsgi_emperor/keeper.py: the init script's process, or the unit's main process, holding
every app's listening socket with the Emperor as its child, the Emperor's master the uwsgi
process whose parent is the keeper).

Under the init script the root serves two Flask apps through nginx. While 16 connections
keep app1 busy, `apt-get install` of the real .deb upgrades it and the postinst restarts the
service (SIGUSR2: the keeper re-executes itself and starts a new Emperor, the sockets held
meanwhile): 0 failed requests, a new Emperor and new vassal masters, every uwsgi process (the
Emperor's two included) on the binary on disk, and the installer and emperor.log say so.
Then the init script's restart under load (0 failed, figures recorded), a downgrade under
load (0 failed, restarted the same way), an upgrade where policy-rc.d forbids the restart
(said, everything left on the old binary; the restart it names moves everything, under load,
0 failed), and a removal that stops everything.

Under systemd the root runs uwsgi-emperor.service and nginx.service in front of app1, a stdlib
WSGI app that answers "app1 N" for /seq/N; the keeper's socket is also in the unit's fd
store. While 16 connections keep app1 busy: `apt-get install` of the real .deb, whose
postinst restarts the unit (0 failed; a new keeper, a new Emperor and a new vassal master,
every uwsgi process on the binary on disk, and said; needrestart names nothing),
`systemctl reload` (0 failed, the same Emperor and vassal master, new workers), `systemctl
restart` (0 failed, figures recorded; everything new), a downgrade (0 failed, restarted the
same way), and `apt-get remove` stops the unit and every process.

Each check is made under the init system it was written for: the upgrade and the downgrade
for both, the others (marker `inits`) for one; one root per suite and init, as before the two
were one module. A test that needs the version an earlier one left installs it first when it
is not there, so each passes alone.
"""

import pathlib
import shlex

import pytest

import webstack
from project import suite as suite_info
from testbed import debtools, nspawn
from testbed import stack as testbed_stack
from upgradelib import (EMPEROR_LOG, assert_no_failure, assert_restarted, emperor_master,
                        emperor_parent, keepers, lower_version, on_deleted_binary, processes,
                        split, under_load, vassal, version, wait_settled)

INIT_SCRIPT = pytest.mark.inits("init-script")
SYSTEMD = pytest.mark.inits("systemd")

# Under the init script: two Flask apps in their venvs (tests/system/files).
APPS = ("app1", "app2")
INIT = "/etc/init.d/uwsgi-emperor"
KEEPER_PIDFILE = "/run/uwsgi-emperor/keeper.pid"

# Under systemd, installed with the old package: the front end, curl, and python3 for the
# load client and upgradelib (the package depends only on the suite's python3.X).
# needrestart: what a Debian admin asks after an upgrade (its apt hook is suspended in the
# installs below, NEEDRESTART_SUSPEND, so that it restarts nothing by itself).
PACKAGES = ("nginx", "python3", "curl", "needrestart")
NGINX_SITE = pathlib.Path(__file__).resolve().with_name("files") / "nginx-site.conf"
UNIT_APPS = ("app1",)

# No venv and no download inside the container: the app needs only the standard library.
SEQ_APP = NGINX_SITE.with_name("seq_app.py").read_text()


@pytest.fixture(scope="module", params=["init-script", "systemd"])
def init(request):
    return request.param


@pytest.fixture(scope="module")
def old_deb(deb_path, tmp_path_factory):
    return debtools.with_version(deb_path, lower_version(deb_path),
                                 tmp_path_factory.mktemp("old-deb"))


@pytest.fixture(scope="module")
def machine(request, suite, init, deb_path, old_deb, fresh_root):
    """A fresh root of SUITE running the lower revision under INIT; m.apps its apps,
    m.old_version, and the real .deb (m.new_deb) and the lower one (m.old_deb) staged.
    Under the init script: the isolated machine, APPS' venvs ready, nginx running, no app
    enabled yet. Under systemd: the booted root, nginx in front of app1, enabled (what apt
    needs for both .debs was downloaded before the boot)."""
    include = nspawn.BOOT_PACKAGES if init == "systemd" else None
    with fresh_root(request, suite, init, include=include) as root:
        new_deb = webstack.stage_deb(root, deb_path)
        if init == "systemd":
            what = testbed_stack.prepare(root, old_deb, packages=PACKAGES)
            (root.path / "srv/app1").mkdir(parents=True)
            (root.path / "srv/app1/app.py").write_text(SEQ_APP)
            with nspawn.booted(root) as m:
                install = webstack.install(m, what)
                assert install.returncode == 0, install.stdout + install.stderr
                site = NGINX_SITE.read_text().replace("@NAME@", "app1")
                m.run("cat > /etc/nginx/sites-available/app1", input=site)
                m.run("rm /etc/nginx/sites-enabled/default && "
                      "ln -s ../sites-available/app1 /etc/nginx/sites-enabled/app1 && "
                      "nginx -t -q && systemctl reload nginx")
                m.run("printf '[uwsgi]\\nchdir = /srv/app1\\nmodule = app\\n' "
                      "> /etc/uwsgi/apps-available/app1.ini")
                assert "App app1 is up" in m.out("uwsgi-ensite --wait app1")
                yield staged(m, UNIT_APPS, lower_version(deb_path), what, new_deb)
        else:
            what = webstack.prepare(root, old_deb, apps=APPS)
            m = webstack.installed(root, what)
            yield staged(m, APPS, lower_version(deb_path), what, new_deb)


def staged(m, apps, old_version, what, new_deb):
    m.apps = apps
    m.old_version = old_version
    m.old_deb = shlex.split(what)[0]  # prepare() puts the staged .deb first
    m.new_deb = new_deb
    return m


@SYSTEMD
def test_systemd_is_the_suites(machine, suite):
    """The booted root runs the suite's own systemd (what the unit's restart relies on)."""
    assert machine.systemd_major() == suite_info(suite).systemd


def restarted_notice(old_version):
    return (f"upgraded from {old_version}: the Emperor and every app restarted onto the new"
            " uwsgi, their sockets held (no request refused)")


def keeper_pid(machine):
    return int(machine.out(f"cat {KEEPER_PIDFILE}"))


def main_pid(m):
    return int(m.out("systemctl show -p MainPID --value uwsgi-emperor"))


def assert_keeper_is_main(m, procs):
    """MainPID is the keeper (python, named uwsgi-keeper), the only one, and the Emperor's
    master is its child; returns it."""
    main = main_pid(m)
    assert keepers(m) == [main] and main not in procs
    assert emperor_parent(procs) == main
    return main


def the_keeper(machine, init, procs):
    """The socket keeper, the only one, the parent of the Emperor's master in PROCS: the unit's
    MainPID under systemd, the init script's pid file's process otherwise."""
    if init == "systemd":
        return assert_keeper_is_main(machine, procs)
    keeper = keeper_pid(machine)
    assert keepers(machine) == [keeper] and emperor_parent(procs) == keeper
    return keeper


def apt_install(init, args):
    """apt-get install ARGS as each root's admin runs it (needrestart's hook held off)."""
    if init == "systemd":
        return f"NEEDRESTART_SUSPEND=1 apt-get install -y --no-install-recommends {args}"
    return f"apt-get install -y {args}"


def enabled(machine):
    """Every app of the root enabled and served (enabled now when it was not)."""
    for app in machine.apps:
        if not webstack.serves(machine, app):
            webstack.enable(machine, app)


def at_version(machine, init, deb, old):
    """DEB (the real .deb, or the lower one: OLD) installed, and the apps settled on it: what
    the test before left, made when it is missing."""
    if (version(machine) == machine.old_version) != old:
        downgrade = "--allow-downgrades " if old else ""
        install = machine.run(f"DEBIAN_FRONTEND=noninteractive "
                              f"{apt_install(init, downgrade + deb)} </dev/null", check=False)
        assert install.returncode == 0, install.stdout + install.stderr
    enabled(machine)
    wait_settled(machine, machine.apps)


def test_upgrade_under_load_drops_no_request(machine, init, record):
    """Installing the real .deb over the running lower revision, under load: 0 failed, and
    the Emperor and every app restarted onto the new binary (under the init script the
    keeper re-executes itself, same pid; under systemd the unit restarts, a new keeper)."""
    apps = machine.apps
    assert version(machine) == machine.old_version
    if init == "init-script":
        for app in apps:
            webstack.enable(machine, app)
    before = wait_settled(machine, apps)
    keeper = the_keeper(machine, init, before)
    assert len(split(before)[0]) == 2 and not on_deleted_binary(before)

    upgrade, result = under_load(machine, apps, apt_install(init, machine.new_deb))
    record("upgrade under systemd, 16 connections (ok/failed)" if init == "systemd"
           else "upgrade under 16 connections (ok/failed)", f"{result['ok']}/{result['failed']}")
    output = upgrade.stdout + upgrade.stderr
    assert upgrade.returncode == 0, output
    new_version = version(machine)
    assert f"Unpacking uwsgi-emperor ({new_version}) over ({machine.old_version}) ..." in output
    assert new_version != machine.old_version
    assert "dpkg: warning" not in output
    assert_no_failure(result)

    after = processes(machine)
    if init == "systemd":
        # Restarted: a new keeper (MainPID), under it a new Emperor with a new vassal master,
        # nothing on the old, deleted binary; said to the installer and in emperor.log.
        new_keeper = assert_keeper_is_main(machine, after)
        assert new_keeper != keeper
        assert machine.out("systemctl is-active uwsgi-emperor") == "active"
    else:
        # Restarted: the keeper re-executed itself (same pid) and started a new Emperor, whose
        # vassals are new masters; nothing is left on the old, deleted binary.
        new_keeper = keeper
        assert keeper_pid(machine) == keeper and keepers(machine) == [keeper]
    assert_restarted(before, after, apps, new_keeper)
    notice = restarted_notice(machine.old_version)
    assert f"uwsgi-emperor: {notice}." in output
    assert "keeps running the previous binary" not in output
    assert f"[uwsgi-emperor {new_version}] {notice}" in machine.out(f"cat {EMPEROR_LOG}")
    for app in apps:
        assert webstack.serves(machine, app)
    if init == "systemd":
        # needrestart (batch mode) names no service of the package: nothing runs old code.
        batch = machine.out("needrestart -b -r l")
        assert "NEEDRESTART-VER:" in batch
        assert [line for line in batch.splitlines() if "uwsgi" in line] == [], batch
    else:
        assert machine.run(f"{INIT} status", check=False).returncode == 0


@INIT_SCRIPT
def test_init_script_restart_under_load_drops_no_request(machine, record):
    """The admin's restart: the keeper holds the sockets while the Emperor and every app
    start again; every request answered (figures recorded), all of it new."""
    enabled(machine)
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
        assert webstack.serves(machine, app)


@SYSTEMD
def test_systemctl_reload_under_load_drops_no_request(machine, record):
    """`systemctl reload`: the same keeper and Emperor, every app reloaded gracefully."""
    before = wait_settled(machine, UNIT_APPS)
    keeper = assert_keeper_is_main(machine, before)
    reload, result = under_load(machine, UNIT_APPS, "systemctl reload uwsgi-emperor")
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


@SYSTEMD
def test_systemctl_restart_under_load_drops_no_request(machine, record):
    """systemd hands the stored socket to the next keeper: every request answered (figures
    recorded), and everything new."""
    before = wait_settled(machine, UNIT_APPS)
    keeper = assert_keeper_is_main(machine, before)
    restart, result = under_load(machine, UNIT_APPS, "systemctl restart uwsgi-emperor")
    assert restart.returncode == 0, restart.stdout + restart.stderr
    record("systemctl restart, 16 connections (ok/failed)", f"{result['ok']}/{result['failed']}")
    record("systemctl restart: slowest request (s)", result["max_latency_seconds"])
    assert_no_failure(result)
    after = processes(machine)
    new_keeper = assert_keeper_is_main(machine, after)
    assert new_keeper not in (keeper, 0)
    assert_restarted(before, after, UNIT_APPS, new_keeper)
    assert webstack.serves(machine, "app1")


def test_downgrade_under_load_drops_no_request(machine, init, record):
    """The lower revision's postinst restarts the service the same way (it comes from a
    version with the keeper): 0 failed, every process on the binary now on disk."""
    at_version(machine, init, machine.new_deb, old=False)
    apps = machine.apps
    before = wait_settled(machine, apps)
    keeper = the_keeper(machine, init, before)
    newer = version(machine)
    downgrade, result = under_load(machine, apps,
                                   apt_install(init, f"--allow-downgrades {machine.old_deb}"))
    record("downgrade under systemd, 16 connections (ok/failed)" if init == "systemd"
           else "downgrade under 16 connections (ok/failed)", f"{result['ok']}/{result['failed']}")
    output = downgrade.stdout + downgrade.stderr
    assert downgrade.returncode == 0, output
    assert version(machine) == machine.old_version
    assert_no_failure(result)
    after = processes(machine)
    if init == "systemd":
        new_keeper = assert_keeper_is_main(machine, after)
        assert new_keeper != keeper
    else:
        new_keeper = keeper
        assert keeper_pid(machine) == keeper
    assert_restarted(before, after, apps, new_keeper)
    assert f"uwsgi-emperor: {restarted_notice(newer)}." in output
    assert f"[uwsgi-emperor {machine.old_version}] {restarted_notice(newer)}" in machine.out(
        f"cat {EMPEROR_LOG}")
    for app in apps:
        assert webstack.serves(machine, app)


@INIT_SCRIPT
def test_upgrade_where_policy_forbids_the_restart_says_so(machine, record):
    """A policy-rc.d that denies services (a chroot, an image build): nothing is restarted,
    the installer and emperor.log say the apps still run the old version and how to move
    them; the restart it names does, under load, refusing no request."""
    old_version = machine.old_version
    at_version(machine, "init-script", machine.old_deb, old=True)
    before = wait_settled(machine, APPS)
    policy = "/usr/sbin/policy-rc.d"
    machine.run(f"printf '#!/bin/sh\\nexit 101\\n' > {policy}")
    try:
        upgrade = machine.run(f"apt-get install -y {machine.new_deb} </dev/null", check=False)
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
        assert webstack.serves(machine, app)

    keeper = keeper_pid(machine)
    restart, result = under_load(machine, APPS, f"{INIT} restart")
    assert restart.returncode == 0, restart.stdout + restart.stderr
    record("restart named after a forbidden one, 16 connections (ok/failed)",
           f"{result['ok']}/{result['failed']}")
    assert_no_failure(result)
    assert_restarted(procs, processes(machine), APPS, keeper)


@INIT_SCRIPT
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


@SYSTEMD
def test_remove_stops_the_unit_and_every_process(machine):
    """The keeper, the Emperor and every vassal stop with the unit."""
    remove = machine.run("DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get remove -y "
                         "uwsgi-emperor </dev/null",
                         check=False)
    assert remove.returncode == 0, remove.stdout + remove.stderr
    assert machine.out("systemctl is-active uwsgi-emperor", check=False) == "inactive"
    assert processes(machine) == {}
    assert keepers(machine) == []

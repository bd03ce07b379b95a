"""uwsgi-emperor.service under the suite's real systemd (252, 257), booted with systemd-nspawn.

The postinst must enable and start the unit; reload must reload every vassal gracefully
(same vassal master, new workers), restart must replace the Emperor, stop must leave no
uwsgi process, and a removed /run/uwsgi must come back on start.
"""

import re

import pytest

from project import suite as suite_info
from testbed import nspawn, roots, stack

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def machine(suite, deb_path, tmp_path_factory):
    """The package installed by apt under the booted systemd of a fresh root of SUITE (no
    network inside: what apt needs was downloaded before the boot)."""
    root = roots.Root.fresh(suite, tmp_path_factory.mktemp(f"{suite}-systemd") / "root",
                            include=nspawn.BOOT_PACKAGES)
    try:
        what = stack.prepare(root, deb_path)
        with nspawn.booted(root) as m:
            install = stack.install(m, what)
            m.install_output = install.stdout + install.stderr
            assert install.returncode == 0, m.install_output
            yield m
    finally:
        root.discard()


def emperor_pids(m):
    return m.out("systemctl show -p MainPID --value uwsgi-emperor")


def vassal_pids(m, name):
    """{master pid: [worker pids]} of the vassal NAME, from the process tree."""
    procs = stack.vassal_processes(m, name)
    return {master: stack.workers(procs, master) for master in stack.masters(procs)}


def settled_vassal(m, name, workers=2, timeout=30, replacing=()):
    """The vassal's {master: workers} once it has all its workers (the socket accepts
    connections before the workers are forked), none of them one of REPLACING."""
    def settled():
        """the vassal has one master and all its workers, and none of the old ones"""
        pids = vassal_pids(m, name)
        if len(pids) != 1:
            return None
        [current] = pids.values()
        return pids if len(current) == workers and not set(current) & set(replacing) else None
    return stack.wait_for(settled, timeout, interval=0.2)[0]


def test_systemd_is_the_suites(machine, suite):
    assert machine.out("systemctl --version").splitlines()[0].startswith(
        f"systemd {suite_info(suite).systemd} (")


def test_postinst_enables_and_starts_the_unit(machine):
    assert "dpkg: warning" not in machine.install_output
    assert machine.out("systemctl is-enabled uwsgi-emperor") == "enabled"
    assert machine.out("systemctl is-active uwsgi-emperor") == "active"
    main = machine.out("systemctl show -p MainPID --value uwsgi-emperor")
    # The main process is the socket keeper; the Emperor's master is its child.
    assert machine.out(f"cat /proc/{main}/comm") == "uwsgi-keeper"
    master = machine.out("cat /run/uwsgi-emperor/emperor.pid")
    assert machine.out(f"ps -o ppid= -p {master}").strip() == main
    assert machine.out(f"readlink /proc/{master}/exe") == "/opt/venvs/uwsgi-emperor/bin/uwsgi"
    # Type=notify: the keeper says it is ready once the Emperor answers on its stats
    # socket. NotifyAccess=main: only its messages count.
    assert machine.out("systemctl show -p Type --value uwsgi-emperor") == "notify"
    assert machine.out("systemctl show -p StatusText --value uwsgi-emperor") == f"Emperor pid {master}"
    assert machine.out("stat -c '%U:%G %a' /run/uwsgi") == "root:www-data 1775"


def test_systemd_analyze_verify(machine):
    proc = machine.run("systemd-analyze verify uwsgi-emperor.service", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout + proc.stderr == ""


def app1_up(m):
    """app1 (wsgiref's demo app) enabled and up; its ini is written once, since a touched
    ini reloads the vassal. What `uwsgi-ensite --wait` says."""
    m.run("test -e /etc/uwsgi/apps-available/app1.ini || printf '[uwsgi]\\nmodule = "
          "wsgiref.simple_server:demo_app\\nchdir = /srv\\n' > /etc/uwsgi/apps-available/app1.ini")
    return m.out("uwsgi-ensite --wait app1")


def test_app_served_as_www_data(machine):
    assert "App app1 is up" in app1_up(machine)
    # Held by the socket keeper: root:www-data, so no app can rename over its name.
    assert machine.out("stat -c '%U:%G %a' /run/uwsgi/app1.sock") == "root:www-data 660"
    [(master, workers)] = settled_vassal(machine, "app1").items()
    users = {machine.out(f"ps -o user= -p {pid}") for pid in [master, *workers]}
    assert users == {"www-data"}


def test_reload_is_graceful_per_vassal(machine):
    app1_up(machine)
    before = settled_vassal(machine, "app1")
    emperor = emperor_pids(machine)
    machine.run("systemctl reload uwsgi-emperor")
    stack.wait_for(lambda: "reload the uwsgi instance app1.ini" in machine.out(
        "cat /var/log/uwsgi/emperor.log"), 10)
    machine.run("uwsgi-ensite --wait app1")
    # The Emperor logs the reload when it signals the vassal, which may not have acted yet:
    # wait for the new workers (a reload that never replaced them fails here).
    [old_workers] = before.values()
    after = settled_vassal(machine, "app1", replacing=old_workers)
    # Same Emperor, same vassal master (its socket never closed).
    assert emperor_pids(machine) == emperor
    assert list(after) == list(before)


def test_restart_replaces_the_emperor(machine):
    app1_up(machine)
    emperor = emperor_pids(machine)
    machine.run("systemctl restart uwsgi-emperor")
    # restart returns once the new Emperor said it is ready (Type=notify).
    assert emperor_pids(machine) not in (emperor, "0")
    assert "App app1 is up" in machine.out("uwsgi-ensite --wait app1")


def test_stop_leaves_no_process_and_start_recreates_run_dir(machine):
    app1_up(machine)
    machine.run("systemctl stop uwsgi-emperor")
    assert machine.out("systemctl is-active uwsgi-emperor", check=False) == "inactive"
    assert machine.out("systemctl show -p Result --value uwsgi-emperor") == "success"
    assert machine.out("pgrep -c -x uwsgi", check=False) == "0"
    # After a reboot /run is empty: the unit recreates /run/uwsgi itself.
    machine.run("rm -rf /run/uwsgi")
    machine.run("systemctl start uwsgi-emperor")
    assert machine.out("stat -c '%U:%G %a' /run/uwsgi") == "root:www-data 1775"
    assert "App app1 is up" in machine.out("uwsgi-ensite --wait app1")

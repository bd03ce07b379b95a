"""Issue 14: the package's log rotation run the way a Debian host of the suite runs it, by
logrotate.service under the suite's real systemd (252, 257; systemd-nspawn -b). Its sandbox
matters: ProtectSystem=full makes /etc read-only for postrotate (a trigger file under /etc
could not be touched), PrivateDevices, MemoryDenyWriteExecute. After the daily run every
process of the vassal and the Emperor write to the new files, and the unit's result is success.
"""

import time

import pytest

from project import suite as suite_info
from testbed import nspawn, roots, stack

pytestmark = pytest.mark.system

LOGS = "/var/log/uwsgi"


@pytest.fixture(scope="module")
def machine(suite, deb_path, tmp_path_factory):
    """The package installed by apt under the booted systemd of a fresh root of SUITE, with
    logrotate (installed first, its daily timer stopped)."""
    root = roots.Root.fresh(suite, tmp_path_factory.mktemp(f"{suite}-logrotate-systemd") / "root",
                            include=nspawn.BOOT_PACKAGES)
    try:
        what = stack.prepare(root, deb_path, packages=("logrotate",))
        with nspawn.booted(root) as m:
            logrotate = stack.install(m, "logrotate")
            assert logrotate.returncode == 0, logrotate.stdout + logrotate.stderr
            # The daily timer must not rotate behind the test's back.
            m.run("systemctl stop logrotate.timer")
            install = stack.install(m, what)
            assert install.returncode == 0, install.stdout + install.stderr
            yield m
    finally:
        root.discard()


def test_systemd_is_the_suites(machine, suite):
    assert machine.systemd_major() == suite_info(suite).systemd


def vassal_pids(m, name, workers=2, timeout=20):
    """[master, worker, worker] of vassal NAME once all its workers run."""
    deadline = time.monotonic() + timeout
    while True:
        lines = m.out(f"ps -eo pid=,ppid=,args= | grep '[-]-ini {name}.ini'").splitlines()
        procs = {int(p.split()[0]): int(p.split()[1]) for p in lines}
        masters = [pid for pid, ppid in procs.items() if ppid not in procs]
        if len(masters) == 1 and len(procs) == 1 + workers:
            return [masters[0]] + sorted(p for p in procs if p != masters[0])
        assert time.monotonic() < deadline, f"vassal {name}: {procs} after {timeout} s"
        time.sleep(0.2)


def log_fds(m, pid):
    """The files under /var/log/uwsgi that PID holds open (fd 1 aside: see logreopen.py)."""
    out = m.out(f"for fd in /proc/{pid}/fd/*; do [ \"${{fd##*/}}\" = 1 ] || readlink $fd; done",
                check=False)
    return sorted(line for line in out.splitlines() if line.startswith(LOGS + "/"))


def test_logrotate_service_reopens_every_log(machine):
    machine.run("printf '[uwsgi]\\nmodule = wsgiref.simple_server:demo_app\\nchdir = /srv\\n'"
                " > /etc/uwsgi/apps-available/app1.ini")
    assert "App app1 is up" in machine.out("uwsgi-ensite --wait app1")
    master, *workers = vassal_pids(machine, "app1")
    # logrotate's state says the logs were last rotated long ago: today's run rotates them.
    machine.run("printf 'logrotate state -- version 2\\n"
                "\"/var/log/uwsgi/app1.log\" 2020-1-1-0:0:0\\n"
                "\"/var/log/uwsgi/emperor.log\" 2020-1-1-0:0:0\\n' > /var/lib/logrotate/status")

    machine.run("systemctl start logrotate.service")  # a oneshot: returns when it is done
    assert machine.out("systemctl show -p Result --value logrotate.service") == "success"
    assert machine.out(f"ls {LOGS}").split() == [
        "app1.log", "app1.log.1", "emperor.log", "emperor.log.1"]
    # The vassal: same master, new workers, everyone on the new file.
    after = vassal_pids(machine, "app1")
    assert after[0] == master and set(after[1:]).isdisjoint(workers)
    assert {pid: log_fds(machine, pid) for pid in after} == {
        pid: [f"{LOGS}/app1.log"] for pid in after}
    # The Emperor's master (the log master, the socket keeper's child) writes to the new
    # emperor.log.
    emperor = machine.out("cat /run/uwsgi-emperor/emperor.pid")
    assert log_fds(machine, emperor) == [f"{LOGS}/emperor.log"]
    assert f"{LOGS}/emperor.log reopened." in machine.out(f"cat {LOGS}/emperor.log")


def test_postrotate_cannot_write_under_etc(machine):
    # Why the Emperor's trigger moved to /var/lib/uwsgi-emperor (it was /etc/uwsgi before
    # issue 14): logrotate.service's sandbox makes /etc read-only for its scripts.
    assert machine.out("systemctl show -p ProtectSystem --value logrotate.service") == "full"
    denied = machine.run("systemd-run --wait --quiet -p ProtectSystem=full "
                         "touch /etc/uwsgi/trigger-test", check=False)
    assert denied.returncode != 0
    assert machine.run("test -e /etc/uwsgi/trigger-test", check=False).returncode == 1
    allowed = machine.run("systemd-run --wait --quiet -p ProtectSystem=full "
                          "touch /var/lib/uwsgi-emperor/trigger-test", check=False)
    assert allowed.returncode == 0
    machine.run("rm /var/lib/uwsgi-emperor/trigger-test")

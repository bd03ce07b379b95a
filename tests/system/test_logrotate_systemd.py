"""Issue 14: the package's log rotation run the way a Debian 12 host runs it, by
logrotate.service under a real systemd 252 (systemd-nspawn -b). Its sandbox matters:
ProtectSystem=full makes /etc read-only for postrotate (a trigger file under /etc could not be
touched), PrivateDevices, MemoryDenyWriteExecute. After the daily run every process of the
vassal and the Emperor write to the new files, and the unit's result is success.
"""

import shutil
import subprocess
import time

import pytest

import roots
from nspawn import booted
from project import ROOT

pytestmark = pytest.mark.system

CACHE = ROOT / ".cache"
ROOT_PACKAGES = ("systemd-sysv", "dbus", "procps", "logrotate")
DEB_IN_ROOT = "/root/uwsgi-emperor.deb"
LOGS = "/var/log/uwsgi"


@pytest.fixture(scope="module")
def machine(deb_path, tmp_path_factory):
    root = tmp_path_factory.mktemp("logrotate-systemd") / "root"
    root.mkdir()
    subprocess.run(["tar", "-xf", str(roots.tarball(include=ROOT_PACKAGES)), "-C", str(root)],
                   check=True)
    shutil.copy(deb_path, root / DEB_IN_ROOT.lstrip("/"))
    # The container has no network: the package's dependencies come from the archive now.
    depends = subprocess.run(["dpkg-deb", "-f", str(deb_path), "Depends"], check=True,
                             capture_output=True, text=True).stdout.strip()
    subprocess.run(
        ["unshare", "--fork", "--pid", "--mount", f"--mount-proc={root}/proc", "chroot", str(root),
         "sh", "-c", f"apt-get update -qq && apt-get satisfy -y -qq --no-install-recommends '{depends}'"],
        check=True, stdout=subprocess.DEVNULL, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                                     "DEBIAN_FRONTEND": "noninteractive"},
    )
    with booted(root, CACHE / "nspawn") as m:
        # The daily timer must not rotate behind the test's back.
        m.run("systemctl stop logrotate.timer")
        m.run(f"DEBIAN_FRONTEND=noninteractive dpkg -i {DEB_IN_ROOT}")
        yield m


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
    assert "App app1 is up" in machine.out("uwsgi-ensite --wait=10 app1")
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
    # The Emperor's master (the log master) writes to the new emperor.log.
    emperor = machine.out("systemctl show -p MainPID --value uwsgi-emperor")
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

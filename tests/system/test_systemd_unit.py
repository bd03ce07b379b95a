"""uwsgi-emperor.service under a real systemd 252, booted with systemd-nspawn.

The postinst must enable and start the unit; reload must reload every vassal gracefully
(same vassal master, new workers), restart must replace the Emperor, stop must leave no
uwsgi process, and a removed /run/uwsgi must come back on start.
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
# systemd as init; man-db so that systemd-analyze verify can check Documentation=man:.
ROOT_PACKAGES = ("systemd-sysv", "dbus", "procps", "man-db")
DEB_IN_ROOT = "/root/uwsgi-emperor.deb"


@pytest.fixture(scope="module")
def machine(deb_path, tmp_path_factory):
    root = tmp_path_factory.mktemp("systemd") / "root"
    root.mkdir()
    subprocess.run(["tar", "-xf", str(roots.tarball(include=ROOT_PACKAGES)), "-C", str(root)], check=True)
    shutil.copy(deb_path, root / DEB_IN_ROOT.lstrip("/"))
    # The container has no network: give it the package's dependencies now, from the
    # archive, and install the package itself inside, under systemd, as dpkg would.
    depends = subprocess.run(["dpkg-deb", "-f", str(deb_path), "Depends"], check=True,
                             capture_output=True, text=True).stdout.strip()
    subprocess.run(
        ["unshare", "--fork", "--pid", "--mount", f"--mount-proc={root}/proc", "chroot", str(root),
         "sh", "-c", f"apt-get update -qq && apt-get satisfy -y -qq --no-install-recommends '{depends}'"],
        check=True, stdout=subprocess.DEVNULL, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                                     "DEBIAN_FRONTEND": "noninteractive"},
    )
    with booted(root, CACHE / "nspawn") as m:
        install = m.run(f"DEBIAN_FRONTEND=noninteractive dpkg -i {DEB_IN_ROOT}")
        m.install_output = install.stdout + install.stderr
        yield m


def emperor_pids(m):
    return m.out("systemctl show -p MainPID --value uwsgi-emperor")


def vassal_pids(m, name):
    """{master pid: [worker pids]} of the vassal NAME, from the process tree."""
    lines = m.out(f"ps -eo pid=,ppid=,args= | grep '[-]-ini {name}.ini'").splitlines()
    procs = {int(p.split()[0]): int(p.split()[1]) for p in lines}
    masters = [pid for pid, ppid in procs.items() if ppid not in procs]
    return {master: sorted(pid for pid, ppid in procs.items() if ppid == master) for master in masters}


def settled_vassal(m, name, workers=2, timeout=10):
    """The vassal's {master: workers} once it has all its workers (the socket accepts
    connections before the workers are forked)."""
    deadline = time.monotonic() + timeout
    while True:
        pids = vassal_pids(m, name)
        if len(pids) == 1 and len(next(iter(pids.values()))) == workers:
            return pids
        assert time.monotonic() < deadline, f"vassal {name} has {pids} after {timeout} s"
        time.sleep(0.2)


def test_postinst_enables_and_starts_the_unit(machine):
    assert "dpkg: warning" not in machine.install_output
    assert machine.out("systemctl is-enabled uwsgi-emperor") == "enabled"
    assert machine.out("systemctl is-active uwsgi-emperor") == "active"
    main = machine.out("systemctl show -p MainPID --value uwsgi-emperor")
    assert machine.out(f"readlink /proc/{main}/exe") == "/opt/venvs/uwsgi-emperor/bin/uwsgi"
    # Type=notify: uWSGI itself said it is ready.
    assert machine.out("systemctl show -p StatusText --value uwsgi-emperor") == "uWSGI is ready"
    assert machine.out("stat -c '%U:%G %a' /run/uwsgi") == "root:www-data 1775"


def test_systemd_analyze_verify(machine):
    proc = machine.run("systemd-analyze verify uwsgi-emperor.service", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout + proc.stderr == ""


def test_app_served_as_www_data(machine):
    machine.run("printf '[uwsgi]\\nmodule = wsgiref.simple_server:demo_app\\nchdir = /srv\\n'"
                " > /etc/uwsgi/apps-available/app1.ini")
    out = machine.out("uwsgi-ensite --wait=10 app1")
    assert "App app1 is up" in out
    assert machine.out("stat -c '%U:%G %a' /run/uwsgi/app1.sock") == "www-data:www-data 660"
    [(master, workers)] = settled_vassal(machine, "app1").items()
    users = {machine.out(f"ps -o user= -p {pid}") for pid in [master, *workers]}
    assert users == {"www-data"}


def test_reload_is_graceful_per_vassal(machine):
    before = settled_vassal(machine, "app1")
    emperor = emperor_pids(machine)
    machine.run("systemctl reload uwsgi-emperor")
    machine.run("for i in $(seq 50); do grep -q 'reload the uwsgi instance app1.ini' "
                "/var/log/uwsgi/emperor.log && break; sleep 0.2; done")
    machine.run("uwsgi-ensite --wait=10 app1")
    after = settled_vassal(machine, "app1")
    # Same Emperor, same vassal master (its socket never closed), new workers.
    assert emperor_pids(machine) == emperor
    assert list(after) == list(before)
    [master] = after
    assert set(after[master]).isdisjoint(before[master])


def test_restart_replaces_the_emperor(machine):
    emperor = emperor_pids(machine)
    machine.run("systemctl restart uwsgi-emperor")
    assert emperor_pids(machine) not in (emperor, "0")
    assert "App app1 is up" in machine.out("uwsgi-ensite --wait=10 app1")


def test_stop_leaves_no_process_and_start_recreates_run_dir(machine):
    machine.run("systemctl stop uwsgi-emperor")
    assert machine.out("systemctl is-active uwsgi-emperor", check=False) == "inactive"
    assert machine.out("systemctl show -p Result --value uwsgi-emperor") == "success"
    assert machine.out("pgrep -c -x uwsgi", check=False) == "0"
    # After a reboot /run is empty: the unit recreates /run/uwsgi itself.
    machine.run("rm -rf /run/uwsgi")
    machine.run("systemctl start uwsgi-emperor")
    assert machine.out("stat -c '%U:%G %a' /run/uwsgi") == "root:www-data 1775"
    assert "App app1 is up" in machine.out("uwsgi-ensite --wait=10 app1")

"""Point 8 (part): the package lifecycle with piuparts, and remove + reinstall on a root.

piuparts (Debian's tool) installs, removes and purges the package in a clean chroot of the
suite and checks what is left; its upgrade test first installs the archive's candidate,
Debian's own uwsgi-emperor (2.0.21 in bookworm, 2.0.28 in trixie), and upgrades to ours. The reinstall test shows that a
removed (not purged) package keeps the admin's apps and modified conffiles, and that
installing it again asks nothing.
"""

import shutil
import subprocess

import pytest

import webstack
from project import SYSTEM_TEST_LOGS as LOG_DIR, package_version, suite as suite_info
from testbed import aptsources, roots

APPS = ("app1",)


# piuparts also installs logrotate (Recommends) and purges it again. In trixie logrotate
# needs cron, which needs systemd, and purging systemd leaves what systemd and shadow made
# at run time (systemd's tmpfiles: /var/*/private, provision.conf's /root/.ssh and the
# locale/vconsole links; shadow's lock; debconf's temp dir). None of it is this package's.
DEPENDENCY_LEFTOVERS = ("/etc/.pwd.lock", "/etc/default/locale", "/etc/vconsole.conf",
                        "/root/.ssh/", "/var/cache/debconf/tmp.ci/", "/var/cache/private/",
                        "/var/lib/private/", "/var/log/private/")


@pytest.fixture(scope="module")
def piuparts(suite, deb_path, tmp_path_factory):
    """(exit status, log) of one piuparts run: install/purge test, then upgrade test."""
    base = roots.tarball(suite, include=(), compress=True)  # piuparts wants a gzip tarball
    log = tmp_path_factory.mktemp("piuparts") / "piuparts.log"
    # -i /opt/: nothing owns /opt itself (base-files does not ship it), yet it is allowed.
    proc = subprocess.run(
        ["piuparts", "-d", suite, "-m", aptsources.host_mirror(), "-b", str(base),
         "-i", "/opt/", *(f"--ignore={path}" for path in DEPENDENCY_LEFTOVERS),
         "-l", str(log), str(deb_path)],
        capture_output=True, text=True, timeout=900,
        env=dict(roots.ENV, TMPDIR="/tmp"))
    text = log.read_text()
    # Beside the group's log copies (which replace their directory when the group fails).
    kept = LOG_DIR / suite
    kept.mkdir(parents=True, exist_ok=True)
    shutil.copy(log, kept / "piuparts.log")  # worth reading even when it passes
    return proc.returncode, text


def failures(log):
    """The FAIL lines of a piuparts log with the lines that explain them."""
    lines = log.splitlines()
    out = []
    for i, line in enumerate(lines):
        if "FAIL:" in line:
            out += lines[i:i + 6]
    return "\n".join(out)


def test_piuparts_install_remove_purge(piuparts):
    _, log = piuparts
    assert "INFO: PASS: Installation and purging test." in log, failures(log)


def test_piuparts_upgrade_from_debians_package(piuparts, suite):
    status, log = piuparts
    # It really started from Debian's package of that suite.
    debians = suite_info(suite).debian_uwsgi
    assert f"Unpacking uwsgi-emperor ({package_version(suite)}) over ({debians}) ..." in log
    assert (status, failures(log)) == (0, "")
    assert "INFO: PASS: Installation, upgrade and purging tests." in log


def test_reinstall_after_remove_keeps_admin_files(machine, deb_inside):
    webstack.enable(machine, "app1")
    machine.run("sed -i 's/^emperor-freq = 1$/emperor-freq = 2/' /etc/uwsgi/emperor.ini")
    ini = machine.out("cat /etc/uwsgi/apps-available/app1.ini")

    remove = machine.run("apt-get remove -y uwsgi-emperor")
    assert "dpkg: warning" not in remove.stdout + remove.stderr
    assert machine.out("dpkg-query -W -f '${db:Status-Abbrev}' uwsgi-emperor") == "rc"
    # prerm stopped the Emperor and its vassals.
    assert webstack.uwsgi_count(machine) == 0
    assert machine.out("cat /etc/uwsgi/apps-available/app1.ini") == ini
    assert machine.out("readlink /etc/uwsgi/apps-enabled/app1.ini") == "../apps-available/app1.ini"
    assert "emperor-freq = 2" in machine.out("cat /etc/uwsgi/emperor.ini")

    # stdin closed: a conffile prompt would fail the install instead of waiting.
    again = machine.run(f"apt-get install -y {deb_inside} </dev/null", check=False)
    output = again.stdout + again.stderr
    assert again.returncode == 0, output
    assert "Configuration file '/etc/uwsgi/emperor.ini'" not in output
    assert "dpkg: warning" not in output
    assert machine.out("dpkg-query -W -f '${db:Status-Abbrev}' uwsgi-emperor") == "ii"
    assert "emperor-freq = 2" in machine.out("cat /etc/uwsgi/emperor.ini")
    assert machine.out("cat /etc/uwsgi/apps-available/app1.ini") == ini
    webstack.wait_for(lambda: webstack.serves(machine, "app1"), webstack.SPEC_SECONDS)

"""Point 1: `apt-get install ./uwsgi-emperor_*.deb` on a clean Debian 12 root.

No warning from dpkg or apt, the postinst started the Emperor through the init script (a
policy-rc.d allowing it, as on a real host), `status` says so, the venv's uwsgi is 2.0.31,
and the directories have the owners and modes the package promises.
"""

import re

PIDFILE = "/run/uwsgi-emperor/emperor.pid"
UWSGI = "/opt/venvs/uwsgi-emperor/bin/uwsgi"


def test_install_has_no_warnings(machine):
    output = machine.install.stdout + machine.install.stderr
    flagged = [line for line in output.splitlines()
               if re.match(r"(dpkg: warning|W: |E: |.*\bwarning\b)", line, re.I)]
    assert flagged == []
    assert "Setting up uwsgi-emperor (2.0.31-" in output
    assert machine.out("dpkg-query -W -f '${db:Status-Abbrev}' uwsgi-emperor") == "ii"
    assert machine.out("dpkg --audit") == ""


def test_emperor_running_after_install(machine):
    pid = machine.out(f"cat {PIDFILE}")
    assert machine.out(f"readlink /proc/{pid}/exe") == UWSGI
    assert machine.out(f"ps -o user= -p {pid}") == "root"
    # The Emperor proper is the master's only child (what `reload` sends SIGHUP to).
    children = machine.out(f"ps -o pid= --ppid {pid}").split()
    assert len(children) == 1
    assert machine.out(f"readlink /proc/{children[0]}/exe") == UWSGI
    assert machine.out(f"stat -c '%U:%G %a' {PIDFILE}") == "root:root 644"


def test_status_says_running(machine):
    proc = machine.run("/etc/init.d/uwsgi-emperor status", check=False)
    assert proc.returncode == 0
    assert proc.stdout.strip().endswith("uwsgi-emperor is running.")


def test_uwsgi_version(machine):
    assert machine.out(f"{UWSGI} --version") == "2.0.31"


def test_directories(machine):
    assert machine.out("stat -c '%U:%G %a' /run/uwsgi") == "root:www-data 1775"
    assert machine.out("stat -c '%U:%G %a' /run/uwsgi-emperor") == "root:root 755"
    assert machine.out("stat -c '%U:%G %a' /var/log/uwsgi") == "root:adm 2755"
    assert machine.out("stat -c '%U:%G %a' /etc/uwsgi/apps-enabled") == "root:root 755"
    assert machine.out("ls -A /etc/uwsgi/apps-enabled") == ""


def test_emperor_log_started(machine):
    log = machine.out("cat /var/log/uwsgi/emperor.log")
    assert "*** starting uWSGI Emperor ***" in log

"""Point 1: `apt-get install ./uwsgi-emperor_*.deb` on a clean Debian 12 root.

No warning from dpkg or apt, the postinst started the Emperor through the init script (a
policy-rc.d allowing it, as on a real host), `status` says so, the venv's uwsgi is 2.0.31,
and the directories have the owners and modes the package promises.
"""

import re

INIT = "/etc/init.d/uwsgi-emperor"
KEEPER_PIDFILE = "/run/uwsgi-emperor/keeper.pid"
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


def init(machine, action, verbose):
    """(exit code, stdout, stderr) of one init script action. Not from a terminal, so its
    messages follow VERBOSE, as at boot and under invoke-rc.d; INIT_VERBOSE=yes is what a
    terminal gives."""
    env = "INIT_VERBOSE=yes " if verbose else ""
    proc = machine.run(f"{env}{INIT} {action} </dev/null", check=False)
    return proc.returncode, proc.stdout, proc.stderr


def test_init_script_actions(machine):
    """Every action's exit code and exact messages, those of init-d-script(5), whose
    hooks the script overrides."""
    if machine.run(f"{INIT} status", check=False).returncode != 0:
        machine.run(f"{INIT} start")

    def verbose(action):
        return init(machine, action, verbose=True)

    def quiet(action):
        return init(machine, action, verbose=False)

    keeper = machine.out(f"cat {KEEPER_PIDFILE}")
    emperor = machine.out(f"cat {PIDFILE}")
    assert verbose("start") == (0, "Starting uWSGI Emperor: uwsgi-emperor is already running.\n", "")
    assert verbose("reload") == (0, "Reloading uWSGI Emperor configuration files: uwsgi-emperor.\n", "")
    assert verbose("force-reload") == (
        0, "Reloading uWSGI Emperor configuration files: uwsgi-emperor.\n", "")
    assert machine.out(f"cat {PIDFILE}") == emperor
    # restart: the same keeper (it holds the sockets), a new Emperor.
    assert verbose("restart") == (0, "Restarting uWSGI Emperor: uwsgi-emperor.\n", "")
    assert machine.out(f"cat {KEEPER_PIDFILE}") == keeper
    assert machine.out(f"cat {PIDFILE}") not in ("", emperor)
    assert verbose("try-restart") == (0, "Trying to restart uWSGI Emperor: uwsgi-emperor.\n", "")
    assert verbose("stop") == (0, "Stopping uWSGI Emperor: uwsgi-emperor.\n", "")
    assert machine.run("pgrep -u root -x uwsgi-keeper", check=False).returncode == 1
    assert verbose("stop") == (0, "Stopping uWSGI Emperor: uwsgi-emperor is not running.\n", "")
    assert verbose("reload") == (
        1, "Reloading uWSGI Emperor configuration files: uwsgi-emperor failed!\n", "")
    assert verbose("try-restart") == (
        0, "Trying to restart uWSGI Emperor: uwsgi-emperor is not running.\n", "")
    assert verbose("status") == (3, "uwsgi-emperor is not running ... failed!\n", "")
    # restart when stopped: stop, then start.
    assert verbose("restart") == (0, "Restarting uWSGI Emperor: uwsgi-emperor.\n", "")
    assert verbose("status") == (0, "uwsgi-emperor is running.\n", "")
    # Quiet: the library ends no line but start's, which it leaves open.
    assert quiet("restart") == (0, "", "")
    assert quiet("reload") == (0, "", "")
    assert quiet("stop") == (0, "", "")
    assert quiet("start") == (0, "Starting uWSGI Emperor: uwsgi-emperor", "")
    assert quiet("status") == (0, "uwsgi-emperor is running.\n", "")
    usage = f"Usage: {INIT} {{start|stop|status|reload|restart|try-restart|force-reload}}\n"
    assert quiet("bogus") == (3, "", usage)
    assert quiet("") == (3, "", usage)


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

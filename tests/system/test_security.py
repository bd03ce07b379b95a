"""Issue 10: what any process running as www-data (an app, a compromised nginx worker) can
make root do, attempted for real in a clean root, under either init system (`init`: the LSB
init script in an isolated root, or the suite's real systemd, 252 and 257, booted with
systemd-nspawn -b, running the hardened uwsgi-emperor.service).

Under the init script, each test runs the attack as www-data (setpriv) and then asserts that
nothing outside happened: a root-only file keeps its content, owner and mode; stop and status
are not fooled by a forged pid file; uwsgi-ensite --wait is not fooled by a forged stats socket.
Checked on the layout before issue 10 (/var/log/uwsgi www-data:adm 0750, /run/uwsgi
root:www-data 0775 holding the Emperor's pid file and stats socket), where the attacks
succeed: root appended its logs to the root-only file; stop signalled another app's vassal
and left the Emperor running; status said "running" for a pid file naming a sleep, and
exited 0 with the binary gone; --wait believed the forged stats socket; purge deleted the
admin's links. The init script removes the pid file before it starts the Emperor, so the
pid-file symlink only bites under systemd (test_symlink_over_the_pid_file_path_truncates_nothing);
the bind-chown race was not won in 5 respawns there, but www-data could rename over root's
files in /run/uwsgi.

Under systemd: an app that does what web apps commonly do (spawn a process, start a thread,
write under /srv, /var/tmp and /tmp, resolve names, send mail through postfix's
/usr/sbin/sendmail) works under the unit's sandbox; NoNewPrivileges=true, measured here,
would lose its mail. Attacks as www-data: a symlink over the Emperor's old pid file path must
not make root truncate a file on restart, and an app cannot rewrite the unit's status
(NotifyAccess=main).

Each check is made under the init system it was written for (marker `inits`): one root per
suite and init, as before the two were one module. Each init-script test starts with
set_up(), which makes what the first test leaves (the root-only files, app1 and app2
enabled, the Emperor running) when it is missing, so that each passes alone.
"""

import json
import re
import shlex

import pytest

import webstack
import uwsgi_request
from project import suite as suite_info
from testbed import nspawn
from testbed import stack as testbed_stack

INIT_SCRIPT = pytest.mark.inits("init-script")
SYSTEMD = pytest.mark.inits("systemd")

INIT = "/etc/init.d/uwsgi-emperor"
UWSGI = "/opt/venvs/uwsgi-emperor/bin/uwsgi"
# One root-only file per attack, so that each test shows its own attack's effect.
SECRETS = ("log", "pid", "race", "upgrade", "upgrade-race", "purge")
SECRET_TEXT = "root only secret\n"
UNTOUCHED = ("root:root 600", SECRET_TEXT.strip())


def secret(attack):
    return f"/etc/uwsgi-security-test-secret-{attack}"
# Every path root used to write in a www-data-writable directory, and where it is now.
OLD_PIDFILE, PIDFILE = "/run/uwsgi/emperor.pid", "/run/uwsgi-emperor/emperor.pid"
OLD_STATS, STATS = "/run/uwsgi/emperor-stats.sock", "/run/uwsgi-emperor/emperor-stats.sock"
# The app needs nothing but the standard library: no venv, no nginx.
APP_INI = "[uwsgi]\nchdir = /srv\nmodule = wsgiref.simple_server:demo_app\n"


APPS = ("app1", "app2")

# Installed with the package: an MTA (postfix's sendmail hands mail to the setgid postdrop,
# the program NoNewPrivileges breaks) and python3 (uwsgi_request's client runs `python3`; the
# package depends only on the suite's python3.X).
PACKAGES = ("postfix", "python3")
# Outside /etc and /usr, which ProtectSystem=full makes read-only for the unit anyway.
UNIT_SECRET = "/var/lib/uwsgi-security-test-secret"
UNIT_SECRET_TEXT = "root only secret"
FORGED_STATUS = "forged by an app"

WEBAPP = r'''
import json, os, socket, subprocess, threading

def _check(results, name, fn):
    try:
        fn()
        results[name] = "ok"
    except subprocess.CalledProcessError as err:
        results[name] = f"exit {err.returncode}: {err.stderr.decode(errors='replace').strip()}"
    except subprocess.TimeoutExpired as err:
        results[name] = f"timed out: {(err.stderr or b'').decode(errors='replace').strip()}"
    except Exception as err:
        results[name] = f"{type(err).__name__}: {err}"

def _thread():
    seen = []
    t = threading.Thread(target=seen.append, args=(1,))
    t.start()
    t.join(5)
    assert seen == [1], seen

def _write(path):
    with open(path, "w") as f:
        f.write("written by the app\n")

def _mail():
    subprocess.run(["/usr/sbin/sendmail", "-t", "-oi"], check=True, capture_output=True, timeout=6,
                   input=b"To: root\nSubject: uwsgi-security-test\n\nsent by the app\n")

def _notify():
    # What any app can try: tell systemd something in the unit's name.
    path = os.environ.get("NOTIFY_SOCKET") or "/run/systemd/notify"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(b"STATUS=@FORGED@\nERRNO=99\n", path)

def application(environ, start_response):
    results = {}
    _check(results, "subprocess", lambda: subprocess.run(["/bin/echo", "hi"], check=True, capture_output=True))
    _check(results, "thread", _thread)
    _check(results, "write /srv", lambda: _write("/srv/webapp/data/out"))
    _check(results, "write /var/tmp", lambda: _write("/var/tmp/webapp-out"))
    _check(results, "write /tmp", lambda: _write("/tmp/webapp-out"))
    _check(results, "resolve", lambda: socket.getaddrinfo("localhost", 80, flags=socket.AI_ADDRCONFIG))
    _check(results, "resolve db.internal", lambda: socket.getaddrinfo("db.internal", 5432))
    _check(results, "sendmail", _mail)
    _check(results, "notify", _notify)
    body = json.dumps(results, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
'''.replace("@FORGED@", FORGED_STATUS)
ALL_OK = {name: "ok" for name in ("subprocess", "thread", "write /srv", "write /var/tmp",
                                  "write /tmp", "resolve", "resolve db.internal", "sendmail",
                                  "notify")}


@pytest.fixture(scope="module", params=["init-script", "systemd"])
def init(request):
    return request.param


@pytest.fixture(scope="module")
def machine(request, suite, init, deb_path, fresh_root):
    """The package installed by apt in a fresh root of SUITE, run by INIT. Under systemd:
    PACKAGES installed too under the booted systemd (what apt needs was downloaded before the
    boot), the unit's root-only file in place and the webapp enabled."""
    if init == "systemd":
        with fresh_root(request, suite, init, include=nspawn.BOOT_PACKAGES) as root:
            with testbed_stack.booted_with(root, deb_path, PACKAGES) as m:
                m.run(f"printf '{UNIT_SECRET_TEXT}\\n' > {UNIT_SECRET} && chmod 0600 {UNIT_SECRET}")
                # A name an app looks up (its database), through NSS as any other.
                m.run("echo '127.0.0.2 db.internal' >> /etc/hosts")
                m.run("mkdir -p /srv/webapp/data && chown www-data:www-data /srv/webapp/data")
                m.run("cat > /srv/webapp/webapp.py", input=WEBAPP)
                m.run("printf '[uwsgi]\\nchdir = /srv/webapp\\nmodule = webapp:application\\n'"
                      " > /etc/uwsgi/apps-available/webapp.ini")
                assert "is up" in m.out("uwsgi-ensite --wait webapp")
                yield m
    else:
        with fresh_root(request, suite, init) as root:
            yield webstack.installed(root, webstack.prepare(root, deb_path))


def set_up(machine, running=True):
    """What the init-script tests start from, made when missing: each attack's root-only
    file, app1's and app2's ini, both enabled; RUNNING: the Emperor up, both accepting."""
    for attack in SECRETS:
        machine.run(f"[ -e {secret(attack)} ] || {{ printf '{SECRET_TEXT}' > {secret(attack)} "
                    f"&& chmod 0600 {secret(attack)}; }}")
    for name in APPS:
        machine.run(f"[ -e /etc/uwsgi/apps-available/{name}.ini ] || "
                    f"cat > /etc/uwsgi/apps-available/{name}.ini", input=APP_INI)
    if not running:
        machine.run("uwsgi-ensite -q " + " ".join(APPS))
        return
    if machine.run(f"{INIT} status", check=False).returncode != 0:
        machine.run(f"{INIT} start")
    for name in APPS:
        if not accepting(machine, name):
            assert "is up" in machine.out(f"uwsgi-ensite --wait {name}")


def as_www_data(machine, script):
    """Run the shell SCRIPT as www-data (its groups too), the way an app would; the result."""
    return machine.run("setpriv --reuid=www-data --regid=www-data --init-groups -- "
                       f"/bin/sh -c {shlex.quote(script)}", check=False)


def secret_state(machine, attack):
    """The root-only file of ATTACK as root sees it: owner, group, mode and content."""
    path = secret(attack)
    return (machine.out(f"stat -c '%U:%G %a' {path}"), machine.out(f"cat {path}"))


def respawned_master(machine, name, old, timeout=30):
    """Wait until NAME's vassal master is a new process (not OLD); its pid."""
    def new_master():
        """a new vassal master"""
        try:
            master = webstack.vassal_master(machine, name)
        except AssertionError:  # the killed master's workers are still on their way out
            return None
        return master if master not in (None, old) else None
    return webstack.wait_for(new_master, timeout)[0]


def accepting(machine, name):
    """True when NAME's socket accepts a connection (as root, like the tests' client)."""
    return machine.run(f"/usr/bin/python3 -c \"import socket; socket.socket(socket.AF_UNIX)"
                       f".connect('/run/uwsgi/{name}.sock')\"", check=False).returncode == 0


@INIT_SCRIPT
def test_apps_up_and_secret_in_place(machine):
    """The start of every attack: two stdlib apps up, one root-only file per attack."""
    set_up(machine, running=False)
    for name in APPS:
        assert "is up" in machine.out(f"uwsgi-ensite --wait {name}")
    assert [secret_state(machine, attack) for attack in SECRETS] == [UNTOUCHED] * len(SECRETS)


@INIT_SCRIPT
def test_layout(machine):
    """Nobody but root can create a name where root opens, creates or chowns by path."""
    set_up(machine)
    assert machine.out("stat -c '%U:%G %a' /var/log/uwsgi /run/uwsgi /run/uwsgi-emperor"
                       ).splitlines() == ["root:adm 2755", "root:www-data 1775", "root:root 755"]
    # The vassal's log is its own from the first line (logfile-chown on the open file).
    assert machine.out("stat -c '%U:%G %a' /var/log/uwsgi/app1.log") == "www-data:www-data 640"
    assert machine.out("stat -c '%U:%G %a' /var/log/uwsgi/emperor.log") == "root:adm 640"
    assert machine.out(f"stat -c '%U:%G %a' {PIDFILE}") == "root:root 644"
    # The master fifos (logrotate's reopen) and stats sockets (uwsgi-query --status) are made
    # by each master after its drop.
    assert machine.out("ls -A /run/uwsgi").split() == [
        "app1.fifo", "app1.sock", "app1.stats", "app2.fifo", "app2.sock", "app2.stats"]
    assert machine.out("stat -c '%U:%G %a' /run/uwsgi/app1.fifo /run/uwsgi/app1.sock"
                       ).splitlines() == ["www-data:www-data 600", "root:www-data 660"]
    assert machine.out("ls -A /run/uwsgi-emperor").split() == [
        "emperor-stats.sock", "emperor.pid", "keeper.pid", "keeper.sock"]


@INIT_SCRIPT
def test_log_symlink_swap_and_respawn_appends_nothing_to_root_files(machine):
    """CVE-2016-1247's pattern: replace a log root opens with a symlink, make root reopen it."""
    set_up(machine)
    attack = as_www_data(machine, f"""
        rm -f /var/log/uwsgi/app1.log; ln -s {secret('log')} /var/log/uwsgi/app1.log
        rm -f /var/log/uwsgi/emperor.log; ln -s {secret('log')} /var/log/uwsgi/emperor.log
        mv -f /var/log/uwsgi/app2.log /var/log/uwsgi/app2.old
        ln -s {secret('log')} /var/log/uwsgi/app2.log""")
    # Its own vassal, killed: the Emperor respawns it as root, which opens the log again.
    old = webstack.vassal_master(machine, "app1")
    assert as_www_data(machine, f"kill -9 {old}").returncode == 0
    respawned_master(machine, "app1", old)
    webstack.wait_for(lambda: accepting(machine, "app1"), 10)
    # And the Emperor itself opens its log again when it starts.
    restart = machine.run(f"{INIT} restart", check=False)
    assert restart.returncode == 0, restart.stdout + restart.stderr
    webstack.wait_for(lambda: accepting(machine, "app1") and accepting(machine, "app2"), 10)
    assert secret_state(machine, "log") == UNTOUCHED
    assert machine.out("find /var/log/uwsgi -type l") == ""
    assert "Permission denied" in attack.stderr


@INIT_SCRIPT
def test_symlinks_over_pid_and_stats_paths_change_nothing(machine):
    set_up(machine)
    attack = as_www_data(machine, f"""
        for p in {OLD_PIDFILE} {PIDFILE} {OLD_STATS} {STATS}; do
            ln -s {secret('pid')} "$p.new" && mv -fT "$p.new" "$p"
            ln -sf {secret('pid')} "$p"
        done""")
    restart = machine.run(f"{INIT} restart", check=False)
    assert restart.returncode == 0, restart.stdout + restart.stderr
    webstack.wait_for(lambda: accepting(machine, "app1"), 10)
    assert secret_state(machine, "pid") == UNTOUCHED
    # root's own files are in place, none of them a link.
    assert machine.out("find /run/uwsgi-emperor -type l") == ""
    master = machine.out(f"cat {PIDFILE}")
    assert machine.out(f"readlink /proc/{master}/exe") == UWSGI
    assert "Permission denied" in attack.stderr


@INIT_SCRIPT
def test_forged_pid_file_does_not_steer_stop(machine):
    """A pid file naming another app's vassal (the same binary): stop must stop the Emperor
    and every vassal, not signal the victim and leave the Emperor running."""
    set_up(machine)
    # After the restart above, the old Emperor's vassals may still be on their way out.
    webstack.wait_for(lambda: len(webstack.vassal_processes(machine, "app2")) == 3, 60)
    victim = webstack.vassal_master(machine, "app2")
    attack = as_www_data(machine, f"""
        for p in {OLD_PIDFILE} {PIDFILE}; do
            echo {victim} > "$p.new" && mv -fT "$p.new" "$p"
            echo {victim} > "$p"
        done""")
    stop = machine.run(f"{INIT} stop", check=False)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    webstack.wait_for(lambda: webstack.uwsgi_count(machine) == 0, 30)
    assert "Permission denied" in attack.stderr


@INIT_SCRIPT
def test_status_codes(machine):
    """LSB status from the pid file's process: the packaged uwsgi, run by root."""
    set_up(machine, running=False)
    machine.run(f"{INIT} stop")
    webstack.wait_for(lambda: webstack.uwsgi_count(machine) == 0, 30)
    # Stopped: no pid file, not running.
    status = machine.run(f"{INIT} status", check=False)
    assert (status.returncode, status.stdout) == (3, "uwsgi-emperor is not running ... failed!\n")
    # A pid file naming a live process that is not the Emperor (here: a root shell, as a
    # stale file whose pid was reused) is "dead, pid file exists", never "running".
    other = machine.popen("exec sleep 300")
    try:
        pid = webstack.wait_for(lambda: machine.out("pgrep -x -n sleep", check=False), 5)[0]
        # (Both the old and the new place: the test means the same on the old layout.)
        machine.run(f"mkdir -p /run/uwsgi-emperor && echo {pid} > {PIDFILE} "
                    f"&& echo {pid} > {OLD_PIDFILE}")
        status = machine.run(f"{INIT} status", check=False)
        assert (status.returncode, status.stdout) == (1, "uwsgi-emperor is not running ... failed!\n")
        # stop must not kill it either.
        assert machine.run(f"{INIT} stop", check=False).returncode == 0
        assert machine.run(f"kill -0 {pid}", check=False).returncode == 0
    finally:
        machine.run("pkill -x sleep", check=False)
        other.communicate(timeout=10)
    # The binary gone (removed, not purged): status unknown, not "running" and not 0.
    machine.run(f"rm -f {PIDFILE} {OLD_PIDFILE} && mv {UWSGI} {UWSGI}.away")
    try:
        assert machine.run(f"{INIT} status", check=False).returncode == 4
    finally:
        machine.run(f"mv {UWSGI}.away {UWSGI}")
    start = machine.run(f"{INIT} start", check=False)
    assert start.returncode == 0, start.stdout + start.stderr
    status = machine.run(f"{INIT} status", check=False)
    assert (status.returncode, status.stdout) == (0, "uwsgi-emperor is running.\n")
    webstack.wait_for(lambda: accepting(machine, "app1") and accepting(machine, "app2"), 10)


FAKE_STATS = """
import json, os, socket, sys
stats = json.dumps({"vassals": [{"id": "app1.ini", "accepting": 1}]}).encode()
servers = []
for path in sys.argv[1:]:
    s = socket.socket(socket.AF_UNIX)
    try:
        if os.path.lexists(path):
            os.unlink(path)
        s.bind(path)
    except OSError as err:
        print(f"{path}: {err.strerror}", file=sys.stderr, flush=True)
        continue
    s.listen(8)
    servers.append(s)
print("listening", len(servers), flush=True)
s = servers[0]
while True:
    c, _ = s.accept()
    c.sendall(stats)
    c.close()
"""


@INIT_SCRIPT
def test_forged_stats_socket_does_not_fool_wait(machine):
    """With the Emperor stopped, www-data serves a stats socket (and app socket) saying
    app1 is up: uwsgi-ensite --wait must still say no Emperor runs."""
    set_up(machine, running=False)
    machine.run(f"{INIT} stop")
    webstack.wait_for(lambda: webstack.uwsgi_count(machine) == 0, 30)
    machine.run("cat > /tmp/fake-stats.py", input=FAKE_STATS)
    fake = machine.popen("exec setpriv --reuid=www-data --regid=www-data --init-groups -- "
                         f"/usr/bin/python3 /tmp/fake-stats.py {OLD_STATS} {STATS} "
                         "/run/uwsgi/app1.sock")
    try:
        assert fake.stdout.readline().strip() == "listening 2"  # not in /run/uwsgi-emperor
        wait = machine.run("uwsgi-ensite --wait --timeout=2 app1", check=False)
        assert wait.returncode != 0
        assert "no emperor running" in wait.stderr
    finally:
        machine.run("pkill -f /tmp/fake-stats.py", check=False)
        fake.communicate(timeout=10)
    machine.run(f"rm -f {OLD_STATS} /run/uwsgi/app1.sock && {INIT} start")
    webstack.wait_for(lambda: accepting(machine, "app1"), 10)


RACER = """
import os, sys, time
sock, target, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
tmp = sock + ".race"
end = time.monotonic() + seconds
while time.monotonic() < end:
    try:
        os.symlink(target, tmp)
        os.rename(tmp, sock)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
"""


def some_master(machine, name):
    """NAME's vassal master, waiting while the Emperor respawns it; its pid."""
    def master():
        """a vassal master"""
        try:
            return webstack.vassal_master(machine, name)
        except AssertionError:  # a killed master's workers are still on their way out
            return None
    return webstack.wait_for(master, 60)[0]


@INIT_SCRIPT
def test_socket_chown_race(machine, record):
    """A vassal master binds its socket as root, then chmods and chowns it by path. www-data
    renames a symlink to a root-only file over that path as fast as it can while it makes
    its vassal respawn: root must never chmod or chown the target."""
    set_up(machine)
    machine.run("cat > /tmp/racer.py", input=RACER)
    kills = 0
    for _ in range(5):
        racer = machine.popen("exec setpriv --reuid=www-data --regid=www-data --init-groups -- "
                              f"/usr/bin/python3 /tmp/racer.py /run/uwsgi/app1.sock {secret('race')} 2")
        # A bind the race made fail kills the vassal too; the Emperor respawns it.
        if as_www_data(machine, f"kill -9 {some_master(machine, 'app1')}").returncode == 0:
            kills += 1
        racer.communicate(timeout=30)
        assert secret_state(machine, "race") == UNTOUCHED
    record("vassal respawns raced", kills)
    # The race over, the app comes back with a socket of its own.
    machine.run("rm -f /run/uwsgi/app1.sock.race")
    as_www_data(machine, f"kill -9 {some_master(machine, 'app1')}")
    webstack.wait_for(lambda: accepting(machine, "app1"), 60)
    assert machine.out("stat -c '%U:%G %a %F' /run/uwsgi/app1.sock") == "root:www-data 660 socket"
    assert secret_state(machine, "race") == UNTOUCHED
    # The socket, once bound by the master running as root, is root's until the chown:
    # sticky /run/uwsgi stops www-data renaming over it. Shown on a file root creates there.
    machine.run("touch /run/uwsgi/roots-file")
    attack = as_www_data(machine, f"ln -s {secret('race')} /run/uwsgi/x && mv -fT /run/uwsgi/x "
                                  "/run/uwsgi/roots-file")
    assert "Operation not permitted" in attack.stderr
    machine.run("rm -f /run/uwsgi/roots-file /run/uwsgi/x")


# ------------------------------------------------------------------ issue 24: root's tools
# An app (www-data) running the packaged uwsgi binary with a command line that names the
# Emperor's ini, flipping one descriptor between emperor.log and a root-only file (both
# O_PATH: no permission needed on either) as fast as it can.
FLIPPER = """
import os, threading
N = 100
log = os.open("/var/log/uwsgi/emperor.log", os.O_PATH)
secret = os.open(os.environ["SECRET"], os.O_PATH)
def flip():
    while True:
        os.dup2(log, N)
        os.dup2(secret, N)
threading.Thread(target=flip, daemon=True).start()
def application(env, start_response):
    start_response("200 OK", [])
    return [b""]
"""
UPGRADE_RUNS = 40


def www_data_popen(machine, command):
    return machine.popen("exec setpriv --reuid=www-data --regid=www-data --init-groups -- "
                         + command)


@INIT_SCRIPT
def test_upgrade_script_trusts_no_pid_file_and_no_process_of_www_data(machine):
    """Issue 24, finding 1: with the Emperor stopped, www-data names its own uwsgi process in
    the old pid file /run/uwsgi/emperor.pid. reload-after-upgrade (run by every upgrade's
    postinst) must neither take it for the Emperor nor append through its descriptors: the
    2.0.31-5 script did both, and its line landed in the root-only file within a few runs."""
    set_up(machine, running=False)
    machine.run(f"{INIT} stop")
    webstack.wait_for(lambda: webstack.uwsgi_count(machine) == 0, 30)
    machine.run("cat > /tmp/flipper.py", input=FLIPPER)
    forged = www_data_popen(machine, f"env SECRET={secret('upgrade-race')} {UWSGI} "
                            "--socket /tmp/flipper.sock --wsgi-file /tmp/flipper.py "
                            "--enable-threads --env 'X=--ini /etc/uwsgi/emperor.ini'")
    try:
        pid = webstack.wait_for(lambda: machine.out(
            "pgrep -u www-data -f flipper.sock", check=False), 10)[0]
        webstack.wait_for(lambda: machine.run(f"test -e /proc/{pid}/fd/100", check=False)
                       .returncode == 0, 10)
        attack = as_www_data(machine, f"echo {pid} > {OLD_PIDFILE}")
        assert attack.returncode == 0, attack.stderr
        runs = [machine.run("/usr/lib/uwsgi-emperor/reload-after-upgrade 2.0.31-4 2.0.31-5",
                            check=False) for _ in range(UPGRADE_RUNS)]
        assert secret_state(machine, "upgrade-race") == UNTOUCHED
        assert {(run.returncode, run.stdout, run.stderr) for run in runs} == {(0, "", "")}
        assert "upgraded from" not in machine.out("cat /var/log/uwsgi/emperor.log")
    finally:
        machine.run("pkill -u www-data -f flipper.sock", check=False)
        forged.communicate(timeout=30)
        machine.run(f"rm -f {OLD_PIDFILE} /tmp/flipper.sock")
        machine.run(f"{INIT} start")
    webstack.wait_for(lambda: accepting(machine, "app1") and accepting(machine, "app2"), 30)
    # The real Emperor running, the same script finds it and writes its line to its log.
    run = machine.run("/usr/lib/uwsgi-emperor/reload-after-upgrade 2.0.31-4 2.0.31-5")
    master = machine.out(f"cat {PIDFILE}")
    assert run.stderr == ("uwsgi-emperor: upgraded from 2.0.31-4: every app is reloaded "
                          "gracefully onto the new uwsgi.\n")
    assert ("[uwsgi-emperor 2.0.31-5] upgraded from 2.0.31-4: every app is reloaded gracefully"
            in machine.out("cat /var/log/uwsgi/emperor.log"))
    assert emperor_masters(machine) == [int(master)]
    webstack.wait_for(lambda: accepting(machine, "app1") and accepting(machine, "app2"), 30)


# A www-data process that holds a log logrotate moves, shows a forged line as its command
# line, and hands the file to a new child each time it reads from its own fifo (as a master
# would read "lc"), or every 0.2 s. It runs in the packaged uwsgi (--pyrun), as an app would.
FORKER = r"""
import os, select, sys, time
os.dup2(os.open("/var/log/uwsgi/app1.log", os.O_WRONLY | os.O_APPEND), 2)
os.mkfifo("/tmp/forker.fifo")
fifo = os.open("/tmp/forker.fifo", os.O_RDONLY | os.O_NONBLOCK)
open("/tmp/forker.ready", "w").close()  # (uWSGI points stdout at the log)
end = time.monotonic() + 600
while time.monotonic() < end:
    select.select([fifo], [], [], 0.2)
    try:
        os.read(fifo, 16)
    except OSError:
        pass
    if os.fork():
        os._exit(0)
"""
# (octal: dash's printf knows no \\x)
FORGED_TITLE = "\\033]0;owned\\007\\033[2J\\ruwsgi-emperor: every log reopened"


@INIT_SCRIPT
def test_logrotate_finishes_whatever_a_www_data_process_does(machine, record):
    """Issue 24, findings 2 and 3: the postrotate has one deadline and waits for no process
    that is not the Emperor's; what it prints of that process is escaped."""
    set_up(machine)
    machine.run("cat > /tmp/forker.py", input=FORKER)
    forker = www_data_popen(machine, f"{UWSGI} --pyrun /tmp/forker.py "
                                     f"--env \"X=$(printf '{FORGED_TITLE}')\"")
    try:
        webstack.wait_for(lambda: machine.run("test -e /tmp/forker.ready", check=False)
                       .returncode == 0, 30)
        start = machine.out("date +%s.%N")
        rotate = machine.run("timeout 300 logrotate -f /etc/logrotate.d/uwsgi-emperor",
                             check=False)
        took = float(machine.out("date +%s.%N")) - float(start)
    finally:
        machine.run("pkill -u www-data -f /tmp/forker.py", check=False)
        forker.communicate(timeout=30)
        machine.run("rm -f /tmp/forker.fifo /tmp/forker.ready")
    record("logrotate -f with a forking www-data writer (s)", round(took, 1))
    assert rotate.returncode == 1, rotate.stdout + rotate.stderr
    # Only the stranger is reported: both vassals reopened.
    ours = [line for line in rotate.stderr.splitlines() if line.startswith("uwsgi-emperor:")]
    assert len(ours) == 1, rotate.stderr
    [problem] = ours
    assert problem.startswith("uwsgi-emperor: log not reopened: /var/log/uwsgi/app1.log.1 "
                              "still written by PID ")
    assert problem.endswith("not a process of the Emperor or of one of its vassals: not asked")
    assert "\\x1b]0;owned\\x07\\x1b[2J\\x0duwsgi-emperor: every log reopened" in problem
    assert "\x1b" not in rotate.stderr and "\r" not in rotate.stderr
    for name in ("app1", "app2"):
        webstack.wait_for(lambda: accepting(machine, name), 30)


# An app that prints terminal escapes and a forged success line into its own log, then fails.
BROKEN_APP = "raise ImportError('broken on purpose \\x1b]0;owned\\x07\\x1b[2J\\x1b[H\\rApp broken is up')\n"
BROKEN_INI = "[uwsgi]\nchdir = /srv\nmodule = broken_app:application\n"


# www-data binds the broken app's socket path whenever nothing is there (the vassal's vacuum
# removes it each time it exits).
SQUATTER = """
import os, socket, time
path, held = "/run/uwsgi/broken.sock", []
print("ready", flush=True)
end = time.monotonic() + 600
while time.monotonic() < end:
    if not os.path.lexists(path):
        s = socket.socket(socket.AF_UNIX)
        try:
            s.bind(path)
            s.listen(64)
            held.append(s)
        except OSError:
            s.close()
    time.sleep(0.02)
"""


def ensite_wait(machine, name, timeout=5, prefix=""):
    return machine.run(f"{prefix}uwsgi-ensite --wait --timeout {timeout} {name}", check=False)


@INIT_SCRIPT
def test_wait_reports_a_broken_app_down_with_its_log_made_safe(machine):
    """Issue 24, findings 3 and 4: a broken app is down, whoever listens on its path, and the
    tail of its log reaches root's terminal escaped; an 8 GiB log is read from its end."""
    set_up(machine)
    machine.run("cat > /srv/broken_app.py", input=BROKEN_APP)
    machine.run("cat > /etc/uwsgi/apps-available/broken.ini", input=BROKEN_INI)
    try:
        wait = ensite_wait(machine, "broken")
        assert wait.returncode == 1, wait.stdout + wait.stderr
        assert "uwsgi-ensite: error: app broken is not up after 5 s" in wait.stderr
        assert ("  ImportError: broken on purpose \\x1b]0;owned\\x07\\x1b[2J\\x1b[H\\x0dApp "
                "broken is up\n") in wait.stderr
        assert "\x1b" not in wait.stderr + wait.stdout and "is up" not in wait.stdout
        # www-data listens on the broken app's socket path: still down.
        machine.run("uwsgi-dissite -q broken")
        machine.run("rm -f /run/uwsgi/broken.sock")
        machine.run("cat > /tmp/squatter.py", input=SQUATTER)
        listener = www_data_popen(machine, "/usr/bin/python3 /tmp/squatter.py")
        try:
            assert listener.stdout.readline().strip() == "ready"
            wait = ensite_wait(machine, "broken")
            assert wait.returncode == 1, wait.stdout + wait.stderr
            assert "is up" not in wait.stdout
        finally:
            machine.run("pkill -u www-data -f /tmp/squatter.py", check=False)
            listener.communicate(timeout=30)
        # Its log made 8 GiB (sparse) by its own user; --wait under a 2 GiB address space.
        machine.run("uwsgi-dissite -q broken")
        assert as_www_data(machine, "truncate -s 8G /var/log/uwsgi/broken.log").returncode == 0
        wait = ensite_wait(machine, "broken", prefix="prlimit --as=2147483648 ")
        assert wait.returncode == 1, wait.stdout + wait.stderr
        assert "Traceback" not in wait.stderr.split("last lines of")[0]
        assert "MemoryError" not in wait.stderr
    finally:
        machine.run("uwsgi-dissite -q broken; rm -f /etc/uwsgi/apps-available/broken.ini "
                    "/var/log/uwsgi/broken.log /srv/broken_app.py", check=False)


@INIT_SCRIPT
def test_wait_reports_a_crash_looping_app_down_every_time(machine):
    """Issue 24, finding 4: its master-fifo path planted as a directory, an app binds briefly
    on each start; 2.0.31-5's --wait called it up in 2 of 4 runs."""
    set_up(machine)
    machine.run("cat > /etc/uwsgi/apps-available/looping.ini", input=APP_INI)
    assert as_www_data(machine, "mkdir /run/uwsgi/looping.fifo").returncode == 0
    try:
        for _ in range(4):
            wait = ensite_wait(machine, "looping")
            assert wait.returncode == 1, wait.stdout + wait.stderr
            assert "is up" not in wait.stdout
            machine.run("uwsgi-dissite -q looping")
    finally:
        machine.run("uwsgi-dissite -q looping; rm -f /etc/uwsgi/apps-available/looping.ini; "
                    "rmdir /run/uwsgi/looping.fifo", check=False)


@INIT_SCRIPT
def test_newapp_does_not_hang_on_a_fifo_in_the_apps_venv(machine):
    """Issue 24, finding 5: pyvenv.cfg made a fifo by the venv's owner."""
    assert as_www_data(machine, "mkdir -p /tmp/evilvenv/lib/python3.0 && "
                                "mkfifo /tmp/evilvenv/pyvenv.cfg").returncode == 0
    try:
        run = machine.run("timeout 60 uwsgi-newapp evil --module app:app --chdir /srv "
                          "--virtualenv /tmp/evilvenv --stdout", check=False)
        assert run.returncode not in (0, 124), run.stdout + run.stderr
        assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
        assert "virtualenv /tmp/evilvenv is built for Python 3.0" in run.stderr
    finally:
        machine.run("rm -rf /tmp/evilvenv")


# The postinst as dpkg runs it on an upgrade from 2.0.31-1 (the last old layout).
POSTINST_UPGRADE = ("DPKG_MAINTSCRIPT_PACKAGE=uwsgi-emperor DPKG_MAINTSCRIPT_NAME=postinst "
                    "DPKG_MAINTSCRIPT_ARCH=amd64 "
                    "/var/lib/dpkg/info/uwsgi-emperor.postinst configure 2.0.31-1")


def emperor_masters(machine):
    """Pids of root's uwsgi processes running emperor.ini whose parent is not one too."""
    procs = {}
    for line in machine.out("ps -eo pid=,ppid=,user=,args=").splitlines():
        pid, ppid, user, args = line.split(None, 3)
        if user == "root" and args.startswith(f"{UWSGI} --ini /etc/uwsgi/emperor.ini"):
            procs[int(pid)] = int(ppid)
    return sorted(pid for pid, ppid in procs.items() if ppid not in procs)


@INIT_SCRIPT
def test_upgrade_from_the_old_layout_fixes_it(machine):
    """What 2.0.31-1 left: www-data's log directory with a planted link, a non-sticky run
    directory, the running Emperor's pid file not in /run/uwsgi-emperor. The postinst of an
    upgrade fixes the modes, removes the link and stops that Emperor on restart."""
    set_up(machine)
    [master] = emperor_masters(machine)
    machine.run("chown www-data:adm /var/log/uwsgi && chmod 0750 /var/log/uwsgi "
                f"&& chmod 0775 /run/uwsgi && rm {PIDFILE}")
    as_www_data(machine, f"ln -s {secret('upgrade')} /var/log/uwsgi/planted.log")
    upgrade = machine.run(POSTINST_UPGRADE,
                          check=False)
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    assert (f"uwsgi-emperor: removing /var/log/uwsgi/planted.log -> {secret('upgrade')} "
            "(planted while www-data could write /var/log/uwsgi)") in upgrade.stderr
    assert machine.out("stat -c '%U:%G %a' /var/log/uwsgi /run/uwsgi").splitlines() == [
        "root:adm 2755", "root:www-data 1775"]
    assert machine.out("find /var/log/uwsgi -type l") == ""
    # The old Emperor was stopped by the restart, and exactly one new one runs.
    masters = emperor_masters(machine)
    assert len(masters) == 1 and masters != [master], masters
    [new] = masters
    assert machine.out(f"cat {PIDFILE}") == str(new)
    webstack.wait_for(lambda: accepting(machine, "app1") and accepting(machine, "app2"), 30)
    assert secret_state(machine, "upgrade") == UNTOUCHED


@INIT_SCRIPT
def test_upgrade_keeps_a_statoverride(machine):
    machine.run("dpkg-statoverride --update --add www-data adm 0750 /var/log/uwsgi")
    try:
        machine.run(POSTINST_UPGRADE)
        assert machine.out("stat -c '%U:%G %a' /var/log/uwsgi") == "www-data:adm 750"
    finally:
        machine.run("dpkg-statoverride --remove /var/log/uwsgi && "
                    "chown root:adm /var/log/uwsgi && chmod 2755 /var/log/uwsgi")


@INIT_SCRIPT
def test_purge_removes_only_the_helpers_links(machine):
    """uwsgi-ensite's links (../apps-available/NAME.ini) are the package's state; anything
    else in apps-enabled is the admin's and stays."""
    set_up(machine)
    machine.run("printf '[uwsgi]\\n' > /srv/elsewhere.ini "
                "&& ln -s /srv/elsewhere.ini /etc/uwsgi/apps-enabled/elsewhere.ini "
                "&& ln -s ../apps-available/../../../srv/elsewhere.ini /etc/uwsgi/apps-enabled/up.ini "
                "&& printf '[uwsgi]\\n' > /etc/uwsgi/apps-enabled/plain.ini")
    # Issue 24, finding 5: a www-data process keeps adding names to /run/uwsgi meanwhile,
    # among them a link to a directory of root's (nothing behind it may be removed).
    machine.run(f"mkdir -p /srv/roots-dir && cp -p {secret('purge')} /srv/roots-dir/")
    assert as_www_data(machine, "ln -s /srv/roots-dir /run/uwsgi/link").returncode == 0
    creator = www_data_popen(machine, "/bin/sh -c 'i=0; echo ready; while [ $i -lt 200000 ]; "
                                      "do mkdir /run/uwsgi/d$i && touch /run/uwsgi/d$i/f; "
                                      "i=$((i+1)); done'")
    try:
        assert creator.stdout.readline().strip() == "ready"
        purge = machine.run("apt-get purge -y uwsgi-emperor", check=False)
    finally:
        machine.run("pkill -u www-data", check=False)
        creator.communicate(timeout=30)
    assert purge.returncode == 0, purge.stdout + purge.stderr
    assert machine.out("dpkg-query -W -f '${db:Status-Abbrev}' uwsgi-emperor",
                       check=False).strip() in ("", "un")
    assert ("uwsgi-emperor: left /run/uwsgi in place (it holds files that are not the "
            "package's); it is gone at the next boot") in purge.stdout + purge.stderr
    assert machine.out(f"cat /srv/roots-dir/{secret('purge').rsplit('/', 1)[1]}") == SECRET_TEXT.strip()
    assert machine.out("ls -A /etc/uwsgi/apps-enabled").split() == [
        "elsewhere.ini", "plain.ini", "up.ini"]
    # The apps themselves stay too.
    assert {"app1.ini", "app2.ini"} <= set(machine.out("ls -A /etc/uwsgi/apps-available").split())
    assert machine.run("test -e /run/uwsgi-emperor || test -e /var/log/uwsgi",
                       check=False).returncode == 1
    assert machine.out("cat /srv/elsewhere.ini") == "[uwsgi]"


# ------------------------------------------------------------------ under systemd

@SYSTEMD
def test_systemd_is_the_suites(machine, suite):
    """The booted root runs the suite's own systemd (whose sandbox the unit relies on)."""
    assert machine.systemd_major() == suite_info(suite).systemd


def app_results(machine):
    response = uwsgi_request.get(machine, "/run/uwsgi/webapp.sock")
    assert response.startswith("HTTP/1.1 200 OK"), response
    return json.loads(uwsgi_request.body(response))


@SYSTEMD
def test_exposure_score(machine, record):
    """systemd-analyze's exposure of the hardened unit stays low (it was 8.6 unhardened)."""
    out = machine.out("systemd-analyze security uwsgi-emperor.service", check=False)
    score = float(re.search(r"Overall exposure level for uwsgi-emperor.service: ([\d.]+)", out)[1])
    record("systemd-analyze security exposure (was 8.6)", score)
    assert score <= 3.5, out


@SYSTEMD
def test_common_web_app_works_under_the_sandbox(machine):
    """What web apps commonly do (subprocess, thread, writes, names, mail) still works."""
    assert app_results(machine) == ALL_OK
    assert machine.out("cat /srv/webapp/data/out") == "written by the app"
    assert machine.out("stat -c %U /srv/webapp/data/out") == "www-data"
    # The mail was queued by postdrop and delivered locally.
    webstack.wait_for(lambda: "Subject: uwsgi-security-test" in machine.out(
        "cat /var/mail/root", check=False), 30)


@SYSTEMD
def test_an_app_cannot_rewrite_the_units_status(machine, record):
    """NotifyAccess=main: an app's STATUS= and ERRNO= to systemd are refused."""
    app_results(machine)  # it sent STATUS= again
    # Only the socket keeper (the main process) may notify; what the app sent is refused.
    refused = machine.out("journalctl -q -u uwsgi-emperor --no-pager | "
                          "grep -c 'reception only permitted for main PID'", check=False)
    record("notifications refused by NotifyAccess=main (journal lines)", refused)
    master = machine.out("cat /run/uwsgi-emperor/emperor.pid")
    assert machine.out("systemctl show -p StatusText --value uwsgi-emperor") == f"Emperor pid {master}"
    # The Emperor never sends ERRNO=: with NotifyAccess=all the app's 99 would stick.
    assert machine.out("systemctl show -p StatusErrno --value uwsgi-emperor") == "0"
    assert machine.out("systemctl is-active uwsgi-emperor") == "active"


@SYSTEMD
def test_no_new_privileges_would_lose_mail(machine, record):
    """Why the unit does not set NoNewPrivileges=true: measured with a drop-in."""
    machine.run("mkdir -p /run/systemd/system/uwsgi-emperor.service.d && printf "
                "'[Service]\\nNoNewPrivileges=true\\n' > /run/systemd/system/"
                "uwsgi-emperor.service.d/nnp.conf && systemctl daemon-reload "
                "&& systemctl restart uwsgi-emperor")
    try:
        results = app_results(machine)
    finally:
        machine.run("rm -r /run/systemd/system/uwsgi-emperor.service.d && systemctl daemon-reload "
                    "&& systemctl restart uwsgi-emperor")
    # postfix's postdrop (setgid postdrop) cannot write the maildrop queue: sendmail fails
    # or, as postdrop retries, hangs until the app gives up (here after 6 s).
    record("sendmail from an app under NoNewPrivileges=true", results["sendmail"])
    assert results["sendmail"] != "ok"
    assert "postdrop" in results["sendmail"] or results["sendmail"].startswith("timed out")
    assert {k: v for k, v in results.items() if k != "sendmail"} == {
        k: v for k, v in ALL_OK.items() if k != "sendmail"}
    assert app_results(machine) == ALL_OK


@SYSTEMD
def test_symlink_over_the_pid_file_path_truncates_nothing(machine):
    """uWSGI writes its pid file with fopen("w"): a symlink there (planted by www-data)
    would make root truncate its target on the next start."""
    attack = machine.run(
        "setpriv --reuid=www-data --regid=www-data --init-groups -- /bin/sh -c '"
        f"for p in /run/uwsgi/emperor.pid /run/uwsgi-emperor/emperor.pid; do "
        f"ln -s {UNIT_SECRET} $p.new && mv -fT $p.new $p; ln -sf {UNIT_SECRET} $p; done'", check=False)
    machine.run("systemctl restart uwsgi-emperor")
    assert "is up" in machine.out("uwsgi-ensite --wait webapp")
    assert machine.out(f"stat -c '%U:%G %a' {UNIT_SECRET}") == "root:root 600"
    assert machine.out(f"cat {UNIT_SECRET}") == UNIT_SECRET_TEXT
    assert "Permission denied" in attack.stderr
    main = machine.out("systemctl show -p MainPID --value uwsgi-emperor")
    # The pid file names the Emperor's master, the child of the unit's main process (the
    # socket keeper).
    assert machine.out("ps -o ppid= -p $(cat /run/uwsgi-emperor/emperor.pid)").strip() == main
    assert machine.out("stat -c '%U:%G %a' /run/uwsgi /run/uwsgi-emperor").splitlines() == [
        "root:www-data 1775", "root:root 755"]

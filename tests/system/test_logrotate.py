"""Point 5 and issue 14: log rotation, under either init system (`init`: the LSB init script
in an isolated root, or the suite's real systemd, 252 and 257, booted with systemd-nspawn -b).

Under the init script: `logrotate -f` under a numbered request stream (16 connections, more
than the vassal's 2 workers) loses and duplicates no line, the Emperor and every vassal process
write to the new files afterwards, and a vassal that cannot reopen is reported by logrotate
(exit status and stderr) while its lines keep going to the rotated file.

Under systemd (issue 14): the rotation run the way a Debian host of the suite runs it, by
logrotate.service. Its sandbox matters: ProtectSystem=full makes /etc read-only for
postrotate (a trigger file under /etc could not be touched), PrivateDevices,
MemoryDenyWriteExecute. After the daily run every process of the vassal and the Emperor
write to the new files, and the unit's result is success.

The package's mechanism: vassals have no log master; postrotate runs uwsgi_emperor.logreopen,
which asks each vassal still writing to a rotated file to reopen (`l`) and chain-reload its
workers (`c`) through its master fifo, touches the Emperor's trigger, and returns once no
process writes to a rotated file.

Each check is made under the init system it was written for (marker `inits`): one root per
suite and init, as before the two were one module. A test that needs what an earlier one
left (app1 enabled, its log rotated once) makes it first when it is missing, so each passes
alone.
"""

import re
import time

import pytest

import webstack
from project import suite as suite_info
from testbed import nspawn
from testbed import stack as testbed_stack

INIT_SCRIPT = pytest.mark.inits("init-script")
SYSTEMD = pytest.mark.inits("systemd")

APPS = ("app1", "app2", "app3")
LOGS = "/var/log/uwsgi"
LOGROTATE = "logrotate -f /etc/logrotate.d/uwsgi-emperor"


@pytest.fixture(scope="module", params=["init-script", "systemd"])
def init(request):
    return request.param


@pytest.fixture(scope="module")
def machine(request, suite, init, deb_path, fresh_root):
    """The package installed by apt in a fresh root of SUITE, run by INIT. Under the init
    script: the isolated machine with APPS' venvs ready and nginx running. Under systemd:
    the booted root with logrotate (installed first, its daily timer stopped)."""
    if init == "systemd":
        with fresh_root(request, suite, init, include=nspawn.BOOT_PACKAGES) as root:
            what = testbed_stack.prepare(root, deb_path, packages=("logrotate",))
            with nspawn.booted(root) as m:
                logrotate = webstack.install(m, "logrotate")
                assert logrotate.returncode == 0, logrotate.stdout + logrotate.stderr
                # The daily timer must not rotate behind the test's back.
                m.run("systemctl stop logrotate.timer")
                install = webstack.install(m, what)
                assert install.returncode == 0, install.stdout + install.stderr
                yield m
    else:
        with fresh_root(request, suite, init) as root:
            yield webstack.installed(root, webstack.prepare(root, deb_path, apps=APPS))


def enabled(machine, name):
    """NAME enabled and serving (enabled now if it was not)."""
    if not webstack.serves(machine, name):
        webstack.enable(machine, name)


def rotated_once(machine):
    """What test_rotation_under_load_loses_nothing leaves, made when missing: app1 enabled,
    its log and the Emperor's rotated once."""
    enabled(machine, "app1")
    if machine.run(f"test -e {LOGS}/app1.log.1", check=False).returncode != 0:
        rotate = machine.run(LOGROTATE, check=False)
        assert (rotate.returncode, rotate.stderr) == (0, "")


def request_numbers(text):
    return [int(n) for n in re.findall(r"\] GET /seq/(\d+) => ", text)]


def stderr_file(machine, pid):
    """(path, inode) of the file PID's fd 2 is open on (the kernel's name for it)."""
    path = machine.out(f"readlink /proc/{pid}/fd/2")
    return path, machine.out(f"stat -L -c %i /proc/{pid}/fd/2")


def inode(machine, path):
    return machine.out(f"stat -c %i {path}")


@INIT_SCRIPT
def test_rotation_under_load_loses_nothing(machine, record):
    """logrotate -f while 16 connections keep app1's 2 workers busy: it returns once every
    process writes to the new file, and every answered request is logged exactly once."""
    webstack.enable(machine, "app1")
    master = webstack.vassal_master(machine, "app1")
    workers_before = set(webstack.vassal_processes(machine, "app1")) - {master}
    load = webstack.Load(machine, "app1", connections=16, min_requests=3000)
    webstack.wait_for_log(machine, f"{LOGS}/app1.log", "GET /seq/200 ")

    rotate = machine.run(f"date +%s.%N; {LOGROTATE}; echo $?; date +%s.%N", check=False)
    start, status, end = rotate.stdout.split()
    record("logrotate -f under load, postrotate's reopen included (s)",
           round(float(end) - float(start), 2))
    # logrotate returns once every process writes to the new files.
    assert (status, rotate.stderr) == ("0", "")
    procs = webstack.vassal_processes(machine, "app1")
    assert master in procs  # the master stayed: a reopen, not a restart
    assert set(procs) - {master} and not workers_before & set(procs)  # every worker re-forked
    new_inode = inode(machine, f"{LOGS}/app1.log")
    assert {pid: stderr_file(machine, pid) for pid in procs} == {
        pid: (f"{LOGS}/app1.log", new_inode) for pid in procs}

    _, seconds = webstack.wait_for(
        lambda: request_numbers(machine.out(f"cat {LOGS}/app1.log")), webstack.SPEC_SECONDS)
    record("app1 request lines in the new log after logrotate returned (s)", round(seconds, 2))
    result = load.finish()
    record("requests during rotation (ok/failed)", f"{result['ok']}/{result['failed']}")
    assert (result["failed"], result["errors"]) == (0, [])

    old = request_numbers(machine.out(f"cat {LOGS}/app1.log.1"))
    new = request_numbers(machine.out(f"cat {LOGS}/app1.log"))
    record("request lines in app1.log.1 / app1.log", f"{len(old)}/{len(new)}")
    assert old and new
    # Every answered request logged exactly once across both files, nothing else.
    assert sorted(old + new) == result["ok_numbers"]
    # The old file got nothing after the workers' re-fork: the new one has the newest requests.
    assert max(old) < max(new)


@INIT_SCRIPT
def test_new_files_and_emperor_writes_to_new_log(machine):
    """After the rotation: the files logrotate made keep their owners, and the Emperor and a
    vassal spawned afterwards write to the new ones."""
    rotated_once(machine)
    assert machine.out(f"ls {LOGS}").split() == [
        "app1.log", "app1.log.1", "emperor.log", "emperor.log.1"]
    # logrotate's create keeps each file's owner: the app's log stays the app's, the
    # Emperor's stays root's (www-data may not write the Emperor's log).
    assert machine.out(f"stat -c '%U:%G %a' {LOGS}/app1.log {LOGS}/emperor.log").splitlines() == [
        "www-data:www-data 640", "root:adm 640"]
    # Something the Emperor logs after the rotation: a new vassal.
    webstack.enable(machine, "app2")
    webstack.wait_for_log(machine, f"{LOGS}/emperor.log", "[emperor] vassal app2.ini has been spawned")
    assert "app2.ini" not in machine.out(f"cat {LOGS}/emperor.log.1")
    assert request_numbers(machine.out(f"cat {LOGS}/app2.log")) == []
    assert webstack.get(machine, "app2", "/seq/5") == (200, "app2 5\n")
    webstack.wait_for_log(machine, f"{LOGS}/app2.log", "GET /seq/5 ")


@INIT_SCRIPT
def test_vassal_that_cannot_reopen_is_reported(machine, record):
    """Issue 14: a vassal that cannot be asked to reopen makes logrotate fail loudly, the
    others reopen all the same, and none of its lines is lost."""
    for app in ("app1", "app2"):
        enabled(machine, app)
    # An app with its own uid has no master fifo (its user cannot create one in /run/uwsgi):
    # nothing can make it reopen. logrotate must say so, and its lines must not be lost.
    machine.run("cat > /etc/uwsgi/apps-available/app3.ini",
                input=webstack.app_ini("app3") + "uid = nobody\ngid = nogroup\n")
    machine.run("uwsgi-ensite -q app3")
    webstack.wait_for(lambda: webstack.serves(machine, "app3"), webstack.SPEC_SECONDS)
    assert webstack.get(machine, "app3", "/seq/1") == (200, "app3 1\n")
    webstack.wait_for_log(machine, f"{LOGS}/app3.log", "GET /seq/1 ")
    app3 = sorted(webstack.vassal_processes(machine, "app3"))

    rotate = machine.run(LOGROTATE, check=False)
    record("logrotate with a vassal that cannot reopen (exit status)", rotate.returncode)
    assert rotate.returncode == 1
    reported = [line for line in rotate.stderr.splitlines() if line.startswith("uwsgi-emperor:")]
    assert reported == [
        f"uwsgi-emperor: log not reopened: {LOGS}/app3.log.1 still written by PID "
        f"{', '.join(map(str, app3))} (/opt/venvs/uwsgi-emperor/bin/uwsgi --ini app3.ini "
        f"--include /etc/uwsgi/vassal-defaults.ini): no master fifo to ask it to reopen"]
    assert "error: error running shared postrotate script" in rotate.stderr

    # The others reopened all the same.
    for app in ("app1", "app2"):
        new_inode = inode(machine, f"{LOGS}/{app}.log")
        for pid in webstack.vassal_processes(machine, app):
            assert stderr_file(machine, pid) == (f"{LOGS}/{app}.log", new_inode)
    # app3 keeps serving and logging, into the rotated file: no line lost.
    assert webstack.get(machine, "app3", "/seq/2") == (200, "app3 2\n")
    webstack.wait_for_log(machine, f"{LOGS}/app3.log.1", "GET /seq/2 ")
    assert request_numbers(machine.out(f"cat {LOGS}/app3.log.1")) == [1, 2]
    assert request_numbers(machine.out(f"cat {LOGS}/app3.log")) == []


@SYSTEMD
def test_systemd_is_the_suites(machine, suite):
    """The booted root runs the suite's own systemd (what logrotate.service's sandbox is)."""
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


@SYSTEMD
def test_logrotate_service_reopens_every_log(machine):
    """Issue 14: the daily logrotate.service, in its sandbox, rotates the vassal's and the
    Emperor's logs: its result is success and every process writes to the new files."""
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


@SYSTEMD
def test_postrotate_cannot_write_under_etc(machine):
    """Why the Emperor's trigger is not under /etc: ProtectSystem=full, shown."""
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

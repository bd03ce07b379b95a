"""Point 5 and issue 14: `logrotate -f` under a numbered request stream (16 connections, more
than the vassal's 2 workers) loses and duplicates no line, the Emperor and every vassal process
write to the new files afterwards, and a vassal that cannot reopen is reported by logrotate
(exit status and stderr) while its lines keep going to the rotated file.

The package's mechanism: vassals have no log master; postrotate runs uwsgi_emperor.logreopen,
which asks each vassal still writing to a rotated file to reopen (`l`) and chain-reload its
workers (`c`) through its master fifo, touches the Emperor's trigger, and returns once no
process writes to a rotated file."""

import re

import stack

APPS = ("app1", "app2", "app3")
LOGS = "/var/log/uwsgi"
LOGROTATE = "logrotate -f /etc/logrotate.d/uwsgi-emperor"


def request_numbers(text):
    return [int(n) for n in re.findall(r"\] GET /seq/(\d+) => ", text)]


def stderr_file(machine, pid):
    """(path, inode) of the file PID's fd 2 is open on (the kernel's name for it)."""
    path = machine.out(f"readlink /proc/{pid}/fd/2")
    return path, machine.out(f"stat -L -c %i /proc/{pid}/fd/2")


def inode(machine, path):
    return machine.out(f"stat -c %i {path}")


def test_rotation_under_load_loses_nothing(machine, record):
    stack.enable(machine, "app1")
    master = stack.vassal_master(machine, "app1")
    workers_before = set(stack.vassal_processes(machine, "app1")) - {master}
    load = stack.Load(machine, "app1", connections=16, min_requests=3000)
    stack.wait_for_log(machine, f"{LOGS}/app1.log", "GET /seq/200 ")

    rotate = machine.run(f"date +%s.%N; {LOGROTATE}; echo $?; date +%s.%N", check=False)
    start, status, end = rotate.stdout.split()
    record("logrotate -f under load, postrotate's reopen included (s)",
           round(float(end) - float(start), 2))
    # logrotate returns once every process writes to the new files.
    assert (status, rotate.stderr) == ("0", "")
    procs = stack.vassal_processes(machine, "app1")
    assert master in procs  # the master stayed: a reopen, not a restart
    assert set(procs) - {master} and not workers_before & set(procs)  # every worker re-forked
    new_inode = inode(machine, f"{LOGS}/app1.log")
    assert {pid: stderr_file(machine, pid) for pid in procs} == {
        pid: (f"{LOGS}/app1.log", new_inode) for pid in procs}

    _, seconds = stack.wait_for(
        lambda: request_numbers(machine.out(f"cat {LOGS}/app1.log")), stack.SPEC_SECONDS)
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


def test_new_files_and_emperor_writes_to_new_log(machine):
    assert machine.out(f"ls {LOGS}").split() == [
        "app1.log", "app1.log.1", "emperor.log", "emperor.log.1"]
    # logrotate's create keeps each file's owner: the app's log stays the app's, the
    # Emperor's stays root's (www-data may not write the Emperor's log).
    assert machine.out(f"stat -c '%U:%G %a' {LOGS}/app1.log {LOGS}/emperor.log").splitlines() == [
        "www-data:www-data 640", "root:adm 640"]
    # Something the Emperor logs after the rotation: a new vassal.
    stack.enable(machine, "app2")
    stack.wait_for_log(machine, f"{LOGS}/emperor.log", "[emperor] vassal app2.ini has been spawned")
    assert "app2.ini" not in machine.out(f"cat {LOGS}/emperor.log.1")
    assert request_numbers(machine.out(f"cat {LOGS}/app2.log")) == []
    assert stack.get(machine, "app2", "/seq/5") == (200, "app2 5\n")
    stack.wait_for_log(machine, f"{LOGS}/app2.log", "GET /seq/5 ")


def test_vassal_that_cannot_reopen_is_reported(machine, record):
    # An app with its own uid has no master fifo (its user cannot create one in /run/uwsgi):
    # nothing can make it reopen. logrotate must say so, and its lines must not be lost.
    machine.run("cat > /etc/uwsgi/apps-available/app3.ini",
                input=stack.app_ini("app3") + "uid = nobody\ngid = nogroup\n")
    machine.run("uwsgi-ensite -q app3")
    stack.wait_for(lambda: stack.serves(machine, "app3"), stack.SPEC_SECONDS)
    assert stack.get(machine, "app3", "/seq/1") == (200, "app3 1\n")
    stack.wait_for_log(machine, f"{LOGS}/app3.log", "GET /seq/1 ")
    app3 = sorted(stack.vassal_processes(machine, "app3"))

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
        for pid in stack.vassal_processes(machine, app):
            assert stderr_file(machine, pid) == (f"{LOGS}/{app}.log", new_inode)
    # app3 keeps serving and logging, into the rotated file: no line lost.
    assert stack.get(machine, "app3", "/seq/2") == (200, "app3 2\n")
    stack.wait_for_log(machine, f"{LOGS}/app3.log.1", "GET /seq/2 ")
    assert request_numbers(machine.out(f"cat {LOGS}/app3.log.1")) == [1, 2]
    assert request_numbers(machine.out(f"cat {LOGS}/app3.log")) == []

"""Point 5: `logrotate -f` under a numbered request stream loses no line and the Emperor and
the vassals write to the new files afterwards (the package's touch-logreopen rotation)."""

import re

import stack

APPS = ("app1", "app2")
LOGS = "/var/log/uwsgi"


def request_numbers(text):
    return [int(n) for n in re.findall(r"\] GET /seq/(\d+) => ", text)]


def test_rotation_under_load_loses_nothing(machine, record):
    stack.enable(machine, "app1")
    load = stack.Load(machine, "app1", connections=4, min_requests=2000)
    stack.wait_for_log(machine, f"{LOGS}/app1.log", "GET /seq/200 ")

    machine.run("logrotate -f /etc/logrotate.d/uwsgi-emperor")

    # The vassal reopens its log when it sees the trigger touched: new lines in the new file.
    _, seconds = stack.wait_for(
        lambda: request_numbers(machine.out(f"cat {LOGS}/app1.log")), stack.SPEC_SECONDS)
    record("app1 writing to the new log after rotation (s)", round(seconds, 2))
    result = load.finish()
    record("requests during rotation (ok/failed)", f"{result['ok']}/{result['failed']}")
    assert (result["failed"], result["errors"]) == (0, [])

    old = request_numbers(machine.out(f"cat {LOGS}/app1.log.1"))
    new = request_numbers(machine.out(f"cat {LOGS}/app1.log"))
    record("request lines in app1.log.1 / app1.log", f"{len(old)}/{len(new)}")
    assert old and new
    # Every answered request logged exactly once across both files, nothing else.
    assert sorted(old + new) == result["ok_numbers"]
    # After the reopen the old file got nothing more: the new one has the newest requests.
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

"""Point 6: faults. A killed vassal comes back; a broken app disturbs no other; a killed
Emperor is reported by `status` and `start` brings everything back; a lost /run/uwsgi (as
after a reboot) is recreated by the init script."""

import pytest

import webstack

APPS = ("app1", "app2")
INIT = "/etc/init.d/uwsgi-emperor"
EMPEROR_LOG = "/var/log/uwsgi/emperor.log"


@pytest.fixture
def apps(machine):
    """app1 and app2 enabled and served, whichever test runs first (each test stands alone)."""
    if machine.run(f"{INIT} status", check=False).returncode != 0:
        machine.run(f"{INIT} start")
    for app in APPS:
        webstack.served(machine, app)
    return APPS


def one_master_each(machine):
    """every app has exactly one master and two workers"""
    return all(len(webstack.vassal_processes(machine, app)) == 3 for app in APPS)


def test_killed_vassal_master_comes_back(machine, apps, record):
    old = webstack.vassal_master(machine, "app1")
    machine.run(f"kill -9 {old}")
    _, seconds = webstack.wait_for(lambda: webstack.serves(machine, "app1"), webstack.SPEC_SECONDS)
    record("app1 answering again after kill -9 of its master (s)", round(seconds, 2))
    new = webstack.vassal_master(machine, "app1")
    assert new not in (None, old)
    # Its old workers go too: one master, two workers (they may still be on their way out).
    webstack.wait_for(lambda: len(webstack.vassal_processes(machine, "app1")) == 3, 30, interval=0.5)


def test_broken_app_disturbs_no_other(machine, apps, record):
    loads = [webstack.Load(machine, app, connections=2, min_requests=500) for app in ("app1", "app2")]
    try:
        # Linked by hand: uwsgi-ensite would check the ini; an admin's `ln -s` does not.
        machine.run("printf '[uwsgi]\\nchdir = /srv\\nmodule = no_such_module:app\\n' "
                    "> /etc/uwsgi/apps-available/broken.ini && "
                    "ln -s ../apps-available/broken.ini /etc/uwsgi/apps-enabled/broken.ini")
        # need-app: the vassal exits when its module does not import; the Emperor reports each
        # death and, after the second quick one, throttles the respawns.
        webstack.wait_for_log(machine, "/var/log/uwsgi/broken.log", "*** no app loaded. GAME OVER ***")
        assert ("ModuleNotFoundError: No module named 'no_such_module'"
                in machine.out("cat /var/log/uwsgi/broken.log"))
        webstack.wait_for_log(machine, EMPEROR_LOG, "[emperor] curse the uwsgi instance broken.ini (pid: ")
        webstack.wait_for_log(machine, EMPEROR_LOG, "[emperor] removed uwsgi instance broken.ini")
        webstack.wait_for_log(machine, EMPEROR_LOG,
                           "[emperor] unloyal bad behaving vassal found: broken.ini throttling it...",
                           timeout=10)
    finally:
        results = [load.finish() for load in loads]
    for app, result in zip(("app1", "app2"), results):
        record(f"{app} requests while broken.ini failed (ok/failed)",
               f"{result['ok']}/{result['failed']}")
        assert (result["failed"], result["errors"]) == (0, [])
        assert result["ok"] >= 500 and not result["timed_out"]
    machine.run("rm /etc/uwsgi/apps-enabled/broken.ini")
    webstack.wait_for(lambda: not webstack.vassal_processes(machine, "broken"), webstack.SPEC_SECONDS)


def test_killed_emperor_reported_and_started_again(machine, apps, record):
    master = machine.out("cat /run/uwsgi-emperor/emperor.pid")
    machine.run(f"kill -9 {master}")
    webstack.wait_for(lambda: machine.run(f"kill -0 {master}", check=False).returncode == 1, 5)

    def status_not_running():
        """init script status no longer 0 (the keeper has seen its child die)"""
        result = machine.run(f"{INIT} status", check=False)
        return result if result.returncode != 0 else None

    status, _ = webstack.wait_for(status_not_running, 10)
    assert status.returncode == 1  # LSB: program is dead and the pid file exists
    assert status.stdout == "uwsgi-emperor is not running ... failed!\n"

    # Started again at once, as a monitor would, while the dead Emperor's vassals may still
    # be shutting down.
    start = machine.run(f"{INIT} start", check=False)
    assert start.returncode == 0, start.stdout + start.stderr
    assert machine.run(f"{INIT} status", check=False).returncode == 0
    for app in ("app1", "app2"):
        _, seconds = webstack.wait_for(lambda: webstack.serves(machine, app), webstack.SPEC_SECONDS)
        record(f"{app} served after start (s)", round(seconds, 2))

    # The old vassals go away by themselves (they lost their Emperor) ...
    _, seconds = webstack.wait_for(lambda: one_master_each(machine), 30, interval=0.5)
    record("old vassals gone after start (s)", round(seconds, 2))
    # ... without taking the new vassals' sockets with them (vacuum), and the new ones belong
    # to the new Emperor.
    assert machine.out("ls /run/uwsgi").split() == [
        "app1.fifo", "app1.sock", "app1.stats", "app2.fifo", "app2.sock", "app2.stats"]
    assert machine.out("ls /run/uwsgi-emperor").split() == [
        "emperor-stats.sock", "emperor.pid", "keeper.pid", "keeper.sock"]
    new_master = machine.out("cat /run/uwsgi-emperor/emperor.pid")
    emperor = machine.out(f"ps -o pid= --ppid {new_master}").split()
    assert len(emperor) == 1
    for app in ("app1", "app2"):
        master = webstack.vassal_master(machine, app)
        assert webstack.vassal_processes(machine, app)[master][0] == int(emperor[0])
        assert webstack.serves(machine, app)
    assert webstack.uwsgi_count(machine) == 2 + 2 * 3


def test_run_dir_recreated_after_reboot(machine, apps):
    stop = machine.run(f"{INIT} stop", check=False)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    webstack.wait_for(lambda: webstack.uwsgi_count(machine) == 0, 30)
    # A reboot empties /run (a tmpfs).
    machine.run("rm -rf /run/uwsgi")
    start = machine.run(f"{INIT} start", check=False)
    assert start.returncode == 0, start.stdout + start.stderr
    assert machine.out("stat -c '%U:%G %a' /run/uwsgi") == "root:www-data 1775"
    for app in ("app1", "app2"):
        webstack.wait_for(lambda: webstack.serves(machine, app), webstack.SPEC_SECONDS)
    assert machine.out("ls /run/uwsgi").split() == [
        "app1.fifo", "app1.sock", "app1.stats", "app2.fifo", "app2.sock", "app2.stats"]
    assert machine.out("ls /run/uwsgi-emperor").split() == [
        "emperor-stats.sock", "emperor.pid", "keeper.pid", "keeper.sock"]

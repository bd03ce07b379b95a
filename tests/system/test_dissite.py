"""Point 4: `uwsgi-dissite app1` stops that vassal while app2 keeps serving without a failure."""

import webstack

APPS = ("app1", "app2")


def test_dissite_stops_one_vassal_and_spares_the_other(machine, record):
    webstack.enable(machine, "app1")
    webstack.enable(machine, "app2")
    assert webstack.vassal_master(machine, "app1") is not None
    load = webstack.Load(machine, "app2", connections=4, min_requests=300)
    webstack.wait_for_log(machine, "/var/log/uwsgi/app2.log", "GET /seq/20 ")

    machine.run("uwsgi-dissite -q app1")

    def app1_gone():
        """app1 has no process and no socket left"""
        return (not webstack.vassal_processes(machine, "app1")
                and machine.run("test -e /run/uwsgi/app1.sock", check=False).returncode == 1)
    _, seconds = webstack.wait_for(app1_gone, webstack.SPEC_SECONDS)
    record("app1 stopped after dissite (s)", round(seconds, 2))
    result = load.finish()
    record("app2 requests during dissite (ok/failed)", f"{result['ok']}/{result['failed']}")
    assert (result["failed"], result["errors"]) == (0, [])
    assert result["ok"] >= 300 and not result["timed_out"]

    assert machine.out("ls /etc/uwsgi/apps-enabled") == "app2.ini"
    assert webstack.get(machine, "app1")[0] == 502  # nginx: nothing behind the socket path
    assert webstack.get(machine, "app2") == (200, "Hello from app2\n")
    assert "[emperor] stop the uwsgi instance app1.ini" in machine.out("cat /var/log/uwsgi/emperor.log")

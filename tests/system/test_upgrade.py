"""Point 8 (part): upgrade from the previous build keeps the enabled apps serving.

"The previous build" is the real .deb repacked with a lower revision (2.0.31-0.1,
debtools.with_version): the root starts on it, serves two apps, and `apt-get install` of
the real .deb upgrades it while a client keeps requesting app1.
"""

import pytest

import stack
from testbed import debtools

APPS = ("app1", "app2")
OLD_VERSION = "2.0.31-0.1"


@pytest.fixture(scope="module")
def deb_inside(clean_root, deb_path, tmp_path_factory):
    """The group's machine installs the lower revision first."""
    old = debtools.with_version(deb_path, OLD_VERSION, tmp_path_factory.mktemp("old-deb"))
    return stack.prepare(clean_root, old, apps=APPS)


def version(machine):
    return machine.out("dpkg-query -W -f '${Version}' uwsgi-emperor")


def test_upgrade_keeps_apps_serving(machine, clean_root, deb_path, record):
    assert version(machine) == OLD_VERSION
    stack.enable(machine, "app1")
    stack.enable(machine, "app2")
    new = stack.stage_deb(clean_root, deb_path)
    emperor_before = machine.out("cat /run/uwsgi/emperor.pid")

    load = stack.Load(machine, "app1", connections=4, min_requests=200)
    try:
        upgrade = machine.run(f"apt-get install -y {new} </dev/null", check=False)
    finally:
        result = load.finish()
    # The postinst restarts the Emperor: nginx answers 502 until the vassals are back.
    # Recorded, not asserted (how long the gap is depends on the machine).
    record("app1 requests during the upgrade (ok/failed)", f"{result['ok']}/{result['failed']}")
    record("app1 outage during the upgrade (s)", result["failure_window_seconds"])
    output = upgrade.stdout + upgrade.stderr
    assert upgrade.returncode == 0, output
    assert f"Unpacking uwsgi-emperor ({version(machine)}) over ({OLD_VERSION}) ..." in output
    assert version(machine) != OLD_VERSION
    assert "dpkg: warning" not in output

    for app in ("app1", "app2"):
        _, seconds = stack.wait_for(lambda: stack.serves(machine, app), stack.SPEC_SECONDS)
        record(f"{app} served after the upgrade (s)", round(seconds, 2))
        assert machine.out(f"uwsgi-query {app}") == f"{app} (enabled by site administrator)"
    assert machine.out("ls /etc/uwsgi/apps-enabled").split() == ["app1.ini", "app2.ini"]
    # The new package's Emperor runs (the postinst restarted it).
    emperor_after = machine.out("cat /run/uwsgi/emperor.pid")
    assert emperor_after != emperor_before
    assert machine.run("/etc/init.d/uwsgi-emperor status", check=False).returncode == 0

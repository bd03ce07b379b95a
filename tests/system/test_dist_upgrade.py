"""Issue 11: a host of one suite, switched to the next suite's sources and dist-upgraded, moves
from its suite's build to the next one's through the mirror, with its app still enabled and
serving (bookworm -> trixie).

One repository holds every suite's build (scripts/publish-repo); the host starts as a clean
root of the older suite with the client files, installs the package from the mirror, enables
an app (a plain WSGI module: a venv-based app would be rebuilt for the new Python by its
admin), then does what Debian's release notes say: every apt source renamed to the new
codename, `apt-get update`, `apt-get full-upgrade`. Runs when both suites are selected.
"""


import pytest

import uwsgi_request
from mirror import Server, client_root, publish
from project import deb_file, package_version, selected_suites, suite as suite_info
from testbed import stack

pytestmark = pytest.mark.system

APP = uwsgi_request.plain_app("hello across releases")
# The smallest host that can ask its app (uwsgi_request runs the root's python3).
HOST_PACKAGES = ("python3",)


def pytest_generate_tests(metafunc):
    suites = selected_suites()
    pairs = list(zip(suites, suites[1:]))
    # With one suite selected there is nothing to upgrade to: conftest deselects the None.
    metafunc.parametrize("upgrade", pairs or [None],
                         ids=[f"{a}-to-{b}" for a, b in pairs] or ["one-suite"], scope="module")


@pytest.fixture(scope="module")
def mirror(upgrade, tmp_path_factory):
    base = tmp_path_factory.mktemp("mirror")
    www = base / "www"
    www.mkdir()
    server = Server(www)
    repo = base / "repo"
    publish(repo, f"{server.url}/good",
            *(deb_file(s) for s in upgrade))
    (www / "good").symlink_to(repo)
    yield {"url": server.url, "files": base, "server": server}
    server.close()


@pytest.fixture(scope="module")
def host(upgrade, mirror, tmp_path_factory):
    """A clean root of the older suite with the client files, on the host's network and
    without the shared caches (everything comes from the mirror and Debian's archive)."""
    old, _ = upgrade
    root = client_root(old, tmp_path_factory.mktemp(f"{old}-upgraded-host") / "root",
                       mirror["files"], mirror["url"], include=HOST_PACKAGES)
    machine = root.machine(offline=False, caches=False)
    yield root, machine
    root.discard()


def version(machine):
    return machine.out("dpkg-query -W -f '${Version}' uwsgi-emperor")


def test_dist_upgrade_moves_to_the_new_suites_build_and_keeps_the_app(host, upgrade, mirror):
    old, new = upgrade
    root, m = host
    m.run("apt-get update -q", timeout=300)
    m.run("apt-get install -y -q uwsgi-emperor </dev/null", timeout=900)
    assert version(m) == package_version(old)
    m.run("mkdir -p /srv/hello && cat > /srv/hello/app.py", input=APP)
    m.run("printf '[uwsgi]\\nchdir = /srv/hello\\nmodule = app\\n' "
          "> /etc/uwsgi/apps-available/hello.ini && uwsgi-ensite -q hello")
    assert uwsgi_request.body(uwsgi_request.get(m, "/run/uwsgi/hello.sock")) == "hello across releases"

    # The release notes' way: every source names the new codename, then a full upgrade.
    m.run(f"sed -i 's/\\b{old}\\b/{new}/g' /etc/apt/sources.list "
          f"/etc/apt/sources.list.d/uwsgi-emperor.sources")
    assert f"Suites: {new}" in m.out("cat /etc/apt/sources.list.d/uwsgi-emperor.sources")
    m.run("apt-get update -q", timeout=300)
    upgrade_run = m.run("apt-get full-upgrade -y -q -o Dpkg::Options::=--force-confdef "
                        "-o Dpkg::Options::=--force-confold </dev/null", timeout=1800, check=False)
    output = upgrade_run.stdout + upgrade_run.stderr
    assert upgrade_run.returncode == 0, output[-4000:]
    assert (f"Unpacking uwsgi-emperor ({package_version(new)}) over ({package_version(old)})"
            in upgrade_run.stdout)
    # Debian's own packages may warn while they move (iproute2's old directories do); none
    # of the warnings may be about this package's files.
    assert [line for line in output.splitlines()
            if line.startswith("dpkg: warning") and "uwsgi" in line] == []

    assert version(m) == package_version(new)
    assert m.out("cat /etc/debian_version").split(".")[0] == suite_info(new).debian
    python = suite_info(new).python
    assert m.out("readlink -f /opt/venvs/uwsgi-emperor/bin/python3") == f"/usr/bin/{python}"
    # The app is still enabled and served; the upgrade restarted the service (its socket
    # held by the keeper), so the Emperor and the vassal both run the new build's binary.
    assert m.out("readlink /etc/uwsgi/apps-enabled/hello.ini") == "../apps-available/hello.ini"
    assert m.out("uwsgi-query hello") == "hello (enabled by site administrator)"
    response = uwsgi_request.get(m, "/run/uwsgi/hello.sock")
    assert response.startswith("HTTP/1.1 200 OK\r\n")
    assert uwsgi_request.body(response) == "hello across releases"
    emperor = m.out("cat /run/uwsgi-emperor/emperor.pid")
    assert m.out(f"readlink /proc/{emperor}/exe") == "/opt/venvs/uwsgi-emperor/bin/uwsgi"
    vassal = stack.vassal_master(m, "hello")
    assert m.out(f"readlink /proc/{vassal}/exe") == "/opt/venvs/uwsgi-emperor/bin/uwsgi"
    keeper = m.out(f"ps -o ppid= -p {emperor}").strip()
    assert m.out(f"cat /proc/{keeper}/comm") == "uwsgi-keeper"
    assert m.out(f"readlink /proc/{keeper}/exe") == f"/usr/bin/{python}"
    m.run("/etc/init.d/uwsgi-emperor restart")
    assert m.out("cat /run/uwsgi-emperor/emperor.pid") != emperor
    assert uwsgi_request.body(uwsgi_request.get(m, "/run/uwsgi/hello.sock")) == "hello across releases"
    # It came from the mirror, over HTTP.
    assert (f"/good/pool/main/u/uwsgi-emperor/uwsgi-emperor_{package_version(new)}_amd64.deb"
            in mirror["server"].paths)

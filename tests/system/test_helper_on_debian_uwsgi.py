"""python3-uwsgi-ensite (`make helper-deb`) on a clean root running Debian's uwsgi, per suite.

Debian's `uwsgi` and `uwsgi-plugin-python3` come from the suite's archive (2.0.21 in
bookworm, 2.0.28 in trixie); the helper package is installed with apt from dist/. Its
uwsgi-ensite must check inis with Debian's /usr/bin/uwsgi (there is no
/opt/venvs/uwsgi-emperor here) and enable an app that Debian's init script then serves on
/run/uwsgi/app/NAME/socket.
"""

import pytest

import uwsgi_request
from helper_deb import helper_deb_file, helper_version
from project import suite as suite_info
from testbed import stack

pytestmark = pytest.mark.system

APP = uwsgi_request.plain_app("hello from Debian's uwsgi")


@pytest.fixture(scope="module")
def debian_uwsgi_host(suite, clean_root):
    deb = helper_deb_file(suite)
    assert deb.is_file(), f"{deb} is missing: run `make helper-deb SUITE={suite}` first"
    # Installed offline and served in a machine of its own network namespace (only lo).
    return stack.debian_uwsgi_with_helper(clean_root, deb)


def test_installs_beside_debians_uwsgi(debian_uwsgi_host, suite):
    m = debian_uwsgi_host
    facts = suite_info(suite)
    assert m.out("dpkg-query -W -f '${Package} ${db:Status-Status} ${Version}\\n' "
                 "uwsgi uwsgi-plugin-python3 python3-uwsgi-ensite").splitlines() == [
        f"python3-uwsgi-ensite installed {helper_version(suite)}",
        f"uwsgi installed {facts.debian_uwsgi}",
        f"uwsgi-plugin-python3 installed {facts.debian_python_plugin}",
    ]
    assert m.out("test -e /opt/venvs/uwsgi-emperor || echo no venv") == "no venv"
    for name in ("uwsgi-ensite", "uwsgi-dissite", "uwsgi-query", "uwsgi-newapp"):
        assert m.out(f"command -v {name}") == f"/usr/sbin/{name}"


def test_ensite_checks_inis_with_debians_uwsgi(debian_uwsgi_host):
    m = debian_uwsgi_host
    m.run("printf '[uwsgi]\\nplugins = python3\\nwsgi-file = /srv/bad/app.py\\nno-such-option = 1\\n'"
          " > /etc/uwsgi/apps-available/bad.ini")
    proc = m.run("uwsgi-ensite bad", check=False)
    assert proc.returncode == 1
    assert proc.stderr == ("uwsgi-ensite: error: app bad: /etc/uwsgi/apps-available/bad.ini: "
                           "unknown option 'no-such-option' (uwsgi --strict rejects it)\n")
    assert m.out("ls /etc/uwsgi/apps-enabled") == "README"


def test_enabled_app_is_served_by_debians_init_script(debian_uwsgi_host):
    m = debian_uwsgi_host
    m.run("mkdir -p /srv/hello && cat > /srv/hello/app.py", input=APP)
    m.run("printf '[uwsgi]\\nplugins = python3\\nwsgi-file = /srv/hello/app.py\\n'"
          " > /etc/uwsgi/apps-available/hello.ini")
    # Nothing watches apps-enabled here: the hint names Debian's init script.
    assert m.out("uwsgi-ensite hello") == (
        "Enabling app hello.\n"
        "Debian's uwsgi runs the enabled apps when it starts: /etc/init.d/uwsgi restart")
    assert m.out("readlink /etc/uwsgi/apps-enabled/hello.ini") == "../apps-available/hello.ini"
    assert m.run("uwsgi-query -q hello", check=False).returncode == 0
    m.run("/etc/init.d/uwsgi start")
    response = uwsgi_request.get(m, "/run/uwsgi/app/hello/socket")
    assert response.startswith("HTTP/1.1 200 OK\r\n")
    assert uwsgi_request.body(response) == "hello from Debian's uwsgi"
    # Debian's uwsgi runs it, as www-data, from the apps-enabled link.
    assert m.out("ps -o user= -C uwsgi | sort -u") == "www-data"
    assert "--ini /etc/uwsgi/apps-enabled/hello.ini" in m.out("ps -o args= -C uwsgi")

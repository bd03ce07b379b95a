"""Point 9: the helpers as installed (/usr/sbin), their man pages and bash completion.

uwsgi-newapp is in this build of the .deb, so it is tested too (an app written by it is
enabled and served through nginx).
"""

import shlex

import pytest

import webstack
import uwsgi_request

APPS = ("app1",)
HELPERS = ("uwsgi-ensite", "uwsgi-dissite", "uwsgi-query", "uwsgi-newapp")
HINT = ("The emperor picks the change up by itself within its scan interval (about a second); "
        "no reload is needed.\n")


def test_helpers_on_path(machine):
    for name in HELPERS:
        assert machine.out(f"command -v {name}") == f"/usr/sbin/{name}"
        assert machine.out(f"readlink /usr/sbin/{name}") == f"/opt/venvs/uwsgi-emperor/bin/{name}"


def test_ensite_enables_and_emperor_serves(machine):
    proc = machine.run("uwsgi-ensite example")
    assert proc.stdout == "Enabling app example.\n" + HINT
    assert machine.out("readlink /etc/uwsgi/apps-enabled/example.ini") == "../apps-available/example.ini"
    proc = machine.run("uwsgi-ensite --wait example")
    # Up: the Emperor reports the vassal accepting and its socket is served by that vassal.
    master = webstack.vassal_master(machine, "example")
    assert proc.stdout == ("App example already enabled\nApp example is up (its vassal, pid "
                           f"{master}, accepts requests on /run/uwsgi/example.sock).\n")
    # The example app (wsgiref's demo_app) answers on its socket.
    response = uwsgi_request.get(machine, "/run/uwsgi/example.sock", wait=webstack.SPEC_SECONDS)
    assert response.startswith("HTTP/1.1 200 OK\r\n")
    assert uwsgi_request.body(response).startswith("Hello world!\n")
    assert webstack.vassal_master(machine, "example") is not None


def test_query(machine):
    machine.run("uwsgi-ensite -q example")
    assert machine.run("uwsgi-query example").stdout == "example (enabled by site administrator)\n"
    assert machine.run("uwsgi-query -l").stdout == "example  enabled   by site administrator\n"


def test_dissite_disables(machine):
    machine.run("uwsgi-ensite -q example")
    proc = machine.run("uwsgi-dissite example")
    assert proc.stdout == "App example disabled.\n" + HINT
    assert machine.out("ls -A /etc/uwsgi/apps-enabled") == ""
    webstack.wait_for(lambda: webstack.vassal_master(machine, "example") is None, webstack.SPEC_SECONDS)
    proc = machine.run("uwsgi-query example", check=False)
    # As a2query: 32 = disabled by the administrator (so no package re-enables it).
    assert (proc.returncode, proc.stdout) == (32, "No app matches example (disabled by site administrator)\n")


def test_errors(machine):
    proc = machine.run("uwsgi-ensite nosuch", check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        1, "", "uwsgi-ensite: error: app nosuch does not exist (no /etc/uwsgi/apps-available/nosuch.ini)\n")
    proc = machine.run("uwsgi-dissite --bogus", check=False)
    assert proc.returncode == 2
    assert proc.stderr.endswith("uwsgi-dissite: error: unrecognized arguments: --bogus\n")


NEWAPP_APP1 = "uwsgi-newapp --module app:app --chdir /srv/app1 --virtualenv /srv/app1/venv app1"


def test_newapp_app_served(machine):
    proc = machine.run(NEWAPP_APP1)
    assert proc.stdout == "wrote /etc/uwsgi/apps-available/app1.ini\nnext:\n  uwsgi-ensite app1\n"
    proc = machine.run("uwsgi-ensite --wait app1")
    master = webstack.vassal_master(machine, "app1")
    assert proc.stdout.endswith(f"App app1 is up (its vassal, pid {master}, accepts requests on "
                                "/run/uwsgi/app1.sock).\n")
    assert webstack.get(machine, "app1") == (200, "Hello from app1\n")


@pytest.mark.parametrize("name", HELPERS)
def test_man_page(machine, name):
    assert machine.out(f"man -w {name}") == f"/usr/share/man/man8/{name}.8.gz"
    proc = machine.run(f"MANWIDTH=200 man --warnings {name} | col -b")
    assert proc.stderr == ""  # no groff warnings
    lines = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
    # man justifies a wrapped line with extra spaces: compare the words.
    synopsis = " ".join(lines[lines.index("SYNOPSIS") + 1].split())
    assert synopsis.startswith(f"{name} [-h]")
    assert "UNSET" not in proc.stdout  # no placeholder left by the man page generator


def complete(machine, line):
    """COMPREPLY of bash completion for LINE (the last word is being completed), loaded the way
    bash-completion loads it on demand (so the links for dissite/query are used)."""
    words = line.split(" ")
    script = (
        "source /usr/share/bash-completion/bash_completion; "
        f"_completion_loader {words[0]}; "
        f"COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; "
        f"$(complete -p {words[0]} | sed 's/.*-F \\([^ ]*\\) .*/\\1/') "
        f"{words[0]} '{words[-1]}' {words[-2]}; "
        "printf '%s\\n' \"${COMPREPLY[@]}\""
    )
    return machine.out(f"bash -c {shlex.quote(script)}").split()


def test_bash_completion(machine):
    # apps-available has example and app1; app1 is enabled.
    if machine.run("test -e /etc/uwsgi/apps-available/app1.ini", check=False).returncode:
        machine.run(NEWAPP_APP1)
    machine.run("uwsgi-ensite -q app1 && uwsgi-dissite -q example")
    assert complete(machine, "uwsgi-ensite ") == ["app1", "example"]
    assert complete(machine, "uwsgi-ensite ex") == ["example"]
    assert complete(machine, "uwsgi-dissite ") == ["app1"]
    assert complete(machine, "uwsgi-query ") == ["app1", "example"]

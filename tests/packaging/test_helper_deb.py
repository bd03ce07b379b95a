"""Checks on python3-uwsgi-ensite as `make helper-deb` builds it: metadata, contents, lintian."""

import subprocess

import pytest
from debian import deb822

from helper_deb import PACKAGE, helper_deb_file, helper_version
from project import ROOT, projectinfo

COMMANDS = ("uwsgi-ensite", "uwsgi-dissite", "uwsgi-query", "uwsgi-newapp")


@pytest.fixture(scope="module")
def helper_deb(suite):
    path = helper_deb_file(suite)
    assert path.is_file(), f"{path} is missing: run `make helper-deb SUITE={suite}` first"
    return path


def files(deb):
    out = subprocess.run(["dpkg-deb", "-c", str(deb)], check=True, capture_output=True, text=True)
    return {line.split()[5].removeprefix("./") for line in out.stdout.splitlines()}


def test_control_fields(helper_deb, suite):
    out = subprocess.run(["dpkg-deb", "-f", str(helper_deb)], check=True, capture_output=True, text=True)
    c = deb822.Deb822(out.stdout)
    assert c["Package"] == PACKAGE
    # The suite's version of the project, the same as uwsgi-emperor's (2.0.31-2+deb13).
    assert c["Version"] == helper_version(suite)
    assert c["Architecture"] == "all"
    # The one maintainer identity (debian/control, or $MAINTAINER for the build).
    assert c["Maintainer"] == projectinfo.maintainer()
    assert c["Section"] == "admin"
    assert c["Depends"] == "python3-jinja2, python3:any (>= 3.11~), uwsgi"
    assert c["Recommends"] == "uwsgi-plugin-python3"
    assert c["Conflicts"] == "uwsgi-emperor (>= 2.0.31~)"
    assert c["Description"].splitlines()[0] == \
        "a2ensite-style helpers for the apps of Debian's uwsgi package"


def test_contents(helper_deb):
    found = files(helper_deb)
    for name in COMMANDS:
        assert f"usr/sbin/{name}" in found
        assert f"usr/share/man/man8/{name}.8.gz" in found
        assert f"usr/bin/{name}" not in found
    assert "usr/lib/python3/dist-packages/uwsgi_emperor/cli.py" in found
    assert "usr/lib/python3/dist-packages/uwsgi_emperor/templates/vassal.ini.j2" in found
    assert "usr/share/bash-completion/completions/uwsgi-ensite" in found
    assert "usr/share/doc/python3-uwsgi-ensite/copyright" in found
    # The helpers alone: no venv, no uWSGI, no configuration of its own.
    assert [f for f in found if f.startswith(("opt/", "etc/"))] == []


def test_copyright_is_the_projects(helper_deb):
    out = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(helper_deb)], check=True,
                         capture_output=True).stdout
    text = subprocess.run(["tar", "-xO", "./usr/share/doc/python3-uwsgi-ensite/copyright"],
                          input=out, check=True, capture_output=True).stdout.decode()
    assert text.splitlines()[:2] == [
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/",
        "Upstream-Name: uwsgi-ensite",
    ]
    assert "Files: *\nCopyright: 2026 uwsgi-emperor maintainers\nLicense: MIT\n" in text


def test_lintian_clean(helper_deb, suite):
    # The suite's own lintian, in its build root.
    proc = subprocess.run([str(ROOT / "scripts/lint-deb"), suite, str(helper_deb)],
                          capture_output=True, text=True,
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [l for l in proc.stdout.splitlines() if l.startswith(("E:", "W:"))] == []

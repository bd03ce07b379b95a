"""Fixtures of the unit tests, and the `needs_uwsgi` marker.

A test that runs the real uwsgi parser (the binary of the built .deb) is marked needs_uwsgi,
by hand or because it asks for the `uwsgi` or `uwsgi_bin` fixture. `make test-unit` deselects
those and runs without the .deb; `make test` runs them, and a missing binary fails them (it
never skips them). Every other test gets a UWSGI_BIN that does not exist, so one that
reaches the binary without the marker fails instead of using whatever uwsgi the host has.
"""

import os

import pytest

from sitetree import Tree

NEEDS_UWSGI_FIXTURES = {"uwsgi", "uwsgi_bin", "packaged_uwsgi_bin"}
NO_UWSGI = "/nonexistent/uwsgi-for-tests-marked-needs_uwsgi-only"


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items):
    for item in items:
        if NEEDS_UWSGI_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.needs_uwsgi)


@pytest.fixture(autouse=True)
def _uwsgi_bin_env(request, monkeypatch):
    """$UWSGI_BIN: the packaged binary for tests marked needs_uwsgi, a missing one for the rest."""
    if request.node.get_closest_marker("needs_uwsgi"):
        monkeypatch.setenv("UWSGI_BIN", request.getfixturevalue("uwsgi_bin"))
    else:
        monkeypatch.setenv("UWSGI_BIN", NO_UWSGI)


@pytest.fixture
def uwsgi(uwsgi_bin):
    """Path of the packaged uwsgi binary (also $UWSGI_BIN for the test)."""
    return uwsgi_bin


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A confdir with empty apps-available/ and apps-enabled/, a statedir, and the env pointing there."""
    confdir = tmp_path / "etc-uwsgi"
    (confdir / "apps-available").mkdir(parents=True)
    (confdir / "apps-enabled").mkdir()
    statedir = tmp_path / "state"
    monkeypatch.setenv("UWSGI_CONFDIR", str(confdir))
    monkeypatch.setenv("UWSGI_STATEDIR", str(statedir))
    monkeypatch.setenv("UWSGI_RUNDIR", str(tmp_path / "run"))
    monkeypatch.setenv("UWSGI_EMPEROR_RUNDIR", str(tmp_path / "run"))
    monkeypatch.setenv("UWSGI_LOGDIR", str(tmp_path / "log"))
    return Tree(tmp_path, confdir, statedir)

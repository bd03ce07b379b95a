"""Fixtures shared by every test suite: the suite under test, its built .deb and the uwsgi
binary inside it.

A test that takes `suite` (or a fixture that does, like deb_path) runs once per suite of
project.selected_suites() ($UWSGI_EMPEROR_SUITES, default every suite in scripts/suites.tsv).
"""

import os
import subprocess

import pytest

from project import deb_file, host_suite, selected_suites


def pytest_collection_modifyitems(items):
    # The suite of each test travels with its reports (the per-suite summary of tests/system).
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec and "suite" in callspec.params:
            item.user_properties.append(("suite", callspec.params["suite"]))


@pytest.fixture(scope="session", params=selected_suites())
def suite(request):
    """The suite under test (a session parameter: pytest groups each suite's tests)."""
    return request.param


@pytest.fixture(scope="session")
def deb_path(suite):
    path = deb_file(suite)
    assert path.is_file(), f"{path} is missing: run `make deb SUITE={suite}` first"
    return path


@pytest.fixture(scope="session")
def dbgsym_path(suite):
    path = deb_file(suite, "uwsgi-emperor-dbgsym")
    assert path.is_file(), f"{path} is missing: run `make deb SUITE={suite}` first"
    return path


@pytest.fixture(scope="session")
def unpacked_deb(deb_path, tmp_path_factory):
    """The data of the built .deb, unpacked as it lands on a system (paths under the root)."""
    root = tmp_path_factory.mktemp("deb-root")
    subprocess.run(["dpkg-deb", "-x", str(deb_path), str(root)], check=True)
    return root


@pytest.fixture(scope="session")
def packaged_uwsgi_bin(tmp_path_factory):
    """The uwsgi binary of the built .deb, or $UWSGI_BIN if the caller set one.

    The helpers ask the real uWSGI parser whether an ini is valid; tests use the very
    binary the package ships. Unpacking needs only dpkg-deb, so this is cheap. Only tests
    that ask for it need the .deb (tests/unit/conftest.py marks them needs_uwsgi).
    """
    if os.environ.get("UWSGI_BIN"):
        binary = os.environ["UWSGI_BIN"]
        assert os.access(binary, os.X_OK), f"UWSGI_BIN={binary} is not an executable file"
        return binary
    path = deb_file(host_suite())
    assert path.is_file(), f"{path} is missing: run `make deb` first (tests marked needs_uwsgi use its uwsgi)"
    root = tmp_path_factory.mktemp("uwsgi-bin")
    subprocess.run(["dpkg-deb", "-x", str(path), str(root)], check=True)
    binary = root / "opt/venvs/uwsgi-emperor/bin/uwsgi"
    assert os.access(binary, os.X_OK), f"{path} has no executable {binary.relative_to(root)}"
    return str(binary)


@pytest.fixture(scope="session")
def uwsgi_bin(packaged_uwsgi_bin):
    return packaged_uwsgi_bin

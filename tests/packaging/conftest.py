"""Fixtures for the checks on the built packages (suite, deb_path, dbgsym_path and
unpacked_deb, once per suite of this run, are tests/conftest.py's).

A package's binaries run where they were built for: suite_root is that suite's build root
(testbed/buildroot.py, made by `make deb`) with the package unpacked under /pkg, so the
trixie uwsgi (libpython3.13) runs on a bookworm host too.
"""

import subprocess

import pytest

from testbed import buildroot


@pytest.fixture(scope="session")
def suite_root(suite, deb_path):
    """SUITE's build root with the package's files unpacked under /pkg (not installed)."""
    root = buildroot.BuildRoot(buildroot.root_dir(suite, "tests"), f"test-{suite}", "tests")
    subprocess.run(["dpkg-deb", "-x", str(deb_path), str(root.path / "pkg")], check=True)
    yield root
    root.close()


@pytest.fixture(scope="session")
def run_uwsgi(suite_root):
    """Run the packaged uwsgi with ARGS in its suite's root: the CompletedProcess (text)."""
    def run(*args):
        return suite_root.out(" ".join(["/pkg/opt/venvs/uwsgi-emperor/bin/uwsgi", *args]))
    return run

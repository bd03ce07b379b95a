"""Per-suite fixtures for the checks on the built packages: every test that takes `suite`
(directly or through deb_path/unpacked_deb) runs once per suite of this run
($UWSGI_EMPEROR_SUITES, default all of scripts/suites.tsv).

A package's binaries run where they were built for: suite_root is that suite's build root
(scripts/buildroot.py, made by `make deb`) with the package unpacked under /pkg, so the
trixie uwsgi (libpython3.13) runs on a bookworm host too.
"""

import subprocess
import sys

import pytest

from project import ROOT, deb_file, selected_suites

sys.path.insert(0, str(ROOT / "scripts"))
import buildroot  # noqa: E402


@pytest.fixture(scope="session", params=selected_suites())
def suite(request):
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

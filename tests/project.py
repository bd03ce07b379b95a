"""Where the project's files are, for every test suite.

project.SUITES, project.deb_file(suite, name) and project.package_version(suite) are the
shared interface of the tests; the version and the suites come from scripts/projectinfo.py,
the one reader the build uses too.
"""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import projectinfo  # noqa: E402

SUITES = list(projectinfo.suites())


def package_version(suite=None):
    """The version SUITE's build carries (default: the host's suite), e.g. 2.0.31-2+deb13."""
    return projectinfo.package_version(suite or projectinfo.host_suite())


def deb_file(suite=None, name="uwsgi-emperor"):
    """dist/SUITE/NAME_VERSION_ARCH.deb as `make deb SUITE=...` (or make helper-deb) leaves it."""
    suite = suite or projectinfo.host_suite()
    arch = "all" if name == "python3-uwsgi-ensite" else "amd64"
    return ROOT / "dist" / suite / f"{name}_{package_version(suite)}_{arch}.deb"


def selected_suites():
    """The suites this run tests: $UWSGI_EMPEROR_SUITES (`make test SUITE=trixie`), else all."""
    import os
    names = os.environ.get("UWSGI_EMPEROR_SUITES", "").split() or SUITES
    for name in names:
        projectinfo.suite_info(name)
    return [s for s in SUITES if s in names]


def suite_python(suite):
    """The interpreter SUITE's package runs on: python3.11 (bookworm), python3.13 (trixie)."""
    return projectinfo.suite_info(suite)["python"]

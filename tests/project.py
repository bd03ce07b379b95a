"""Where the project's files are, for every test suite: the testbed's table (testbed/suites.py)
under the names the tests use: project.SUITES, project.deb_file(suite, name),
project.package_version(suite), project.selected_suites()."""

import os

from testbed.suites import REPO as ROOT, SUITES, host_suite, suite  # noqa: F401
from testbed import suites as _suites

SUITES_ENV = "UWSGI_EMPEROR_SUITES"


def package_version(suite_name=None):
    """The version SUITE's build carries (default: the host's suite), e.g. 2.0.31-2+deb13."""
    return _suites.package_version(suite_name or host_suite())


def deb_file(suite_name=None, name="uwsgi-emperor"):
    """dist/SUITE/NAME_VERSION_ARCH.deb as `make deb SUITE=...` leaves it (default: the host's)."""
    return _suites.deb_file(suite_name or host_suite(), name)


def suite_python(suite_name):
    """The interpreter SUITE's package runs on: python3.11 (bookworm), python3.13 (trixie)."""
    return suite(suite_name).python


def selected_suites():
    """The suites this run tests: $UWSGI_EMPEROR_SUITES (`make test SUITE=trixie`), else all."""
    names = os.environ.get(SUITES_ENV, "").split() or list(SUITES)
    for name in names:
        suite(name)  # ValueError naming the known suites
    return [s for s in SUITES if s in names]

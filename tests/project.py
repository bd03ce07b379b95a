"""Where the project's files are, for every test suite.

project.SUITES, project.deb_file(suite, name) and project.package_version(suite) are the
shared interface of the tests. They are the testbed's (testbed/suites.py: the version and
the suites from testbed/projectinfo.py, the one reader the build uses too, plus the facts
of each suite's archive), with the host's suite as the default.
"""

import os

from testbed import suites as _suites
from testbed.suites import REPO as ROOT, host_suite, projectinfo, suite  # noqa: F401

SUITES = list(_suites.SUITES)

SUITES_ENV = "UWSGI_EMPEROR_SUITES"
# Where a failed system test group's logs are copied (build/system-test-logs/SUITE/GROUP).
SYSTEM_TEST_LOGS = ROOT / "build" / "system-test-logs"


def package_version(suite_name=None):
    """The version SUITE's build carries (default: the host's suite), e.g. 2.0.31-2+deb13."""
    return _suites.package_version(suite_name or host_suite())


def deb_file(suite_name=None, name="uwsgi-emperor"):
    """dist/SUITE/NAME_VERSION_ARCH.deb as `make deb SUITE=...` (or make helper-deb) leaves it."""
    return _suites.deb_file(suite_name or host_suite(), name)


def selected_suites():
    """The suites this run tests: $UWSGI_EMPEROR_SUITES (`make test SUITE=trixie`), else all."""
    names = os.environ.get(SUITES_ENV, "").split() or list(SUITES)
    for name in names:
        suite(name)  # ValueError naming the known suites
    return [s for s in SUITES if s in names]


def suite_python(suite_name):
    """The interpreter SUITE's package runs on: python3.11 (bookworm), python3.13 (trixie)."""
    return suite(suite_name).python

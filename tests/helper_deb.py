"""Where `make helper-deb SUITE=...` leaves python3-uwsgi-ensite, for every test suite."""

from project import deb_file, package_version

PACKAGE = "python3-uwsgi-ensite"


def helper_version(suite=None):
    """The helper package carries the suite's version of the project (2.0.31-2+deb13)."""
    return package_version(suite)


def helper_deb_file(suite=None):
    """dist/SUITE/python3-uwsgi-ensite_VERSION_all.deb."""
    return deb_file(suite, PACKAGE)

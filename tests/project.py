"""Where the project's files are, for every test suite."""

import pathlib

from debian.changelog import Changelog

ROOT = pathlib.Path(__file__).resolve().parent.parent


def package_version():
    """The version of the package being built, from debian/changelog."""
    with open(ROOT / "debian" / "changelog", encoding="utf-8") as f:
        return str(Changelog(f, max_blocks=1).full_version)


def deb_file(name="uwsgi-emperor"):
    """dist/NAME_VERSION_amd64.deb as `make deb` leaves it."""
    return ROOT / "dist" / f"{name}_{package_version()}_amd64.deb"

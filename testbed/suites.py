"""The supported Debian suites and where each suite's build lands (one table for tests and bench).

The suites, their Python and version suffix, the version and the host's suite come from
testbed/projectinfo.py (the one reader the build uses too, over scripts/suites.tsv and
debian/changelog); FACTS adds what only the tests and the bench need to know about each
suite's archive. Nothing else hard-codes a suite.
"""

import dataclasses
import functools

from . import projectinfo

REPO = projectinfo.TOP
DIST = REPO / "dist"


@dataclasses.dataclass(frozen=True)
class Suite:
    name: str            # bookworm
    debian: str          # 12
    python: str          # python3.11: the interpreter the package's venv runs on
    version_suffix: str  # +deb12: appended to the changelog's version by that suite's build
    # From FACTS (the suite's archive, read for the tests):
    debian_uwsgi: str    # Debian's own uwsgi / uwsgi-emperor / uwsgi-core version (takeover)
    debian_python_plugin: str  # Debian's uwsgi-plugin-python3 (its own source in trixie)
    systemd: str         # systemd's major version (booted under nspawn)
    apt_verifier: str    # what apt checks repository signatures with: gpgv (apt 2.6), sqv (apt 3.0)


# What the archive of each suite holds that the tests compare with.
FACTS = {
    "bookworm": {"debian_uwsgi": "2.0.21-5.1", "debian_python_plugin": "2.0.21-5.1",
                 "systemd": "252", "apt_verifier": "gpgv"},
    "trixie": {"debian_uwsgi": "2.0.28-9", "debian_python_plugin": "2.0.28+8+0.0.2+b1",
               "systemd": "257", "apt_verifier": "sqv"},
}


@functools.cache
def _table():
    suites = {}
    for name, fields in projectinfo.suites().items():
        if name not in FACTS:
            raise RuntimeError(f"scripts/suites.tsv: suite {name} has no FACTS in {__file__}")
        suites[name] = Suite(name=name, **fields, **FACTS[name])
    return suites


SUITES = tuple(_table())


def suite(name):
    """The Suite called NAME (ValueError naming the known ones otherwise)."""
    try:
        return _table()[name]
    except KeyError:
        raise ValueError(f"unknown suite {name!r}: one of {', '.join(SUITES)} "
                         "(scripts/suites.tsv)") from None


def host_suite():
    """The codename of the Debian release this machine runs."""
    return projectinfo.host_suite()


def package_version(suite_name):
    """The version SUITE_NAME's build carries: changelog version + the suite's suffix
    (2.0.31-2+deb13)."""
    suite(suite_name)
    return projectinfo.package_version(suite_name)


def deb_file(suite_name, name="uwsgi-emperor"):
    """dist/SUITE/NAME_VERSION_ARCH.deb as `make deb SUITE=...` (or make helper-deb) leaves it."""
    arch = "all" if name == "python3-uwsgi-ensite" else "amd64"
    return DIST / suite_name / f"{name}_{package_version(suite_name)}_{arch}.deb"

"""The supported Debian suites and where each suite's build lands (one table for tests and bench).

scripts/suites.tsv names the suites (the build reads it too); FACTS adds what only the tests
and the bench need to know about each suite's archive. Nothing else hard-codes a suite.
"""

import dataclasses
import functools
import pathlib

from debian.changelog import Changelog

REPO = pathlib.Path(__file__).resolve().parent.parent
DIST = REPO / "dist"
TABLE = REPO / "scripts" / "suites.tsv"


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
    rows = [line.split("\t") for line in TABLE.read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    header, rows = rows[0], rows[1:]
    suites = {}
    for row in rows:
        fields = dict(zip(header, row))
        name = fields.pop("suite")
        if name not in FACTS:
            raise RuntimeError(f"{TABLE}: suite {name} has no FACTS in {__file__}")
        suites[name] = Suite(name=name, **fields, **FACTS[name])
    return suites


SUITES = tuple(_table())


def suite(name):
    """The Suite called NAME (ValueError naming the known ones otherwise)."""
    try:
        return _table()[name]
    except KeyError:
        raise ValueError(f"unknown suite {name!r}: one of {', '.join(SUITES)} "
                         f"({TABLE.relative_to(REPO)})") from None


def host_suite():
    """The codename of the Debian release this machine runs (from /etc/os-release)."""
    for line in pathlib.Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip().strip('"')
    raise RuntimeError("/etc/os-release has no VERSION_CODENAME")


def changelog_version():
    """The top version of debian/changelog (one entry for every suite)."""
    with open(REPO / "debian" / "changelog", encoding="utf-8") as f:
        return str(Changelog(f, max_blocks=1).full_version)


def _legacy_deb(name):
    """TRANSITION: before the per-suite build, `make deb` left the host suite's package as
    dist/NAME_<changelog version>_amd64.deb, without a suffix. Remove once no such tree exists."""
    return DIST / f"{name}_{changelog_version()}_amd64.deb"


def _uses_legacy_layout(name, suite_name):
    return (suite_name == host_suite() and not (DIST / suite_name).is_dir()
            and _legacy_deb(name).is_file())


def package_version(suite_name):
    """The version SUITE_NAME's build carries: changelog version + the suite's suffix
    (2.0.31-2+deb13)."""
    s = suite(suite_name)
    if _uses_legacy_layout("uwsgi-emperor", suite_name):
        return changelog_version()
    return changelog_version() + s.version_suffix


def deb_file(suite_name, name="uwsgi-emperor"):
    """dist/SUITE/NAME_VERSION_ARCH.deb as `make deb SUITE=...` (or make helper-deb) leaves it."""
    arch = "all" if name == "python3-uwsgi-ensite" else "amd64"
    if _uses_legacy_layout(name, suite_name):
        return _legacy_deb(name)
    return DIST / suite_name / f"{name}_{package_version(suite_name)}_{arch}.deb"


def suite_of_version(version):
    """The suite whose suffix VERSION carries (None when it carries none)."""
    for s in _table().values():
        if version.endswith(s.version_suffix):
            return s.name
    return None

"""Where `make helper-deb` leaves python3-uwsgi-ensite, for every test suite."""

import re

from project import ROOT, host_suite

PACKAGE = "python3-uwsgi-ensite"


def helper_version(suite=None):
    """stdeb's version: setup.py's version with Debian revision 1 (stdeb's default); the same
    for every suite until the per-suite helper build lands (TRANSITION)."""
    text = (ROOT / "setup.py").read_text(encoding="utf-8")
    return re.search(r'^\s*version="([^"]+)"', text, re.M).group(1) + "-1"


def helper_deb_file(suite=None):
    """dist/SUITE/python3-uwsgi-ensite_VERSION_all.deb (`make helper-deb SUITE=...`); without
    SUITE, or until the per-suite build lands (TRANSITION), dist/python3-uwsgi-ensite_VERSION_all.deb."""
    legacy = ROOT / "dist" / f"{PACKAGE}_{helper_version()}_all.deb"
    if suite is None or (suite == host_suite() and not (ROOT / "dist" / suite).is_dir()):
        return legacy
    return ROOT / "dist" / suite / f"{PACKAGE}_{helper_version()}_all.deb"

"""Where `make helper-deb` leaves python3-uwsgi-ensite, for every test suite."""

import re

from project import ROOT

PACKAGE = "python3-uwsgi-ensite"


def helper_version():
    """stdeb's version: setup.py's version with Debian revision 1 (stdeb's default)."""
    text = (ROOT / "setup.py").read_text(encoding="utf-8")
    return re.search(r'^\s*version="([^"]+)"', text, re.M).group(1) + "-1"


def helper_deb_file():
    """dist/python3-uwsgi-ensite_VERSION_all.deb."""
    return ROOT / "dist" / f"{PACKAGE}_{helper_version()}_all.deb"

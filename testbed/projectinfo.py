"""The one reader of the project's version, maintainer and suites (stdlib only: setup.py uses it).

- version: the top entry of debian/changelog (e.g. 2.0.31-2), the only place it is written;
  upstream_version() (2.0.31) is also the Python distribution's version (setup.py).
- maintainer: debian/control's Maintainer field, unless $MAINTAINER is set (an organisation's
  own builds: `make deb MAINTAINER='Ops <ops@example.com>'`). The .deb, the helper package,
  `make bump` and the repository's Origin/Label all take it from here.
- suites: scripts/suites.tsv; package_version(suite) appends the suite's suffix (+deb12),
  suite_of(package_version) reads it back.

CLI for the Makefile and shell scripts:
  python3 -m testbed.projectinfo version | upstream | maintainer | maintainer-name | maintainer-email
                 | host-suite | suites | debian SUITE | suffix SUITE | python SUITE
                 | package-version SUITE | suite-of PACKAGE-VERSION
"""

import os
import pathlib
import re
import sys

TOP = pathlib.Path(__file__).resolve().parent.parent
# setup.py also runs inside stdeb's unpacked sdist, where this file sits at the top with the
# debian/ directory stdeb wrote (same version, same maintainer).
if not (TOP / "debian" / "changelog").exists():
    TOP = pathlib.Path(__file__).resolve().parent

_HEADER = re.compile(r"^(?P<source>[a-z0-9][a-z0-9.+-]+) \((?P<version>[^ ()]+)\) (?P<dists>[^;]+);")
_TRAILER = re.compile(r"^ -- (?P<who>.+ <[^>]+>)  (?P<date>.+)$")
_IDENTITY = re.compile(r"^(?P<name>[^<>]+?) <(?P<email>[^<>@\s]+@[^<>\s]+)>$")


def changelog_top(top=None):
    """(version, date) of the top entry of debian/changelog."""
    version = date = None
    with open(pathlib.Path(top or TOP) / "debian" / "changelog", encoding="utf-8") as f:
        for line in f:
            if version is None:
                m = _HEADER.match(line)
                if m:
                    version = m["version"]
            else:
                m = _TRAILER.match(line.rstrip("\n"))
                if m:
                    date = m["date"]
                    break
    if version is None or date is None:
        raise SystemExit("projectinfo: debian/changelog has no complete top entry")
    return version, date


def version(top=None):
    return changelog_top(top)[0]


def upstream_version(top=None):
    """The version without the Debian revision (and epoch): 2.0.31."""
    v = version(top).split(":", 1)[-1]
    return v.rsplit("-", 1)[0] if "-" in v else v


def maintainer(top=None):
    """'Name <email>': $MAINTAINER if set, else debian/control's Maintainer."""
    who = os.environ.get("MAINTAINER", "").strip()
    if not who:
        with open(pathlib.Path(top or TOP) / "debian" / "control", encoding="utf-8") as f:
            for line in f:
                if line.startswith("Maintainer:"):
                    who = line.split(":", 1)[1].strip()
                    break
    m = _IDENTITY.match(who)
    if not m:
        raise SystemExit(f"projectinfo: maintainer {who!r} is not 'Name <email@domain>'")
    return who


def maintainer_parts(top=None):
    m = _IDENTITY.match(maintainer(top))
    return m["name"], m["email"]


def suites(top=None):
    """{suite: {"debian": "13", "python": "python3.13", "version_suffix": "+deb13"}} in file order."""
    rows = [line.rstrip("\n").split("\t")
            for line in open(pathlib.Path(top or TOP) / "scripts" / "suites.tsv", encoding="utf-8")
            if line.strip() and not line.startswith("#")]
    header, *rows = rows
    return {row[0]: dict(zip(header[1:], row[1:])) for row in rows}


def suite_info(suite, top=None):
    table = suites(top)
    if suite not in table:
        raise SystemExit(f"projectinfo: unknown suite {suite!r} (supported: {' '.join(table)})")
    return table[suite]


def package_version(suite, top=None):
    """The version a suite's build carries: 2.0.31-2+deb13."""
    return version(top) + suite_info(suite, top)["version_suffix"]


def suite_of(package_version, top=None, os_release="/etc/os-release"):
    """The suite a package version is built for: the one whose suffix it ends with
    (2.0.31-2+deb13 -> trixie); a version without a suite's suffix is the host's suite's."""
    for suite, info in suites(top).items():
        if package_version.endswith(info["version_suffix"]):
            return suite
    return host_suite(os_release)


def host_suite(os_release="/etc/os-release"):
    with open(os_release, encoding="utf-8") as f:
        for line in f:
            if line.startswith("VERSION_CODENAME="):
                return line.split("=", 1)[1].strip().strip('"')
    raise SystemExit(f"projectinfo: no VERSION_CODENAME in {os_release}")


def main(argv):
    commands = {
        "version": lambda: version(),
        "upstream": lambda: upstream_version(),
        "maintainer": lambda: maintainer(),
        "maintainer-name": lambda: maintainer_parts()[0],
        "maintainer-email": lambda: maintainer_parts()[1],
        "host-suite": lambda: host_suite(),
        "suites": lambda: " ".join(suites()),
        "debian": lambda s: suite_info(s)["debian"],
        "suffix": lambda s: suite_info(s)["version_suffix"],
        "python": lambda s: suite_info(s)["python"],
        "package-version": lambda s: package_version(s),
        "suite-of": lambda v: suite_of(v),
    }
    if not argv or argv[0] not in commands:
        raise SystemExit(f"usage: python3 -m testbed.projectinfo {{{'|'.join(commands)}}} [SUITE]")
    try:
        print(commands[argv[0]](*argv[1:]))
    except TypeError:
        raise SystemExit(f"projectinfo: wrong arguments for {argv[0]}")


if __name__ == "__main__":
    main(sys.argv[1:])

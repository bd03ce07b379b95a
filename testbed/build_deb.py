"""`make deb [SUITE=bookworm|trixie]`: build uwsgi-emperor for one Debian suite in a clean root.

    scripts/build-deb [SUITE]        (default: the host's own suite)

The build runs in a root of SUITE (testbed/buildroot.py: mmdebstrap from the host's Debian
mirror, cached with its Build-Depends), at the fixed path /build/uwsgi-emperor-<upstream>,
from a copy of the checkout. The copy's debian/changelog gets a top entry for the suite's
version (2.0.31-2 -> 2.0.31-2+deb13, dated like the release entry so SOURCE_DATE_EPOCH does
not move) and, with $MAINTAINER set, that maintainer. lintian of the suite's own Debian
judges the result (--fail-on error,warning). Results land in dist/<suite>/:
uwsgi-emperor_<ver>_amd64.deb, uwsgi-emperor-dbgsym_<ver>_amd64.deb, .buildinfo, .changes.
"""

import pathlib
import shutil
import subprocess
import sys
import time

from . import buildroot, projectinfo

PROG = "build-deb"
TOP = buildroot.TOP
SOURCE = "uwsgi-emperor"


def main(argv):
    suite = argv[0] if argv else projectinfo.host_suite()
    projectinfo.suite_info(suite)
    subprocess.run([str(TOP / "scripts" / "ensure-apt-packages"),
                    str(TOP / "scripts" / "apt-build-tools.txt")], check=True, env=buildroot.HOST_ENV)
    start = time.monotonic()
    version = projectinfo.package_version(suite)
    upstream = projectinfo.upstream_version()
    lower = buildroot.root_dir(suite, PROG)
    root = buildroot.BuildRoot(lower, f"deb-{suite}", PROG)
    logs = root.path.parent
    inside = pathlib.PurePosixPath("/build") / f"{SOURCE}-{upstream}"
    tree = root.path / inside.relative_to("/")
    buildroot.prepare_tree(tree, suite)
    buildroot.say(PROG, f"building {SOURCE} {version} in a clean {suite} root")
    root.must(f"cd {inside} && dpkg-buildpackage -b -us -uc --no-sign", logs / "build.log",
              "dpkg-buildpackage")
    debs = f"/build/{SOURCE}_{version}_amd64.deb /build/{SOURCE}-dbgsym_{version}_amd64.deb"
    root.must(buildroot.LINTIAN + " " + debs,
              logs / "lintian.log", f"lintian ({suite}'s) on the packages")
    out = TOP / "dist" / suite
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(f"{SOURCE}*_amd64.*"):
        old.unlink()
    for name in (f"{SOURCE}_{version}_amd64.deb", f"{SOURCE}-dbgsym_{version}_amd64.deb",
                 f"{SOURCE}_{version}_amd64.buildinfo", f"{SOURCE}_{version}_amd64.changes"):
        shutil.copyfile(root.path / "build" / name, out / name)
    root.close()
    buildroot.say(PROG, f"built in {time.monotonic() - start:.0f} s:")
    for path in sorted(out.glob(f"{SOURCE}*_{version}_*")):
        print(f"  {path.relative_to(TOP)}  {path.stat().st_size} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])

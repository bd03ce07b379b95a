"""`make lint [SUITE=...]`: lintian of the suite itself on packages built for it.

    scripts/lint-deb SUITE DEB...

lintian runs in SUITE's build root (testbed/buildroot.py), so trixie's lintian 2.122 judges
the trixie packages whatever the host runs; --fail-on error,warning, every tag shown.
scripts/build-deb and scripts/build-helper-deb run the same check on what they build.
"""

import pathlib
import shutil
import sys

from . import buildroot, projectinfo

PROG = "lint-deb"


def main(argv):
    if len(argv) < 2:
        buildroot.die(PROG, "usage: scripts/lint-deb SUITE DEB...")
    suite, debs = argv[0], [pathlib.Path(d) for d in argv[1:]]
    projectinfo.suite_info(suite)
    for deb in debs:
        if not deb.is_file():
            buildroot.die(PROG, f"{deb}: no such file")
    root = buildroot.BuildRoot(buildroot.root_dir(suite, PROG), f"lint-{suite}", PROG)
    inside = root.path / "build" / "lint"
    inside.mkdir(parents=True)
    for deb in debs:
        shutil.copyfile(deb, inside / deb.name)
    log = root.path.parent / "lintian.log"
    ok = root.run(buildroot.LINTIAN + " " + " ".join(f"/build/lint/{d.name}" for d in debs), log)
    sys.stdout.write(log.read_text(errors="replace"))
    root.close()
    if not ok:
        buildroot.die(PROG, f"{suite}'s lintian rejects {' '.join(d.name for d in debs)}")
    print(f"{PROG}: {suite}'s lintian: clean ({' '.join(d.name for d in debs)})")


if __name__ == "__main__":
    main(sys.argv[1:])

"""debian/tests (DEP-8) run by Debian's autopkgtest on a built .deb, in a clean root of its suite.

    python3 -m testbed.autopkgtest SUITE DEB [OUTDIR]     (scripts/autopkgtest, make autopkgtest)

The testbed is a fresh root of SUITE with autopkgtest itself installed and nothing else
(roots.tarball, cached like every root), in its own pid, mount, uts and ipc namespaces
(roots.Machine), on the host's network so that apt installs each test's Depends, the .deb
among them. autopkgtest runs inside it with its `null` backend: the tests run in the very
machine autopkgtest runs in, which here is that throwaway root. Services may start there
(policy-rc.d allows them), as on a booted testbed, so installing the package starts the
Emperor through its init script. The tests bind unix sockets only, nothing on the host's ports.

Why not autopkgtest-virt-unshare (bookworm's 5.28 has it, but no autopkgtest-build-unshare):
it maps the testbed's users to subordinate ids, which needs a range for root in the host's
/etc/subuid and /etc/subgid; this needs nothing of the host but what the system tests use.

OUTDIR (default build/autopkgtest/SUITE) gets autopkgtest's --output-dir: `summary` (one
line per test: NAME PASS|FAIL|SKIP ...), `log`, and each test's output. The exit status is
autopkgtest's: 0 every test passed, 2 some were skipped, 4 one failed (autopkgtest(1)).
"""

import pathlib
import shlex
import shutil
import sys
import tempfile
import time

from . import roots, stack
from .suites import REPO

# All the testbed holds before the tests' own Depends, which declare what the tests use:
# autopkgtest, and dpkg-dev, which autopkgtest installs first for a source tree anyway
# (in the cached root it costs nothing per run).
TOOLS = ("autopkgtest", "dpkg-dev")
# What the root's namespaces give the tests, which the null backend cannot know (bookworm's
# 5.28 claims isolation-machine for any null testbed, trixie's 5.49 claims nothing): a
# container, where services start and stop without touching the host's.
CONTAINER_RESTRICTIONS = ("isolation-container",)
INSIDE_SOURCE = "/var/tmp/autopkgtest-source"
INSIDE_OUT = "/var/tmp/autopkgtest-out"
TIMEOUT = 1200


def tests_of(control=REPO / "debian" / "tests" / "control"):
    """The test names debian/tests/control declares (its Tests: fields), in order."""
    names = []
    for line in pathlib.Path(control).read_text(encoding="utf-8").splitlines():
        if line.startswith("Tests:"):
            names += line.split(":", 1)[1].replace(",", " ").split()
    return names


def summary(out):
    """{test: result word} of OUTDIR's summary (PASS, FAIL, SKIP, ...)."""
    results = {}
    for line in (pathlib.Path(out) / "summary").read_text().splitlines():
        name, _, rest = line.partition(" ")
        results[name] = rest.split()[0] if rest.split() else ""
    return results


def run(suite, deb, out, workdir=None):
    """Run debian/tests on DEB in a fresh root of SUITE; autopkgtest's exit status. OUT gets
    its output directory (replaced if it exists)."""
    out = pathlib.Path(out)
    with tempfile.TemporaryDirectory(prefix=f"autopkgtest-{suite}-", dir=workdir) as tmp:
        root = roots.Root.unpack(roots.tarball(suite, include=TOOLS), pathlib.Path(tmp) / "root",
                                 suite)
        try:
            stack.allow_service_starts(root)
            inside_deb = stack.stage_deb(root, deb)
            # autopkgtest reads the tests, and the package names '@' stands for, from the
            # source tree's debian/; nothing else of the tree is needed (-B: built nothing).
            shutil.copytree(REPO / "debian", root.path / INSIDE_SOURCE.lstrip("/") / "debian",
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            cmd = ["autopkgtest", "--output-dir", INSIDE_OUT, "--no-built-binaries",
                   f"--ignore-restrictions={','.join(CONTAINER_RESTRICTIONS)}",
                   inside_deb, INSIDE_SOURCE + "/", "--", "null"]
            with root.online() as m:
                proc = m.run(shlex.join(cmd), check=False, timeout=TIMEOUT)
            if out.exists():
                shutil.rmtree(out)
            inside_out = root.path / INSIDE_OUT.lstrip("/")
            if inside_out.is_dir():
                shutil.copytree(inside_out, out, symlinks=True)
            out.mkdir(parents=True, exist_ok=True)  # autopkgtest stopped before writing any
            (out / "autopkgtest.stdout").write_text(proc.stdout)
            (out / "autopkgtest.stderr").write_text(proc.stderr)
        finally:
            root.discard()
    return proc.returncode


def main(argv):
    if len(argv) not in (2, 3):
        sys.exit("usage: scripts/autopkgtest SUITE DEB [OUTDIR]")
    suite, deb = argv[0], pathlib.Path(argv[1])
    if not deb.is_file():
        sys.exit(f"autopkgtest: {deb}: no such file (make deb SUITE={suite})")
    out = pathlib.Path(argv[2]) if len(argv) == 3 else REPO / "build" / "autopkgtest" / suite
    start = time.monotonic()
    status = run(suite, deb, out)
    sys.stdout.write((out / "summary").read_text() if (out / "summary").is_file() else "")
    print(f"autopkgtest: {suite}: exit status {status} in {time.monotonic() - start:.0f} s;"
          f" output in {out}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

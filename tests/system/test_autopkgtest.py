"""debian/tests, run by Debian's autopkgtest on each suite's built .deb, as `make autopkgtest
SUITE=...` runs them (scripts/autopkgtest: a fresh root of the suite, its null backend).

Every test debian/tests/control declares must PASS (a SKIP, say for a restriction the
testbed lacks, fails here), and autopkgtest must exit 0.
"""

import subprocess
import time

from project import ROOT
from testbed import autopkgtest

DECLARED = ["emperor", "helpers"]


def test_control_declares_the_tests():
    assert autopkgtest.tests_of() == DECLARED
    for name in DECLARED:
        assert (ROOT / "debian/tests" / name).stat().st_mode & 0o111, f"debian/tests/{name} is not executable"


def test_every_test_passes(suite, deb_path, tmp_path, record):
    out = tmp_path / "out"
    start = time.monotonic()
    proc = subprocess.run([str(ROOT / "scripts/autopkgtest"), suite, str(deb_path), str(out)],
                          capture_output=True, text=True, timeout=autopkgtest.TIMEOUT + 600)
    record("autopkgtest seconds", round(time.monotonic() - start))
    log = (out / "log").read_text(errors="replace")[-6000:] if (out / "log").is_file() else proc.stderr
    assert proc.returncode == 0, f"autopkgtest exited {proc.returncode}:\n{proc.stdout}\n{log}"
    assert autopkgtest.summary(out) == {name: "PASS" for name in DECLARED}, log

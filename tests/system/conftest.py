"""Fixtures of the system tests (marker `system`): a fresh Debian 12 root per test group.

Each test module is one group. It gets its own unpacked root (module scope), the package
installed there with apt, and a summary line (group, result, seconds) at the end of the run.
When a group fails, the root's /var/log/uwsgi and /var/log/nginx are copied under
build/system-test-logs/GROUP/ and the path is printed.
"""

import collections
import json
import shutil
import time

import pytest

import roots
import stack
from project import ROOT

LOG_DIR = ROOT / "build" / "system-test-logs"
METRICS = ROOT / "build" / "system-test-metrics.json"

_groups = collections.OrderedDict()  # module name -> {"outcomes": Counter, "seconds": float}
_log_copies = {}                      # module name -> path of the copied logs
_metrics = collections.OrderedDict()  # "group: what" -> value


def pytest_collection_modifyitems(items):
    # Every test in this directory boots roots: mark them all, whatever the module says.
    for item in items:
        if "tests/system/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.system)


def _group(nodeid):
    return nodeid.split("::", 1)[0].rsplit("/", 1)[-1].removesuffix(".py")


def pytest_runtest_logreport(report):
    if "tests/system/" not in report.nodeid:
        return
    group = _groups.setdefault(_group(report.nodeid),
                               {"outcomes": collections.Counter(), "seconds": 0.0})
    group["seconds"] += report.duration
    if report.when == "call" or report.outcome != "passed":
        outcome = report.outcome if report.when == "call" else (
            "error" if report.outcome == "failed" else report.outcome)
        group["outcomes"][outcome] += 1


def pytest_terminal_summary(terminalreporter):
    if not _groups:
        return
    tr = terminalreporter
    tr.section("system test groups")
    tr.write_line(f"{'group':<28} {'result':<28} {'seconds':>8}")
    for name, group in _groups.items():
        outcomes = group["outcomes"]
        result = "FAILED" if outcomes["failed"] or outcomes["error"] else (
            "skipped" if not outcomes["passed"] else "passed")
        counts = ", ".join(f"{n} {k}" for k, n in sorted(outcomes.items()))
        tr.write_line(f"{name:<28} {result + ' (' + counts + ')':<28} {group['seconds']:>8.1f}")
    if _metrics:
        tr.write_line("")
        for key, value in _metrics.items():
            tr.write_line(f"  {key}: {value}")
        METRICS.parent.mkdir(parents=True, exist_ok=True)
        METRICS.write_text(json.dumps(_metrics, indent=1) + "\n")
        tr.write_line(f"  (also in {METRICS})")
    for name, path in _log_copies.items():
        tr.write_line(f"logs of the failed group {name}: {path}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        item.module.__dict__.setdefault("_system_failed", True)


@pytest.fixture
def record(request):
    """record(what, value): a number the group measured (printed in the summary, not asserted)."""
    group = _group(request.node.nodeid)

    def record(what, value):
        _metrics[f"{group}: {what}"] = value
    return record


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind(tmp_path_factory):
    """At the end of the run: no mount and no process left in any root of this session."""
    yield
    base = tmp_path_factory.getbasetemp()
    mounts, pids = roots.mounts_under(base), roots.processes_under(base)
    assert (mounts, pids) == ([], []), f"left behind: mounts {mounts}, processes {pids}"


@pytest.fixture(scope="session")
def root_tarball():
    return roots.tarball()


def _copy_logs(root, group):
    dest = LOG_DIR / group
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for inside in ("var/log/uwsgi", "var/log/nginx", "var/log/apt", "var/log/dpkg.log"):
        src = root.path / inside
        if src.is_dir():
            shutil.copytree(src, dest / inside.replace("/", "_"), symlinks=True)
        elif src.exists():
            shutil.copy(src, dest / inside.replace("/", "_"))
    _log_copies[group] = dest
    return dest


@pytest.fixture(scope="module")
def clean_root(request, root_tarball, tmp_path_factory):
    """A fresh unpacked root for this group. Afterwards: everything inside killed, no mount
    or process left (checked), logs copied when the group failed, the tree removed."""
    group = request.module.__name__
    root = roots.Root.unpack(root_tarball, tmp_path_factory.mktemp(group) / "root")
    yield root
    root.stop_all()
    if request.module.__dict__.get("_system_failed"):
        print(f"\nlogs of {group}: {_copy_logs(root, group)}")
    mounts, pids = root.leftovers()
    assert (mounts, pids) == ([], []), f"left behind by {group}: mounts {mounts}, processes {pids}"
    root.remove()


@pytest.fixture(scope="module")
def deb_inside(request, clean_root, deb_path):
    """The package and the group's apps (module attribute APPS) ready to install offline."""
    return stack.prepare(clean_root, deb_path, apps=getattr(request.module, "APPS", ()))


@pytest.fixture(scope="module")
def machine(clean_root, deb_inside):
    """The isolated machine (own pid/mount/net namespaces, only lo) with the package installed
    by apt; `machine.install` is apt's CompletedProcess. nginx runs when the group has apps."""
    m = clean_root.machine(net=True)
    m.install = stack.install(m, deb_inside)
    assert m.install.returncode == 0, m.install.stdout + m.install.stderr
    if (clean_root.path / "etc/nginx/sites-available").exists() and any(
            (clean_root.path / "srv").iterdir()):
        stack.start_nginx(m)
    return m

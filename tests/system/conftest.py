"""Fixtures of the system tests (marker `system`): a fresh root of each suite per test group.

Each test module is one group, run once per selected suite (project.selected_suites()). It
gets its own unpacked root of that suite (module scope), the suite's package installed there
with apt, and a summary line (suite, group, result, seconds) at the end of the run. A module
with a module-scoped `init` parameter (init-script, systemd) makes one root per init with
fresh_root, and marks a test for one init only `inits(NAME)`: it is deselected for the other.
When a group (or one init's half of it) fails, the root's /var/log/uwsgi and /var/log/nginx
are copied under build/system-test-logs/SUITE/GROUP[-INIT]/ and the path is printed.
Roots, machines and installs are the testbed's (testbed/).
"""

import collections
import contextlib
import functools
import json
import shutil

import pytest

import webstack
from project import ROOT, SYSTEM_TEST_LOGS
from testbed import roots

LOG_DIR = SYSTEM_TEST_LOGS
METRICS = ROOT / "build" / "system-test-metrics.json"

_groups = collections.OrderedDict()  # (suite, module) -> {"outcomes": Counter, "seconds": float}
_log_copies = {}                      # (suite, module) -> path of the copied logs
_metrics = collections.OrderedDict()  # "suite: group: what" -> value


def pytest_collection_modifyitems(config, items):
    # Every test in this directory boots roots: mark them all, whatever the module says.
    for item in items:
        if "tests/system/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.system)
    # A test across two suites (param `upgrade`) does not exist when one suite is selected.
    alone = [item for item in items
             if getattr(item, "callspec", None) and item.callspec.params.get("upgrade", 0) is None]
    # A test marked inits(NAME, ...) does not exist for the other values of its module's
    # `init` parameter (the init-script and systemd halves of one group).
    alone += [item for item in items if item.get_closest_marker("inits") and getattr(
        item, "callspec", None) and item.callspec.params.get("init") not in
        item.get_closest_marker("inits").args]
    if alone:
        config.hook.pytest_deselected(items=alone)
        items[:] = [item for item in items if item not in alone]


def _group(nodeid):
    return nodeid.split("::", 1)[0].rsplit("/", 1)[-1].removesuffix(".py")


def _suite(report):
    return dict(report.user_properties).get("suite", "-")


def pytest_runtest_logreport(report):
    if "tests/system/" not in report.nodeid:
        return
    group = _groups.setdefault((_suite(report), _group(report.nodeid)),
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
    for suite in dict.fromkeys(s for s, _ in _groups):
        tr.section(f"system test groups: {suite}")
        tr.write_line(f"{'group':<28} {'result':<28} {'seconds':>8}")
        total = 0.0
        for (s, name), group in _groups.items():
            if s != suite:
                continue
            outcomes = group["outcomes"]
            result = "FAILED" if outcomes["failed"] or outcomes["error"] else (
                "skipped" if not outcomes["passed"] else "passed")
            counts = ", ".join(f"{n} {k}" for k, n in sorted(outcomes.items()))
            tr.write_line(f"{name:<28} {result + ' (' + counts + ')':<28} {group['seconds']:>8.1f}")
            total += group["seconds"]
        tr.write_line(f"{'total':<57} {total:>8.1f}")
    if _metrics:
        tr.write_line("")
        for key, value in _metrics.items():
            tr.write_line(f"  {key}: {value}")
        METRICS.parent.mkdir(parents=True, exist_ok=True)
        METRICS.write_text(json.dumps(_metrics, indent=1) + "\n")
        tr.write_line(f"  (also in {METRICS})")
    for (suite, name), path in _log_copies.items():
        tr.write_line(f"logs of the failed group {name} ({suite}): {path}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        failed = item.module.__dict__.setdefault("_system_failed", set())
        params = getattr(item, "callspec", None) and item.callspec.params or {}
        failed.add((_suite(report), params.get("init")))


@pytest.fixture
def record(request):
    """record(what, value): a number the group measured (printed in the summary, not asserted)."""
    group = _group(request.node.nodeid)
    suite = dict(request.node.user_properties).get("suite", "-")

    def record(what, value):
        _metrics[f"{suite}: {group}: {what}"] = value
    return record


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind(tmp_path_factory):
    """At the end of the run: no mount and no process left in any root of this session."""
    yield
    base = tmp_path_factory.getbasetemp()
    mounts, pids = roots.mounts_under(base), roots.processes_under(base)
    assert (mounts, pids) == ([], []), f"left behind: mounts {mounts}, processes {pids}"


def _copy_logs(root, suite, group):
    dest = LOG_DIR / suite / group
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for inside in ("var/log/uwsgi", "var/log/nginx", "var/log/apt", "var/log/dpkg.log"):
        src = root.path / inside
        if src.is_dir():
            shutil.copytree(src, dest / inside.replace("/", "_"), symlinks=True)
        elif src.exists():
            shutil.copy(src, dest / inside.replace("/", "_"))
    _log_copies[(suite, group)] = dest
    return dest


@contextlib.contextmanager
def _fresh_root(tmp_path_factory, request, suite, init=None, include=None):
    group = request.module.__name__
    label = f"{group}-{init}" if init else group
    root = roots.Root.fresh(suite, tmp_path_factory.mktemp(f"{suite}-{label}") / "root",
                            **({} if include is None else {"include": include}))
    try:
        yield root
    finally:
        root.stop_all()
        if (suite, init) in request.module.__dict__.get("_system_failed", ()):
            print(f"\nlogs of {label} ({suite}): {_copy_logs(root, suite, label)}")
        root.discard()


@pytest.fixture(scope="session")
def fresh_root(tmp_path_factory):
    """fresh_root(request, suite, init=None, include=None): a context manager, a fresh unpacked
    root of SUITE (with INCLUDE, default the testbed's test tools) for the group of REQUEST
    (its `init` half, when it has one); afterwards
    everything inside killed, logs copied (build/system-test-logs/SUITE/GROUP[-INIT]) when
    that half failed, the tree removed. For a module fixture that picks its root itself."""
    return functools.partial(_fresh_root, tmp_path_factory)


@pytest.fixture(scope="module")
def clean_root(request, suite, fresh_root):
    """A fresh unpacked root of SUITE for this group. Afterwards: everything inside killed, no
    mount or process left (checked), logs copied when the group failed, the tree removed."""
    with fresh_root(request, suite) as root:
        yield root


@pytest.fixture(scope="module")
def deb_inside(request, clean_root, deb_path):
    """The package and the group's apps (module attribute APPS) ready to install offline."""
    return webstack.prepare(clean_root, deb_path, apps=getattr(request.module, "APPS", ()))


@pytest.fixture(scope="module")
def machine(clean_root, deb_inside):
    """The isolated machine (own pid/mount/net namespaces, only lo) with the package installed
    by apt; `machine.install` is apt's CompletedProcess. nginx runs when the group has apps."""
    return webstack.installed(clean_root, deb_inside)

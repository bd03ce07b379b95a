"""What the upgrade tests look at in a root, under either init system: the packaged uwsgi
processes and the binary each one runs (/proc/PID/exe: "PATH (deleted)" once dpkg replaced
the file under a running process, which is what needrestart reports), and the socket keeper
(uwsgi_emperor/keeper.py: python, /proc/PID/comm "uwsgi-keeper"), the service's main process
and the parent of the Emperor's master.

MACHINE is anything with run()/out() (testbed.roots.Machine, testbed.nspawn.Container).
"""

import json
import subprocess
import time

from testbed import stack

DAEMON = "/opt/venvs/uwsgi-emperor/bin/uwsgi"
EMPEROR_INI = "/etc/uwsgi/emperor.ini"
EMPEROR_LOG = "/var/log/uwsgi/emperor.log"
KEEPER_NAME = "uwsgi-keeper"
# The load: 16 connections keep app1 busy through nginx, at least this many requests.
CONNECTIONS = 16
MIN_REQUESTS = 3000

# Run inside the root: {pid: [ppid, exe, args]} of every process whose binary is (or was)
# the packaged uwsgi.
_PS = r"""
import json, os
procs = {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
        args = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode().strip()
        ppid = next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("PPid:"))
    except (OSError, StopIteration):
        continue
    if exe.startswith("DAEMON"):
        procs[pid] = [ppid, exe, args]
print(json.dumps(procs))
""".replace("DAEMON", DAEMON)


def processes(machine):
    """{pid: (ppid, exe, args)} of the packaged uwsgi's processes."""
    out = machine.out("/usr/bin/python3 -", input=_PS)
    return {int(pid): tuple(v) for pid, v in json.loads(out).items()}


def split(procs):
    """(Emperor's processes, vassals' processes): the Emperor's master and its Emperor
    process run with the Emperor's ini, every vassal process with its app's."""
    emperor = {p: v for p, v in procs.items() if EMPEROR_INI in v[2]}
    return emperor, {p: v for p, v in procs.items() if p not in emperor}


def emperor_master(procs):
    """PID of the Emperor's master in PROCS (the Emperor process is its child)."""
    emperor, _ = split(procs)
    [master] = [p for p, v in emperor.items() if v[0] not in emperor]
    return master


def emperor_parent(procs):
    """The parent of the Emperor's master in PROCS: the socket keeper."""
    return procs[emperor_master(procs)][0]


def keepers(machine):
    """PIDs of the processes named KEEPER_NAME (/proc/PID/comm), sorted."""
    out = machine.out(f"grep -lx {KEEPER_NAME} /proc/[0-9]*/comm 2>/dev/null", check=False)
    return sorted(int(line.split("/")[2]) for line in out.split())


def vassal(procs, name):
    """(master pid, {worker pids}) of vassal NAME in PROCS, or (None, set())."""
    mine = {p: v for p, v in procs.items() if f" {name}.ini" in f" {v[2]}"}
    masters = [p for p, v in mine.items() if v[0] not in mine]
    assert len(masters) <= 1, f"more than one master for {name}: {mine}"
    if not masters:
        return None, set()
    return masters[0], {p for p, v in mine.items() if v[0] == masters[0]}


def settled(machine, names, workers=2, with_emperor=False):
    """The processes once every vassal in NAMES has its master and WORKERS workers, all
    on the binary now on disk, and no other vassal process is left (old workers gone).
    WITH_EMPEROR: the Emperor's two processes on that binary too (after a restart; a
    legacy reload keeps the Emperor on the old one)."""
    procs = processes(machine)
    emperor, vassals = split(procs)
    if with_emperor and len(emperor) != 2:
        return None
    if any(v[1] != DAEMON for v in (procs if with_emperor else vassals).values()):
        return None
    total = 0
    for name in names:
        master, kids = vassal(procs, name)
        if master is None or len(kids) != workers:
            return None
        total += 1 + workers
    return procs if total == len(vassals) else None


def wait_settled(machine, names, timeout=60, with_emperor=False):
    """settled(), waited for (a graceful reload lets the workers finish their requests)."""
    deadline = time.monotonic() + timeout
    while True:
        procs = settled(machine, names, with_emperor=with_emperor)
        if procs is not None:
            return procs
        assert time.monotonic() < deadline, (
            f"vassals {names} not settled on {DAEMON} within {timeout} s: {processes(machine)}\n"
            + machine.out(f"grep -v '\\[pid: ' /var/log/uwsgi/{names[0]}.log | tail -n 60",
                          check=False))
        time.sleep(0.2)


def on_deleted_binary(procs):
    """PIDs in PROCS whose binary was replaced on disk under them."""
    return sorted(p for p, v in procs.items() if v[1] == f"{DAEMON} (deleted)")


def seen_requests(machine, app, number=500):
    """How many times APP's log shows request /seq/NUMBER (each load run numbers from 1)."""
    return int(machine.out(f"grep -c 'GET /seq/{number} ' /var/log/uwsgi/{app}.log", check=False) or 0)


def wait_for_load(machine, app, seen, number=500, timeout=20):
    """Wait until APP's log shows one more request /seq/NUMBER than SEEN: the load is flowing."""
    deadline = time.monotonic() + timeout
    while seen_requests(machine, app, number) <= seen:
        assert time.monotonic() < deadline, f"no load on {app} within {timeout} s"
        time.sleep(0.2)


def lower_version(deb):
    """A revision just below DEB's ("VERSION~prev"): what an earlier build of this package
    looks like to dpkg. Not below 2.0.31-1~: there the maintainer scripts take over from
    Debian's own uwsgi-emperor 2.0.21 instead (stop it, start ours)."""
    version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], check=True,
                             capture_output=True, text=True).stdout.strip()
    return f"{version}~prev"


def version(machine):
    return machine.out("dpkg-query -W -f '${Version}' uwsgi-emperor")


def under_load(machine, apps, action):
    """Run ACTION (a shell command) while CONNECTIONS keep app1 busy through nginx and wait
    until every app in APPS runs on the binary on disk; (CompletedProcess, load result)."""
    seen = seen_requests(machine, "app1")
    load = stack.Load(machine, "app1", connections=CONNECTIONS, min_requests=MIN_REQUESTS)
    try:
        wait_for_load(machine, "app1", seen)
        proc = machine.run(f"DEBIAN_FRONTEND=noninteractive {action} </dev/null", check=False)
        if proc.returncode == 0:
            wait_settled(machine, apps)
    finally:
        result = load.finish()
    return proc, result


def assert_restarted(before, after, apps, keeper):
    """AFTER (processes()) is a restart of BEFORE: a new Emperor (both of its processes)
    whose master is KEEPER's child, a new master and new workers for every app in APPS,
    and every uwsgi process on the binary on disk."""
    emperor_before, _ = split(before)
    emperor_after, _ = split(after)
    assert len(emperor_after) == 2 and not set(emperor_after) & set(emperor_before), \
        (emperor_before, emperor_after)
    assert emperor_parent(after) == keeper
    for app in apps:
        master, workers = vassal(after, app)
        old_master, old_workers = vassal(before, app)
        assert master not in (None, old_master) and len(workers) == 2, (app, before, after)
        assert not workers & old_workers, (app, before, after)
    assert {v[1] for v in after.values()} == {DAEMON}
    assert on_deleted_binary(after) == []


def assert_no_failure(result):
    assert (result["failed"], result["errors"]) == (0, [])
    assert result["ok"] >= MIN_REQUESTS and not result["timed_out"]

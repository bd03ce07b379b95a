"""Which process is the Emperor, and which are its vassals: the one answer for every tool.

Root's tools (the maintainer scripts, reload-after-upgrade, logreopen, the helpers) trust only
what an app cannot forge:
- the Emperor is the process named by the pid file in root's own run directory
  (/run/uwsgi-emperor: owned by root, writable by nobody else), read without following a
  link, and only if that process is run by root (every uid 0) and runs the packaged binary;
  under systemd the child of the unit's MainPID (the socket keeper, keeper.py), with the
  same check. Never a pid file in /run/uwsgi.
- the vassals are what the Emperor says on its stats socket (in the same root-only directory,
  and the server at the other end must be root: SO_PEERCRED), and their processes are the
  Emperor's children and their children, found from the kernel's /proc/PID/stat.
Nothing here opens a file of a process another user controls: /proc is read for stat,
status and exe only (the kernel's own text about a process).

From a shell: `python3 -I -m uwsgi_emperor.emperor master` prints the master's pid (exit 1
when none runs), `vassals` prints one `NAME PID UID` line per vassal.
"""

import json
import os
import socket
import struct
import subprocess
import sys
from dataclasses import dataclass

from . import paths, safeopen

PROC = "/proc"
UNIT = "uwsgi-emperor.service"


def _proc_uids(pid, proc=PROC):
    """The real, effective, saved and filesystem uids of PID (from /proc/PID/status)."""
    with open(f"{proc}/{pid}/status", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith("Uid:"):
                return [int(u) for u in line.split()[1:]]
    raise OSError(f"no Uid in {proc}/{pid}/status")


def parent(pid, proc=PROC):
    """PID's parent pid, from /proc/PID/stat (the command name may hold spaces and ')')."""
    with open(f"{proc}/{pid}/stat", encoding="utf-8", errors="replace") as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[1])


def exe(pid, proc=PROC):
    """What PID runs (the link /proc/PID/exe, ' (deleted)' when replaced on disk)."""
    return os.readlink(f"{proc}/{pid}/exe")


def runs_binary(pid, binary, proc=PROC):
    try:
        return exe(pid, proc) in (binary, binary + " (deleted)")
    except OSError:
        return False


def is_root_process(pid, proc=PROC):
    """True when every uid of PID is 0 and root owns /proc/PID (not dumpable by others)."""
    try:
        return os.stat(f"{proc}/{pid}").st_uid == 0 and set(_proc_uids(pid, proc)) == {0}
    except (OSError, ValueError):
        return False


def is_emperor(pid, binary=None, proc=PROC):
    """True when PID is a root process running the packaged uwsgi (on disk or replaced)."""
    binary = binary or paths.uwsgi_bin()
    return isinstance(pid, int) and pid > 1 and is_root_process(pid, proc) \
        and runs_binary(pid, binary, proc)


def read_pidfile(path):
    """The pid in PATH if its directory is root's alone and PATH a regular file of root's;
    None otherwise (missing, forged, a link, a fifo, garbage)."""
    try:
        dir_fd = safeopen.root_only_dir(os.path.dirname(path) or ".")
    except OSError:
        return None
    try:
        data = safeopen.read_small(os.path.basename(path), 64, owner=0, dir_fd=dir_fd)
    except OSError:
        return None
    finally:
        os.close(dir_fd)
    text = data.decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


def systemd_main_pid(unit=UNIT, run=subprocess.run):
    """The unit's MainPID when systemd runs this host, else None."""
    if not os.path.isdir("/run/systemd/system"):
        return None
    try:
        out = run(["systemctl", "show", "-p", "MainPID", "--value", unit],
                  capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return int(out) if out.isdigit() and int(out) > 0 else None


def children(pid, proc=PROC):
    """PID's children (from /proc/PID/task/*/children, the kernel's own list)."""
    found = []
    try:
        tasks = os.listdir(f"{proc}/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"{proc}/{pid}/task/{task}/children", encoding="ascii") as handle:
                found.extend(int(child) for child in handle.read().split())
        except (OSError, ValueError):
            continue
    return found


def master(environ=os.environ, proc=PROC, systemd=systemd_main_pid):
    """The pid of the Emperor's master process, or None when no Emperor runs: the unit's
    main process (the keeper) or its child, else the pid file's process."""
    main = systemd()
    candidates = [] if main is None else [main, *children(main, proc)]
    candidates.append(read_pidfile(paths.emperor_pidfile(environ)))
    for pid in candidates:
        if pid is not None and is_emperor(pid, paths.uwsgi_bin(environ), proc):
            return pid
    return None


def _peer_uid(sock):
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)  # pid, uid, gid


def peer(address, timeout=0.5):
    """(pid, uid, gid) of the process that listens on the unix socket ADDRESS, or None."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(address)
            return _peer_uid(sock)
    except OSError:
        return None


def read_stats(path, timeout=1.0, limit=16 << 20):
    """The Emperor's stats (JSON it writes to whoever connects), or None. Only a server run
    by root counts: an app cannot have bound a socket in root's directory, and this checks
    it anyway."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            if _peer_uid(sock)[1] != 0:
                return None
            chunks, size = [], 0
            while chunk := sock.recv(65536):
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    return None
        stats = json.loads(b"".join(chunks).decode("utf-8"))
    except (OSError, ValueError):
        return None
    return stats if isinstance(stats, dict) else None


@dataclass(frozen=True)
class Vassal:
    """One vassal as the Emperor reports it."""

    name: str       # the app's name: apps-enabled/NAME.ini
    pid: int        # its master (0 while the Emperor respawns it)
    uid: int        # the Emperor's idea of its user: set in tyrant mode only, else 0
    gid: int
    ready: bool     # spawned and loyal to the Emperor
    accepting: bool  # its first worker accepts requests
    respawns: int
    born: int       # the mtime of its ini when the Emperor (re)loaded it (not a start time)
    zerg: bool


def _int(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def vassals(stats):
    """The vassals in the Emperor's STATS (read_stats), in its order."""
    found = []
    for entry in (stats or {}).get("vassals") or ():
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            continue
        ident = entry["id"]
        name = ident.removesuffix(paths.SUFFIX) if ident.endswith(paths.SUFFIX) else ident
        found.append(Vassal(
            name=name, pid=_int(entry.get("pid")), uid=_int(entry.get("uid")),
            gid=_int(entry.get("gid")), ready=bool(entry.get("ready")),
            accepting=bool(entry.get("accepting")), respawns=_int(entry.get("respawns")),
            born=_int(entry.get("born")), zerg=bool(entry.get("zerg"))))
    return found


def emperor_pid(stats):
    """The Emperor process's own pid (the master's child) from its STATS, or None."""
    pid = (stats or {}).get("pid")
    return pid if isinstance(pid, int) and pid > 1 else None


def process_tree(proc=PROC):
    """{pid: parent pid} of every process, from /proc/PID/stat."""
    tree = {}
    for name in os.listdir(proc):
        if name.isdigit():
            try:
                tree[int(name)] = parent(int(name), proc)
            except (OSError, ValueError, IndexError):
                continue
    return tree


def descendants(pid, tree):
    """PID and every process below it in TREE (process_tree())."""
    children = {}
    for child, ppid in tree.items():
        children.setdefault(ppid, []).append(child)
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, ()))
    return found


def vassal_of(pid, vassal_pids, tree):
    """The vassal master pid (one of VASSAL_PIDS) that PID is or descends from, else None."""
    seen = set()
    while pid not in seen and pid > 1:
        if pid in vassal_pids:
            return pid
        seen.add(pid)
        pid = tree.get(pid, 0)
    return None


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["master"]:
        pid = master()
        if pid is None:
            return 1
        print(pid)
        return 0
    if argv == ["vassals"]:
        stats = read_stats(paths.stats_socket())
        if stats is None:
            return 1
        for vassal in vassals(stats):
            print(vassal.name, vassal.pid, vassal.uid)
        return 0
    print("usage: python3 -I -m uwsgi_emperor.emperor master|vassals", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

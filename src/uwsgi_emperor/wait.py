"""uwsgi-ensite --wait: wait until the emperor has an app up, or say plainly why not."""

import json
import os
import socket
import subprocess
import time
from dataclasses import dataclass, field

from .inicheck import uwsgi_env

STATS_SOCKET = "emperor-stats.sock"
PIDFILE = "emperor.pid"
DEFAULT_TIMEOUT = 10.0
POLL_INTERVAL = 0.1
LOG_LINES = 15


@dataclass(frozen=True)
class Result:
    ok: bool
    message: str
    log_tail: list = field(default_factory=list)


def read_stats(path, timeout=1.0):
    """The emperor's stats (it writes JSON to whoever connects), or None if nobody answers."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return json.loads(b"".join(chunks).decode("utf-8"))
    except (OSError, ValueError):
        return None


def pid_alive(pidfile):
    try:
        with open(pidfile) as handle:
            pid = int(handle.read().strip())
        os.kill(pid, 0)
    except PermissionError:
        return True  # it exists, it just is not ours to signal
    except (OSError, ValueError):
        return False
    return pid > 0


def vassal_accepting(stats, name):
    vassals = stats.get("vassals") if isinstance(stats, dict) else None
    return any(
        isinstance(v, dict) and v.get("id") == name + ".ini" and v.get("accepting")
        for v in vassals or ()
    )


def parse_address(value):
    """uWSGI socket syntax -> (family, address) for connect(), or None if we cannot tell."""
    value = value.strip()
    if value.startswith("unix:"):
        value = value[5:]
    if value.startswith("@"):
        return socket.AF_UNIX, "\0" + value[1:]
    if "/" in value:
        return socket.AF_UNIX, value
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        return None
    host = host.strip("[]") or "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return family, (host, int(port))


def accepts(address, timeout=0.5):
    family, addr = address
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(addr)
        return True
    except OSError:
        return False


def app_option(uwsgi, ini, option):
    """The app's own value of OPTION as uWSGI reads it (magic variables expanded), or None."""
    try:
        proc = subprocess.run(
            [uwsgi, "--ini", ini, "--get", option],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            timeout=10,
            env=uwsgi_env(),
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = proc.stdout.decode("utf-8", "replace").splitlines()
    if proc.returncode != 0 or not lines:
        return None
    return lines[0].strip() or None


def tail(path, count=LOG_LINES):
    try:
        with open(path, "rb") as handle:
            lines = handle.read().decode("utf-8", "replace").splitlines()
    except OSError as err:
        return [f"(cannot read {path}: {err.strerror})"]
    return lines[-count:]


def wait_up(name, *, ini, rundir, logdir, timeout, uwsgi, emperor_rundir=None,
            clock=time.monotonic, sleep=time.sleep):
    """Wait up to TIMEOUT seconds until app NAME (its ini at INI) is up under the emperor.

    The app's socket is looked for in RUNDIR, the Emperor's stats socket and pid file in
    EMPEROR_RUNDIR (default: RUNDIR)."""
    stats_path = os.path.join(emperor_rundir or rundir, STATS_SOCKET)
    pidfile = os.path.join(emperor_rundir or rundir, PIDFILE)
    stats = read_stats(stats_path)
    if stats is None and not pid_alive(pidfile):
        return Result(
            False,
            f"no emperor running (nothing answers on {stats_path}, no live process in {pidfile}); "
            f"app {name} starts when the emperor starts",
        )
    socket_value = app_option(uwsgi, ini, "socket") or os.path.join(rundir, name + ".sock")
    address = parse_address(socket_value)
    deadline = clock() + timeout
    while True:
        if stats is not None and vassal_accepting(stats, name):
            return Result(True, f"App {name} is up (the emperor reports it accepting requests).")
        if address is not None and accepts(address):
            return Result(True, f"App {name} is up ({socket_value} accepts connections).")
        if clock() >= deadline:
            break
        sleep(POLL_INTERVAL)
        stats = read_stats(stats_path)
    log = app_option(uwsgi, ini, "logto") or os.path.join(logdir, name + ".log")
    return Result(
        False,
        f"app {name} is not up after {timeout:g} s ({socket_value} accepts no connection); "
        f"last lines of {log}:",
        tail(log),
    )

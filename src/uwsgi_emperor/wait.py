"""uwsgi-ensite --wait: wait until the emperor has an app up, or say plainly why not.

"Up" is decided from the vassal itself, never from whatever listens on a path an app's user
can bind: the Emperor (its stats socket in root's directory, emperor.py) reports the app's
vassal accepting requests, the app's unix socket is served by that vassal (SO_PEERCRED: the
listener's pid is the vassal's master or one of its children, or its uid root: the socket
keeper, which holds the socket the vassal serves on, keeper.py), and both hold, with the same
vassal pid, for STEADY seconds. A vassal that crash-loops binds, and may even accept, for a
moment on each start: it never holds that long.
"""

import enum
import os
import re
import socket
import time
from dataclasses import dataclass, field

from . import emperor, inicheck, safeopen, safetext, sockets

DEFAULT_TIMEOUT = 10.0
POLL_INTERVAL = 0.1
STEADY = 1.5
LOG_LINES = 15
LOG_BYTES = 64 * 1024  # how much of the log's end is read: a log may be gigabytes
LINE_CHARS = 1000


class Reason(enum.Enum):
    """How a wait ended; callers decide on this, the message is for people."""

    UP = "up"
    NO_EMPEROR = "no emperor"  # nothing will start the app: waiting for the next app is as futile
    NOT_UP = "not up"  # the emperor runs, the app did not come up in time


@dataclass(frozen=True)
class Result:
    reason: Reason
    message: str
    log_tail: list = field(default_factory=list)

    @property
    def ok(self):
        return self.reason is Reason.UP


def app_option(uwsgi, ini, option):
    """The app's own value of OPTION as uWSGI reads it (magic variables expanded), or None;
    read unprivileged, and never for an ini that runs code when read (inicheck.get_option)."""
    return inicheck.get_option(ini, option, uwsgi)


_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b")


def log_tail(data, count=LOG_LINES):
    """The last COUNT lines of the log's end DATA, made safe to print; when a Python traceback
    ended before those lines, its exception line comes first, so the reason is never cut."""
    lines = [line if len(line) <= LINE_CHARS else line[:LINE_CHARS] + "..."
             for line in safetext.visible_lines(data, 10 ** 6)]
    last = lines[-count:]
    for i in range(len(lines) - len(last) - 1, -1, -1):
        if lines[i].startswith("Traceback (most recent call last):"):
            for line in lines[i + 1:len(lines) - len(last)]:
                if _EXCEPTION.match(line):
                    return [line, "..."] + last
            break
    return last


def read_log_tail(path, count=LOG_LINES):
    try:
        data, cut = safeopen.read_tail(path, LOG_BYTES)
    except OSError as err:
        return [f"(cannot read {safetext.visible(path)}: {err.strerror or err})"]
    if cut:
        data = data.partition(b"\n")[2]  # the first line is only the end of one
    return log_tail(data, count)


def _vassal(stats, name):
    for vassal in emperor.vassals(stats):
        if vassal.name == name and not vassal.zerg:
            return vassal
    return None


def _served_by(address, vassal, proc):
    """None when ADDRESS (a unix socket) is served by VASSAL's processes, else why not."""
    listener = emperor.peer(address[1])
    if listener is None:
        return "accepts no connection"
    pid, uid, _ = listener
    if uid == 0:
        # Root called listen(): the socket keeper holds it (the one before a systemd restart
        # may be gone), or the vassal's master before it dropped to the app's user. No app
        # can make such a socket.
        return None
    if pid not in emperor.descendants(vassal.pid, emperor.process_tree(proc)):
        return f"is served by pid {pid} (uid {uid}), not by the app's vassal (pid {vassal.pid})"
    return None


def wait_up(name, *, ini, rundir, logdir, stats_path, pidfile, timeout, uwsgi,
            clock=time.monotonic, sleep=time.sleep, steady=STEADY, proc=emperor.PROC):
    """Wait up to TIMEOUT seconds until app NAME (its ini at INI) is up under the emperor whose
    stats server is STATS_PATH and pid file PIDFILE. The app's socket and log default to
    RUNDIR/NAME.sock and LOGDIR/NAME.log unless its ini names its own."""
    stats = emperor.read_stats(stats_path)
    if stats is None:
        pid = emperor.read_pidfile(pidfile)
        if pid is None or not emperor.is_emperor(pid, uwsgi, proc):
            return Result(
                Reason.NO_EMPEROR,
                f"no emperor running (nothing answers on {stats_path}, no Emperor process in "
                f"{pidfile}); app {name} starts when the emperor starts",
            )
    socket_value = app_option(uwsgi, ini, "socket") or sockets.app_socket(rundir, name)
    address = sockets.connect_address(socket_value)
    deadline = clock() + timeout
    since, seen_pids, why = None, set(), "the emperor does not report it yet"
    while True:
        vassal = _vassal(stats, name)
        now = clock()
        if vassal is None or vassal.pid <= 1:
            why, since = "the emperor does not report it running", None
        elif not vassal.accepting:
            seen_pids.add(vassal.pid)
            why, since = "the emperor does not report it accepting requests", None
        else:
            seen_pids.add(vassal.pid)
            # Who listens is asked when the window opens and when it closes (a connection
            # each), not at every poll.
            starting = since is None or since[0] != vassal.pid
            if starting or now - since[1] >= steady:
                problem = _served_by(address, vassal, proc) if address is not None \
                    and address[0] == socket.AF_UNIX else None
                if problem:
                    why, since = f"{socket_value} {problem}", None
                elif starting:
                    since = (vassal.pid, now)
                    why = f"it has not stayed up for {steady:g} s yet"
                else:
                    return Result(Reason.UP, f"App {name} is up (its vassal, pid {vassal.pid}, "
                                             f"accepts requests on {socket_value}).")
        if now >= deadline:
            break
        sleep(POLL_INTERVAL)
        stats = emperor.read_stats(stats_path)
    if len(seen_pids) > 1:
        why = f"its vassal was started {len(seen_pids)} times while waiting: it keeps exiting"
    log = app_option(uwsgi, ini, "logto") or os.path.join(logdir, name + ".log")
    return Result(
        Reason.NOT_UP,
        f"app {name} is not up after {timeout:g} s ({why}); last lines of "
        f"{safetext.visible(log)}:",
        read_log_tail(log),
    )

"""After logrotate: make every uWSGI process write to the new log files, and say which did not.

Run by the package's logrotate postrotate (as root):
    /opt/venvs/uwsgi-emperor/bin/python3 -I -m uwsgi_emperor.logreopen

Why it is needed: without uWSGI's log master (which costs every request a trip through a pipe
to the master), each worker writes its request lines to the log fd it inherited when it was
forked. logrotate renames NAME.log to NAME.log.1 and the processes keep appending there (same
inode) until something reopens the file. The reopen is done in two steps per vassal, through
its master fifo (vassal-defaults.ini: master-fifo = /run/uwsgi/%N.fifo):
  `l`  the master reopens its own log (stderr, fd 2) at the original path;
  `c`  chain reload: the workers are re-forked one by one from the master, each after its
       current request, so each inherits the new fd 2 and no request is refused or lost;
       lines written before a worker's re-fork are in the old file, after it in the new one.
The Emperor's own log (and any app that chose `touch-logreopen` itself) is reopened by the
log master when the trigger file is touched.

What is checked, not assumed: the processes that still hold a rotated log file (one no longer
at its NAME.log path) open for writing, from /proc. Only the vassals the Emperor lists (its
stats socket, uwsgi_emperor.emperor) with such a process among theirs are asked, each once, and
the helper waits until none is left, TIMEOUT seconds at most for the whole run whatever the
processes do. Each one that is left is reported on stderr (one line, naming the process and
the file, its command line with control characters escaped) and the exit status is 1, so
logrotate reports the failure (its exit status, and the logrotate service or cron mail); its
lines are not lost meanwhile, they keep going to the rotated file, which delaycompress keeps
uncompressed until the next run. A process that is neither the Emperor's nor a vassal's is
reported and never waited for.

Root never opens anything of a process another user controls: /proc/PID/fd is only read with
readlink and stat (to find the master fifo's path and inode); the fifo is opened by that path
only once safeopen has checked that the name leads to that same fifo, owned by the vassal's
uid, and it is opened non-blocking. Whether the vassal's user can open the new log is tried
in a child that has dropped to that user.

Not re-forked by `c`: an app's mules and spoolers. They keep the rotated file and are reported
(an app that has them can use touch-logreopen instead, see vassal-defaults.ini).

fd 1 (stdout) is not followed: uWSGI writes its log and request lines to fd 2 and its Python
plugin points sys.stdout at fd 2 too; only a C library's stdout or a child process the app
starts without redirecting it keeps writing to the rotated file until the next full reload.
"""

import argparse
import os
import stat
import sys
import time
from dataclasses import dataclass

from . import emperor, paths, safeopen, safetext

LOGS = paths.LOGDIR
TRIGGER = paths.LOGROTATE_TRIGGER
PROC = emperor.PROC
# What a vassal is told through its master fifo: reopen the log, then chain-reload workers.
REOPEN = b"lc"
# A chain reload waits for each worker's current request (harakiri is 60 s by default).
TIMEOUT = 90.0
# The Emperor's log master looks at the trigger once a second.
TRIGGER_GRACE = 10.0
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _pids(proc):
    return sorted(int(p) for p in os.listdir(proc) if p.isdigit())


def _write_mode(proc, pid, fd):
    """True when fd FD of PID is open for writing (fdinfo flags)."""
    try:
        with open(f"{proc}/{pid}/fdinfo/{fd}") as f:
            for line in f:
                if line.startswith("flags:"):
                    return int(line.split()[1], 8) & os.O_ACCMODE != os.O_RDONLY
    except OSError:
        pass
    return False


def is_rotated(link_target, fd_stat, logs):
    """True when an fd whose /proc link reads LINK_TARGET (its file's stat FD_STAT) is a file
    of the directory LOGS that is no longer at a NAME.log path there: renamed or deleted."""
    if not link_target.startswith(logs.rstrip("/") + "/"):
        return False
    if link_target.endswith(" (deleted)") or not link_target.endswith(".log"):
        return True
    try:
        current = os.stat(link_target)
    except FileNotFoundError:
        return True
    return (current.st_dev, current.st_ino) != (fd_stat.st_dev, fd_stat.st_ino)


def current_log(rotated):
    """The log path a rotated file came from: /d/app1.log.1 and /d/app1.log-20261127 -> /d/app1.log."""
    head, sep, _ = rotated.removesuffix(" (deleted)").rpartition(".log")
    return head + sep if sep else rotated


def rotated_writers(logs, proc=PROC):
    """{pid: [(fd, path)]}: processes writing (fd 2 or above) to a rotated file of LOGS."""
    found = {}
    # A process that forks and exits between the listing of /proc and the look at its fds
    # would be missed by one pass: look again at the pids that appeared meanwhile.
    seen = set()
    for _ in range(3):
        new = [pid for pid in _pids(proc) if pid not in seen]
        if not new:
            break
        seen.update(new)
        _scan(new, logs, proc, found)
    return found


def _fds(pid, proc):
    """(fd, link target, stat of the target) of each descriptor of PID, from readlink and stat
    of /proc/PID/fd/N (the kernel's; nothing is opened there); none once PID is gone."""
    try:
        fds = os.listdir(f"{proc}/{pid}/fd")
    except OSError:
        return
    for fd in sorted(int(n) for n in fds):
        link = f"{proc}/{pid}/fd/{fd}"
        try:
            yield fd, os.readlink(link), os.stat(link)
        except OSError:
            continue


def _scan(pids, logs, proc, found):
    for pid in pids:
        for fd, target, st in _fds(pid, proc):
            if fd == 1:
                continue  # stdout: see the module's docstring
            if stat.S_ISREG(st.st_mode) and is_rotated(target, st, logs) \
                    and _write_mode(proc, pid, fd) and not _replaced_in_parent(pid, fd, logs, proc):
                found.setdefault(pid, []).append((fd, target))


def _replaced_in_parent(pid, fd, logs, proc):
    """True when FD (3 or above) is a log master's file fd that PID inherited at fork and never
    writes (it logs through the master's pipe), and the parent already reopened that log."""
    if fd <= 2:
        return False
    try:
        log = current_log(os.readlink(f"{proc}/{pid}/fd/{fd}"))
        ppid = emperor.parent(pid, proc)
    except OSError:
        return False
    return any(target == log and not is_rotated(log, st, logs)
               for _, target, st in _fds(ppid, proc))


def master_fifo(pid, proc=PROC):
    """(path, (st_dev, st_ino)) of the named fifo PID holds open for reading (a uWSGI master
    fifo), else None. Only readlink and stat of /proc/PID/fd: nothing is opened there."""
    for fd, target, st in _fds(pid, proc):
        if not stat.S_ISFIFO(st.st_mode) or not target.startswith("/") \
                or target.endswith(" (deleted)"):
            continue
        if not _write_mode(proc, pid, fd):
            return target, (st.st_dev, st.st_ino)
    return None


def _ids(pid, proc):
    ids = {}
    with open(f"{proc}/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid"):
                ids[key] = int(value.split()[0])  # the real id: what setuid() left
            elif key == "Groups":
                ids[key] = [int(g) for g in value.split()]
    return ids


def user_can_open(pid, path, proc=PROC):
    """True when PID's user (uid, gid, groups) can open PATH the way uWSGI reopens a log
    (O_RDWR|O_APPEND, or create it): tried in a child that drops to that user first."""
    ids = _ids(pid, proc)
    child = os.fork()
    if child == 0:
        ok = False
        try:
            os.setgroups(ids["Groups"])
            os.setgid(ids["Gid"])
            os.setuid(ids["Uid"])
            try:
                os.close(os.open(path, os.O_RDWR | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK))
                ok = True
            except FileNotFoundError:
                ok = os.access(os.path.dirname(path), os.W_OK | os.X_OK)
            except OSError:
                ok = False
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status) == 0


def ask_reopen(fifo, owner, inode=None):
    """Write the reopen commands into the master fifo at path FIFO; False if that is not a fifo
    owned by OWNER (the vassal's uid, per the Emperor) and, given INODE, the very fifo its
    master holds, or if nobody reads it. The name is in a directory the app can write:
    safeopen checks what it names before anything is opened for writing, and never blocks."""
    try:
        fd = safeopen.open_checked(fifo, os.O_WRONLY, kind=stat.S_ISFIFO, owner=owner,
                                   inode=inode)
    except OSError:
        return False
    try:
        return os.write(fd, REOPEN) == len(REOPEN)
    except OSError:
        return False
    finally:
        os.close(fd)


def touch(path):
    """Touch the trigger the Emperor's log master watches (it compares whole seconds)."""
    try:
        os.utime(path)
    except FileNotFoundError:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644))


def command(pid, proc=PROC):
    """PID's command line, as the app may have set it: shown with control characters escaped."""
    try:
        with open(f"{proc}/{pid}/cmdline", "rb") as f:
            raw = f.read(4096)
    except OSError:
        return "?"
    return safetext.visible(raw.replace(b"\0", b" ").strip())


@dataclass
class _Known:
    """Who is who, per the Emperor: its own processes and its vassals' masters."""

    vassals: dict      # master pid -> emperor.Vassal
    emperor: set       # the Emperor's master and Emperor process


def _known(stats_path, environ, proc):
    stats = emperor.read_stats(stats_path) if stats_path else None
    vassals = {v.pid: v for v in emperor.vassals(stats) if v.pid > 1}
    own = {p for p in (emperor.emperor_pid(stats), emperor.master(environ, proc)) if p}
    return _Known(vassals, own)


def reopen(logs=LOGS, trigger=TRIGGER, timeout=TIMEOUT, proc=PROC, clock=time.monotonic,
           sleep=time.sleep, stats_path=None, environ=os.environ):
    """Touch TRIGGER, ask each vassal (as the Emperor on STATS_PATH lists them) writing to a
    rotated file of LOGS to reopen, and wait until none does, TIMEOUT seconds at most in all;
    the list of problems left (one line each), empty when everything reopened.

    One deadline for the whole run, whatever the processes do: a vassal is asked once, and
    a process that is not the Emperor's nor one of its vassals' is reported, not asked and
    not waited for."""
    start = clock()
    problems = []
    try:
        touch(trigger)
    except OSError as e:
        problems.append(f"cannot touch {trigger} (the Emperor's reopen trigger): {e.strerror}")
    known = _known(stats_path, environ, proc)
    asked, refused = set(), {}  # vassal master pids asked; not asked, and why
    while True:
        writers = rotated_writers(logs, proc)
        now = clock() - start
        if not writers or now >= timeout:
            break
        tree = emperor.process_tree(proc)
        pending = False
        for pid, files in writers.items():
            master = emperor.vassal_of(pid, known.vassals, tree)
            if master is None:
                # The Emperor's own log: its log master reopens on the trigger.
                ours = emperor.vassal_of(pid, known.emperor, tree) is not None
                pending = pending or (ours and now < TRIGGER_GRACE)
                continue
            if master not in asked and master not in refused:
                refused_why = _ask(master, current_log(files[0][1]), proc)
                if refused_why:
                    refused[master] = refused_why
                else:
                    asked.add(master)
            # Without a fifo (an app with its own touch-logreopen) the trigger does it.
            pending = pending or master in asked or (
                refused.get(master) == NO_FIFO and now < TRIGGER_GRACE)
        if not pending:
            break
        sleep(0.2)
    return problems + _report(logs, proc, known, asked, refused, timeout)


NO_FIFO = "no master fifo to ask it to reopen"


def _ask(master, log, proc):
    """Ask vassal MASTER to reopen LOG; None when asked, else why not."""
    try:
        fifo = master_fifo(master, proc)
        if fifo is None:
            return NO_FIFO
        if not user_can_open(master, log, proc):
            # uWSGI would close its log, fail to open the new one and reload with no log
            # at all: leave it writing to the rotated file and say so.
            return f"not asked to reopen: its user cannot open {log}"
    except OSError:
        return "it exited"
    path, inode = fifo
    # The uid the master runs as now (the kernel's), not the Emperor's "uid" of the vassal,
    # which is only set in tyrant mode.
    try:
        owner = _ids(master, proc)["Uid"]
    except OSError:
        return "it exited"
    if not ask_reopen(path, owner, inode):
        return f"not asked to reopen: {path} is not its master fifo, or nobody reads it"
    return None


def _report(logs, proc, known, asked, refused, timeout):
    left = {}  # (files, why) -> pids
    tree = emperor.process_tree(proc)
    for pid, files in sorted(rotated_writers(logs, proc).items()):
        master = emperor.vassal_of(pid, known.vassals, tree)
        if master is None:
            if emperor.vassal_of(pid, known.emperor, tree) is not None:
                why = "the Emperor did not reopen it on its trigger"
            else:
                why = "not a process of the Emperor or of one of its vassals: not asked"
        elif master in refused:
            why = refused[master]
        else:
            why = f"asked to reopen through its master fifo, still not done after {timeout:g} s"
        paths_ = ", ".join(sorted({safetext.visible(p) for _, p in files}))
        left.setdefault((paths_, why), []).append(pid)
    return [f"{paths_} still written by PID {', '.join(map(str, pids))} "
            f"({command(pids[0], proc)}): {why}" for (paths_, why), pids in left.items()]


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python3 -m uwsgi_emperor.logreopen",
        description="After logrotate: make the Emperor and every vassal write to the new log "
                    "files; exit 1 naming each process that still writes to a rotated one.")
    parser.add_argument("--logs", default=LOGS, help=f"the log directory (default {LOGS})")
    parser.add_argument("--trigger", default=TRIGGER,
                        help=f"touched for the Emperor's log master (default {TRIGGER})")
    parser.add_argument("--timeout", type=float, default=TIMEOUT,
                        help=f"seconds the whole reopen may take (default {TIMEOUT:g})")
    args = parser.parse_args(argv)
    problems = reopen(args.logs, args.trigger, args.timeout, stats_path=paths.stats_socket())
    for line in problems:
        print(f"uwsgi-emperor: log not reopened: {line}", file=sys.stderr)
    return EXIT_FAILED if problems else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

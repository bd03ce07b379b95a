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
at its NAME.log path) open for writing, from /proc. Only those vassals are asked to reopen, and
the helper waits until none is left. Each one that is left is reported on stderr (one line,
naming the process and the file) and the exit status is 1, so logrotate reports the failure
(its exit status, and the logrotate service or cron mail); its lines are not lost meanwhile,
they keep going to the rotated file, which delaycompress keeps uncompressed until the next run.

Root never opens anything by path in /run/uwsgi (the vassals' user can write there): the fifo
is reached through /proc/PID/fd of the master that holds it, and whether the vassal's user can
open the new log is tried in a child that has dropped to that user.

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

LOGS = "/var/log/uwsgi"
TRIGGER = "/var/lib/uwsgi-emperor/logrotate.trigger"
PROC = "/proc"
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
    for pid in _pids(proc):
        try:
            fds = os.listdir(f"{proc}/{pid}/fd")
        except OSError:
            continue
        for fd in sorted(int(n) for n in fds):
            if fd == 1:
                continue  # stdout: see the module's docstring
            link = f"{proc}/{pid}/fd/{fd}"
            try:
                target = os.readlink(link)
                st = os.stat(link)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and is_rotated(target, st, logs) \
                    and _write_mode(proc, pid, fd) and not _replaced_in_parent(pid, fd, logs, proc):
                found.setdefault(pid, []).append((fd, target))
    return found


def _replaced_in_parent(pid, fd, logs, proc):
    """True when FD (3 or above) is a log master's file fd that PID inherited at fork and never
    writes (it logs through the master's pipe), and the parent already reopened that log."""
    if fd <= 2:
        return False
    try:
        log = current_log(os.readlink(f"{proc}/{pid}/fd/{fd}"))
        ppid = parent(pid, proc)
        theirs = os.listdir(f"{proc}/{ppid}/fd")
    except OSError:
        return False
    for n in theirs:
        link = f"{proc}/{ppid}/fd/{n}"
        try:
            if os.readlink(link) == log and not is_rotated(log, os.stat(link), logs):
                return True
        except OSError:
            continue
    return False


def parent(pid, proc=PROC):
    with open(f"{proc}/{pid}/stat") as f:
        # The command name (field 2) may contain spaces and parentheses: split after the last ")".
        return int(f.read().rsplit(")", 1)[1].split()[1])


def master_fifo(pid, proc=PROC):
    """/proc path of the named fifo PID holds open for reading (a uWSGI master fifo), else None."""
    try:
        fds = os.listdir(f"{proc}/{pid}/fd")
    except OSError:
        return None
    for fd in sorted(int(n) for n in fds):
        link = f"{proc}/{pid}/fd/{fd}"
        try:
            if not stat.S_ISFIFO(os.stat(link).st_mode) or os.readlink(link).startswith("pipe:"):
                continue
        except OSError:
            continue
        if not _write_mode(proc, pid, fd):
            return link
    return None


def is_uwsgi(pid, proc=PROC):
    """True when PID runs a uwsgi binary (ours or Debian's uwsgi-core)."""
    try:
        return os.path.basename(os.readlink(f"{proc}/{pid}/exe")).startswith("uwsgi")
    except OSError:
        return False


def vassal_master(pid, proc=PROC):
    """(master pid, its fifo's /proc path) for PID: itself or its parent, whichever is a uwsgi
    process holding a master fifo (workers are the master's children); else (None, None)."""
    for candidate in (pid, parent(pid, proc)):
        fifo = master_fifo(candidate, proc) if is_uwsgi(candidate, proc) else None
        if fifo:
            return candidate, fifo
    return None, None


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


def ask_reopen(fifo, owner):
    """Write the reopen commands into a master fifo (its /proc/PID/fd path); False if gone.

    Root opens the master's descriptor through /proc, which checks root's permissions, not
    the app's: the app could have put another file there since master_fifo() looked. So
    nothing is written unless what was opened is a fifo owned by OWNER (the app's uid)."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        if not stat.S_ISFIFO(st.st_mode) or st.st_uid != owner:
            return False
        return os.write(fd, REOPEN) == len(REOPEN)
    finally:
        os.close(fd)


def touch(path):
    """Touch the trigger the Emperor's log master watches (it compares whole seconds)."""
    try:
        os.utime(path)
    except FileNotFoundError:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644))


def command(pid, proc=PROC):
    try:
        with open(f"{proc}/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def reopen(logs=LOGS, trigger=TRIGGER, timeout=TIMEOUT, proc=PROC, clock=time.monotonic,
           sleep=time.sleep):
    """Touch TRIGGER, ask each vassal writing to a rotated file of LOGS to reopen, wait until no
    process does; the list of problems left (one line each), empty when everything reopened."""
    start = clock()
    problems = []
    try:
        touch(trigger)
    except OSError as e:
        problems.append(f"cannot touch {trigger} (the Emperor's reopen trigger): {e.strerror}")
    asked = {}    # master pid -> when
    refused = {}  # pid -> why it was not asked
    while True:
        writers = rotated_writers(logs, proc)
        if not writers:
            return problems
        now = clock() - start
        pending = False
        for pid, files in writers.items():
            try:
                master, fifo = vassal_master(pid, proc)
            except OSError:
                continue  # it just exited
            if master is not None and master not in asked and master not in refused:
                log = current_log(files[0][1])
                if not user_can_open(master, log, proc):
                    # uWSGI would close its log, fail to open the new one and reload with
                    # no log at all: leave it writing to the rotated file and say so.
                    refused[master] = f"its user cannot open {log}"
                elif ask_reopen(fifo, _ids(master, proc)["Uid"]):
                    asked[master] = now
            # Without a fifo (the Emperor, an app with its own touch-logreopen) the trigger
            # does it within a second or two; a vassal asked gets TIMEOUT for its chain reload.
            deadline = asked[master] + timeout if master in asked else TRIGGER_GRACE
            pending = pending or now < deadline
        if not pending:
            break
        sleep(0.2)
    left = {}  # (files, why) -> pids
    for pid, files in sorted(rotated_writers(logs, proc).items()):
        try:
            master, _ = vassal_master(pid, proc)
        except OSError:
            continue
        if master is None:
            why = "no master fifo to ask it to reopen"
        elif master in refused:
            why = f"not asked to reopen: {refused[master]}"
        else:
            why = f"asked to reopen through its master fifo {timeout:g} s ago, still not done"
        paths = ", ".join(sorted({p for _, p in files}))
        left.setdefault((paths, why), []).append(pid)
    return problems + [f"{paths} still written by PID {', '.join(map(str, pids))} "
                       f"({command(pids[0], proc)}): {why}" for (paths, why), pids in left.items()]


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python3 -m uwsgi_emperor.logreopen",
        description="After logrotate: make the Emperor and every vassal write to the new log "
                    "files; exit 1 naming each process that still writes to a rotated one.")
    parser.add_argument("--logs", default=LOGS, help=f"the log directory (default {LOGS})")
    parser.add_argument("--trigger", default=TRIGGER,
                        help=f"touched for the Emperor's log master (default {TRIGGER})")
    parser.add_argument("--timeout", type=float, default=TIMEOUT,
                        help=f"seconds a vassal gets to reopen (default {TIMEOUT:g})")
    args = parser.parse_args(argv)
    problems = reopen(args.logs, args.trigger, args.timeout)
    for line in problems:
        print(f"uwsgi-emperor: log not reopened: {line}", file=sys.stderr)
    return EXIT_FAILED if problems else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

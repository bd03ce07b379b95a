"""Every app at a glance: what uwsgi-query --status, --check and the Prometheus metrics show.

Each fact comes from the one source that cannot be forged by an app, or says whose it is:
- the state (running, starting, crash-looping, stopped) from the Emperor's stats socket
  (root's, emperor.read_stats) and its blacklist of vassals that died before their first
  request; whether the vassal's ini would be refused, from inicheck (only for an app that is
  down);
- pid and uptime, RSS and PSS from the kernel (/proc/PID/stat, /proc/PID/smaps_rollup of the
  vassal's master and every process below it): no `memory-report`, nothing per request;
- the listen queue of the app's unix socket from the kernel (sock_diag, what `ss -xl` shows;
  uWSGI's own listen_queue is always 0 for a unix socket on Debian's kernels), matched to the
  socket file by inode, or nothing;
- workers, requests, exceptions, harakiri, response time from the vassal's own stats server
  (/run/uwsgi/NAME.stats, vassal-defaults.ini) only when the kernel says its listener is the
  vassal's master (SO_PEERCRED pid and uid): a socket another process bound there is named,
  never read. Those numbers are the app's own: its code can change them, nobody else's can.
- the last lines of the log of an app that is down, and its last exit reason, through
  wait.read_log_tail (control characters made visible).
"""

import enum
import json
import os
import socket
import stat
import struct
import time
from dataclasses import asdict, dataclass, field
from typing import Optional

from . import emperor, inicheck, paths, safetext, sites, sockets, wait

STATS_SUFFIX = ".stats"    # the vassal's stats server: RUNDIR/NAME.stats (vassal-defaults.ini)
STATS_TIMEOUT = 0.5        # a vassal's master answers from its event loop
STATS_LIMIT = 4 << 20      # stats-no-cores keeps a vassal's JSON to a few KiB
STEADY = wait.STEADY       # seconds an app accepts before it counts as running
LOG_LINES = 5              # lines of the log shown for an app that is down
EXIT_LINES = 400           # lines of the log's end searched for the last exit reason


class State(enum.Enum):
    RUNNING = "running"
    STARTING = "starting"
    CRASH_LOOPING = "crash-looping"
    STOPPED = "stopped"
    DISABLED = "disabled"
    REFUSED = "refused ini"

    @property
    def down(self):
        """An enabled app that serves nothing."""
        return self in (State.CRASH_LOOPING, State.STOPPED, State.REFUSED)


@dataclass
class App:
    name: str
    state: str
    detail: str = ""                     # why it is in that state, when that needs saying
    enabled: bool = True
    who: str = ""                        # who enabled or disabled it (uwsgi-query -l)
    pid: Optional[int] = None
    uid: Optional[int] = None
    started: Optional[float] = None      # the vassal master's start, seconds since the epoch
    uptime: Optional[float] = None       # seconds
    workers: dict = field(default_factory=dict)   # worker status (idle, busy, cheap...) -> count
    requests: Optional[int] = None
    requests_per_second: Optional[float] = None   # average since the vassal started
    exceptions: Optional[int] = None
    harakiri: Optional[int] = None
    avg_response_seconds: Optional[float] = None
    worker_respawns: Optional[int] = None
    rss_bytes: Optional[int] = None
    pss_bytes: Optional[int] = None
    reloads: Optional[int] = None        # graceful reloads by the Emperor (touched ini)
    failed_starts: Optional[int] = None  # exits before a first request, since the last good run
    last_exit: Optional[str] = None
    zergs: Optional[int] = None
    listen_queue: Optional[int] = None   # connections waiting in the kernel (sock_diag)
    listen_backlog: Optional[int] = None
    stats_problem: Optional[str] = None  # why the worker figures are missing
    log_tail: list = field(default_factory=list)

    @property
    def busy_percent(self):
        total = sum(self.workers.values())
        return round(100 * self.workers.get("busy", 0) / total) if total else None


@dataclass
class Report:
    flavour: str
    emperor: Optional[int]       # the Emperor's master pid, None when none runs
    emperor_problem: Optional[str]
    apps: list
    vassals: int = 0
    unknown: list = field(default_factory=list)  # names asked for that are no app

    def as_json(self):
        data = asdict(self)
        for app in data["apps"]:
            found = next(a for a in self.apps if a.name == app["name"])
            app["busy_percent"] = found.busy_percent
        return data


# The kernel's view -----------------------------------------------------------------------

def _clock_ticks():
    return os.sysconf("SC_CLK_TCK")


def process_start(pid, proc=emperor.PROC):
    """When PID started, seconds since the epoch (from /proc/PID/stat and /proc/uptime)."""
    with open(f"{proc}/{pid}/stat", encoding="utf-8", errors="replace") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    with open(f"{proc}/uptime", encoding="ascii") as handle:
        since_boot = float(handle.read().split()[0])
    return time.time() - since_boot + int(fields[19]) / _clock_ticks()


def _uid(pid, proc=emperor.PROC):
    """The real uid PID runs as (the kernel's /proc/PID/status), or None."""
    try:
        return emperor._proc_uids(pid, proc)[0]
    except (OSError, ValueError, IndexError):
        return None


def memory(pids, proc=emperor.PROC):
    """(RSS, PSS) in bytes summed over PIDS (smaps_rollup: the kernel's, root reads any)."""
    rss = pss = 0
    for pid in pids:
        try:
            with open(f"{proc}/{pid}/smaps_rollup", encoding="ascii", errors="replace") as handle:
                for line in handle:
                    key, _, rest = line.partition(":")
                    if key in ("Rss", "Pss"):
                        kib = int(rest.split()[0]) * 1024
                        rss, pss = (rss + kib, pss) if key == "Rss" else (rss, pss + kib)
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile (a worker re-forked)
    return rss, pss


NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY = 4, 20
NLM_F_REQUEST, NLM_F_DUMP, NLMSG_ERROR, NLMSG_DONE = 1, 0x300, 2, 3
UDIAG_SHOW_VFS, UDIAG_SHOW_RQLEN, UNIX_DIAG_VFS, UNIX_DIAG_RQLEN = 0x2, 0x10, 1, 4
TCP_LISTEN = 10


def _kernel_dev(dev):
    """The kernel's dev_t (MAJOR << 20 | MINOR, as sock_diag gives it) as os.stat's st_dev."""
    return os.makedev(dev >> 20, dev & 0xFFFFF)


def unix_listen_queues():
    """{(st_dev, st_ino) of the socket file: (queued, backlog)} of every unix listener in this
    network namespace, as the kernel reports them (sock_diag); {} when it cannot be asked."""
    request = struct.pack("=BBHIIII", socket.AF_UNIX, 0, 0, 1 << TCP_LISTEN, 0,
                          UDIAG_SHOW_VFS | UDIAG_SHOW_RQLEN, 0xFFFFFFFF) + struct.pack("=I", 0xFFFFFFFF)
    header = struct.pack("=IHHII", 16 + len(request), SOCK_DIAG_BY_FAMILY,
                         NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
    found = {}
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as sock:
            sock.settimeout(1.0)
            sock.sendall(header + request)
            while True:
                data, offset = sock.recv(1 << 16), 0
                while offset + 16 <= len(data):
                    length, kind = struct.unpack_from("=IH", data, offset)
                    if kind in (NLMSG_DONE, NLMSG_ERROR) or length < 16:
                        return found
                    vfs = queue = None
                    at, end = offset + 16 + 16, offset + length
                    while at + 4 <= end:
                        attr_len, attr_type = struct.unpack_from("=HH", data, at)
                        if attr_len < 4:
                            break
                        if attr_type == UNIX_DIAG_VFS:
                            vfs = struct.unpack_from("=II", data, at + 4)
                        elif attr_type == UNIX_DIAG_RQLEN:
                            queue = struct.unpack_from("=II", data, at + 4)
                        at += (attr_len + 3) & ~3
                    if vfs and queue:
                        found[(_kernel_dev(vfs[1]), vfs[0])] = queue
                    offset += (length + 3) & ~3
    except (OSError, struct.error):
        return {}


def listen_queue(path, queues):
    """(queued, backlog) of the unix socket file PATH, or (None, None)."""
    try:
        st = os.stat(path)
    except OSError:
        return None, None
    if not stat.S_ISSOCK(st.st_mode):
        return None, None
    return queues.get((st.st_dev, st.st_ino), (None, None))


# The vassal's own stats ---------------------------------------------------------------------

def read_vassal_stats(path, vassal, timeout=STATS_TIMEOUT, limit=STATS_LIMIT):
    """(stats dict, None) from the stats server at PATH if the kernel says VASSAL's master
    listens there (the pid that called listen()); (None, why not) otherwise. Nothing is read from
    another listener."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            pid, uid, _ = emperor._peer_uid(sock)
            if pid != vassal.pid:
                return None, (f"{path} is served by pid {pid} (uid {uid}), not by the app's "
                              f"master (pid {vassal.pid}): ignored")
            with sock.makefile("rb") as stream:
                data = stream.read(limit + 1)
    except FileNotFoundError:
        return None, f"no stats server at {path}"
    except OSError as err:
        return None, f"{path}: {err.strerror or err}"
    if len(data) > limit:
        return None, f"{path}: more than {limit} bytes of stats"
    try:
        stats = json.loads(data.decode("utf-8"))
    except ValueError:
        return None, f"{path}: not JSON"
    return (stats, None) if isinstance(stats, dict) else (None, f"{path}: not a JSON object")


def _number(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def apply_vassal_stats(app, stats):
    """Fill APP's worker figures from a vassal's stats JSON."""
    workers = [w for w in stats.get("workers") or () if isinstance(w, dict)]
    counts = {}
    for worker in workers:
        status = safetext.visible(str(worker.get("status", "unknown")))[:20]
        counts[status] = counts.get(status, 0) + 1
    app.workers = dict(sorted(counts.items()))
    app.requests = sum(int(_number(w.get("requests"))) for w in workers)
    app.exceptions = sum(int(_number(w.get("exceptions"))) for w in workers)
    app.harakiri = sum(int(_number(w.get("harakiri_count"))) for w in workers)
    app.worker_respawns = sum(max(0, int(_number(w.get("respawn_count"))) - 1) for w in workers)
    timed = [(int(_number(w.get("requests"))), _number(w.get("avg_rt"))) for w in workers]
    served = sum(n for n, _ in timed)
    if served:
        app.avg_response_seconds = round(sum(n * rt for n, rt in timed) / served / 1e6, 6)


# Exit reasons ---------------------------------------------------------------------------------

_EXIT_MARKS = ("DAMN ! worker", "HARAKIRI", "OOPS ! failed loading app", "GAME OVER",
               "MEMORY", "killed by signal", "goodbye to uWSGI")


def last_exit(lines, exceptions=True):
    """The last line among LINES (made visible) that says why a process of the app ended:
    with EXCEPTIONS (an app that is down), the last Python exception first."""
    for line in reversed(lines if exceptions else ()):
        if wait._EXCEPTION.match(line):
            return line[:200]
    for line in reversed(lines):
        if any(mark in line for mark in _EXIT_MARKS):
            return line[:200]
    return None


# Putting it together --------------------------------------------------------------------------

def _blacklist(stats):
    entries = {}
    for entry in (stats or {}).get("blacklist") or ():
        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
            entries[entry["id"]] = entry
    return entries


def _app_state(app, vassal, blacklisted):
    """The state of an enabled app from the Emperor's view of it (and the kernel's uptime)."""
    attempts = int(_number((blacklisted or {}).get("attempt"))) + 1 if blacklisted else 0
    app.failed_starts = attempts
    if vassal is not None and vassal.pid > 1:
        steady = app.uptime is not None and app.uptime >= STEADY
        if vassal.accepting and (steady or not blacklisted):
            return State.RUNNING if steady else State.STARTING
    if attempts >= 2:
        return State.CRASH_LOOPING
    if vassal is not None or blacklisted:
        return State.STARTING
    return State.STOPPED


def _down_details(app, ini, logdir, uwsgi, check_ini):
    """Why an app that is down is down: its ini refused, the end of its log."""
    problem = inicheck.check(ini, uwsgi) if check_ini else None
    if problem and not problem.startswith("cannot check it"):
        app.state = State.REFUSED.value
        app.detail = safetext.visible(problem)
    lines = wait.read_log_tail(os.path.join(logdir, app.name + ".log"), EXIT_LINES)
    app.last_exit = last_exit(lines) or app.last_exit
    app.log_tail = lines[-LOG_LINES:]


def _listed(name, state, listed, detail):
    """An App from a row of sites.listing: who enabled it apart from what is wrong with it."""
    app = App(name, state, enabled=listed != "disabled")
    if detail.startswith("by "):
        app.who = detail.removeprefix("by ")
    else:
        app.detail = detail
    return app


def gather(names=None, *, confdir=None, statedir=None, environ=os.environ, check_ini=True,
           proc=emperor.PROC):
    """The Report of every app (or of NAMES): each enabled or disabled app in confdir."""
    confdir = paths.confdir(confdir, environ)
    statedir = paths.statedir(statedir, environ)
    flavour = paths.flavour(environ)
    rows = sites.listing(confdir, statedir)
    known = {row[0] for row in rows}
    wanted = list(dict.fromkeys(names)) if names else None
    unknown = [n for n in wanted or () if n not in known]
    rows = [row for row in rows if wanted is None or row[0] in wanted]
    if flavour is paths.Flavour.DEBIAN:
        apps = [_listed(name, listed, listed, detail) for name, listed, detail in rows]
        return Report(flavour.value, None, "Debian's uwsgi package has no Emperor stats: "
                      "no state, workers or requests to show", apps, unknown=unknown)
    stats = emperor.read_stats(paths.stats_socket(environ))
    master = emperor.master(environ, proc) if stats is None else emperor_master(stats, proc)
    problem = None
    if stats is None:
        problem = (f"the Emperor (pid {master}) does not answer on {paths.stats_socket(environ)}"
                   if master else "no Emperor running")
        if master and os.geteuid() != 0:
            problem += " (only root may connect: run it as root)"
    vassals = emperor.vassals(stats)
    by_name = {v.name: v for v in vassals if not v.zerg}
    blacklist = _blacklist(stats)
    tree = emperor.process_tree(proc) if vassals else {}
    queues = unix_listen_queues() if vassals else {}
    rundir, logdir, uwsgi = paths.rundir(environ), paths.logdir(environ), paths.uwsgi_bin(environ)
    now = time.time()
    apps = []
    for name, listed, detail in rows:
        app = _listed(name, State.DISABLED.value, listed, detail)
        apps.append(app)
        if not app.enabled:
            continue
        ini = sites.available_path(confdir, name)
        if listed == "broken":
            app.state = State.REFUSED.value
            _down_details(app, ini, logdir, uwsgi, check_ini=False)
            continue
        vassal = by_name.get(name)
        if stats is not None:
            app.zergs = sum(1 for v in vassals if v.zerg and v.name.startswith(name + paths.SUFFIX))
        if vassal is not None:
            app.reloads = vassal.respawns
        started = None
        if vassal is not None and vassal.pid > 1:
            try:
                started = round(process_start(vassal.pid, proc), 3)
                app.uptime = round(max(0.0, now - started), 3)
            except (OSError, ValueError, IndexError):
                pass
        state = State.STOPPED if stats is None else _app_state(
            app, vassal, blacklist.get(name + paths.SUFFIX))
        app.state = state.value
        if stats is None:
            app.detail = problem
        if state in (State.RUNNING, State.STARTING) and started is not None:
            # A vassal that is down may be in the middle of one more try: its pid, memory
            # and figures would be those of a process about to exit.
            app.pid, app.uid, app.started = vassal.pid, _uid(vassal.pid, proc), started
            pids = emperor.descendants(app.pid, tree)
            app.rss_bytes, app.pss_bytes = memory(pids, proc)
            app.listen_queue, app.listen_backlog = listen_queue(
                sockets.app_socket(rundir, name), queues)
            vstats, app.stats_problem = read_vassal_stats(
                os.path.join(rundir, name + STATS_SUFFIX), vassal)
            if vstats is not None:
                apply_vassal_stats(app, vstats)
                if app.uptime and app.requests is not None:
                    app.requests_per_second = round(app.requests / app.uptime, 2)
        else:
            app.uptime = None
        if state.down or state is State.STARTING and app.failed_starts:
            _down_details(app, ini, logdir, uwsgi, check_ini and state.down and stats is not None)
        elif app.worker_respawns or app.reloads:
            app.last_exit = last_exit(wait.read_log_tail(os.path.join(logdir, name + ".log"),
                                                         EXIT_LINES), exceptions=False)
    return Report(flavour.value, master, problem, apps, len(vassals), unknown)


def emperor_master(stats, proc=emperor.PROC):
    """The Emperor's master pid: the parent of the Emperor process its STATS name."""
    pid = emperor.emperor_pid(stats)
    try:
        return emperor.parent(pid, proc) if pid else None
    except (OSError, ValueError, IndexError):
        return None


# What people read ------------------------------------------------------------------------------

def _duration(seconds):
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _bytes(value):
    if value is None:
        return "-"
    for unit in ("B", "K", "M", "G"):
        if value < 1024 or unit == "G":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return "-"


def _or_dash(value, fmt="{}"):
    return "-" if value is None else fmt.format(value)


COLUMNS = ("APP", "STATE", "PID", "UP", "BUSY", "REQUESTS", "REQ/S", "EXC", "AVG-RT", "RSS",
           "PSS", "RESPAWNS", "QUEUE", "ZERGS")


def _row(app):
    if not app.enabled:
        return [app.name, app.state] + ["-"] * (len(COLUMNS) - 2)
    total = sum(app.workers.values())
    busy = f"{app.workers.get('busy', 0)}/{total}" if total else "-"
    rt = app.avg_response_seconds
    rt = "-" if rt is None else f"{rt * 1e6:.0f}us" if rt < 0.001 else f"{rt * 1000:.1f}ms"
    respawns = (app.worker_respawns or 0) + (app.reloads or 0) + (app.failed_starts or 0)
    queue = "-" if app.listen_queue is None else f"{app.listen_queue}/{app.listen_backlog}"
    return [app.name, app.state, _or_dash(app.pid), _duration(app.uptime), busy,
            _or_dash(app.requests), _or_dash(app.requests_per_second, "{:.2f}"),
            _or_dash(app.exceptions), rt, _bytes(app.rss_bytes), _bytes(app.pss_bytes),
            str(respawns), queue, _or_dash(app.zergs)]


def text_lines(report):
    """The status view: a table, one line per app, then what explains the lines."""
    out = []
    if report.emperor_problem:
        out.append(f"Emperor: {report.emperor_problem}")
    else:
        out.append(f"Emperor: running (pid {report.emperor}), {report.vassals} vassals")
    rows = [list(COLUMNS)] + [_row(app) for app in report.apps]
    if report.flavour == paths.Flavour.DEBIAN.value:
        rows = [r[:2] for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    for app in report.apps:
        notes = []
        if app.detail and app.state != State.DISABLED.value:
            notes.append(app.detail)
        if app.failed_starts:
            notes.append(f"exited {app.failed_starts} times before serving a request")
        if app.last_exit:
            notes.append(f"last exit: {app.last_exit}")
        if app.stats_problem:
            notes.append(f"no worker figures: {app.stats_problem}")
        if notes or app.log_tail:
            out.append("")
            out.append(f"{app.name}: " + "; ".join(notes) if notes else f"{app.name}:")
            out.extend(f"  | {line}" for line in app.log_tail)
    return out


# The monitoring check ---------------------------------------------------------------------------

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
CHECK_NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}


@dataclass(frozen=True)
class Thresholds:
    """Alert when a count is above the threshold (Nagios ranges "N": OK from 0 to N)."""

    warn_down: Optional[int] = None
    crit_down: Optional[int] = 0
    warn_crashloop: Optional[int] = None
    crit_crashloop: Optional[int] = 0
    warn_busy: Optional[int] = 80   # percent of an app's workers busy
    crit_busy: Optional[int] = 95


def _level(value, warn, crit):
    if crit is not None and value > crit:
        return CRITICAL
    if warn is not None and value > warn:
        return WARNING
    return OK


def _t(value):
    return "" if value is None else str(value)


def check(report, limits=Thresholds()):
    """(exit status, the one line) of the monitoring check, perfdata after '|'."""
    if report.flavour == paths.Flavour.DEBIAN.value:
        return UNKNOWN, ("UWSGI UNKNOWN: Debian's uwsgi package has no Emperor stats to check "
                         "(install uwsgi-emperor for --check)")
    if report.emperor_problem:
        status = CRITICAL if report.emperor is None else UNKNOWN
        return status, f"UWSGI {CHECK_NAMES[status]}: {report.emperor_problem}"
    enabled = [a for a in report.apps if a.enabled]
    down = [a for a in enabled if State(a.state).down]
    looping = [a for a in enabled if a.state == State.CRASH_LOOPING.value]
    running = [a for a in enabled if a.state == State.RUNNING.value]
    status = max(_level(len(down), limits.warn_down, limits.crit_down),
                 _level(len(looping), limits.warn_crashloop, limits.crit_crashloop))
    problems = [f"{a.name} {a.state}" for a in down]
    perf = [f"apps={len(enabled)};;;0", f"running={len(running)};;;0;{len(enabled)}",
            f"down={len(down)};{_t(limits.warn_down)};{_t(limits.crit_down)};0;{len(enabled)}",
            f"crash_looping={len(looping)};{_t(limits.warn_crashloop)};"
            f"{_t(limits.crit_crashloop)};0;{len(enabled)}"]
    for app in running:
        if app.stats_problem:
            status = max(status, WARNING)
            problems.append(f"{app.name} without worker figures ({app.stats_problem})")
            continue
        busy = app.busy_percent
        if busy is None:
            continue
        level = _level(busy, limits.warn_busy, limits.crit_busy)
        status = max(status, level)
        if level:
            problems.append(f"{app.name} {busy}% of workers busy")
        perf.append(f"{app.name}_busy={busy}%;{_t(limits.warn_busy)};{_t(limits.crit_busy)};0;100")
        perf.append(f"{app.name}_requests={app.requests}c")
    summary = "; ".join(problems) if problems else (
        f"{len(running)} of {len(enabled)} apps running")
    return status, f"UWSGI {CHECK_NAMES[status]}: {summary} | {' '.join(perf)}"

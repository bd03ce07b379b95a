"""The Emperor and every app as Prometheus metrics, for the node exporter's textfile collector.

`uwsgi-query --metrics` prints them; with `--output FILE` (uwsgi-emperor-metrics.service,
every 15 s from its timer) the text goes to a new file in FILE's directory (O_CREAT|O_EXCL,
relative to a descriptor of that directory, checked to be root's alone) and is renamed over
FILE, so the exporter never reads half a file and no name another user made is followed.
Names follow Prometheus conventions: `_total` counters, base units (seconds, bytes), an
`app` label. Counters start again at 0 when an app's vassal starts again (rate() knows).
"""

import os
import secrets

from . import safeopen, status

TEXTFILE = "/var/lib/prometheus/node-exporter/uwsgi-emperor.prom"

# (name, type, help, App attribute or function of App); None values are left out.
APP_SERIES = (
    ("uwsgi_app_up", "gauge", "1 when the app is running (accepting for a while), else 0",
     lambda a: int(a.state == status.State.RUNNING.value)),
    ("uwsgi_app_start_time_seconds", "gauge", "When the app's vassal master started, since the epoch",
     lambda a: None if a.started is None else round(a.started, 3)),
    ("uwsgi_app_requests_total", "counter", "Requests the app's workers served", "requests"),
    ("uwsgi_app_exceptions_total", "counter", "Exceptions the app raised", "exceptions"),
    ("uwsgi_app_harakiri_total", "counter", "Workers killed by harakiri", "harakiri"),
    ("uwsgi_app_worker_respawns_total", "counter", "Workers respawned by the app's master",
     "worker_respawns"),
    ("uwsgi_app_reloads_total", "counter", "Graceful reloads of the vassal by the Emperor", "reloads"),
    ("uwsgi_app_failed_starts", "gauge",
     "Exits of the vassal before it served a request, since it last did", "failed_starts"),
    ("uwsgi_app_average_response_time_seconds", "gauge", "Average response time of the workers",
     "avg_response_seconds"),
    ("uwsgi_app_resident_memory_bytes", "gauge", "RSS of the vassal's processes (sum)", "rss_bytes"),
    ("uwsgi_app_proportional_memory_bytes", "gauge", "PSS of the vassal's processes (sum)",
     "pss_bytes"),
    ("uwsgi_app_listen_queue", "gauge",
     "Connections waiting on the app's unix socket (the kernel's count)", "listen_queue"),
    ("uwsgi_app_listen_queue_max", "gauge", "The backlog of the app's unix socket", "listen_backlog"),
    ("uwsgi_app_zergs", "gauge", "Zerg instances attached to the app", "zergs"),
)


def _value(app, source):
    return source(app) if callable(source) else getattr(app, source)


def _label(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _series(out, name, kind, text, samples):
    if not samples:
        return
    out.append(f"# HELP {name} {text}")
    out.append(f"# TYPE {name} {kind}")
    for labels, value in samples:
        rendered = ",".join(f'{k}="{_label(v)}"' for k, v in labels)
        out.append(f"{name}{{{rendered}}} {value}" if rendered else f"{name} {value}")


def render(report):
    """The textfile (str) for REPORT (status.gather())."""
    out = []
    up = int(report.emperor_problem is None)
    _series(out, "uwsgi_emperor_up", "gauge", "1 when the Emperor answers on its stats socket",
            [((), up)])
    if up:
        _series(out, "uwsgi_emperor_vassals", "gauge", "Vassals the Emperor runs (zergs too)",
                [((), report.vassals)])
    apps = [a for a in report.apps if a.enabled]
    _series(out, "uwsgi_app_state", "gauge", "1 for the state the app is in",
            [((("app", a.name), ("state", s.value)), int(a.state == s.value))
             for a in apps for s in status.State if s is not status.State.DISABLED])
    for name, kind, text, source in APP_SERIES:
        _series(out, name, kind, text,
                [((("app", a.name),), v) for a in apps if (v := _value(a, source)) is not None])
    _series(out, "uwsgi_app_workers", "gauge", "Workers of the app by status (idle, busy, cheap...)",
            [((("app", a.name), ("status", s)), n) for a in apps for s, n in a.workers.items()])
    return "\n".join(out) + "\n"


def write_textfile(text, path=TEXTFILE):
    """Replace PATH with TEXT atomically: a new file (O_EXCL, never a name somebody else
    made) in PATH's directory, renamed over PATH. The directory must be root's alone
    (Debian's package makes it root:root 0755; its parent is the prometheus user's, who
    could otherwise put a link or a directory of its own there): refused (safeopen.Refused,
    an OSError) if not."""
    dir_fd = safeopen.root_only_dir(os.path.dirname(path) or ".")
    try:
        name = os.path.basename(path)
        for _ in range(100):
            temp = f".{name}.{secrets.token_hex(6)}.tmp"  # not *.prom: the exporter skips it
            try:
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                             | os.O_CLOEXEC, 0o644, dir_fd=dir_fd)
                break
            except FileExistsError:
                continue
        else:
            raise FileExistsError(f"{path}: no free temporary name")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fchmod(handle.fileno(), 0o644)
                os.fsync(handle.fileno())
            os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            os.unlink(temp, dir_fd=dir_fd)
            raise
    finally:
        os.close(dir_fd)

"""Figure 8: one restart of the Emperor under load through nginx, this package vs Debian's
uWSGI: requests answered, requests failed and the slowest request.

The hello app through nginx, CONNS keep-alive connections of the in-root client (every
request's time and whether it got its 200, as figure 3), for restart_before_s; then the
Emperor's restart, once (RESTART); the load goes on until restart_after_s after the restart
command returned. The Emperor's master must be a new process afterwards.

- this package: `/etc/init.d/uwsgi-emperor restart`, as the bench runs it under its init
  script (its socket keeper holds every app's listening socket across it, README "Upgrades,
  reload and restart");
- Debian's uWSGI: what `systemctl restart uwsgi-emperor` does with its unit, as the bench
  runs its emperor the way that unit does: SIGQUIT (KillSignal) to the emperor, which stops
  its vassals (their sockets go with them), then ExecStart again. Not its LSB init script:
  the emperor writes its pidfile world-writable, so that script's stop refuses it
  ("start-stop-daemon: matching on world-writable pidfile /run/uwsgi-emperor.pid is
  insecure") and its `restart` restarts nothing, exiting 0 (bookworm's 2.0.21-5.1).

A request fails when its answer is not 200 (nginx's 502 while no socket is there) or it gets
none (the client's timeout is 30 s). Afterwards each side must serve hello and slow again.
"""

import shlex

from .log import say
from .systems import LIB, Side, wait_running

CONNS = 16
HOST = "hello.test"
EMPEROR = {"ours": "'[u]wsgi --ini /etc/uwsgi/emperor.ini'", "debian": Side.EMPEROR}
# Debian's restart as a script in the root: a shell whose own command line held the
# emperor's would match its pgrep.
DEBIAN_RESTART = f"{LIB}/debian-restart"
DEBIAN_RESTART_SH = f"""#!/bin/sh
# What `systemctl restart uwsgi-emperor` does with Debian's unit: KillSignal, then ExecStart.
kill -QUIT $(pgrep -o -f {Side.EMPEROR})
while pgrep -f {Side.EMPEROR} >/dev/null; do sleep 0.05; done
setsid /usr/bin/uwsgi --ini /etc/uwsgi-emperor/emperor.ini >>/var/log/uwsgi/emperor.log 2>&1 </dev/null &
"""
RESTART = {"ours": "/etc/init.d/uwsgi-emperor restart", "debian": f"/bin/sh {DEBIAN_RESTART}"}


def summary(load):
    """What one load across the restart (inroot.py load --cmd) counts: requests ok and
    failed, the slowest request (s, answered or not), when the failures came (s since the
    load's start) and the restart's own times."""
    records, cmd = load["records"], load["cmd"]
    failed = [r for r in records if not r[2]]
    return {
        "requests": len(records),
        "ok": len(records) - len(failed),
        "failed": len(failed),
        "slowest_s": round(max((r[1] for r in records), default=0), 4),
        "slowest_ok_s": round(max((r[1] for r in records if r[2]), default=0), 4),
        "first_failure_s": round(min(r[0] for r in failed), 3) if failed else None,
        "last_failure_s": round(max(r[0] + r[1] for r in failed), 3) if failed else None,
        "restart_started_s": cmd["started"],
        "restart_s": round(cmd["ended"] - cmd["started"], 3),
        "restart_status": cmd["status"],
        "load_s": round(load["seconds"], 3),
    }


def emperor_pid(side):
    return side.out(f"pgrep -o -f {EMPEROR[side.name]}", check=False)


def under_load(side, scale):
    """One restart of SIDE's Emperor under the load; summary() of it."""
    before = emperor_pid(side)
    load = side.inroot(f"load --host {HOST} --conns {CONNS} --seconds {scale.restart_after_s}"
                       f" --cmd {shlex.quote(RESTART[side.name])} --cmd-at {scale.restart_before_s}",
                       timeout=300)
    result = summary(load)
    if result["restart_status"] != 0:
        raise RuntimeError(f"figure 8: {side.name}: the restart exited {result['restart_status']}")
    serving(side)
    after = emperor_pid(side)
    if not before or not after or before == after:
        raise RuntimeError(f"figure 8: {side.name}: the Emperor's master was {before!r}, then {after!r}")
    say(f"figure 8: {side.name}: {result['ok']} ok, {result['failed']} failed, slowest "
        f"{result['slowest_s']:.3f} s; the restart took {result['restart_s']:.2f} s")
    return result


def serving(side):
    """Until hello and slow answer 200 through nginx again."""
    up = side.inroot("up-time hello.test slow.test --timeout 60 --cmd true", timeout=120)
    if up["missing"]:
        raise RuntimeError(f"figure 8: {side.name}: {up['missing']} do not answer after the restart")


def run(sides, scale):
    result = {"connections": CONNS, "host": HOST, "before_s": scale.restart_before_s,
              "after_s": scale.restart_after_s}
    wait_running(sides["ours"], 60)
    sides["debian"].write(DEBIAN_RESTART, DEBIAN_RESTART_SH)
    for name in ("ours", "debian"):
        result[name] = under_load(sides[name], scale)
        result[name]["command"] = RESTART[name]
    wait_running(sides["ours"], 60)
    return result

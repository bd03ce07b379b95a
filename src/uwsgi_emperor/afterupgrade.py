"""After an upgrade (or a downgrade) of the package: every process onto the new uwsgi.

Run by the postinst, through /usr/lib/uwsgi-emperor/reload-after-upgrade OLD NEW.

An upgrade replaces /opt/venvs/uwsgi-emperor/bin/uwsgi under a running Emperor. From a
version with the socket keeper (HELD_SINCE and later) the service is restarted: the keeper
holds every app's socket across it (keeper.py), so no request is refused and afterwards
every process, the Emperor's and the keeper's included, runs what is on disk. From an older
version the Emperor runs without a keeper and a restart would refuse requests for seconds:
it gets a graceful reload instead (SIGHUP to the Emperor process; each vassal's master waits
for its workers' requests and re-executes the new binary, its socket kept open), and its own
two processes keep the previous binary until the next restart; said on the installer's
output and in emperor.log, never silently.

The Emperor is found only as emperor.master() finds it (root's pid file, a root process),
and emperor.log is written only on a descriptor opened here and checked (safeopen), in a
directory only root can write; otherwise the line goes to the installer's output alone.
"""

import os
import subprocess
import sys
import time

from . import emperor, paths, safeopen

EMPEROR_LOG = "emperor.log"
RELOAD_HINT = ("reload them gracefully with: systemctl reload uwsgi-emperor "
               "(or /etc/init.d/uwsgi-emperor reload)")
RESTART_HINT = ("restart them with: systemctl restart uwsgi-emperor "
                "(or /etc/init.d/uwsgi-emperor restart); no request is refused")
# The first version whose service runs the socket keeper (debian/changelog).
HELD_SINCE = "2.0.31-6~"


def has_keeper(version, run=subprocess.run):
    return run(["dpkg", "--compare-versions", version, "ge", HELD_SINCE]).returncode == 0


def say(text):
    print(f"uwsgi-emperor: {text}", file=sys.stderr)


def append_to_emperor_log(logdir, version, text, now=time.time):
    """One line at the end of LOGDIR/emperor.log, as uWSGI's log-date writes them; False when
    the log is not root's alone (a statoverride, a link, a hard link) and nothing was written."""
    line = f"{time.strftime('%a %b %e %H:%M:%S %Y', time.localtime(now()))} - " \
           f"[uwsgi-emperor {version}] {text}\n"
    try:
        dir_fd = safeopen.root_only_dir(logdir)
    except OSError:
        return False
    try:
        fd = safeopen.open_checked(EMPEROR_LOG, os.O_WRONLY | os.O_APPEND, owner=0,
                                   single_link=True, dir_fd=dir_fd)
    except OSError:
        return False
    finally:
        os.close(dir_fd)
    try:
        os.write(fd, line.encode("utf-8", "replace"))
    finally:
        os.close(fd)
    return True


def reload_after_upgrade(old, new, *, environ=os.environ, find_master=emperor.master,
                         run=subprocess.run):
    master = find_master()
    if master is None:
        return 0  # nothing runs: the next start is on the new binary
    logdir = paths.logdir(environ)
    if has_keeper(old, run):
        if not service("restart", hint=RESTART_HINT, run=run, old=old, new=new,
                       master=master, logdir=logdir):
            return 0
        msg = (f"upgraded from {old}: the Emperor and every app restarted onto the new uwsgi, "
               "their sockets held (no request refused)")
    else:
        if not service("reload", hint=RELOAD_HINT, run=run, old=old, new=new,
                       master=master, logdir=logdir):
            return 0
        msg = f"upgraded from {old}: every app is reloaded gracefully onto the new uwsgi"
        try:
            deleted = emperor.exe(master).endswith(" (deleted)")
        except OSError:
            deleted = False
        if deleted:
            msg += (f"; the Emperor itself (pid {master}) keeps running the previous binary "
                    "until its next restart, which stops every app for seconds (see Upgrades "
                    "in /usr/share/doc/uwsgi-emperor/README.md)")
    say(msg + ".")
    append_to_emperor_log(logdir, new, msg)
    return 0


def service(action, *, hint, run, old, new, master, logdir):
    """ACTION (restart, reload) the service through invoke-rc.d; False, said on the
    installer's output and in emperor.log with HINT, when it did not happen."""
    # invoke-rc.d honours policy-rc.d (chroots, image builds); it reports a denial as success
    # unless asked to disclose it.
    rc = run(["invoke-rc.d", "--disclose-deny", "uwsgi-emperor", action],
             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    if rc == 0:
        return True
    why = "the local policy (policy-rc.d) forbade it" if rc == 101 else "it failed"
    say(f"did not {action} the Emperor (pid {master}): {why}; every app still runs {old}.")
    say(hint)
    append_to_emperor_log(logdir, new, f"upgraded from {old}, but no {action} ({why}): "
                                       f"every app still runs {old}")
    return False


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    old, new = (list(argv) + ["?", "?"])[:2]
    return reload_after_upgrade(old, new)


if __name__ == "__main__":
    sys.exit(main())

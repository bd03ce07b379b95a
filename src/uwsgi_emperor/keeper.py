"""The socket keeper: the service's main process, holding every app's listening socket while
the Emperor under it stops and starts.

    python3 -I -m uwsgi_emperor.keeper [--defaults FILE] [-- EMPEROR_OPTS...]

It runs the Emperor (uwsgi --ini /etc/uwsgi/emperor.ini) as its child, with every vassal
started through vassalstart.py, which asks the keeper, on a socket only root can reach
(/run/uwsgi-emperor/keeper.sock, the client's uid checked with SO_PEERCRED), for the
sockets of its app (heldsockets.py). The keeper binds a socket the first time an app asks,
and holds it until the app is no longer enabled: then it closes it and removes its name.

Across restarts:
- under systemd every held socket is also in the unit's file descriptor store (FDSTORE=1;
  only the main process may send, NotifyAccess=main): `systemctl restart` gives them back
  to the next keeper (LISTEN_FDS), so clients wait in the kernel's queue while the old
  Emperor's vassals finish their requests and the new ones start;
- SIGUSR2 (the init script's restart) stops the Emperor gracefully and re-executes the
  keeper, the held sockets inherited, which starts a new Emperor: the same without systemd.
Both load the binary and the code now on disk: after an upgrade every process is new.

SIGTERM stops the Emperor (its vassals finish their requests: emperor-graceful-shutdown) and
then the keeper; outside a systemd restart the socket names are removed too. SIGHUP reloads
every vassal gracefully (SIGHUP to the Emperor process).
"""

import argparse
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time

from . import afterupgrade, emperor, heldsockets, paths

INHERITED = "UWSGI_EMPEROR_HELD_FDS"  # the held fds across the keeper's own re-exec
TICK = 1.0            # how often released apps are looked for (the Emperor scans every 1 s)
READY_TIMEOUT = 60    # the Emperor's stats socket must answer by then
REQUEST_TIMEOUT = 5
PROCESS_NAME = b"uwsgi-keeper"   # /proc/PID/comm, what the init script matches


def log(text):
    """Under systemd, to the journal (stderr); without it, a line appended to emperor.log
    (opened, checked and closed each time: logrotate's reopen never finds the keeper
    writing to a moved file)."""
    if os.environ.get("JOURNAL_STREAM"):
        print(f"uwsgi-keeper: {text}", file=sys.stderr, flush=True)
    else:
        afterupgrade.append_to_emperor_log(paths.logdir(), "keeper", f"uwsgi-keeper: {text}")


# systemd's own notification socket, in its root-only directory. Sockets are stored only
# there: start-stop-daemon --notify-await (the init script) listens in a directory under
# /tmp that it removes after READY=1, and a name there could then be anybody's.
SYSTEMD_NOTIFY = "/run/systemd/notify"


def sd_notify(address, message, fds=()):
    """Send MESSAGE (and FDS) to the notification socket ADDRESS; False if it is gone."""
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))] \
        if fds else []
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendmsg([message.encode()], ancillary, 0, address)
    except OSError as why:
        log(f"could not notify {address}: {why}")
        return False
    return True


def inherited_fds(environ=os.environ):
    """[(fd, its name in the fd store or None)] handed to this process: by systemd
    (LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES, from the fd store) or by the keeper that
    re-executed itself (INHERITED)."""
    fds = []
    if environ.get("LISTEN_PID") == str(os.getpid()) and environ.get("LISTEN_FDS", "").isdigit():
        fd_names = environ.get("LISTEN_FDNAMES", "").split(":")
        count = int(environ["LISTEN_FDS"])
        fds = [(3 + i, fd_names[i] if i < len(fd_names) else None) for i in range(count)]
    elif environ.get(INHERITED):
        fds = [(int(fd), None) for fd in environ[INHERITED].split() if fd.isdigit()]
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", INHERITED):
        environ.pop(name, None)
    return fds


def restart_pending(run=subprocess.run):
    """True while systemd restarts the unit (the stop of a restart job): the held sockets
    stay in the fd store and their names must stay for the clients that queue."""
    if not os.path.isdir("/run/systemd/system"):
        return False
    try:
        out = run(["systemctl", "list-jobs", "--no-legend", "--plain", emperor.UNIT],
                  capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return True  # cannot tell: keep the names (a stale name only refuses as none would)
    return any(len(f) >= 3 and f[1] == emperor.UNIT and "restart" in f[2]
               for f in (line.split() for line in out.splitlines()))


class Keeper:
    def __init__(self, emperor_args, environ=os.environ):
        self.emperor_args = emperor_args
        self.confdir, self.rundir = paths.confdir(environ=environ), paths.rundir(environ)
        self.control_path = paths.keeper_socket(environ)
        self.stats_path = paths.stats_socket(environ)
        self.uwsgi, self.wrapper = paths.uwsgi_bin(environ), paths.vassal_wrapper(environ)
        self.ini = paths.emperor_ini(environ)
        self.held = {}          # address -> socket.socket
        self.child = None
        self.stopping = None    # None, "stop" or "restart"
        self.signals = []
        self.failed = False
        self.notify = environ.pop("NOTIFY_SOCKET", None)
        self.fd_store = self.notify == SYSTEMD_NOTIFY

    def store(self, message, fds=()):
        if self.fd_store:
            sd_notify(self.notify, message, fds)

    # --- the held sockets -------------------------------------------------------------

    def adopt(self, fds):
        """Hold the listening sockets among FDS ([(fd, fd store name)]); close the rest."""
        for fd, name in fds:
            try:
                sock = socket.socket(fileno=fd)
            except OSError:
                continue
            os.set_inheritable(fd, False)
            address = heldsockets.address_of(sock)
            if address is None or address in self.held or \
                    (name is not None and name != heldsockets.fd_name(address)):
                if name and (address is None or name != heldsockets.fd_name(address)):
                    self.store(f"FDSTOREREMOVE=1\nFDNAME={name}")
                sock.close()
                continue
            self.held[address] = sock
        if self.held:
            log(f"holding {len(self.held)} socket(s) across the restart")

    def get(self, want):
        sock = self.held.get(want.address)
        if sock is None:
            try:
                sock = heldsockets.bind(want, self.rundir)
            except (OSError, KeyError, ValueError) as why:
                log(f"{want.address}: not held, the vassal binds it itself ({why})")
                return None
            self.held[want.address] = sock
            self.store(f"FDSTORE=1\nFDNAME={heldsockets.fd_name(want.address)}", [sock.fileno()])
        return sock

    def release(self, address, unlink=True):
        sock = self.held.pop(address)
        self.store(f"FDSTOREREMOVE=1\nFDNAME={heldsockets.fd_name(address)}")
        sock.close()
        if unlink:
            heldsockets.unlink(address, self.rundir)

    def release_unwanted(self):
        wanted = heldsockets.enabled_wants(self.confdir, self.rundir)
        for address in [a for a in self.held if a not in wanted]:
            log(f"{address}: released (no enabled app serves on it)")
            self.release(address)

    # --- vassals asking for their sockets ----------------------------------------------

    def serve_request(self, conn):
        conn.settimeout(REQUEST_TIMEOUT)
        _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(
            socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
        if uid != 0:
            return
        request = json.loads(conn.recv(4096).decode())
        ini = request.get("ini") if isinstance(request, dict) else None
        name = os.path.basename(ini)[: -len(paths.SUFFIX)] if isinstance(ini, str) \
            and ini.endswith(paths.SUFFIX) else ""
        held = [s for s in (self.get(w) for w in
                            heldsockets.app_wants(self.confdir, name, self.rundir)) if s]
        reply = json.dumps({"addresses": [heldsockets.address_of(s) for s in held]}).encode()
        fds = [s.fileno() for s in held]
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))] \
            if fds else []
        conn.sendmsg([reply], ancillary)

    def listen(self):
        try:
            os.unlink(self.control_path)
        except FileNotFoundError:
            pass
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        old = os.umask(0o177)  # 0600: root alone may connect
        try:
            server.bind(self.control_path)
        finally:
            os.umask(old)
        server.listen(64)
        server.setblocking(False)
        return server

    # --- the Emperor ------------------------------------------------------------------

    def start_emperor(self):
        env = dict(os.environ)  # NOTIFY_SOCKET is already out: no app may notify
        argv = [self.uwsgi, "--ini", self.ini, "--emperor-wrapper", self.wrapper,
                *self.emperor_args]
        self.child = subprocess.Popen(argv, env=env, close_fds=True)

    def signal_emperor_process(self, signum):
        """SIGHUP goes to the Emperor process, the master's only child."""
        tree = emperor.process_tree()
        for pid, ppid in tree.items():
            if ppid == self.child.pid:
                os.kill(pid, signum)

    def run(self, ready_timeout=READY_TIMEOUT):
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR2):
            signal.signal(signum, lambda n, _f: self.signals.append(n))
        # A handler, even one doing nothing, makes SIGCHLD write to the wakeup fd: the
        # Emperor's death is seen at once, not at the next tick.
        signal.signal(signal.SIGCHLD, lambda _n, _f: None)
        server = self.listen()
        selector = selectors.DefaultSelector()
        selector.register(server, selectors.EVENT_READ)
        selector.register(wake_r, selectors.EVENT_READ)
        self.start_emperor()
        ready_by = time.monotonic() + ready_timeout
        ready = False
        next_tick = time.monotonic() + TICK
        while True:
            wait = next_tick - time.monotonic() if ready else 0.1
            for key, _mask in selector.select(timeout=max(0, wait)):
                if key.fileobj is server:
                    self.accept(server)
                else:
                    while True:
                        try:
                            if not os.read(wake_r, 64):
                                break
                        except BlockingIOError:
                            break
            while self.signals:
                self.on_signal(self.signals.pop(0))
            status = self.child.poll()
            if status is not None:
                return self.emperor_exited(status, server)
            now = time.monotonic()
            if not ready:
                if emperor.read_stats(self.stats_path) is not None:
                    ready = True
                    sd_notify(self.notify, f"READY=1\nSTATUS=Emperor pid {self.child.pid}")
                    if not self.fd_store:
                        self.notify = None
                elif now > ready_by:
                    log(f"the Emperor did not answer on its stats socket within {ready_timeout} s")
                    self.failed = True
                    self.on_signal(signal.SIGTERM)
            if now >= next_tick:
                next_tick = now + TICK
                if ready and self.stopping is None:
                    self.release_unwanted()

    def accept(self, server):
        try:
            conn, _ = server.accept()
        except (BlockingIOError, InterruptedError):
            return
        with conn:
            try:
                self.serve_request(conn)
            except (OSError, ValueError) as why:
                log(f"a vassal's request failed: {why}")

    def on_signal(self, signum):
        if signum == signal.SIGHUP:
            self.signal_emperor_process(signal.SIGHUP)
        elif self.stopping is None:
            self.stopping = "restart" if signum == signal.SIGUSR2 else "stop"
            self.child.send_signal(signal.SIGTERM)

    def emperor_exited(self, status, server):
        server.close()
        try:
            os.unlink(self.control_path)
        except OSError:
            pass
        if self.stopping == "restart":
            return self.reexec()
        keep = self.stopping is None or restart_pending()
        if self.stopping is None:
            log(f"the Emperor exited ({status})")
        if keep:
            self.release_unwanted()  # an app disabled in the last second loses its name too
        for address in list(self.held):
            if keep:
                self.held.pop(address).close()  # systemd keeps them in the fd store
            else:
                self.release(address)
        return 0 if self.stopping and not self.failed else 1

    def reexec(self):
        fds = [s.fileno() for s in self.held.values()]
        for fd in fds:
            os.set_inheritable(fd, True)
        os.environ[INHERITED] = " ".join(map(str, fds))
        if self.fd_store:
            os.environ["NOTIFY_SOCKET"] = self.notify
        log(f"restarting: the Emperor stopped, {len(fds)} socket(s) held")
        sys.stderr.flush()
        os.execv(sys.executable, sys.orig_argv)  # the same interpreter flags (-I) and args


def emperor_opts(defaults):
    """EMPEROR_OPTS from the defaults file, as /bin/sh reads it (the init script's way; under
    systemd the unit's EnvironmentFile= passes them on the command line instead)."""
    if not defaults or not os.path.exists(defaults):
        return []
    out = subprocess.run(["/bin/sh", "-c", '. "$1"; printf "%s" "$EMPEROR_OPTS"', "sh", defaults],
                         capture_output=True, text=True, timeout=10)
    return out.stdout.split()


def set_process_name(name=PROCESS_NAME):
    try:
        import ctypes
        ctypes.CDLL(None).prctl(15, name, 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


def main(argv=None):
    parser = argparse.ArgumentParser(prog="uwsgi-keeper")
    parser.add_argument("--defaults", help="read EMPEROR_OPTS from this file (init script)")
    parser.add_argument("emperor_opts", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    opts = [o for o in args.emperor_opts if o != "--"] + emperor_opts(args.defaults)
    set_process_name()
    fds = inherited_fds()
    keeper = Keeper(opts)
    keeper.adopt(fds)
    return keeper.run()


if __name__ == "__main__":
    sys.exit(main())

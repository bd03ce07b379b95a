"""How the Emperor starts a vassal (its emperor-wrapper): with the app's held sockets.

    /usr/lib/uwsgi-emperor/vassal-start UWSGI-ARGS...   (the Emperor's own arguments)

Run as root by the Emperor in place of uwsgi, before the vassal drops to its user. It asks
the socket keeper (keeper.py, on its root-only socket) for the app's sockets, puts them at
fds 3, 4, ... with LISTEN_PID and LISTEN_FDS, as systemd's socket activation does, and
executes the packaged uwsgi with the same arguments: uWSGI takes them as its sockets and
binds none of those addresses itself. Without a keeper (an Emperor started by hand), for a
zerg (NAME.ini:zerg) or when the keeper holds nothing for the app, it executes uwsgi
unchanged and the vassal binds its sockets itself, as uWSGI always does.
"""

import array
import fcntl
import json
import os
import socket
import sys

from . import paths

REQUEST_TIMEOUT = 10
MAX_FDS = 64
# The Emperor's pipes to the vassal: their numbers are in these variables (core/emperor.c).
PIPE_VARIABLES = ("UWSGI_EMPEROR_FD", "UWSGI_EMPEROR_FD_CONFIG")


def ask_keeper(ini, path, timeout=REQUEST_TIMEOUT):
    """The fds the keeper at PATH holds for the app of INI (a list, maybe empty)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(json.dumps({"ini": ini}).encode())
        fds = array.array("i")
        data, ancdata, _flags, _addr = sock.recvmsg(65536, socket.CMSG_SPACE(MAX_FDS * fds.itemsize),
                                                    socket.MSG_CMSG_CLOEXEC)
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
        json.loads(data.decode() or "{}")  # a malformed reply is an error, not "nothing held"
        return list(fds)


def place(fds, environ):
    """Move FDS to 3, 4, ... (inheritable), first moving whatever the Emperor left there
    (its pipes, named in PIPE_VARIABLES) above them."""
    top = 3 + len(fds)
    moved = {}
    for fd in range(3, top):
        if fd in fds:
            continue
        try:
            new = _dup_above(fd, top)
        except OSError:
            continue  # not open
        moved[fd] = new
        os.close(fd)
    for name in PIPE_VARIABLES:
        value = environ.get(name, "")
        if value.isdigit() and int(value) in moved:
            environ[name] = str(moved[int(value)])
    # A socket may itself sit where another one must go: take them all out of the way first.
    high = [_dup_above(fd, top + 64) for fd in fds]
    for fd in fds:
        os.close(fd)
    for target, fd in enumerate(high, 3):
        os.dup2(fd, target, inheritable=True)
        os.close(fd)


def _dup_above(fd, lowest):
    new = fcntl.fcntl(fd, fcntl.F_DUPFD, lowest)
    os.set_inheritable(new, True)
    return new


def config_of(argv):
    """The vassal's own config in the Emperor's arguments: [--inherit/--include/--set ...]
    --ini NAME.ini [--include vassals-include ...] (core/emperor.c); '' for other kinds."""
    for option, value in zip(argv, argv[1:]):
        if option == "--ini":
            return value
    return ""


def main(argv=None, environ=os.environ, execve=os.execve):
    argv = sys.argv[1:] if argv is None else argv
    uwsgi = paths.uwsgi_bin(environ)
    config = config_of(argv)
    fds = []
    if config.endswith(paths.SUFFIX) and os.path.exists(paths.keeper_socket(environ)):
        try:
            fds = ask_keeper(config, paths.keeper_socket(environ))
        except (OSError, ValueError) as why:
            print(f"vassal-start: {config}: the socket keeper did not answer ({why}); "
                  "the vassal binds its own sockets", file=sys.stderr, flush=True)
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        environ.pop(name, None)
    if fds:
        place(fds, environ)
        environ["LISTEN_PID"] = str(os.getpid())
        environ["LISTEN_FDS"] = str(len(fds))
    execve(uwsgi, [uwsgi, *argv], environ)
    return 1


if __name__ == "__main__":
    sys.exit(main())

"""The apps' listening sockets that outlive the Emperor: which an app gets, and binding them.

The socket keeper (keeper.py) holds one listening socket per address an enabled app serves
on and hands each vassal its own at start (vassalstart.py); the vassal takes it as systemd's
socket activation would (LISTEN_FDS), and uWSGI then binds nothing for that address: it
matches the inherited socket to its `socket` option by name (core/socket.c). While the Emperor
restarts, clients wait in the kernel's queue of the held socket instead of being refused.

An address is held only where that name match is exact and binding is safe:
- a unix path directly in the vassals' directory (RUNDIR, /run/uwsgi), bound by root with
  the group of its chown-socket (www-data by default) as effective gid and the umask of its
  chmod-socket (660): root:www-data 0660, nginx (group www-data) connects, and no app can
  rename over or remove the name (the directory is sticky), so a held socket cannot be
  stolen by its path. bind() never follows a link and fails on any existing name; nothing
  is chowned or chmodded by path afterwards;
- a TCP socket written as uWSGI names it, `A.B.C.D:PORT` or `:PORT`.
Anything else (another directory, %-variables, hostnames, IPv6, abstract names, http-socket)
is left to the vassal, which binds it itself as before.
"""

import grp
import hashlib
import ipaddress
import os
import pwd
import socket
import stat
from dataclasses import dataclass

from . import inicheck, names, paths, sockets

DEFAULT_OWNER = "www-data:www-data"   # vassal-defaults.ini: chown-socket
DEFAULT_MODE = 0o660                  # vassal-defaults.ini: chmod-socket
DEFAULT_BACKLOG = 100                 # uWSGI's own default `listen`
# Options whose value is a uwsgi-protocol socket the vassal binds (http-socket speaks
# another protocol: an inherited socket would come back as uwsgi's).
HELD_OPTIONS = ("socket", "uwsgi-socket")


class NotHeld(ValueError):
    """This address is not one the keeper binds; str() says why (the vassal binds it)."""


@dataclass(frozen=True)
class Want:
    """One socket an app serves on, as the keeper would bind it."""

    address: str     # as uWSGI names it: the path, or HOST:PORT
    owner: str = DEFAULT_OWNER
    mode: int = DEFAULT_MODE
    backlog: int = DEFAULT_BACKLOG


def fd_name(address):
    """The name a held socket has in systemd's file descriptor store (FDNAME= allows at most
    255 printable ASCII characters and no ':', which a TCP address has)."""
    return "sock-" + hashlib.sha256(address.encode()).hexdigest()[:40]


def tcp_address(value):
    """(host, port) for a TCP value uWSGI names exactly as written, else None."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    if host == "":
        return "0.0.0.0", int(port)
    try:
        ip = ipaddress.IPv4Address(host)
    except ValueError:
        return None
    if str(ip) != host or host == "0.0.0.0":  # uWSGI names 0.0.0.0 ":PORT"
        return None
    return host, int(port)


def held_address(value, rundir):
    """VALUE (a socket option's value) as the keeper holds it, or raise NotHeld."""
    value = value.strip()
    if not value or any(mark in value for mark in ("%", "$(", "@(", "*", "=")):
        raise NotHeld(f"{value!r} is built by uWSGI itself")
    if value.startswith("/"):
        if os.path.dirname(value) != rundir.rstrip("/"):
            raise NotHeld(f"{value} is not in {rundir}")
        if sockets.too_long(value):
            raise NotHeld(sockets.too_long(value))
        return value
    if tcp_address(value) is None:
        raise NotHeld(f"{value!r} is not a unix path in {rundir} nor A.B.C.D:PORT")
    return value


def _expand(value, name):
    # The two magic variables the package's own inis use for an app's socket.
    return value.replace("%n", name).replace("%N", name) if "%(" not in value else value


def wants(ini_text, name, rundir):
    """(the Wants of app NAME whose ini is INI_TEXT, [why each other socket is not held])."""
    found = {}
    for _number, section, key, value in inicheck.options(ini_text):
        if section == "uwsgi":
            found.setdefault(key.lower().replace("_", "-"), []).append(_expand(value, name))
    owner = (found.get("chown-socket") or [DEFAULT_OWNER])[-1]
    mode_text = (found.get("chmod-socket") or [""])[-1]
    try:
        mode = int(mode_text, 8) if mode_text else DEFAULT_MODE
    except ValueError:
        mode = DEFAULT_MODE
    listen = (found.get("listen") or [""])[-1]
    backlog = int(listen) if listen.isdigit() and int(listen) > 0 else DEFAULT_BACKLOG
    values = [v for option in HELD_OPTIONS for v in found.get(option, ())]
    if "socket" not in found:
        values.append(sockets.app_socket(rundir, name))  # vassal-defaults.ini's default
    held, skipped = [], []
    for value in values:
        try:
            held.append(Want(held_address(value, rundir), owner, mode, backlog))
        except NotHeld as why:
            skipped.append(str(why))
    return held, skipped


def app_wants(confdir, name, rundir):
    """The Wants of the enabled app NAME (apps-enabled/NAME.ini); none if it is not enabled,
    unreadable or not an app name."""
    try:
        names.check_name(name)
    except names.NameError_:
        return []
    path = os.path.join(confdir, paths.ENABLED, name + paths.SUFFIX)
    text, problem = inicheck.read_text(path)
    if problem:
        return []
    return wants(text, name, rundir)[0]


def enabled_wants(confdir, rundir):
    """{address: (app name, Want)} of every enabled app."""
    found = {}
    try:
        entries = sorted(os.listdir(os.path.join(confdir, paths.ENABLED)))
    except OSError:
        return found
    for entry in entries:
        if entry.endswith(paths.SUFFIX):
            name = entry[: -len(paths.SUFFIX)]
            for want in app_wants(confdir, name, rundir):
                found.setdefault(want.address, (name, want))
    return found


def owner_ids(owner):
    """'user[:group]' -> (uid, gid); a user alone takes its primary group. KeyError if unknown."""
    user, _sep, group = owner.partition(":")
    entry = pwd.getpwnam(user) if not user.isdigit() else pwd.getpwuid(int(user))
    gid = entry.pw_gid if not group else (int(group) if group.isdigit() else grp.getgrnam(group).gr_gid)
    return entry.pw_uid, gid


def address_of(sock):
    """The held-address string of a listening socket (what uWSGI would name it), or None."""
    try:
        if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            return None
        name = sock.getsockname()
    except OSError:
        return None
    if sock.family == socket.AF_UNIX:
        return name if isinstance(name, str) and name.startswith("/") else None
    if sock.family == socket.AF_INET:
        host, port = name
        return f":{port}" if host == "0.0.0.0" else f"{host}:{port}"
    return None


class _As:
    """Effective uid/gid and umask for the duration of a block (the keeper is one thread:
    nothing else runs with them)."""

    def __init__(self, uid, gid, umask):
        self.ids, self.umask = (uid, gid), umask

    def __enter__(self):
        self.old_umask = os.umask(self.umask)
        os.setegid(self.ids[1])
        os.seteuid(self.ids[0])

    def __exit__(self, *exc):
        os.seteuid(0)
        os.setegid(0)
        os.umask(self.old_umask)


def bind(want, rundir):
    """A new listening socket for WANT; OSError (or KeyError for an unknown owner) if it
    cannot be bound. A unix path is bound root:GROUP: a stale socket file there (no server
    behind it) is first removed, anything else at the path is left alone."""
    tcp = tcp_address(want.address)
    if tcp is not None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(tcp)
            sock.listen(want.backlog)
        except OSError:
            sock.close()
            raise
        return sock
    if os.path.dirname(want.address) != rundir.rstrip("/"):
        raise NotHeld(f"{want.address} is not in {rundir}")
    _uid, gid = owner_ids(want.owner)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with _As(0, gid, 0o777 & ~want.mode):
            _remove_stale(want.address)
            sock.bind(want.address)
        sock.listen(want.backlog)
    except OSError:
        sock.close()
        raise
    return sock


def _remove_stale(path):
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise FileExistsError(f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        os.unlink(path)  # nobody listens: a leftover (unlink follows no link)
        return
    except OSError:
        return
    finally:
        probe.close()
    raise FileExistsError(f"{path}: a server already listens there")


def unlink(path, rundir):
    """Remove the name of a released unix socket (unlink never follows a link); only a
    socket directly in RUNDIR, never anything else."""
    if not path.startswith("/") or os.path.dirname(path) != rundir.rstrip("/"):
        return False
    try:
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            return False
        os.unlink(path)
    except OSError:
        return False
    return True

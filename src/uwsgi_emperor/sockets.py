"""Socket addresses of an app: its paths, what a uWSGI socket value connects to, and
whether the kernel can bind a unix path.

A unix socket address holds 108 bytes (struct sockaddr_un.sun_path), the last one the
terminating NUL: uWSGI refuses a longer path and the vassal dies at every start. Shared by
uwsgi-newapp (before it writes an ini) and uwsgi-ensite (before it enables one).
"""

import os
import socket

SUN_PATH_MAX = 107
# Options of an app ini whose value can be a unix socket path the app binds or connects to.
PATH_OPTIONS = {"socket", "uwsgi-socket", "http-socket", "zerg-server", "zerg", "stats"}


def app_socket(rundir, name):
    """The socket the vassal defaults give an app (socket = /run/uwsgi/%n.sock)."""
    return os.path.join(rundir, name + ".sock")


def zerg_socket(rundir, name):
    """The zerg server's socket uwsgi-newapp --zerg writes."""
    return os.path.join(rundir, name + "-broodlord.sock")


def unix_path(value):
    """The filesystem path in a uWSGI socket value, or None (TCP, abstract, fd://, a value
    built from %-variables or $(...) that only uWSGI can resolve)."""
    value = value.strip()
    if value.startswith("unix:"):
        value = value[len("unix:"):]
    if not value.startswith("/") or any(mark in value for mark in ("%", "$(", "@(")):
        return None
    return value


def connect_address(value):
    """uWSGI socket syntax -> (family, address) for connect(), or None if we cannot tell:
    unix paths (unix:/path, /path), abstract sockets (@name), HOST:PORT and [v6]:PORT."""
    value = value.strip()
    if value.startswith("unix:"):
        value = value[len("unix:"):]
    if value.startswith("@"):
        return socket.AF_UNIX, "\0" + value[1:]
    if "://" in value:
        return None  # fd://N, an inherited socket; not an address to connect to
    if "/" in value:
        return socket.AF_UNIX, value
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        return None
    host = host.strip("[]") or "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return family, (host, int(port))


def too_long(path, what="socket", hint="use a shorter app name"):
    """None, or a one-line problem if PATH (a unix socket path, or None) does not fit."""
    if path is None:
        return None
    size = len(os.fsencode(path))
    if size <= SUN_PATH_MAX:
        return None
    return (f"{what} path {path} is {size} bytes, more than the {SUN_PATH_MAX} a unix socket "
            f"path can hold: {hint}")

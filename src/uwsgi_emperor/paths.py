"""Where things live on an installed system, and how callers (and tests) move them."""

import enum
import os

CONFDIR = "/etc/uwsgi"
STATEDIR = "/var/lib/uwsgi-emperor"
RUNDIR = "/run/uwsgi"  # the vassals' sockets
LOGDIR = "/var/log/uwsgi"
# Touched by logrotate's postrotate: the Emperor's log master reopens emperor.log (emperor.ini).
LOGROTATE_TRIGGER = "/var/lib/uwsgi-emperor/logrotate.trigger"
# The Emperor's pid file and stats socket: root's directory, not RUNDIR (which www-data
# can write), so nothing there is forged by an app. Named here once (etc/uwsgi/emperor.ini
# and debian/ name them for the Emperor itself).
EMPEROR_RUNDIR = "/run/uwsgi-emperor"
STATS_SOCKET = "emperor-stats.sock"
EMPEROR_PIDFILE = "emperor.pid"
KEEPER_SOCKET = "keeper.sock"  # the socket keeper's, where vassals ask for their sockets
EMPEROR_INI = "/etc/uwsgi/emperor.ini"
# The Emperor's emperor-wrapper: how each vassal gets its held sockets (vassalstart.py).
VASSAL_WRAPPER = "/usr/lib/uwsgi-emperor/vassal-start"
VENV = "/opt/venvs/uwsgi-emperor"
UWSGI_BIN = VENV + "/bin/uwsgi"
DEBIAN_UWSGI_BIN = "/usr/bin/uwsgi"  # Debian's uwsgi-core, for python3-uwsgi-ensite
NGINX_SITES = "/etc/nginx/sites-available"
EMPEROR_DEFAULTS = "/etc/default/uwsgi-emperor"

AVAILABLE = "apps-available"
ENABLED = "apps-enabled"
SUFFIX = ".ini"


class Flavour(enum.Enum):
    """Which uWSGI runs the apps on this host."""

    EMPEROR = "uwsgi-emperor"  # this package: the venv's uwsgi, an Emperor watching apps-enabled
    DEBIAN = "debian"  # Debian's uwsgi package, with the helpers alone (python3-uwsgi-ensite)


def confdir(option=None, environ=os.environ):
    """The configuration directory: --confdir, else $UWSGI_CONFDIR, else /etc/uwsgi."""
    return option or environ.get("UWSGI_CONFDIR") or CONFDIR


def statedir(option=None, environ=os.environ):
    """The state directory: --statedir, else $UWSGI_STATEDIR, else /var/lib/uwsgi-emperor."""
    return option or environ.get("UWSGI_STATEDIR") or STATEDIR


def rundir(environ=os.environ):
    """Where the vassals' sockets are: $UWSGI_RUNDIR or /run/uwsgi."""
    return environ.get("UWSGI_RUNDIR") or RUNDIR


def emperor_rundir(environ=os.environ):
    """Where the Emperor's stats socket and pid file are: $UWSGI_EMPEROR_RUNDIR or EMPEROR_RUNDIR."""
    return environ.get("UWSGI_EMPEROR_RUNDIR") or EMPEROR_RUNDIR


def stats_socket(environ=os.environ):
    """The Emperor's stats server (it writes JSON to whoever connects)."""
    return os.path.join(emperor_rundir(environ), STATS_SOCKET)


def emperor_pidfile(environ=os.environ):
    return os.path.join(emperor_rundir(environ), EMPEROR_PIDFILE)


def keeper_socket(environ=os.environ):
    """The socket keeper's own socket (root's alone): vassals ask it for their sockets."""
    return os.path.join(emperor_rundir(environ), KEEPER_SOCKET)


def emperor_ini(environ=os.environ):
    return environ.get("UWSGI_EMPEROR_INI") or EMPEROR_INI


def vassal_wrapper(environ=os.environ):
    return environ.get("UWSGI_EMPEROR_WRAPPER") or VASSAL_WRAPPER


def logdir(environ=os.environ):
    """Where vassal logs are: $UWSGI_LOGDIR or /var/log/uwsgi."""
    return environ.get("UWSGI_LOGDIR") or LOGDIR


def uwsgi_bin(environ=os.environ):
    """The packaged uwsgi binary ($UWSGI_BIN overrides it, for tests against an unpacked .deb).

    Without the venv, on a host that runs Debian's own uwsgi package with the helpers alone
    (python3-uwsgi-ensite), Debian's /usr/bin/uwsgi checks the inis instead.
    """
    if environ.get("UWSGI_BIN"):
        return environ["UWSGI_BIN"]
    if not os.path.exists(UWSGI_BIN) and os.path.exists(DEBIAN_UWSGI_BIN):
        return DEBIAN_UWSGI_BIN
    return UWSGI_BIN


def flavour(environ=os.environ):
    """Which uWSGI runs here: Debian's when the binary the helpers use is Debian's, else ours."""
    return Flavour.DEBIAN if uwsgi_bin(environ) == DEBIAN_UWSGI_BIN else Flavour.EMPEROR


def emperor_defaults(environ=os.environ):
    """The Emperor's defaults file (EMPEROR_OPTS): $UWSGI_EMPEROR_DEFAULTS or
    /etc/default/uwsgi-emperor."""
    return environ.get("UWSGI_EMPEROR_DEFAULTS") or EMPEROR_DEFAULTS

"""uwsgi-newapp's data: what the admin asked for and where it goes (one Request), and the
files that come out (a Plan). No behaviour here; the steps are newapp_validate (check),
hostinfo (read the host), newapp_render (templates) and newapp_write (files)."""

import grp
import pwd
import sys
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

from . import paths


def python_version(version_info=sys.version_info):
    """X.Y of VERSION_INFO (a sys.version_info)."""
    return f"{version_info[0]}.{version_info[1]}"


# The Python the packaged uWSGI embeds: a virtualenv built for another one cannot be loaded.
# The helpers run on that same interpreter: the package's venv python, which is its suite's
# python3.X (3.11 on bookworm, 3.13 on trixie); the helper-only package runs on the system
# python3, the one Debian's uwsgi-plugin-python3 embeds.
PACKAGED_PYTHON = python_version()
NGINX_LOGDIR = "/var/log/nginx"


class NewAppError(ValueError):
    """Bad input; str() is the one line shown to the user."""


@dataclass
class App:
    """What the admin asked for, as given on the command line."""

    name: str
    module: str
    chdir: str = None
    virtualenv: str = None
    processes: int = None
    threads: int = None
    user: str = None
    group: str = None
    env: list = field(default_factory=list)
    zerg: bool = False
    server_name: str = None
    static: list = field(default_factory=list)


@dataclass
class Request:
    """One run of uwsgi-newapp: the app, the directories it acts on, and how strict to be.

    flavour: which uWSGI runs the apps here (paths.flavour()): this package's Emperor or
    Debian's uwsgi package.
    emperor_defaults: the Emperor's /etc/default file, read (with CONFDIR/emperor.ini) to tell
    whether broodlord is on. getpwnam/getgrnam: the account lookups (pwd, grp).
    """

    app: App
    confdir: str = paths.CONFDIR
    nginx_dir: str = paths.NGINX_SITES
    rundir: str = paths.RUNDIR
    strict: bool = False
    allow_root: bool = False
    emperor_defaults: str = paths.EMPEROR_DEFAULTS
    nginx_logdir: str = NGINX_LOGDIR
    python: str = PACKAGED_PYTHON
    flavour: paths.Flavour = paths.Flavour.EMPEROR
    getpwnam: Callable = pwd.getpwnam
    getgrnam: Callable = grp.getgrnam


class File(NamedTuple):
    """A file to write: its path, its text, its mode."""

    path: str
    text: str
    mode: int = 0o644


@dataclass
class Plan:
    """The files to write, in order, and what to tell the admin."""

    files: list
    warnings: list
    notes: list

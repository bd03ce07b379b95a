"""What uwsgi-newapp reads from the host, and nothing else: which directories exist, the
Python a virtualenv was built for, whether the Emperor has broodlord on, and the accounts
the app would run as. Every function takes the paths it reads; read_host() gathers all of it
for one Request into a Host, which the pure checks of newapp_validate then judge."""

import configparser
import glob
import os
import re
import shlex
from dataclasses import dataclass, field

from . import safeopen

# The group that may create sockets in the run directory (/run/uwsgi is root:www-data 0775).
RUNDIR_GROUP = "www-data"

_BROODLORD_LINE = re.compile(r"^\s*emperor-broodlord\s*=\s*(\S+)", re.M)


@dataclass(frozen=True)
class Account:
    """A user or group as the system knows it."""

    name: str
    id: int
    members: tuple = ()  # a group's supplementary members


@dataclass
class Host:
    """What the checks need to know about the host, read once."""

    directories: dict = field(default_factory=dict)  # path asked for -> is it a directory
    venv_pythons: set = field(default_factory=set)  # X.Y versions of --virtualenv, if any
    broodlord: bool = False
    user: Account = None  # None: no such user (or none asked for)
    group: Account = None
    rundir_group: Account = None  # www-data, whose members may bind in the run directory


def venv_pythons(venv):
    """The X.Y Python versions a virtualenv was built for, from pyvenv.cfg, else lib/pythonX.Y."""
    parser = configparser.ConfigParser()
    try:
        # The venv may be the app user's: a fifo or a huge file there must not hang or fill
        # root's uwsgi-newapp (safeopen: regular files only, opened non-blocking, bounded).
        text = safeopen.read_small(os.path.join(venv, "pyvenv.cfg"), 64 * 1024).decode("utf-8")
        # pyvenv.cfg has no section header.
        parser.read_string("[venv]\n" + text)
    except (OSError, UnicodeDecodeError, configparser.Error):
        pass
    else:
        # venv writes 'version', virtualenv and uv 'version_info'.
        for key in ("version", "version_info"):
            found = re.match(r"(\d+\.\d+)", parser.get("venv", key, fallback=""))
            if found:
                return {found.group(1)}
    found = set()
    for lib in glob.glob(os.path.join(glob.escape(venv), "lib", "python*.*")):
        version = re.fullmatch(r"python(\d+\.\d+)", os.path.basename(lib))
        if version:
            found.add(version.group(1))
    return found


def _broodlord_count(value):
    """uWSGI reads the option as a number (atoi): anything but a positive one leaves it off."""
    found = re.match(r"\d+", value)
    return int(found.group()) if found else 0


def broodlord_in_ini(path):
    """Does PATH (emperor.ini) set emperor-broodlord to N > 0 on an uncommented line?"""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return False
    return any(_broodlord_count(value) > 0 for value in _BROODLORD_LINE.findall(text))


def emperor_opts(path):
    """The value EMPEROR_OPTS gets from PATH (/etc/default/uwsgi-emperor, a shell file the
    init script sources and systemd reads): the last assignment wins; None if none."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    value = None
    for line in lines:
        if line.lstrip().startswith("#"):
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        if words[:1] == ["export"]:
            words = words[1:]
        for word in words:
            name, sep, rest = word.partition("=")
            if sep and name == "EMPEROR_OPTS":
                value = rest
    return value


def broodlord_in_opts(opts):
    """Does an EMPEROR_OPTS value pass --emperor-broodlord N (or --emperor-broodlord=N), N > 0?"""
    # The unquoted $EMPEROR_OPTS of the init script and the unit is split at blanks.
    words = (opts or "").split()
    for index, word in enumerate(words):
        if word.startswith("--emperor-broodlord="):
            value = word.partition("=")[2]
        elif word == "--emperor-broodlord" and index + 1 < len(words):
            value = words[index + 1]
        else:
            continue
        if _broodlord_count(value) > 0:
            return True
    return False


def broodlord_enabled(confdir, defaults):
    """Is emperor-broodlord on: uncommented in CONFDIR/emperor.ini, or in EMPEROR_OPTS of
    DEFAULTS (/etc/default/uwsgi-emperor)?"""
    return broodlord_in_ini(os.path.join(confdir, "emperor.ini")) or broodlord_in_opts(
        emperor_opts(defaults)
    )


def _lookup(function, name, members=False):
    if name is None or function is None:
        return None
    try:
        entry = function(name)
    except KeyError:
        return None
    if members:
        return Account(entry.gr_name, entry.gr_gid, tuple(entry.gr_mem))
    return Account(entry.pw_name, entry.pw_uid)


def read_host(request):
    """Everything REQUEST's checks need from the host."""
    app = request.app
    asked = [app.chdir, app.virtualenv] + [directory or "/" for _url, directory in app.static]
    directories = {path: os.path.isdir(path) for path in asked if path}
    return Host(
        directories=directories,
        venv_pythons=venv_pythons(app.virtualenv) if directories.get(app.virtualenv) else set(),
        broodlord=app.zerg and broodlord_enabled(request.confdir, request.emperor_defaults),
        user=_lookup(request.getpwnam, app.user),
        group=_lookup(request.getgrnam, app.group, members=True),
        rundir_group=_lookup(request.getgrnam, RUNDIR_GROUP, members=True) if app.zerg else None,
    )

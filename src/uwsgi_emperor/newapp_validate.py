"""uwsgi-newapp's checks: pure functions of what the admin typed and of what hostinfo read.

Every value that ends up in the ini is written as given, so anything uWSGI would read as more
than a literal is refused rather than quoted: a line break or other control character (a line
break starts a new option line, `uid = 0` say), `@(` (uWSGI reads a file, or runs `exec://`
commands, when it reads the ini), `$(` (uWSGI substitutes an environment variable of the
Emperor) and `%(` (another option's value). A lone % is escaped by the template
(newapp_render.ini_value).
"""

import dataclasses
import os
import re
import unicodedata

from . import hostinfo, names, paths, sockets
from .newapp_request import NewAppError

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_MODULE = re.compile(rf"{_IDENT}(\.{_IDENT})*(:{_IDENT})?\Z")
_ENV_KEY = re.compile(rf"{_IDENT}\Z")
_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
# Characters that would end or change an nginx directive; refused rather than quoted.
_NGINX_UNSAFE = re.compile(r"[\s;{}'\"#\\$]")
# Every character Python's str.splitlines() breaks at (newapp_render.tidy splits the rendered
# text with it, so each of them would start a new ini line), not \n and \r alone.
_LINE_BREAK = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
# What uWSGI expands in an ini value while reading it (core/uwsgi.c uwsgi_setup, the '$', '@'
# and '%' passes of uwsgi_apply_config_pass; a lone % is escaped by the template, but %% is
# read back as %, and %( is then a placeholder).
EXPANSIONS = {
    "@(": "uWSGI would replace @(...) with a file's content, or a command's output",
    "$(": "uWSGI would replace $(...) with an environment variable of the Emperor",
    "%(": "uWSGI would replace %(...) with the value of another option",
}
# Debian's own uwsgi package (python3-uwsgi-ensite's hosts): its init script gives each
# app this socket.
DEBIAN_SOCKET = "/run/uwsgi/app/{name}/socket"


def check_value(option, value):
    """VALUE of OPTION (e.g. '--chdir') holds no line break and nothing uWSGI expands."""
    if value is None:
        return value
    if _LINE_BREAK.search(value) or any(unicodedata.category(c) == "Cc" for c in value):
        raise NewAppError(
            f"invalid {option} {value!r}: line breaks and control characters are not allowed"
        )
    for mark, why in EXPANSIONS.items():
        if mark in value:
            raise NewAppError(f"invalid {option} {value!r}: {why} when it reads the ini")
    return value


def check_name(name):
    try:
        return names.check_name(name)
    except names.NameError_ as err:
        raise NewAppError(str(err))


def check_module(module):
    """'pkg.wsgi' or 'pkg.wsgi:app'."""
    if not _MODULE.match(module):
        raise NewAppError(
            f"invalid module {module!r}: expected dotted Python names with an optional "
            ":callable, e.g. mysite.wsgi or mysite.wsgi:application"
        )
    return module


def parse_env(item):
    """'KEY=VALUE' -> (KEY, VALUE)."""
    key, sep, value = item.partition("=")
    if not sep or not _ENV_KEY.match(key):
        raise NewAppError(f"invalid --env {item!r}: expected KEY=VALUE with KEY a variable name")
    if _LINE_BREAK.search(value):
        raise NewAppError(f"invalid --env {key}: the value must be a single line")
    check_value(f"--env {key}", value)
    return key, value


def parse_static(item):
    """'/url=/dir/' -> ('/url/', '/dir'): the template writes `location /url/ { alias /dir/; }`."""
    url, sep, directory = item.partition("=")
    if not sep or not url.startswith("/") or not directory:
        raise NewAppError(f"invalid --static {item!r}: expected URL=DIR with URL starting with '/'")
    if not os.path.isabs(directory):
        raise NewAppError(f"invalid --static {item!r}: DIR must be an absolute path")
    if _NGINX_UNSAFE.search(url) or _NGINX_UNSAFE.search(directory):
        raise NewAppError(
            f"invalid --static {item!r}: spaces, quotes and ; {{ }} # $ \\ are not allowed"
        )
    # A location with a trailing slash and an alias with one map /url/x to /dir/x exactly.
    return url.rstrip("/") + "/", directory.rstrip("/")


def check_server_name(server_name):
    """A host name, optionally with a '*.' wildcard prefix."""
    host = server_name[2:] if server_name.startswith("*.") else server_name
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise NewAppError(
            f"invalid server name {server_name!r}: expected a host name such as "
            "app.example.org or *.example.org"
        )
    return server_name


def check_accounts(app, host, allow_root):
    """--user and --group exist, and are not root unless ALLOW_ROOT."""
    if host.user is None:
        raise NewAppError(f"no such user: {app.user}")
    if host.group is None:
        raise NewAppError(f"no such group: {app.group}")
    if allow_root:
        return
    if host.user.id == 0:
        raise NewAppError(
            f"--user {app.user} is uid 0: the app would run as root (--allow-root if you mean it)"
        )
    if host.group.id == 0:
        raise NewAppError(
            f"--group {app.group} is gid 0: the app would run with root's group "
            "(--allow-root if you mean it)"
        )


def check_zerg_account(app, host, rundir):
    """A --zerg app binds its zerg server's socket in RUNDIR after dropping to --user/--group
    (core/master.c), where only root and the group www-data may create files: the vassal
    would die at its first start. uWSGI also sets the user's supplementary groups
    (initgroups), so a member of www-data is fine."""
    if not app.zerg or app.user is None or host.user.id == 0:
        return
    allowed = host.rundir_group
    if allowed and (host.group.id == allowed.id or app.user in allowed.members):
        return
    raise NewAppError(
        f"--zerg with --user {app.user} --group {app.group}: the app binds its zerg socket in "
        f"{rundir} as that user, and only group {hostinfo.RUNDIR_GROUP} may create files "
        f"there; use --group {hostinfo.RUNDIR_GROUP} or add {app.user} to it "
        f"(adduser {app.user} {hostinfo.RUNDIR_GROUP})"
    )


def app_socket(name, rundir, flavour):
    """The app's unix socket: the vassal defaults' (or, with Debian's uwsgi, its init script's)."""
    if flavour is paths.Flavour.DEBIAN:
        return DEBIAN_SOCKET.format(name=name)
    return sockets.app_socket(rundir, name)


def check_sockets(app, rundir, flavour):
    """Every socket path of the app fits in sun_path (the zerg server's too)."""
    paths_ = [("socket", app_socket(app.name, rundir, flavour))]
    if app.zerg:
        paths_.append(("zerg socket", sockets.zerg_socket(rundir, app.name)))
    for what, path in paths_:
        problem = sockets.too_long(path, what)
        if problem:
            raise NewAppError(f"app {app.name}: {problem}")


def check_directory(path, what, strict, host):
    """None if PATH is a directory; a warning if not; an error with strict."""
    if host.directories.get(path):
        return None
    message = f"{what} {path} is not a directory"
    if strict:
        raise NewAppError(message)
    return message


def check_virtualenv(venv, strict, host, python):
    """None, or a warning; an error for a virtualenv of another Python (or with strict)."""
    missing = check_directory(venv, "--virtualenv", strict, host)
    if missing:
        return missing
    versions = host.venv_pythons
    if versions and python not in versions:
        other = ", ".join(sorted(versions))
        raise NewAppError(
            f"virtualenv {venv} is built for Python {other}; "
            f"the packaged uWSGI runs Python {python}"
        )
    if not versions:
        message = f"cannot tell which Python virtualenv {venv} was built for"
        if strict:
            raise NewAppError(message)
        return message
    return None


def check_values(app):
    """The free-form values of APP (those the other checks do not already restrict)."""
    check_value("--chdir", app.chdir)
    check_value("--virtualenv", app.virtualenv)
    check_value("--user", app.user)
    check_value("--group", app.group)
    for key, value in app.env:
        check_value(f"--env {key}", value)


def validate_input(request):
    """The checks that need nothing from the host; returns the app with its name normalised."""
    app = request.app
    if request.flavour is paths.Flavour.DEBIAN and app.zerg:
        raise NewAppError("--zerg needs the Emperor of the uwsgi-emperor package (broodlord);"
                          " Debian's uwsgi package has none")
    app = dataclasses.replace(app, name=check_name(app.name))
    check_module(app.module)
    check_values(app)
    check_value("--nginx-dir", request.nginx_dir)
    check_value("--confdir", request.confdir)
    if app.server_name is not None:
        check_server_name(app.server_name)
    check_sockets(app, request.rundir, request.flavour)
    return app


def validate(request, app, host):
    """Judge APP (from validate_input) against HOST (hostinfo.read_host); return the warnings.
    Raises NewAppError on the first error."""
    warnings = []
    if app.chdir:
        warnings.append(check_directory(app.chdir, "--chdir", request.strict, host))
    if app.virtualenv:
        warnings.append(check_virtualenv(app.virtualenv, request.strict, host, request.python))
    if app.user:
        check_accounts(app, host, request.allow_root)
        check_zerg_account(app, host, request.rundir)
    for _url, directory in app.static:
        warnings.append(check_directory(directory or "/", "--static", request.strict, host))
    return [w for w in warnings if w]

"""uwsgi-newapp: check what the admin asked for, then render a vassal ini and an nginx server block.

Pure functions: each takes the directories it looks at. Nothing here writes a file except
write_files(), which refuses to write any file unless every one of them can be written.
"""

import configparser
import dataclasses
import glob
import os
import re
import shlex
import tempfile
import traceback
from dataclasses import dataclass, field

import jinja2

from . import names, paths

# The Python the packaged uWSGI embeds: a virtualenv built for another one cannot be loaded.
PACKAGED_PYTHON = "3.11"
NGINX_LOGDIR = "/var/log/nginx"
NGINX_ENABLED = "/etc/nginx/sites-enabled"
TEMPLATES = "templates"
VASSAL_TEMPLATE = "vassal.ini.j2"
NGINX_TEMPLATE = "nginx-site.conf.j2"
# Broodlord settings written into --zerg apps (measured, see the comment in vassal.ini.j2).
ZERG_SOS = 1
ZERG_IDLE = 30
BROODLORD_DEFAULT = 8

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_MODULE = re.compile(rf"{_IDENT}(\.{_IDENT})*(:{_IDENT})?\Z")
_ENV_KEY = re.compile(rf"{_IDENT}\Z")
_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
# Characters that would end or change an nginx directive; refused rather than quoted.
_NGINX_UNSAFE = re.compile(r"[\s;{}'\"#\\$]")
_BROODLORD_LINE = re.compile(r"^\s*emperor-broodlord\s*=\s*(\S+)", re.M)


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
class Plan:
    """The files to write (path, text), in order, and what to tell the admin."""

    files: list
    warnings: list
    notes: list


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
    if "\n" in value or "\r" in value:
        raise NewAppError(f"invalid --env {key}: the value must be a single line")
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


def check_user_group(user, group, getpwnam, getgrnam):
    """Both name an existing user and group (lookups passed in: pwd.getpwnam, grp.getgrnam)."""
    try:
        getpwnam(user)
    except KeyError:
        raise NewAppError(f"no such user: {user}")
    try:
        getgrnam(group)
    except KeyError:
        raise NewAppError(f"no such group: {group}")


def check_directory(path, what, strict):
    """None if PATH is a directory; a warning if not; an error with strict."""
    if os.path.isdir(path):
        return None
    message = f"{what} {path} is not a directory"
    if strict:
        raise NewAppError(message)
    return message


def venv_pythons(venv):
    """The X.Y Python versions a virtualenv was built for, from pyvenv.cfg, else lib/pythonX.Y."""
    parser = configparser.ConfigParser()
    try:
        with open(os.path.join(venv, "pyvenv.cfg"), encoding="utf-8") as handle:
            # pyvenv.cfg has no section header.
            parser.read_string("[venv]\n" + handle.read())
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


def check_virtualenv(venv, strict, python=PACKAGED_PYTHON):
    """None, or a warning; an error for a virtualenv of another Python (or with strict)."""
    missing = check_directory(venv, "--virtualenv", strict)
    if missing:
        return missing
    versions = venv_pythons(venv)
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


def broodlord_note(confdir, defaults):
    """What the admin must do for zergs to be spawned at all."""
    emperor_ini = os.path.join(confdir, "emperor.ini")
    return (
        "broodlord is off in the emperor, so no zerg will ever start: set "
        f'EMPEROR_OPTS="--emperor-broodlord {BROODLORD_DEFAULT}" in {defaults} '
        f"(or uncomment emperor-broodlord in {emperor_ini}), then "
        "systemctl restart uwsgi-emperor (or /etc/init.d/uwsgi-emperor restart without systemd)"
    )


def ini_value(text):
    """uWSGI expands %x in ini values: a literal % is written %%."""
    return text.replace("%", "%%")


def template_environment(confdir):
    """Admin overrides in CONFDIR/templates/ first, then the package's own templates."""
    loader = jinja2.ChoiceLoader(
        [
            jinja2.FileSystemLoader(os.path.join(confdir, TEMPLATES)),
            jinja2.PackageLoader("uwsgi_emperor", TEMPLATES),
        ]
    )
    env = jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["ini"] = ini_value
    return env


def tidy(text):
    """No trailing spaces, no runs of blank lines, one final newline: an admin's template
    may be sloppier than ours, the output still reads as if a person wrote it."""
    lines = [line.rstrip() for line in text.splitlines()]
    out = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n"


# Debian's own uwsgi package (python3-uwsgi-ensite's hosts): its init script gives each
# app this socket and its python3 plugin must be asked for.
DEBIAN_SOCKET = "/run/uwsgi/app/{name}/socket"
DEBIAN_DEFAULTS = "/usr/share/uwsgi/conf/default.ini"


def context(app, rundir, nginx_logdir=NGINX_LOGDIR, debian_uwsgi=False):
    """Everything the templates use. DEBIAN_UWSGI: the app runs under Debian's uwsgi
    package, not this package's Emperor."""
    # The vassal defaults' unix socket; the [uwsgi] section never sets one.
    socket_path = DEBIAN_SOCKET.format(name=app.name) if debian_uwsgi else f"{rundir}/{app.name}.sock"
    return {
        "name": app.name,
        "plugins": "python3" if debian_uwsgi else None,
        "defaults_file": DEBIAN_DEFAULTS if debian_uwsgi else "/etc/uwsgi/vassal-defaults.ini",
        "module": app.module,
        "chdir": app.chdir,
        "virtualenv": app.virtualenv,
        "processes": app.processes,
        "threads": app.threads,
        "user": app.user,
        "group": app.group,
        "env": list(app.env),
        "zerg": app.zerg,
        "socket": socket_path,
        "zerg_server": f"{rundir}/{app.name}-broodlord.sock",
        "zerg_sos": ZERG_SOS,
        "zerg_idle": ZERG_IDLE,
        "server_name": app.server_name,
        "static": list(app.static),
        "upstream": f"unix:{socket_path}",
        "nginx_logdir": nginx_logdir,
    }


def render(env, template, ctx):
    """The rendered text; a broken template (an admin's override, say) is one clear line
    naming the file and, when known, the line."""
    source = template
    try:
        compiled = env.get_template(template)
        source = compiled.filename or template
        return tidy(compiled.render(ctx))
    except jinja2.TemplateError as err:
        line = getattr(err, "lineno", None)
        if line is None:
            # Errors at render time carry no line; jinja2 puts the template's own line
            # numbers into the traceback instead.
            frames = traceback.extract_tb(err.__traceback__)
            line = next((f.lineno for f in reversed(frames) if f.filename == source), None)
        source = getattr(err, "filename", None) or source
        where = f" line {line}" if line else ""
        raise NewAppError(f"template {source}{where}: {err.message or err}")


def validate(app, strict, getpwnam, getgrnam, python=PACKAGED_PYTHON):
    """Check everything; return (the app with its name normalised, warnings).
    Raises NewAppError on the first error."""
    warnings = []
    try:
        app = dataclasses.replace(app, name=names.check_name(app.name))
    except names.NameError_ as err:
        raise NewAppError(str(err))
    check_module(app.module)
    if app.chdir:
        warnings.append(check_directory(app.chdir, "--chdir", strict))
    if app.virtualenv:
        warnings.append(check_virtualenv(app.virtualenv, strict, python))
    if app.user:
        check_user_group(app.user, app.group, getpwnam, getgrnam)
    if app.server_name is not None:
        check_server_name(app.server_name)
    for _url, directory in app.static:
        warnings.append(check_directory(directory or "/", "--static", strict))
    return app, [w for w in warnings if w]


def plan(app, confdir, nginx_dir, rundir, strict, getpwnam, getgrnam,
         emperor_defaults=paths.EMPEROR_DEFAULTS, nginx_logdir=NGINX_LOGDIR,
         python=PACKAGED_PYTHON, debian_uwsgi=False):
    """Validate APP and render its files; nothing is written. EMPEROR_DEFAULTS is the
    Emperor's defaults file, read (with CONFDIR/emperor.ini) to tell whether broodlord is on.
    DEBIAN_UWSGI: the host runs Debian's uwsgi package instead of this package's Emperor."""
    if debian_uwsgi and app.zerg:
        raise NewAppError("--zerg needs the Emperor of the uwsgi-emperor package (broodlord);"
                          " Debian's uwsgi package has none")
    app, warnings = validate(app, strict, getpwnam, getgrnam, python)
    available = os.path.join(confdir, paths.AVAILABLE)
    env = template_environment(confdir)
    ctx = context(app, rundir, nginx_logdir, debian_uwsgi)
    files = [(os.path.join(available, app.name + paths.SUFFIX), render(env, VASSAL_TEMPLATE, ctx))]
    if app.server_name is not None:
        files.append((os.path.join(nginx_dir, app.name), render(env, NGINX_TEMPLATE, ctx)))
    notes = []
    if app.zerg and not broodlord_enabled(confdir, emperor_defaults):
        notes.append(broodlord_note(confdir, emperor_defaults))
    return Plan(files, warnings, notes)


def check_writable(files, force):
    """Refuse before writing anything: an existing file without force, a missing directory."""
    for path, _text in files:
        if os.path.lexists(path) and not force:
            raise NewAppError(f"{path} already exists (use --force to overwrite it)")
        if os.path.isdir(path):
            raise NewAppError(f"{path} is a directory")
        directory = os.path.dirname(path) or "."
        if not os.path.isdir(directory):
            raise NewAppError(f"directory {directory} does not exist")
        if not os.access(directory, os.W_OK):
            raise NewAppError(f"cannot write to directory {directory}")


def write_atomic(path, text, mode=0o644):
    """Readers (the emperor, nginx -t) see the old file or the new one, never half of one."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_files(files, force):
    check_writable(files, force)
    for path, text in files:
        write_atomic(path, text)


def next_steps(name, nginx_path):
    """The commands that put the new app live, for the admin to run."""
    steps = [f"uwsgi-ensite {name}"]
    if nginx_path:
        directory = os.path.dirname(nginx_path)
        if os.path.basename(directory) == "sites-available":
            enabled = os.path.join(os.path.dirname(directory), "sites-enabled")
            steps.append(f"ln -s ../sites-available/{name} {enabled}/")
        else:
            steps.append(f"ln -s {nginx_path} {NGINX_ENABLED}/")
        steps.append("nginx -t && systemctl reload nginx")
    return steps

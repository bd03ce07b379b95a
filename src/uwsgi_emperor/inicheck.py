"""Would uWSGI run this ini? Our own checks first, then the packaged binary's strict parser.

uWSGI acts on an ini while it reads it, before `--get` exits (core/uwsgi.c uwsgi_setup):
`@(exec://CMD)` and `ini = exec://CMD` run a shell command, `call://` calls a function, the
`*-asap` hooks run, `stop = PIDFILE` signals a process, `connect-and-read` connects out, and
`plugins = /path.so` loads a library. Checking an ini must not do any of that as root, so:

1. code_at_parse_time() reads the text as uWSGI's ini parser does and refuses those
   constructs before any binary runs. A dry run stops here (check_static): it runs nothing.
2. What the scan cannot see (a file the ini includes, say) meets the parser in a sandbox
   (sandboxed()): user nobody, no network, an empty environment, no new privileges, and one
   capability, to read: the Emperor reads vassal inis (0640 root when they hold secrets) and
   their includes as root, so the check must read what root reads, but write nothing of root's.

`$(VAR)` is not refused: uWSGI replaces it with getenv(VAR) (core/uwsgi.c, the '$' pass), it runs
nothing, and the empty environment of the sandbox leaves it unexpanded.
"""

import os
import pwd
import re
import subprocess

from . import names, paths, sockets

# Long enough for a loaded machine; the binary only parses the file, it normally takes ~10 ms.
TIMEOUT = 10
SANDBOX_USER = "nobody"
# What the parser gets as its environment: nothing of the caller's (uWSGI reads UWSGI_* as
# options and expands $(VAR) from it), a PATH for the shell of any exec:// the scan missed.
SANDBOX_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}

# The config schemes that run code when read (core/io.c uwsgi_register_scheme): exec:// runs
# a shell command, call:// and callint:// call a C symbol. Matched anywhere in a value: as an
# option value (ini = exec://..., include, for-readline, inject-before) or inside @( ).
CODE_SCHEMES = ("exec://", "call://", "callint://")
# Options uWSGI acts on while parsing (UWSGI_OPT_IMMEDIATE or run by uwsgi_setup before
# `--get` exits); every option ending in -asap is one too (hook-asap, exec-asap, call-asap,
# mount-asap, umount-asap, and any a plugin adds).
PARSE_TIME_OPTIONS = {
    "stop": "signals the process in a pid file",
    "reload": "signals the process in a pid file",
    "pause": "signals the process in a pid file",
    "suspend": "signals the process in a pid file",
    "resume": "signals the process in a pid file",
    "connect-and-read": "connects to a socket",
    "extract": "fetches an address",
}
# Plugins load as shared libraries while the ini is read: a bare name (python3) comes from
# the plugin directory, a path is any library at all.
# A scheme whose name comes from a %-variable: uWSGI fills those in as it reads the file,
# so `@(%n://...)` in an app named exec.ini is exec://.
_BUILT_SCHEME = re.compile(r"(\S*%\S*?)://")
PLUGIN_OPTIONS = {"plugin", "plugins", "need-plugin", "need-plugins", "plugins-dir",
                  "plugin-dir", "need-plugins-dir", "need-plugin-dir"}


class SandboxError(Exception):
    """The unprivileged sandbox could not be set up; str() says why."""


def has_uwsgi_section(text):
    """uWSGI reads a vassal's [uwsgi] section only; a file without one starts nothing."""
    return any(line.strip() == "[uwsgi]" for line in text.splitlines())


def read_text(path):
    """(text, None) or (None, a one-line problem): unreadable or not UTF-8."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        return None, f"cannot read it: {err.strerror}"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        return None, f"not UTF-8 (byte 0x{data[err.start]:02x} on line {line})"


def check_text(path):
    """Return None, or a one-line problem: unreadable, not UTF-8, or no [uwsgi] section."""
    text, problem = read_text(path)
    if problem:
        return problem
    if not has_uwsgi_section(text):
        return "no [uwsgi] section"
    return None


def options(text):
    """(line number, section, key, value) for each option line, split as uWSGI's ini parser
    splits them (core/ini.c): lines end at \\n only, blanks are ' ', tab and CR, a line
    starting with ; or # is a comment, the key ends at the first '='. Every section counts:
    the Emperor reads NAME.ini:zerg too, and an ini may load its own sections."""
    section = ""
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip(" \t\r")
        if not line or line[0] in ";#":
            continue
        if line[0] == "[":
            section = line[1:-1]
            continue
        key, _sep, value = line.partition("=")
        yield number, section, key.strip(" \t\r"), value.strip(" \t\r")


def _option_name(key):
    return key.lower().replace("_", "-")


def code_at_parse_time(text):
    """None, or a one-line problem naming the first construct uWSGI would act on while
    merely reading TEXT (see the module docstring)."""
    for number, _section, key, value in options(text):
        name = _option_name(key)
        for scheme in CODE_SCHEMES:
            if scheme in value or scheme in key:
                verb = "runs a command" if scheme == "exec://" else "calls a function"
                return (f"line {number}: {scheme} {verb} whenever uWSGI reads the file, even to "
                        "check it; refusing to check or enable it")
        built = _BUILT_SCHEME.search(value)
        if built:
            return (f"line {number}: '{built.group(0)}' is a scheme made of %-variables, which "
                    "could be exec:// and run a command whenever uWSGI reads the file, even to "
                    "check it; refusing to check or enable it")
        if name.endswith("-asap"):
            return (f"line {number}: '{key}' runs whenever uWSGI reads the file, even to check "
                    "it; refusing to check or enable it")
        if name in PARSE_TIME_OPTIONS:
            return (f"line {number}: '{key}' {PARSE_TIME_OPTIONS[name]} whenever uWSGI reads "
                    "the file, even to check it; refusing to check or enable it")
        if name in PLUGIN_OPTIONS and ("/" in value or name.endswith("-dir")):
            return (f"line {number}: '{key} = {value}' loads a library from a path whenever "
                    "uWSGI reads the file, even to check it; refusing to check or enable it")
    return None


def _socket_values(text):
    """{option: [values]} of the socket options of the [uwsgi] section."""
    found = {}
    for _number, section, key, value in options(text):
        if section == "uwsgi" and _option_name(key) in sockets.PATH_OPTIONS:
            found.setdefault(_option_name(key), []).append(value)
    return found


def check_sockets(path, text, rundir):
    """None, or the first socket path of the app at PATH that does not fit in sun_path: the
    default one (RUNDIR/NAME.sock, from the vassal defaults, unless the ini sets `socket`)
    and the unix paths the ini names itself."""
    name = names.strip_suffix(os.path.basename(path))
    values = _socket_values(text)
    if "socket" not in values:
        problem = sockets.too_long(sockets.app_socket(rundir, name))
        if problem:
            return problem
    for option, items in values.items():
        for item in items:
            problem = sockets.too_long(sockets.unix_path(item), option, f"shorten its {option}")
            if problem:
                return problem
    return None


def check_static(path, rundir=None):
    """Everything that needs no binary: readable UTF-8 with a [uwsgi] section, nothing run
    at parse time, every socket path fits. What a dry run checks."""
    text, problem = read_text(path)
    if problem:
        return problem
    if not has_uwsgi_section(text):
        return "no [uwsgi] section"
    return code_at_parse_time(text) or check_sockets(path, text, rundir or paths.rundir())


def uwsgi_env(environ=os.environ):
    """The environment for running uwsgi on a file: without UWSGI_* variables, which uWSGI
    reads as options (UWSGI_CONFDIR would be the unknown option 'confdir')."""
    return {k: v for k, v in environ.items() if not k.startswith("UWSGI_")}


def sandboxed(argv, user=SANDBOX_USER, euid=None):
    """ARGV wrapped to run as USER in a new network namespace, keeping only the capability
    to read any file (CAP_DAC_READ_SEARCH, ambient so that it survives the uid change) and
    with no_new_privs; unchanged when we are not root (there is nothing to drop)."""
    if (os.geteuid() if euid is None else euid) != 0:
        return list(argv)
    entry = pwd.getpwnam(user)
    caps = "-all,+dac_read_search"
    return [
        "unshare", "--net", "--",
        "setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups",
        f"--inh-caps={caps}", f"--ambient-caps={caps}", f"--bounding-set={caps}",
        "--no-new-privs", "--",
        *argv,
    ]


def run_parser(uwsgi, args):
    """Run UWSGI ARGS in the sandbox: (exit status, stdout lines, stderr lines), blank lines
    left out. Raises FileNotFoundError
    or PermissionError for the binary, SandboxError when the sandbox cannot be made,
    subprocess.TimeoutExpired."""
    if not os.path.exists(uwsgi):
        raise FileNotFoundError(uwsgi)
    if not os.access(uwsgi, os.X_OK):
        raise PermissionError(uwsgi)
    argv = sandboxed([uwsgi, *args])
    proc = subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=TIMEOUT,
        env=SANDBOX_ENV,
    )
    out, err = (
        [l.strip() for l in data.decode("utf-8", "replace").splitlines() if l.strip()]
        for data in (proc.stdout, proc.stderr)
    )
    if proc.returncode != 0 and argv[0] == "unshare" and err and err[0].startswith(
        ("unshare: ", "setpriv: ")
    ):
        raise SandboxError(err[0])
    return proc.returncode, out, err


def check_options(path, uwsgi=None):
    """Return None, or a one-line problem reported by `uwsgi --strict` (e.g. an unknown option).
    Only call it on a file check_static() passed: the binary parses what it is given."""
    uwsgi = uwsgi or paths.uwsgi_bin()
    try:
        status, out, err = run_parser(
            uwsgi, ["--strict", "--ini", os.path.abspath(path), "--get", "socket"]
        )
    except FileNotFoundError:
        return f"cannot check it: uwsgi binary {uwsgi} not found"
    except PermissionError:
        return f"cannot check it: uwsgi binary {uwsgi} is not executable"
    except SandboxError as err:
        return f"cannot check it: cannot run uwsgi as {SANDBOX_USER} without network ({err})"
    except subprocess.TimeoutExpired:
        return f"cannot check it: {uwsgi} --strict did not finish within {TIMEOUT} s"
    if status == 0:
        return None
    lines = out + err
    for line in lines:
        if line.startswith("[strict-mode] unknown config directive:"):
            option = line.split(":", 1)[1].strip()
            return f"unknown option '{option}' (uwsgi --strict rejects it)"
    detail = lines[-1] if lines else f"exit status {status}"
    return f"uwsgi --strict rejects it: {detail}"


def check(path, uwsgi=None, rundir=None):
    """Return None if uWSGI would run the ini at PATH, else a one-line reason."""
    return check_static(path, rundir) or check_options(path, uwsgi)


def get_option(path, option, uwsgi=None):
    """The ini's own value of OPTION as uWSGI reads it (magic variables expanded), or None;
    None too for an ini that would run code while being read (it is never run for this)."""
    text, problem = read_text(path)
    if problem or code_at_parse_time(text):
        return None
    try:
        status, out, _err = run_parser(uwsgi or paths.uwsgi_bin(), ["--ini", path, "--get", option])
    except (OSError, SandboxError, subprocess.TimeoutExpired):
        return None
    if status != 0 or not out:
        return None
    return out[0]

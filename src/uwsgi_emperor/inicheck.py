"""Would uWSGI run this ini? Our own checks first, then the packaged binary's strict parser."""

import os
import subprocess

from . import paths

# Long enough for a loaded machine; the binary only parses the file, it normally takes ~10 ms.
TIMEOUT = 10


def has_uwsgi_section(text):
    """uWSGI reads a vassal's [uwsgi] section only; a file without one starts nothing."""
    return any(line.strip() == "[uwsgi]" for line in text.splitlines())


def check_text(path):
    """Return None, or a one-line problem: unreadable, not UTF-8, or no [uwsgi] section."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        return f"cannot read it: {err.strerror}"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        return f"not UTF-8 (byte 0x{data[err.start]:02x} on line {line})"
    if not has_uwsgi_section(text):
        return "no [uwsgi] section"
    return None


def uwsgi_env(environ=os.environ):
    """The environment for running uwsgi on a file: without UWSGI_* variables, which uWSGI
    reads as options (UWSGI_CONFDIR would be the unknown option 'confdir')."""
    return {k: v for k, v in environ.items() if not k.startswith("UWSGI_")}


def check_options(path, uwsgi=None):
    """Return None, or a one-line problem reported by `uwsgi --strict` (e.g. an unknown option)."""
    uwsgi = uwsgi or paths.uwsgi_bin()
    try:
        proc = subprocess.run(
            [uwsgi, "--strict", "--ini", os.path.abspath(path), "--get", "socket"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=TIMEOUT,
            env=uwsgi_env(),
        )
    except FileNotFoundError:
        return f"cannot check it: uwsgi binary {uwsgi} not found"
    except PermissionError:
        return f"cannot check it: uwsgi binary {uwsgi} is not executable"
    except subprocess.TimeoutExpired:
        return f"cannot check it: {uwsgi} --strict did not finish within {TIMEOUT} s"
    if proc.returncode == 0:
        return None
    lines = [l.strip() for l in proc.stdout.decode("utf-8", "replace").splitlines() if l.strip()]
    for line in lines:
        if line.startswith("[strict-mode] unknown config directive:"):
            option = line.split(":", 1)[1].strip()
            return f"unknown option '{option}' (uwsgi --strict rejects it)"
    detail = lines[-1] if lines else f"exit status {proc.returncode}"
    return f"uwsgi --strict rejects it: {detail}"


def check(path, uwsgi=None):
    """Return None if uWSGI would run the ini at PATH, else a one-line reason."""
    return check_text(path) or check_options(path, uwsgi)

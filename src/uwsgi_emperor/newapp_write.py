"""uwsgi-newapp's only writes: every file checked first, then each one replaced atomically."""

import os
import tempfile

from .newapp_request import File, NewAppError


def check_writable(files, force):
    """Refuse before writing anything: an existing file without force, a missing directory."""
    for path, *_rest in files:
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
    """Readers (the emperor, nginx -t) see the old file or the new one, never half of one.
    The file is born 0600 (mkstemp) and gets MODE before it takes PATH's place, so a
    secret in it is never readable by others, not even for a moment."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_files(files, force):
    """Write FILES (File, or (path, text) pairs for 0644) only if every one can be written."""
    files = [File(*item) for item in files]
    check_writable(files, force)
    for item in files:
        write_atomic(item.path, item.text, item.mode)

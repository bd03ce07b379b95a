"""Open, as root, a file whose name a less privileged user may control, without being steered.

The one way root's tools open such a file (an app's log, an app's pyvenv.cfg, a vassal's
master fifo, emperor.log for the upgrade's line). The name is first opened with O_PATH, which
never runs a device's or a fifo's open and needs no permission on the file itself; the
descriptor is then checked with fstat (its type, its owner, its inode when the caller knows it)
and only that same inode is opened for real, through /proc/self/fd (our own process, so the
link cannot be swapped by anybody else). A fifo is opened O_NONBLOCK: no reader, no hang.
"""

import os
import stat

# The real open never blocks on a fifo nor takes a tty. (No O_NOFOLLOW: /proc/self/fd/N is
# itself a link, and the name was already looked up without following its last link.)
_ALWAYS = os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class Refused(OSError):
    """The name does not lead to what the caller asked for; nothing was opened."""


def _check(st, path, kind, owner, inode, single_link):
    if not kind(st.st_mode):
        raise Refused(f"{path}: not a {_KIND_NAMES.get(kind, 'file of the expected type')}")
    if owner is not None and st.st_uid != owner:
        raise Refused(f"{path}: owned by uid {st.st_uid}, not {owner}")
    if inode is not None and (st.st_dev, st.st_ino) != inode:
        raise Refused(f"{path}: not the file expected (replaced)")
    if single_link and st.st_nlink != 1:
        raise Refused(f"{path}: has {st.st_nlink} hard links")


_KIND_NAMES = {stat.S_ISREG: "regular file", stat.S_ISFIFO: "fifo", stat.S_ISDIR: "directory"}


def open_checked(path, flags=os.O_RDONLY, *, kind=stat.S_ISREG, owner=None, inode=None,
                 single_link=False, dir_fd=None):
    """A descriptor on PATH opened with FLAGS, only if what PATH names is of KIND (stat.S_ISREG,
    S_ISFIFO), owned by OWNER (a uid, or any), the inode INODE ((st_dev, st_ino), or any) and,
    with SINGLE_LINK, not hard-linked elsewhere. Raises Refused (an OSError) otherwise, or
    the OSError of the open. O_CREAT and O_TRUNC are not allowed: nothing is created or cut."""
    if flags & (os.O_CREAT | os.O_TRUNC):
        raise ValueError("open_checked opens existing files only")
    probe = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        _check(os.fstat(probe), path, kind, owner, inode, single_link)
        fd = os.open(f"/proc/self/fd/{probe}", flags | _ALWAYS)
    finally:
        os.close(probe)
    try:
        # The same inode as the probe: /proc/self/fd re-opens what the probe held.
        _check(os.fstat(fd), path, kind, owner, inode, single_link)
    except Refused:
        os.close(fd)
        raise
    return fd


def root_only_dir(path):
    """An O_PATH descriptor on directory PATH if only root can put a name in it (owned by
    root, not writable by group or others); raises Refused otherwise."""
    fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    st = os.fstat(fd)
    if st.st_uid != 0 or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        os.close(fd)
        raise Refused(f"{path}: others than root may create names there "
                      f"(uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):o})")
    return fd


def read_tail(path, limit=65536, **checks):
    """The last LIMIT bytes (at most) of the regular file PATH, read from its end."""
    fd = open_checked(path, os.O_RDONLY, kind=stat.S_ISREG, **checks)
    try:
        size = os.fstat(fd).st_size
        start = max(0, size - limit)
        chunks, want = [], size - start
        while want > 0:
            chunk = os.pread(fd, min(want, 65536), start)
            if not chunk:
                break
            chunks.append(chunk)
            start += len(chunk)
            want -= len(chunk)
        return b"".join(chunks), size > limit
    finally:
        os.close(fd)


def read_small(path, limit=1 << 20, **checks):
    """The content of the regular file PATH, refused past LIMIT bytes (a config file)."""
    fd = open_checked(path, os.O_RDONLY, kind=stat.S_ISREG, **checks)
    try:
        if os.fstat(fd).st_size > limit:
            raise Refused(f"{path}: larger than {limit} bytes")
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read(limit + 1)[:limit]
    finally:
        os.close(fd)

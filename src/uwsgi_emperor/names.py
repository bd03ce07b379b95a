"""What counts as an app name: one rule shared by ensite, dissite, query and newapp."""

import re

_NAME = re.compile(r"[A-Za-z0-9@+_-][A-Za-z0-9._@+-]*\Z")


class NameError_(ValueError):
    """A name that is not a valid app name; str() is the one-line message for the user."""


def strip_suffix(name, suffix=".ini"):
    """'app.ini' -> 'app'; other names unchanged."""
    return name[: -len(suffix)] if name.endswith(suffix) and len(name) > len(suffix) else name


def check_name(name):
    """Return the app name (suffix stripped) or raise NameError_ saying what is wrong."""
    bare = strip_suffix(name)
    if not bare:
        raise NameError_("empty app name")
    if "/" in bare or "\0" in bare:
        raise NameError_(f"invalid app name {name!r}: it must not contain a path separator")
    if ".." in bare:
        raise NameError_(f"invalid app name {name!r}: it must not contain '..'")
    if bare.startswith("."):
        raise NameError_(f"invalid app name {name!r}: it must not start with a dot")
    if not _NAME.match(bare):
        raise NameError_(
            f"invalid app name {name!r}: only letters, digits and . _ @ + - are allowed"
        )
    return bare

"""Enable and disable apps: the rules of uwsgi-ensite / uwsgi-dissite / uwsgi-query.

Pure functions over a configuration directory (apps-available/, apps-enabled/) and a state
directory; they return outcomes or raise Refused, and print nothing. Every check runs before
the one change an action makes, so a refused action leaves both directories untouched.
"""

import contextlib
import fnmatch
import os
import stat
from dataclasses import dataclass

from . import names, paths, state

GLOB_CHARS = "*?["

# What `uwsgi-query` returns, as a2query does.
QUERY_ENABLED, QUERY_NOT_FOUND, QUERY_DISABLED_BY_ADMIN, QUERY_DISABLED_BY_MAINT = 0, 1, 32, 33

WHO = {"admin": "site administrator", "maint": "maintainer script"}


class Refused(Exception):
    """An action that was not done; str() is the one-line reason, naming the app."""


@dataclass(frozen=True)
class Outcome:
    name: str
    changed: bool  # apps-enabled/ changed (or would have, in a dry run)
    message: str


def available_dir(confdir):
    return os.path.join(confdir, paths.AVAILABLE)


def enabled_dir(confdir):
    return os.path.join(confdir, paths.ENABLED)


def available_path(confdir, name):
    return os.path.join(available_dir(confdir), name + paths.SUFFIX)


def enabled_path(confdir, name):
    return os.path.join(enabled_dir(confdir), name + paths.SUFFIX)


def link_target(name):
    """What apps-enabled/NAME.ini points to: relative, so the tree can be moved or chrooted."""
    return os.path.join("..", paths.AVAILABLE, name + paths.SUFFIX)


def names_in(directory):
    """App names with a *.ini entry in DIRECTORY (none if it is missing)."""
    try:
        entries = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for entry in entries:
        if not entry.endswith(paths.SUFFIX):
            continue
        try:
            found.append(names.check_name(entry))
        except names.NameError_:
            continue  # the emperor would see it, but it is nothing we could have made
    return sorted(set(found))


def available_names(confdir):
    """App names with an ini in apps-available/."""
    return names_in(available_dir(confdir))


def enabled_names(confdir):
    """Names of every *.ini entry in apps-enabled/, whatever it is (link, dangling link, file)."""
    return names_in(enabled_dir(confdir))


def is_glob(arg):
    return any(c in arg for c in GLOB_CHARS)


def expand(args, choices):
    """Turn NAME and GLOB arguments into app names.

    Returns (names, errors): names in argument order without repeats, and one message per
    argument that is not a valid name or a glob matching nothing in CHOICES.
    """
    result, errors = [], []
    for arg in args:
        bare = names.strip_suffix(arg)
        if is_glob(bare):
            if "/" in bare or "\0" in bare:
                errors.append(f"invalid pattern {arg!r}: it must not contain a path separator")
                continue
            matched = [c for c in choices if fnmatch.fnmatchcase(c, bare)]
            if not matched:
                errors.append(f"no app matches {arg!r}")
            result.extend(matched)
        else:
            try:
                result.append(names.check_name(arg))
            except names.NameError_ as err:
                errors.append(str(err))
    return list(dict.fromkeys(result)), errors


def link_state(confdir, name):
    """What is at apps-enabled/NAME.ini: 'missing', 'ours', 'dangling', 'foreign', 'file', 'other'.

    'ours' is a link that resolves to apps-available/NAME.ini (whatever its spelling), 'dangling'
    a link to nothing, 'foreign' a link to anything else, 'other' a directory, socket, etc.
    """
    link = enabled_path(confdir, name)
    try:
        st = os.lstat(link)
    except FileNotFoundError:
        return "missing"
    if os.path.islink(link):
        if not os.path.exists(link):
            return "dangling"
        target = available_path(confdir, name)
        if os.path.exists(target) and os.path.samefile(link, target):
            return "ours"
        return "foreign"
    return "file" if stat.S_ISREG(st.st_mode) else "other"


def _describe(confdir, name, kind):
    link = enabled_path(confdir, name)
    if kind == "file":
        return f"app {name}: {link} is a regular file, not a link; not touching it"
    if kind == "other":
        return f"app {name}: {link} is not a link; not touching it"
    target = os.readlink(link)
    if kind == "dangling":
        return (
            f"app {name}: {link} is a dangling link to {target}; not touching it "
            f"(uwsgi-dissite {name} removes it)"
        )
    return f"app {name}: {link} points to {target}, not to {link_target(name)}; not touching it"


def _require_dir(directory):
    if not os.path.isdir(directory):
        raise Refused(f"directory {directory} does not exist")


def enable(confdir, statedir, name, *, maint=False, dry_run=False, check=None):
    """Enable NAME (already valid) by linking it into apps-enabled/; return an Outcome.

    maint: a maintainer script asks; it never overrides an admin who disabled the app.
    check: path -> None or a one-line problem (inicheck.check by default; a dry run runs
    no binary: inicheck.check_static).
    """
    _require_dir(available_dir(confdir))
    _require_dir(enabled_dir(confdir))
    source = available_path(confdir, name)
    kind = link_state(confdir, name)
    if kind == "ours":
        if not dry_run:
            _mark(statedir, name, "enabled", maint, changed=False)
        return Outcome(name, False, f"App {name} already enabled")
    if not os.path.isfile(source):
        raise Refused(f"app {name} does not exist (no {source})")
    if maint and state.current(statedir, name) == "disabled_by_admin":
        return Outcome(name, False, f"App {name} was disabled by the admin; not enabling it")
    if kind != "missing":
        raise Refused(_describe(confdir, name, kind))
    if check is None:
        from . import inicheck

        check = inicheck.check_static if dry_run else inicheck.check
    problem = check(source)
    if problem:
        raise Refused(f"app {name}: {source}: {problem}")
    if dry_run:
        return Outcome(name, True, f"Would enable app {name}.")
    link = enabled_path(confdir, name)
    with _marked(statedir, name, "enabled", maint):
        try:
            # symlink(2) is atomic and never replaces anything: there is no moment with a
            # half-made entry, and a file that appeared since the checks above is left alone.
            os.symlink(link_target(name), link)
        except FileExistsError:
            raise Refused(f"app {name}: {link} appeared meanwhile; not touching it")
        except OSError as err:
            raise Refused(f"app {name}: cannot create {link}: {err.strerror}")
    return Outcome(name, True, f"Enabling app {name}.")


def disable(confdir, statedir, name, *, maint=False, purge=False, dry_run=False):
    """Disable NAME by removing its link from apps-enabled/ (any link, dangling ones too)."""
    _require_dir(enabled_dir(confdir))
    link = enabled_path(confdir, name)
    kind = link_state(confdir, name)
    if kind in ("file", "other"):
        raise Refused(_describe(confdir, name, kind))
    if kind == "missing":
        if purge:
            if not dry_run:
                _purge(statedir, name)
            if not os.path.isfile(available_path(confdir, name)):
                return Outcome(name, False, f"Purged the state of app {name}")
        elif not os.path.isfile(available_path(confdir, name)):
            raise Refused(f"app {name} does not exist (no {available_path(confdir, name)})")
        elif not dry_run:
            _mark(statedir, name, "disabled", maint, changed=False)
        return Outcome(name, False, f"App {name} already disabled")
    if dry_run:
        if kind == "dangling":
            return Outcome(name, True, f"Would remove dangling link {link}.")
        return Outcome(name, True, f"Would disable app {name}.")
    with _marked(statedir, name, None if purge else "disabled", maint):
        try:
            os.unlink(link)
        except FileNotFoundError:
            pass  # someone else disabled it meanwhile: the asked state is reached
        except OSError as err:
            raise Refused(f"app {name}: cannot remove {link}: {err.strerror}")
    if kind == "dangling":
        return Outcome(name, True, f"Removed dangling link {link}.")
    return Outcome(name, True, f"App {name} disabled.")


@contextlib.contextmanager
def _marked(statedir, name, action, maint):
    """Write the marker for a change (or purge them, ACTION None), then make the change.

    The marker goes first so that an unwritable state directory stops the action before
    apps-enabled/ changes; if the change then fails, the old marker comes back.
    """
    previous = state.current(statedir, name)
    if action is None:
        _purge(statedir, name)
    else:
        _mark(statedir, name, action, maint, changed=True)
    try:
        yield
    except BaseException:
        state.purge(statedir, name)
        if previous:
            action_, by = previous.split("_by_")
            state.record(statedir, name, action_, by)
        raise


def _mark(statedir, name, action, maint, changed):
    """Record who asked; a maintainer script confirming the present state never hides an admin's marker."""
    if maint and not changed and state.current(statedir, name):
        return
    try:
        state.record(statedir, name, action, "maint" if maint else "admin")
    except OSError as err:
        raise Refused(f"app {name}: cannot record the change in {statedir}: {err.strerror}")


def _purge(statedir, name):
    try:
        state.purge(statedir, name)
    except OSError as err:
        raise Refused(f"app {name}: cannot purge its state in {statedir}: {err.strerror}")


def query(confdir, statedir, name):
    """(exit status, one-line description) for uwsgi-query NAME, as a2query -s does."""
    marker = state.current(statedir, name)
    if os.path.exists(enabled_path(confdir, name)):
        who = WHO[marker.rsplit("_", 1)[1]] if marker and marker.startswith("enabled") else "unknown"
        return QUERY_ENABLED, f"{name} (enabled by {who})"
    if marker == "disabled_by_admin":
        return QUERY_DISABLED_BY_ADMIN, f"No app matches {name} (disabled by {WHO['admin']})"
    if marker == "disabled_by_maint":
        return QUERY_DISABLED_BY_MAINT, f"No app matches {name} (disabled by {WHO['maint']})"
    return QUERY_NOT_FOUND, f"No app matches {name}"


def listing(confdir, statedir):
    """One (name, status, detail) row per app in apps-available/ or apps-enabled/."""
    rows = []
    for name in sorted(set(available_names(confdir)) | set(enabled_names(confdir))):
        kind = link_state(confdir, name)
        marker = state.current(statedir, name) or ""
        who = f"by {WHO[marker.rsplit('_', 1)[1]]}" if marker else ""
        if kind == "ours":
            rows.append((name, "enabled", who if marker.startswith("enabled") else ""))
        elif kind == "foreign":
            rows.append((name, "enabled", f"link to {os.readlink(enabled_path(confdir, name))}"))
        elif kind == "file":
            rows.append((name, "enabled", "a regular file, not a link"))
        elif kind == "missing":
            rows.append((name, "disabled", who if marker.startswith("disabled") else ""))
        else:
            rows.append((name, "broken", f"{enabled_path(confdir, name)} leads nowhere"))
    return rows

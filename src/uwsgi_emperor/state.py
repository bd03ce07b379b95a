"""Who enabled or disabled an app: a2ensite-style marker files under STATEDIR/site/.

An app has at most one marker, STATEDIR/site/<enabled|disabled>_by_<admin|maint>/NAME, so a
package's maintainer script can tell an admin's choice (which it must respect) from its own.
"""

import os

# Admin kinds first: current() prefers them if a crash ever left two markers.
KINDS = ("enabled_by_admin", "disabled_by_admin", "enabled_by_maint", "disabled_by_maint")


def site_dir(statedir):
    return os.path.join(statedir, "site")


def markers(statedir, name):
    """The kinds of marker present for NAME (normally zero or one)."""
    return [k for k in KINDS if os.path.lexists(os.path.join(site_dir(statedir), k, name))]


def current(statedir, name):
    """The marker kind for NAME, or None; an admin's marker wins if there are several."""
    found = markers(statedir, name)
    return found[0] if found else None


def purge(statedir, name):
    """Forget who enabled or disabled NAME."""
    for kind in markers(statedir, name):
        os.unlink(os.path.join(site_dir(statedir), kind, name))


def record(statedir, name, action, by):
    """Record that NAME was 'enabled' or 'disabled' by 'admin' or 'maint', replacing any older marker."""
    kind = f"{action}_by_{by}"
    if kind not in KINDS:
        raise ValueError(f"unknown marker kind {kind!r}")
    purge(statedir, name)
    directory = os.path.join(site_dir(statedir), kind)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "w"):
        pass

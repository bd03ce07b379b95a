"""The host's own Debian mirror, for any suite: the one reader of the host's apt sources.

Every root of another suite (the build roots of testbed/buildroot.py, the test and bench
roots of roots.py) is made by mmdebstrap from the mirror the host already uses, so any host
can make any suite's root and nothing is configured twice.
"""

import pathlib

from .suites import host_suite, suite as suite_info

ETC = pathlib.Path("/etc/apt")


def _file_entries(path):
    """(uris, suites, components, signed_by) of each deb entry in one apt sources file."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".sources":
        # Imported here, not at the top: scripts/build-deb imports this module before it
        # installs the packages of scripts/apt-build-tools.txt (python3-debian is one).
        from debian.deb822 import Deb822
        # Field names are case-insensitive; '#' comment lines are dropped; a folded field
        # (continuation lines) is one value, its lines joined by newlines.
        for stanza in Deb822.iter_paragraphs(text, use_apt_pkg=False):
            if "deb" not in stanza.get("Types", "").split():
                continue
            if stanza.get("Enabled", "yes").split() == ["no"]:
                continue
            signed_by = stanza.get("Signed-By", "")
            if "BEGIN PGP PUBLIC KEY BLOCK" in signed_by:
                signed_by = ""  # an embedded key: a one-line signed-by= cannot carry it
            yield (stanza.get("URIs", "").split(), stanza.get("Suites", "").split(),
                   stanza.get("Components", "main").split(), " ".join(signed_by.split()))
    else:
        for line in text.splitlines():
            words = line.split("#", 1)[0].split()
            if words[:1] != ["deb"]:
                continue
            options, signed_by = [], ""
            if len(words) > 1 and words[1].startswith("["):
                while words and not words[1].endswith("]"):
                    options.append(words.pop(1))
                options.append(words.pop(1))
                for opt in " ".join(options).strip("[]").split():
                    if opt.startswith("signed-by="):
                        signed_by = opt.split("=", 1)[1]
            if len(words) >= 3:
                yield [words[1]], [words[2]], words[3:] or ["main"], signed_by


def host_entries(etc=ETC):
    """(uri, suite, components, signed_by) of every deb source of the host, in apt's order
    (sources.list, then sources.list.d/ by name; .list and deb822 .sources)."""
    entries = []
    for path in [etc / "sources.list", *sorted((etc / "sources.list.d").glob("*"))]:
        if path.suffix not in (".list", ".sources") or not path.is_file():
            continue
        for uris, suites, components, signed_by in _file_entries(path):
            for uri in uris:
                for s in suites:
                    entries.append((uri, s, tuple(components), signed_by))
    return entries


def sources(suite, host=None, etc=ETC):
    """One-line apt sources of SUITE on the host's Debian mirror(s): each host entry of its
    own release (bookworm, bookworm-updates, bookworm-security) with the codename replaced.

    Entries of other repositories (suites not named after the host's codename) are left out.
    SystemExit (one line) when the host has no such entry.
    """
    host = host or host_suite()
    suite_info(suite)  # an unknown suite fails here, naming the known ones
    lines = []
    for uri, s, components, signed_by in host_entries(etc):
        if s == host or s.startswith(host + "-"):
            option = f"[signed-by={signed_by}] " if signed_by else ""
            lines.append(f"deb {option}{uri} {suite}{s[len(host):]} {' '.join(components)}")
    if not any(f" {suite} " in line for line in lines):
        raise SystemExit(f"no Debian {host} entry in the host's apt sources ({etc}) "
                         f"to derive {suite}'s mirror from")
    return lines


def host_mirror(host=None, etc=ETC):
    """The URI of the host's Debian archive (for tools that take one mirror, like piuparts)."""
    host = host or host_suite()
    for uri, s, _, _ in host_entries(etc):
        if "debian" in uri and "security" not in uri and s == host:
            return uri
    raise RuntimeError("no Debian archive URI in the host's apt sources")

"""Variants of the built .deb for upgrade tests."""

import pathlib
import re
import subprocess


def with_version(deb, version, dest_dir):
    """A copy of DEB whose control Version is VERSION (repacked with dpkg-deb -R/-b).

    Stands in for "the previous build": same files, lower revision, so apt sees the real .deb
    as an upgrade of it. Only the control field changes (the changelog inside still names the
    real version; nothing reads it during an upgrade)."""
    dest_dir = pathlib.Path(dest_dir)
    tree = dest_dir / "tree"
    subprocess.run(["dpkg-deb", "-R", str(deb), str(tree)], check=True)
    control = tree / "DEBIAN/control"
    text, n = re.subn(r"^Version: .*$", f"Version: {version}", control.read_text(), flags=re.M)
    assert n == 1, "no Version field"
    control.write_text(text)
    name = pathlib.Path(deb).name.split("_")[0]
    out = dest_dir / f"{name}_{version}_amd64.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(tree), str(out)], check=True,
                   stdout=subprocess.DEVNULL)
    return out

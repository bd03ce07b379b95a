"""The temporary confdir and statedir the uwsgi-ensite/dissite/query tests act on, and a
snapshot of a tree to prove a refused action changed nothing (fixtures: conftest.py)."""

import os
import stat
from dataclasses import dataclass
from pathlib import Path

GOOD_INI = "[uwsgi]\nmodule = wsgiref.simple_server:demo_app\n"


def snapshot(root):
    """Everything under ROOT: each path with its type, link target, file bytes and mode."""
    root = Path(root)
    result = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for entry in sorted(dirnames + filenames):
            path = Path(dirpath, entry)
            st = os.lstat(path)
            rel = str(path.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                result[rel] = ("link", os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                result[rel] = ("file", path.read_bytes(), stat.S_IMODE(st.st_mode))
            else:
                result[rel] = ("other", stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode))
    return result


@dataclass
class Tree:
    root: Path
    confdir: Path
    statedir: Path

    @property
    def available(self):
        return self.confdir / "apps-available"

    @property
    def enabled(self):
        return self.confdir / "apps-enabled"

    def add(self, name, text=GOOD_INI):
        path = self.available / f"{name}.ini"
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        return path

    def link(self, name, target=None):
        path = self.enabled / f"{name}.ini"
        os.symlink(target or f"../apps-available/{name}.ini", path)
        return path

    def marker(self, kind, name):
        path = self.statedir / "site" / kind / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        return path

    def markers(self):
        site = self.statedir / "site"
        if not site.is_dir():
            return set()
        return {f"{k.name}/{m.name}" for k in site.iterdir() for m in k.iterdir()}

    def snapshot(self):
        return snapshot(self.root)

"""Shared fixtures and helpers for the uwsgi-ensite/dissite/query tests (holds no tests)."""

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest

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


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A confdir with empty apps-available/ and apps-enabled/, a statedir, and the env pointing there."""
    confdir = tmp_path / "etc-uwsgi"
    (confdir / "apps-available").mkdir(parents=True)
    (confdir / "apps-enabled").mkdir()
    statedir = tmp_path / "state"
    monkeypatch.setenv("UWSGI_CONFDIR", str(confdir))
    monkeypatch.setenv("UWSGI_STATEDIR", str(statedir))
    monkeypatch.setenv("UWSGI_RUNDIR", str(tmp_path / "run"))
    monkeypatch.setenv("UWSGI_LOGDIR", str(tmp_path / "log"))
    return Tree(tmp_path, confdir, statedir)


def require_uwsgi_bin(request=None):
    """The packaged uwsgi binary: the lead's `uwsgi_bin` fixture if there is one, else $UWSGI_BIN."""
    path = None
    if request is not None:
        try:
            path = request.getfixturevalue("uwsgi_bin")
        except pytest.FixtureLookupError:
            path = None
    path = str(path or os.environ.get("UWSGI_BIN") or "")
    assert path, (
        "UWSGI_BIN is not set: these tests need the packaged uwsgi binary "
        "(set UWSGI_BIN to it, e.g. the one unpacked from the built .deb)"
    )
    assert os.access(path, os.X_OK), f"UWSGI_BIN={path} is not an executable file"
    return path


@pytest.fixture
def uwsgi(request, monkeypatch):
    """Path of the packaged uwsgi binary, also exported as $UWSGI_BIN; fails (never skips) without it."""
    path = require_uwsgi_bin(request)
    monkeypatch.setenv("UWSGI_BIN", path)
    return path

"""Property: whatever the names and whatever is already in the tree, ensite/dissite never make a
link outside apps-available, never remove or alter a regular file, and never raise."""

import io
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sitetree import GOOD_INI, snapshot
from uwsgi_emperor import cli

POOL = ["app1", "app2", "x.y", "a@b", "c+d"]

# Names users might type, plus hostile ones: separators, dots, globs, odd characters.
name_chars = st.sampled_from(list("ab1._-@+/*?[]. \\~$\n") + ["..", ".ini", "\u00e9"])
typed = st.one_of(
    st.sampled_from(POOL + [n + ".ini" for n in POOL] + ["*", "app*", "../app1", ".app1", "/etc/passwd"]),
    st.lists(name_chars, min_size=1, max_size=8).map("".join),
)

available_kind = st.sampled_from(["none", "good", "bad-option", "no-section", "not-utf8", "directory"])
enabled_kind = st.sampled_from(
    ["none", "ours", "absolute-ours", "foreign", "dangling", "outside", "file", "directory"]
)
trees = st.dictionaries(st.sampled_from(POOL), st.tuples(available_kind, enabled_kind), max_size=len(POOL))
commands = st.lists(
    st.tuples(
        st.sampled_from(["ensite", "dissite"]),
        st.lists(st.sampled_from(["-q", "-m", "-n", "-p"]), max_size=2, unique=True),
        st.lists(typed, min_size=1, max_size=3),
    ),
    min_size=1,
    max_size=3,
)

CONTENT = {
    "good": GOOD_INI.encode(),
    "bad-option": b"[uwsgi]\nfoobar = 1\n",
    "no-section": b"module = x\n",
    "not-utf8": b"[uwsgi]\nchdir = caf\xe9\n",
}


def build(root, layout):
    conf = root / "conf"
    avail, enabled = conf / "apps-available", conf / "apps-enabled"
    avail.mkdir(parents=True)
    enabled.mkdir()
    (root / "outside").mkdir()
    (root / "outside" / "evil.ini").write_bytes(CONTENT["good"])
    for name, (akind, ekind) in layout.items():
        if akind == "directory":
            (avail / f"{name}.ini").mkdir()
        elif akind != "none":
            (avail / f"{name}.ini").write_bytes(CONTENT[akind])
        link = enabled / f"{name}.ini"
        targets = {
            "ours": f"../apps-available/{name}.ini",
            "absolute-ours": str(avail / f"{name}.ini"),
            "foreign": "../apps-available/app1.ini" if name != "app1" else "../apps-available/app2.ini",
            "dangling": "../apps-available/nothing-here.ini",
            "outside": str(root / "outside" / "evil.ini"),
        }
        if ekind in targets:
            os.symlink(targets[ekind], link)
        elif ekind == "file":
            link.write_bytes(b"[uwsgi]\nmodule = admin_made\n")
        elif ekind == "directory":
            link.mkdir()
    return conf


@pytest.mark.needs_uwsgi  # "bad-option" inis are refused by the uwsgi binary
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layout=trees, runs=commands)
def test_no_escape_no_lost_file_no_traceback(uwsgi_bin, layout, runs):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        conf = build(root, layout)
        state = root / "state"
        enabled = conf / "apps-enabled"
        before = snapshot(root)
        regular_files = {p: v for p, v in before.items() if v[0] == "file"}
        old_links = {p: v for p, v in before.items() if v[0] == "link"}
        env = {"UWSGI_CONFDIR": str(conf), "UWSGI_STATEDIR": str(state), "UWSGI_BIN": uwsgi_bin,
               "UWSGI_RUNDIR": str(root / "run"), "UWSGI_LOGDIR": str(root / "log")}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            for program, options, names in runs:
                main = cli.ensite_main if program == "ensite" else cli.dissite_main
                if program == "ensite" and "-p" in options:
                    options = [o for o in options if o != "-p"]
                status = main(options + ["--"] + names, stdin=io.StringIO(""), stdout=io.StringIO())
                assert status in (0, 1)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        after = snapshot(root)
        # No regular file removed or changed (markers in state/ are new files, which is fine).
        for path, value in regular_files.items():
            assert after.get(path) == value, path
        # Every link is either one that was there before, untouched, or one of ours.
        for path, value in after.items():
            if value[0] != "link" or old_links.get(path) == value:
                continue
            rel = Path(path)
            assert rel.parent == Path("conf/apps-enabled"), path
            assert value[1] == f"../apps-available/{rel.name}", (path, value)
            assert (conf / "apps-available" / rel.name).is_file(), path
        # Nothing appears outside the two directories the tools own.
        for path in set(after) - set(before):
            assert path.startswith(("conf/apps-enabled/", "state")), path
        assert sorted(os.listdir(root / "outside")) == ["evil.ini"]

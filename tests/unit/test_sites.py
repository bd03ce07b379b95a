"""The enable/disable/query rules of sites.py, on a temporary confdir and statedir."""

import os

import pytest

from uwsgi_emperor import sites


def ok_check(path):
    return None


def bad_check(path):
    return "no [uwsgi] section"


def enable(tree, name, **kw):
    kw.setdefault("check", ok_check)
    return sites.enable(str(tree.confdir), str(tree.statedir), name, **kw)


def disable(tree, name, **kw):
    return sites.disable(str(tree.confdir), str(tree.statedir), name, **kw)


def test_enable_makes_a_relative_link_and_an_admin_marker(tree):
    tree.add("app1")
    outcome = enable(tree, "app1")
    assert outcome == sites.Outcome("app1", True, "Enabling app app1.")
    assert os.readlink(tree.enabled / "app1.ini") == "../apps-available/app1.ini"
    assert tree.markers() == {"enabled_by_admin/app1"}


def test_enable_twice_is_already_enabled(tree):
    tree.add("app1")
    enable(tree, "app1")
    before = tree.snapshot()
    assert enable(tree, "app1") == sites.Outcome("app1", False, "App app1 already enabled")
    assert tree.snapshot() == before


def test_an_absolute_link_to_the_same_file_counts_as_enabled_and_is_kept(tree):
    tree.add("app1")
    tree.link("app1", str(tree.available / "app1.ini"))
    tree.marker("enabled_by_admin", "app1")
    before = tree.snapshot()
    assert enable(tree, "app1").changed is False
    assert tree.snapshot() == before


def test_the_ini_check_gets_the_available_file(tree):
    tree.add("app1")
    seen = []
    enable(tree, "app1", check=lambda p: seen.append(p))
    assert seen == [str(tree.available / "app1.ini")]


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda t: None, "app app1 does not exist (no {A}/app1.ini)"),
        (lambda t: (t.available / "app1.ini").mkdir(), "app app1 does not exist (no {A}/app1.ini)"),
        (
            lambda t: (t.add("app1"), (t.enabled / "app1.ini").write_text("[uwsgi]\n")),
            "app app1: {E}/app1.ini is a regular file, not a link; not touching it",
        ),
        (
            lambda t: (t.add("app1"), t.add("other"), t.link("app1", "../apps-available/other.ini")),
            "app app1: {E}/app1.ini points to ../apps-available/other.ini, not to "
            "../apps-available/app1.ini; not touching it",
        ),
        (
            lambda t: (t.add("app1"), t.link("app1", "/nonexistent/app1.ini")),
            "app app1: {E}/app1.ini is a dangling link to /nonexistent/app1.ini; not touching it "
            "(uwsgi-dissite app1 removes it)",
        ),
        (
            lambda t: (t.add("app1"), (t.enabled / "app1.ini").mkdir()),
            "app app1: {E}/app1.ini is not a link; not touching it",
        ),
        (
            lambda t: (t.add("app1"), (t.enabled).rmdir()),
            "directory {E} does not exist",
        ),
        (
            lambda t: (t.add("app1"), t.link("app1", "../../elsewhere/app1.ini")),
            "app app1: {E}/app1.ini is a dangling link to ../../elsewhere/app1.ini; not touching "
            "it (uwsgi-dissite app1 removes it)",
        ),
    ],
    ids=["missing", "not-a-file", "regular-file", "foreign-link", "dangling-foreign",
         "directory", "no-enabled-dir", "dangling-outside"],
)
def test_enable_refusals_change_nothing(tree, setup, message):
    setup(tree)
    before = tree.snapshot()
    with pytest.raises(sites.Refused) as refused:
        enable(tree, "app1")
    assert str(refused.value) == message.format(A=tree.available, E=tree.enabled)
    assert tree.snapshot() == before


def test_enable_refuses_a_bad_ini_and_changes_nothing(tree):
    tree.add("app1")
    before = tree.snapshot()
    with pytest.raises(sites.Refused) as refused:
        enable(tree, "app1", check=bad_check)
    assert str(refused.value) == f"app app1: {tree.available}/app1.ini: no [uwsgi] section"
    assert tree.snapshot() == before


def test_dry_run_enable_checks_but_changes_nothing(tree):
    tree.add("app1")
    before = tree.snapshot()
    assert enable(tree, "app1", dry_run=True) == sites.Outcome("app1", True, "Would enable app app1.")
    assert tree.snapshot() == before
    with pytest.raises(sites.Refused):
        enable(tree, "app1", dry_run=True, check=bad_check)


def test_maint_never_enables_what_the_admin_disabled(tree):
    tree.add("app1")
    tree.marker("disabled_by_admin", "app1")
    before = tree.snapshot()
    outcome = enable(tree, "app1", maint=True, check=bad_check)
    assert outcome == sites.Outcome(
        "app1", False, "App app1 was disabled by the admin; not enabling it"
    )
    assert tree.snapshot() == before


def test_maint_reenables_what_a_maintainer_script_disabled(tree):
    tree.add("app1")
    tree.marker("disabled_by_maint", "app1")
    assert enable(tree, "app1", maint=True).changed is True
    assert tree.markers() == {"enabled_by_maint/app1"}


def test_admin_enable_overrides_an_admin_disable(tree):
    tree.add("app1")
    tree.marker("disabled_by_admin", "app1")
    assert enable(tree, "app1").changed is True
    assert tree.markers() == {"enabled_by_admin/app1"}


def test_maint_confirming_an_admin_enable_keeps_the_admin_marker(tree):
    tree.add("app1")
    enable(tree, "app1")
    assert enable(tree, "app1", maint=True).changed is False
    assert tree.markers() == {"enabled_by_admin/app1"}


def test_maint_confirming_an_unmarked_enable_records_it(tree):
    tree.add("app1")
    tree.link("app1")
    enable(tree, "app1", maint=True)
    assert tree.markers() == {"enabled_by_maint/app1"}


def test_disable_removes_the_link_and_records_the_admin(tree):
    tree.add("app1")
    enable(tree, "app1")
    assert disable(tree, "app1") == sites.Outcome("app1", True, "App app1 disabled.")
    assert not os.path.lexists(tree.enabled / "app1.ini")
    assert (tree.available / "app1.ini").read_text() == "[uwsgi]\nmodule = wsgiref.simple_server:demo_app\n"
    assert tree.markers() == {"disabled_by_admin/app1"}


def test_disable_in_maint_mode_records_the_maintainer(tree):
    tree.add("app1")
    enable(tree, "app1")
    disable(tree, "app1", maint=True)
    assert tree.markers() == {"disabled_by_maint/app1"}


def test_disable_removes_a_dangling_link(tree):
    tree.link("gone")
    outcome = disable(tree, "gone")
    assert outcome == sites.Outcome("gone", True, f"Removed dangling link {tree.enabled}/gone.ini.")
    assert os.listdir(tree.enabled) == []


def test_disable_removes_a_foreign_link_but_not_its_target(tree):
    tree.add("other")
    tree.link("app1", "../apps-available/other.ini")
    assert disable(tree, "app1").changed is True
    assert os.listdir(tree.enabled) == []
    assert (tree.available / "other.ini").exists()


def test_disable_already_disabled_is_success(tree):
    tree.add("app1")
    assert disable(tree, "app1") == sites.Outcome("app1", False, "App app1 already disabled")
    assert tree.markers() == {"disabled_by_admin/app1"}


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda t: None, "app app1 does not exist (no {A}/app1.ini)"),
        (
            lambda t: (t.add("app1"), (t.enabled / "app1.ini").write_text("x")),
            "app app1: {E}/app1.ini is a regular file, not a link; not touching it",
        ),
        (
            lambda t: (t.enabled / "app1.ini").mkdir(),
            "app app1: {E}/app1.ini is not a link; not touching it",
        ),
        (lambda t: t.enabled.rmdir(), "directory {E} does not exist"),
    ],
    ids=["missing", "regular-file", "directory", "no-enabled-dir"],
)
def test_disable_refusals_change_nothing(tree, setup, message):
    setup(tree)
    before = tree.snapshot()
    with pytest.raises(sites.Refused) as refused:
        disable(tree, "app1")
    assert str(refused.value) == message.format(A=tree.available, E=tree.enabled)
    assert tree.snapshot() == before


def test_purge_removes_link_and_every_marker(tree):
    tree.add("app1")
    enable(tree, "app1")
    assert disable(tree, "app1", purge=True).changed is True
    assert tree.markers() == set()
    assert os.listdir(tree.enabled) == []


def test_purge_of_an_app_that_is_gone_forgets_it(tree):
    tree.marker("disabled_by_admin", "old")
    assert disable(tree, "old", purge=True) == sites.Outcome("old", False, "Purged the state of app old")
    assert tree.markers() == set()


def test_dry_run_disable_changes_nothing(tree):
    tree.add("app1")
    enable(tree, "app1")
    tree.link("gone")
    before = tree.snapshot()
    assert disable(tree, "app1", dry_run=True) == sites.Outcome("app1", True, "Would disable app app1.")
    assert disable(tree, "gone", dry_run=True) == sites.Outcome(
        "gone", True, f"Would remove dangling link {tree.enabled}/gone.ini."
    )
    assert disable(tree, "app1", dry_run=True, purge=True).changed is True
    assert tree.snapshot() == before


def test_expand_names_and_globs():
    choices = ["app1", "app2", "blog", "x.y"]
    assert sites.expand(["blog.ini", "app*", "app1", "x.y"], choices) == (
        ["blog", "app1", "app2", "x.y"],
        [],
    )
    assert sites.expand(["zz*", "../x", "a/*", ".hidden"], choices) == (
        [],
        [
            "no app matches 'zz*'",
            "invalid app name '../x': it must not contain a path separator",
            "invalid pattern 'a/*': it must not contain a path separator",
            "invalid app name '.hidden': it must not start with a dot",
        ],
    )
    assert sites.expand(["app[12].ini", "?log"], choices) == (["app1", "app2", "blog"], [])


def test_names_lists_skip_what_is_not_an_app(tree):
    tree.add("app1")
    tree.add("b")
    (tree.available / "notes.txt").write_text("x")
    (tree.available / ".hidden.ini").write_text("x")
    (tree.available / "bad name.ini").write_text("x")
    tree.link("gone")
    assert sites.available_names(str(tree.confdir)) == ["app1", "b"]
    assert sites.enabled_names(str(tree.confdir)) == ["gone"]


def test_query_states(tree):
    c, s = str(tree.confdir), str(tree.statedir)
    for name in ("a", "b", "c", "d", "e"):
        tree.add(name)
    enable(tree, "a")
    enable(tree, "b", maint=True)
    tree.link("c")
    tree.marker("disabled_by_admin", "d")
    tree.marker("disabled_by_maint", "e")
    assert sites.query(c, s, "a") == (0, "a (enabled by site administrator)")
    assert sites.query(c, s, "b") == (0, "b (enabled by maintainer script)")
    assert sites.query(c, s, "c") == (0, "c (enabled by unknown)")
    assert sites.query(c, s, "d") == (32, "No app matches d (disabled by site administrator)")
    assert sites.query(c, s, "e") == (33, "No app matches e (disabled by maintainer script)")
    assert sites.query(c, s, "nothing") == (1, "No app matches nothing")


def test_listing(tree):
    for name in ("a", "b", "c", "d"):
        tree.add(name)
    enable(tree, "a")
    tree.marker("disabled_by_maint", "b")
    tree.link("c", "../apps-available/d.ini")
    tree.link("gone")
    (tree.enabled / "plain.ini").write_text("[uwsgi]\n")
    assert sites.listing(str(tree.confdir), str(tree.statedir)) == [
        ("a", "enabled", "by site administrator"),
        ("b", "disabled", "by maintainer script"),
        ("c", "enabled", "link to ../apps-available/d.ini"),
        ("d", "disabled", ""),
        ("gone", "broken", f"{tree.enabled}/gone.ini leads nowhere"),
        ("plain", "enabled", "a regular file, not a link"),
    ]

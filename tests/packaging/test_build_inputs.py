"""The build's inputs: one reader of the version and maintainer, the mirror of another suite,
the suite's changelog entry, the checkout copy (no .deb needed)."""

import os
import subprocess
import sys

import pytest

from project import ROOT, SUITES, projectinfo

sys.path.insert(0, str(ROOT / "scripts"))
import buildroot  # noqa: E402


def test_one_version_everywhere():
    version = projectinfo.version()
    assert version == subprocess.run(["dpkg-parsechangelog", "-l", str(ROOT / "debian/changelog"),
                                      "-SVersion"], check=True, capture_output=True,
                                     text=True).stdout.strip()
    # setup.py (the helpers' Python distribution) reads the same changelog.
    out = subprocess.run(["/usr/bin/python3", "setup.py", "--version"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.split()[-1]
    assert out == projectinfo.upstream_version() == version.rsplit("-", 1)[0]
    # No other file writes it.
    assert "version=" not in (ROOT / "setup.py").read_text().replace("version=projectinfo", "")
    assert '"1.0.0"' not in (ROOT / "src/uwsgi_emperor/__init__.py").read_text()


def test_suite_versions():
    assert SUITES == ["bookworm", "trixie"]
    v = projectinfo.version()
    assert [projectinfo.package_version(s) for s in SUITES] == [v + "+deb12", v + "+deb13"]


def test_maintainer_from_control_or_environment(monkeypatch):
    monkeypatch.delenv("MAINTAINER", raising=False)
    control = (ROOT / "debian/control").read_text()
    assert f"Maintainer: {projectinfo.maintainer()}\n" in control
    monkeypatch.setenv("MAINTAINER", "Ops Team <ops@example.com>")
    assert projectinfo.maintainer() == "Ops Team <ops@example.com>"
    assert projectinfo.maintainer_parts() == ("Ops Team", "ops@example.com")
    out = subprocess.run(["/usr/bin/python3", "setup.py", "--author", "--author-email"], cwd=ROOT,
                         check=True, capture_output=True, text=True, env=dict(os.environ)).stdout
    assert out.split("\n")[-3:-1] == ["Ops Team", "ops@example.com"]


def test_bad_maintainer_is_one_clear_line():
    proc = subprocess.run(["/usr/bin/python3", str(ROOT / "scripts/projectinfo.py"), "maintainer"],
                          capture_output=True, text=True, env={"MAINTAINER": "nobody"})
    assert proc.returncode == 1
    assert proc.stderr == "projectinfo: maintainer 'nobody' is not 'Name <email@domain>'\n"


def test_unknown_suite_is_one_clear_line():
    proc = subprocess.run(["/usr/bin/python3", str(ROOT / "scripts/projectinfo.py"),
                           "package-version", "sid"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr == "projectinfo: unknown suite 'sid' (supported: bookworm trixie)\n"


@pytest.mark.parametrize("host", ["bookworm", "trixie"])
def test_mirror_of_another_suite(tmp_path, host):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d/debian.sources").write_text(
        "Types: deb\n# a comment\nURIs: http://mirror.example/debian\n"
        f"Suites: {host} {host}-updates\nComponents: main contrib\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        f"Types: deb-src\nURIs: http://mirror.example/debian\nSuites: {host}\nComponents: main\n\n"
        f"Types: deb\nURIs: http://security.example/debian-security\nSuites: {host}-security\n"
        "Components: main\n")
    # Another repository on the host is not Debian's: left out.
    (tmp_path / "sources.list").write_text(f"deb https://vendor.example/apt cloud-sdk-{host} main\n")
    (tmp_path / "sources.list.d/old.list").write_text(
        f"deb [arch=amd64 signed-by=/k.gpg] http://old.example/debian {host} main\n")
    for suite in ("bookworm", "trixie"):
        assert buildroot.mirror_lines(suite, host=host, etc=tmp_path) == [
            f"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example/debian {suite} main contrib",
            f"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example/debian {suite}-updates main contrib",
            f"deb http://security.example/debian-security {suite}-security main",
            f"deb [signed-by=/k.gpg] http://old.example/debian {suite} main",
        ]


def test_no_debian_mirror_is_one_clear_error(tmp_path):
    (tmp_path / "sources.list").write_text("deb https://vendor.example/apt nodistro main\n")
    with pytest.raises(SystemExit, match="no Debian bookworm entry in the host's apt sources"):
        buildroot.mirror_lines("trixie", host="bookworm", etc=tmp_path)


def test_root_cache_key_follows_build_depends():
    bd = buildroot.build_depends()
    assert bd.startswith("Build-Depends: debhelper-compat (= 13),")
    assert "dh-virtualenv" in bd and "Package:" not in bd and "Description" not in bd


def test_prepare_tree_gives_the_suite_its_version(tmp_path, monkeypatch):
    monkeypatch.setenv("MAINTAINER", "Ops Team <ops@example.com>")
    tree = tmp_path / "src"
    epoch = buildroot.prepare_tree(tree, "trixie")
    changelog = (tree / "debian/changelog").read_text()
    version, _ = projectinfo.changelog_top()
    assert epoch == buildroot.changelog_epoch() + 1
    date = subprocess.run(["date", "-R", "-u", "-d", f"@{epoch}"], check=True, capture_output=True,
                          text=True).stdout.strip()
    assert changelog.startswith(f"uwsgi-emperor ({version}+deb13) trixie; urgency=medium\n\n"
                                "  * Build for Debian trixie.\n\n"
                                f" -- Ops Team <ops@example.com>  {date}\n\n"
                                f"uwsgi-emperor ({version}) ")
    assert "Maintainer: Ops Team <ops@example.com>\n" in (tree / "debian/control").read_text()
    # Modes and times normalised: the checkout's umask and checkout time do not matter.
    for path in tree.rglob("*"):
        st = path.stat()
        assert st.st_mtime == epoch, path
        assert oct(st.st_mode & 0o7777) in ("0o644", "0o755"), path
    assert os.access(tree / "scripts/build-deb", os.X_OK)
    assert not os.access(tree / "setup.py", os.X_OK)


def test_uwsgi_patches_are_listed_and_described():
    """debian/uwsgi/patches: what install-uwsgi applies to uWSGI's sdist. Every patch is in the
    series (a forgotten one would silently not be applied), and each carries the DEP-3 fields
    an admin reads to know why the package's uWSGI differs from upstream's."""
    patches = ROOT / "debian/uwsgi/patches"
    series = [line for line in (patches / "series").read_text().splitlines()
              if line and not line.startswith("#")]
    assert sorted(series) == sorted(p.name for p in patches.glob("*.patch"))
    for name in series:
        header = (patches / name).read_text().split("\n---", 1)[0]
        fields = {line.split(":", 1)[0] for line in header.splitlines() if line[:1].isalpha()}
        assert {"Description", "Author", "Forwarded", "Last-Update"} <= fields, name
    # The sdist they apply to is pinned with its hash, like requirements.txt.
    source = (ROOT / "debian/uwsgi/source.txt").read_text()
    assert "uWSGI==2.0.31 \\\n    --hash=sha256:" in source
    assert "uWSGI==" not in (ROOT / "requirements.txt").read_text()

"""The build's inputs: one reader of the version and maintainer, the mirror of another suite
(testbed/aptsources.py, the tests' roots use it too), the cache names of the roots, the
suite's changelog entry, the checkout copy, the build root's namespaces (no .deb needed)."""

import hashlib
import os
import subprocess
import sys

import pytest

from project import ROOT, SUITES, projectinfo
from testbed import aptsources, roots

from testbed import buildroot


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


def test_suite_of_a_version_and_the_cli_publish_repo_uses(tmp_path):
    release = tmp_path / "os-release"
    release.write_text("ID=debian\nVERSION_CODENAME=trixie\n")
    v = projectinfo.version()
    assert [projectinfo.suite_of(v + s, os_release=release) for s in ("+deb12", "+deb13", "")] == \
        ["bookworm", "trixie", "trixie"]  # no suffix: the host's suite

    def cli(*args):
        return subprocess.run(["/usr/bin/python3", "-m", "testbed.projectinfo", *args], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout

    assert (cli("suites"), cli("debian", "bookworm"), cli("debian", "trixie")) == \
        ("bookworm trixie\n", "12\n", "13\n")
    assert cli("suite-of", v + "+deb13") == "trixie\n"
    # publish-repo reads the suites through projectinfo, never suites.tsv itself
    assert "suites.tsv" not in "".join(line for line in (ROOT / "scripts/publish-repo").open()
                                       if not line.lstrip().startswith("#"))


def test_host_cas_land_in_the_root_or_its_upper_layer(tmp_path, monkeypatch):
    bundle = tmp_path / "host-ca.crt"
    bundle.write_text("a host CA\n")
    monkeypatch.setattr(roots, "HOST_CA_BUNDLE", bundle)
    plain = roots.Root(tmp_path / "plain", "bookworm")
    over = roots.Root.overlay(tmp_path / "lower", tmp_path / "over", "bookworm")
    for root, tree in ((plain, plain.path), (over, over.upper)):
        assert root.trust_host_cas() == {"PIP_CERT": roots.ROOT_CA_BUNDLE}
        assert (tree / roots.ROOT_CA_BUNDLE.lstrip("/")).read_text() == "a host CA\n"
    monkeypatch.setattr(roots, "HOST_CA_BUNDLE", tmp_path / "none")
    assert plain.trust_host_cas() == {}


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
    proc = subprocess.run(["/usr/bin/python3", "-m", "testbed.projectinfo", "maintainer"], cwd=ROOT,
                          capture_output=True, text=True, env={"MAINTAINER": "nobody"})
    assert proc.returncode == 1
    assert proc.stderr == "projectinfo: maintainer 'nobody' is not 'Name <email@domain>'\n"


def test_unknown_suite_is_one_clear_line():
    proc = subprocess.run(["/usr/bin/python3", "-m", "testbed.projectinfo", "package-version", "sid"],
                          cwd=ROOT, capture_output=True, text=True)
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
        assert aptsources.sources(suite, host=host, etc=tmp_path) == [
            f"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example/debian {suite} main contrib",
            f"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example/debian {suite}-updates main contrib",
            f"deb http://security.example/debian-security {suite}-security main",
            f"deb [signed-by=/k.gpg] http://old.example/debian {suite} main",
        ]


    # piuparts takes one mirror: the archive, not the security one.
    assert aptsources.host_mirror(host=host, etc=tmp_path) == "http://mirror.example/debian"


def test_no_debian_mirror_is_one_clear_error(tmp_path):
    (tmp_path / "sources.list").write_text("deb https://vendor.example/apt nodistro main\n")
    with pytest.raises(SystemExit, match="no Debian bookworm entry in the host's apt sources"):
        aptsources.sources("trixie", host="bookworm", etc=tmp_path)


def test_sources_defaults_and_disabled_entries(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    # No components: apt's "main"; a disabled stanza, deb-src and options without signed-by
    # are left out.
    (tmp_path / "sources.list").write_text("deb [arch=amd64] http://m.example/debian bookworm\n"
                                           "# deb http://commented.example/debian bookworm main\n")
    (tmp_path / "sources.list.d/off.sources").write_text(
        "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nComponents: main\n"
        "Enabled: no\n  \nTypes: deb deb-src\nURIs: http://on.example/debian\n"
        "Suites: bookworm-updates\nComponents: main non-free-firmware\n")
    (tmp_path / "sources.list.d/ignored.txt").write_text(
        "deb http://txt.example/debian bookworm main\n")
    assert aptsources.sources("trixie", host="bookworm", etc=tmp_path) == [
        "deb http://m.example/debian trixie main",
        "deb http://on.example/debian trixie-updates main non-free-firmware",
    ]


def test_deb822_sources_read_with_python_debian(tmp_path):
    # python-debian's Deb822 reads the .sources files: '#' lines are comments (also inside a
    # stanza), field names are case-insensitive, a folded field is one value. A disabled
    # stanza and a deb-src-only one are left out; a Signed-By holding an embedded key block
    # (multi-line) gives no signed-by= (a one-line source cannot carry it), and the fields
    # after the block are still read.
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d/debian.sources").write_text(
        "# Debian's archive (sources.list(5))\n"
        "Types: deb\n"
        "URIs: http://mirror.example/debian\n"
        "# Suites: bookworm-backports\n"
        "Suites: bookworm bookworm-updates\n"
        "Components: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        "\n"
        "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nComponents: main\n"
        "Enabled: no\n"
        "\n"
        "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\nComponents: main\n"
        "\n"
        "types: deb\n"
        "uris: http://inline.example/debian\n"
        "suites: bookworm-security\n"
        "signed-by:\n"
        " -----BEGIN PGP PUBLIC KEY BLOCK-----\n"
        " .\n"
        " mDMEZTESTBYIKwYBBAHaRw8BAQdAexampleexampleexampleexampleexample\n"
        " =AbCd\n"
        " -----END PGP PUBLIC KEY BLOCK-----\n"
        "components: main\n"
        " contrib\n")
    assert aptsources.sources("trixie", host="bookworm", etc=tmp_path) == [
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example/debian trixie main",
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example/debian trixie-updates main",
        "deb http://inline.example/debian trixie-security main contrib",
    ]


def test_python_debian_is_imported_only_to_read_sources():
    # testbed/build_deb.py imports buildroot (and so testbed/aptsources.py) before it installs
    # the packages of scripts/apt-build-tools.txt (python3-debian is one): importing them
    # must not import python-debian.
    proc = subprocess.run(
        ["/usr/bin/python3", "-c", "import sys; from testbed import build_deb; "
         "print(sorted(m for m in sys.modules if m.split('.')[0] == 'debian'))"],
        cwd=ROOT, capture_output=True, text=True, check=True)
    assert proc.stdout == "[]\n"


def test_unknown_suite_for_sources_names_the_known_ones(tmp_path):
    (tmp_path / "sources.list").write_text("deb http://m.example/debian bookworm main\n")
    with pytest.raises(ValueError, match="unknown suite 'sid': one of bookworm, trixie"):
        aptsources.sources("sid", host="bookworm", etc=tmp_path)


def test_root_names_are_recipe_hashes():
    # The build roots' and the test roots' cache names come from one function; the names of
    # roots already cached must not move (a new name means a new root, minutes of mmdebstrap).
    assert roots.recipe_hash("apt", ["curl"], "deb x") == hashlib.sha256(
        b"apt['curl']deb x").hexdigest()[:12]
    recipe = "\n".join(["4", "trixie", "Build-Depends: x", "lintian", "deb y trixie main"])
    assert roots.recipe_hash(recipe) == hashlib.sha256(recipe.encode()).hexdigest()[:12]


def test_build_root_packages_are_data(tmp_path):
    # The recipe's package list is scripts/build-root-packages.txt, read in order.
    assert buildroot.extra_packages() == ("python3-stdeb", "dh-python", "python3-all",
                                          "python3-setuptools", "python3-debian", "lintian",
                                          "fakeroot")
    listing = tmp_path / "packages.txt"
    listing.write_text("# a comment\n\nlintian  # judges the packages\n  fakeroot\n")
    assert buildroot.extra_packages(listing) == ("lintian", "fakeroot")


def test_only_the_package_and_its_recipe_are_build_inputs():
    """The Makefile rebuilds the .deb when one of its inputs changes: the package's own files
    and the build root's recipe (data). The code that builds and tests (testbed/, tests/,
    scripts/*) is not one, so editing a test does not rebuild the package."""
    def inputs(name):
        return subprocess.run(["make", "-s", "--no-print-directory", f"--eval=show: ; @echo $({name})",
                               "show"], cwd=ROOT, check=True, capture_output=True,
                              text=True).stdout.split()

    deb_inputs = inputs("DEB_INPUTS")
    assert inputs("BUILD_RECIPE") == ["scripts/build-root-packages.txt", "scripts/suites.tsv"]
    outside = [f for f in deb_inputs if f.split("/")[0] not in ("debian", "src", "etc")]
    assert sorted(outside) == ["README.md", "requirements.txt", "scripts/build-root-packages.txt",
                               "scripts/suites.tsv", "setup.py"]
    assert "debian/rules" in deb_inputs and "src/uwsgi_emperor/cli.py" in deb_inputs
    assert not [f for f in deb_inputs if f.startswith(("debian/tests/", "debian/upstream/"))]


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
    assert f"uWSGI=={projectinfo.upstream_version()} \\\n    --hash=sha256:" in source
    assert "uWSGI==" not in (ROOT / "requirements.txt").read_text()


def test_build_root_runs_in_private_namespaces(suite):
    """A command of the build runs in the suite's root (an overlay: the host's writes go in,
    the build's come out), as PID 1's child in private pid, mount, uts and ipc namespaces,
    in the fixed build environment alone, and leaves nothing behind."""
    root = buildroot.BuildRoot(buildroot.root_dir(suite, "tests"), f"test-ns-{suite}", "tests")
    try:
        (root.path / "build").mkdir()
        (root.path / "build/in").write_text("from the host\n")
        # (echo is the shell's own: the processes listed are those before it forks any.)
        proc = root.out(r"cat /build/in; env | sort; umask; tr '\0' ' ' < /proc/1/cmdline; echo;"
                        " echo /proc/[0-9]*; hostname ns-test && hostname;"
                        " . /etc/os-release && echo $VERSION_CODENAME > /build/out")
        assert (proc.returncode, proc.stderr) == (0, "")
        lines = proc.stdout.splitlines()
        env = dict(buildroot.ROOT_ENV, PWD="/", **root.env)
        assert lines[:len(env) + 2] == ["from the host", *sorted(f"{k}={v}" for k, v in env.items()),
                                        "0022"]
        # PID 1 is the reaper (testbed/nsinit.py); only it and the shell live in there.
        assert lines[-3].split()[:2] == ["/usr/bin/python3", str(ROOT / "testbed/nsinit.py")]
        assert lines[-2].split()[0] == "/proc/1" and len(lines[-2].split()) == 2
        assert lines[-1] == "ns-test"
        assert (root.path / "build/out").read_text() == f"{suite}\n"
        log = root.top / "failing.log"
        assert root.run("echo to the log; exit 3", log) is False
        assert log.read_text() == "to the log\n"
    finally:
        root.close()
    assert subprocess.run(["hostname"], capture_output=True, text=True).stdout != "ns-test\n"
    assert roots.mounts_under(root.top) == [] and not root.top.exists()

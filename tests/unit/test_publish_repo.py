"""scripts/publish-repo (`make repo`) on tiny packages: what it writes and when it refuses.

No clean root needed: reprepro and gpg run on the host, in temporary directories.
The end-to-end client side (apt on a clean root) is tests/system/test_mirror.py.
"""

import os
import subprocess

import pytest

from project import ROOT

SCRIPT = ROOT / "scripts" / "publish-repo"
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root"}


def make_deb(tmp_path, version, content, name="uwsgi-emperor"):
    tree = tmp_path / f"tree-{version}-{abs(hash(content))}"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN/control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: amd64\n"
        "Section: admin\nPriority: optional\nMaintainer: test <test@invalid>\n"
        "Description: test package\n test package\n")
    doc = tree / f"usr/share/doc/{name}"
    doc.mkdir(parents=True)
    (doc / "content").write_text(content)
    deb = tmp_path / f"{tree.name}.deb"
    subprocess.run(["dpkg-deb", "-b", "--root-owner-group", str(tree), str(deb)], check=True,
                   capture_output=True, env=ENV)
    return deb


def publish(repo, *debs, **env):
    """Run the script; the throwaway key goes to <tmp>/build/repo-gnupg, as build/ of a tree."""
    env.setdefault("REPO_GNUPGHOME", str(repo.parent.parent / "build" / "repo-gnupg"))
    return subprocess.run([str(SCRIPT), *map(str, debs)], capture_output=True, text=True,
                          env=dict(ENV, REPO_DIR=str(repo), **env))


def gpgv_ok(pubkey_asc, signed):
    keyring = signed.parent / "keyring.gpg"
    subprocess.run(["gpg", "--batch", "--yes", "--dearmor", "-o", str(keyring), str(pubkey_asc)],
                   check=True, env=ENV)
    return subprocess.run(["gpgv", "--keyring", str(keyring), str(signed)],
                          capture_output=True, env=ENV).returncode == 0


@pytest.fixture
def repo(tmp_path):
    yield tmp_path / "dist" / "repo"
    gnupg = tmp_path / "build" / "repo-gnupg"
    if gnupg.exists():  # the script stops the agent; make sure of it
        subprocess.run(["gpgconf", "--homedir", str(gnupg), "--kill", "gpg-agent"], env=ENV)


def test_throwaway_key_signed_repo_and_client_files(tmp_path, repo):
    deb = make_deb(tmp_path, "2.0.31-1", "first")
    proc = publish(repo, deb, REPO_URL="http://apt.example.org/uwsgi")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("publish-repo: WARNING: no REPO_KEY given: signing with a THROWAWAY key (")
    assert "publish-repo: WARNING: kept in " + str(tmp_path / "build/repo-gnupg") + \
        " with no passphrase; for testing only, NEVER for production." in lines
    assert "publish-repo: uwsgi-emperor 2.0.31-1: published" in lines
    dist = tmp_path / "dist"
    assert (dist / "uwsgi-emperor.sources").read_text().splitlines()[2:] == [
        "Types: deb", "URIs: http://apt.example.org/uwsgi", "Suites: bookworm",
        "Components: main", "Architectures: amd64",
        "Signed-By: /etc/apt/keyrings/uwsgi-emperor.asc",
    ]
    assert (dist / "uwsgi-emperor.pref").read_text().splitlines()[2:] == [
        "Package: uwsgi-emperor uwsgi-emperor-dbgsym", "Pin: release o=uwsgi-emperor,l=uwsgi-emperor",
        "Pin-Priority: 1001",
    ]
    assert (dist / "uwsgi-emperor.asc").read_text().startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----\n")
    assert gpgv_ok(dist / "uwsgi-emperor.asc", repo / "dists/bookworm/InRelease")
    release = (repo / "dists/bookworm/InRelease").read_text()
    assert "\nOrigin: uwsgi-emperor\nLabel: uwsgi-emperor\n" in release
    # Nothing of the secret key where things get served: the repository and the client files.
    assert sorted(p.name for p in dist.iterdir()) == [
        "repo", "uwsgi-emperor-bookworm.sources", "uwsgi-emperor-trixie.sources",
        "uwsgi-emperor.asc", "uwsgi-emperor.pref", "uwsgi-emperor.sources"]
    assert [p for p in dist.rglob("*") if "gnupg" in p.name or "private-keys" in p.name] == []
    assert list((tmp_path / "build/repo-gnupg/private-keys-v1.d").glob("*.key")) != []
    assert oct((tmp_path / "build/repo-gnupg").stat().st_mode & 0o777) == "0o700"
    packages = (repo / "dists/bookworm/main/binary-amd64/Packages").read_text()
    assert "Package: uwsgi-emperor\nVersion: 2.0.31-1\n" in packages
    # The agent of the throwaway home was stopped.
    agents = subprocess.run(["pgrep", "-f", f"gpg-agent --homedir {tmp_path / 'build/repo-gnupg'}"],
                            capture_output=True)
    assert agents.returncode == 1


def test_same_file_again_is_accepted_and_key_reused(tmp_path, repo):
    deb = make_deb(tmp_path, "2.0.31-1", "first")
    first = publish(repo, deb)
    assert first.returncode == 0, first.stderr
    again = publish(repo, deb)
    assert again.returncode == 0, again.stderr
    assert "publish-repo: uwsgi-emperor 2.0.31-1: already published (same file)" in again.stdout.splitlines()
    assert first.stdout.splitlines()[0] == again.stdout.splitlines()[0]  # same fingerprint


def test_rebuild_with_same_version_is_refused(tmp_path, repo):
    first = make_deb(tmp_path, "2.0.31-1", "first")
    rebuilt = make_deb(tmp_path, "2.0.31-1", "rebuilt")
    assert publish(repo, first).returncode == 0
    proc = publish(repo, rebuilt)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        f"publish-repo: uwsgi-emperor 2.0.31-1 is already published in {repo} with different "
        "content: bump the revision (`make bump MSG=...` or `dch -i`, then `make deb`) and publish again"]
    pooled = repo / "pool/main/u/uwsgi-emperor/uwsgi-emperor_2.0.31-1_amd64.deb"
    assert pooled.read_bytes() == first.read_bytes()


def test_new_revision_replaces_the_old(tmp_path, repo):
    assert publish(repo, make_deb(tmp_path, "2.0.31-1", "first")).returncode == 0
    proc = publish(repo, make_deb(tmp_path, "2.0.31-2", "rebuilt"))
    assert proc.returncode == 0, proc.stderr
    assert "  uwsgi-emperor 2.0.31-2 amd64" in proc.stdout.splitlines()
    packages = (repo / "dists/bookworm/main/binary-amd64/Packages").read_text()
    assert "Version: 2.0.31-2\n" in packages and "Version: 2.0.31-1\n" not in packages


def test_older_version_is_refused(tmp_path, repo):
    assert publish(repo, make_deb(tmp_path, "2.0.31-2", "new")).returncode == 0
    proc = publish(repo, make_deb(tmp_path, "2.0.31-1", "old"))
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        f"publish-repo: uwsgi-emperor 2.0.31-1 is older than 2.0.31-2 already published in {repo}: "
        "refusing to go back"]


def test_callers_key_signs_and_no_throwaway_key_is_made(tmp_path, repo):
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    env = dict(ENV, GNUPGHOME=str(home))
    try:
        subprocess.run(["gpg", "--batch", "--quiet", "--passphrase", "", "--quick-gen-key",
                        "fleet key <fleet@invalid>", "ed25519", "sign", "1d"],
                       check=True, capture_output=True, env=env)
        listing = subprocess.run(["gpg", "--with-colons", "--list-secret-keys"], check=True,
                                 capture_output=True, text=True, env=env).stdout
        fpr = [l.split(":")[9] for l in listing.splitlines() if l.startswith("fpr:")][0]
        proc = publish(repo, make_deb(tmp_path, "2.0.31-1", "x"), REPO_KEY=fpr, GNUPGHOME=str(home))
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env)
    assert proc.returncode == 0, proc.stderr
    assert "THROWAWAY" not in proc.stdout
    assert f"signed by {fpr}" in proc.stdout
    assert not (tmp_path / "build" / "repo-gnupg").exists()
    assert gpgv_ok(tmp_path / "dist" / "uwsgi-emperor.asc", repo / "dists/bookworm/InRelease")


def test_unknown_key_is_refused(tmp_path, repo):
    home = tmp_path / "empty-gnupg"
    home.mkdir(mode=0o700)
    proc = publish(repo, make_deb(tmp_path, "2.0.31-1", "x"), REPO_KEY="0123456789ABCDEF",
                   GNUPGHOME=str(home))
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=dict(ENV, GNUPGHOME=str(home)))
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        f"publish-repo: REPO_KEY 0123456789ABCDEF: no secret key with that fingerprint in {home}"]


def test_missing_package_file(tmp_path, repo):
    proc = publish(repo, tmp_path / "nope.deb")
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [f"publish-repo: {tmp_path / 'nope.deb'}: no such file"]


def test_not_a_package(tmp_path, repo):
    bogus = tmp_path / "bogus.deb"
    bogus.write_text("not a deb")
    proc = publish(repo, bogus)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [f"publish-repo: {bogus}: not a Debian package"]


def test_origin_with_a_space_is_refused(tmp_path, repo):
    proc = publish(repo, make_deb(tmp_path, "2.0.31-1", "x"), REPO_ORIGIN="my origin")
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "publish-repo: REPO_ORIGIN 'my origin' must be letters, digits and . + _ - only (apt pins match it)"]


@pytest.mark.parametrize("inside", ["dist/repo-gnupg", "dist/repo/gnupg", "dist"])
def test_throwaway_key_inside_what_is_served_is_refused(tmp_path, repo, inside):
    proc = publish(repo, make_deb(tmp_path, "2.0.31-1", "x"), REPO_GNUPGHOME=str(tmp_path / inside))
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        f"publish-repo: REPO_GNUPGHOME {tmp_path / inside} is inside {tmp_path / 'dist'}, which is "
        "served: keep the throwaway key elsewhere"]
    assert not (tmp_path / "dist/repo-gnupg").exists() and not (repo / "gnupg").exists()
    assert not (tmp_path / "dist/uwsgi-emperor.sources").exists()


def test_origin_and_label_both_pinned(tmp_path, repo):
    proc = publish(repo, make_deb(tmp_path, "2.0.31-1", "x"), REPO_ORIGIN="acme-uwsgi")
    assert proc.returncode == 0, proc.stderr
    assert "Pin: release o=acme-uwsgi,l=acme-uwsgi" in (tmp_path / "dist/uwsgi-emperor.pref").read_text().splitlines()
    release = (repo / "dists/bookworm/Release").read_text()
    assert "Origin: acme-uwsgi\nLabel: acme-uwsgi\n" in release


BAD_URLS = ["http://apt.example.org/x\nTrusted: yes", "http://a\rTrusted: yes", "http://a b",
            "http://a\tb", "http://\u00e9.example.org", "http://a\x01b", "http://a\x7fb"]
BAD_URL_MESSAGE = ("publish-repo: REPO_URL must be a single URL of printable ASCII characters: "
                   "no spaces, control characters or line breaks")


@pytest.mark.parametrize("url", BAD_URLS)
def test_url_that_could_add_fields_is_refused(tmp_path, repo, url):
    proc = publish(repo, make_deb(tmp_path, "2.0.31-1", "x"), REPO_URL=url)
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr.splitlines() == [BAD_URL_MESSAGE]
    assert not (tmp_path / "dist/uwsgi-emperor.sources").exists()


@pytest.mark.parametrize("url", ["ftp://apt.example.org/x", "apt.example.org/x", "http://",
                                 "file://relative/x", "javascript:alert(1)"])
def test_url_of_another_scheme_is_refused(tmp_path, repo, url):
    proc = publish(repo, make_deb(tmp_path, "2.0.31-1", "x"), REPO_URL=url)
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr.splitlines() == [
        f"publish-repo: REPO_URL '{url}' must start with http://, https:// or file:///"]
    assert not (tmp_path / "dist/uwsgi-emperor.sources").exists()


@pytest.mark.parametrize("url", ["https://apt.example.org/uwsgi", "file:///srv/mirror"])
def test_good_urls_are_written_as_given(tmp_path, repo, url):
    proc = publish(repo, make_deb(tmp_path, "2.0.31-1", "x"), REPO_URL=url)
    assert proc.returncode == 0, proc.stderr
    assert f"URIs: {url}" in (tmp_path / "dist/uwsgi-emperor.sources").read_text().splitlines()

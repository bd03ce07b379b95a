"""`make repo` end to end, per suite: a fleet host that knows only the mirror's client files.

scripts/publish-repo publishes every selected suite's built .deb (and its -dbgsym) with a
throwaway key into one repository (dists/bookworm, dists/trixie) served over HTTP on the
host's loopback (the roots here share the host's network: apt also needs Debian's archive
for the dependencies, and apps listen on unix sockets, so no port is shared with anything).
The HTTP server refuses conf/ and db/, as the README tells a fleet's web server to, and the
client is a clean root of the suite given only uwsgi-emperor.asc, its suite's
uwsgi-emperor-SUITE.sources (as uwsgi-emperor.sources) and uwsgi-emperor.pref.

The new revision for the upgrade is the built .deb repacked (debtools.with_version: Version
bumped to the next Debian revision): same files, new version, which is what a `make bump`
rebuild publishes.
"""

import re
import shutil
import subprocess

import pytest

import uwsgi_request
from mirror import HOST_ENV, PRIVATE, Server, client_root, next_revision, publish, throwaway_fingerprint
from project import SUITES, deb_file, package_version, selected_suites, suite as suite_info
from testbed import debtools

pytestmark = pytest.mark.system

APP = uwsgi_request.plain_app("hello from the mirror")


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    """Three repositories under one HTTP server on 127.0.0.1, each with every selected suite:
    /good (signed, the client's key), /other (signed by another throwaway key) and
    /unsigned (the good one without InRelease and Release.gpg)."""
    base = tmp_path_factory.mktemp("mirror")
    www = base / "www"
    www.mkdir()
    server = Server(www)
    debs = [deb_file(s, name) for s in selected_suites()
            for name in ("uwsgi-emperor", "uwsgi-emperor-dbgsym")]

    good = base / "good" / "repo"
    out = publish(good, f"{server.url}/good", *debs)
    (www / "good").symlink_to(good)
    other = base / "other" / "repo"
    other_out = publish(other, f"{server.url}/other", *debs)
    (www / "other").symlink_to(other)
    unsigned = base / "unsigned" / "repo"
    shutil.copytree(good, unsigned, symlinks=True)
    for suite in selected_suites():
        (unsigned / f"dists/{suite}/InRelease").unlink()
        (unsigned / f"dists/{suite}/Release.gpg").unlink()
    (www / "unsigned").symlink_to(unsigned)
    yield {
        "url": server.url, "good": good, "server": server, "publish_output": out,
        "files": good.parent,
        "fingerprint": throwaway_fingerprint(out),
        "other_fingerprint": throwaway_fingerprint(other_out),
    }
    server.close()


@pytest.fixture(scope="module")
def fleet_host(suite, tmp_path_factory, mirror):
    root = client_root(suite, tmp_path_factory.mktemp(f"{suite}-fleet-host") / "root",
                       mirror["files"], mirror["url"])
    # Without the shared apt cache: the package must come from the mirror, not a cache.
    machine = root.machine(offline=False, caches=False)
    machine.run("apt-get update -q")
    yield machine
    root.discard()


def policy(machine):
    return machine.out("apt-cache policy uwsgi-emperor")


def test_client_files_point_at_the_mirror_with_its_key(mirror, suite):
    files = mirror["files"]
    assert (files / f"uwsgi-emperor-{suite}.sources").read_text().splitlines()[2:] == [
        "Types: deb",
        f"URIs: {mirror['url']}/good",
        f"Suites: {suite}",
        "Components: main",
        "Architectures: amd64",
        "Signed-By: /etc/apt/keyrings/uwsgi-emperor.asc",
    ]
    assert (files / "uwsgi-emperor.pref").read_text().splitlines()[2:] == [
        "Package: uwsgi-emperor uwsgi-emperor-dbgsym",
        "Pin: release o=uwsgi-emperor,l=uwsgi-emperor",
        "Pin-Priority: 1001",
    ]
    shown = subprocess.run(["gpg", "--show-keys", "--with-colons", str(files / "uwsgi-emperor.asc")],
                           capture_output=True, text=True, check=True, env=HOST_ENV).stdout
    assert [l.split(":")[9] for l in shown.splitlines() if l.startswith("fpr:")] == [mirror["fingerprint"]]
    assert "never for production" in mirror["publish_output"].lower()


def test_one_repository_holds_every_suite(mirror, suite):
    # One distribution per supported suite, signed by one key; each holds that suite's
    # build and its -dbgsym.
    assert sorted(p.name for p in (mirror["good"] / "dists").iterdir()) == sorted(SUITES)
    release = (mirror["good"] / f"dists/{suite}/InRelease").read_text()
    assert f"\nCodename: {suite}\n" in release
    packages = (mirror["good"] / f"dists/{suite}/main/binary-amd64/Packages").read_text()
    assert re.findall(r"(?m)^Package: (.*)$", packages) == ["uwsgi-emperor", "uwsgi-emperor-dbgsym"]
    assert re.findall(r"(?m)^Version: (.*)$", packages) == [package_version(suite)] * 2


def test_apt_pins_the_mirror_over_debian(fleet_host, mirror, suite):
    version = package_version(suite)
    assert policy(fleet_host).splitlines() == [
        "uwsgi-emperor:",
        "  Installed: (none)",
        f"  Candidate: {version}",
        "  Version table:",
        f"     {version} 1001",
        f"        500 {mirror['url']}/good {suite}/main amd64 Packages",
        f"     {suite_info(suite).debian_uwsgi} 500",
        f"        500 http://deb.debian.org/debian {suite}/main amd64 Packages",
    ]


def test_install_gets_this_package_not_debians(fleet_host, mirror, suite):
    fleet_host.run("apt-get install -y -q uwsgi-emperor", timeout=600)
    assert fleet_host.out("dpkg-query -W -f '${Version}' uwsgi-emperor") == package_version(suite)
    assert fleet_host.out("/opt/venvs/uwsgi-emperor/bin/uwsgi --version") == "2.0.31"
    # The suite's own build: its venv runs on the suite's python.
    python = suite_info(suite).python
    assert fleet_host.out("readlink -f /opt/venvs/uwsgi-emperor/bin/python3") == f"/usr/bin/{python}"
    # apt fetched the index and the package over HTTP, and never conf/ or db/.
    paths = mirror["server"].paths
    assert (f"/good/pool/main/u/uwsgi-emperor/uwsgi-emperor_{package_version(suite)}_amd64.deb"
            in paths)
    assert [p for p in paths if PRIVATE.search(p)] == []


def test_new_revision_upgrades_with_apps_serving(fleet_host, mirror, deb_path, suite, tmp_path):
    old, new = package_version(suite), next_revision(package_version(suite))
    if fleet_host.run("dpkg-query -W uwsgi-emperor", check=False).returncode:
        fleet_host.run("apt-get install -y -q uwsgi-emperor", timeout=600)  # the test before's
    assert fleet_host.out("dpkg-query -W -f '${Version}' uwsgi-emperor") == old
    fleet_host.run("mkdir -p /srv/hello && cat > /srv/hello/app.py", input=APP)
    fleet_host.run("printf '[uwsgi]\\nchdir = /srv/hello\\nmodule = app\\n' "
                   "> /etc/uwsgi/apps-available/hello.ini && uwsgi-ensite -q hello")
    before = uwsgi_request.get(fleet_host, "/run/uwsgi/hello.sock")
    assert before.startswith("HTTP/1.1 200 OK\r\n")
    assert uwsgi_request.body(before) == "hello from the mirror"

    rebuilt = debtools.with_version(deb_path, new, tmp_path)
    out = publish(mirror["good"], f"{mirror['url']}/good", rebuilt)
    assert f"publish-repo: uwsgi-emperor {new}: published" in out.splitlines()

    fleet_host.run("apt-get update -q")
    upgrade = fleet_host.run("apt-get upgrade -y -q", timeout=600)
    assert f"Unpacking uwsgi-emperor ({new}) over ({old})" in upgrade.stdout
    assert fleet_host.out("dpkg-query -W -f '${Version}' uwsgi-emperor") == new
    after = uwsgi_request.get(fleet_host, "/run/uwsgi/hello.sock")
    assert after.startswith("HTTP/1.1 200 OK\r\n")
    assert uwsgi_request.body(after) == "hello from the mirror"
    assert fleet_host.out("readlink /etc/uwsgi/apps-enabled/hello.ini") == "../apps-available/hello.ini"


@pytest.fixture(scope="module")
def wary_host(suite, tmp_path_factory, mirror):
    """A second clean root, for the repositories apt must refuse."""
    root = client_root(suite, tmp_path_factory.mktemp(f"{suite}-wary-host") / "root",
                       mirror["files"], mirror["url"])
    machine = root.machine(offline=False)
    yield root, machine
    root.discard()


def point_at(root, mirror, url_path):
    path = root.path / "etc/apt/sources.list.d/uwsgi-emperor.sources"
    text = re.sub(r"(?m)^URIs: .*$", f"URIs: {mirror['url']}/{url_path}", path.read_text())
    path.write_text(text)


def test_unsigned_repository_is_refused(wary_host, mirror, suite):
    root, machine = wary_host
    point_at(root, mirror, "unsigned")
    proc = machine.run("apt-get update -q", check=False)
    assert proc.returncode == 100
    assert f"E: The repository '{mirror['url']}/unsigned {suite} Release' is not signed." \
        in proc.stderr.splitlines()
    # Nothing from it is installable: apt would take Debian's package.
    assert f"  Candidate: {suite_info(suite).debian_uwsgi}" in policy(machine).splitlines()


def test_repository_signed_by_another_key_is_refused(wary_host, mirror, suite):
    root, machine = wary_host
    point_at(root, mirror, "other")
    proc = machine.run("apt-get update -q", check=False)
    assert proc.returncode == 100
    lines = proc.stderr.splitlines()
    assert f"E: The repository '{mirror['url']}/other {suite} InRelease' is not signed." in lines
    # apt names the key it lacks: gpgv (bookworm's apt 2.6) by its long ID, sqv (trixie's
    # apt 3.0) by its fingerprint.
    missing = {
        "gpgv": (f"W: GPG error: {mirror['url']}/other {suite} InRelease: The following "
                 "signatures couldn't be verified because the public key is not available: "
                 f"NO_PUBKEY {mirror['other_fingerprint'][-16:]}"),
        "sqv": (f"W: OpenPGP signature verification failed: {mirror['url']}/other {suite} "
                "InRelease: Sub-process /usr/bin/sqv returned an error code (1), error message "
                f"is: Missing key {mirror['other_fingerprint']}, which is needed to verify signature."),
    }[suite_info(suite).apt_verifier]
    assert missing in lines
    assert f"  Candidate: {suite_info(suite).debian_uwsgi}" in policy(machine).splitlines()

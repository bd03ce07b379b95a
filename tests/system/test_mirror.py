"""`make repo` end to end: a fleet host that knows only the mirror's three client files.

scripts/publish-repo publishes the built .deb (and its -dbgsym) with a throwaway key into a
repository served over HTTP on the host's loopback (the roots here share the host's network:
apt also needs Debian's archive for the dependencies, and apps listen on unix sockets, so no
port is shared with anything). The HTTP server refuses conf/ and db/, as the README tells a
fleet's web server to, and the client is a clean Debian 12 root given only
uwsgi-emperor.asc, uwsgi-emperor.sources and uwsgi-emperor.pref.

The new revision for the upgrade is the built .deb repacked (dpkg-deb -R, Version: bumped to
the next Debian revision, dpkg-deb -b): same files, new version, which is what a `dch -i`
rebuild publishes.
"""

import functools
import http.server
import pathlib
import re
import shutil
import subprocess
import threading

import pytest

import roots
import uwsgi_request
from project import ROOT, deb_file, package_version

pytestmark = pytest.mark.system

HOST_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root"}
DEBIAN_VERSION = "2.0.21-5.1"  # uwsgi-emperor in Debian 12's archive
APP = """\
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello from the mirror"]
"""


def next_revision(version):
    upstream, revision = version.rsplit("-", 1)
    return f"{upstream}-{int(revision) + 1}"


def publish(repo_dir, url, *debs):
    """scripts/publish-repo with no REPO_KEY: a throwaway key of its own for each repository,
    kept outside what gets served (REPO_DIR and the client files beside it)."""
    gnupg = repo_dir.parent.parent / f"{repo_dir.parent.name}-gnupg"
    env = dict(HOST_ENV, REPO_DIR=str(repo_dir), REPO_URL=url, REPO_GNUPGHOME=str(gnupg))
    proc = subprocess.run([str(ROOT / "scripts" / "publish-repo"), *map(str, debs)],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def throwaway_fingerprint(output):
    return re.search(r"THROWAWAY key \(([0-9A-F]{40})\)", output).group(1)


class MirrorHandler(http.server.SimpleHTTPRequestHandler):
    """Static files, like any web server in front of the repository, minus conf/ and db/."""

    def do_GET(self):
        self.server.paths.append(self.path)
        if re.search(r"/(conf|db)(/|$)", self.path):
            self.send_error(403)
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def mirror(tmp_path_factory, deb_path):
    """Three repositories under one HTTP server on 127.0.0.1:
    /good (signed, the client's key), /other (signed by another throwaway key) and
    /unsigned (the good one without InRelease and Release.gpg)."""
    base = tmp_path_factory.mktemp("mirror")
    www = base / "www"
    www.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(MirrorHandler, directory=str(www)))
    server.paths = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    debs = [deb_path, deb_file(name="uwsgi-emperor-dbgsym")]

    good = base / "good" / "repo"
    out = publish(good, f"{url}/good", *debs)
    (www / "good").symlink_to(good)
    other = base / "other" / "repo"
    other_out = publish(other, f"{url}/other", *debs)
    (www / "other").symlink_to(other)
    unsigned = base / "unsigned" / "repo"
    shutil.copytree(good, unsigned, symlinks=True)
    (unsigned / "dists/bookworm/InRelease").unlink()
    (unsigned / "dists/bookworm/Release.gpg").unlink()
    (www / "unsigned").symlink_to(unsigned)
    yield {
        "url": url, "good": good, "server": server, "publish_output": out,
        "fingerprint": throwaway_fingerprint(out),
        "other_fingerprint": throwaway_fingerprint(other_out),
    }
    server.shutdown()
    server.server_close()


def client_root(tmp_path_factory, mirror, name, url_path="good"):
    """A clean root with the three client files installed where the README says, the
    sources file pointing at URL_PATH on the mirror; services may start (policy-rc.d)."""
    root = roots.Root.unpack(roots.tarball(), tmp_path_factory.mktemp(name) / "root")
    files = mirror["good"].parent
    keyrings = root.path / "etc/apt/keyrings"
    keyrings.mkdir(parents=True, exist_ok=True)
    shutil.copy(files / "uwsgi-emperor.asc", keyrings / "uwsgi-emperor.asc")
    sources = (files / "uwsgi-emperor.sources").read_text()
    sources = sources.replace(f"{mirror['url']}/good", f"{mirror['url']}/{url_path}")
    (root.path / "etc/apt/sources.list.d/uwsgi-emperor.sources").write_text(sources)
    shutil.copy(files / "uwsgi-emperor.pref", root.path / "etc/apt/preferences.d/uwsgi-emperor.pref")
    policy = root.path / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 0\n")
    policy.chmod(0o755)
    return root


@pytest.fixture(scope="module")
def fleet_host(tmp_path_factory, mirror):
    root = client_root(tmp_path_factory, mirror, "fleet-host")
    # Without the shared apt cache: the package must come from the mirror, not a cache.
    machine = roots.Machine(root, net=False, binds=[]).start()
    root.machines.append(machine)
    machine.run("apt-get update -q")
    yield machine
    root.stop_all()
    root.remove()


def policy(machine):
    return machine.out("apt-cache policy uwsgi-emperor")


def test_client_files_point_at_the_mirror_with_its_key(mirror):
    files = mirror["good"].parent
    assert (files / "uwsgi-emperor.sources").read_text().splitlines()[2:] == [
        "Types: deb",
        f"URIs: {mirror['url']}/good",
        "Suites: bookworm",
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


def test_apt_pins_the_mirror_over_debian(fleet_host, mirror):
    version = package_version()
    assert policy(fleet_host).splitlines() == [
        "uwsgi-emperor:",
        "  Installed: (none)",
        f"  Candidate: {version}",
        "  Version table:",
        f"     {version} 1001",
        f"        500 {mirror['url']}/good bookworm/main amd64 Packages",
        f"     {DEBIAN_VERSION} 500",
        "        500 http://deb.debian.org/debian bookworm/main amd64 Packages",
    ]


def test_install_gets_this_package_not_debians(fleet_host, mirror):
    fleet_host.run("apt-get install -y -q uwsgi-emperor", timeout=600)
    assert fleet_host.out("dpkg-query -W -f '${Version}' uwsgi-emperor") == package_version()
    assert fleet_host.out("/opt/venvs/uwsgi-emperor/bin/uwsgi --version") == "2.0.31"
    # apt fetched the index and the package over HTTP, and never conf/ or db/.
    paths = mirror["server"].paths
    assert f"/good/pool/main/u/uwsgi-emperor/uwsgi-emperor_{package_version()}_amd64.deb" in paths
    assert [p for p in paths if re.search(r"/(conf|db)(/|$)", p)] == []


def test_new_revision_upgrades_with_apps_serving(fleet_host, mirror, deb_path, tmp_path):
    old, new = package_version(), next_revision(package_version())
    assert fleet_host.out("dpkg-query -W -f '${Version}' uwsgi-emperor") == old
    fleet_host.run("mkdir -p /srv/hello && cat > /srv/hello/app.py", input=APP)
    fleet_host.run("printf '[uwsgi]\\nchdir = /srv/hello\\nmodule = app\\n' "
                   "> /etc/uwsgi/apps-available/hello.ini && uwsgi-ensite -q hello")
    before = uwsgi_request.get(fleet_host, "/run/uwsgi/hello.sock")
    assert before.startswith("HTTP/1.1 200 OK\r\n")
    assert uwsgi_request.body(before) == "hello from the mirror"

    tree = tmp_path / "tree"
    subprocess.run(["dpkg-deb", "-R", str(deb_path), str(tree)], check=True, env=HOST_ENV)
    control = tree / "DEBIAN/control"
    control.write_text(re.sub(r"(?m)^Version: .*$", f"Version: {new}", control.read_text()))
    rebuilt = tmp_path / f"uwsgi-emperor_{new}_amd64.deb"
    subprocess.run(["dpkg-deb", "-b", str(tree), str(rebuilt)], check=True, env=HOST_ENV,
                   stdout=subprocess.DEVNULL)
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
def wary_host(tmp_path_factory, mirror):
    """A second clean root, for the repositories apt must refuse."""
    root = client_root(tmp_path_factory, mirror, "wary-host")
    machine = root.machine(net=False)
    yield root, machine
    root.stop_all()
    root.remove()


def point_at(root, mirror, url_path):
    path = root.path / "etc/apt/sources.list.d/uwsgi-emperor.sources"
    text = re.sub(r"(?m)^URIs: .*$", f"URIs: {mirror['url']}/{url_path}", path.read_text())
    path.write_text(text)


def test_unsigned_repository_is_refused(wary_host, mirror):
    root, machine = wary_host
    point_at(root, mirror, "unsigned")
    proc = machine.run("apt-get update -q", check=False)
    assert proc.returncode == 100
    assert f"E: The repository '{mirror['url']}/unsigned bookworm Release' is not signed." \
        in proc.stderr.splitlines()
    # Nothing from it is installable: apt would take Debian's package.
    assert f"  Candidate: {DEBIAN_VERSION}" in policy(machine).splitlines()


def test_repository_signed_by_another_key_is_refused(wary_host, mirror):
    root, machine = wary_host
    point_at(root, mirror, "other")
    proc = machine.run("apt-get update -q", check=False)
    assert proc.returncode == 100
    lines = proc.stderr.splitlines()
    assert f"E: The repository '{mirror['url']}/other bookworm InRelease' is not signed." in lines
    assert (f"W: GPG error: {mirror['url']}/other bookworm InRelease: The following signatures "
            "couldn't be verified because the public key is not available: "
            f"NO_PUBKEY {mirror['other_fingerprint'][-16:]}") in lines
    assert f"  Candidate: {DEBIAN_VERSION}" in policy(machine).splitlines()

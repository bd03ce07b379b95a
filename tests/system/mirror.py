"""`make repo` for the system tests: publish with scripts/publish-repo, serve over HTTP on the
host's loopback (the way a fleet's web server would: everything but conf/ and db/), and give a
clean root of any suite the client files the README names."""

import functools
import http.server
import re
import shutil
import subprocess
import threading
import urllib.parse

from project import ROOT
from testbed import roots, stack

HOST_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root"}
PRIVATE = re.compile(r"/(conf|db)(/|$)")


def publish(repo_dir, url, *debs):
    """scripts/publish-repo with no REPO_KEY: a throwaway key of its own for each repository,
    kept outside what gets served (REPO_DIR and the client files beside it); its stdout."""
    gnupg = repo_dir.parent.parent / f"{repo_dir.parent.name}-gnupg"
    env = dict(HOST_ENV, REPO_DIR=str(repo_dir), REPO_URL=url, REPO_GNUPGHOME=str(gnupg))
    proc = subprocess.run([str(ROOT / "scripts" / "publish-repo"), *map(str, debs)],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def throwaway_fingerprint(output):
    return re.search(r"THROWAWAY key \(([0-9A-F]{40})\)", output).group(1)


def next_revision(version):
    """The next Debian revision of VERSION, keeping its suite suffix (2.0.31-1+deb13 ->
    2.0.31-2+deb13): what `make bump` publishes."""
    upstream, revision = version.rsplit("-", 1)
    number, rest = re.fullmatch(r"(\d+)(.*)", revision).groups()
    return f"{upstream}-{int(number) + 1}{rest}"


class Handler(http.server.SimpleHTTPRequestHandler):
    """Static files, like any web server in front of the repository, minus conf/ and db/."""

    def do_GET(self):
        # Decoded: apt 3.0 (trixie) quotes the + of a version (%2b), apt 2.6 does not.
        self.server.paths.append(urllib.parse.unquote(self.path))
        if PRIVATE.search(self.path):
            self.send_error(403)
            return
        super().do_GET()

    def log_message(self, *args):
        pass


class Server:
    """An HTTP server on 127.0.0.1 (a free port) serving WWW; .paths lists every GET."""

    def __init__(self, www):
        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(www)))
        self.httpd.paths = []
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def paths(self):
        return self.httpd.paths

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def client_root(suite, dest, files, url, url_path="good", include=roots.TEST_TOOLS):
    """A clean root of SUITE with the client files (from the directory FILES) installed where
    the README says: the key, SUITE's .sources pointing at URL/URL_PATH, the pin; services may
    start (policy-rc.d)."""
    root = roots.Root.fresh(suite, dest, include=include)
    keyrings = root.path / "etc/apt/keyrings"
    keyrings.mkdir(parents=True, exist_ok=True)
    shutil.copy(files / "uwsgi-emperor.asc", keyrings / "uwsgi-emperor.asc")
    sources = (files / f"uwsgi-emperor-{suite}.sources").read_text()
    sources = sources.replace(f"{url}/good", f"{url}/{url_path}")
    (root.path / "etc/apt/sources.list.d/uwsgi-emperor.sources").write_text(sources)
    shutil.copy(files / "uwsgi-emperor.pref", root.path / "etc/apt/preferences.d/uwsgi-emperor.pref")
    stack.allow_service_starts(root)
    return root

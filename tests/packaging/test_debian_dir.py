"""debian/ as a Debian reviewer reads it: debian/watch (uscan), debian/upstream/metadata
(DEP-12), debian/copyright (DEP-5). Checks of the source tree, no .deb needed.

uscan runs for real on debian/watch, against a local page laid out as Debian's PyPI
redirector lays out a project (/PROJECT/ listing its files, each linked by its name), so the
test needs no network; only the redirector's address is swapped for the local one.
"""

import contextlib
import http.server
import re
import shutil
import subprocess
import threading
import xml.etree.ElementTree as ET

import pytest
import yaml
from debian import copyright as dep5

from project import ROOT

DEBIAN = ROOT / "debian"
REDIRECTOR = "https://pypi.debian.net/"
UWSGI_LICENSE = "GPL-2+ with linking exception"
# The DEP-12 fields (https://dep-team.pages.debian.net/deps/dep12/), Name and Contact
# (deprecated) left out.
DEP12_FIELDS = {
    "Archive", "ASCL-Id", "Bug-Database", "Bug-Submit", "Changelog", "CPE", "Cite-As",
    "Documentation", "Donation", "FAQ", "Funding", "Gallery", "Other-References",
    "Reference", "Registration", "Registry", "Repository", "Repository-Browse",
    "Screenshots", "Security-Contact", "Webservice",
}


def pinned_sdist():
    """(project, version) of the uWSGI sdist debian/uwsgi/source.txt pins: ('uWSGI', '2.0.31')."""
    text = (DEBIAN / "uwsgi/source.txt").read_text()
    match = re.search(r"^([A-Za-z0-9_.-]+)==([0-9.]+) ", text, re.M)
    return match.group(1), match.group(2)


def upstream_version():
    out = subprocess.run(["dpkg-parsechangelog", "-l", str(DEBIAN / "changelog"), "-S", "Version"],
                         check=True, capture_output=True, text=True).stdout.strip()
    return out.rsplit("-", 1)[0]


@contextlib.contextmanager
def redirector(project, files):
    """A local stand-in for the redirector: GET /PROJECT/ lists FILES as links; its base URL."""
    page = "<html><body>\n" + "".join(f'<a href="{f}">{f}</a><br/>\n' for f in files) + "</body></html>\n"

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            found = self.path == f"/{project}/"
            body = page.encode() if found else b"not found\n"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def uscan_report(tmp_path, base):
    """uscan --report --dehs on debian/watch with the redirector at BASE: {dehs tag: text}."""
    watch = (DEBIAN / "watch").read_text()
    assert watch.count(REDIRECTOR) == 1, "debian/watch should name Debian's PyPI redirector once"
    tree = tmp_path / "uwsgi-emperor"
    (tree / "debian").mkdir(parents=True)
    shutil.copy(DEBIAN / "changelog", tree / "debian/changelog")
    (tree / "debian/watch").write_text(watch.replace(REDIRECTOR, base))
    proc = subprocess.run(["uscan", "--no-conf", "--report", "--dehs", "--check-dirname-level", "0"],
                          cwd=tree, capture_output=True, text=True, timeout=120)
    dehs = ET.fromstring(proc.stdout)
    return {child.tag: child.text for child in dehs}


# A listing of both spellings PyPI has used (uWSGI- until 2.0.19.1, uwsgi- since), the
# pinned release, and files uscan must not take for a release: a wheel, a signature.
LISTING = ["uWSGI-2.0.19.tar.gz", "uWSGI-2.0.19.1.tar.gz", "uwsgi-2.0.30.tar.gz",
           "uwsgi-2.0.31.tar.gz", "uwsgi-2.0.31.tar.gz.asc",
           "uwsgi-2.1.0-cp311-cp311-manylinux_2_17_x86_64.whl"]


def test_watch_finds_a_newer_sdist(tmp_path):
    project, version = pinned_sdist()
    assert version == upstream_version()
    with redirector(project, LISTING + ["uwsgi-2.0.32.tar.gz"]) as base:
        report = uscan_report(tmp_path, base)
    assert report.get("warnings") is None
    assert (report["debian-uversion"], report["upstream-version"], report["status"]) == \
        (version, "2.0.32", "newer package available")
    assert report["upstream-url"] == f"{base}{project}/uwsgi-2.0.32.tar.gz"


def test_watch_says_up_to_date_on_the_pinned_release(tmp_path):
    project, version = pinned_sdist()
    with redirector(project, LISTING) as base:
        report = uscan_report(tmp_path, base)
    assert report.get("warnings") is None
    assert (report["upstream-version"], report["status"]) == (version, "up to date")
    assert report["upstream-url"] == f"{base}{project}/uwsgi-{version}.tar.gz"


def test_watch_is_version_4_on_the_redirector():
    """Version 4 (bookworm's uscan reads 4, trixie's 4 and 5), one line on the redirector's
    page of the project source.txt pins."""
    project, _ = pinned_sdist()
    lines = [line for line in (DEBIAN / "watch").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0] == "version=4"
    assert len(lines) == 2 and lines[1].split()[0] == f"{REDIRECTOR}{project}/"


def test_upstream_metadata_is_dep12_for_uwsgi():
    meta = yaml.safe_load((DEBIAN / "upstream/metadata").read_text())
    assert set(meta) <= DEP12_FIELDS, set(meta) - DEP12_FIELDS
    assert meta["Repository"] == "https://github.com/unbit/uwsgi.git"
    assert meta["Repository-Browse"] == "https://github.com/unbit/uwsgi"
    assert meta["Bug-Database"] == meta["Repository-Browse"] + "/issues"
    assert meta["Bug-Submit"] == meta["Bug-Database"] + "/new"
    assert meta["Documentation"] == "https://uwsgi-docs.readthedocs.io/"
    # The registry entry is the project whose sdist the build pins and debian/watch follows.
    assert meta["Registry"] == [{"Name": "PyPI", "Entry": pinned_sdist()[0]}]


@pytest.fixture(scope="module")
def copyright_file():
    with open(DEBIAN / "copyright", encoding="utf-8") as f:
        return dep5.Copyright(f, strict=True)


def test_copyright_names_the_source(copyright_file):
    project, version = pinned_sdist()
    assert copyright_file.header.source.startswith(f"https://pypi.org/project/{project}/{version}/ ")


@pytest.mark.parametrize("path, license", [
    ("debian/rules", "MIT"),
    ("src/uwsgi_emperor/cli.py", "MIT"),
    ("debian/uwsgi/source.txt", "MIT"),
    ("opt/venvs/uwsgi-emperor/bin/uwsgi", UWSGI_LICENSE),
    ("opt/venvs/uwsgi-emperor/lib/python3.11/site-packages/uwsgidecorators.py", UWSGI_LICENSE),
    ("opt/venvs/uwsgi-emperor/lib/python3.13/site-packages/jinja2/__init__.py", "BSD-3-clause"),
    ("opt/venvs/uwsgi-emperor/lib/python3.13/site-packages/markupsafe/__init__.py", "BSD-3-clause"),
])
def test_copyright_license_of(copyright_file, path, license):
    assert copyright_file.find_files_paragraph(path).license.synopsis == license


def test_copyright_puts_the_uwsgi_patches_under_uwsgis_license(copyright_file):
    patches = (DEBIAN / "uwsgi/patches/series").read_text().split()
    assert patches
    for name in patches:
        paragraph = copyright_file.find_files_paragraph(f"debian/uwsgi/patches/{name}")
        assert paragraph.license.synopsis == UWSGI_LICENSE, name


def test_copyright_has_each_license_text_once(copyright_file):
    used = {p.license.synopsis for p in copyright_file.all_files_paragraphs()}
    texts = [p.license.synopsis for p in copyright_file.all_license_paragraphs()]
    assert sorted(texts) == sorted(used)
    gpl = next(p.license.text for p in copyright_file.all_license_paragraphs()
               if p.license.synopsis == UWSGI_LICENSE)
    # uWSGI's LICENSE: the exception, and the GPL's text where Debian keeps it.
    assert "unlimited permission to link the compiled\nversion of this library" in gpl
    assert "/usr/share/common-licenses/GPL-2" in gpl

"""Checks on the built .deb itself: metadata, contents, conffiles, the venv, lintian."""

import marshal
import os
import pathlib
import re
import subprocess
import time

import pytest
from debian import deb822

from project import ROOT, SUITES, package_version, suite_python

from testbed import buildroot

VENV = "opt/venvs/uwsgi-emperor"
# Where scripts/build-deb builds, inside the suite's root (fixed, like sbuild's /build).
BUILD_DIR = "/build/uwsgi-emperor-2.0.31"


def control(deb):
    out = subprocess.run(["dpkg-deb", "-f", str(deb)], check=True, capture_output=True, text=True)
    return deb822.Deb822(out.stdout)


def depends_names(field):
    return {rel.split()[0] for rel in re.split(r"\s*[,|]\s*", field) if rel}


def test_control_fields(deb_path, suite):
    c = control(deb_path)
    python = suite_python(suite)
    assert c["Package"] == "uwsgi-emperor"
    assert c["Version"] == package_version(suite)
    assert c["Architecture"] == "amd64"
    assert c["Conflicts"] == "uwsgi"
    assert c["Recommends"] == "nginx | httpd, logrotate"
    assert c["Pre-Depends"].startswith("init-system-helpers")
    # The features uWSGI was asked to build with, found by dh_shlibdeps in the binary,
    # plus the exact interpreter the venv's python links to.
    assert depends_names(c["Depends"]) == {
        "libc6", "libcap2", "libcrypt1", "libjansson4", "libpcre2-8-0", f"lib{python}",
        {"bookworm": "libssl3", "trixie": "libssl3t64"}[suite],
        "libuuid1", {"bookworm": "libxml2", "trixie": "libxml2"}[suite], "zlib1g", python, "procps",
    }
    # The exact interpreter the venv's python links to, from the suite being built.
    assert re.search(rf"(^|, ){re.escape(python)}(,|$)", c["Depends"])


def test_version_stays_above_debian(deb_path, suite):
    # Debian's bookworm has 2.0.21-5.1 and trixie 2.0.28-9, and 2.0.31-1 was published:
    # apt must see ours as newer.
    for theirs in ("2.0.21-5.1", "2.0.28-9", "2.0.31-1"):
        subprocess.run(["dpkg", "--compare-versions", package_version(suite), "gt", theirs], check=True)


def test_suite_versions_sort_by_release():
    # A host upgraded from bookworm to trixie moves from the bookworm build to the trixie one.
    versions = [package_version(s) for s in SUITES]
    for lower, higher in zip(versions, versions[1:]):
        subprocess.run(["dpkg", "--compare-versions", lower, "lt", higher], check=True)
    assert [v.rsplit("+", 1)[1] for v in versions] == ["deb12", "deb13"]


EXPECTED_FILES = [
    "etc/default/uwsgi-emperor",
    "etc/init.d/uwsgi-emperor",
    "etc/logrotate.d/uwsgi-emperor",
    "etc/uwsgi/emperor.ini",
    "etc/uwsgi/vassal-defaults.ini",
    "etc/uwsgi/apps-available/example.ini",
    "lib/systemd/system/uwsgi-emperor.service",
    "lib/systemd/system/uwsgi-emperor-metrics.service",
    "lib/systemd/system/uwsgi-emperor-metrics.timer",
    "usr/lib/tmpfiles.d/uwsgi-emperor.conf",
    f"{VENV}/bin/uwsgi",
    f"{VENV}/bin/uwsgi-ensite",
    f"{VENV}/bin/uwsgi-dissite",
    f"{VENV}/bin/uwsgi-query",
    f"{VENV}/bin/uwsgi-newapp",
    f"{VENV}/pyvenv.cfg",
    "usr/share/bash-completion/completions/uwsgi-ensite",
    "usr/share/man/man8/uwsgi-ensite.8.gz",
    "usr/share/man/man8/uwsgi-dissite.8.gz",
    "usr/share/man/man8/uwsgi-query.8.gz",
    "usr/share/man/man8/uwsgi-newapp.8.gz",
    "usr/share/doc/uwsgi-emperor/copyright",
]
EXPECTED_DIRS = [
    "etc/uwsgi/apps-enabled",
    "etc/uwsgi/templates",
    "var/lib/uwsgi-emperor",
    "var/log/uwsgi",
]
EXPECTED_LINKS = {
    "usr/sbin/uwsgi-ensite": f"/{VENV}/bin/uwsgi-ensite",
    "usr/sbin/uwsgi-dissite": f"/{VENV}/bin/uwsgi-dissite",
    "usr/sbin/uwsgi-query": f"/{VENV}/bin/uwsgi-query",
    "usr/sbin/uwsgi-newapp": f"/{VENV}/bin/uwsgi-newapp",
    "usr/share/bash-completion/completions/uwsgi-dissite": "uwsgi-ensite",
    "usr/share/bash-completion/completions/uwsgi-query": "uwsgi-ensite",
}


# debhelper installs systemd units under /usr on trixie (merged /usr), under /lib on bookworm.
UNIT_DIR = {"bookworm": "lib/systemd/system", "trixie": "usr/lib/systemd/system"}


@pytest.mark.parametrize("path", EXPECTED_FILES)
def test_file_shipped(unpacked_deb, suite, path):
    if path.startswith("lib/systemd/system/"):
        path = path.replace("lib/systemd/system", UNIT_DIR[suite])
    assert (unpacked_deb / path).is_file()


@pytest.mark.parametrize("path", EXPECTED_DIRS)
def test_dir_shipped(unpacked_deb, path):
    assert (unpacked_deb / path).is_dir()


@pytest.mark.parametrize("path,target", sorted(EXPECTED_LINKS.items()))
def test_link_shipped(unpacked_deb, path, target):
    link = unpacked_deb / path
    assert link.is_symlink()
    # dh_link makes links relative; resolve them against the unpacked root.
    resolved = os.path.normpath(os.path.join("/" + os.path.dirname(path), os.readlink(link)))
    expected = target if target.startswith("/") else "/" + os.path.join(os.path.dirname(path), target)
    assert resolved == expected


def test_readme_shipped(unpacked_deb):
    doc = unpacked_deb / "usr/share/doc/uwsgi-emperor"
    # dh_compress leaves files under 4 KiB uncompressed.
    assert (doc / "README.md.gz").is_file() or (doc / "README.md").is_file()


def test_usr_bin_uwsgi_left_alone(unpacked_deb):
    # /usr/bin/uwsgi belongs to Debian's uwsgi-core; the venv's binary is not put there.
    assert not (unpacked_deb / "usr/bin/uwsgi").exists()


def test_conffiles(deb_path, tmp_path):
    subprocess.run(["dpkg-deb", "-e", str(deb_path), str(tmp_path)], check=True)
    conffiles = (tmp_path / "conffiles").read_text().split()
    assert sorted(conffiles) == [
        "/etc/default/uwsgi-emperor",
        "/etc/init.d/uwsgi-emperor",
        "/etc/logrotate.d/uwsgi-emperor",
        "/etc/uwsgi/apps-available/example.ini",
        "/etc/uwsgi/emperor.ini",
        "/etc/uwsgi/vassal-defaults.ini",
    ]


def test_maintainer_scripts_handle_debians_package(deb_path, tmp_path):
    subprocess.run(["dpkg-deb", "-e", str(deb_path), str(tmp_path)], check=True)
    postinst = (tmp_path / "postinst").read_text()
    # dpkg-maintscript-helper removes Debian's obsolete conffiles on upgrade; the package is
    # named without an architecture (trixie's is Architecture: all, bookworm's amd64).
    assert "rm_conffile /etc/uwsgi-emperor/emperor.ini 2.0.31-1\\~ uwsgi-emperor --" in postinst
    assert "rm_conffile /etc/uwsgi-emperor/vassals/README 2.0.31-1\\~ uwsgi-emperor --" in postinst
    # Both init systems: deb-systemd-helper for the unit, update-rc.d for the script.
    assert "deb-systemd-helper" in postinst and "update-rc.d uwsgi-emperor defaults" in postinst
    assert "systemd-tmpfiles" in postinst


def test_packaged_uwsgi_version(run_uwsgi):
    out = run_uwsgi("--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2.0.31"


@pytest.mark.parametrize("option", ["--cap", "--ssl-socket", "--xml", "--json", "--route",
                                    "--emperor-broodlord", "--vassal-sos"])
def test_uwsgi_features(run_uwsgi, option):
    # Each option exists only when its library was found at build time (libcap, openssl,
    # libxml2, jansson, pcre2 for the routing engine).
    out = run_uwsgi("--help")
    assert re.search(rf"^\s+(-\w\|)?{re.escape(option)}\s", out.stdout, re.M)


def test_uwsgi_has_no_rpath_and_is_stripped(unpacked_deb):
    out = subprocess.run(["readelf", "-d", "-S", str(unpacked_deb / VENV / "bin/uwsgi")],
                         check=True, capture_output=True, text=True).stdout
    assert "RPATH" not in out and "RUNPATH" not in out
    assert ".debug_info" not in out


def test_dbgsym_package_matches(unpacked_deb, dbgsym_path, tmp_path):
    subprocess.run(["dpkg-deb", "-x", str(dbgsym_path), str(tmp_path)], check=True)
    note = subprocess.run(["readelf", "-n", str(unpacked_deb / VENV / "bin/uwsgi")],
                          check=True, capture_output=True, text=True).stdout
    build_id = re.search(r"Build ID: ([0-9a-f]+)", note).group(1)
    assert (tmp_path / f"usr/lib/debug/.build-id/{build_id[:2]}/{build_id[2:]}.debug").is_file()


def test_venv_carries_only_production_code(unpacked_deb, suite):
    python = suite_python(suite)
    site = unpacked_deb / VENV / f"lib/{python}/site-packages"
    top = sorted(p.name for p in site.iterdir() if p.name != "__pycache__")
    assert top == [
        "jinja2", "jinja2-3.1.6.dist-info", "markupsafe", "markupsafe-3.0.3.dist-info",
        "uwsgi-2.0.31.dist-info", "uwsgi_emperor", "uwsgi_ensite-2.0.31.dist-info",
        "uwsgidecorators.py",
    ]
    assert os.readlink(unpacked_deb / VENV / f"bin/{python}") == f"/usr/bin/{python}"


def record_mismatches(site):
    """RECORD lines (of every dist-info under SITE) whose hash or size is not the file's."""
    import base64
    import csv
    import hashlib
    bad = []
    for record in sorted(site.glob("*.dist-info/RECORD")):
        rows = list(csv.reader(record.read_text(encoding="utf-8").splitlines()))
        assert rows, record
        for name, digest, size in rows:
            path = site / name
            if path == record:
                assert (digest, size) == ("", ""), record
                continue
            if not path.is_file():
                bad.append(f"{record.parent.name}: {name} is not shipped")
                continue
            data = path.read_bytes()
            want = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            if (digest, size) != (want, str(len(data))):
                bad.append(f"{record.parent.name}: {name} {digest} {size} != {want} {len(data)}")
    return bad


def test_dist_info_records_match_shipped_files(unpacked_deb, suite):
    # dh_virtualenv rewrites shebangs and chrpath edits bin/uwsgi after pip wrote RECORD;
    # debian/scripts/fix-records makes every line match the file as shipped.
    site = unpacked_deb / VENV / f"lib/{suite_python(suite)}/site-packages"
    records = sorted(p.parent.name for p in site.glob("*.dist-info/RECORD"))
    assert records == ["jinja2-3.1.6.dist-info", "markupsafe-3.0.3.dist-info",
                       "uwsgi-2.0.31.dist-info", "uwsgi_ensite-2.0.31.dist-info"]
    assert record_mismatches(site) == []
    # The files whose hashes used to be stale are listed, with their current hashes.
    uwsgi_record = (site / "uwsgi-2.0.31.dist-info/RECORD").read_text()
    assert "../../../bin/uwsgi,sha256=" in uwsgi_record


# The build paths: the fixed one in the root, the checkout, pip's temporary build
# directory and the old build/pkg copy, in plain and in hex form (uWSGI hex-encodes its CFLAGS).
BUILD_PATHS = [BUILD_DIR, str(ROOT), "build/pkg/uwsgi-emperor", "debian/uwsgi-emperor/opt",
               "/tmp/pip-", "pip-install-", "pip-req-build-"]
NEEDLES = [p.encode() for p in BUILD_PATHS] + [p.encode().hex().encode() for p in BUILD_PATHS]


def offending_files(top):
    offenders = []
    for dirpath, _, files in os.walk(top):
        for name in files:
            path = pathlib.Path(dirpath, name)
            if path.is_symlink():
                continue
            data = path.read_bytes()
            offenders += [f"{path.relative_to(top)}: {n.decode()}" for n in NEEDLES if n in data]
    return offenders


def test_no_build_path_left(unpacked_deb):
    assert offending_files(unpacked_deb) == []
    cfg = (unpacked_deb / VENV / "pyvenv.cfg").read_text()
    assert "command" not in cfg and "home = /usr/bin" in cfg


def test_uwsgi_cflags_name_no_build_path(run_uwsgi):
    # uWSGI embeds the CFLAGS it was built with, hex-encoded, for `uwsgi --build-plugin`.
    out = run_uwsgi("--cflags")
    assert out.returncode == 0, out.stderr
    flags = out.stdout.strip()
    if re.fullmatch(r"[0-9a-f]+", flags):
        flags = bytes.fromhex(flags).decode()
    assert "-O2" in flags and "-DUWSGI_PCRE2" in flags, flags
    assert "prefix-map" not in flags and "/build" not in flags and "/tmp" not in flags, flags
    assert [p for p in BUILD_PATHS if p in flags] == []


def test_debug_info_names_no_build_path(unpacked_deb, dbgsym_path, tmp_path):
    # The -dbgsym package: the DWARF of bin/uwsgi and of MarkupSafe's extension (compilation
    # directories, file and line tables, producer strings) and every string in them.
    subprocess.run(["dpkg-deb", "-x", str(dbgsym_path), str(tmp_path)], check=True)
    assert offending_files(tmp_path) == []
    debug_files = sorted(tmp_path.glob("usr/lib/debug/**/*.debug"))
    comp_dirs = {}
    for debug in debug_files:
        dump = subprocess.run(["readelf", "--debug-dump=info,line,str", "-W", str(debug)],
                              check=True, capture_output=True).stdout
        assert [n for n in NEEDLES if n in dump] == [], debug
        strings = subprocess.run(["strings", "-a", str(debug)], check=True, capture_output=True).stdout
        assert [n for n in NEEDLES if n in strings] == [], debug
        if b"core/uwsgi.c" in dump:
            comp_dirs[debug.name] = set(re.findall(rb"DW_AT_comp_dir\s*:.*?:\s*(\S+)\s*$", dump, re.M))
    # uWSGI's objects were compiled in pip's build directory, mapped to "." (gcc-map-cwd).
    assert list(comp_dirs.values()) == [{b"."}], comp_dirs


def test_pyc_files_name_installed_sources(unpacked_deb):
    pycs = list((unpacked_deb / VENV).rglob("*.pyc"))
    # jinja2, markupsafe and the helpers; pip and setuptools are not shipped.
    assert len(pycs) > 30
    for pyc in pycs:
        with open(pyc, "rb") as f:
            f.read(16)
            code = marshal.load(f)
        assert re.match(rf"/{VENV}/lib/python3\.\d+/site-packages/", code.co_filename), pyc


def test_manpages_have_whatis_entries(unpacked_deb):
    for prog in ("uwsgi-ensite", "uwsgi-dissite", "uwsgi-query", "uwsgi-newapp"):
        page = unpacked_deb / f"usr/share/man/man8/{prog}.8.gz"
        out = subprocess.run(["lexgrog", str(page)], capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
        assert f'"{prog} - ' in out.stdout


def test_init_script_is_valid_sh(unpacked_deb):
    subprocess.run(["sh", "-n", str(unpacked_deb / "etc/init.d/uwsgi-emperor")], check=True)


def test_lintian_clean(deb_path, dbgsym_path, suite):
    # The suite's own lintian (2.116 on bookworm, 2.122 on trixie), in its build root.
    out = subprocess.run([str(ROOT / "scripts/lint-deb"), suite, str(deb_path), str(dbgsym_path)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert not re.search(r"^[EW]: ", out.stdout, re.M), out.stdout


def test_uwsgi_build_date_is_source_date_epoch(unpacked_deb):
    # uWSGI takes its build date from SOURCE_DATE_EPOCH, which dpkg-buildpackage sets from
    # the top changelog entry: the suite's entry, one second after the release entry.
    epoch = buildroot.changelog_epoch() + 1
    stamp = time.strftime("%d %B %Y %H:%M:%S", time.gmtime(epoch)).encode()
    assert stamp in (unpacked_deb / VENV / "bin/uwsgi").read_bytes()

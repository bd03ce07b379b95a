"""Checks on the built .deb itself: metadata, contents, conffiles, the venv, lintian."""

import marshal
import os
import pathlib
import re
import subprocess

import pytest
from debian import deb822

from project import ROOT, package_version, suite_python

VENV = "opt/venvs/uwsgi-emperor"


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
        "libssl3", "libuuid1", "libxml2", "zlib1g", python, "procps",
    }


def test_version_stays_above_debian(deb_path, suite):
    # Debian's bookworm has 2.0.21-5.1 and trixie 2.0.28-9: apt must see ours as newer.
    for theirs in ("2.0.21-5.1", "2.0.28-9"):
        subprocess.run(["dpkg", "--compare-versions", package_version(suite), "gt", theirs], check=True)


EXPECTED_FILES = [
    "etc/default/uwsgi-emperor",
    "etc/init.d/uwsgi-emperor",
    "etc/logrotate.d/uwsgi-emperor",
    "etc/uwsgi/emperor.ini",
    "etc/uwsgi/vassal-defaults.ini",
    "etc/uwsgi/logrotate.trigger",
    "etc/uwsgi/apps-available/example.ini",
    "lib/systemd/system/uwsgi-emperor.service",
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


@pytest.mark.parametrize("path", EXPECTED_FILES)
def test_file_shipped(unpacked_deb, path):
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
        "/etc/uwsgi/logrotate.trigger",
        "/etc/uwsgi/vassal-defaults.ini",
    ]


def test_maintainer_scripts_handle_debians_package(deb_path, tmp_path):
    subprocess.run(["dpkg-deb", "-e", str(deb_path), str(tmp_path)], check=True)
    postinst = (tmp_path / "postinst").read_text()
    # dpkg-maintscript-helper removes Debian's obsolete conffiles on upgrade.
    assert "rm_conffile /etc/uwsgi-emperor/emperor.ini 2.0.31-1\\~ --" in postinst
    assert "rm_conffile /etc/uwsgi-emperor/vassals/README 2.0.31-1\\~ --" in postinst
    # Both init systems: deb-systemd-helper for the unit, update-rc.d for the script.
    assert "deb-systemd-helper" in postinst and "update-rc.d uwsgi-emperor defaults" in postinst
    assert "systemd-tmpfiles" in postinst


def test_packaged_uwsgi_version(run_uwsgi):
    out = run_uwsgi("--version")
    assert (out.returncode, out.stdout.strip()) == (0, "2.0.31")


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
        "uWSGI-2.0.31.dist-info", "uwsgi_emperor", "uwsgi_ensite-1.0.0.dist-info",
        "uwsgidecorators.py",
    ]
    assert (unpacked_deb / VENV / f"bin/{python}").resolve() == pathlib.Path(f"/usr/bin/{python}")


def test_no_build_path_left(unpacked_deb):
    # The package was built in build/pkg/ under the checkout: no file may name it.
    needles = [str(ROOT).encode(), b"build/pkg/uwsgi-emperor", b"debian/uwsgi-emperor/opt"]
    offenders = []
    for dirpath, _, files in os.walk(unpacked_deb):
        for name in files:
            path = pathlib.Path(dirpath, name)
            if path.is_symlink():
                continue
            data = path.read_bytes()
            offenders += [str(path.relative_to(unpacked_deb)) for n in needles if n in data]
    assert offenders == []
    cfg = (unpacked_deb / VENV / "pyvenv.cfg").read_text()
    assert "command" not in cfg and "home = /usr/bin" in cfg


def test_pyc_files_name_installed_sources(unpacked_deb, suite):
    pycs = list((unpacked_deb / VENV).rglob("*.pyc"))
    # jinja2, markupsafe and the helpers; pip and setuptools are not shipped.
    assert len(pycs) > 30
    for pyc in pycs:
        with open(pyc, "rb") as f:
            f.read(16)
            code = marshal.load(f)
        assert code.co_filename.startswith(f"/{VENV}/lib/{suite_python(suite)}/site-packages/"), pyc


def test_manpages_have_whatis_entries(unpacked_deb):
    for prog in ("uwsgi-ensite", "uwsgi-dissite", "uwsgi-query", "uwsgi-newapp"):
        page = unpacked_deb / f"usr/share/man/man8/{prog}.8.gz"
        out = subprocess.run(["lexgrog", str(page)], capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
        assert f'"{prog} - ' in out.stdout


def test_init_script_is_valid_sh(unpacked_deb):
    subprocess.run(["sh", "-n", str(unpacked_deb / "etc/init.d/uwsgi-emperor")], check=True)


def test_lintian_clean(deb_path):
    out = subprocess.run([str(ROOT / "scripts/lint-deb"), str(deb_path)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert not re.search(r"^[EW]: ", out.stdout, re.M), out.stdout

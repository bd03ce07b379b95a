"""`make helper-deb [SUITE=...]`: build python3-uwsgi-ensite, the helpers alone, with stdeb.

    scripts/build-helper-deb [SUITE]        (default: the host's own suite)

For hosts that run Debian's own uwsgi package (same /etc/uwsgi/apps-available and
apps-enabled layout): uwsgi-ensite, uwsgi-dissite, uwsgi-query and uwsgi-newapp on
Debian's python3 and python3-jinja2, in /usr/sbin like in uwsgi-emperor.

Like scripts/build-deb, the build runs in a clean root of SUITE at a fixed path, from the
same copy of the checkout (buildroot.prepare_tree). stdeb turns setup.py into a Debian
source package with the settings of stdeb.cfg; the version is the suite's
(2.0.31-2+deb13, the same as uwsgi-emperor's), the maintainer that of the whole project
(testbed/projectinfo.py; stdeb 0.10.0 does not take it from setup.py's author). finish_debian_dir() then changes what stdeb cannot
express, each change explained there. lintian of the suite (--fail-on error,warning)
checks the package; the result is dist/<suite>/python3-uwsgi-ensite_<version>_all.deb.
"""

import pathlib
import re
import shutil
import subprocess
import sys
import time

from . import buildroot, projectinfo

PROG = "build-helper-deb"
TOP = buildroot.TOP
PACKAGE = "python3-uwsgi-ensite"
EXTRAS = TOP / "packaging" / PACKAGE

SYNOPSIS = "a2ensite-style helpers for the apps of Debian's uwsgi package"
LONG_DESCRIPTION = """\
uwsgi-ensite, uwsgi-dissite and uwsgi-query enable, disable and query the apps
in /etc/uwsgi/apps-available and apps-enabled the way a2ensite, a2dissite and
a2query do for Apache: relative symlinks, glob patterns, state markers that
keep maintainer scripts from re-enabling what the admin disabled, and a check
of each ini with uwsgi --strict before it is enabled. uwsgi-newapp writes a
vassal ini and an nginx server block from templates.
.
This package holds the helpers alone, for hosts that run Debian's own uwsgi
package (its init script starts the apps in /etc/uwsgi/apps-enabled). An app
for Debian's uwsgi names its plugin, e.g. "plugins = python3". The
uwsgi-emperor package ships the same helpers with its own uWSGI."""


def set_field(paragraph, name, value):
    """PARAGRAPH (deb822 text) with field NAME (and its continuation lines) set to VALUE."""
    out, skipping, done = [], False, False
    for line in paragraph.split("\n"):
        if skipping and line[:1].isspace():
            continue
        skipping = line.startswith(name + ":")
        if skipping:
            if not done:
                out.append(f"{name}: {value}")
                done = True
            continue
        out.append(line)
    if not done:
        out.append(f"{name}: {value}")
    return "\n".join(out)


def finish_debian_dir(debian):
    """Change in stdeb's debian/ only what stdeb.cfg cannot express."""
    control = debian / "control"
    paragraphs = [p for p in re.split(r"\n\s*\n", control.read_text(encoding="utf-8")) if p.strip()]
    source, binaries = paragraphs[0], paragraphs[1:]
    [binary] = [b for b in binaries if b.startswith(f"Package: {PACKAGE}")]
    # 1. stdeb 0.10.0 writes `debhelper (>= 9)` plus a debian/compat file and a 2015
    #    Standards-Version (both hard-coded): compat 13 the modern way, the current Policy.
    build_depends = [d.strip() for d in re.search(r"^Build-Depends:(.*)$", source, re.M)[1].split(",")]
    build_depends = ["debhelper-compat (= 13)"] + [d for d in build_depends if not d.startswith("debhelper")]
    source = set_field(source, "Build-Depends", ", ".join(build_depends))
    source = set_field(source, "Standards-Version", "4.6.2")
    source = set_field(source, "Rules-Requires-Root", "no")
    (debian / "compat").unlink()
    # 2. stdeb cuts setup.py's one-line description at 60 characters and takes the long one
    #    from setup.py, which describes the project for PyPI, not this Debian package.
    binary = set_field(binary, "Description", SYNOPSIS + "\n" + "\n".join(
        " " + line for line in LONG_DESCRIPTION.splitlines()))
    control.write_text(source.strip() + "\n\n" + binary.strip() + "\n", encoding="utf-8")
    # 3. The helpers are admin commands: /usr/sbin (stdeb has no option for the directory).
    #    Their manual pages (section 8, made by the build from the argparse definitions) and
    #    the bash-completion links are static files in packaging/python3-uwsgi-ensite/.
    with open(debian / "rules", "a", encoding="utf-8") as f:
        f.write("\nexecute_after_dh_auto_install:\n"
                f"\tmkdir -p debian/{PACKAGE}/usr/sbin\n"
                f"\tmv debian/{PACKAGE}/usr/bin/* debian/{PACKAGE}/usr/sbin/\n"
                f"\trmdir debian/{PACKAGE}/usr/bin\n"
                "\nexecute_before_dh_installman:\n"
                "\tdebian/scripts/build-manpages debian/man\n")
    for name in ("links", "manpages", "lintian-overrides"):
        shutil.copyfile(EXTRAS / name, debian / f"{PACKAGE}.{name}")
    # build-manpages reads the argparse definitions from src/ and the maintainer through
    # testbed/projectinfo.py, both in stdeb's tree (MANIFEST.in).
    (debian / "scripts").mkdir(exist_ok=True)
    shutil.copy2(TOP / "debian" / "scripts" / "build-manpages", debian / "scripts" / "build-manpages")
    # 4. stdeb's watch file points at PyPI, where this project is not published.
    (debian / "watch").unlink(missing_ok=True)


def main(argv):
    suite = argv[0] if argv else projectinfo.host_suite()
    projectinfo.suite_info(suite)
    subprocess.run([str(TOP / "scripts" / "ensure-apt-packages"),
                    str(TOP / "scripts" / "apt-helper-deb-tools.txt")], check=True,
                   env=buildroot.HOST_ENV)
    start = time.monotonic()
    upstream = projectinfo.upstream_version()
    version = projectinfo.package_version(suite)
    revision = version[len(upstream) + 1:]
    lower = buildroot.root_dir(suite, PROG)
    root = buildroot.BuildRoot(lower, f"helper-{suite}", PROG)
    logs = root.path.parent
    inside = pathlib.PurePosixPath("/build") / f"uwsgi-ensite-{upstream}"
    epoch = buildroot.prepare_tree(root.path / inside.relative_to("/"), suite)
    env = {"SOURCE_DATE_EPOCH": str(epoch)}  # stdeb dates its changelog and rules with it
    buildroot.say(PROG, f"building {PACKAGE} {version} with stdeb in a clean {suite} root")
    root.must(f"cd {inside} && python3 setup.py --command-packages=stdeb.command sdist_dsc"
              f" --compat 13 --suite {suite} --debian-version {revision} --dist-dir /build/stdeb"
              f" --maintainer {buildroot.q(projectinfo.maintainer())}",
              logs / "stdeb.log", "stdeb (setup.py sdist_dsc)", env)
    pkgdir = pathlib.PurePosixPath("/build/stdeb") / f"uwsgi-ensite-{upstream}"
    finish_debian_dir(root.path / pkgdir.relative_to("/") / "debian")
    root.must(f"cd {pkgdir} && dpkg-buildpackage -b -us -uc --no-sign", logs / "build.log",
              "dpkg-buildpackage")
    deb = f"{PACKAGE}_{version}_all.deb"
    root.must(f"{buildroot.LINTIAN} /build/stdeb/{deb}",
              logs / "lintian.log", f"lintian ({suite}'s) on {deb}")
    out = TOP / "dist" / suite
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(f"{PACKAGE}_*_all.deb"):
        old.unlink()
    shutil.copyfile(root.path / "build" / "stdeb" / deb, out / deb)
    root.close()
    buildroot.say(PROG, f"dist/{suite}/{deb} ({(out / deb).stat().st_size} bytes) built and "
                        f"lintian-clean in {time.monotonic() - start:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1:])

"""Clean build roots for `make deb` and `make helper-deb` (imported by scripts/build-deb,
scripts/build-helper-deb and scripts/lint-deb): what is build-specific. The roots
themselves are the testbed's (testbed/aptsources.py, testbed/roots.py), as the tests' are.

- root_dir(suite): a root of SUITE made by roots.mmdebstrap() from the host's own Debian
  mirror (aptsources.sources()), with build-essential, the Build-Depends of debian/control,
  stdeb's tools and lintian installed. Cached in .cache/build-roots/<suite>-<hash>/, named by
  roots.recipe_hash() of everything that goes into it, so the second build fetches nothing
  from Debian and a changed Build-Depends makes a new root.
- copy_tree(dest): the one copy of the checkout a build starts from (git's files, with
  normalised modes and mtimes, so a clone's umask and checkout time do not reach a build).
- BuildRoot: a writable overlay on the cached root (roots.Root.overlay: nothing to unpack or
  copy); run() starts a roots.Machine on it (private pid, mount, uts and ipc namespaces,
  nsinit.py as PID 1: everything dies with it, nothing stays mounted on the host) and
  executes a shell command there in the fixed build environment ROOT_ENV.

The build runs at a FIXED path in the root (/build/<source>-<upstream>), as sbuild does,
so no path of the caller's checkout can reach the packages.
"""

import datetime
import os
import pathlib
import shlex
import shutil
import subprocess
import sys
import tempfile

from . import aptsources, projectinfo, roots

TOP = projectinfo.TOP
# make repro's clones share the caller's roots (they are named by their content).
CACHE = pathlib.Path(os.environ.get("UWSGI_EMPEROR_ROOT_CACHE") or TOP / ".cache" / "build-roots")
# Bump when how a root is made (root_dir's hooks) changes in a way its recipe cannot show.
RECIPE = "4"
# The recipe's package list (data, like the apt sources and the Build-Depends).
PACKAGES_FILE = TOP / "scripts" / "build-root-packages.txt"


def extra_packages(path=None):
    """The packages of PATH (default PACKAGES_FILE; one per line, '#' comments), in order."""
    lines = pathlib.Path(path or PACKAGES_FILE).read_text(encoding="utf-8").splitlines()
    return tuple(line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip())

# The environment inside the root: a fixed locale, time zone and umask (see README,
# "Reproducible builds"); SOURCE_DATE_EPOCH comes from debian/changelog via dpkg-buildpackage.
ROOT_ENV = {
    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LC_ALL": "C.UTF-8",
    "LANG": "C.UTF-8",
    "TZ": "UTC",
    "DEBIAN_FRONTEND": "noninteractive",
    "TERM": "dumb",
}
# The packages are judged by the lintian of their own suite, in the root.
LINTIAN = "lintian --fail-on error,warning --display-info --tag-display-limit 0"
HOST_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8", "TMPDIR": "/tmp"}


def say(prog, message):
    print(f"{prog}: {message}", flush=True)


def die(prog, message):
    print(f"{prog}: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


# --- the build root ---------------------------------------------------------------------------

def build_depends(control=None):
    """debian/control's Build-Depends (and -Indep/-Arch) fields, verbatim: the cache key."""
    text = pathlib.Path(control or TOP / "debian" / "control").read_text(encoding="utf-8")
    source = text.split("\n\n", 1)[0]
    out, keep = [], False
    for line in source.splitlines():
        if line[:1].isspace():
            if keep:
                out.append(line)
            continue
        keep = line.split(":", 1)[0].startswith("Build-Depends")
        if keep:
            out.append(line)
    return "\n".join(out)


def root_dir(suite, prog="build-deb"):
    """Path of the cached build root of SUITE (a directory, never written to: each build
    mounts an overlay on it); made with mmdebstrap when missing."""
    sources = aptsources.sources(suite)
    packages = extra_packages()
    key = roots.recipe_hash("\n".join([RECIPE, suite, build_depends(), *packages, *sources]))
    out = CACHE / f"{suite}-{key}"
    if out.is_dir():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    for old in CACHE.glob(f"{suite}-*"):
        if old.name.startswith(out.name):
            continue  # this root's lock, or its .partial that another build is making
        # a root of an older recipe (or a build that was interrupted): never used again
        shutil.rmtree(old) if old.is_dir() and not old.is_symlink() else old.unlink()
    say(prog, f"making the {suite} build root (once; cached in {out})")
    with tempfile.TemporaryDirectory(prefix="build-root-") as tmp:
        bd = pathlib.Path(tmp) / "bd" / "debian"
        bd.mkdir(parents=True)
        shutil.copy(TOP / "debian" / "control", bd / "control")
        hooks = ("--customize-hook=mkdir -p \"$1/tmp/bd\"",
                 f"--customize-hook=copy-in {bd} /tmp/bd",
                 # apt reads Build-Depends from debian/control itself (versions, alternatives).
                 "--customize-hook=chroot \"$1\" apt-get build-dep -y -q /tmp/bd",
                 "--customize-hook=rm -rf \"$1/tmp/bd\"")
        return roots.mmdebstrap(suite, out, sources, variant="buildd", include=packages,
                                options=hooks)


# --- the tree a build starts from ------------------------------------------------------------

def copy_tree(dest, mtime, top=TOP):
    """Copy the files git knows about (tracked, or untracked and not ignored) to DEST.

    Modes become 0644/0755 (by the executable bit) and mtimes MTIME: a checkout's umask
    and checkout time do not reach the build.
    """
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=top, check=True, capture_output=True).stdout
    dest = pathlib.Path(dest)
    for name in sorted(filter(None, listing.decode().split("\0"))):
        src = pathlib.Path(top) / name
        if src.is_symlink() or not src.is_file():
            continue  # deleted but still in the index, or a directory (submodule)
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
        os.chmod(target, 0o755 if os.stat(src).st_mode & 0o100 else 0o644)
        os.utime(target, (mtime, mtime))
    for d in sorted((p for p in dest.rglob("*") if p.is_dir()), reverse=True):
        os.chmod(d, 0o755)
        os.utime(d, (mtime, mtime))


def suite_entry(source, version, suite, maintainer, date):
    """The changelog entry that gives a suite's build its own version."""
    return (f"{source} ({version}) {suite}; urgency=medium\n\n"
            f"  * Build for Debian {suite}.\n\n"
            f" -- {maintainer}  {date}\n\n")


def prepare_tree(tree, suite, top=TOP):
    """The source a build of SUITE starts from, in TREE: copy_tree() of the checkout, then
    debian/control's Maintainer set to projectinfo.maintainer() ($MAINTAINER wins) and a
    changelog entry for the suite's version (2.0.31-2+deb13) by that maintainer, dated one
    second after the release entry (lintian wants the top entry newer): SOURCE_DATE_EPOCH
    stays a function of the commit. Returns that SOURCE_DATE_EPOCH."""
    from email.utils import format_datetime
    epoch = changelog_epoch(top) + 1
    copy_tree(tree, epoch, top)
    maintainer = projectinfo.maintainer(top)
    date = format_datetime(datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc))
    control = tree / "debian" / "control"
    lines = [f"Maintainer: {maintainer}" if line.startswith("Maintainer:") else line
             for line in control.read_text(encoding="utf-8").split("\n")]
    control.write_text("\n".join(lines), encoding="utf-8")
    changelog = tree / "debian" / "changelog"
    source = changelog.read_text(encoding="utf-8").split(" ", 1)[0]
    changelog.write_text(suite_entry(source, projectinfo.package_version(suite, top), suite,
                                     maintainer, date)
                         + changelog.read_text(encoding="utf-8"), encoding="utf-8")
    for path in (control, changelog):
        os.utime(path, (epoch, epoch))
    return epoch


def changelog_epoch(top=TOP):
    """SOURCE_DATE_EPOCH as dpkg-buildpackage will set it: the top changelog entry's date."""
    from email.utils import parsedate_to_datetime
    return int(parsedate_to_datetime(projectinfo.changelog_top(top)[1]).timestamp())


# --- running in a root ------------------------------------------------------------------------

class BuildRoot:
    """A writable view of a cached root: roots.Root.overlay() under build/<name>/.

    `path` is its upper layer: what the host writes there (the tree to build) appears in
    the root, and what the build writes lands there (the packages). Each command runs in a
    machine of its own, started and stopped around it, so the host only writes there while
    no overlay is mounted. close() removes it all.
    """

    def __init__(self, lower, name, prog):
        self.prog = prog
        self.top = TOP / "build" / name
        shutil.rmtree(self.top, ignore_errors=True)
        suite = pathlib.Path(lower).name.rsplit("-", 1)[0]  # root_dir(): <suite>-<hash>
        self.root = roots.Root.overlay(lower, self.top, suite)
        self.path = self.root.upper
        # pip fetches the hash-pinned sources from PyPI: the root needs the host's resolver
        # (Root.overlay copies it) and the CAs the host trusts (Root.trust_host_cas). Neither
        # reaches the packages.
        self.env = self.root.trust_host_cas()

    def _run(self, command, env, **kw):
        """COMMAND (sh) in a machine of the root, as root, umask 022, in ROOT_ENV alone;
        stdin is /dev/null. The CompletedProcess."""
        with roots.Machine(self.root, offline=False) as machine:
            return subprocess.run(machine.argv("umask 022; " + command),
                                  env=dict(ROOT_ENV, **self.env, **(env or {})),
                                  stdin=subprocess.DEVNULL, **kw)

    def out(self, command, env=None):
        """Run COMMAND in the root; the CompletedProcess, stdout and stderr captured (text)."""
        return self._run(command, env, capture_output=True, text=True)

    def run(self, command, log, env=None):
        """Run COMMAND in the root with its output to LOG; True when it passed."""
        with open(log, "w") as out:
            proc = self._run(command, env, stdout=out, stderr=subprocess.STDOUT)
        return proc.returncode == 0

    def must(self, command, log, what, env=None):
        if not self.run(command, log, env):
            sys.stderr.write("".join(open(log, errors="replace").readlines()[-60:]))
            die(self.prog, f"{what} failed; full log in {os.path.relpath(log, TOP)}")

    def close(self):
        shutil.rmtree(self.top, ignore_errors=True)


def q(s):
    return shlex.quote(str(s))

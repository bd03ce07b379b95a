"""Clean Debian roots of any supported suite: build, unpack, run things inside.

- tarball(suite): a root of SUITE made by mmdebstrap from the host's own Debian mirror (the
  host's sources with their suite names replaced: any host can make any suite's root), cached
  under .cache/roots/ and rebuilt when missing (its name carries a hash of the recipe, so a
  changed recipe builds a new one).
- Root: one unpacked copy (or an overlay on a root directory, as the build roots of
  testbed/buildroot.py use it). Root.machine(offline=...) starts a long-lived set of namespaces
  (pid, mount, and with offline=True a network namespace with only `lo`) whose PID 1 is
  nsinit.py, chrooted into the root; Machine.run() runs a shell command in there.
  Everything mounted or started inside dies with PID 1, and Machine.stop() checks that.
- Downloads need the network, services must not share the host's ports: download/install
  with offline=False, run services in an offline=True machine. apt's cache (one per suite) and pip's
  are bind-mounted from .cache/ so reruns do not download again.
"""

import contextlib
import fcntl
import hashlib
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

from . import aptsources
from .shell import ENV, Shell
from .suites import REPO

CACHE = REPO / ".cache"
NSINIT = pathlib.Path(__file__).resolve().with_name("nsinit.py")
HOST_PYTHON = "/usr/bin/python3"
# The host's CA bundle, and where a root gets a copy of it (Root.trust_host_cas).
HOST_CA_BUNDLE = pathlib.Path("/etc/ssl/certs/ca-certificates.crt")
ROOT_CA_BUNDLE = "/etc/ssl/host-ca-certificates.crt"

# What the tests use inside the root besides the package under test: nginx (the article's
# front end), logrotate (point 5), procps (ps/pgrep), curl (HTTP checks) and python3-venv
# (the apps' own venvs). The package's dependencies are NOT here: apt resolves them.
TEST_TOOLS = ("nginx", "logrotate", "procps", "curl", "python3-venv", "bash-completion", "man-db")


def recipe_hash(*parts):
    """The name of a cached root: a hash of everything that goes into it (its recipe), so a
    changed recipe makes a new root and an unchanged one is never made twice. PARTS are
    hashed in order as text; a caller whose parts could run together joins them itself."""
    h = hashlib.sha256()
    for part in parts:
        h.update(str(part).encode())
    return h.hexdigest()[:12]


def mmdebstrap(suite, out, lines, variant="apt", include=(), options=()):
    """Make OUT, a root of SUITE from the apt sources LINES (aptsources.sources()), once.

    OUT is a tarball (.tar, .tar.gz) or, without such an extension, a directory; an existing
    OUT is returned as it is. It is made under a lock (two sessions, or the bench beside the
    tests, may want the same root) into OUT's .partial twin, renamed when complete. OPTIONS
    go to mmdebstrap as they are (hooks). SystemExit, after the tail of mmdebstrap's output,
    when it fails.
    """
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_name(out.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if out.exists():
            return out
        ext = out.name[out.name.index(".tar"):] if ".tar" in out.name else ""
        partial = out.with_name(out.name + ".partial" + ext)
        cmd = ["mmdebstrap", "--mode=root", f"--variant={variant}", "--quiet"]
        if include:
            cmd.append("--include=" + ",".join(include))
        cmd += [*options, suite, str(partial), *lines]
        proc = subprocess.run(cmd, env=dict(ENV, TMPDIR="/tmp"), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0:
            if partial.is_dir():
                shutil.rmtree(partial, ignore_errors=True)
            else:
                partial.unlink(missing_ok=True)
            sys.stderr.write(proc.stdout[-6000:])
            raise SystemExit(f"mmdebstrap could not make the {suite} root {out}")
        partial.rename(out)
    return out


def tarball(suite, include=TEST_TOOLS, variant="apt", compress=False, cache=CACHE):
    """Path of a cached SUITE root tarball with INCLUDE installed; built when missing.

    apt's lists are kept in it (--skip=cleanup/apt/lists) so a root can resolve the package's
    dependencies without `apt-get update` each time.
    """
    lines = aptsources.sources(suite)
    key = recipe_hash(variant, sorted(include), *lines)
    ext = ".tar.gz" if compress else ".tar"
    out = pathlib.Path(cache) / "roots" / f"{suite}-{variant}-{key}{ext}"
    return mmdebstrap(suite, out, lines, variant=variant, include=include,
                      options=() if compress else ("--skip=cleanup/apt/lists",))


def mounts_under(path):
    """Mount points at or below PATH in the host's mount namespace."""
    path = os.path.realpath(path)
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == path or point.startswith(path + "/"):
                found.append(point)
    return found


def processes_under(path):
    """PIDs of host processes whose root directory is PATH (still running in a test root)."""
    path = os.path.realpath(path)
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            root = os.readlink(f"/proc/{entry}/root")
        except OSError:
            continue
        if root == path or root.startswith(path + "/"):
            found.append(int(entry))
    return found


def children(pid):
    """The PIDs of PID's direct children."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


class Machine(Shell):
    """Namespaces whose PID 1 is chrooted into a Root; run()/out()/popen() execute shell
    commands there (shell.Shell)."""

    def __init__(self, root, offline=True, binds=()):
        self.root = root
        self.offline = offline
        self.binds = list(binds)
        self.unshare = None
        self.pid1 = None

    def start(self):
        # uts and ipc too: nothing inside can rename the host or reach its SysV IPC objects.
        cmd = ["unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--kill-child"]
        if self.offline:
            cmd.append("--net")
        args = [f"{host}:{inside}" for host, inside in self.binds]
        cmd += [HOST_PYTHON, str(NSINIT), str(self.root.path), *args]
        env = dict(ENV, NSINIT_NET="1" if self.offline else "0")
        if self.root.lower is not None:
            env["NSINIT_OVERLAY"] = (f"lowerdir={self.root.lower},upperdir={self.root.upper},"
                                     f"workdir={self.root.work}")
        self.unshare = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, env=env, start_new_session=True)
        line = self.unshare.stdout.readline().strip()
        if line != "ready":
            err = self.unshare.stderr.read() if self.unshare.poll() is not None else ""
            self.stop()
            raise RuntimeError(f"the root's namespaces did not start: {line!r} {err}")
        kids = children(self.unshare.pid)
        assert len(kids) == 1, kids
        self.pid1 = kids[0]
        return self

    def argv(self, command):
        ns = ["-m", "-p", "-u", "-i"] + (["-n"] if self.offline else [])
        return ["nsenter", "-t", str(self.pid1), *ns, "-r", "-w", "--", "/bin/sh", "-c", command]

    def stop(self):
        """Kill everything inside (PID 1 leaving kills the namespace) and wait for it."""
        if self.unshare is None:
            return
        if self.unshare.poll() is None:
            # PID 1 (nsinit) leaves on SIGTERM, and the kernel then kills the rest of the pid
            # namespace; unshare itself ignores SIGTERM while it waits. SIGKILL on unshare is
            # the fallback: --kill-child then SIGKILLs PID 1.
            if self.pid1 is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid1, signal.SIGTERM)
            try:
                self.unshare.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.unshare.pid, signal.SIGKILL)
                self.unshare.wait(timeout=10)
        for stream in (self.unshare.stdout, self.unshare.stderr):
            stream.close()
        self.unshare = None
        # The kernel tears the namespace down asynchronously: give it a moment.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if not processes_under(self.root.path) and not mounts_under(self.root.path):
                break
            time.sleep(0.1)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Root:
    """A root of SUITE: a fresh unpacked copy of a root tarball under DEST (unpack), or a
    writable overlay on a root directory that is never written to (overlay)."""

    # An overlay root: the read-only LOWER directory, the UPPER layer that takes the writes
    # (what the host puts there appears in the root) and overlayfs's WORK directory. The
    # overlay is mounted at `path` inside each machine's mount namespace only.
    lower = upper = work = None

    def __init__(self, path, suite, cache=CACHE):
        self.path = pathlib.Path(path)
        self.suite = suite
        self.cache = pathlib.Path(cache)
        self.machines = []

    @classmethod
    def unpack(cls, tar, dest, suite, cache=CACHE):
        dest = pathlib.Path(dest)
        dest.mkdir(parents=True)
        subprocess.run(["tar", "-xf", str(tar), "-C", str(dest), "--numeric-owner"], check=True)
        root = cls(dest, suite, cache)
        root.copy_resolv_conf(dest)
        return root

    @classmethod
    def overlay(cls, lower, dest, suite, cache=CACHE):
        """A root whose files are LOWER's (a directory) plus what lands in DEST/upper.

        The host must not change DEST/upper while a machine of it runs (overlayfs does not
        promise to show such changes): write there between machines.
        """
        dest = pathlib.Path(dest)
        root = cls(dest / "root", suite, cache)
        root.lower, root.upper, root.work = pathlib.Path(lower), dest / "upper", dest / "work"
        for d in (root.path, root.upper / "etc", root.work):
            d.mkdir(parents=True)
        root.copy_resolv_conf(root.upper)
        return root

    @staticmethod
    def copy_resolv_conf(tree):
        # A machine on the host's network resolves names like the host does.
        resolv = tree / "etc/resolv.conf"
        if resolv.is_symlink() or resolv.exists():
            resolv.unlink()
        shutil.copy("/etc/resolv.conf", resolv)

    def trust_host_cas(self):
        """pip in the root trusts what the host trusts (a network may intercept TLS with its
        own CA; the root has only Debian's bundle, pip only its certifi): a copy of the
        host's bundle beside Debian's (in an overlay's upper layer), and pip's environment
        that names it; {} when the host has no bundle."""
        if not HOST_CA_BUNDLE.is_file():
            return {}
        target = (self.upper if self.lower is not None else self.path) / ROOT_CA_BUNDLE.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(HOST_CA_BUNDLE, target)
        return {"PIP_CERT": ROOT_CA_BUNDLE}

    @classmethod
    def fresh(cls, suite, dest, include=TEST_TOOLS):
        """A new root of SUITE with INCLUDE under DEST (from the cached tarball)."""
        return cls.unpack(tarball(suite, include=include), dest, suite)

    def cache_binds(self, apt=True):
        """apt's archive cache and pip's cache, shared by every root (reruns are fast)."""
        binds = []
        if apt:
            binds.append((self._apt_cache(), "/var/cache/apt/archives"))
        pip = self.cache / "pip"
        pip.mkdir(parents=True, exist_ok=True)
        binds.append((pip, "/root/.cache/pip"))
        return binds

    def _apt_cache(self):
        # One per suite: apt's lock is per directory, and a suite's root needs only its .debs.
        apt = self.cache / "apt-archives" / self.suite
        (apt / "partial").mkdir(parents=True, exist_ok=True)
        return apt

    def link_cached_debs(self):
        """Put every .deb of the shared cache into the root's own apt cache (hard links), so
        an isolated machine installs what an online one downloaded without sharing apt's lock."""
        own = self.path / "var/cache/apt/archives"
        own.mkdir(parents=True, exist_ok=True)
        for deb in self._apt_cache().glob("*.deb"):
            target = own / deb.name
            if not target.exists():
                try:
                    os.link(deb, target)
                except OSError:
                    shutil.copy(deb, target)

    def machine(self, offline=True, caches=True):
        """A started Machine; offline=True: own network namespace (only lo), no shared apt cache.
        caches=False: none of the shared caches either (apt must fetch from its sources)."""
        if offline and caches:
            self.link_cached_debs()
        m = Machine(self, offline=offline, binds=self.cache_binds(apt=not offline) if caches else [])
        self.machines.append(m)
        return m.start()

    @contextlib.contextmanager
    def online(self):
        """A machine on the host's network (for apt/pip downloads), stopped afterwards.

        Holds a lock on the shared apt cache meanwhile: roots of concurrent test runs would
        otherwise fail on apt's own lock of the cache directory."""
        self.cache.mkdir(parents=True, exist_ok=True)
        lock_path = self._apt_cache().with_suffix(".lock")
        with open(lock_path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            m = self.machine(offline=False)
            try:
                yield m
            finally:
                m.stop()

    def stop_all(self):
        for m in self.machines:
            m.stop()

    def leftovers(self):
        """(mounts, pids) still under this root after stop_all(): both must be empty."""
        return mounts_under(self.path), processes_under(self.path)

    def remove(self):
        mounts, pids = self.leftovers()
        if mounts or pids:
            raise RuntimeError(f"refusing to remove {self.path}: mounts {mounts}, processes {pids}")
        shutil.rmtree(self.path)

    def discard(self):
        """Stop every machine, check nothing is left (AssertionError otherwise), remove."""
        self.stop_all()
        mounts, pids = self.leftovers()
        assert (mounts, pids) == ([], []), f"left behind in {self.path}: mounts {mounts}, processes {pids}"
        self.remove()

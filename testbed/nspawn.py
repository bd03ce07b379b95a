"""Boot a Debian root with its own systemd (systemd-nspawn -b) and run commands in it.

The host has no init system, and installing systemd-container would upgrade the host's
systemd: systemd-nspawn is unpacked from the host release's .debs into a cache directory
instead and run with its own libsystemd-shared. It boots the systemd of any suite's root
(252 in bookworm, 257 in trixie: suites.FACTS).
"""

import contextlib
import os
import pathlib
import signal
import subprocess
import time

from .roots import CACHE, children
from .shell import Shell

NSPAWN_PACKAGES = ("systemd-container", "libsystemd-shared")
# systemd as init; dbus for systemctl; procps (ps); man-db so that systemd-analyze verify
# can check Documentation=man:.
BOOT_PACKAGES = ("systemd-sysv", "dbus", "procps", "man-db")


def nspawn_binary(cache=CACHE / "nspawn"):
    """(path of systemd-nspawn, environment for it), unpacked under CACHE once."""
    cache = pathlib.Path(cache)
    tree = cache / "tree"
    binary = tree / "usr/bin/systemd-nspawn"
    if not binary.exists():
        debs = cache / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", *NSPAWN_PACKAGES], cwd=debs, check=True,
                       stdout=subprocess.DEVNULL)
        for deb in sorted(debs.glob("*.deb")):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True)
    env = dict(os.environ, LD_LIBRARY_PATH=str(tree / "usr/lib/x86_64-linux-gnu/systemd"))
    return binary, env


class Container(Shell):
    """A booted container: run()/out() execute a command inside all its namespaces."""

    default_timeout = 120

    def __init__(self, leader):
        self.leader = leader

    def systemd_major(self):
        """The major version of the systemd running inside ("252" of "systemd 252 (252.x)")."""
        return self.out("systemctl --version").splitlines()[0].split()[1]

    def argv(self, command):
        return ["nsenter", "-t", str(self.leader), "-a", "/bin/sh", "-c", command]


@contextlib.contextmanager
def booted(root, boot_timeout=90):
    """Boot ROOT (a roots.Root with BOOT_PACKAGES) with no network but lo; yields a Container.

    Always powers the container off and waits for nspawn to exit, even when the body fails.
    """
    binary, env = nspawn_binary()
    path = pathlib.Path(root.path)
    log = open(path.with_suffix(".nspawn.log"), "w")
    nspawn = subprocess.Popen(
        [str(binary), "-q", "-b", "-D", str(path), "--register=no", "--keep-unit",
         "--private-network", "--console=pipe",
         # The root's own /etc/localtime (or none): by default nspawn bind-mounts the
         # host's over it, and tzdata's postinst then cannot replace it (trixie's python3.13
         # pulls tzdata in).
         "--timezone=off"],
        env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        machine = None
        deadline = time.monotonic() + boot_timeout
        while time.monotonic() < deadline and nspawn.poll() is None:
            kids = children(nspawn.pid)
            if kids:
                candidate = Container(kids[0])
                state = candidate.run("systemctl is-system-running", check=False).stdout.strip()
                if state in ("running", "degraded"):
                    machine = candidate
                    break
            time.sleep(0.5)
        assert machine is not None, (f"the container did not boot within {boot_timeout} s: "
                                     f"{path.with_suffix('.nspawn.log').read_text()[-2000:]}")
        yield machine
    finally:
        # SIGTERM asks nspawn to power the container off cleanly.
        if nspawn.poll() is None:
            nspawn.send_signal(signal.SIGTERM)
            try:
                nspawn.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(nspawn.pid, signal.SIGKILL)
                nspawn.wait(timeout=10)
        log.close()

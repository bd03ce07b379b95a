"""Boot a Debian 12 root with a real systemd (systemd-nspawn -b) and run commands in it.

The host has no init system, and installing systemd-container would upgrade the host's
systemd: systemd-nspawn is unpacked from Debian's .debs into a cache directory instead
and run with its own libsystemd-shared.
"""

import contextlib
import os
import pathlib
import signal
import subprocess
import time

import roots

NSPAWN_PACKAGES = ("systemd-container", "libsystemd-shared")


def nspawn_binary(cache):
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


class Machine:
    """A booted container: run() executes a command inside all its namespaces."""

    def __init__(self, leader):
        self.leader = leader

    def run(self, command, check=True, timeout=120, input=None):
        """Run COMMAND (a shell string) inside; returns the CompletedProcess (text)."""
        proc = subprocess.run(
            ["nsenter", "-t", str(self.leader), "-a", "/bin/sh", "-c", command],
            capture_output=True, text=True, timeout=timeout, input=input,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{command!r} exited {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
            )
        return proc

    def out(self, command, **kw):
        return self.run(command, **kw).stdout.strip()


@contextlib.contextmanager
def booted(root, cache, boot_timeout=60):
    """Boot ROOT (an unpacked Debian root with systemd-sysv) with no network but lo.

    Always powers the container off and waits for nspawn to exit, even when the body fails.
    """
    binary, env = nspawn_binary(cache)
    log = open(pathlib.Path(root).with_suffix(".nspawn.log"), "w")
    nspawn = subprocess.Popen(
        [str(binary), "-q", "-b", "-D", str(root), "--register=no", "--keep-unit",
         "--private-network", "--console=pipe"],
        env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        machine = None
        deadline = time.monotonic() + boot_timeout
        while time.monotonic() < deadline and nspawn.poll() is None:
            kids = roots.children(nspawn.pid)
            if kids:
                candidate = Machine(kids[0])
                state = candidate.run("systemctl is-system-running", check=False).stdout.strip()
                if state in ("running", "degraded"):
                    machine = candidate
                    break
            time.sleep(0.5)
        assert machine is not None, f"the container did not boot within {boot_timeout} s"
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

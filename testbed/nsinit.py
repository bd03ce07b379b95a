"""PID 1 of a root's namespaces (run by the host's python under unshare).

Usage: nsinit.py ROOT [HOSTDIR:ROOTDIR ...]

Mounts NSINIT_OVERLAY's overlay (mount options) at ROOT when set, then the root's /proc,
/dev, /run and the binds inside the private mount namespace (so they vanish with it),
brings `lo` up in the private network namespace, chroots into ROOT, prints "ready" and
then reaps every orphan until SIGTERM. Reaping matters: daemons double-fork and end up
as our children, and an unreaped zombie still answers `kill -0`, which would make the
init script's `status` lie after `kill -9`.
"""

import fcntl
import os
import signal
import socket
import struct
import subprocess
import sys

DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


def mount(*args):
    subprocess.run(["mount", *args], check=True)


def setup_dev(root):
    """A minimal /dev: a few device nodes bound from the host, no disks."""
    dev = os.path.join(root, "dev")
    mount("-t", "tmpfs", "-o", "mode=0755,nosuid", "tmpfs", dev)
    for name in DEVICES:
        path = os.path.join(dev, name)
        open(path, "w").close()
        mount("--bind", f"/dev/{name}", path)
    os.makedirs(os.path.join(dev, "pts"))
    mount("-t", "devpts", "-o", "newinstance,ptmxmode=0666,mode=0620", "devpts", os.path.join(dev, "pts"))
    os.symlink("pts/ptmx", os.path.join(dev, "ptmx"))
    os.makedirs(os.path.join(dev, "shm"))
    mount("-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", os.path.join(dev, "shm"))
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, os.path.join(dev, name))


def loopback_up():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flags = struct.unpack("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH", b"lo", 0)))[1]
    fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | IFF_UP))
    s.close()


def main():
    root, binds = sys.argv[1], sys.argv[2:]
    if os.environ.get("NSINIT_OVERLAY"):
        # An overlay root (roots.Root.overlay): its files appear at ROOT in here only.
        mount("-t", "overlay", "overlay", "-o", os.environ["NSINIT_OVERLAY"], root)
    # Our own /proc, after the overlay (which would hide one mounted before it): it shows
    # the private pid namespace.
    mount("-t", "proc", "-o", "nosuid,nodev,noexec", "proc", os.path.join(root, "proc"))
    setup_dev(root)
    # /run is a tmpfs on every Debian system: empty at boot.
    mount("-t", "tmpfs", "-o", "mode=0755,nosuid,nodev", "tmpfs", os.path.join(root, "run"))
    os.makedirs(os.path.join(root, "run/lock"), mode=0o1777)
    os.chmod(os.path.join(root, "run/lock"), 0o1777)
    for bind in binds:
        host, inside = bind.split(":", 1)
        target = os.path.join(root, inside.lstrip("/"))
        os.makedirs(target, exist_ok=True)
        mount("--bind", host, target)
    if os.environ.get("NSINIT_NET") == "1":
        loopback_up()  # only in a private network namespace, never the host's
    os.chroot(root)
    os.chdir("/")
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT})
    print("ready", flush=True)
    while True:
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass
        info = signal.sigtimedwait({signal.SIGCHLD, signal.SIGTERM, signal.SIGINT}, 1.0)
        if info is not None and info.si_signo in (signal.SIGTERM, signal.SIGINT):
            # Leaving PID 1 makes the kernel SIGKILL everything else in the namespace.
            sys.exit(0)


if __name__ == "__main__":
    main()

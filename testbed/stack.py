"""The package under test in a root, the generic half: nothing here knows a test or an app.

- stage_deb(): a built .deb where apt inside the root can read it.
- allow_service_starts() / forbid_service_starts(): the root's policy-rc.d (the only place
  that writes one).
- prepare() then install(): download in a machine on the host's network, install in an
  isolated one (or a booted container), the way every test and the bench install.
- processes() / vassal_processes() / masters(): the uWSGI process tree, parsed from ps here only.
- Load: the one HTTP load client (files/httpload.py) run inside a root.
- wait_for(): every wait for a condition, with a deadline.
"""

import collections
import contextlib
import json
import pathlib
import shlex
import shutil
import time

from . import nspawn

FILES = pathlib.Path(__file__).resolve().with_name("files")
LIB = "/usr/local/lib/testbed"
LOAD_CLIENT = f"{LIB}/httpload.py"
HOST_CA_BUNDLE = pathlib.Path("/etc/ssl/certs/ca-certificates.crt")
ROOT_CA_BUNDLE = "/etc/ssl/host-ca-certificates.crt"


def stage_deb(root, deb):
    """Copy DEB into the root's /var/tmp (readable by apt's _apt user; not /tmp, which a
    booted container mounts a fresh tmpfs over); its path inside."""
    inside = f"/var/tmp/{pathlib.Path(deb).name}"
    shutil.copy(deb, root.path / inside.lstrip("/"))
    (root.path / inside.lstrip("/")).chmod(0o644)
    return inside


def _policy_rc_d(root, status, why):
    policy = root.path / "usr/sbin/policy-rc.d"
    policy.write_text(f"#!/bin/sh\n# {why}\nexit {status}\n")
    policy.chmod(0o755)


def allow_service_starts(root):
    """A policy-rc.d that allows everything: maintainer scripts really start services (without
    one, invoke-rc.d in a root with no init refuses)."""
    _policy_rc_d(root, 0, "testbed: let maintainer scripts start services.")


def forbid_service_starts(root):
    """A policy-rc.d that forbids every start (exit 101): the caller starts services itself."""
    _policy_rc_d(root, 101, "testbed: maintainer scripts start nothing; the caller does.")


def trust_host_cas(root):
    """pip in the root trusts what the host trusts (a network may intercept TLS with its own
    CA); without it pip only knows its bundled certifi. Returns pip's env for that."""
    if not HOST_CA_BUNDLE.is_file():
        return {}
    target = root.path / ROOT_CA_BUNDLE.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(HOST_CA_BUNDLE, target)
    return {"PIP_CERT": ROOT_CA_BUNDLE}


def install_files(root, *names):
    """Copy testbed/files/NAMES into the root's LIB; their paths inside."""
    lib = root.path / LIB.lstrip("/")
    lib.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(FILES / name, lib / name)
    return [f"{LIB}/{name}" for name in names]


def prepare(root, deb=None, packages=(), services=True, online=None, timeout=900):
    """Get ROOT ready to install DEB (a .deb on the host) and PACKAGES (archive names) offline.

    Stages DEB, writes policy-rc.d (SERVICES: allowed or forbidden), puts the load client in,
    and in a machine on the host's network downloads (not installs) what
    `apt-get install DEB PACKAGES` needs, then calls ONLINE(machine, pip_env) there for other
    downloads (pip). Returns what to give install(): DEB's path inside and PACKAGES.
    """
    what = ([stage_deb(root, deb)] if deb else []) + list(packages)
    (allow_service_starts if services else forbid_service_starts)(root)
    install_files(root, "httpload.py")
    pip_env = trust_host_cas(root) if online else {}
    with root.online() as m:
        if what:
            m.run("apt-get install -y -qq --download-only " + " ".join(map(shlex.quote, what)),
                  timeout=timeout)
        if online:
            online(m, pip_env)
    root.link_cached_debs()
    return " ".join(map(shlex.quote, what))


def install(machine, what, timeout=900):
    """`apt-get install -y WHAT` (from prepare()) as a user runs it; the CompletedProcess."""
    return machine.run(f"apt-get install -y {what} </dev/null", check=False, timeout=timeout)


def debian_uwsgi_with_helper(root, helper_deb):
    """Debian's uwsgi and uwsgi-plugin-python3 (the suite's archive) and the helpers alone
    (HELPER_DEB, python3-uwsgi-ensite) installed by apt, offline, in a machine of ROOT with
    its own network namespace (only lo); the machine."""
    helper = stage_deb(root, helper_deb)
    prepare(root, packages=("uwsgi", "uwsgi-plugin-python3", helper))
    machine = root.machine(offline=True)
    for what in ("uwsgi uwsgi-plugin-python3", helper):
        proc = install(machine, what)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return machine


@contextlib.contextmanager
def booted_with(root, deb, packages=()):
    """ROOT (made with nspawn.BOOT_PACKAGES) booted under systemd, DEB and PACKAGES installed
    by apt (what apt needs downloaded before the boot); yields the Container."""
    what = prepare(root, deb, packages=packages)
    with nspawn.booted(root) as machine:
        proc = install(machine, what)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        yield machine


def wait_for(predicate, timeout, interval=0.1):
    """Poll PREDICATE until true; (result, seconds it took). Raises after TIMEOUT seconds."""
    start = time.monotonic()
    while True:
        result = predicate()
        elapsed = time.monotonic() - start
        if result:
            return result, elapsed
        if elapsed > timeout:
            raise AssertionError(f"not true within {timeout} s: {predicate.__doc__ or predicate}")
        time.sleep(interval)


# The process tree ------------------------------------------------------------------------

Proc = collections.namedtuple("Proc", "ppid user")


def processes(machine):
    """[(pid, ppid, user, argv words)] of every process inside (ps, parsed here only)."""
    rows = []
    for line in machine.out("ps -eo pid=,ppid=,user=,args=").splitlines():
        pid, ppid, user, *args = line.split()
        rows.append((int(pid), int(ppid), user, args))
    return rows


def runs_ini(args, ini):
    """True when ARGS (argv words) is uWSGI's with `--ini INI` (INI: app1.ini, slow.ini:zerg)."""
    return any(a == "--ini" and b == ini for a, b in zip(args, args[1:]))


def ini_processes(machine, ini):
    """{pid: Proc(ppid, user)} of the processes of `uwsgi --ini INI` (master and workers)."""
    return {pid: Proc(ppid, user) for pid, ppid, user, args in processes(machine)
            if runs_ini(args, ini)}


def vassal_processes(machine, name):
    """{pid: Proc(ppid, user)} of the processes of vassal NAME (its ini is NAME.ini)."""
    return ini_processes(machine, f"{name}.ini")


def masters(procs):
    """The PIDs in PROCS whose parent is not one of them: one per uWSGI instance."""
    return sorted(pid for pid, proc in procs.items() if proc.ppid not in procs)


def workers(procs, master):
    """The PIDs in PROCS whose parent is MASTER."""
    return sorted(pid for pid, proc in procs.items() if proc.ppid == master)


def vassal_master(machine, name):
    """PID of NAME's vassal master, or None."""
    procs = vassal_processes(machine, name)
    found = masters(procs)
    assert len(found) <= 1, f"more than one master for {name}: {procs}"
    return found[0] if found else None


def uwsgi_count(machine, binary="/opt/venvs/uwsgi-emperor/bin/uwsgi"):
    """How many processes run BINARY (the packaged uwsgi by default)."""
    return sum(1 for _, _, _, args in processes(machine) if args[:1] == [binary])


# Load ------------------------------------------------------------------------------------

class Load:
    """The numbered-request client (files/httpload.py) inside a root, in the background:
    GET /seq/N with Host: HOST over CONNECTIONS keep-alive connections until finish()."""

    def __init__(self, machine, app, connections=4, max_seconds=60, min_requests=50):
        self.machine = machine
        self.stop_file = f"/tmp/stop-load-{app}"
        machine.run(f"rm -f {self.stop_file}")
        self.proc = machine.popen(
            f"exec /usr/bin/python3 {LOAD_CLIENT} {app}.test {connections} {max_seconds} "
            f"{self.stop_file} {min_requests}")

    def finish(self, timeout=120):
        """Stop the client; its JSON result (dict)."""
        self.machine.run(f"touch {self.stop_file}")
        out, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, f"load client failed: {err}"
        return json.loads(out)

"""The web stack inside a test root: the package, Flask apps in their own venvs, nginx, a client.

Everything is put in place the way an admin would: `apt-get install ./uwsgi-emperor_*.deb`,
an app ini in /etc/uwsgi/apps-available, the article's nginx server block, nginx's own init
script. Downloads (apt's .debs, pip's wheels) happen in a machine on the host's network;
installing and serving in the isolated one.
"""

import json
import pathlib
import shlex
import shutil
import time

FILES = pathlib.Path(__file__).resolve().with_name("files")
PACKAGE = "uwsgi-emperor"
LOAD_CLIENT = "/usr/local/lib/systest/httpload.py"


def stage_deb(root, deb):
    """Copy DEB into the root's /tmp (readable by apt's _apt user); its path inside."""
    inside = f"/tmp/{pathlib.Path(deb).name}"
    shutil.copy(deb, root.path / inside.lstrip("/"))
    (root.path / inside.lstrip("/")).chmod(0o644)
    return inside


def allow_service_starts(root):
    """A policy-rc.d that allows everything: the postinst really starts the emperor."""
    policy = root.path / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\n# System tests: let maintainer scripts start services.\nexit 0\n")
    policy.chmod(0o755)


def write_app_files(root, name):
    """/srv/NAME (app.py, requirements), its ini in apps-available, its nginx site and static file."""
    srv = root.path / "srv" / name
    srv.mkdir(parents=True, exist_ok=True)
    shutil.copy(FILES / "app.py", srv / "app.py")
    shutil.copy(FILES / "app-requirements.txt", srv / "requirements.txt")
    static = root.path / "var/www" / name / "assets/static"
    static.mkdir(parents=True, exist_ok=True)
    (static / "hello.txt").write_text(f"static file of {name}\n")
    site = (FILES / "nginx-site.conf").read_text().replace("@NAME@", name)
    (root.path / "etc/nginx/sites-available" / name).write_text(site)
    enabled = root.path / "etc/nginx/sites-enabled" / name
    if not enabled.is_symlink():
        enabled.symlink_to(f"../sites-available/{name}")


def app_ini(name):
    """The app's ini: the package's defaults do the rest (socket, uid, log, processes)."""
    return f"[uwsgi]\nchdir = /srv/{name}\nvirtualenv = /srv/{name}/venv\nmodule = app:app\n"


HOST_CA_BUNDLE = pathlib.Path("/etc/ssl/certs/ca-certificates.crt")
ROOT_CA_BUNDLE = "/etc/ssl/host-ca-certificates.crt"


def trust_host_cas(root):
    """pip in the root trusts what the host trusts (a network may intercept TLS with its own
    CA); without it pip only knows its bundled certifi. Returns pip's env for that."""
    if not HOST_CA_BUNDLE.is_file():
        return {}
    shutil.copy(HOST_CA_BUNDLE, root.path / ROOT_CA_BUNDLE.lstrip("/"))
    return {"PIP_CERT": ROOT_CA_BUNDLE}


def build_venv(online, name, env):
    """The app's own venv, made with the root's /usr/bin/python3, Flask from PyPI (pip cache)."""
    online.run(f"/usr/bin/python3 -m venv /srv/{name}/venv && "
               f"/srv/{name}/venv/bin/pip install -q --disable-pip-version-check "
               f"--only-binary :all: -r /srv/{name}/requirements.txt", env=env)


def prepare(root, deb, apps=(), extra_debs=()):
    """Download what installing DEB needs and build the apps' venvs; return DEB's path inside.

    Nothing is installed from the package yet: that happens in the isolated machine.
    """
    inside = stage_deb(root, deb)
    allow_service_starts(root)
    for name in apps:
        write_app_files(root, name)
    pip_env = trust_host_cas(root)
    with root.online() as online:
        online.run(f"apt-get install -y -qq --download-only {inside} "
                   + " ".join(shlex.quote(d) for d in extra_debs))
        for name in apps:
            build_venv(online, name, pip_env)
    (root.path / LOAD_CLIENT.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(FILES / "httpload.py", root.path / LOAD_CLIENT.lstrip("/"))
    return inside


def install(machine, deb_inside):
    """`apt-get install -y ./uwsgi-emperor_*.deb` as a user runs it; the CompletedProcess."""
    return machine.run(f"apt-get install -y {deb_inside}", check=False)


def add_app(machine, name):
    """Write NAME's ini into apps-available (not enabled)."""
    machine.run(f"cat > /etc/uwsgi/apps-available/{name}.ini", input=app_ini(name))


def start_nginx(machine):
    machine.run("rm -f /etc/nginx/sites-enabled/default && nginx -t -q && /etc/init.d/nginx start")


def get(machine, app, path="/"):
    """(HTTP status, body) of GET PATH through nginx for APP (Host: APP.test)."""
    out = machine.run(f"curl -sS --max-time 10 -H 'Host: {app}.test' -w '\\n%{{http_code}}' "
                      f"http://127.0.0.1{path}", check=False).stdout
    # -w puts "\n<status>" after the body: everything before the last newline is the body.
    body, _, status = out.rpartition("\n")
    return int(status or 0), body


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


def serves(machine, app):
    """True when APP answers 200 "Hello from APP" through nginx."""
    return get(machine, app) == (200, f"Hello from {app}\n")


class Load:
    """The numbered-request client running inside the root, in the background."""

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


def uwsgi_count(machine):
    """How many processes run the packaged uwsgi (the [/] keeps grep from matching itself)."""
    return int(machine.out("ps -eo args= | grep -c '^[/]opt/venvs/uwsgi-emperor/bin/uwsgi'",
                           check=False))


def vassal_processes(machine, name):
    """{pid: (ppid, user)} of the processes of vassal NAME (uwsgi --ini NAME.ini ...)."""
    procs = {}
    for line in machine.out("ps -eo pid=,ppid=,user=,args=").splitlines():
        pid, ppid, user, args = line.split(None, 3)
        if args.startswith("/opt/venvs/uwsgi-emperor/bin/uwsgi") and f" {name}.ini" in f" {args}":
            procs[int(pid)] = (int(ppid), user)
    return procs


def vassal_master(machine, name):
    """PID of NAME's vassal master (its parent is not one of the vassal's processes), or None."""
    procs = vassal_processes(machine, name)
    masters = [pid for pid, (ppid, _) in procs.items() if ppid not in procs]
    assert len(masters) <= 1, f"more than one master for {name}: {procs}"
    return masters[0] if masters else None


SPEC_SECONDS = 5  # the bound for "served" / "stopped" / "answers again"


def enable(machine, name):
    """Add NAME's ini, `uwsgi-ensite NAME`, and wait until nginx serves it; seconds it took."""
    add_app(machine, name)
    machine.run(f"uwsgi-ensite -q {name}")
    return wait_for(lambda: serves(machine, name), SPEC_SECONDS)[1]


def wait_for_log(machine, path, text, timeout=SPEC_SECONDS):
    """Wait until the file PATH inside contains TEXT; seconds it took."""
    return wait_for(lambda: text in machine.out(f"cat {path}", check=False), timeout)[1]

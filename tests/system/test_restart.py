"""Issue 26: restarting the Emperor refuses no request, under either init system.

One group per suite and init (`init`: the LSB init script in an isolated root, or the suite's
real systemd booted with systemd-nspawn). Apps: app1 on the default unix socket
/run/uwsgi/app1.sock, app2 on TCP 127.0.0.1:8002 (a zerg-style app), both the standard
library's numbered app behind nginx. The socket keeper (uwsgi_emperor/keeper.py) holds their
listening sockets; the load client counts every request that does not come back as
"APP N" (refused, reset, 502, timed out), exactly.
"""

import json
import pathlib
import shlex

import pytest

from testbed import nspawn, roots, stack
import upgradelib
from upgradelib import processes, split, vassal
from webstack import get, serves

pytestmark = pytest.mark.system

NGINX_SITE = pathlib.Path(__file__).resolve().with_name("files") / "nginx-site.conf"
PACKAGES = ("nginx", "python3", "curl")
INIT_SCRIPT = "/etc/init.d/uwsgi-emperor"
KEEPER_SOCKET = "/run/uwsgi-emperor/keeper.sock"
RESTARTS = 10
CONNECTIONS = 8          # per app: 16 in all
MIN_REQUESTS = 1000      # per app

SEQ_APP = NGINX_SITE.with_name("seq_app.py").read_text()
# What an app's socket is, when it is not the default one.
SOCKETS = {"app2": "127.0.0.1:8002"}


def ini(name, processes=2):
    lines = ["[uwsgi]", "chdir = /srv/seq", "module = app", f"processes = {processes}"]
    if name in SOCKETS:
        lines.append(f"socket = {SOCKETS[name]}")
    return "\n".join(lines) + "\n"


def nginx_site(name):
    site = NGINX_SITE.read_text().replace("@NAME@", name)
    if name in SOCKETS:
        site = site.replace(f"unix:/run/uwsgi/{name}.sock", SOCKETS[name])
    return site


def add_app(m, name, processes=2):
    m.run(f"cat > /etc/uwsgi/apps-available/{name}.ini", input=ini(name, processes))
    m.run(f"cat > /etc/nginx/sites-available/{name}", input=nginx_site(name))
    m.run(f"ln -sf ../sites-available/{name} /etc/nginx/sites-enabled/{name}")


def reload_nginx(m, init):
    m.run("nginx -t -q && " + ("systemctl reload nginx" if init == "systemd"
                               else "/etc/init.d/nginx reload"))


def restart_command(init):
    return "systemctl restart uwsgi-emperor" if init == "systemd" else f"{INIT_SCRIPT} restart"


def reload_command(init):
    return "systemctl reload uwsgi-emperor" if init == "systemd" else f"{INIT_SCRIPT} reload"


@pytest.fixture(scope="module", params=["init-script", "systemd"])
def init(request):
    return request.param


@pytest.fixture(scope="module")
def machine(suite, init, deb_path, tmp_path_factory):
    """The package installed in a fresh root of SUITE, run by INIT, nginx in front of app1
    and app2, both enabled and serving."""
    include = nspawn.BOOT_PACKAGES if init == "systemd" else ()
    root = roots.Root.fresh(suite, tmp_path_factory.mktemp(f"{suite}-restart-{init}") / "root",
                            include=include)
    try:
        what = stack.prepare(root, deb_path, packages=PACKAGES)
        (root.path / "srv/seq").mkdir(parents=True)
        (root.path / "srv/seq/app.py").write_text(SEQ_APP)
        if init == "systemd":
            with nspawn.booted(root) as m:
                yield serve_two_apps(m, what, init)
        else:
            m = root.machine(offline=True)
            yield serve_two_apps(m, what, init)
            root.stop_all()
    finally:
        root.discard()


def serve_two_apps(m, what, init):
    install = stack.install(m, what)
    assert install.returncode == 0, install.stdout + install.stderr
    m.run("rm -f /etc/nginx/sites-enabled/default")
    for app in ("app1", "app2"):
        add_app(m, app)
    if init == "systemd":
        reload_nginx(m, init)
    else:
        m.run("nginx -t -q && /etc/init.d/nginx start && /etc/init.d/nginx reload")
    m.run("uwsgi-ensite -q --wait app1 app2")
    wait_serving(m, ("app1", "app2"))
    return m


def wait_serving(m, apps, timeout=30):
    try:
        stack.wait_for(lambda: all(serves(m, app) for app in apps), timeout)
    except AssertionError:
        raise AssertionError(f"not serving within {timeout} s: "
                             f"{ {app: get(m, app) for app in apps} }\n"
                             + m.out("tail -n 20 /var/log/uwsgi/emperor.log /var/log/nginx/*.error",
                                     check=False)) from None


def loads(m, apps):
    return {app: stack.Load(m, app, connections=CONNECTIONS, max_seconds=600,
                            min_requests=MIN_REQUESTS) for app in apps}


def finish(loads_):
    return {app: load.finish(timeout=300) for app, load in loads_.items()}


def assert_none_failed(results):
    for app, result in results.items():
        assert (app, result["failed"], result["errors"], result["timed_out"]) == (app, 0, [], False)
        assert result["ok"] >= MIN_REQUESTS


def emperor_master(m):
    emperor, _ = split(processes(m))
    [master] = [p for p, v in emperor.items() if v[0] not in emperor]
    return master


def wait_settled(m, apps):
    """After a restart: the Emperor on the new binary too."""
    return upgradelib.wait_settled(m, apps, with_emperor=True)


def keeper_pid(m):
    return int(m.out("cat /proc/$(cat /run/uwsgi-emperor/emperor.pid)/status "
                     "| awk '$1 == \"PPid:\" { print $2 }'"))


# Inside the root: which listening sockets (unix paths, TCP ports) each process holds.
_LISTENERS = r"""
import json, os, sys
inodes = {}
for line in open("/proc/net/unix").read().splitlines()[1:]:
    f = line.split()
    if len(f) >= 8 and f[5] == "01" and f[3] == "00010000":   # SS_UNCONNECTED, listening
        inodes[f[6]] = f[7]
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    for line in open(table).read().splitlines()[1:]:
        f = line.split()
        if f[3] == "0A":  # TCP_LISTEN
            inodes[f[9]] = "tcp:%d" % int(f[1].split(":")[1], 16)
held = {}
for pid in sys.argv[1:]:
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            name = inodes.get(target[8:-1])
            if name:
                found.add(name)
    held[pid] = sorted(found)
print(json.dumps(held))
"""


def listeners(m, pids):
    """{pid: the apps' listening sockets it holds}: paths in /run/uwsgi, tcp:PORT (not the
    keeper's own socket nor the Emperor's stats socket)."""
    found = json.loads(m.out("/usr/bin/python3 - " + " ".join(map(str, pids)), input=_LISTENERS))
    return {int(p): [n for n in v if n.startswith(("/run/uwsgi/", "tcp:"))
                     and not n.endswith(".stats")] for p, v in found.items()}


def test_ten_restarts_under_load_refuse_no_request(machine, init, record):
    """16 connections keep app1 (unix) and app2 (TCP) busy through nginx across 10 restarts
    in a row: every request answered; each restart a new Emperor, on the binary on disk; the
    last one applies a changed EMPEROR_OPTS."""
    before = emperor_master(machine)
    running = loads(machine, ("app1", "app2"))
    try:
        masters = []
        for number in range(RESTARTS):
            wait_settled(machine, ("app1", "app2"))
            if number == RESTARTS - 1:
                # The last restart also applies a changed EMPEROR_OPTS.
                machine.run("sed -i 's/^EMPEROR_OPTS=.*/EMPEROR_OPTS=\"--emperor-throttle 900\"/' "
                            "/etc/default/uwsgi-emperor")
            restart = machine.run(restart_command(init), check=False)
            assert restart.returncode == 0, restart.stdout + restart.stderr + machine.out(
                "grep -v '^\\[pid: ' /var/log/uwsgi/emperor.log | tail -n 40", check=False)
            masters.append(emperor_master(machine))
        wait_settled(machine, ("app1", "app2"))
    finally:
        results = finish(running)
    record(f"{init}: {RESTARTS} restarts, 16 connections (ok/failed)",
           "/".join(str(sum(r[k] for r in results.values())) for k in ("ok", "failed")))
    record(f"{init}: slowest request across the restarts (s)",
           max(r["max_latency_seconds"] for r in results.values()))
    assert_none_failed(results)
    assert len(set(masters + [before])) == RESTARTS + 1
    emperor_args = processes(machine)[masters[-1]][2]
    assert emperor_args.endswith(" --emperor-throttle 900"), emperor_args
    assert serves(machine, "app1") and serves(machine, "app2")


def test_each_vassal_holds_only_its_own_socket(machine):
    """The keeper holds both; each vassal's processes only their app's; the Emperor none."""
    procs = wait_settled(machine, ("app1", "app2"))
    emperor, _ = split(procs)
    keeper = keeper_pid(machine)
    held = listeners(machine, [keeper, *procs])
    assert held[keeper] == ["/run/uwsgi/app1.sock", "tcp:8002"]
    for pid in emperor:
        assert held[pid] == []
    for app, mine in (("app1", ["/run/uwsgi/app1.sock"]), ("app2", ["tcp:8002"])):
        master, workers = vassal(procs, app)
        for pid in (master, *workers):
            assert held[pid] == mine, (app, pid)


def test_restart_during_a_graceful_reload_refuses_no_request(machine, init):
    wait_settled(machine, ("app1", "app2"))
    running = loads(machine, ("app1", "app2"))
    try:
        stack.wait_for(lambda: machine.out("grep -c 'GET /seq/' /var/log/uwsgi/app1.log",
                                           check=False) not in ("", "0"), 20)
        both = machine.run(f"{reload_command(init)} && {restart_command(init)}", check=False)
        assert both.returncode == 0, both.stdout + both.stderr
        wait_settled(machine, ("app1", "app2"))
    finally:
        results = finish(running)
    assert_none_failed(results)


def test_app_enabled_while_running_keeps_its_socket_across_a_restart(machine, init):
    add_app(machine, "app3")
    reload_nginx(machine, init)
    machine.run("uwsgi-ensite -q --wait app3")
    wait_serving(machine, ("app3",))
    running = loads(machine, ("app3",))
    try:
        restart = machine.run(restart_command(init), check=False)
        assert restart.returncode == 0, restart.stdout + restart.stderr
        wait_settled(machine, ("app1", "app2", "app3"))
    finally:
        results = finish(running)
    assert_none_failed(results)


def test_dissite_releases_the_socket(machine, init):
    """The name is gone, nginx answers 502 as for any app that is not there, and neither the
    keeper nor any process keeps the socket, across the next restart too."""
    add_app(machine, "app3")
    reload_nginx(machine, init)
    machine.run("uwsgi-query -q app3 || uwsgi-ensite -q --wait app3")
    machine.run("uwsgi-dissite -q app3")
    stack.wait_for(lambda: machine.run("test -e /run/uwsgi/app3.sock", check=False).returncode
                   != 0, 10)
    assert get(machine, "app3")[0] == 502
    restart = machine.run(restart_command(init), check=False)
    assert restart.returncode == 0, restart.stdout + restart.stderr
    procs = wait_settled(machine, ("app1", "app2"))
    keeper = keeper_pid(machine)
    held = listeners(machine, [keeper, *procs])
    assert held[keeper] == ["/run/uwsgi/app1.sock", "tcp:8002"]
    assert all("/run/uwsgi/app3.sock" not in names for names in held.values())
    assert machine.run("test -e /run/uwsgi/app3.sock", check=False).returncode != 0
    assert get(machine, "app3")[0] == 502


def test_a_crash_looping_app_does_not_make_the_keeper_leak(machine):
    """A vassal that dies at every start asks for its socket at every start: one socket held,
    the keeper's descriptors the same after every respawn."""
    machine.run("printf '[uwsgi]\\nchdir = /srv/seq\\nmodule = no_such_module\\n' "
                "> /etc/uwsgi/apps-available/broken.ini && uwsgi-ensite -q broken")
    keeper = keeper_pid(machine)

    def starts():
        return int(machine.out("grep -c 'GAME OVER' /var/log/uwsgi/broken.log", check=False)
                   or 0)
    # The Emperor waits 1, 2, 4, ... s before each respawn of a failing vassal.
    stack.wait_for(lambda: starts() >= 2, 60)
    fds_then = machine.out(f"ls /proc/{keeper}/fd | wc -l")
    stack.wait_for(lambda: starts() >= 4, 90)
    assert machine.out(f"ls /proc/{keeper}/fd | wc -l") == fds_then
    assert "/run/uwsgi/broken.sock" in listeners(machine, [keeper])[keeper]
    machine.run("uwsgi-dissite -q broken")
    stack.wait_for(lambda: "/run/uwsgi/broken.sock" not in listeners(machine, [keeper])[keeper], 10)


STUCK_APP = """\
import time
def application(environ, start_response):
    time.sleep(600)  # a request that outlives any graceful stop
    start_response("200 OK", [])
    return [b"late"]
"""
STUCK_CLIENT = """\
import socket, struct, time
body = b"".join(struct.pack("<H", len(k)) + k + struct.pack("<H", len(v)) + v
                for k, v in ((b"REQUEST_METHOD", b"GET"), (b"PATH_INFO", b"/")))
s = socket.socket(socket.AF_UNIX)
s.connect("/run/uwsgi/stuck.sock")
s.sendall(struct.pack("<BHB", 0, len(body), 0) + body)
s.recv(10)
"""


def test_a_request_that_never_ends_does_not_keep_a_stopped_app_alive(machine):
    """uwsgi-dissite stops the vassal gracefully; a worker that holds a request past its
    worker-reload-mercy is killed then, as on a reload (debian/uwsgi/patches/graceful-
    shutdown-curses-again.patch: unpatched, the vassal waits for it for ever)."""
    machine.run("cat > /srv/seq/stuck.py", input=STUCK_APP)
    machine.run("printf '[uwsgi]\\nchdir = /srv/seq\\nmodule = stuck\\nprocesses = 1\\n"
                "harakiri = 0\\nworker-reload-mercy = 3\\n' > /etc/uwsgi/apps-available/stuck.ini")
    machine.run("uwsgi-ensite -q --wait stuck")
    client = machine.popen("exec /usr/bin/python3 -c " + shlex.quote(STUCK_CLIENT))
    try:
        stack.wait_for(lambda: "100" == machine.out(
            "uwsgi-query --status --json stuck | python3 -c 'import json, sys; "
            "print(json.load(sys.stdin)[\"apps\"][0][\"busy_percent\"])'", check=False), 20)
        machine.run("uwsgi-dissite -q stuck")
        stack.wait_for(lambda: vassal(processes(machine), "stuck") == (None, set()), 30)
    finally:
        client.kill()
        client.communicate(timeout=30)
    log = machine.out("grep -v '^\\[pid' /var/log/uwsgi/stuck.log | tail -n 25")
    assert "worker 1 (pid: " in log and "is taking too much time to die...NO MERCY !!!" in log, log


def test_www_data_cannot_reach_the_keeper(machine, init):
    """The keeper's socket is root's (0600 in root's directory); an app process that tries
    anyway is refused, and under systemd a socket it sends to the unit's fd store is not
    taken (NotifyAccess=main)."""
    attack = machine.run(
        "setpriv --reuid=www-data --regid=www-data --init-groups -- /usr/bin/python3 -c "
        + shlex.quote(f"import socket; s = socket.socket(socket.AF_UNIX); s.connect('{KEEPER_SOCKET}')"),
        check=False)
    assert attack.returncode == 1 and "PermissionError" in attack.stderr, attack.stderr
    assert machine.out(f"stat -c '%U %a' {KEEPER_SOCKET}") == "root 600"
    if init != "systemd":
        return
    stored = machine.out("systemctl show -p NFileDescriptorStore --value uwsgi-emperor")
    forged = (
        "import os, socket\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.bind('/run/uwsgi/forged.sock'); s.listen()\n"
        "n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
        "n.sendmsg([b'FDSTORE=1\\nFDNAME=forged'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, "
        "s.fileno().to_bytes(4, 'little'))], 0, '/run/systemd/notify')\n")
    machine.run("cat > /tmp/forge.py", input=forged)
    sent = machine.run("setpriv --reuid=www-data --regid=www-data --init-groups -- "
                       "/usr/bin/python3 /tmp/forge.py", check=False)
    try:
        assert sent.returncode == 0, sent.stderr
        # systemd reads notifications before it answers D-Bus calls (the notify socket's
        # event source has the higher priority): the store is what the keeper put there,
        # app1's and app2's sockets, and no more.
        assert stored == "2"
        assert machine.out("systemctl show -p NFileDescriptorStore --value uwsgi-emperor") == stored
    finally:
        machine.run("rm -f /run/uwsgi/forged.sock")


MANY = [f"many{n:02d}" for n in range(1, 21)]


def test_twenty_apps_restart_under_load(machine, init):
    """20 more apps (one worker each) enabled: the restart under load still refuses nothing,
    the keeper holds all 22 sockets, and every app answers through nginx afterwards."""
    for app in MANY:
        add_app(machine, app, processes=1)
    reload_nginx(machine, init)
    machine.run("uwsgi-ensite -q --wait " + " ".join(MANY), timeout=300)
    wait_serving(machine, MANY, timeout=60)
    running = loads(machine, ("app1", "app2"))
    try:
        restart = machine.run(restart_command(init), check=False)
        assert restart.returncode == 0, restart.stdout + restart.stderr
        wait_serving(machine, MANY, timeout=60)
    finally:
        results = finish(running)
    assert_none_failed(results)
    keeper = keeper_pid(machine)
    assert listeners(machine, [keeper])[keeper] == sorted(
        ["/run/uwsgi/app1.sock", "tcp:8002"] + [f"/run/uwsgi/{app}.sock" for app in MANY])
    machine.run("uwsgi-dissite -q " + " ".join(MANY))
    stack.wait_for(lambda: listeners(machine, [keeper])[keeper] == [
        "/run/uwsgi/app1.sock", "tcp:8002"], 30)


def test_stop_releases_every_socket(machine, init):
    stop = "systemctl stop uwsgi-emperor" if init == "systemd" else f"{INIT_SCRIPT} stop"
    assert machine.run(stop, check=False).returncode == 0
    stack.wait_for(lambda: processes(machine) == {}, 90)
    # No socket name is left (the vassals' master fifos stay, as uWSGI leaves them).
    assert machine.out("find /run/uwsgi -type s") == ""
    assert get(machine, "app1")[0] == 502
    if init == "systemd":
        assert machine.out("systemctl show -p NFileDescriptorStore --value uwsgi-emperor") == "0"
    start = "systemctl start uwsgi-emperor" if init == "systemd" else f"{INIT_SCRIPT} start"
    assert machine.run(start, check=False).returncode == 0
    wait_serving(machine, ("app1", "app2"))

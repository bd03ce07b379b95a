"""The two clean Debian roots of the benchmark (of one suite) and what serves in them.

- "ours": this project's .deb for the suite installed with apt; apps enabled with uwsgi-ensite.
- "debian": Debian's own `uwsgi-emperor uwsgi-plugin-python3` from the suite's archive (2.0.21
  in bookworm, 2.0.28 in trixie), its emperor as packaged (/etc/uwsgi-emperor, runs as
  www-data, scans every 3 s), started with the command line of its systemd unit; gunicorn
  (Debian's python3-gunicorn, sync workers) runs in this root too.
Both roots run the same nginx with the same server blocks (files/nginx-bench.conf), the same
apps (files/benchapp.py) with 2 processes each, and wrk, all in their own network namespace
(only `lo`); both have Debian's python3-django too, for the Django figure (fig_django). Roots,
downloads and installs are the testbed's (testbed/): the roots are its test root (what every
system test unpacks, cached by its recipe's hash) with EXTRA installed, not a root of their own.
"""

import json
import pathlib
import shlex
import shutil
import tempfile

from .. import roots, stack

from .config import work_dir
from .log import say

FILES = pathlib.Path(__file__).resolve().with_name("files")
# Installed in both roots before anything is timed (not in the timed installs of figure 5).
# On the test root rather than in a bench root's recipe: a fresh machine makes the test root
# anyway, and 2 installs of these take about 14 s where mmdebstrap of a root of its own took 46.
EXTRA = ("wrk", "python3-gunicorn", "python3-django")
# Beside the testbed's own in-root files (httpload.py), which inroot.py imports.
LIB = stack.LIB
INROOT = f"{LIB}/inroot.py"
DEBIAN_PACKAGES = "uwsgi-emperor uwsgi-plugin-python3"
PROCESSES = 2  # every server: the package's default vassal processes

OUR_APP = """[uwsgi]
# Everything else (socket, user, log, processes) from the package's vassal defaults.
chdir = {chdir}
module = {module}
"""

# The vassal an admin writes for Debian's emperor: what the package's defaults give ours
# (socket in /run/uwsgi, 0660 for nginx, a log file, master, 2 processes) and the plugin.
DEBIAN_APP = """[uwsgi]
plugins = python3
master = true
processes = 2
chdir = {chdir}
module = {module}
socket = /run/uwsgi/%n.sock
chmod-socket = 660
vacuum = true
logto = /var/log/uwsgi/%n.log
"""

GUNICORN = ("/usr/bin/python3 -m gunicorn --daemon --workers {n} --worker-class sync --user www-data --group www-data "
            "--chdir /srv/bench --bind unix:/run/gunicorn/{name}.sock "
            "--pid /run/gunicorn/{name}.pid --access-logfile /var/log/gunicorn/{name}.log "
            "benchapp:{callable}")


class Side:
    """One root with its isolated machine (own pid/mount/net namespaces)."""

    def __init__(self, name, root):
        self.name = name
        self.root = root
        self.machine = None
        self.install_seconds = None

    def run(self, command, **kw):
        return self.machine.run(command, **kw)

    def out(self, command, **kw):
        return self.machine.out(command, **kw)

    def inroot(self, args, timeout=600):
        """Run inroot.py ARGS inside; its JSON answer."""
        return json.loads(self.out(f"/usr/bin/python3 {INROOT} {args}", timeout=timeout))

    def write(self, path, text):
        target = self.root.path / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    # Apps -----------------------------------------------------------------------------

    def app_ini(self, name, callable_="hello", chdir="/srv/bench", module=None):
        """The vassal ini of app NAME: benchapp's CALLABLE_, or MODULE in CHDIR."""
        app = {"chdir": chdir, "module": module or f"benchapp:{callable_}"}
        if self.name == "ours":
            self.write(f"/etc/uwsgi/apps-available/{name}.ini", OUR_APP.format(**app))
        else:
            self.write(f"/etc/uwsgi-emperor/available/{name}.ini", DEBIAN_APP.format(**app))

    def enable_cmd(self, names):
        """The admin's command that enables NAMES (uwsgi-ensite, or a symlink on Debian's)."""
        names = list(names)
        if self.name == "ours":
            return "uwsgi-ensite -q " + " ".join(names)
        return "ln -s " + " ".join(f"../available/{n}.ini" for n in names) + \
            " /etc/uwsgi-emperor/vassals/"

    def disable_cmd(self, names):
        names = list(names)
        if self.name == "ours":
            return "uwsgi-dissite -q " + " ".join(names)
        return "rm -f " + " ".join(f"/etc/uwsgi-emperor/vassals/{n}.ini" for n in names)

    def up(self, names, timeout=120):
        """Enable NAMES and wait until each answers 200 through nginx; the up-time result."""
        hosts = " ".join(f"{n}.test" for n in names)
        return self.inroot(f"up-time {hosts} --timeout {timeout} --cmd {shlex.quote(self.enable_cmd(names))}",
                           timeout=timeout + 60)

    def down(self, names):
        """Disable NAMES and wait until their sockets are gone."""
        self.run(self.disable_cmd(names))
        socks = " ".join(f"/run/uwsgi/{n}.sock" for n in names)
        self.run(f"for i in $(seq 300); do ls {socks} >/dev/null 2>&1 || exit 0; sleep 0.1; done; exit 1",
                 timeout=60)

    def start_variant(self, name, callable_, edit_defaults):
        """This package's uwsgi serving NAME exactly as its Emperor runs a vassal
        (`uwsgi --ini NAME.ini --include DEFAULTS`), with the defaults file passed through the
        shell filter EDIT_DEFAULTS: the before/after of one package default."""
        self.write(f"/srv/bench/variants/{name}.ini",
                   OUR_APP.format(chdir="/srv/bench", module=f"benchapp:{callable_}"))
        self.run(f"{edit_defaults} /etc/uwsgi/vassal-defaults.ini > /srv/bench/variants/defaults-{name}.ini"
                 f" && cd /srv/bench/variants && setsid /opt/venvs/uwsgi-emperor/bin/uwsgi --ini {name}.ini"
                 f" --include defaults-{name}.ini --pidfile /srv/bench/variants/{name}.pid >/dev/null 2>&1 </dev/null &"
                 f" for i in $(seq 100); do [ -S /run/uwsgi/{name}.sock ] && exit 0; sleep 0.1; done; exit 1")

    def stop_variant(self, name):
        self.run(f"kill -INT $(cat /srv/bench/variants/{name}.pid) && "
                 f"for i in $(seq 100); do [ -S /run/uwsgi/{name}.sock ] || exit 0; sleep 0.1; done; exit 1")

    # Debian's emperor (by its systemd unit's command line, or its init script's, which adds
    # options): a pattern that does not match the shell that runs pgrep with it.
    EMPEROR = "'[u]wsgi --ini /etc/uwsgi-emperor/emperor.ini'"

    def start_emperor(self, extra=""):
        """Debian's emperor as its systemd unit starts it (ExecStart), in the background."""
        self.run(f"setsid /usr/bin/uwsgi --ini /etc/uwsgi-emperor/emperor.ini {extra} "
                 ">>/var/log/uwsgi/emperor.log 2>&1 </dev/null & "
                 f"for i in $(seq 50); do pgrep -f {self.EMPEROR} >/dev/null && exit 0; sleep 0.1; done; exit 1")

    def stop_emperor(self):
        self.run(f"kill -INT $(pgrep -o -f {self.EMPEROR}); "
                 f"for i in $(seq 300); do pgrep -f {self.EMPEROR} >/dev/null || exit 0; sleep 0.1; done; exit 1",
                 timeout=60)

    def start_gunicorn(self, name, callable_):
        self.run("mkdir -p /run/gunicorn /var/log/gunicorn && chown www-data: /var/log/gunicorn && "
                 + GUNICORN.format(n=PROCESSES, name=name, callable=callable_))

    def stop(self):
        if self.machine:
            self.machine.stop()


def _stage_common(root):
    """Files both roots get before anything runs: apps, nginx site, the in-root tools."""
    (root.path / "srv/bench").mkdir(parents=True, exist_ok=True)
    shutil.copy(FILES / "benchapp.py", root.path / "srv/bench/benchapp.py")
    lib = root.path / LIB.lstrip("/")
    lib.mkdir(parents=True, exist_ok=True)
    for name in ("inroot.py", "wrk-json.lua"):
        shutil.copy(FILES / name, lib / name)
    shutil.copy(FILES / "nginx-bench.conf", root.path / "etc/nginx/sites-available/bench")
    enabled = root.path / "etc/nginx/sites-enabled"
    for old in enabled.iterdir():
        old.unlink()
    (enabled / "bench").symlink_to("../sites-available/bench")


def _time_install(side, command):
    result = side.inroot(f"time-cmd --cmd {shlex.quote(command)}", timeout=900)
    return result["seconds"][0]


def _install_extra(machine, _pip_env):
    """stack.prepare()'s ONLINE step: EXTRA installed, after the timed install's downloads."""
    machine.run("apt-get install -y -qq " + " ".join(EXTRA) + " >/dev/null", timeout=900)


def setup(deb, suite):
    """Both roots of SUITE unpacked, packages installed (timed), nginx and the apps serving.
    Returns {"ours": Side, "debian": Side}."""
    base = work_dir()
    base.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="roots-", dir=base))
    sides = {}
    for name in ("ours", "debian"):
        say(f"unpacking the {name} root ({suite})")
        root = roots.Root.fresh(suite, tmp / name)
        _stage_common(root)
        sides[name] = Side(name, root)
    say(f"ours: downloading what `apt-get install {deb.name}` needs")
    ours_what = stack.prepare(sides["ours"].root, deb, online=_install_extra)
    # Debian's emperor runs the way its systemd unit runs it (started below): the postinst
    # must not start it through the sysv script meanwhile.
    say(f"debian: downloading what `apt-get install {DEBIAN_PACKAGES}` needs")
    debian_what = stack.prepare(sides["debian"].root, packages=DEBIAN_PACKAGES.split(),
                                services=False, online=_install_extra)

    ours = sides["ours"]
    ours.machine = ours.root.machine(offline=True)
    say("ours: apt-get install (offline, timed)")
    ours.install_seconds = _time_install(ours, f"apt-get install -y -q {ours_what}")
    for app in ("hello", "slow"):
        ours.app_ini(app, app)
    ours.run("/etc/init.d/nginx start && uwsgi-ensite -q --wait --timeout=30 hello slow")

    deb = sides["debian"]
    deb.machine = deb.root.machine(offline=True)
    # What systemd's RuntimeDirectory=uwsgi would give Debian's emperor; its vassals run as
    # www-data (the emperor's uid) and need to write their sockets and logs.
    deb.run("mkdir -p /run/uwsgi /var/log/uwsgi && chown root:www-data /run/uwsgi && chmod 0775 /run/uwsgi"
            " && chown www-data: /var/log/uwsgi")
    say("debian: apt-get install (offline, timed)")
    deb.install_seconds = _time_install(deb, f"apt-get install -y -q {debian_what}")
    deb.run("chown www-data: /var/log/uwsgi && mkdir -p /etc/uwsgi-emperor/available")
    deb.start_emperor()
    for app in ("hello", "slow"):
        deb.app_ini(app, app)
        deb.start_gunicorn(app, app)
    deb.run("/etc/init.d/nginx start")
    deb.up(["hello", "slow"], timeout=60)
    for side in sides.values():
        for host in ("hello.test", "slow.test", "ceiling.test") + (
                ("hello.gunicorn", "slow.gunicorn") if side.name == "debian" else ()):
            status = side.out(f"curl -s -o /dev/null -w '%{{http_code}}' -H 'Host: {host}' http://127.0.0.1/",
                              check=False)
            if status != "200":
                raise RuntimeError(f"{side.name}: {host} answers {status}, not 200")
    say("both roots serve hello and slow through nginx")
    return sides, tmp


# What figure 1's "ours" runs with, recorded with each run: the options the package's vassal
# defaults decide for the hello app (issue 25 added the stats server; memory-report, which
# would cost every request, is not among the defaults: uwsgi-query reads the kernel instead).
VASSAL_OPTIONS = ("master", "processes", "threads", "stats", "stats-no-cores", "memory-report",
                  "logto", "master-fifo", "touch-logreopen")


def wait_running(side, timeout, names=()):
    """Until `uwsgi-query --status [NAMES]` exits 0: every enabled app (or each of NAMES)
    running, that is accepting for uwsgi_emperor.wait.STEADY s."""
    side.run(f"for i in $(seq {int(timeout * 5)}); do uwsgi-query --status -q {' '.join(names)} && exit 0;"
             " sleep 0.2; done; exit 1", timeout=timeout + 60)


def vassal_options(side, name):
    """This package's vassal NAME as its Emperor runs it: each of VASSAL_OPTIONS as uWSGI reads
    the app's ini with the installed vassal defaults (`--ini NAME.ini --include
    vassal-defaults.ini`, the Emperor's vassals-include), None when unset; its state and
    whether its stats server answered, from `uwsgi-query --status --json NAME`."""
    wait_running(side, 60, [name])
    options = {}
    for option in VASSAL_OPTIONS:
        # As nobody (as inicheck reads an ini): uwsgi --get exits through vacuum, which as
        # root unlinks the running app's stats socket.
        value = side.out(f"cd /etc/uwsgi/apps-enabled && setpriv --reuid=nobody --regid=nogroup --clear-groups"
                         f" /opt/venvs/uwsgi-emperor/bin/uwsgi --ini {name}.ini"
                         f" --include /etc/uwsgi/vassal-defaults.ini --get {option} 2>/dev/null", check=False)
        options[option] = value or None
    app = json.loads(side.out(f"uwsgi-query --status --json {name}", check=False))["apps"][0]
    return {"app": name, "options": options, "state": app["state"],
            "stats_server_answers": bool(app["workers"]) and not app["stats_problem"],
            "stats_problem": app["stats_problem"], "workers": app["workers"]}


def teardown(sides, tmp):
    for side in sides.values():
        side.stop()
    for side in sides.values():
        side.root.discard()
    shutil.rmtree(tmp, ignore_errors=True)


def versions(sides):
    """Exact versions of what was measured, from dpkg inside each root."""
    q = "dpkg-query -W -f '${Version}' "
    ours, deb = sides["ours"], sides["debian"]
    return {
        "ours": ours.out(q + "uwsgi-emperor"),
        "ours_uwsgi": ours.out("/opt/venvs/uwsgi-emperor/bin/uwsgi --version"),
        "debian": deb.out(q + "uwsgi-core"),
        "gunicorn": deb.out(q + "python3-gunicorn"),
        "nginx": ours.out(q + "nginx"),
        "wrk": ours.out(q + "wrk"),
        "python": ours.out("/usr/bin/python3 -c 'import sys; print(sys.version.split()[0])'"),
    }

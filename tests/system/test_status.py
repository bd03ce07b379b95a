"""Issue 25: every app at a glance, in a clean root of each suite (init script, no systemd).

Three apps: good (answers at once), crashy (raises at import: need-app makes each start exit,
the Emperor throttles it) and busy (each request sleeps; both workers held, a third request
waits in the kernel's queue). `uwsgi-query --status`, `--json`, `--check` and the Prometheus
metrics written by the timer's command and scraped from Debian's prometheus-node-exporter
(started by its own init script, as the package installs it, on :9100) report each one, and
the request counter moves by exactly the requests sent. Then a www-data process puts its
own stats server where the status view reads good's, and writes control characters into
crashy's log: nothing it says is believed, and what it wrote is shown escaped.
"""

import json
import re
import shlex

import pytest

import webstack
from helper_deb import helper_deb_file
from testbed import nspawn, roots
from testbed import stack as testbed_stack

pytestmark = pytest.mark.system

EXPORTER = "prometheus-node-exporter"
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
CLIENT_PATH = "/usr/local/lib/uwsgi-status-client.py"
WAIT = 30  # seconds: a bound on waiting for a state, never a timing assertion
APPS = {
    "good": "def application(environ, start_response):\n"
            "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
            "    return [b'good\\n']\n",
    "crashy": "raise RuntimeError('crashy cannot start \\x1b[31m')\n",
    "busy": "import time\n"
            "def application(environ, start_response):\n"
            "    time.sleep(float(environ.get('QUERY_STRING') or 0))\n"
            "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
            "    return [b'slept\\n']\n",
}
# busy's requests sleep far beyond the default harakiri (60 s): they must stay busy.
EXTRA = {"busy": "harakiri = 0\n"}
CLIENT = r"""
import socket, struct, sys
# CLIENT SOCKET COUNT [QUERY]: COUNT GETs over the uwsgi protocol, one after the other.
path, count = sys.argv[1], int(sys.argv[2])
query = sys.argv[3] if len(sys.argv) > 3 else ""
env = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "QUERY_STRING": query, "SERVER_NAME": "t",
       "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "t"}
body = b"".join(struct.pack("<H", len(k)) + k.encode() + struct.pack("<H", len(v)) + v.encode()
                for k, v in env.items())
for _ in range(count):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(struct.pack("<BHB", 0, len(body), 0) + body)
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    assert out.startswith(b"HTTP/1.1 200 OK"), out
    s.close()
print(count)
"""
SCRAPE = r"""
import urllib.request
print(urllib.request.urlopen("http://127.0.0.1:9100/metrics", timeout=10).read().decode())
"""
# A www-data process's own stats server: any JSON it likes, to whoever connects.
FAKE_STATS = r"""
import json, os, socket, sys
path = sys.argv[1]
forged = json.dumps({"workers": [{"id": 1, "status": "idle", "requests": 999999,
                                  "exceptions": 0, "avg_rt": 1, "respawn_count": 1}]})
try:
    os.unlink(path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX)
s.bind(path)
s.listen(16)
print(os.getpid(), flush=True)
while True:
    c, _ = s.accept()
    try:
        c.sendall(forged.encode())
    except OSError:
        pass
    c.close()
"""


@pytest.fixture(scope="module")
def deb_inside(clean_root, deb_path):
    """The package and Debian's prometheus-node-exporter, ready to install offline."""
    return testbed_stack.prepare(clean_root, deb_path, packages=(EXPORTER,))


def add_app(m, name):
    """APPS[NAME] in /srv/NAME and its ini in apps-available (not enabled); the client too."""
    m.run(f"cat > {CLIENT_PATH}", input=CLIENT)
    m.run(f"mkdir -p /srv/{name} && cat > /srv/{name}/app.py", input=APPS[name])
    m.run(f"cat > /etc/uwsgi/apps-available/{name}.ini", input=(
        f"[uwsgi]\nchdir = /srv/{name}\nwsgi-file = /srv/{name}/app.py\n"
        + EXTRA.get(name, "")))


@pytest.fixture(scope="module")
def apps(machine):
    m = machine
    for name in APPS:
        add_app(m, name)
    assert "is up" in m.out("uwsgi-ensite --wait good busy")
    m.run("uwsgi-ensite -q crashy")
    # busy: both workers held for an hour, and one more request waiting for a worker.
    busy = [m.popen(f"exec python3 {CLIENT_PATH} /run/uwsgi/busy.sock 1 3600") for _ in range(3)]
    yield m
    for proc in busy:
        proc.kill()
        proc.wait()


def status_json(m, *names):
    return json.loads(m.out("uwsgi-query --status --json " + " ".join(names), check=False))


def by_name(data):
    return {app["name"]: app for app in data["apps"]}


def settled(m):
    """The status once all three apps are where this module puts them."""
    apps = by_name(status_json(m))
    good, crashy, busy = apps["good"], apps["crashy"], apps["busy"]
    if (good["state"], busy["state"], crashy["state"]) != ("running", "running", "crash-looping"):
        return None
    if busy["workers"] != {"busy": 2} or busy["listen_queue"] != 1:
        return None
    return apps


def send(m, name, count):
    assert m.out(f"python3 {CLIENT_PATH} /run/uwsgi/{name}.sock {count}") == str(count)


def requests_of(m, name):
    return by_name(status_json(m, name))[name]["requests"]


def test_status_view(apps, suite):
    m = apps
    found = webstack.wait_for(lambda: settled(m), WAIT)[0]
    good, crashy, busy = found["good"], found["crashy"], found["busy"]
    assert (good["pid"], busy["pid"]) == (webstack.vassal_master(m, "good"),
                                          webstack.vassal_master(m, "busy"))
    assert (good["uid"], good["workers"], good["exceptions"], good["zergs"],
            good["stats_problem"], good["listen_queue"], good["listen_backlog"]) == (
        33, {"idle": 2}, 0, 0, None, 0, 100)
    assert good["rss_bytes"] > good["pss_bytes"] > 0
    assert (busy["busy_percent"], busy["requests"]) == (100, 0)
    assert crashy["pid"] is None and crashy["failed_starts"] >= 2
    assert crashy["last_exit"] == r"RuntimeError: crashy cannot start \x1b[31m"
    before = requests_of(m, "good")
    send(m, "good", 7)
    # The counter is raised after the response is written: waited for, then exact.
    webstack.wait_for(lambda: requests_of(m, "good") >= before + 7, WAIT)
    assert requests_of(m, "good") == before + 7

    view = m.run("uwsgi-query --status", check=False)
    print(view.stdout)  # shown with -rP: README's example comes from here
    print(m.out("uwsgi-query --status --json good"))
    assert view.returncode == 3 and view.stderr == ""
    lines = view.stdout.splitlines()
    assert re.fullmatch(r"Emperor: running \(pid \d+\), \d+ vassals", lines[0])
    assert lines[1].split() == ["APP", "STATE", "PID", "UP", "BUSY", "REQUESTS", "REQ/S", "EXC",
                                "AVG-RT", "RSS", "PSS", "RESPAWNS", "QUEUE", "ZERGS"]
    rows = {line.split()[0]: line.split() for line in lines[2:lines.index("")]}
    # The package's example.ini is in apps-available, not enabled.
    assert rows["example"] == ["example", "disabled"] + ["-"] * 12
    assert [rows["good"][i] for i in (1, 2, 4, 5, 7, 12, 13)] == [
        "running", str(good["pid"]), "0/2", str(before + 7), "0", "0/100", "0"]
    assert [rows["busy"][i] for i in (1, 2, 4, 5, 12)] == [
        "running", str(busy["pid"]), "2/2", "0", "1/100"]
    assert rows["crashy"][:3] == ["crashy", "crash-looping", "-"]
    assert "\x1b" not in view.stdout
    notes = lines[lines.index("") + 1:]
    assert re.fullmatch(r"crashy: exited \d+ times before serving a request; last exit: "
                        r"RuntimeError: crashy cannot start \\x1b\[31m", notes[0])
    # Then the end of its log (which lines: those of its last try, or of the one under way).
    assert 1 <= len(notes[1:]) <= 5 and all(line.startswith("  | ") for line in notes[1:])


def test_check(apps):
    m = apps
    webstack.wait_for(lambda: settled(m), WAIT)
    good = requests_of(m, "good")
    done = m.run("uwsgi-query --check", check=False)
    print(done.stdout)
    assert (done.returncode, done.stderr) == (2, "")
    assert done.stdout == (
        "UWSGI CRITICAL: crashy crash-looping; busy 100% of workers busy | apps=3;;;0 "
        "running=2;;;0;3 down=1;;0;0;3 crash_looping=1;;0;0;3 busy_busy=100%;80;95;0;100 "
        f"busy_requests=0c good_busy=0%;80;95;0;100 good_requests={good}c\n")
    done = m.run("uwsgi-query --check good", check=False)
    assert (done.returncode, done.stdout) == (0, (
        "UWSGI OK: 1 of 1 apps running | apps=1;;;0 running=1;;;0;1 down=0;;0;0;1 "
        f"crash_looping=0;;0;0;1 good_busy=0%;80;95;0;100 good_requests={good}c\n"))
    done = m.run("uwsgi-query --check --crit-crashloop none --crit-down 1 --crit-busy none busy crashy",
                 check=False)
    assert (done.returncode, done.stdout.split(" | ")[0]) == (
        1, "UWSGI WARNING: crashy crash-looping; busy 100% of workers busy")


def exec_start(m):
    """The command uwsgi-emperor-metrics.service runs, read from the installed unit."""
    unit = m.out("cat /lib/systemd/system/uwsgi-emperor-metrics.service "
                 "/usr/lib/systemd/system/uwsgi-emperor-metrics.service 2>/dev/null | "
                 "sed -n 's/^ExecStart=//p' | head -1")
    assert unit == f"/usr/sbin/uwsgi-query --metrics --output {TEXTFILE_DIR}/uwsgi-emperor.prom"
    return unit


def scrape(m):
    """{series with labels: value} of the uwsgi_ series the node exporter serves now ({}
    while it does not answer)."""
    done = m.run("python3 -", input=SCRAPE, check=False)
    if done.returncode != 0:
        print("scrape failed:", done.stderr.splitlines()[-1:], m.out(
            f"grep -m1 -B2 -A6 '^panic' /var/log/prometheus/{EXPORTER}.log", check=False))
        return {}
    text = done.stdout
    assert "node_textfile_scrape_error 0" in text
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line.startswith("uwsgi_")}


def test_exporter_layout(apps, record):
    m = apps
    version = m.out(f"dpkg-query -W -f '${{Version}}' {EXPORTER}")
    record("prometheus-node-exporter", version)
    assert m.out(f"stat -c '%U:%G %a' {TEXTFILE_DIR}") == "root:root 755"
    assert m.out("stat -c '%U:%G' /var/lib/prometheus") == "prometheus:prometheus"
    # The textfile collector's default directory is the package's, in both suites.
    helptext = m.run(f"{EXPORTER} --help", check=False)
    assert re.search(r'--collector\.textfile\.directory="?' + re.escape(TEXTFILE_DIR) + r'"?\s',
                     helptext.stdout + helptext.stderr)
    assert m.out(f"grep -v '^#' /etc/default/{EXPORTER} | grep ARGS") == 'ARGS=""'
    # Started by its init script as the prometheus user, Debian's defaults (ARGS="").
    assert m.out(f"ps -o user= -C {EXPORTER}") == "prometheus"
    first = webstack.wait_for(lambda: m.run("python3 -", input=SCRAPE, check=False), WAIT)[0]
    record("node exporter with its defaults answers", first.returncode == 0)
    print("defaults:", first.stderr.splitlines()[-1:], m.out(
        f"grep -m1 -A4 '^panic' /var/log/prometheus/{EXPORTER}.log", check=False))
    textfile_collector_only(m)
    assert m.out(f"ps -o user= -C {EXPORTER}") == "prometheus"


def textfile_collector_only(m):
    """The exporter with only the textfile collector (its default directory), on loopback
    only: trixie's 1.9.0 panics in another default collector in this test's namespaces (see
    the summary), and nothing but the textfile series is asserted."""
    args = "--web.listen-address=127.0.0.1:9100 --collector.disable-defaults --collector.textfile"
    if m.out(f"grep -v '^#' /etc/default/{EXPORTER} | grep ARGS") != f'ARGS="{args}"':
        m.run(f"echo 'ARGS=\"{args}\"' > /etc/default/{EXPORTER} "
              f"&& /etc/init.d/{EXPORTER} restart")
    webstack.wait_for(lambda: m.run("python3 -", input=SCRAPE, check=False).returncode == 0, WAIT)


def test_metrics_scraped_from_the_node_exporter(apps):
    m = apps
    textfile_collector_only(m)
    webstack.wait_for(lambda: settled(m), WAIT)
    command = exec_start(m)
    m.run(command)
    assert m.out(f"stat -c '%U:%G %a' {TEXTFILE_DIR}/uwsgi-emperor.prom") == "root:root 644"
    assert m.out(f"ls -A {TEXTFILE_DIR}") == "uwsgi-emperor.prom"
    print(m.out(f"cat {TEXTFILE_DIR}/uwsgi-emperor.prom"))
    series = webstack.wait_for(lambda: (s := scrape(m)) and "uwsgi_emperor_up" in s and s, WAIT)[0]
    assert series["uwsgi_emperor_up"] == 1
    assert series["uwsgi_emperor_vassals"] >= 2
    for name, up in (("good", 1), ("busy", 1), ("crashy", 0)):
        assert series[f'uwsgi_app_up{{app="{name}"}}'] == up
    assert series['uwsgi_app_state{app="crashy",state="crash-looping"}'] == 1
    assert series['uwsgi_app_state{app="good",state="running"}'] == 1
    assert series['uwsgi_app_workers{app="busy",status="busy"}'] == 2
    assert series['uwsgi_app_workers{app="good",status="idle"}'] == 2
    assert series['uwsgi_app_listen_queue{app="busy"}'] == 1
    assert series['uwsgi_app_failed_starts{app="crashy"}'] >= 2
    assert 'uwsgi_app_requests_total{app="crashy"}' not in series
    assert series['uwsgi_app_resident_memory_bytes{app="good"}'] > 0
    before = series['uwsgi_app_requests_total{app="good"}']
    assert before == requests_of(m, "good")
    send(m, "good", 5)
    webstack.wait_for(lambda: requests_of(m, "good") >= before + 5, WAIT)
    m.run(command)
    after = webstack.wait_for(
        lambda: scrape(m).get('uwsgi_app_requests_total{app="good"}', before) != before
        and scrape(m), WAIT)[0]
    assert after['uwsgi_app_requests_total{app="good"}'] - before == 5


def as_www_data(m, script):
    return m.popen("exec setpriv --reuid=www-data --regid=www-data --init-groups -- "
                   f"python3 -c {shlex.quote(script)} /run/uwsgi/good.stats")


def test_www_data_cannot_make_them_lie(apps):
    m = apps
    webstack.wait_for(lambda: settled(m), WAIT)
    real = requests_of(m, "good")
    good_pid = webstack.vassal_master(m, "good")
    fake = as_www_data(m, FAKE_STATS)
    try:
        fake_pid = int(fake.stdout.readline())
        good = by_name(status_json(m))["good"]
        assert (good["state"], good["pid"], good["requests"], good["workers"]) == (
            "running", good_pid, None, {})
        served_by = fake_pid  # the attacker's own pid: who listens there now
        assert good["stats_problem"] == (
            f"/run/uwsgi/good.stats is served by pid {served_by} (uid 33), not by the app's "
            f"master (pid {good_pid}): ignored")
        view = m.run("uwsgi-query --status", check=False)
        assert "999999" not in view.stdout
        assert (f"good: no worker figures: /run/uwsgi/good.stats is served by pid {served_by} "
                "(uid 33)") in view.stdout
        check = m.run("uwsgi-query --check good", check=False)
        assert (check.returncode, check.stdout.split(" | ")[0]) == (1, (
            f"UWSGI WARNING: good without worker figures (/run/uwsgi/good.stats is served by "
            f"pid {served_by} (uid 33), not by the app's master (pid {good_pid}): ignored)"))
        m.run(exec_start(m))
        text = m.out(f"cat {TEXTFILE_DIR}/uwsgi-emperor.prom")
        assert "999999" not in text and 'uwsgi_app_requests_total{app="good"}' not in text
        assert 'uwsgi_app_up{app="good"} 1' in text.splitlines()
    finally:
        fake.kill()
        fake.wait()
    # A graceful reload of good (its ini touched) binds its own stats server again.
    m.run("touch /etc/uwsgi/apps-available/good.ini")
    def believed_again():
        """good's own stats server is read again"""
        good = by_name(status_json(m, "good"))["good"]
        return good["stats_problem"] is None and good["requests"] is not None and good
    good = webstack.wait_for(believed_again, WAIT)[0]
    assert good["state"] in ("running", "starting") and good["requests"] <= real

def test_without_the_emperor_an_apps_log_is_shown_escaped(apps):
    """Last: the Emperor stopped, every enabled app is stopped and shows its log's end, where
    www-data (the log is the app's, logfile-chown) wrote a line that would retitle the
    terminal and overwrite the line before it."""
    m = apps
    m.run("/etc/init.d/uwsgi-emperor stop")
    m.run("setpriv --reuid=www-data --regid=www-data --init-groups -- sh -c "
          "\"printf 'all fine\\r\\033]0;owned\\007 running\\n' >> /var/log/uwsgi/good.log\"")
    view = m.run("uwsgi-query --status good", check=False)
    print(view.stdout)
    assert (view.returncode, view.stderr) == (1, "")
    lines = view.stdout.splitlines()
    assert lines[0] == "Emperor: no Emperor running"
    assert lines[2].split()[:3] == ["good", "stopped", "-"]
    # Stopped with the Emperor: its last words are the reason.
    assert re.fullmatch(r"good: no Emperor running; last exit: .* - goodbye to uWSGI\.", lines[4])
    assert lines[-1] == "  | all fine\\x0d\\x1b]0;owned\\x07 running"
    assert "\x1b" not in view.stdout and "\r" not in view.stdout
    check = m.run("uwsgi-query --check", check=False)
    assert (check.returncode, check.stdout) == (2, "UWSGI CRITICAL: no Emperor running\n")
    metrics = m.run(exec_start(m), check=False)
    assert (metrics.returncode, metrics.stderr) == (1, "")
    assert m.out(f"grep -v '^#' {TEXTFILE_DIR}/uwsgi-emperor.prom | grep -v uwsgi_app_state") == (
        "uwsgi_emperor_up 0\n" + "\n".join(
            f'uwsgi_app_up{{app="{name}"}} 0' for name in ("busy", "crashy", "good")))


@pytest.fixture(scope="module")
def debian_uwsgi_host(suite, tmp_path_factory):
    """A root of its own: Debian's uwsgi and the helpers alone (python3-uwsgi-ensite)."""
    deb = helper_deb_file(suite)
    assert deb.is_file(), f"{deb} is missing: run `make helper-deb SUITE={suite}` first"
    root = roots.Root.fresh(suite, tmp_path_factory.mktemp(f"{suite}-status-debian") / "root")
    try:
        yield testbed_stack.debian_uwsgi_with_helper(root, deb)
    finally:
        root.stop_all()
        root.discard()


def test_helpers_alone_say_what_they_cannot_show(debian_uwsgi_host):
    m = debian_uwsgi_host
    m.run("printf '[uwsgi]\\nplugins = python3\\nwsgi-file = /srv/a/app.py\\n' "
          "> /etc/uwsgi/apps-available/a.ini && uwsgi-ensite -q a")
    m.run("printf '[uwsgi]\\nplugins = python3\\nwsgi-file = /srv/b/app.py\\n' "
          "> /etc/uwsgi/apps-available/b.ini")
    view = m.run("uwsgi-query --status", check=False)
    assert (view.returncode, view.stdout, view.stderr) == (0, (
        "Emperor: Debian's uwsgi package has no Emperor stats: no state, workers or requests "
        "to show\nAPP  STATE\na    enabled\nb    disabled\n"), (
        "uwsgi-query: Debian's uwsgi package has no Emperor stats: no state, workers or "
        "requests to show\n"))
    data = json.loads(m.out("uwsgi-query --status --json a", check=False))
    assert (data["flavour"], [(a["name"], a["state"]) for a in data["apps"]]) == (
        "debian", [("a", "enabled")])
    check = m.run("uwsgi-query --check", check=False)
    assert (check.returncode, check.stdout, check.stderr) == (3, (
        "UWSGI UNKNOWN: Debian's uwsgi package has no Emperor stats to check "
        "(install uwsgi-emperor for --check)\n"), "")
    metrics = m.run("uwsgi-query --metrics", check=False)
    assert (metrics.returncode, metrics.stdout, metrics.stderr) == (1, "", (
        "uwsgi-query: error: Debian's uwsgi package has no Emperor stats: no state, workers "
        "or requests to show\n"))


@pytest.fixture(scope="module")
def systemd_host(suite, deb_path, tmp_path_factory):
    """The package and Debian's node exporter under a booted systemd (their own units): the
    metrics timer is what writes the textfile there."""
    root = roots.Root.fresh(suite, tmp_path_factory.mktemp(f"{suite}-status-systemd") / "root",
                            include=nspawn.BOOT_PACKAGES)
    try:
        with testbed_stack.booted_with(root, deb_path, (EXPORTER,)) as m:
            add_app(m, "good")
            assert "is up" in m.out("uwsgi-ensite --wait good")
            yield m
    finally:
        root.discard()


def test_timer_writes_the_textfile_under_systemd(systemd_host, record):
    m = systemd_host
    assert m.out("systemctl is-enabled uwsgi-emperor-metrics.timer") == "enabled"
    assert m.out("systemctl is-active uwsgi-emperor-metrics.timer") == "active"
    send(m, "good", 3)

    def written():
        """the timer's service wrote good's 3 requests, under its sandbox"""
        text = m.out(f"cat {TEXTFILE_DIR}/uwsgi-emperor.prom", check=False)
        return 'uwsgi_app_requests_total{app="good"} 3' in text.splitlines() and text
    # Every 15 s: two runs at the most.
    text = webstack.wait_for(written, 40, interval=1)[0]
    lines = text.splitlines()
    assert "uwsgi_emperor_up 1" in lines
    assert 'uwsgi_app_up{app="good"} 1' in lines
    assert any(line.startswith('uwsgi_app_proportional_memory_bytes{app="good"} ')
               and int(line.split()[1]) > 0 for line in lines)
    assert 'uwsgi_app_listen_queue{app="good"} 0' in lines
    assert m.out("systemctl show -p Result --value uwsgi-emperor-metrics.service") == "success"
    out = m.out("systemd-analyze security uwsgi-emperor-metrics.service", check=False)
    found = re.search(r"Overall exposure level for uwsgi-emperor-metrics.service: ([\d.]+)", out)
    record("systemd-analyze security of the metrics service", found and float(found[1]))
    # And Debian's node exporter, under its own unit, serves them (textfile collector).
    served = webstack.wait_for(
        lambda: scrape(m).get('uwsgi_app_requests_total{app="good"}') == 3, WAIT)
    assert served

"""Issue 10 under the suite's real systemd (252, 257; systemd-nspawn -b): the hardened
uwsgi-emperor.service.

An app that does what web apps commonly do (spawn a process, start a thread, write under
/srv, /var/tmp and /tmp, resolve names, send mail through postfix's /usr/sbin/sendmail)
works under the unit's sandbox; NoNewPrivileges=true, measured here, would lose its mail.
Attacks as www-data: a symlink over the Emperor's old pid file path must not make root
truncate a file on restart, and an app cannot rewrite the unit's status (NotifyAccess=main).
"""

import json
import re

import pytest

import uwsgi_request
from project import suite as suite_info
from testbed import nspawn, roots, stack

pytestmark = pytest.mark.system

# Installed with the package: an MTA (postfix's sendmail hands mail to the setgid postdrop,
# the program NoNewPrivileges breaks) and python3 (uwsgi_request's client runs `python3`; the
# package depends only on the suite's python3.X).
PACKAGES = ("postfix", "python3")
# Outside /etc and /usr, which ProtectSystem=full makes read-only for the unit anyway.
SECRET = "/var/lib/uwsgi-security-test-secret"
SECRET_TEXT = "root only secret"
FORGED_STATUS = "forged by an app"

WEBAPP = r'''
import json, os, socket, subprocess, threading

def _check(results, name, fn):
    try:
        fn()
        results[name] = "ok"
    except subprocess.CalledProcessError as err:
        results[name] = f"exit {err.returncode}: {err.stderr.decode(errors='replace').strip()}"
    except subprocess.TimeoutExpired as err:
        results[name] = f"timed out: {(err.stderr or b'').decode(errors='replace').strip()}"
    except Exception as err:
        results[name] = f"{type(err).__name__}: {err}"

def _thread():
    seen = []
    t = threading.Thread(target=seen.append, args=(1,))
    t.start()
    t.join(5)
    assert seen == [1], seen

def _write(path):
    with open(path, "w") as f:
        f.write("written by the app\n")

def _mail():
    subprocess.run(["/usr/sbin/sendmail", "-t", "-oi"], check=True, capture_output=True, timeout=6,
                   input=b"To: root\nSubject: uwsgi-security-test\n\nsent by the app\n")

def _notify():
    # What any app can try: tell systemd something in the unit's name.
    path = os.environ.get("NOTIFY_SOCKET") or "/run/systemd/notify"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(b"STATUS=@FORGED@\nERRNO=99\n", path)

def application(environ, start_response):
    results = {}
    _check(results, "subprocess", lambda: subprocess.run(["/bin/echo", "hi"], check=True, capture_output=True))
    _check(results, "thread", _thread)
    _check(results, "write /srv", lambda: _write("/srv/webapp/data/out"))
    _check(results, "write /var/tmp", lambda: _write("/var/tmp/webapp-out"))
    _check(results, "write /tmp", lambda: _write("/tmp/webapp-out"))
    _check(results, "resolve", lambda: socket.getaddrinfo("localhost", 80, flags=socket.AI_ADDRCONFIG))
    _check(results, "resolve db.internal", lambda: socket.getaddrinfo("db.internal", 5432))
    _check(results, "sendmail", _mail)
    _check(results, "notify", _notify)
    body = json.dumps(results, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
'''.replace("@FORGED@", FORGED_STATUS)
ALL_OK = {name: "ok" for name in ("subprocess", "thread", "write /srv", "write /var/tmp",
                                  "write /tmp", "resolve", "resolve db.internal", "sendmail",
                                  "notify")}


@pytest.fixture(scope="module")
def machine(suite, deb_path, tmp_path_factory):
    """The package and PACKAGES installed by apt under the booted systemd of a fresh root of
    SUITE (what apt needs was downloaded before the boot), the webapp enabled."""
    root = roots.Root.fresh(suite, tmp_path_factory.mktemp(f"{suite}-systemd-security") / "root",
                            include=nspawn.BOOT_PACKAGES)
    try:
        with stack.booted_with(root, deb_path, PACKAGES) as m:
            m.run(f"printf '{SECRET_TEXT}\\n' > {SECRET} && chmod 0600 {SECRET}")
            # A name an app looks up (its database), through NSS as any other.
            m.run("echo '127.0.0.2 db.internal' >> /etc/hosts")
            m.run("mkdir -p /srv/webapp/data && chown www-data:www-data /srv/webapp/data")
            m.run("cat > /srv/webapp/webapp.py", input=WEBAPP)
            m.run("printf '[uwsgi]\\nchdir = /srv/webapp\\nmodule = webapp:application\\n'"
                  " > /etc/uwsgi/apps-available/webapp.ini")
            assert "is up" in m.out("uwsgi-ensite --wait webapp")
            yield m
    finally:
        root.discard()


def test_systemd_is_the_suites(machine, suite):
    assert machine.systemd_major() == suite_info(suite).systemd


def app_results(machine):
    response = uwsgi_request.get(machine, "/run/uwsgi/webapp.sock")
    assert response.startswith("HTTP/1.1 200 OK"), response
    return json.loads(uwsgi_request.body(response))


def test_exposure_score(machine, record):
    out = machine.out("systemd-analyze security uwsgi-emperor.service", check=False)
    score = float(re.search(r"Overall exposure level for uwsgi-emperor.service: ([\d.]+)", out)[1])
    record("systemd-analyze security exposure (was 8.6)", score)
    assert score <= 3.5, out


def test_common_web_app_works_under_the_sandbox(machine):
    assert app_results(machine) == ALL_OK
    assert machine.out("cat /srv/webapp/data/out") == "written by the app"
    assert machine.out("stat -c %U /srv/webapp/data/out") == "www-data"
    # The mail was queued by postdrop and delivered locally.
    stack.wait_for(lambda: "Subject: uwsgi-security-test" in machine.out(
        "cat /var/mail/root", check=False), 30)


def test_an_app_cannot_rewrite_the_units_status(machine, record):
    app_results(machine)  # it sent STATUS= again
    # Only the socket keeper (the main process) may notify; what the app sent is refused.
    refused = machine.out("journalctl -q -u uwsgi-emperor --no-pager | "
                          "grep -c 'reception only permitted for main PID'", check=False)
    record("notifications refused by NotifyAccess=main (journal lines)", refused)
    master = machine.out("cat /run/uwsgi-emperor/emperor.pid")
    assert machine.out("systemctl show -p StatusText --value uwsgi-emperor") == f"Emperor pid {master}"
    # The Emperor never sends ERRNO=: with NotifyAccess=all the app's 99 would stick.
    assert machine.out("systemctl show -p StatusErrno --value uwsgi-emperor") == "0"
    assert machine.out("systemctl is-active uwsgi-emperor") == "active"


def test_no_new_privileges_would_lose_mail(machine, record):
    """Why the unit does not set NoNewPrivileges=true: measured with a drop-in."""
    machine.run("mkdir -p /run/systemd/system/uwsgi-emperor.service.d && printf "
                "'[Service]\\nNoNewPrivileges=true\\n' > /run/systemd/system/"
                "uwsgi-emperor.service.d/nnp.conf && systemctl daemon-reload "
                "&& systemctl restart uwsgi-emperor")
    try:
        results = app_results(machine)
    finally:
        machine.run("rm -r /run/systemd/system/uwsgi-emperor.service.d && systemctl daemon-reload "
                    "&& systemctl restart uwsgi-emperor")
    # postfix's postdrop (setgid postdrop) cannot write the maildrop queue: sendmail fails
    # or, as postdrop retries, hangs until the app gives up (here after 6 s).
    record("sendmail from an app under NoNewPrivileges=true", results["sendmail"])
    assert results["sendmail"] != "ok"
    assert "postdrop" in results["sendmail"] or results["sendmail"].startswith("timed out")
    assert {k: v for k, v in results.items() if k != "sendmail"} == {
        k: v for k, v in ALL_OK.items() if k != "sendmail"}
    assert app_results(machine) == ALL_OK


def test_symlink_over_the_pid_file_path_truncates_nothing(machine):
    """uWSGI writes its pid file with fopen("w"): a symlink there (planted by www-data)
    would make root truncate its target on the next start."""
    attack = machine.run(
        "setpriv --reuid=www-data --regid=www-data --init-groups -- /bin/sh -c '"
        f"for p in /run/uwsgi/emperor.pid /run/uwsgi-emperor/emperor.pid; do "
        f"ln -s {SECRET} $p.new && mv -fT $p.new $p; ln -sf {SECRET} $p; done'", check=False)
    machine.run("systemctl restart uwsgi-emperor")
    assert "is up" in machine.out("uwsgi-ensite --wait webapp")
    assert machine.out(f"stat -c '%U:%G %a' {SECRET}") == "root:root 600"
    assert machine.out(f"cat {SECRET}") == SECRET_TEXT
    assert "Permission denied" in attack.stderr
    main = machine.out("systemctl show -p MainPID --value uwsgi-emperor")
    # The pid file names the Emperor's master, the child of the unit's main process (the
    # socket keeper).
    assert machine.out("ps -o ppid= -p $(cat /run/uwsgi-emperor/emperor.pid)").strip() == main
    assert machine.out("stat -c '%U:%G %a' /run/uwsgi /run/uwsgi-emperor").splitlines() == [
        "root:www-data 1775", "root:root 755"]

"""Issue 28: apps on Debian's own Python packages, through nginx, in a clean root of each suite.

Two apps with no venv at all: a Django project from python3-django (django-admin
startproject, migrate, the admin's login page and a login with its CSRF token and an sqlite
session) and a Flask app from python3-flask (its pages rendered from templates). Beside them
an app in a `--system-site-packages` venv (Debian's Flask, its own pip-installed humanize)
and one in a plain venv (its own Flask from PyPI), both made with the suite's
/usr/bin/python3. Each ini is written by uwsgi-newapp and enabled with `uwsgi-ensite
--wait`; each app reports its sys.path and where its modules come from (/probe, JSON): an
app sees exactly what the interpreter it was built for sees (/usr/bin/python3, or its
venv's python), and nothing of the package's own venv (/opt/venvs/uwsgi-emperor: no
Jinja2, MarkupSafe or uwsgi_emperor from there). The venv is kept whichever of its names the
ini uses (virtualenv, venv, home, pyhome). Each app takes 10 s of load through nginx with
no error, and an app whose import fails (at once, or after 3 s with its socket bound) is
reported down by `uwsgi-ensite --wait`, with the traceback's last line.
"""

import json
import re
import shlex
import time

import pytest

import webstack
import uwsgi_request
from project import suite_python
from testbed import stack as testbed_stack

# The conftest's `machine` installs the package and these with apt (downloaded first,
# installed offline) and starts nginx, since /srv holds the apps written below.
DEBIAN_PACKAGES = ("python3-django", "python3-flask")
APPS = ()  # no app of tests/system/files: this module writes its own
SPEC_SECONDS = webstack.SPEC_SECONDS
LOAD_SECONDS = 10
DIST = "/usr/lib/python3/dist-packages"
PACKAGE_VENV = "/opt/venvs/uwsgi-emperor"
ADMIN_PASSWORD = "Debian12and13only"

# Where each module an app might import comes from (importlib's origin), as JSON: the
# module path and every module of PROBED, None for one that cannot be imported.
PROBE = '''\
import importlib.util
import json
import sys

PROBED = ("django", "flask", "jinja2", "markupsafe", "uwsgi_emperor", "humanize")


def origin(name):
    spec = importlib.util.find_spec(name)
    return spec.origin if spec else None


def report():
    return json.dumps({"path": sys.path, "prefix": sys.prefix,
                       "modules": {name: origin(name) for name in PROBED}})
'''

# The probe as a whole app: / answers it.
PROBE_APP = '''\
import probe


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [probe.report().encode()]
'''

# The Flask apps (/srv/NAME/app.py); every page but /probe is rendered from a template.
FLASK_APP = '''\
import os

import flask

import probe

NAME = os.path.basename(os.path.dirname(os.path.abspath(__file__)))
app = flask.Flask(__name__)


@app.route("/")
def hello():
    return flask.render_template("hello.html", name=NAME)


@app.route("/seq/<int:number>")
def seq(number):
    return flask.render_template("seq.txt", name=NAME, number=number) + "\\n"


@app.route("/probe")
def probe_view():
    return flask.Response(probe.report(), mimetype="application/json")
'''
FLASK_TEMPLATES = {
    "hello.html": "<h1>Hello from {{ name }}</h1>\n",
    "seq.txt": "{{ name }} {{ number }}\n",
}

# The Django project's own views and URLs (djsite/views.py, djsite/urls.py).
DJANGO_VIEWS = '''\
from django.http import HttpResponse

import probe


def seq(request, number):
    return HttpResponse(f"djsite {number}\\n", content_type="text/plain")


def probe_view(request):
    return HttpResponse(probe.report(), content_type="application/json")
'''
DJANGO_URLS = '''\
from django.contrib import admin
from django.urls import path

from . import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("seq/<int:number>", views.seq),
    path("probe", views.probe_view),
]
'''
DJANGO_SETTINGS = '''
# uwsgi-emperor's system test: served through nginx as djsite.test.
DEBUG = False
ALLOWED_HOSTS = ["djsite.test"]
'''

# Apps whose module cannot be imported: at once, and after 3 s (as a big framework's import
# takes time), while the vassal's socket is bound and accepts connections.
BROKEN_APPS = {
    "broken": "import no_such_module_in_debian\n",
    "slowbroken": "import time\n\ntime.sleep(3)\nimport no_such_module_in_debian\n",
}
BROKEN_LINE = "ModuleNotFoundError: No module named 'no_such_module_in_debian'"

# The venvs, made with the suite's /usr/bin/python3 in prepare's online step (PyPI there).
VENVS = {
    # Flask from Debian (dist-packages), humanize from its own venv.
    "ssvenv": ("--system-site-packages", "humanize==4.9.0\n"),
    # Everything from its own venv: the pinned Flask of the other system tests.
    "venvapp": ("", (webstack.FILES / "app-requirements.txt").read_text()),
}
LOADED_APPS = ("djsite", "flaskapp", "ssvenv", "venvapp")


def write_flask_app(root, name):
    srv = root.path / "srv" / name
    (srv / "templates").mkdir(parents=True)
    (srv / "app.py").write_text(FLASK_APP)
    (srv / "probe.py").write_text(PROBE)
    for template, text in FLASK_TEMPLATES.items():
        (srv / "templates" / template).write_text(text)


def build_venvs(online, pip_env):
    for name, (option, requirements) in VENVS.items():
        online.run(f"cat > /srv/{name}/requirements.txt", input=requirements)
        online.run(f"/usr/bin/python3 -m venv {option} /srv/{name}/venv && "
                   f"/srv/{name}/venv/bin/pip install -q --disable-pip-version-check "
                   f"--only-binary :all: -r /srv/{name}/requirements.txt", env=pip_env)


@pytest.fixture(scope="module")
def deb_inside(clean_root, deb_path):
    """The apps' files and venvs, the package and Debian's Django and Flask downloaded."""
    for name in ("flaskapp", *VENVS):
        write_flask_app(clean_root, name)
    for name, source in BROKEN_APPS.items():
        (clean_root.path / "srv" / name).mkdir(parents=True)
        (clean_root.path / "srv" / name / "broken_app.py").write_text(source)
    return testbed_stack.prepare(clean_root, deb_path, packages=DEBIAN_PACKAGES,
                                 online=build_venvs)


def request(machine, app, path, *curl_args):
    """(status, headers {lower-case name: value}, body) of PATH through nginx (Host: APP.test),
    with the cookie jar /tmp/APP.cookies."""
    machine.run("rm -f /tmp/body /tmp/headers")
    args = " ".join(map(shlex.quote, curl_args))
    status = machine.out(
        f"curl -sS --max-time 10 -H 'Host: {app}.test' -b /tmp/{app}.cookies "
        f"-c /tmp/{app}.cookies -o /tmp/body -D /tmp/headers -w '%{{http_code}}' {args} "
        f"http://127.0.0.1{path}")
    headers = {}
    for line in machine.out("cat /tmp/headers").splitlines()[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status), headers, machine.run("cat /tmp/body").stdout


def get(machine, app, path):
    """(status, body) of GET PATH through nginx."""
    return webstack.get(machine, app, path)


def go_live(machine, name, newapp_args):
    """uwsgi-newapp NAME NEWAPP_ARGS --nginx NAME.test, the server block enabled as its next
    steps say, `uwsgi-ensite --wait NAME`; then /seq/1 through nginx."""
    out = machine.out(f"uwsgi-newapp {name} {newapp_args} --nginx {name}.test")
    assert out.splitlines() == [
        f"wrote /etc/uwsgi/apps-available/{name}.ini",
        f"wrote /etc/nginx/sites-available/{name}",
        "next:",
        f"  uwsgi-ensite {name}",
        f"  ln -s ../sites-available/{name} /etc/nginx/sites-enabled/",
        "  nginx -t && systemctl reload nginx",
    ], out
    machine.run(f"ln -s ../sites-available/{name} /etc/nginx/sites-enabled/ && nginx -t -q "
                f"&& /etc/init.d/nginx reload")
    machine.run(f"uwsgi-ensite --wait {name}", timeout=60)
    webstack.wait_for(lambda: get(machine, name, "/seq/1") == (200, f"{name} 1\n"), SPEC_SECONDS)


# Each app's uwsgi-newapp options.
NEWAPP_ARGS = {
    "djsite": "--module djsite.wsgi --chdir /srv/djsite",
    "flaskapp": "--module app:app --chdir /srv/flaskapp",
    "ssvenv": "--module app:app --chdir /srv/ssvenv --virtualenv /srv/ssvenv/venv",
    "venvapp": "--module app:app --chdir /srv/venvapp --virtualenv /srv/venvapp/venv",
}


def make_django_project(machine):
    """/srv/djsite: django-admin startproject, migrated, the probe and an admin user."""
    machine.run("mkdir /srv/djsite && cd /srv/djsite && django-admin startproject djsite . "
                "&& python3 manage.py migrate --noinput -v 0")
    machine.run("cat > /srv/djsite/probe.py", input=PROBE)
    machine.run("cat > /srv/djsite/djsite/views.py", input=DJANGO_VIEWS)
    machine.run("cat > /srv/djsite/djsite/urls.py", input=DJANGO_URLS)
    machine.run("cat >> /srv/djsite/djsite/settings.py", input=DJANGO_SETTINGS)
    machine.run(f"cd /srv/djsite && DJANGO_SUPERUSER_PASSWORD={ADMIN_PASSWORD} python3 manage.py "
                "createsuperuser --noinput --username admin --email admin@example.org")
    # The app's user writes the database (sqlite: the file and its directory).
    machine.run("chown www-data:www-data /srv/djsite /srv/djsite/db.sqlite3")


def live(machine, name):
    """App NAME served through nginx: made live here unless a test before did (each test
    stands alone)."""
    if machine.run(f"test -L /etc/uwsgi/apps-enabled/{name}.ini", check=False).returncode == 0:
        return
    if name == "djsite":
        make_django_project(machine)
    go_live(machine, name, NEWAPP_ARGS[name])


def probe(machine, app):
    status, body = get(machine, app, "/probe")
    assert status == 200, body
    return json.loads(body)


def interpreter_path(machine, python):
    """sys.path of PYTHON as an admin runs it (`python -c`: '' first, for the current dir)."""
    return json.loads(machine.out(f"{python} -c 'import json, sys; print(json.dumps(sys.path))'"))


# An app's sys.path starts with its current directory (its chdir) twice: '.', which uWSGI
# inserts, and '', the directory of the argv[0] uWSGI gives Python ("uwsgi"), the entry
# `python3 -c` has first too. The rest must be the interpreter's own.
CWD = [".", ""]


def modules(**found):
    """The probe's modules: None (not importable) unless FOUND gives its package directory."""
    names = ("django", "flask", "jinja2", "markupsafe", "uwsgi_emperor", "humanize")
    return {name: f"{found[name]}/{name}/__init__.py" if name in found else None
            for name in names}


def test_debian_django_and_flask_installed_outside_any_venv(machine):
    for package in ("django", "flask", "jinja2", "markupsafe"):
        assert machine.out(f"/usr/bin/python3 -c 'import {package}; print({package}.__file__)'") \
            == f"{DIST}/{package}/__init__.py"
    # The helpers keep their own venv: its Jinja2, none of Debian's packages.
    assert machine.out(f"{PACKAGE_VENV}/bin/python3 -c 'import jinja2; print(jinja2.__file__)'"
                       ).startswith(f"{PACKAGE_VENV}/lib/")
    proc = machine.run(f"{PACKAGE_VENV}/bin/python3 -c 'import django'", check=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1] == "ModuleNotFoundError: No module named 'django'"


def test_django_from_debian_admin_login(machine):
    live(machine, "djsite")

    status, headers, page = request(machine, "djsite", "/admin/login/?next=/admin/")
    assert status == 200, page
    assert re.search(r'<form action="/admin/login/\?next=/admin/" method="post" id="login-form">',
                     page), page
    tokens = re.findall(r'<input type="hidden" name="csrfmiddlewaretoken" value="(\w+)">', page)
    assert len(tokens) == 1, page
    status, headers, page = request(
        machine, "djsite", "/admin/login/?next=/admin/",
        "--data-urlencode", f"csrfmiddlewaretoken={tokens[0]}",
        "--data-urlencode", "username=admin",
        "--data-urlencode", f"password={ADMIN_PASSWORD}",
        "--data-urlencode", "next=/admin/")
    assert (status, headers["location"]) == (302, "/admin/"), (headers, page)
    # The session is the row of Django's sqlite database the cookie names.
    cookies = [line.split("\t") for line in machine.out("cat /tmp/djsite.cookies").splitlines()
               if line.count("\t") == 6]
    sessions = [fields[6] for fields in cookies if fields[5] == "sessionid"]
    assert len(sessions) == 1, cookies
    rows = machine.out("/usr/bin/python3 -c \"import sqlite3; print(sqlite3.connect("
                       "'/srv/djsite/db.sqlite3').execute('select session_key from "
                       "django_session').fetchall())\"")
    assert rows == repr([(sessions[0],)])
    status, headers, page = request(machine, "djsite", "/admin/")
    assert status == 200, page
    assert "Site administration" in page


def test_flask_from_debian_renders_templates(machine):
    live(machine, "flaskapp")
    assert get(machine, "flaskapp", "/") == (200, "<h1>Hello from flaskapp</h1>")
    assert get(machine, "flaskapp", "/seq/42") == (200, "flaskapp 42\n")


@pytest.mark.parametrize("app", ["djsite", "flaskapp"])
def test_no_venv_app_sees_what_usr_bin_python3_sees(machine, app):
    live(machine, app)
    found = probe(machine, app)
    python = interpreter_path(machine, "/usr/bin/python3")
    assert python[0] == "" and DIST in python
    assert found == {"path": CWD + python[1:], "prefix": "/usr",
                     "modules": modules(django=DIST, flask=DIST, jinja2=DIST, markupsafe=DIST)}
    assert not [entry for entry in found["path"] if entry.startswith(PACKAGE_VENV)]


def ssvenv_expected(machine, suite):
    """What an app in /srv/ssvenv/venv (--system-site-packages) must see: its venv python's
    sys.path, Debian's Django, Flask, Jinja2 and MarkupSafe, its own humanize."""
    venv_python = interpreter_path(machine, "/srv/ssvenv/venv/bin/python")
    site = f"/srv/ssvenv/venv/lib/{suite_python(suite)}/site-packages"
    assert venv_python[0] == "" and site in venv_python and DIST in venv_python
    return {"path": CWD + venv_python[1:], "prefix": "/srv/ssvenv/venv",
            "modules": modules(django=DIST, flask=DIST, jinja2=DIST, markupsafe=DIST,
                               humanize=site)}


def test_system_site_packages_venv_sees_venv_and_dist_packages(machine, suite):
    live(machine, "ssvenv")
    assert get(machine, "ssvenv", "/") == (200, "<h1>Hello from ssvenv</h1>")
    assert probe(machine, "ssvenv") == ssvenv_expected(machine, suite)


@pytest.mark.parametrize("spelling", ["venv", "home", "pyhome"])
def test_each_spelling_of_the_venv_is_kept(machine, suite, spelling):
    """uwsgi-newapp writes `virtualenv`; its other names (one setting in uWSGI) keep the
    app's venv as well. The app answers / with its probe, asked on its socket."""
    name = f"spelling-{spelling}"
    machine.run(f"cat > /etc/uwsgi/apps-available/{name}.ini",
                input=f"[uwsgi]\nmodule = probe_app\nchdir = /srv/ssvenv\n"
                      f"{spelling} = /srv/ssvenv/venv\n")
    machine.run("cat > /srv/ssvenv/probe_app.py", input=PROBE_APP)
    machine.run(f"uwsgi-ensite --wait {name}", timeout=60)
    response = uwsgi_request.get(machine, f"/run/uwsgi/{name}.sock")
    assert response.startswith("HTTP/1.1 200 OK\r\n"), response
    assert json.loads(uwsgi_request.body(response)) == ssvenv_expected(machine, suite)
    machine.run(f"uwsgi-dissite -q {name}")


def test_plain_venv_sees_its_own_packages_only(machine, suite):
    live(machine, "venvapp")
    assert get(machine, "venvapp", "/") == (200, "<h1>Hello from venvapp</h1>")
    venv_python = interpreter_path(machine, "/srv/venvapp/venv/bin/python")
    site = f"/srv/venvapp/venv/lib/{suite_python(suite)}/site-packages"
    assert venv_python[0] == "" and site in venv_python and DIST not in venv_python
    assert probe(machine, "venvapp") == {
        "path": CWD + venv_python[1:], "prefix": "/srv/venvapp/venv",
        "modules": modules(flask=site, jinja2=site, markupsafe=site)}


@pytest.mark.parametrize("app", LOADED_APPS)
def test_load_through_nginx_without_error(machine, record, app):
    live(machine, app)
    load = webstack.Load(machine, app, connections=4, max_seconds=LOAD_SECONDS + 30)
    # The load is running (the vassal logged its 100th request; the tests before asked for
    # /seq/1 and /seq/42 only), then LOAD_SECONDS of it: a duration, no state sampled.
    webstack.wait_for_log(machine, f"/var/log/uwsgi/{app}.log", "GET /seq/100 ")
    time.sleep(LOAD_SECONDS)
    result = load.finish()
    record(f"{app} load req/s", round(result["sent"] / result["seconds"]))
    record(f"{app} load failed", result["failed"])
    assert (result["failed"], result["errors"], result["timed_out"]) == (0, [], False), result
    assert result["ok"] == result["sent"] > LOAD_SECONDS * 10
    assert result["seconds"] >= LOAD_SECONDS


@pytest.mark.parametrize("name", BROKEN_APPS)
def test_broken_app_is_reported_down_with_its_traceback(machine, name):
    machine.out(f"uwsgi-newapp {name} --module broken_app --chdir /srv/{name}")
    proc = machine.run(f"uwsgi-ensite --wait {name}", check=False, timeout=60)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert f"App {name} is up" not in output
    # The log's last lines, each as it is or behind a prefix of the command's own.
    assert [line for line in output.splitlines() if line.endswith(BROKEN_LINE)], output
    machine.run(f"uwsgi-dissite -q {name}")

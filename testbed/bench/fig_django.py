"""Figure 6: a real app from Debian's archive, Django's admin login page: requests/s, p50/p99
latency and CPU a request at the bench's connection counts, this package vs Debian's uWSGI
(uwsgi-plugin-python3).

The app is what `django-admin startproject mysite` makes with the suite's python3-django
(in both roots, no venv: ours runs it on the sys.path of /usr/bin/python3 through the vassal
defaults' `home = /usr`, Debian's plugin on the system interpreter), with the admin as
startproject enables it, `manage.py migrate` run (sqlite), and the two settings an admin
changes to serve it behind nginx: DEBUG = False and ALLOWED_HOSTS. It is made once, in our
root, and copied to Debian's, so both serve the same files (the same SECRET_KEY and
database). Each side runs it with the vassal lines of its hello app (systems.py: 2 processes
of one thread, master, a log line a request), behind the same nginx. Measured: GET
/admin/login/, anonymous and without a cookie, the login form with its CSRF token rendered
from Django's templates each time; checked first on both sides (200, the login form and a
csrfmiddlewaretoken in it).

Rounds as in figure 1 (fig_throughput), on two systems: in round R, the cell of the I-th
connection count runs ours first when R + I is even, Debian's first otherwise, back to back,
after an unmeasured 1 s run of the first; each run ends when the requests wrk left behind
are served. A cell's figure is the median over rounds, its ratio the median of the
per-round ratios.
"""

import shutil

from . import wrk
from .fig_throughput import line, summary
from .log import say

NAME = "mysite"
HOST = f"{NAME}.test"  # nginx routes NAME.test to /run/uwsgi/NAME.sock
PATH = "/admin/login/"
SRV = f"/srv/{NAME}"
SYSTEMS = ("ours", "debian")
SETTINGS = f"""
# The bench (testbed/bench/fig_django.py): what an admin changes to serve it behind nginx.
DEBUG = False
ALLOWED_HOSTS = [{HOST!r}]
"""


def order(rnd, i):
    """The systems of round RND's cell at the I-th connection count, in the order they run."""
    return SYSTEMS if (rnd + i) % 2 == 0 else SYSTEMS[::-1]


def is_login_page(status, body):
    """Whether an answer (STATUS, BODY as text) is Django admin's login form with its CSRF token."""
    return status == 200 and 'id="login-form"' in body and 'name="csrfmiddlewaretoken"' in body


def make_project(sides):
    """The project in our root, copied to Debian's; Django's version in each root."""
    ours = sides["ours"]
    ours.run(f"cd /srv && django-admin startproject {NAME}")
    with open(ours.root.path / SRV.lstrip("/") / NAME / "settings.py", "a") as f:
        f.write(SETTINGS)
    ours.run(f"cd {SRV} && /usr/bin/python3 manage.py migrate -v 0", timeout=300)
    shutil.copytree(ours.root.path / SRV.lstrip("/"), sides["debian"].root.path / SRV.lstrip("/"),
                    symlinks=True)
    versions = {}
    for side in sides.values():
        side.run(f"chown -R www-data:www-data {SRV}")
        versions[side.name] = side.out("/usr/bin/python3 -c 'import django; print(django.get_version())'")
    return versions


def serve(side, timeout=60):
    """Enable the app on SIDE and wait until it answers 200 at PATH; the login page's size
    in bytes, after checking that it is the login form."""
    side.app_ini(NAME, chdir=SRV, module=f"{NAME}.wsgi")
    side.run(side.enable_cmd([NAME]))
    curl = f"curl -s -H 'Host: {HOST}' http://127.0.0.1{PATH}"
    up = side.run(f"for i in $(seq {timeout * 10}); do [ \"$({curl} -o /dev/null -w '%{{http_code}}')\" = 200 ]"
                  " && exit 0; sleep 0.1; done; exit 1", timeout=timeout + 30, check=False)
    page = side.root.path / "srv/bench/login.html"
    status = side.out(f"{curl} -o /srv/bench/login.html -w '%{{http_code}}'", check=False)
    body = page.read_text(errors="replace") if page.exists() else ""
    if up.returncode or not is_login_page(int(status or 0), body):
        log = side.out(f"tail -n 20 /var/log/uwsgi/{NAME}.log", check=False)
        raise RuntimeError(f"{side.name}: GET {PATH} of {HOST} answers {status}, not the login "
                           f"page:\n{body[:500]}\nthe app's log:\n{log}")
    return len(page.read_bytes())


def run(sides, scale):
    versions = make_project(sides)
    say(f"figure 6: Django {versions} on both sides")
    page_bytes = {side.name: serve(side) for side in sides.values()}
    say(f"figure 6: both serve the admin login page ({page_bytes} bytes); warming up")

    def one(system, conns, seconds):
        r = wrk.run(sides[system], HOST, conns, seconds, path=PATH)
        # The requests wrk leaves behind (up to CONNS - 1: nginx drops them, uWSGI still
        # renders each one it accepts, 4-6 ms of CPU) would share the CPU with the next run,
        # and with the next run of the same app fill the listen queue (100) so that nginx
        # answers 502: 65 of 526 requests of one run at 64 connections, right after the
        # unmeasured one. One more request waits behind them all (the queue is FIFO).
        sides[system].run(f"curl -s -o /dev/null -H 'Host: {HOST}' http://127.0.0.1{PATH}", timeout=60)
        return r

    for system in SYSTEMS:
        one(system, 4, 2)
    raw, first = {}, {}  # (conns, system) -> [per-round result]; conns -> [who ran first]
    for rnd in range(scale.rounds):
        for i, conns in enumerate(scale.connections):
            cell = order(rnd, i)
            first.setdefault(str(conns), []).append(cell[0])
            one(cell[0], conns, 1)  # unmeasured, as in figure 1
            for system in cell:
                r = one(system, conns, scale.seconds)
                raw.setdefault((conns, system), []).append(r)
                say(f"figure 6 round {rnd + 1}/{scale.rounds}: c={conns:<3} {system:6} {line(r)}")
    for side in sides.values():
        side.down([NAME])
    cells = {}
    for conns in scale.connections:
        ours = raw[(conns, "ours")]
        cells[str(conns)] = {system: summary(raw[(conns, system)], ours) for system in SYSTEMS}
    return {"django": versions, "path": PATH, "page_bytes": page_bytes, "first": first,
            "drained": True, "cells": cells}

"""BENCHMARKS.md from a results dict: machine, versions, how to reproduce, one table per figure
group, the plots, an automatic list of where this package loses, and a link to the findings written by
hand in bench/findings.md (kept across runs; it names the run it was written for)."""

import os
import statistics

from .. import suites

from . import fig_restart, fig_status, fig_throughput, systems
from .config import REPO

SYSTEMS = tuple(fig_throughput.SYSTEMS)
NAMES = fig_throughput.LABELS
FINDINGS = REPO / "bench" / "findings.md"


def _f(v, digits=1):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _ratio(v):
    return "" if v is None else f" ({v:.2f}x)"


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _rel(path, md):
    return os.path.relpath(path, md.parent)


CELL_HEADER = ["conns", "system", "req/s", "p50 ms", "p99 ms", "req/s vs ours", "per round",
               "server CPU us/req", "nginx CPU us/req", "errors"]


def cell_rows(cells, systems):
    """Rows of CELL_HEADER for CELLS ({conns: {system: fig_throughput.summary()}}), SYSTEMS
    in that order, those a cell has."""
    rows = []
    for conns in sorted(cells, key=int):
        for system in systems:
            if system not in cells[conns]:
                continue
            r = cells[conns][system]
            ratio = "1.00x" if system == "ours" else _f(r["rps_ratio_to_ours"], 2) + "x"
            per_round = ", ".join(_f(x, 2) for x in r["rps_ratios_per_round"]) if system != "ours" else ""
            rows.append([conns, NAMES[system], _f(r["rps"]), _f(r["p50_ms"], 2), _f(r["p99_ms"], 2),
                         ratio, per_round, _f(r.get("server_cpu_us")), _f(r.get("nginx_cpu_us")),
                         r["errors"]])
    return rows


def throughput_tables(results):
    out = []
    for app, cells in results["throughput"].items():
        systems = [s for s in SYSTEMS if s != "ceiling" or app == "hello"]
        title = ("hello app" if app == "hello" else
                 "slow app (50 ms per request; the ceiling is in the hello table)")
        out.append(f"#### {title}\n\n" + _table(CELL_HEADER, cell_rows(cells, systems)))
    return "\n\n".join(out)


def _quartiles(values):
    """The middle half of VALUES as "low-high" (the per-round spread behind a median)."""
    if len(values) < 2:
        return ""
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return f" ({q1:.2f}-{q3:.2f})"


def ours_over(ours, theirs, key="rps_ratio_to_ours", spread=None):
    """Ours over THEIRS (fig_throughput.summary() of each) as "1.04x", from the median of
    the per-round ratios KEY; with SPREAD, the figure of the rounds (rps, p99_ms, ...), the
    middle half of the rounds' ratios ours/theirs in brackets after it."""
    r = theirs.get(key)
    if not r:
        return "n/a"
    rounds = [(o[spread] / t[spread]) for o, t in zip(ours["rounds"], theirs["rounds"])
              if spread and o.get(spread) and t.get(spread)]
    return f"{1 / r:.2f}x" + _quartiles(rounds)


def headline(results):
    """Where this package stands on the hello app (every request logged): its requests/s and
    p99 against Debian's uWSGI, gunicorn and the nginx ceiling, as ours/theirs (the median of
    the per-round ratios: >1 means ours serves more, or waits longer for its p99); beside the
    ratios to Debian's, the middle half of the per-round ratios."""
    cells = results.get("throughput", {}).get("hello")
    if not cells:
        return ""
    rows = []
    for conns in sorted(cells, key=int):
        c = cells[conns]
        ours = c["ours"]
        rows.append([conns, _f(ours["rps"]), ours_over(ours, c["debian"], spread="rps"),
                     ours_over(ours, c["debian"], "p99_ratio_to_ours", spread="p99_ms"),
                     ours_over(ours, c["debian"], "server_cpu_ratio_to_ours", spread="server_cpu_us"),
                     ours_over(ours, c["gunicorn"]), ours_over(ours, c["ceiling"])])
    return _table(["conns", "our req/s", "req/s vs Debian's uWSGI", "p99 vs Debian's",
                   "server CPU a request vs Debian's", "req/s vs gunicorn", "req/s vs nginx ceiling"], rows)


def suite_summary(results):
    """A section for another suite's run: its headline and figure 1 (BENCHMARKS.md shows every
    suite measured; the whole report of that suite is beside its results.json)."""
    suite, v = results.get("suite", "?"), results.get("versions", {})
    m = results["machine"]
    return (f"## Debian {suites.suite(suite).debian} ({suite}): this package {v.get('ours', '?')} vs "
            f"Debian's uWSGI {v.get('debian', '?')}\n\n"
            f"Run {results['date']}, commit {results['commit']}, load average before the run "
            f"{m['loadavg_before']}; Python {v.get('python', '?')}, nginx {v.get('nginx', '?')}. "
            f"Whole report: [bench/{suite}/BENCHMARKS.md](bench/{suite}/BENCHMARKS.md).\n\n"
            + headline(results) + "\n\n" + throughput_tables(results))


def _cell_losses(where, systems, others):
    """Sentences for one cell ({system: fig_throughput.summary()}) where one of OTHERS serves
    more than 5 % more requests/s than ours, or has a p99 more than 5 % shorter (above 1 ms)."""
    found = []
    ours = systems["ours"]
    for other in others:
        r = systems[other]
        if (r["rps_ratio_to_ours"] or 0) > 1.05:
            found.append(f"{where}: {NAMES[other]} serves "
                         f"{r['rps_ratio_to_ours']:.2f}x our requests/s ({_f(r['rps'])} vs {_f(ours['rps'])}).")
        if ours["p99_ms"] and r["p99_ms"] and r["p99_ms"] < ours["p99_ms"] / 1.05 and ours["p99_ms"] > 1:
            found.append(f"{where}: {NAMES[other]}'s p99 is "
                         f"{_f(r['p99_ms'], 2)} ms, ours {_f(ours['p99_ms'], 2)} ms.")
    return found


def django_section(results, png):
    """Figure 6 (fig_django): the headline of ours over Debian's uWSGI, then every figure."""
    d = results["django"]
    cells = d["cells"]
    rows = []
    for conns in sorted(cells, key=int):
        o, t = cells[conns]["ours"], cells[conns]["debian"]
        rows.append([conns, _f(o["rps"]), _f(t["rps"]), ours_over(o, t, spread="rps"),
                     _f(o["p99_ms"], 2), _f(t["p99_ms"], 2),
                     ours_over(o, t, "p99_ratio_to_ours", spread="p99_ms"),
                     ours_over(o, t, "server_cpu_ratio_to_ours", spread="server_cpu_us")])
    rounds = len(next(iter(cells.values()))["ours"]["rounds"])
    v = d["django"]
    versions = v["ours"] if v["ours"] == v["debian"] else ", ".join(f"{NAMES[k]}: {x}" for k, x in v.items())
    drained = (", each run followed by one request that waits until the requests wrk left behind"
               " are served" if d.get("drained") else "")
    text = f"""## 6. A Django app from Debian's archive: the admin login page

`django-admin startproject mysite` with the suite's python3-django (Django {versions}),
no venv, the admin enabled as startproject makes it, `manage.py migrate` (sqlite), and
`DEBUG = False`, `ALLOWED_HOSTS = ["mysite.test"]`; made once and copied into both roots.
This package runs it on the system Python's libraries through its vassal defaults
(`home = /usr`), Debian's uWSGI through `plugins = python3`; each with the vassal lines of
the hello app (2 processes, one thread each). wrk: `GET {d['path']}` through the same nginx,
anonymous, no cookie: the login form with its CSRF token ({d['page_bytes']['ours']} bytes),
checked on both sides before the load. {rounds} rounds of {results['settings']['seconds']} s
a run, ours and Debian's back to back, each first in turn{drained}.

Ours over Debian's, the median of the per-round ratios, in brackets the middle half of them
(for p99 and CPU a request, below 1 means ours is shorter, or uses less):

""" + _table(["conns", "our req/s", "Debian's req/s", "req/s ours vs Debian's", "our p99 ms",
              "Debian's p99 ms", "p99 ours vs Debian's", "server CPU a request ours vs Debian's"], rows)
    text += "\n\n" + _table(CELL_HEADER, cell_rows(cells, ("ours", "debian")))
    if "django.png" in png:
        text += f"\n\n![Django admin login page]({png['django.png']})"
    return text


def vassal_line(results):
    """What this package's hello app of the run ran with (systems.vassal_options), for the
    setup; a run that did not record it says so."""
    v = results.get("ours_vassal")
    if not v:
        return (f"  This run (commit {results.get('commit', '?')}) did not record what its hello app "
                "ran with: runs record it since issue 25 gave every app a stats server (`stats = "
                "/run/uwsgi/%N.stats`); the defaults of an earlier run are in its commit's "
                "etc/uwsgi/vassal-defaults.ini, and the Findings below say what the hello app "
                "gets since then and what figure 1 measured with it.")
    o = v["options"]
    shown = ", ".join(f"`{k} = {o[k]}`" for k in systems.VASSAL_OPTIONS if o.get(k) is not None)
    unset = ", ".join(f"`{k}`" for k in systems.VASSAL_OPTIONS if o.get(k) is None)
    answered = "answered" if v["stats_server_answers"] else "did not answer"
    return (f"  The hello app as uWSGI reads its ini with the installed vassal defaults: {shown}; "
            f"not set: {unset or 'none'}. Its stats server {answered} `uwsgi-query --status` "
            f"(state: {v['state']}) before the figures.")


def own_run(group, run):
    """The sentence that names the run of its own (BENCH_ONLY=GROUP) a group merged into this
    results.json comes from (RUN: its date, commit, version, load); "" for none."""
    if not run:
        return ""
    return (f" Measured in a run of its own (`BENCH_ONLY={group}`): {run['date']}, commit "
            f"{run['commit']}, {run['version']}, load average before it {run['loadavg_before']}.")


def status_section(results):
    """Figure 7 (fig_status): the time of each uwsgi-query form for N enabled apps; a group
    measured in a run of its own (merged into this results.json) names that run."""
    st = dict(results["status"])
    run = st.pop("run", None)
    trials = len(next(iter(st.values()))["status"]["trials"])
    forms = list(fig_status.FORMS)
    rows = []
    for n in sorted(st, key=int):
        cell = st[n]
        rows.append([n] + [f"{_f(cell[f]['median_s'], 3)} ({_f(cell[f]['min_s'], 3)}-{_f(cell[f]['max_s'], 3)})"
                           for f in forms])
    where = own_run("status", run)
    return (f"""## 7. `uwsgi-query --status` for N apps

The time of each form, as root, for N enabled hello apps (`processes = 1`, each with the stats
server of the vassal defaults, all running and their stats servers answering), and nothing
else in apps-available: median of {trials} runs (min-max), the whole command's wall time with
the interpreter's start. `--list` reads only the confdir (no Emperor, no socket): the floor.
This package only: Debian's uwsgi has no Emperor stats to show (n/a).{where}

""" + _table(["N"] + [f"`{fig_status.FORMS[f]}` s" for f in forms], rows))


def restart_section(results):
    """Figure 8 (fig_restart): one restart of each Emperor under load, requests ok and failed
    and the slowest request; a group merged from a run of its own names that run."""
    r = dict(results["restart"])
    run = r.pop("run", None)
    rows = []
    for system in fig_restart.RESTART:
        c = r[system]
        window = (f"{_f(c['first_failure_s'], 2)}-{_f(c['last_failure_s'], 2)}"
                  if c["failed"] else "none")
        rows.append([NAMES[system], c["ok"], c["failed"], _f(c["slowest_s"], 3), _f(c["restart_s"], 2),
                     _f(c["restart_started_s"], 2), window])
    return (f"""## 8. A restart of the Emperor under load

The hello app through nginx, {r['connections']} keep-alive connections of the in-root client
(figure 3's), {_f(r['before_s'])} s of load, then one restart of the Emperor, and the load goes on
until {_f(r['after_s'])} s after the restart command returned; the Emperor's master is a new process
afterwards. This package: `{fig_restart.RESTART['ours']}` (the bench runs it under its init
script); its socket keeper holds every app's listening socket across the restart. Debian's
uWSGI: what `systemctl restart uwsgi-emperor` does with its unit (the bench runs its emperor
as that unit does): SIGQUIT to the emperor, which stops its vassals (their sockets go with
them), then its ExecStart again. Not Debian's init script: its emperor writes its pidfile
world-writable, so the script's stop refuses it and its `restart` restarts nothing (exit 0).
A request fails when its answer is not 200 (nginx's 502) or none comes (30 s); the slowest
request counts failed ones too. Times in seconds since the load's start.{own_run("restart", run)}

""" + _table(["system", "requests ok", "requests failed", "slowest request s", "restart took s",
              "restart at s", "failures from-to s"], rows))


def losses(results):
    """Sentences naming every figure where ours is worse than Debian's or gunicorn (>5 %)."""
    found = []
    for app, cells in results.get("throughput", {}).items():
        for conns, systems in cells.items():
            found += _cell_losses(f"figure 1, {app} app, c={conns}", systems, ("debian", "gunicorn"))
    for conns, systems in results.get("django", {}).get("cells", {}).items():
        found += _cell_losses(f"figure 6, Django admin login, c={conns}", systems, ("debian",))
    e = results.get("ensite", {})
    if e and e["debian"]["median_s"] < e["ours"]["median_s"] / 1.05:
        found.append("figure 2: Debian's emperor answers sooner after enabling an app.")
    for n, cell in results.get("scale", {}).items():
        o, d = cell["ours"], cell["debian"]
        for key, what in (("all_up_s", "time until all answer"), ("pss_mb", "total PSS"),
                          ("idle_cpu_emperor_s", "idle emperor CPU"), ("idle_cpu_all_s", "idle CPU of all uWSGI processes")):
            if d[key] < o[key] / 1.05 and o[key] - d[key] > 0.05:
                found.append(f"figure 4, N={n}: {what}: ours {_f(o[key], 2)}, Debian's {_f(d[key], 2)}.")
    r = results.get("restart")
    if r:
        o, d = r["ours"], r["debian"]
        if o["failed"] > d["failed"]:
            found.append(f"figure 8: {o['failed']} requests failed across our restart, "
                         f"{d['failed']} across Debian's.")
        if o["slowest_s"] > d["slowest_s"] * 1.05 and o["slowest_s"] - d["slowest_s"] > 0.05:
            found.append(f"figure 8: the slowest request across the restart: ours "
                         f"{_f(o['slowest_s'], 3)} s, Debian's {_f(d['slowest_s'], 3)} s.")
    p = results.get("package")
    if p:
        s = p["sizes"]
        if s["ours"]["deb_kb"] > s["debian"]["deb_kb"]:
            found.append(f"figure 5: our .deb is {s['ours']['deb_kb']} KiB, Debian's three packages "
                         f"{s['debian']['deb_kb']} KiB.")
        if s["ours"]["installed_kb"] > s["debian"]["installed_kb"]:
            found.append(f"figure 5: installed size {s['ours']['installed_kb']} KiB vs Debian's "
                         f"{s['debian']['installed_kb']} KiB.")
        if p["apt_install_s"]["ours"] > p["apt_install_s"]["debian"] * 1.05:
            found.append(f"figure 5: apt install {p['apt_install_s']['ours']} s vs Debian's "
                         f"{p['apt_install_s']['debian']} s.")
    return found


def write(results, md, out, pngs, others=()):
    """The report of RESULTS into MD; OTHERS: other suites' results, summarised after it."""
    m, v = results["machine"], results.get("versions", {})
    suite = results.get("suite", "bookworm")  # runs before suites were measured: bookworm
    png = {p.name: _rel(p, md) for p in pngs}
    json_rel = _rel(out / "results.json", md)
    parts = [f"""# Benchmarks

This package (uWSGI {v.get('ours', '?')}) side by side with {suite}'s own uWSGI
({v.get('debian', '?')}), gunicorn ({v.get('gunicorn', '?')}, Debian's python3-gunicorn,
sync workers) and nginx answering by itself (the ceiling of the front end), all measured in
the same run on the same machine. Generated by `make bench` (scripts/bench,
testbed/bench/); raw figures in [{json_rel}]({json_rel}). Benchmarks, not tests: nothing
here passes or fails.

## Machine and run

- Run: {results['date']}, commit {results['commit']}, scale `{results['bench_scale']}`, {results.get('duration_s', '?')} s in all.
- CPU: {m['cpu']}, {m['cores']} cores; {m['memory_gib']} GiB; kernel {m['kernel']}; Debian {m['debian']}.
- Load average (1/5/15 min) before the run: {m['loadavg_before']}; after: {m.get('loadavg_after', '?')}.
  Other work on the machine during the run shows up as noise; the alternation below cancels
  slow drift, not bursts.
- Versions: nginx {v.get('nginx', '?')}, wrk {v.get('wrk', '?')}, Python {v.get('python', '?')}.

## Setup

Two clean Debian {suite} roots (mmdebstrap, testbed/roots.py), each in its own pid, mount and
network namespace (only `lo`: all load stays on loopback), with nginx, wrk and gunicorn from
Debian's archive:

- **this package**: `apt-get install ./uwsgi-emperor_*.deb`, apps enabled with `uwsgi-ensite`,
  package defaults (2 processes, unix socket /run/uwsgi/NAME.sock, request log to a file, ...).
{vassal_line(results)}
- **Debian's uWSGI** ({v.get('debian', '?')}): `apt-get install uwsgi-emperor uwsgi-plugin-python3`; its emperor.ini as
  shipped, started the way its systemd unit starts it; each vassal: `plugins = python3`,
  `master`, `processes = 2`, `socket = /run/uwsgi/%n.sock`, `chmod-socket = 660`, `vacuum`,
  `logto`.
- **gunicorn**: `--workers 2 --worker-class sync`, unix socket, access log to a file (uWSGI
  logs every request too), behind the same nginx with `proxy_pass`.
- **ceiling**: nginx `return 200` (same body), no upstream.

Same apps everywhere (testbed/bench/files/benchapp.py, plain WSGI): `hello` and `slow`
(sleeps 50 ms). Same nginx server blocks (files/nginx-bench.conf), listening with
`reuseport` (a socket for each nginx worker: on one shared socket the split of wrk's
connections between the two workers, not the app server, decided the p99 at 64
connections). wrk: 1 thread, N
connections, {results['settings']['seconds']} s a run; {results['settings']['rounds']} rounds on the hello app ({results['settings'].get('slow_rounds', results['settings']['rounds'])} on the slow one), the order of
the systems rotated each round, this package and Debian's uWSGI always back to back, each first
in turn; figures are medians over rounds, ratios the median of per-round ratios to ours.
CPU a request: the CPU time (user + system, from /proc in the root) of the app server's
processes (every uwsgi or gunicorn process) and of nginx during a run, over its requests. With
the 2 cores saturated, requests/s follow the CPU a request of everything on the machine, and
the other work of a shared machine moves requests/s by several per cent from one run to the
next; that work is not counted in the CPU of the measured processes (it still slows them
through the shared caches, less).

Reproduce: `make bench SUITE={suite}` (as root, on Debian 12 or 13; installs what it needs from the archive;
about 30 minutes). `BENCH_SCALE=tiny scripts/bench` is the quick smoke run.
"""]
    if "throughput" in results:
        # First thing after the introduction.
        intro, rest = parts[0].split("## Machine and run", 1)
        parts[0] = (intro + "## Where this package stands (hello app, every request logged)\n\n"
                    "Ours over theirs, the median of per-round ratios, in brackets the middle half "
                    "of the rounds' ratios (section 1 has every figure; for CPU a request, below 1 "
                    "means ours uses less):\n\n"
                    + headline(results) + "\n\n## Machine and run" + rest)
        parts.append("## 1. Requests/s and latency\n\n" + throughput_tables(results))
        parts.append(f"![requests/s]({png['throughput.png']})\n\n![p99 latency]({png['latency-p99.png']})")
    if "ensite" in results:
        e = results["ensite"]
        rows = [[NAMES["ours"] + " (emperor-freq 1, the default)", _f(e["ours"]["median_s"], 3), _f(e["ours"]["min_s"], 3), _f(e["ours"]["max_s"], 3)],
                [NAMES["ours"] + " with Debian's scan (emperor-freq 3)", _f(e["ours_freq3"]["median_s"], 3), _f(e["ours_freq3"]["min_s"], 3), _f(e["ours_freq3"]["max_s"], 3)],
                [NAMES["debian"] + " (scan every 3 s)", _f(e["debian"]["median_s"], 3), _f(e["debian"]["min_s"], 3), _f(e["debian"]["max_s"], 3)]]
        n = len(e["ours"]["trials"])
        parts.append(f"## 2. From enabling an app to its first 200 through nginx\n\nMedian of {n} trials, "
                     "each started at a random point of the emperor's scan cycle. gunicorn and the "
                     "ceiling: n/a (no emperor).\n\n" + _table(["system", "median s", "min s", "max s"], rows))
    if "zerg" in results:
        z = results["zerg"]
        rows = [["without zergs (1 process)", _f(z["without"]["rps"]), _f(z["without"]["p50_ms"]), _f(z["without"]["p99_ms"]), z["without"]["failed"]],
                ["with zergs, whole burst", _f(z["with"]["rps"]), _f(z["with"]["p50_ms"]), _f(z["with"]["p99_ms"]), z["with"]["failed"]]]
        if z.get("with_steady"):
            s = z["with_steady"]
            rows.append(["with zergs, after the first zerg + 2 s", _f(s["rps"]), _f(s["p50_ms"]), _f(s["p99_ms"]), s["failed"]])
        parts.append(f"""## 3. Broodlord / zergs

The slow app, 1 process, made by `uwsgi-newapp` with and without `--zerg`, Emperor with
`--emperor-broodlord 8`; a burst of {z['connections']} connections for {z['load_seconds']} s from a Python client in the
root (it keeps every request's time, for the timeline). `idle` of the zergs: {z['zerg_idle_s']} s.
This package only: Debian's package and gunicorn have no such arrangement (n/a).

- First zerg after {_f(z['first_zerg_s'], 2)} s; at most {z['peak_zergs']} zerg instances.
- Back to the app alone {_f(z['shrink_s'], 1)} s after the burst ended.
- Requests/s with zergs vs without: {_f(z['rps_ratio'], 2)}x over the whole burst.

""" + _table(["", "req/s", "p50 ms", "p99 ms", "failed"], rows) + f"\n\n![zerg timeline]({png['zerg-timeline.png']})")
    if "scale" in results:
        rows = []
        for n in sorted(results["scale"], key=int):
            for system in ("ours", "debian"):
                r = results["scale"][n][system]
                rows.append([n, NAMES[system], _f(r["all_up_s"], 2), r["processes"], _f(r["rss_mb"]), _f(r["pss_mb"]),
                             _f(r["idle_cpu_emperor_s"], 2), _f(r["idle_cpu_all_s"], 2)])
        idle = next(iter(results["scale"].values()))["ours"]["idle_seconds"]
        parts.append(f"""## 4. Scale: the emperor and N vassals (hello app)

Enable N apps at once, time until every one answers through nginx; then the uWSGI processes'
total RSS and PSS (PSS counts shared pages once), and CPU seconds used while idle for {idle} s by
the emperor alone and by all uWSGI processes. gunicorn: n/a (no emperor).

""" + _table(["N", "system", "all answer s", "processes", "RSS MB", "PSS MB", "emperor CPU s", "all CPU s"], rows)
                     + f"\n\n![scale]({png['scale.png']})")
    if "package" in results:
        p = results["package"]
        s = p["sizes"]
        deb_pkgs = ", ".join(f"{k} {v['deb_kb']} KiB / {v['installed_kb']} KiB" for k, v in s["debian"]["packages"].items())
        rows = [[".deb size (KiB)", s["ours"]["deb_kb"], s["debian"]["deb_kb"]],
                ["Installed-Size (KiB)", s["ours"]["installed_kb"], s["debian"]["installed_kb"]],
                ["`apt-get install` in a fresh root (s, .debs already downloaded)", p["apt_install_s"]["ours"], p["apt_install_s"]["debian"]],
                ["enable an app: `uwsgi-ensite -q` / Debian's `ln -s` (median s)", _f(p["ensite_q"]["ours_median_s"], 3), _f(p["ensite_q"]["debian_ln_s_median_s"], 3)],
                ["`make deb`, fresh clone of HEAD (s)", _f(p["make_deb_cold_s"]), "n/a"],
                ["`make deb` again, nothing changed (s)", _f(p["make_deb_nothing_changed_s"], 2), "n/a"]]
        parts.append("## 5. The package\n\n" + _table(["", NAMES["ours"], "Debian (uwsgi-core + uwsgi-plugin-python3 + uwsgi-emperor)"], rows)
                     + f"\n\nDebian's packages: {deb_pkgs}.")
    if "django" in results:
        parts.append(django_section(results, png))
    if "status" in results:
        parts.append(status_section(results))
    if "restart" in results:
        parts.append(restart_section(results))
    for other in others:
        parts.append(suite_summary(other))
    lost = losses(results)
    parts.append("## Where this package loses\n\n" + ("\n".join(f"- {x}" for x in lost) if lost else
                                                       "Nowhere by more than 5 % in this run."))
    if FINDINGS.exists() and results["bench_scale"] == "full":
        # Linked, not copied: the findings are dated notes kept across runs, edited by hand.
        link = _rel(FINDINGS, md)
        parts.append(f"## Findings\n\nWhat these figures mean, and how each cause was found, in "
                     f"dated steps: [{link}]({link}).")
    changes = results.get("changes_vs_previous") or []
    if changes:
        rows = [[label, before, value, f"{pct:+.1f}%", verdict] for label, before, value, pct, verdict in changes if verdict]
        parts.append("## Change vs the previous run\n\nFigures that moved by 5 % or more:\n\n" +
                     (_table(["figure", "before", "now", "change", ""], rows) if rows else "none."))
    md.write_text("\n\n".join(parts).rstrip() + "\n")

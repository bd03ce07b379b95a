"""The change of the headline figures against the previous results JSON."""

from .log import say


def headline(results):
    """{label: (value, higher_is_better)} of the figures worth comparing run to run."""
    out = {}
    for app, cells in results.get("throughput", {}).items():
        for conns, systems in cells.items():
            for system, r in systems.items():
                out[f"fig1 {app} c={conns} {system} req/s"] = (r["rps"], True)
                out[f"fig1 {app} c={conns} {system} p99 ms"] = (r["p99_ms"], False)
    for conns, systems in results.get("django", {}).get("cells", {}).items():
        for system, r in systems.items():
            out[f"fig6 django c={conns} {system} req/s"] = (r["rps"], True)
            out[f"fig6 django c={conns} {system} p99 ms"] = (r["p99_ms"], False)
    for key, r in results.get("ensite", {}).items():
        out[f"fig2 {key} ensite->200 s"] = (r["median_s"], False)
    z = results.get("zerg", {})
    for key in ("first_zerg_s", "shrink_s", "rps_ratio"):
        if key in z:
            out[f"fig3 {key}"] = (z[key], key == "rps_ratio")
    for n, cell in results.get("scale", {}).items():
        for system, r in cell.items():
            out[f"fig4 N={n} {system} all up s"] = (r["all_up_s"], False)
            out[f"fig4 N={n} {system} PSS MB"] = (r["pss_mb"], False)
            out[f"fig4 N={n} {system} idle emperor CPU s"] = (r["idle_cpu_emperor_s"], False)
    for n, cell in results.get("status", {}).items():
        if n == "run":  # the run of its own a merged group names
            continue
        for form in ("status", "json", "check", "metrics"):
            if form in cell:
                out[f"fig7 N={n} uwsgi-query {form} s"] = (cell[form]["median_s"], False)
    for system in ("ours", "debian"):
        r = results.get("restart", {}).get(system)
        if r:
            out[f"fig8 restart {system} failed"] = (r["failed"], False)
            out[f"fig8 restart {system} slowest s"] = (r["slowest_s"], False)
    p = results.get("package", {})
    if p:
        out["fig5 .deb KiB"] = (p["sizes"]["ours"]["deb_kb"], False)
        out["fig5 make deb cold s"] = (p.get("make_deb_cold_s"), False)
        out["fig5 apt install s"] = (p["apt_install_s"]["ours"], False)
        out["fig5 uwsgi-ensite -q s"] = (p["ensite_q"]["ours_median_s"], False)
    return out


def changes(previous, current):
    """[(label, old, new, percent change, 'better'/'worse'/'')] for figures in both runs."""
    old, new = headline(previous), headline(current)
    rows = []
    for label, (value, higher_better) in new.items():
        before = old.get(label, (None,))[0]
        if before in (None, 0) or value is None:
            continue
        pct = (value - before) / before * 100
        verdict = "" if abs(pct) < 5 else ("better" if (pct > 0) == higher_better else "worse")
        rows.append((label, before, value, round(pct, 1), verdict))
    return rows


def print_changes(previous, current):
    rows = changes(previous, current)
    if not rows:
        say("no previous results to compare with")
        return rows
    say(f"change vs the previous run ({previous.get('date', '?')}):")
    for label, before, value, pct, verdict in rows:
        say(f"  {label:45} {before:>10} -> {value:<10} {pct:+6.1f}% {verdict}")
    return rows

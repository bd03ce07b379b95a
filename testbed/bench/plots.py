"""PNG plots of a results dict, rendered with matplotlib (Agg, no display)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .fig_throughput import VARIANTS  # noqa: E402

LABELS = {"ours": "this package (uWSGI 2.0.31)", "debian": "Debian's uWSGI",
          "gunicorn": "gunicorn (sync)", "ceiling": "nginx return 200 (ceiling)",
          **{name: v.label for name, v in VARIANTS.items()}}
# The variants: this package's marker, dotted then dash-dotted.
STYLE = {"ours": "o-", "debian": "s-", "gunicorn": "^-", "ceiling": "k--",
         **{name: v.style for name, v in VARIANTS.items()}}


def _label(ax, xlabel, ylabel):
    """Axis labels, the grid and the legend of one panel."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _per_connections(results, key, fname, ylabel, logy, out):
    t = results["throughput"]
    fig, axes = plt.subplots(1, len(t), figsize=(6 * len(t), 4.2))
    for ax, (app, cells) in zip(axes, t.items()):
        conns = sorted(cells, key=int)
        for system in LABELS:
            if system not in cells[conns[0]] or (system == "ceiling" and app != "hello"):
                continue
            ax.plot([int(c) for c in conns], [cells[c][system][key] for c in conns],
                    STYLE[system], label=LABELS[system])
        ax.set_xscale("log", base=2)
        ax.set_xticks([int(c) for c in conns], conns)
        if logy:
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=0)
        ax.set_title(f"{app} app" + (" (50 ms per request)" if app == "slow" else ""))
        _label(ax, "concurrent connections (wrk)", ylabel)
    return _save(fig, out / fname)


def _zerg(results, out):
    z = results["zerg"]
    tl, base = z["timeline"], z["timeline_without"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    top.plot([r[0] for r in tl], [r[1] for r in tl], "o-", ms=3, label="req/s, --zerg app")
    top.plot([r[0] for r in base], [r[1] for r in base], "--", color="grey", label="req/s, same app without zergs")
    top.axvline(z["load_seconds"], color="red", lw=0.8, ls=":", label="load stops")
    top.set_ylabel("requests/s (0.5 s buckets)")
    right = top.twinx()
    xs = [r[0] for r in tl]
    ys = [r[4] if r[4] is not None else float("nan") for r in tl]
    if z.get("shrink_s") is not None:  # the pool is back to the app alone: draw the drop
        xs.append(round(z["load_seconds"] + z["shrink_s"], 2))
        ys.append(0)
    right.step(xs, ys, where="post", color="green", label="zerg instances (most in each bucket)")
    right.set_ylim(-0.3, (z["peak_zergs"] or 1) + 0.7)
    right.set_ylabel("zerg instances", color="green")
    lines = top.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    top.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="center right")
    top.set_title(f"Broodlord: slow app, 1 process, {z['connections']} connections for {z['load_seconds']} s, "
                  f"idle = {z['zerg_idle_s']} s")
    for col, label, style in ((2, "p50", "o-"), (3, "p99", "s-")):
        bottom.plot([r[0] for r in tl], [r[col] for r in tl], style, ms=3, label=f"{label} with zergs")
    bottom.plot([r[0] for r in base], [r[3] for r in base], "--", color="grey", label="p99 without zergs")
    bottom.set_yscale("log")
    _label(bottom, "seconds since the burst started", "latency (ms)")
    return _save(fig, out / "zerg-timeline.png")


def _scale(results, out):
    s = results["scale"]
    ns = sorted(s, key=int)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, key, label in ((axes[0], "all_up_s", "seconds until all N answer"),
                           (axes[1], "pss_mb", "total PSS of uWSGI processes (MB)"),
                           (axes[2], "idle_cpu_emperor_s", "emperor CPU seconds while idle")):
        for system in ("ours", "debian"):
            ax.plot([int(n) for n in ns], [s[n][system][key] for n in ns], STYLE[system], label=LABELS[system])
        ax.set_xscale("log")
        _label(ax, "vassals (N)", label)
    return _save(fig, out / "scale.png")


def _django(results, out):
    cells = results["django"]["cells"]
    conns = sorted(cells, key=int)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for ax, key, label in ((axes[0], "rps", "requests/s"), (axes[1], "p99_ms", "p99 latency (ms)")):
        for system in ("ours", "debian"):
            ax.plot([int(c) for c in conns], [cells[c][system][key] for c in conns], STYLE[system],
                    label=LABELS[system])
        ax.set_xscale("log", base=2)
        ax.set_xticks([int(c) for c in conns], conns)
        ax.set_ylim(bottom=0)
        ax.set_title(f"Django admin login page (GET {results['django']['path']})")
        _label(ax, "concurrent connections (wrk)", label)
    return _save(fig, out / "django.png")


def render(results, out):
    """Write the PNGs into OUT; their paths."""
    pngs = []
    if "throughput" in results:
        pngs.append(_per_connections(results, "rps", "throughput.png", "requests/s", False, out))
        pngs.append(_per_connections(results, "p99_ms", "latency-p99.png", "p99 latency (ms)", True, out))
    if "zerg" in results:
        pngs.append(_zerg(results, out))
    if "scale" in results:
        pngs.append(_scale(results, out))
    if "django" in results:
        pngs.append(_django(results, out))
    return pngs

"""Figure 4: the emperor with N hello vassals (N = 1, 10, 100), this package vs Debian's.

For each N: enable N apps at once (uwsgi-ensite NAME..., or Debian's symlinks) and take the
time until every one answers 200 through nginx; then the uWSGI processes' total RSS and PSS
(PSS shares the pages the processes share), and the CPU used over the idle window by the
emperor process(es) alone and by every uWSGI process (each vassal's master wakes up too).
The idle windows of both roots run at the same time (nothing else runs then).
The package's hello/slow apps are stopped meanwhile, so the count is the emperor + N.
gunicorn has no emperor: n/a.
"""

import threading

from .log import say


def run(sides, scale):
    result = {}
    for side in sides.values():
        side.down(["hello", "slow"])
    try:
        for n in scale.vassals:
            names = [f"s{i}" for i in range(1, n + 1)]
            cell = result.setdefault(str(n), {})
            for side in sides.values():
                for name in names:
                    side.app_ini(name, "hello")
                up = side.up(names, timeout=300)
                if up["missing"]:
                    raise RuntimeError(f"figure 4: {side.name}: {up['missing'][:5]} never answered")
                cell[side.name] = {"all_up_s": round(up["seconds"], 3)}
                say(f"figure 4: {side.name}: {n} vassals answer after {up['seconds']:.2f} s")
            say(f"figure 4: {n} vassals: {scale.idle_seconds} s idle in both roots")
            idle = {}
            threads = [threading.Thread(target=lambda s=s: idle.__setitem__(
                s.name, s.inroot(f"procs --seconds {scale.idle_seconds}", timeout=scale.idle_seconds + 120)))
                for s in sides.values()]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for side in sides.values():
                p = idle[side.name]
                cell[side.name].update({
                    "processes": p["count"], "rss_mb": round(p["rss_kb"] / 1024, 1),
                    "pss_mb": round(p["pss_kb"] / 1024, 1),
                    "emperor_rss_mb": round(p["emperor_rss_kb"] / 1024, 1),
                    "idle_cpu_emperor_s": round(p["cpu_seconds_emperor"], 3),
                    "idle_cpu_all_s": round(p["cpu_seconds_all"], 3),
                    "idle_seconds": scale.idle_seconds,
                })
                say(f"figure 4: {side.name} N={n}: {p['count']} processes, RSS {p['rss_kb'] / 1024:.0f} MB, "
                    f"PSS {p['pss_kb'] / 1024:.0f} MB, idle CPU emperor {p['cpu_seconds_emperor']:.2f} s, "
                    f"all {p['cpu_seconds_all']:.2f} s")
            for side in sides.values():
                side.down(names)
    finally:
        for side in sides.values():
            side.up(["hello", "slow"], timeout=60)
    return result

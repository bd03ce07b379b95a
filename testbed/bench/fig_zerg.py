"""Figure 3: broodlord/zergs (issue 4) in this package, under a burst through nginx.

The slow app (50 ms a request), 1 process, made by `uwsgi-newapp`, once plain and once with
--zerg, the Emperor with EMPEROR_OPTS="--emperor-broodlord 8"; a burst of 32 connections
from the in-root Python client (it records every request's time and latency, which wrk
cannot), while the number of zerg instances is sampled every 0.2 s. Afterwards the zergs
exit after the template's `idle` (the scale sets it) and the time to shrink back is taken.
Debian's uWSGI and gunicorn have no packaged equivalent: n/a.
"""


from .fig_ensite import set_emperor_opts
from .log import say
from .stats import ratio

CONNS = 32
COMMON = "--module benchapp:slow --chdir /srv/bench --processes 1"


def percentile(values, p):
    values = sorted(values)
    if not values:
        return None
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def summary(load, skip=0.0):
    recs = [r for r in load["records"] if r[0] >= skip]
    ok = [r for r in recs if r[2]]
    span = load["seconds"] - skip
    return {"rps": round(len(ok) / span, 1), "p50_ms": round(percentile([r[1] for r in ok], 50) * 1000, 1),
            "p99_ms": round(percentile([r[1] for r in ok], 99) * 1000, 1),
            "failed": len(recs) - len(ok), "requests": len(recs)}


def timeline(load, bucket=0.5):
    """[t, req/s, p50 ms, p99 ms, zerg instances] every BUCKET seconds."""
    rows = []
    end = max([load["seconds"]] + [s[0] for s in load["samples"]])
    t = 0.0
    while t < end:
        done = [r for r in load["records"] if t <= r[0] + r[1] < t + bucket and r[2]]
        lat = [r[1] for r in done]
        zergs = [s[1] for s in load["samples"] if t <= s[0] < t + bucket]
        rows.append([round(t, 2), round(len(done) / bucket, 1),
                     round(percentile(lat, 50) * 1000, 1) if lat else None,
                     round(percentile(lat, 99) * 1000, 1) if lat else None,
                     max(zergs) if zergs else None])
        t += bucket
    return rows


def run(sides, scale):
    m = sides["ours"]
    made = m.run(f"uwsgi-newapp zplain {COMMON} && uwsgi-newapp zslow {COMMON} --zerg")
    ini = m.out("cat /etc/uwsgi/apps-available/zslow.ini")
    if "[zerg]" not in ini:
        raise RuntimeError("uwsgi-newapp --zerg wrote no [zerg] section:\n" + ini + made.stderr)
    m.run(f"sed -i 's/^idle = .*/idle = {scale.zerg_idle}/' /etc/uwsgi/apps-available/zslow.ini")
    set_emperor_opts(m, "--emperor-broodlord 8")
    try:
        m.run("uwsgi-ensite -q --wait --timeout=30 zplain zslow", timeout=60)
        say(f"figure 3: {CONNS} connections on the slow app without zergs, {scale.zerg_seconds} s")
        plain = m.inroot(f"load --host zplain.test --conns {CONNS} --seconds {scale.zerg_seconds}")
        say(f"figure 3: the same on the --zerg app (broodlord 8), then the shrink (idle = {scale.zerg_idle} s)")
        zerg = m.inroot(f"load --host zslow.test --conns {CONNS} --seconds {scale.zerg_seconds} "
                        f"--watch zslow.ini:zerg --drain {scale.zerg_idle + 40}",
                        timeout=scale.zerg_seconds + scale.zerg_idle + 120)
        m.run("uwsgi-dissite -q zplain zslow")
    finally:
        set_emperor_opts(m, "")
    first = next((s[0] for s in zerg["samples"] if s[1] > 0), None)
    peak = max((s[1] for s in zerg["samples"]), default=0)
    without, with_ = summary(plain), summary(zerg)
    # Steady state: after the first zerg has had 2 s to join.
    steady = summary(zerg, skip=min(first + 2, scale.zerg_seconds / 2)) if first is not None else None
    result = {
        "connections": CONNS, "load_seconds": scale.zerg_seconds, "zerg_idle_s": scale.zerg_idle,
        "first_zerg_s": first, "peak_zergs": peak,
        "shrink_s": zerg["drained_after"],
        "without": without, "with": with_, "with_steady": steady,
        "rps_ratio": ratio(with_["rps"], without["rps"]),
        "timeline": timeline(zerg),
        "timeline_without": timeline(dict(plain, samples=[])),
    }
    say(f"figure 3: without zergs {without['rps']} req/s p99 {without['p99_ms']} ms; with zergs "
        f"{with_['rps']} req/s p99 {with_['p99_ms']} ms; first zerg {first} s, peak {peak}, "
        f"gone {zerg['drained_after']} s after the load")
    return result

"""Figure 5: the package itself. Sizes, `make deb` wall time, apt install, uwsgi-ensite -q.

- .deb size and Installed-Size: this .deb vs Debian's uwsgi-core + uwsgi-plugin-python3 +
  uwsgi-emperor (the .debs apt downloaded into the Debian root, and dpkg's Installed-Size).
- `make deb` cold: a `git clone` of HEAD built from scratch (uWSGI is compiled, the venv's
  wheels come from PyPI); then `make deb` again in that clone with nothing changed.
- `apt-get install` wall time in a fresh root, offline, the .debs already downloaded (timed
  when the roots were set up).
- `uwsgi-ensite -q NAME` wall time (median of N, `uwsgi-dissite -q NAME` between), and for
  Debian's the admin's `ln -s` for reference.
"""

import os
import pathlib
import shutil
import subprocess
import tempfile
import time

from .config import REPO, work_dir
from .log import say
from .stats import median

ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": os.environ.get("HOME", "/root")}


def make_deb_times(suite):
    """(cold seconds, nothing-changed seconds) of `make deb SUITE=SUITE` in a fresh clone of HEAD."""
    base = work_dir()
    base.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="clone-", dir=base))
    try:
        subprocess.run(["git", "clone", "-q", str(REPO), str(tmp / "src")], check=True, env=ENV)
        times = []
        for what in ("cold", "nothing changed"):
            say(f"figure 5: make deb ({what}) in a clone of HEAD")
            start = time.monotonic()
            subprocess.run(["make", "deb", f"SUITE={suite}"], cwd=tmp / "src", check=True, env=ENV,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times.append(round(time.monotonic() - start, 2))
            say(f"figure 5: make deb ({what}): {times[-1]} s")
        return times
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sizes(sides, deb):
    ours, debian = sides["ours"], sides["debian"]
    q = "dpkg-query -W -f '${Installed-Size}' "
    result = {"ours": {"deb_kb": round(os.path.getsize(deb) / 1024),
                       "installed_kb": int(ours.out(q + "uwsgi-emperor"))},
              "debian": {"deb_kb": 0, "installed_kb": 0, "packages": {}}}
    for pkg in ("uwsgi-core", "uwsgi-plugin-python3", "uwsgi-emperor"):
        size = int(debian.out(f"stat -c %s /var/cache/apt/archives/{pkg}_*.deb"))
        inst = int(debian.out(q + pkg))
        result["debian"]["packages"][pkg] = {"deb_kb": round(size / 1024), "installed_kb": inst}
        result["debian"]["deb_kb"] += round(size / 1024)
        result["debian"]["installed_kb"] += inst
    return result


def ensite_q(sides, n):
    ours, debian = sides["ours"], sides["debian"]
    ours.app_ini("q1", "hello")
    debian.app_ini("q1", "hello")
    o = ours.inroot(f"time-cmd --n {n} --cmd 'uwsgi-ensite -q q1' --undo 'uwsgi-dissite -q q1'")
    d = debian.inroot(f"time-cmd --n {n} --cmd '{debian.enable_cmd(['q1'])}' --undo '{debian.disable_cmd(['q1'])}'")
    return {"ours_median_s": median(o["seconds"]), "ours_trials": o["seconds"],
            "debian_ln_s_median_s": median(d["seconds"]), "debian_trials": d["seconds"]}


def run(sides, scale, deb, build_times):
    result = {"sizes": sizes(sides, deb),
              "apt_install_s": {name: round(s.install_seconds, 2) for name, s in sides.items()},
              "make_deb_cold_s": build_times[0] if build_times else None,
              "make_deb_nothing_changed_s": build_times[1] if build_times else None}
    say(f"figure 5: uwsgi-ensite -q, median of {scale.ensite_q_trials}")
    result["ensite_q"] = ensite_q(sides, scale.ensite_q_trials)
    return result

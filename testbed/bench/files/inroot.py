"""Measurements taken inside a benchmark root (run there by Debian's python3, stdlib only).

Timing happens in here, next to the servers, so entering the namespaces costs nothing.
Every subcommand prints one JSON object.

  up-time HOST... --cmd CMD      run CMD, then seconds until every HOST answers 200 via nginx
  time-cmd --cmd CMD --undo CMD --n N   wall time of CMD (N times, UNDO after each)
  load --host H --conns C --seconds S [--watch TEXT] [--drain S2]
                                 closed-loop HTTP load with a per-request record; with --watch,
                                 the number of instances whose command line has TEXT, sampled
                                 every 0.2 s (and after the load until none is left, up to S2 s);
       [--cmd CMD --cmd-at T]    with --cmd, CMD run once T s into the load, which then goes on
                                 for S s after CMD has ended (its start, end and exit status)
  procs [--seconds S]            uWSGI processes: RSS, PSS, and CPU used over S seconds
  wrk --host H --conns C --seconds S [--path P]
                                 one wrk run (1 thread) of GET P (default /) through nginx:
                                 wrk's figures, and the CPU seconds the app servers (uwsgi,
                                 gunicorn) and nginx used during it
"""

import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time

import httpload  # the one HTTP load client, beside this file (testbed.stack.install_files)

TICK = os.sysconf("SC_CLK_TCK")


def get(host, timeout=5.0, conn=None):
    """Status of GET / with Host: HOST through nginx (0 on a connection error)."""
    own = conn is None
    try:
        if own:
            conn = http.client.HTTPConnection("127.0.0.1", 80, timeout=timeout)
        conn.request("GET", "/", headers={"Host": host})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        if own:
            conn.close()


def up_time(args):
    start = time.monotonic()
    subprocess.run(args.cmd, shell=True, check=True, stdout=subprocess.DEVNULL)
    pending, each = set(args.hosts), {}
    deadline = start + args.timeout
    while pending and time.monotonic() < deadline:
        for host in sorted(pending):
            try:
                ok = get(host, timeout=2) == 200
            except OSError:
                ok = False
            if ok:
                each[host] = time.monotonic() - start
                pending.discard(host)
        if pending:
            time.sleep(0.01)
    return {"seconds": max(each.values()) if not pending else None,
            "each": each, "missing": sorted(pending)}


def time_cmd(args):
    times = []
    for _ in range(args.n):
        start = time.monotonic()
        subprocess.run(args.cmd, shell=True, check=True, stdout=subprocess.DEVNULL)
        times.append(time.monotonic() - start)
        if args.undo:
            subprocess.run(args.undo, shell=True, check=True, stdout=subprocess.DEVNULL)
    return {"seconds": times}


def proc_stat(pid):
    """(comm, cmdline, the fields of /proc/PID/stat after comm) of PID, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat[stat.index("(") + 1:stat.rindex(")")], cmdline, stat[stat.rindex(")") + 2:].split()


def read_proc(pid):
    """(ppid, comm, cmdline, cpu seconds, rss kB, pss kB) of PID, or None when it is gone."""
    found = proc_stat(pid)
    if found is None:
        return None
    comm, cmdline, fields = found
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    cpu = (int(fields[11]) + int(fields[12])) / TICK
    return {"ppid": int(fields[1]), "comm": comm, "cmdline": cmdline, "cpu": cpu,
            "rss_kb": rss, "pss_kb": pss}


def uwsgi_procs():
    procs = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = read_proc(int(entry))
            if info and "uwsgi" in (info["comm"] + " " + info["cmdline"]).lower() \
                    and "inroot.py" not in info["cmdline"]:
                procs[int(entry)] = info
    return procs


def is_emperor(info):
    return "emperor.ini" in info["cmdline"] or "emperor" in info["comm"].lower()


def procs(args):
    before = uwsgi_procs()
    if args.seconds:
        time.sleep(args.seconds)
    after = uwsgi_procs()
    cpu = {pid: after[pid]["cpu"] - before[pid]["cpu"] for pid in after if pid in before}
    emperor = [pid for pid, info in after.items() if is_emperor(info)]
    return {
        "count": len(after),
        "rss_kb": sum(p["rss_kb"] for p in after.values()),
        "pss_kb": sum(p["pss_kb"] for p in after.values()),
        "emperor_pids": emperor,
        "emperor_rss_kb": sum(after[p]["rss_kb"] for p in emperor),
        "cpu_seconds_emperor": sum(cpu.get(p, 0) for p in emperor),
        "cpu_seconds_all": sum(cpu.values()),
        "seconds": args.seconds,
        "processes": {pid: {k: v for k, v in info.items() if k != "cpu"} for pid, info in after.items()},
    }


def task_cpu(pid):
    """CPU seconds so far of every thread of PID, in nanoseconds' resolution (schedstat;
    /proc/PID/stat counts clock ticks of 10 ms), or None when it is gone."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return total / 1e9


def cpu_by_server():
    """CPU seconds so far of each process, keyed (pid, starttime), classed "server" (uwsgi,
    gunicorn) or "nginx"; other processes (wrk, this script) are left out."""
    out = {}
    for entry in os.listdir("/proc"):
        found = proc_stat(entry) if entry.isdigit() else None
        if found is None or "inroot.py" in found[1]:
            continue
        comm, cmdline, fields = found
        name = f"{comm} {cmdline}".lower()
        kind = "nginx" if "nginx" in name else "server" if ("uwsgi" in name or "gunicorn" in name) else None
        cpu = task_cpu(entry) if kind else None
        if cpu is not None:
            out[(int(entry), int(fields[19]))] = (kind, cpu)
    return out


def wrk(args):
    """wrk's JSON line (wrk-json.lua) plus "cpu_seconds": {"server": s, "nginx": s}, the CPU the
    processes of each kind used during the run (a process started during it counts whole; one
    that ended during it is missing: a worker re-forked mid-run loses its share)."""
    before = cpu_by_server()
    proc = subprocess.run(["wrk", "-t1", f"-c{args.conns}", f"-d{args.seconds}s", "--timeout", "10s",
                           "-s", os.path.join(os.path.dirname(os.path.abspath(__file__)), "wrk-json.lua"),
                           "-H", f"Host: {args.host}", "http://127.0.0.1:80" + args.path],
                          capture_output=True, text=True, timeout=float(args.seconds) + 30)
    after = cpu_by_server()
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode or not lines:
        raise SystemExit(f"wrk failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")
    result = json.loads(lines[-1])
    used = {"server": 0.0, "nginx": 0.0}
    for key, (kind, cpu) in after.items():
        used[kind] += cpu - before.get(key, (kind, 0.0))[1]
    result["cpu_seconds"] = {k: round(v, 6) for k, v in used.items()}
    return result


def instances(text):
    """How many instances run whose command line contains TEXT (a master and its workers
    count once: processes whose parent also matches are not counted)."""
    matching = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError):
                continue
            if text in cmd:
                matching[int(entry)] = ppid
    return sum(1 for ppid in matching.values() if ppid not in matching)


def load(args):
    """Closed-loop load through the testbed's client (httpload.run); records, with --watch
    the instance count sampled every 0.2 s, and with --cmd when CMD ran (seconds since the
    load's start, like the records) and its exit status."""
    stop_at = time.monotonic() + args.seconds
    samples = []
    stop_watch = threading.Event()
    started = time.monotonic()

    def watch():
        while not stop_watch.is_set():
            samples.append((round(time.monotonic() - started, 3), instances("--ini " + args.watch)))
            stop_watch.wait(0.2)

    watcher = threading.Thread(target=watch, daemon=True) if args.watch else None
    if watcher:
        watcher.start()
    cmd = {}

    def run_cmd():
        time.sleep(args.cmd_at)
        cmd["started"] = time.monotonic()
        try:
            cmd["status"] = subprocess.run(args.cmd, shell=True, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL).returncode
        finally:  # the load stops S s after, whatever happened
            cmd["ended"] = time.monotonic()

    def keep_going(sent):
        if not args.cmd:
            return time.monotonic() < stop_at
        return "ended" not in cmd or time.monotonic() < cmd["ended"] + args.seconds

    runner = threading.Thread(target=run_cmd) if args.cmd else None
    if runner:
        runner.start()
    start, raw = httpload.run(args.host, args.conns, keep_going, timeout=30)
    records = [(round(t0, 4), round(latency, 5), ok) for _, t0, latency, ok, _ in raw]
    load_end = time.monotonic() - start
    if runner:
        runner.join()
        cmd = {"started": round(cmd["started"] - start, 4), "ended": round(cmd["ended"] - start, 4),
               "status": cmd["status"]}
    drained = None
    if watcher:
        deadline = time.monotonic() + args.drain
        while time.monotonic() < deadline:
            if samples and samples[-1][0] > load_end and samples[-1][1] == 0:
                drained = samples[-1][0] - load_end
                break
            time.sleep(0.2)
        stop_watch.set()
        watcher.join()
    return {"seconds": load_end, "records": records, "samples": samples,
            "drained_after": drained, **({"cmd": cmd} if args.cmd else {})}


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("up-time")
    p.add_argument("hosts", nargs="+")
    p.add_argument("--cmd", required=True)
    p.add_argument("--timeout", type=float, default=120)
    p = sub.add_parser("time-cmd")
    p.add_argument("--cmd", required=True)
    p.add_argument("--undo")
    p.add_argument("--n", type=int, default=1)
    p = sub.add_parser("load")
    p.add_argument("--host", required=True)
    p.add_argument("--conns", type=int, required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--watch")
    p.add_argument("--drain", type=float, default=0)
    p.add_argument("--cmd")
    p.add_argument("--cmd-at", type=float, default=0)
    p = sub.add_parser("procs")
    p.add_argument("--seconds", type=float, default=0)
    p = sub.add_parser("wrk")
    p.add_argument("--host", required=True)
    p.add_argument("--conns", type=int, required=True)
    p.add_argument("--seconds", required=True, help="wrk's duration, as wrk reads it (3, 1.5 is not)")
    p.add_argument("--path", default="/")
    args = parser.parse_args()
    result = {"up-time": up_time, "time-cmd": time_cmd, "load": load, "procs": procs,
              "wrk": wrk}[args.what](args)
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()

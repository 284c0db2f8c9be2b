#!/usr/bin/env python3
"""Desktop app figures (run by bench/desktop.sh inside a private X server and
session bus; stdlib only).

BIN is the app's entry point, the tray process (nightjar-tray): "the app"
below is that process; its children are the window process (nightjar-desktop,
only while the window is open) and that one's WebKit processes.

    desktop_bench.py BIN [--launches N] [--settle S] [--idle S] [--open-idle S] [--hidden-idle S] [--json OUT]

1. launch -> tray ready: N launches with the window (as from the app menu)
   and N with --hidden (as at login: tray only, no web view); each is timed
   from just before the process is spawned to the moment its stderr says
   "tray ready" (read from a pipe as it arrives); medians. For the launches
   with the window, also until the window is viewable on the X server (polled
   through x11_window.py, one Python start per process per poll, so up to
   ~100 ms late).
2. idle RSS: one more launch; after the window is shown and S seconds of
   settling, VmRSS and PSS of the app alone and of the app plus its children
   (the window process, WebKitWebProcess, WebKitNetworkProcess); then the
   window is closed the way a window manager does (WM_DELETE_WINDOW; the
   window process exits, the app stays in the tray), S more seconds, the same
   figures again.
3. idle CPU: utime+stime from /proc/PID/stat (app alone, and app + children)
   over --idle seconds with the window closed, divided by wall time; and over
   --open-idle seconds with the window open (measured before closing it).
4. started with --hidden: RSS/PSS after settling, CPU over --hidden-idle seconds.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
X11_WINDOW = os.path.join(HERE, "..", "tests", "desktop", "x11_window.py")
READY = "tray ready"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def ppid_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    return int(s[s.rfind(")") + 2:].split()[1])


def descendants(pid):
    pairs = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            p = ppid_of(int(d))
            if p is not None:
                pairs.append((int(d), p))
    out, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for p, pp in pairs:
            if pp == parent and p not in out:
                out.append(p)
                frontier.append(p)
    return out


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def cpu_ticks(pid):
    """utime + stime of pid (not of its children), in clock ticks."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return 0
    fields = s[s.rfind(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def mem_kib(pid):
    """(VmRSS, Pss) in KiB."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                if line.startswith("RssAnon:"):
                    ANON[pid] = int(line.split()[1])
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


ANON = {}


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


class App:
    def __init__(self, binary, env, args=()):
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen([binary, *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=env)
        self.ready_at = None
        self.ready = threading.Event()
        self.log = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace")
            if self.ready_at is None and READY in line:
                self.ready_at = time.monotonic()
                self.ready.set()
            self.log.append(line)
        self.ready.set()

    def wait_ready(self, timeout=120):
        self.ready.wait(timeout)
        if self.ready_at is None:
            sys.exit("desktop_bench: the app never logged 'tray ready':\n" + "".join(self.log[-30:]))
        return self.ready_at - self.t0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                for p in descendants(self.proc.pid):
                    try:
                        os.kill(p, 9)
                    except OSError:
                        pass
                self.proc.kill()
                self.proc.wait()
        # Its WebKit processes end with it; wait for them so the next launch starts clean.
        deadline = time.monotonic() + 10
        while descendants(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)


def largest_mappings(pid, n=6):
    """The n files (or [anonymous]) holding the most resident memory, in KiB."""
    per, name = {}, "[anonymous]"
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                head = line.split(None, 5)
                if len(head) >= 5 and "-" in head[0] and not head[0].endswith(":"):
                    name = head[5].strip() if len(head) == 6 and head[5].startswith("/") else "[anonymous]"
                elif line.startswith("Rss:"):
                    per[name] = per.get(name, 0) + int(line.split()[1])
    except OSError:
        pass
    return dict(sorted(per.items(), key=lambda kv: -kv[1])[:n])


def print_largest(m):
    print("   largest in the app: " + ", ".join(f"{os.path.basename(k)} {v / 1024:.1f}" for k, v in m["app_largest_kib"].items()) + " MiB", flush=True)


def memory(pid):
    kids = descendants(pid)
    app = mem_kib(pid)
    total_rss, total_pss = app
    per = {}
    for k in kids:
        r, p = mem_kib(k)
        total_rss += r
        total_pss += p
        per.setdefault(comm(k), [0, 0])
        per[comm(k)][0] += r
        per[comm(k)][1] += p
    return {"app_rss_kib": app[0], "app_pss_kib": app[1], "app_anon_kib": ANON.get(pid, 0),
            "all_rss_kib": total_rss, "all_pss_kib": total_pss, "app_largest_kib": largest_mappings(pid),
            "children": {k: {"rss_kib": v[0], "pss_kib": v[1]} for k, v in per.items()}}


def cpu(pid, seconds):
    procs = [pid] + descendants(pid)
    before = {p: cpu_ticks(p) for p in procs}
    t0 = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - t0
    after = {p: cpu_ticks(p) for p in [pid] + descendants(pid)}
    # A process that appeared meanwhile counts from 0; one that ended is lost (rare at idle).
    app = (after.get(pid, 0) - before.get(pid, 0)) / CLK_TCK
    allp = sum(after[p] - before.get(p, 0) for p in after) / CLK_TCK
    return {"seconds": round(wall, 1), "app_cpu_s": app, "all_cpu_s": allp,
            "app_pct": 100.0 * app / wall, "all_pct": 100.0 * allp / wall}


def window_state(pid):
    """The X windows of pid and of its descendants (the window is a child process)."""
    out = []
    for p in [pid] + descendants(pid):
        r = subprocess.run([sys.executable, X11_WINDOW, "list", str(p)], capture_output=True, text=True)
        out.append(r.stdout.strip())
    return "\n".join(o for o in out if o)


def close_windows(pid):
    """WM_DELETE_WINDOW to every window of pid's process tree; True if one was closed."""
    closed = False
    for p in [pid] + descendants(pid):
        r = subprocess.run([sys.executable, X11_WINDOW, "close", str(p)], capture_output=True, text=True)
        closed = closed or r.returncode == 0
    return closed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--launches", type=int, default=7)
    ap.add_argument("--settle", type=float, default=20)
    ap.add_argument("--idle", type=float, default=600)
    ap.add_argument("--open-idle", type=float, default=60)
    ap.add_argument("--hidden-idle", type=float, default=60)
    ap.add_argument("--json")
    a = ap.parse_args()

    env = dict(os.environ, RUST_LOG="info")
    res = {"binary": a.binary, "loadavg_start": loadavg(), "launch_s": []}

    print(f"== launch -> '{READY}', {a.launches} launches (load {loadavg()})", flush=True)
    res["window_shown_s"] = []
    for i in range(a.launches):
        app = App(a.binary, env)
        t = app.wait_ready()
        res["launch_s"].append(t)
        # The window is another process, started by the tray: also time until it is on screen.
        deadline = time.monotonic() + 60
        while "viewable" not in window_state(app.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        w = time.monotonic() - app.t0
        if "viewable" not in window_state(app.proc.pid):
            sys.exit("desktop_bench: the window did not show within 60 s; the app logged:\n" + "".join(app.log[-40:]))
        res["window_shown_s"].append(w)
        print(f"   launch {i + 1}: tray ready {t * 1000:.0f} ms, window shown {w * 1000:.0f} ms", flush=True)
        app.stop()
    res["launch_median_s"] = statistics.median(res["launch_s"])
    res["window_shown_median_s"] = statistics.median(res["window_shown_s"])
    res["launch_hidden_s"] = []
    for i in range(a.launches):
        app = App(a.binary, env, ["--hidden"])
        t = app.wait_ready()
        res["launch_hidden_s"].append(t)
        print(f"   launch --hidden {i + 1}: {t * 1000:.0f} ms", flush=True)
        app.stop()
    res["launch_hidden_median_s"] = statistics.median(res["launch_hidden_s"])

    print(f"== started with --hidden: settle {a.settle:.0f} s", flush=True)
    app = App(a.binary, env, ["--hidden"])
    app.wait_ready()
    time.sleep(a.settle)
    res["hidden_window"] = window_state(app.proc.pid)
    res["hidden"] = memory(app.proc.pid)
    print(f"   hidden: app RSS {res['hidden']['app_rss_kib'] / 1024:.1f} MiB, app+children RSS {res['hidden']['all_rss_kib'] / 1024:.1f} MiB "
          f"(PSS {res['hidden']['app_pss_kib'] / 1024:.1f} / {res['hidden']['all_pss_kib'] / 1024:.1f} MiB; app anonymous {res['hidden']['app_anon_kib'] / 1024:.1f} MiB)", flush=True)
    print_largest(res['hidden'])
    if a.hidden_idle > 0:
        res["hidden_cpu"] = cpu(app.proc.pid, a.hidden_idle)
        print(f"   hidden: CPU over {a.hidden_idle:.0f} s: app {res['hidden_cpu']['app_pct']:.3f} %, "
              f"app+children {res['hidden_cpu']['all_pct']:.3f} %", flush=True)
    app.stop()

    print(f"== idle: settle {a.settle:.0f} s with the window open", flush=True)
    app = App(a.binary, env)
    app.wait_ready()
    deadline = time.monotonic() + 60
    while "viewable" not in window_state(app.proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    res["window_open"] = window_state(app.proc.pid)
    time.sleep(a.settle)
    res["open"] = memory(app.proc.pid)
    print(f"   open: app RSS {res['open']['app_rss_kib'] / 1024:.1f} MiB, app+web RSS {res['open']['all_rss_kib'] / 1024:.1f} MiB "
          f"(PSS {res['open']['app_pss_kib'] / 1024:.1f} / {res['open']['all_pss_kib'] / 1024:.1f} MiB; app anonymous {res['open']['app_anon_kib'] / 1024:.1f} MiB)", flush=True)
    if a.open_idle > 0:
        res["open_cpu"] = cpu(app.proc.pid, a.open_idle)
        print(f"   open: CPU over {a.open_idle:.0f} s: app {res['open_cpu']['app_pct']:.3f} %, "
              f"app+web {res['open_cpu']['all_pct']:.3f} %", flush=True)

    if not close_windows(app.proc.pid):
        sys.exit("desktop_bench: could not close the window")
    deadline = time.monotonic() + 30
    while "viewable" in window_state(app.proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    res["window_closed"] = window_state(app.proc.pid)
    if app.proc.poll() is not None:
        sys.exit("desktop_bench: the app exited when its window was closed (it should stay in the tray)")
    time.sleep(a.settle)
    res["closed_children"] = [comm(p) for p in descendants(app.proc.pid)]
    res["closed"] = memory(app.proc.pid)
    print(f"   closed: app RSS {res['closed']['app_rss_kib'] / 1024:.1f} MiB, app+web RSS {res['closed']['all_rss_kib'] / 1024:.1f} MiB "
          f"(PSS {res['closed']['app_pss_kib'] / 1024:.1f} / {res['closed']['all_pss_kib'] / 1024:.1f} MiB; app anonymous {res['closed']['app_anon_kib'] / 1024:.1f} MiB)", flush=True)
    print_largest(res['closed'])
    print(f"== idle CPU with the window closed over {a.idle:.0f} s (load {loadavg()})", flush=True)
    res["closed_cpu"] = cpu(app.proc.pid, a.idle)
    res["closed_after"] = memory(app.proc.pid)
    print(f"   closed: CPU app {res['closed_cpu']['app_pct']:.3f} %, app+web {res['closed_cpu']['all_pct']:.3f} % "
          f"({res['closed_cpu']['app_cpu_s']:.2f} s / {res['closed_cpu']['all_cpu_s']:.2f} s of CPU)", flush=True)
    print(f"   closed, after the idle period: app RSS {res['closed_after']['app_rss_kib'] / 1024:.1f} MiB, "
          f"app+web {res['closed_after']['all_rss_kib'] / 1024:.1f} MiB", flush=True)
    res["loadavg_end"] = loadavg()
    app.stop()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Measurement helper for bench/backup.sh (plain Python 3, standard library only).

  bench.py run LABEL ROUND CSV -- bash -c 'PIPELINE'
      Runs the command, appends one CSV row to CSV:
        wall_s     elapsed time (monotonic clock) from spawn to exit
        cpu_s      user + sys of the command and every process it waited for (the whole
                   pipeline: bash, pg_dump, zstd/gzip, nightjar) from wait4() rusage, the
                   same numbers `/usr/bin/time -f '%U %S'` reports. The PostgreSQL server
                   backend that serves the dump is not a child and is not counted (it does
                   the same work for every variant).
        tree_rss_mib  ru_maxrss of the waited-for tree: the largest single process in it
                   (what `/usr/bin/time -f %M` reports)
        nightjar_rss_mib  VmHWM (peak resident set) of the `nightjar` process itself,
                   read from /proc/<pid>/status every 10 ms while it runs; empty when the
                   command runs no nightjar
        load1      1-minute load average when the run started
      The command must exit 0 (a failed run aborts the benchmark).

  bench.py set-size CSV LABEL ROUND PATH...   (or --record FILE: a nightjar --json record's size)
      Stores the output size of that run: total bytes of the files given (directories: every
      file in them except the *.json manifests).

  bench.py report CSV OUT.md MACHINE.md
      Medians per variant over the rounds (round 0 = warm-up, not counted), ratios against
      B (pg_dump | zstd -3 -T0) and A (pg_dump > /dev/null), target checks; prints the
      Markdown and writes it to OUT.md (after the MACHINE.md text).
"""

import csv
import json
import os
import statistics
import sys
import time

FIELDS = ["label", "round", "wall_s", "cpu_s", "user_s", "sys_s", "tree_rss_mib",
          "nightjar_rss_mib", "out_bytes", "load1"]


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def find_desc(pid, name):
    todo = [pid]
    while todo:
        p = todo.pop()
        if comm(p) == name:
            return p
        todo.extend(children(p))
    return None


def vm_hwm_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cmd_run(argv):
    label, rnd, out_csv = argv[0], argv[1], argv[2]
    assert argv[3] == "--"
    cmd = argv[4:]
    with open("/proc/loadavg") as f:
        load1 = float(f.read().split()[0])
    t0 = time.monotonic()
    pid = os.posix_spawnp(cmd[0], cmd, os.environ)
    nj_pid, hwm = None, None
    watch = any("nightjar" in a for a in cmd)
    while True:
        # Without a nightjar to watch, block in wait4 (exact wall time, no polling cost).
        wpid, status, ru = os.wait4(pid, os.WNOHANG if watch else 0)
        if wpid == pid:
            break
        if nj_pid is None:
            nj_pid = find_desc(pid, "nightjar")
        if nj_pid is not None:
            v = vm_hwm_kib(nj_pid)
            if v is not None:
                hwm = v if hwm is None else max(hwm, v)
        time.sleep(0.01)
    wall = time.monotonic() - t0
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(f"bench: {label} (round {rnd}) failed with exit status {code}: {cmd}", file=sys.stderr)
        sys.exit(1)
    row = {
        "label": label, "round": rnd, "wall_s": f"{wall:.3f}",
        "cpu_s": f"{ru.ru_utime + ru.ru_stime:.3f}",
        "user_s": f"{ru.ru_utime:.3f}", "sys_s": f"{ru.ru_stime:.3f}",
        "tree_rss_mib": f"{ru.ru_maxrss / 1024:.1f}",
        "nightjar_rss_mib": "" if hwm is None else f"{hwm / 1024:.1f}",
        "out_bytes": "", "load1": f"{load1:.2f}",
    }
    new = not os.path.exists(out_csv)
    with open(out_csv, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        if new:
            w.writeheader()
        w.writerow(row)
    print(f"  {label:<8} round {rnd}: wall {wall:7.2f} s  cpu {ru.ru_utime + ru.ru_stime:7.2f} s  "
          f"tree rss {ru.ru_maxrss / 1024:6.1f} MiB"
          + ("" if hwm is None else f"  nightjar rss {hwm / 1024:5.1f} MiB")
          + f"  (load {load1:.2f})", flush=True)


def total_size(paths):
    n = 0
    for p in paths:
        if os.path.isdir(p):
            for root, _, files in os.walk(p):
                n += sum(os.path.getsize(os.path.join(root, f)) for f in files if not f.endswith(".json"))
        elif os.path.exists(p):
            n += os.path.getsize(p)
    return n


def cmd_set_size(argv):
    """set-size CSV LABEL ROUND PATH... | --record FILE: fill out_bytes of the last row LABEL/ROUND
    (with --record: the "size" of a `nightjar backup --json` record, for a file not on disk)."""
    out_csv, label, rnd, paths = argv[0], argv[1], argv[2], argv[3:]
    if paths[:1] == ["--record"]:
        with open(paths[1]) as f:
            size = json.load(f)["size"]
    else:
        size = total_size(paths)
    with open(out_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in reversed(rows):
        if r["label"] == label and r["round"] == rnd:
            r["out_bytes"] = str(size)
            break
    with open(out_csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)


DESCR = {
    "A": "`pg_dump -Fp > /dev/null` (the limit)",
    "B": "`pg_dump -Fp | zstd -3 -T0 > f`",
    "C": "`pg_dump -Fp | gzip -6 > f`",
    "D": "`nightjar backup` (zstd, default level 3)",
    "E": "`nightjar backup --compress gzip`",
    "D100": "`nightjar backup` (zstd) on the ~100 MB database",
    "J": "`nightjar backup --job plain` (a job: zstd, no encryption)",
    "Jage": "`nightjar backup --job aged` (the same job, `[job.encryption]` to one age recipient)",
    "Bs": "`pg_dump -Fp | zstd -3 -T0 > f && sync f` (B plus the fsync nightjar does)",
    "O": "`nightjar backup --dest onedrive:/…` to the local Graph fake (spooled to an unlinked temp file)",
    "Os": "the same with `staging = true` (spooled to a staging file, resumable after a crash)",
    "F": "`nightjar backup --job fan` (a job with one folder destination)",
    "F3": "the same job with three destinations: the folder, S3 (the local S3 server) and OneDrive (the Graph fake)",
    "F2s": "the same job with the folder and S3 (the local S3 server)",
    "S": "`nightjar backup --dest s3://…` to the local S3 server",
    "Sprev": "S with the build at PREV_NIGHTJAR",
    "F3prev": "F3 with the build at PREV_NIGHTJAR",
    "Dprev": "D with the build at PREV_NIGHTJAR",
    "F2o": "the same job with the folder and OneDrive (the Graph fake)",
}


def descr(lab):
    if lab in DESCR:
        return DESCR[lab]
    if lab.startswith("D100t"):
        return f"`nightjar backup --threads {lab[5:]}` on the ~100 MB database"
    if lab.startswith("Dt"):
        return f"`nightjar backup --threads {lab[2:]}`" + (" (zstd in the main thread)" if lab == "Dt0" else "")
    return lab


def med(rows, key):
    vals = [float(r[key]) for r in rows if r[key] != ""]
    return statistics.median(vals) if vals else None


def fmt(x, nd=2):
    return "–" if x is None else f"{x:.{nd}f}"


def cmd_report(argv):
    in_csv, out_md, machine_md = argv
    with open(in_csv, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["round"] != "0"]
    labels = []
    for r in rows:
        if r["label"] not in labels:
            labels.append(r["label"])
    m = {}
    for lab in labels:
        rs = [r for r in rows if r["label"] == lab]
        m[lab] = {
            "n": len(rs),
            "wall": med(rs, "wall_s"), "cpu": med(rs, "cpu_s"),
            "wall_min": min(float(r["wall_s"]) for r in rs),
            "wall_max": max(float(r["wall_s"]) for r in rs),
            "tree_rss": med(rs, "tree_rss_mib"), "nj_rss": med(rs, "nightjar_rss_mib"),
            "nj_rss_max": max((float(r["nightjar_rss_mib"]) for r in rs if r["nightjar_rss_mib"]), default=None),
            "size": med(rs, "out_bytes"), "load": max(float(r["load1"]) for r in rs),
        }
    rounds = max(v["n"] for v in m.values())
    # Paired ratios: each run against B of the same round (neighbours in time share the
    # machine's state), then the median of those.
    b_by_round = {r["round"]: float(r["wall_s"]) for r in rows if r["label"] == "B"}
    for lab in labels:
        rs = [float(r["wall_s"]) / b_by_round[r["round"]] for r in rows
              if r["label"] == lab and r["round"] in b_by_round]
        m[lab]["paired"] = statistics.median(rs) if rs else None

    def ratio(a, b):
        return None if a is None or b is None or b == 0 else a / b

    out = []
    out.append(f"### Results: medians of {rounds} interleaved rounds (warm-up round not counted)\n")
    out.append("| run | what | wall s (min–max) | CPU s | peak RSS MiB | output MiB | wall ÷ B | wall ÷ B paired | wall ÷ A | CPU ÷ B | size ÷ B |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    B, A = m.get("B"), m.get("A")
    for lab in labels:
        v = m[lab]
        rss = v["nj_rss"] if v["nj_rss"] is not None else v["tree_rss"]
        rss_s = fmt(rss, 1) + (" (nightjar)" if v["nj_rss"] is not None else " (largest process)")
        size = None if v["size"] is None or lab == "A" else v["size"] / 1048576
        out.append(
            f"| {lab} | {descr(lab)} | {fmt(v['wall'])} ({fmt(v['wall_min'])}–{fmt(v['wall_max'])}) "
            f"| {fmt(v['cpu'])} | {rss_s} | {fmt(size, 1)} "
            f"| {fmt(ratio(v['wall'], B and B['wall']))} | {fmt(v['paired'])} | {fmt(ratio(v['wall'], A and A['wall']))} "
            f"| {fmt(ratio(v['cpu'], B and B['cpu']))} "
            f"| {fmt(None if lab == 'A' else ratio(v['size'], B and B['size']), 3)} |")
    out.append("")
    out.append("Peak RSS: for nightjar rows the `nightjar` process alone (VmHWM), not the pg_dump it "
               "runs; for the others the largest single process of the pipeline (ru_maxrss). "
               "CPU = user + sys of every process of the pipeline (not the PostgreSQL server). "
               "wall ÷ B is the ratio of the medians; wall ÷ B paired is the median of each round's "
               "run divided by B of the same round.")
    out.append("")
    nj_tree = [f"{lab} {fmt(m[lab]['tree_rss'], 1)}" for lab in labels if m[lab]["nj_rss"] is not None]
    if nj_tree:
        out.append("Largest process in the nightjar runs' process tree (nightjar or its pg_dump), MiB: "
                   + ", ".join(nj_tree) + ".")
        out.append("")

    out.append("### Targets\n")
    out.append("| target | measured | met? |")
    out.append("|---|---|---|")

    def yes(b):
        return "**yes**" if b else "**no**"

    D, C, D100 = m.get("D"), m.get("C"), m.get("D100")
    if D and B:
        r = D["wall"] / B["wall"]
        out.append(f"| D wall ≤ 1.05 × B wall | {r:.3f} × ({fmt(D['wall'])} s vs {fmt(B['wall'])} s); "
                   f"paired per round {fmt(D['paired'], 3)} × | {yes(r <= 1.05)} |")
        if D["size"] and B["size"]:
            rs = D["size"] / B["size"]
            out.append(f"| D output ≤ B output | {rs:.4f} × ({D['size'] / 1048576:.1f} MiB vs {B['size'] / 1048576:.1f} MiB) | {yes(D['size'] <= B['size'])} |")
    if D and C:
        r = C["wall"] / D["wall"]
        out.append(f"| D at least 2.5 × faster than C | C ÷ D = {r:.2f} ({fmt(C['wall'])} s vs {fmt(D['wall'])} s) | {yes(r >= 2.5)} |")
    if D and D["nj_rss_max"] is not None:
        out.append(f"| nightjar peak RSS ≤ 64 MiB (1 GB db, zstd) | median {fmt(D['nj_rss'], 1)} MiB, max {fmt(D['nj_rss_max'], 1)} MiB | {yes(D['nj_rss_max'] <= 64)} |")
    E = m.get("E")
    if E and E["nj_rss_max"] is not None:
        out.append(f"| nightjar peak RSS ≤ 64 MiB (1 GB db, gzip) | median {fmt(E['nj_rss'], 1)} MiB, max {fmt(E['nj_rss_max'], 1)} MiB | {yes(E['nj_rss_max'] <= 64)} |")
    if D and D100 and D["nj_rss"] is not None and D100["nj_rss"] is not None:
        diff = D["nj_rss"] - D100["nj_rss"]
        flat = abs(diff) <= max(4.0, 0.10 * D100["nj_rss"])
        out.append(f"| RSS flat from ~100 MB to ~1 GB (within 10 % or 4 MiB) | {fmt(D100['nj_rss'], 1)} MiB → {fmt(D['nj_rss'], 1)} MiB ({diff:+.1f} MiB) | {yes(flat)} |")
    for lab in ("O", "Os"):
        U = m.get(lab)
        if U and D:
            out.append(f"| {lab} wall vs D wall (upload to the fake vs the folder backup) | {ratio(U['wall'], D['wall']):.3f} × "
                       f"({fmt(U['wall'])} s vs {fmt(D['wall'])} s) | (no target) |")
        if U and U["nj_rss_max"] is not None:
            out.append(f"| nightjar peak RSS ≤ 64 MiB ({lab}) | median {fmt(U['nj_rss'], 1)} MiB, max {fmt(U['nj_rss_max'], 1)} MiB | {yes(U['nj_rss_max'] <= 64)} |")
    S = m.get("S")
    if S and D:
        r = S["wall"] / D["wall"]
        out.append(f"| S wall ≤ 1.10 × D wall (S3 vs the folder) | {r:.3f} × ({fmt(S['wall'])} s vs {fmt(D['wall'])} s) | {yes(r <= 1.10)} |")
    if S and S["nj_rss_max"] is not None:
        out.append(f"| nightjar peak RSS ≤ 64 MiB (S) | median {fmt(S['nj_rss'], 1)} MiB, max {fmt(S['nj_rss_max'], 1)} MiB | {yes(S['nj_rss_max'] <= 64)} |")
    F, F3 = m.get("F"), m.get("F3")
    if F and F3:
        r = F3["wall"] / F["wall"]
        out.append(f"| F3 wall ≤ 1.3 × F wall (folder + S3 + OneDrive vs folder only) | {r:.3f} × ({fmt(F3['wall'])} s vs {fmt(F['wall'])} s) | {yes(r <= 1.3)} |")
    if F3 and F3["nj_rss_max"] is not None:
        out.append(f"| nightjar peak RSS (F3) | median {fmt(F3['nj_rss'], 1)} MiB, max {fmt(F3['nj_rss_max'], 1)} MiB | (no target) |")
    out.append("")
    out.append("Highest 1-minute load average at the start of a counted run: "
               + ", ".join(f"{lab} {m[lab]['load']:.2f}" for lab in labels) + ".")
    text = "\n".join(out) + "\n"
    print(text)
    with open(machine_md) as f:
        machine = f.read()
    with open(out_md, "w") as f:
        f.write(machine + "\n" + text)


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    sub, argv = sys.argv[1], sys.argv[2:]
    if sub == "run":
        cmd_run(argv)
    elif sub == "set-size":
        cmd_set_size(argv)
    elif sub == "size":
        print(total_size(argv))
    elif sub == "report":
        cmd_report(argv)
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()

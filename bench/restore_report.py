#!/usr/bin/env python3
"""Report for bench/restore.sh (plain Python 3, standard library only).

  restore_report.py RUNS.csv OUT.md MACHINE.md DB

RUNS.csv is what `bench.py run` wrote (one row per run; round 0 = warm-up, not counted).
Prints medians per variant, the ratios R2/R1 (nightjar plain vs zstd -dc | psql) and R4/R3
(nightjar custom vs zstd -dc | pg_restore), ratio of the medians and paired per round, the
1.03x target, the time of the checks alone (R5/R5c, `nightjar verify`; a restore makes them
while it loads), and with a BASE build R2/R2b and R4/R4b (wall and CPU); writes it to OUT.md
after the MACHINE.md text.
"""

import csv
import statistics
import sys

DESCR = {
    "R1": "`createdb t && zstd -dc f.sql.zst | psql --single-transaction -d t` (stock plain)",
    "R2": "`nightjar restore f.sql.zst --as-new t` (the whole restore, checks included)",
    "R3": "`createdb t && zstd -dc f.dump.zst | pg_restore --exit-on-error -d t` (stock custom)",
    "R4": "`nightjar restore f.dump.zst --as-new t` (the whole restore, checks included)",
    "R2b": "`nightjar restore f.sql.zst --as-new t`, the BASE build",
    "R4b": "`nightjar restore f.dump.zst --as-new t`, the BASE build",
    "R2e": "`nightjar restore f.sql.zst.age --as-new t` (R2's dump, age-encrypted)",
    "R4e": "`nightjar restore f.dump.zst.age --as-new t` (R4's dump, age-encrypted)",
    "R5": "`nightjar verify f.sql.zst` (the checks alone, no load)",
    "R5c": "`nightjar verify f.dump.zst` (the checks alone, no load)",
}
PAIRS = [("R2", "R1", "R5", "plain"), ("R4", "R3", "R5c", "custom")]
TARGET = 1.03


def fmt(x, nd=2):
    return "–" if x is None else f"{x:.{nd}f}"


def main():
    in_csv, out_md, machine_md, db = sys.argv[1:5]
    with open(in_csv, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["round"] != "0"]
    labels = []
    for r in rows:
        if r["label"] not in labels:
            labels.append(r["label"])
    by = {lab: [r for r in rows if r["label"] == lab] for lab in labels}

    def med(lab, key):
        vals = [float(r[key]) for r in by.get(lab, []) if r[key] != ""]
        return statistics.median(vals) if vals else None

    def wall(lab, rnd):
        for r in by.get(lab, []):
            if r["round"] == rnd:
                return float(r["wall_s"])
        return None

    def paired(a, b):
        rs = []
        for r in by.get(a, []):
            w = wall(b, r["round"])
            if w:
                rs.append(float(r["wall_s"]) / w)
        return statistics.median(rs) if rs else None

    ref = {"R2": "R1", "R4": "R3", "R2b": "R1", "R4b": "R3"}
    rounds = max(len(v) for v in by.values())
    out = [f"### Restore results ({db}): medians of {rounds} interleaved rounds (warm-up round not counted)\n",
           "| run | what | wall s (min–max) | CPU s | peak RSS MiB | wall ÷ stock | wall ÷ stock paired | CPU ÷ stock |",
           "|---|---|---:|---:|---:|---:|---:|---:|"]
    for lab in labels:
        rs = by[lab]
        walls = [float(r["wall_s"]) for r in rs]
        nj = med(lab, "nightjar_rss_mib")
        rss = f"{fmt(nj, 1)} (nightjar)" if nj is not None else f"{fmt(med(lab, 'tree_rss_mib'), 1)} (largest process)"
        b = ref.get(lab)
        w, c = med(lab, "wall_s"), med(lab, "cpu_s")
        rw = fmt(w / med(b, "wall_s")) if b in by else "–"
        rp = fmt(paired(lab, b)) if b in by else "–"
        rc = fmt(c / med(b, "cpu_s")) if b in by else "–"
        out.append(f"| {lab} | {DESCR.get(lab, lab).replace('|', chr(92) + '|')} | {fmt(w)} ({fmt(min(walls))}–{fmt(max(walls))}) | {fmt(c)} "
                   f"| {rss} | {rw} | {rp} | {rc} |")
    out.append("")
    out.append("CPU = user + sys of every client-side process of the command (bash, createdb, zstd, "
               "psql / pg_restore, nightjar and the psql / pg_restore it runs), not the PostgreSQL "
               "server, which does the same work in every variant. Peak RSS: nightjar rows the "
               "`nightjar` process alone (VmHWM), others the largest process (ru_maxrss). "
               "Paired = median over rounds of the run divided by the stock run of the same round.")
    out.append("")
    out.append(f"### Target: nightjar within {TARGET:.2f} × the stock pipeline (wall)\n")
    out.append("| format | nightjar ÷ stock (medians) | paired | met? | the checks alone (verify) |")
    out.append("|---|---|---:|---|---:|")
    for nj, stock, ver, name in PAIRS:
        if nj not in by or stock not in by:
            continue
        a, b = med(nj, "wall_s"), med(stock, "wall_s")
        r, p = a / b, paired(nj, stock)
        v = med(ver, "wall_s") if ver in by else None
        vs = f"{fmt(v)} s ({fmt(100 * v / a, 0)} % of nightjar's time)" if v is not None else "–"
        met = "**yes**" if r <= TARGET else f"**no**, by {100 * (r - TARGET):.1f} points ({100 * (r - 1):.1f} % slower)"
        out.append(f"| {name} | {r:.3f} × ({fmt(a)} s vs {fmt(b)} s) | {fmt(p, 3)} × | {met} | {vs} |")
    if "R2e" in by or "R4e" in by:
        out.append("")
        out.append("### Encrypted against unencrypted (target 1.05 ×)\n")
        out.append("| format | encrypted ÷ unencrypted (medians) | paired | met? | peak RSS MiB (encrypted) |")
        out.append("|---|---:|---:|---|---:|")
        for enc, clear, name in [("R2e", "R2", "plain"), ("R4e", "R4", "custom")]:
            if enc in by and clear in by:
                a, b = med(enc, "wall_s"), med(clear, "wall_s")
                met = "**yes**" if a / b <= 1.05 else "**no**"
                out.append(f"| {name} | {a / b:.3f} × ({fmt(a)} s vs {fmt(b)} s) | {fmt(paired(enc, clear), 3)} × | {met} | {fmt(med(enc, 'nightjar_rss_mib'), 1)} |")
    if "R2b" in by or "R4b" in by:
        out.append("")
        out.append("### This build against the BASE build\n")
        out.append("| format | this ÷ base (medians) | paired | CPU this ÷ base |")
        out.append("|---|---:|---:|---:|")
        for nj, base, name in [("R2", "R2b", "plain"), ("R4", "R4b", "custom")]:
            if nj in by and base in by:
                a, b = med(nj, "wall_s"), med(base, "wall_s")
                ca, cb = med(nj, "cpu_s"), med(base, "cpu_s")
                out.append(f"| {name} | {a / b:.3f} × ({fmt(a)} s vs {fmt(b)} s) | {fmt(paired(nj, base), 3)} × | {ca / cb:.3f} × ({fmt(ca)} s vs {fmt(cb)} s) |")
    out.append("")
    out.append("Highest 1-minute load average at the start of a counted run: "
               + ", ".join(f"{lab} {max(float(r['load1']) for r in by[lab]):.2f}" for lab in labels) + ".")
    text = "\n".join(out) + "\n"
    print(text)
    with open(machine_md) as f:
        machine = f.read()
    with open(out_md, "w") as f:
        f.write(machine + "\n" + text)


if __name__ == "__main__":
    main()

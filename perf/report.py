#!/usr/bin/env python3
"""Tables and plot of a perf/run.sh output directory.

  report.py OUT [--routes N] [--meta TEXT] [--command TEXT]

Reads OUT/runs/*.json (one per run; *.disturbed.json are runs redone because other
processes used the CPUs), prints the table, writes OUT/RESULTS.md and OUT/results.png
(when matplotlib is there).
"""
import argparse
import glob
import json
import os
import platform
import re
import statistics
import sys
import time

TARGET_RATIO, TARGET_LOSS, TARGET_LOAD = 1.2, 0.10, 3.0


def load(out):
    runs = {}
    for f in sorted(glob.glob(os.path.join(out, "runs", "*.json"))):
        if f.endswith(".disturbed.json"):
            continue
        r = json.load(open(f))
        runs.setdefault(r["scenario"], []).append(r)
    return runs


def parse(sc):
    """l3fwd_v4_c1[_1m][_huge] -> (mem, fam, cores, app, big); devipdpoll is devipd with
    --idle poll (run.sh -S)"""
    m = re.match(r"(l3fwd|devipd|devipdpoll|skeleton)_(v4|v6)_[cw](\d)(_1m)?(_huge)?$", sc)
    app, fam, k, big, huge = m.groups()
    return ("huge" if huge else "nohuge"), fam, int(k), app, bool(big)


def paired(a, b, key="out_pps"):
    """a/b per repetition (runs of one repetition ran back to back): [ratios]"""
    bv = {r["rep"]: r[key] for r in b.runs if "error" not in r and r.get(key)}
    return [r[key] / bv[r["rep"]] for r in a.runs
            if "error" not in r and key in r and r["rep"] in bv]


def rcell(v, fmt="%.2f"):
    if not v:
        return "-"
    s = fmt % statistics.median(v)
    return s + (" [" + fmt % min(v) + "–" + fmt % max(v) + "]" if len(v) > 1 else "")


class Stat:
    def __init__(self, runs, key="out_pps", scale=1e-6):
        self.runs = runs
        ok = [r for r in runs if "error" not in r and key in r]
        self.v = [r[key] * scale for r in ok]
        self.n, self.failed = len(ok), sum(1 for r in runs if "error" in r)
        self.other = max([r.get("other_cpu", 0) for r in ok] or [0])
        self.cmd = runs[0].get("cmd", "") if runs else ""

    def __bool__(self):
        return self.n > 0

    @property
    def med(self):
        return statistics.median(self.v) if self.v else float("nan")

    def cell(self, fmt="%.2f"):
        if not self.v:
            return "failed" if self.failed else "-"
        s = fmt % self.med
        if self.n > 1:
            s += " [" + fmt % min(self.v) + "–" + fmt % max(self.v) + "]"
        return s + (" (%d failed)" % self.failed if self.failed else "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--routes", type=int, default=1000000)
    ap.add_argument("--meta", default="")
    ap.add_argument("--command", default="perf/run.sh")
    a = ap.parse_args()
    runs = load(a.out)
    if not runs:
        sys.exit("report: no runs in %s/runs" % a.out)
    by = {}
    for sc, rs in runs.items():
        by[parse(sc)] = (sc, rs)
    mems = sorted({k[0] for k in by}, key=["nohuge", "huge"].index)
    memname = {"nohuge": "--no-huge", "huge": "2 MiB hugepages"}
    rt = "%s routes" % ("1 M" if a.routes == 1000000 else "{:,}".format(a.routes))

    def get(mem, fam, k, app, big=False, key="out_pps", scale=1e-6):
        e = by.get((mem, fam, k, app, big))
        return Stat(e[1], key, scale) if e else Stat([], key, scale)

    lines, rows, plot = [], [], []
    lines.append("| memory | traffic | cores | l3fwd Mpps | devipd Mpps | devipd / l3fwd |")
    lines.append("| --- | --- | --- | --- | --- | --- |")
    for mem in mems:
        for k in sorted({key[2] for key in by if key[0] == mem}):
            for fam in ("v4", "v6"):
                l3, dv = get(mem, fam, k, "l3fwd"), get(mem, fam, k, "devipd")
                if not l3.runs and not dv.runs:
                    continue
                pr = paired(dv, l3) if l3 and dv else []
                ratio = statistics.median(pr) if pr else float("nan")
                lines.append("| %s | IPv%s 64 B | %d | %s | %s | %s |" % (
                    memname[mem], fam[1], k, l3.cell(), dv.cell(), rcell(pr)))
                rows.append((mem, fam, k, l3, dv, ratio))
                plot.append(("%sIPv%s\n%d core%s" % ("" if mem == "nohuge" else "huge\n", fam[1], k,
                                                      "s" if k > 1 else ""), l3, dv))
    ceil = []  # the skeleton example: the ports alone, per memory mode
    for mem in mems:
        sk = get(mem, "v4", 1, "skeleton")
        if not sk:
            continue
        l3, dv = get(mem, "v4", 1, "l3fwd"), get(mem, "v4", 1, "devipd")
        ceil.append("* %s: DPDK's skeleton (rx → tx, no header work) %s Mpps; per packet, "
                    "the ports cost %.1f ns, l3fwd adds %.1f ns of its own, devipd %.1f ns "
                    "(IPv4, 1 core, medians)" % (
                        memname[mem], sk.cell(), 1e3 / sk.med,
                        1e3 / l3.med - 1e3 / sk.med if l3 else float("nan"),
                        1e3 / dv.med - 1e3 / sk.med if dv else float("nan")))
    big = []
    lines2 = ["| memory | workers | devipd 1 route Mpps | devipd %s Mpps | rate lost | "
              "load, `ipctl write -p` (s) | load, `ipctl write` (s) |" % rt,
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for mem in mems:
        for k in sorted({key[2] for key in by if key[0] == mem and key[4]}):
            one, m = get(mem, "v4", k, "devipd"), get(mem, "v4", k, "devipd", True)
            ld = get(mem, "v4", k, "devipd", True, "load_s", 1)
            lds = get(mem, "v4", k, "devipd", True, "load_seq_s", 1)
            pl = [1 - x for x in paired(m, one)] if one and m else []
            loss = statistics.median(pl) if pl else float("nan")
            lines2.append("| %s | %d | %s | %s | %s | %s | %s |" % (
                memname[mem], k, one.cell(), m.cell(),
                rcell([100 * x for x in pl], "%.1f %%") if pl else "-", ld.cell(), lds.cell()))
            big.append((mem, k, one, m, loss, ld, lds))

    idle = []  # run.sh -S: devipd (idle workers sleep) against devipd --idle poll
    for mem in mems:
        for k in sorted({key[2] for key in by if key[0] == mem}):
            for fam in ("v4", "v6"):
                dv, dp = get(mem, fam, k, "devipd"), get(mem, fam, k, "devipdpoll")
                if not dp.runs:
                    continue
                pr = paired(dv, dp) if dv and dp else []
                idle.append("| %s | IPv%s 64 B | %d | %s | %s | %s |" % (
                    memname[mem], fam[1], k, dv.cell(), dp.cell(), rcell(pr)))
    if idle:
        idle[0:0] = ["| memory | traffic | workers | devipd Mpps | devipd --idle poll Mpps | "
                     "sleep / poll |", "| --- | --- | --- | --- | --- | --- |"]

    def verdict(ok):
        return "met" if ok else "**not met**"
    tg = []
    for mem, fam, k, l3, dv, ratio in rows:
        if ratio == ratio:
            tg.append("* devipd ≥ %.1f× l3fwd, IPv%s, %d core%s, %s: %.2f× — %s" % (
                TARGET_RATIO, fam[1], k, "s" if k > 1 else "", memname[mem], ratio,
                verdict(ratio >= TARGET_RATIO)))
        elif l3 and not dv:
            tg.append("* devipd ≥ %.1f× l3fwd, IPv%s, %d core%s, %s: devipd failed — %s" % (
                TARGET_RATIO, fam[1], k, "s" if k > 1 else "", memname[mem], verdict(False)))
    for mem, k, one, m, loss, ld, lds in big:
        if loss == loss:
            tg.append("* ≤ %d %% of the rate lost with %s, %d worker%s, %s: %.1f %% — %s" % (
                100 * TARGET_LOSS, rt, k, "s" if k > 1 else "", memname[mem], 100 * loss,
                verdict(loss <= TARGET_LOSS)))
        for st, how in ((ld, "ipctl write -p"), (lds, "ipctl write")):
            if st:
                tg.append("* %s loaded in ≤ %.0f s (%s, %d worker%s, %s): %.2f s — %s" % (
                    rt, TARGET_LOAD, how, k, "s" if k > 1 else "", memname[mem], st.med,
                    verdict(st.med <= TARGET_LOAD)))

    disturbed = sorted(os.path.basename(f) for f in glob.glob(
        os.path.join(a.out, "runs", "*.disturbed.json")))
    maxother = max((r.get("other_cpu", 0) for rs in runs.values() for r in rs), default=0)
    cpu = ""
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                   if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    nrep = max(len(rs) for rs in runs.values())
    cmds = {}
    for sc, rs in sorted(runs.items()):
        cmds.setdefault(sc.split("_")[0], []).append((sc, rs[0].get("cmd", "")))

    md = ["# devip forwarding benchmark", "",
          "Generated by `perf/report.py` from a `perf/run.sh` run (how to run it, the method "
          "and what the numbers mean: [docs/perf.md](../docs/perf.md)).", "",
          "* when: %s; %s" % (time.strftime("%Y-%m-%d %H:%M %Z"), a.meta),
          "* machine: %s, %d CPUs, %s" % (cpu, os.cpu_count(), platform.release()),
          "* command: `%s` (%d interleaved repetitions; median [min–max]; ratios and "
          "losses are taken per repetition, between runs made back to back, then their "
          "median)" % (a.command, nrep),
          "* traffic: 1024 distinct 64-byte frames (60 B + FCS) replayed by `net_pcap` "
          "`infinite_rx` on port 0; forwarded to `net_null` (drop) on port 1; rate = packets "
          "sent on port 1 per second, read from DPDK telemetry",
          "* other processes used at most %.2f CPUs during a measured window%s" % (
              maxother, "; redone because of other load: " + ", ".join(disturbed)
              if disturbed else ""), "",
          "## devipd against l3fwd", ""] + lines + [
          "", "\"1 core\": l3fwd `-l 1` (its main lcore forwards) against devipd `-l 0,1` "
          "(control thread on CPU 0, one worker on CPU 1). \"2 cores\": l3fwd `-l 0,1` "
          "against devipd `--lcores=0@0,1@1,2@0` (worker 2 shares CPU 0 with the control "
          "thread, which sleeps in epoll).", ""]
    if ceil:
        md += ["The ceiling of this setup, from the same run:", ""] + ceil + [""]
    if big:
        md += ["## devipd with %s (BGP-like prefix lengths)" % rt, ""] + lines2 + [
            "", "Loaded into a running devipd whose workers already poll (the ingress port is "
            "bound after the load), one write per route on one open fd of `/net/iproute`: "
            "`ipctl write -p` keeps many writes in flight, `ipctl write` waits for each "
            "answer. \"rate lost\" compares with the 1-route runs of the same repetitions.",
            ""]
    if idle:
        md += ["## Idle sleeping on and off", ""] + idle + [
            "", "The same binary with idle workers sleeping (the default) and with "
            "`--idle poll`; under full load a worker never finds itself idle, so the rates "
            "should agree within the noise.", ""]
    md += ["## Targets", ""] + (tg or ["* no complete pair"]) + ["", "## Command lines", ""]
    for app, lst in cmds.items():
        for sc, c in lst:
            md.append("* `%s`: `%s`" % (sc, c))
    md.append("")
    if plot_png(a.out, plot, big, rt):
        md[4:4] = ["![results](results.png)", ""]
    open(os.path.join(a.out, "RESULTS.md"), "w").write("\n".join(md) + "\n")
    print("\n".join(lines))
    if ceil:
        print("\n".join(ceil))
    if big:
        print()
        print("\n".join(lines2))
    if idle:
        print()
        print("\n".join(idle))
    print()
    print("\n".join(tg))
    print("\nwrote %s/RESULTS.md" % a.out)


def plot_png(out, groups, big, rt):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("report: no matplotlib (apt-get install python3-matplotlib): no plot",
              file=sys.stderr)
        return False
    ncol = 2 if big else 1
    fig, axes = plt.subplots(1, ncol, figsize=(11 if big else 7, 4.2),
                             gridspec_kw={"width_ratios": [max(1, len(groups)), 1.3 * len(big)]
                                          if big else [1]})
    axes = axes if big else [axes]
    ax = axes[0]
    w = 0.38
    for i, (label, l3, dv) in enumerate(groups):
        for j, (st, color, name) in enumerate(((l3, "#9aa5b1", "l3fwd"), (dv, "#1f77b4", "devipd"))):
            if not st:
                continue
            x = i + (j - 0.5) * w
            err = [[st.med - min(st.v)], [max(st.v) - st.med]]
            ax.bar(x, st.med, w, color=color, yerr=err, capsize=3,
                   label=name if i == 0 else None)
        pr = paired(dv, l3) if l3 and dv else []
        if pr:
            ax.text(i, max(l3.med, dv.med) * 1.04, "%.2f×" % statistics.median(pr)
                    if dv.med > 0.01 else "devipd:\nnot forwarded", ha="center", fontsize=8)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([g[0] for g in groups], fontsize=8)
    ax.set_ylabel("Mpps (64-byte frames)")
    ax.set_title("forwarding rate, net_pcap → net_null")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.25)
    if big:
        ax = axes[1]
        labels = []
        for i, (mem, k, one, m, loss, ld, lds) in enumerate(big):
            for j, (st, color, name) in enumerate(((one, "#1f77b4", "1 route"),
                                                   (m, "#ff7f0e", rt))):
                if st:
                    ax.bar(i + (j - 0.5) * w, st.med, w, color=color,
                           yerr=[[st.med - min(st.v)], [max(st.v) - st.med]], capsize=3,
                           label=name if i == 0 else None)
            txt = []
            if loss == loss:
                txt.append("rate %+.1f %%" % (-100 * loss))
            if ld or lds:
                txt.append("load %.2f s" % (ld or lds).med)
            top = max([s.med for s in (one, m) if s] or [0])
            ax.text(i, top * 1.04, "\n".join(txt), ha="center", fontsize=8)
            labels.append("%s%d worker%s" % ("huge " if mem == "huge" else "", k,
                                             "s" if k > 1 else ""))
        ax.set_xticks(range(len(big)))
        ax.set_xticklabels(labels, fontsize=8)
        ax.set_title("devipd IPv4, %s" % rt)
        ax.legend(loc="lower right", fontsize=8)
        ax.set_ylim(0, ax.get_ylim()[1] * 1.25)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "results.png"), dpi=110)
    return True


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""perf/ipsec.sh's report: RESULTS.md on stdout from results.jsonl, and results-ipsec.svg
beside the jsonl file when matplotlib is there.  Usage: ipsec_report.py RESULTS.jsonl CPU"""
import json
import os
import statistics
import sys
from collections import defaultdict

path, cpu = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in open(path) if l.strip()]
raw = defaultdict(list)     # (alg, size, dir) -> [(engine, raw)]
tun = defaultdict(list)     # (kind, alg, size, dir) -> [gbps]
pps = defaultdict(list)
for r in rows:
    if r["kind"] == "raw":
        raw[(r["alg"], r["size"], r["dir"])].append((r["engine"], r["raw"]))
    else:
        tun[(r["kind"], r["alg"], r["size"], r["dir"])].append(r["gbps"])
        pps[(r["kind"], r["alg"], r["size"], r["dir"])].append(r["pps"])
med = statistics.median
algs = list(dict.fromkeys(k[0] for k in raw)) or list(dict.fromkeys(k[1] for k in tun))
sizes = ["64", "512", "1400", "imix"]

print("# ESP tunnel benchmark (perf/ipsec.sh)\n")
print("One run on %s, %d CPUs, `--no-huge`; single runs on a noisy VM: compare the ratios "
      "within this file, not figures across runs. Gbit/s of plaintext (inner packet "
      "bytes); IMIX = 7:4:1 of 64, 576 and 1400-byte inner packets.\n" % (cpu, os.cpu_count()))
if raw:
    print("## crypto::Engine against raw ipsec-mb, one core, same buffers\n")
    print("| algorithm | size | dir | engine Gbit/s | raw ipsec-mb Gbit/s | engine/raw |")
    print("|---|---|---|---:|---:|---:|")
    for a in algs:
        for s in sizes:
            for d in ("encrypt", "decrypt"):
                v = raw.get((a, s, d))
                if v:
                    e, r = med(x[0] for x in v), med(x[1] for x in v)
                    print("| %s | %s | %s | %.2f | %.2f | %.2f |" % (a, s, d, e, r, e / r))
    print()
kinds = sorted({k[0] for k in tun})
if tun:
    print("## Tunnel on ports: devipd against ipsec-secgw, one forwarding core\n")
    print("net_pcap infinite rx on port 0, net_null on port 1; Mpps out of port 1.\n")
    hdr = "| algorithm | size | dir |"
    for k in kinds:
        hdr += " %s Mpps | %s Gbit/s |" % (k, k)
    if "devipd" in kinds and "secgw" in kinds:
        hdr += " devipd/secgw |"
    if "devipd" in kinds:
        hdr += " devipd/raw ipsec-mb |"
    print(hdr)
    print("|---|---|---|" + "---:|" * (hdr.count("|") - 4))
    for a in algs:
        for s in sizes:
            for d in ("encrypt", "decrypt"):
                line = "| %s | %s | %s |" % (a, s, d)
                got = {}
                for k in kinds:
                    v = tun.get((k, a, s, d))
                    if v:
                        got[k] = med(v)
                        line += " %.3f | %.2f |" % (med(pps[(k, a, s, d)]) / 1e6, got[k])
                    else:
                        line += " – | – |"
                if not got:
                    continue
                if "devipd" in kinds and "secgw" in kinds:
                    line += (" %.2f |" % (got["devipd"] / got["secgw"])
                             if got.get("devipd") and got.get("secgw") else " – |")
                if "devipd" in kinds:
                    rv = raw.get((a, s, d))
                    line += (" %.2f |" % (got["devipd"] / med(x[1] for x in rv))
                             if rv and got.get("devipd") else " – |")
                print(line)
    print()

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit(0)
series = [("raw ipsec-mb", lambda a, d: med(x[1] for x in raw[(a, "1400", d)])
           if raw.get((a, "1400", d)) else 0),
          ("crypto::Engine", lambda a, d: med(x[0] for x in raw[(a, "1400", d)])
           if raw.get((a, "1400", d)) else 0)]
for k in kinds:
    series.append((k, lambda a, d, k=k: med(tun[(k, a, "1400", d)])
                   if tun.get((k, a, "1400", d)) else 0))
fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
for ax, d in zip(axes, ("encrypt", "decrypt")):
    w = 0.8 / len(series)
    for i, (name, f) in enumerate(series):
        ax.bar([j + i * w for j in range(len(algs))], [f(a, d) for a in algs], w, label=name)
    ax.set_xticks([j + 0.4 - w / 2 for j in range(len(algs))])
    ax.set_xticklabels([a.replace("+", "+\n") for a in algs], fontsize=7)
    ax.set_title("%s, 1400-byte inner packets, one core" % d)
    ax.set_ylabel("Gbit/s of plaintext")
axes[0].legend(fontsize=7)
fig.tight_layout()
fig.savefig(os.path.join(os.path.dirname(path), "results-ipsec.svg"))

#!/usr/bin/python3
"""Bar chart (SVG, no plotting library) of perf/tcp.sh's table: devip against Linux, as the
ratio devip / Linux per row (1.0 = the same; for round trips lower is better).
Usage: perf/tcp.sh | tee out.txt; perf/tcp_plot.py out.txt perf/results-tcp.svg"""
import re
import sys

rows = []
for line in open(sys.argv[1]):
    m = re.match(r"^(.+?)\s{2,}([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*$", line)
    if m:
        rows.append((m.group(1).strip(), float(m.group(2)), float(m.group(3)), float(m.group(4))))
w, bar, gap, left = 900, 26, 12, 330
h = 60 + len(rows) * (bar + gap)
top = max([r[3] for r in rows] + [1.0])
scale = (w - left - 80) / max(top, 1.0)
out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
       'font-size="13">' % (w, h),
       '<text x="10" y="22" font-size="15">devip / Linux over veth (perf/tcp.sh, one run)</text>']
x1 = left + scale
out.append('<line x1="%.0f" y1="35" x2="%.0f" y2="%d" stroke="#888" stroke-dasharray="4"/>'
           % (x1, x1, h - 10))
out.append('<text x="%.0f" y="%d" fill="#888">1.0</text>' % (x1 + 3, h - 12))
for i, (name, d, l, r) in enumerate(rows):
    y = 45 + i * (bar + gap)
    lower_better = "round trip" in name or "rtt" in name
    good = r <= 1.0 if lower_better else r >= 1.0
    out.append('<text x="10" y="%d">%s</text>' % (y + bar - 8, name))
    out.append('<rect x="%d" y="%d" width="%.0f" height="%d" fill="%s"/>'
               % (left, y, max(r * scale, 1), bar, "#4a8" if good else "#c64"))
    out.append('<text x="%.0f" y="%d">%.2f (%g / %g)</text>' % (left + r * scale + 5, y + bar - 8,
                                                            r, d, l))
out.append("</svg>")
open(sys.argv[2], "w").write("\n".join(out) + "\n")

#!/usr/bin/env bash
# Route-load benchmark of the control path: a BGP-sized table written to /net/iproute with
# `ipctl write -p` (one 9P write per route, pipelined, on one fd), then read back, deleted,
# reloaded and flushed. Forwarding is off unless -f, so no FIB is made and what is measured
# is ipctl, the 9P codec and server, the tree, the ctl parsers and the routing table.
#
#   perf/load.sh [-n REPS] [-R ROUTES] [-f] [-O "OPS"] [-N NICE] [-o OUT] [BUILD...]
#
#   -n  interleaved repetitions (default 3): repetition 1 of every build, then 2, ...
#   -R  routes in the table (default 1000000), made by perf/gen.py routes
#   -f  forwarding on (iprouting 1, a FIB sized for the table; needs -m 2048 of EAL memory)
#   -O  what follows the load, in order (default "cat del load flush load"):
#       cat = read /net/iproute to a file, del = delete every route with write -p,
#       load = the table again, flush = one flush write
#   -N  nice value of devipd and ipctl (default -15, as perf/run.sh)
#   -o  output directory (default /tmp/devip-load): the table, logs, the text read back
#   BUILD  devip build directories to compare (default build/)
#
# Per run: wall seconds of each step; CPU seconds of devipd's control thread (the worker
# busy-polls its own CPU and is not counted) and of ipctl; devipd's peak RSS after the first
# load. Devipd runs on two net_null vdevs (ether1 bound to 198.19.0.1/24, a static ARP
# entry for the gateways' first address) with -l 0,1 --no-huge -m 2048. Needs root. Everything
# started here is stopped by PID; DPDK runtime directories are removed.
set -uo pipefail

P=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$P/.." && pwd)
REPS=3 ROUTES=1000000 FWD=0 OPS="cat del load flush load" NICE=-15 OUT=/tmp/devip-load
while getopts "n:R:fO:N:o:h" o; do
    case $o in
    n) REPS=$OPTARG ;; R) ROUTES=$OPTARG ;; f) FWD=1 ;; O) OPS=$OPTARG ;; N) NICE=$OPTARG ;;
    o) OUT=$OPTARG ;;
    *) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
BUILDS=("$@")
[ ${#BUILDS[@]} -gt 0 ] || BUILDS=("$REPO/build")
[ "$(id -u)" = 0 ] || { echo "load.sh: needs root (DPDK vdevs)" >&2; exit 1; }
mkdir -p "$OUT"
OUT=$(readlink -f "$OUT")
PREFIX=dvp_load_$$
SOCK=$OUT/$PREFIX.sock

APP=
cleanup() {
    if [ -n "$APP" ]; then
        kill "$APP" 2>/dev/null
        wait "$APP" 2>/dev/null
        APP=
    fi
    rm -rf "/var/run/dpdk/$PREFIX" "$SOCK"
}
trap 'cleanup; exit 130' INT TERM
trap cleanup EXIT

TABLE=$OUT/routes$ROUTES.txt
[ -s "$TABLE" ] || /usr/bin/python3 "$P/gen.py" routes "$TABLE" "$ROUTES" >/dev/null || exit 1
sed 's/^add/del/' "$TABLE" >"$OUT/del$ROUTES.txt"
CONF=$OUT/load.conf
{
    echo "/net/ipifc/clone bind ether /net/ether1"
    echo "/net/ipifc/0/ctl add 198.19.0.1 255.255.255.0"
    [ "$FWD" = 1 ] && echo "/net/ipifc/0/ctl iprouting 1"
    echo "/net/arp add ether 198.19.0.2 02:00:00:00:00:02 198.19.0.1"
} >"$CONF"
FIBARGS=()
[ "$FWD" = 1 ] && FIBARGS=(--fib-routes $((ROUTES + 65536)))

# CPU seconds (user + system) of thread $1 of process $1: the control thread
ctlcpu() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$1/task/$1/stat"; }
now() { date +%s.%N; }
sub() { echo "$1 - $2" | bc | awk '{printf "%.2f", $1}'; }

# Runs ipctl with its input from $1 (or none), timed: prints "wall ctlcpu ipctlcpu".
step() {
    local in=$1 b=$2; shift 2
    local t0 c0 t1 c1
    t0=$(now); c0=$(ctlcpu "$APP")
    nice -n "$NICE" /usr/bin/time -o "$OUT/time" -f "%U %S" "$b/control/ipctl" -s "$SOCK" "$@" \
        <"$in" >"$OUT/out" 2>>"$OUT/ipctl.log" || echo "load.sh: ipctl $* failed" >&2
    t1=$(now); c1=$(ctlcpu "$APP")
    echo "$(sub "$t1" "$t0") $(sub "$c1" "$c0") $(awk '{printf "%.2f", $1 + $2}' "$OUT/time")"
}

run() {
    local b=$1 line w
    rm -f "$SOCK"
    nice -n "$NICE" "$b/control/devipd" -l 0,1 --no-huge -m 2048 --no-pci --file-prefix "$PREFIX" \
        --vdev net_null0,no-rx=1 --vdev net_null1,no-rx=1 -- --socket "$SOCK" --config "$CONF" \
        "${FIBARGS[@]}" >"$OUT/devipd.log" 2>&1 &
    APP=$!
    for _ in $(seq 300); do [ -S "$SOCK" ] && break; sleep 0.1; done
    [ -S "$SOCK" ] || { echo "load.sh: devipd did not start (see $OUT/devipd.log)" >&2; cleanup; return 1; }
    line="load $(step "$TABLE" "$b" write -p /net/iproute)"
    line+=" rss $(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$APP/status")MB"
    for op in $OPS; do
        case $op in
        cat) w=$(step /dev/null "$b" cat /net/iproute); cp "$OUT/out" "$OUT/iproute.txt" ;;
        del) w=$(step "$OUT/del$ROUTES.txt" "$b" write -p /net/iproute) ;;
        load) w=$(step "$TABLE" "$b" write -p /net/iproute) ;;
        flush) w=$(step /dev/null "$b" write /net/iproute flush) ;;
        *) echo "load.sh: unknown step $op" >&2; w="- - -" ;;
        esac
        line+=" | $op $w"
    done
    cleanup
    echo "$line"
}

echo "# $ROUTES routes, forwarding $([ "$FWD" = 1 ] && echo on || echo off); each step: wall s," \
     "control thread CPU s, ipctl CPU s"
for r in $(seq "$REPS"); do
    for b in "${BUILDS[@]}"; do
        echo "$b rep $r: $(run "$b")"
    done
done | tee "$OUT/results.txt"

# medians per build and column
/usr/bin/python3 - "$OUT/results.txt" <<'EOF'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    if line.startswith("#"):
        continue
    build, rest = line.split(" rep ", 1)
    steps = [s.split() for s in rest.split(":", 1)[1].split("|")]
    rows.setdefault(build, []).append(steps)
for build, runs in rows.items():
    out = []
    for i, step in enumerate(runs[0]):
        cols = [[float(x) for x in r[i][1:4]] for r in runs]
        med = [statistics.median(c) for c in zip(*cols)]
        out.append("%s %.2f/%.2f/%.2f" % (step[0], *med))
    rss = statistics.median(float(re.sub("MB", "", r[0][5])) for r in runs)
    print("median %s: %s, rss %.0f MB" % (build, " | ".join(out), rss))
EOF

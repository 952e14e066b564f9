#!/usr/bin/env bash
# Side-by-side forwarding benchmark: devipd against DPDK's l3fwd (built from Debian's
# dpdk-doc examples), same machine, same run, same lcores, same EAL memory mode.
#
#   perf/run.sh [-n REPS] [-d SECONDS] [-w SECONDS] [-m nohuge|huge|both] [-M MB]
#               [-W "1 2"] [-R ROUTES] [-L pipe|seq|both] [-s SCENARIOS] [-b BUILD] [-o OUT]
#               [-N NICE] [-P] [-S]
#
#   -n  interleaved repetitions of every scenario (default 3)
#   -d  measured seconds per run (default 5), after -w seconds of warm-up (default 2)
#   -m  EAL memory: nohuge (default), huge (2 MiB pages reserved by perf/hugepages.sh for
#       the run and released after), or both
#   -M  EAL memory size in MB for both programs (default 2048: devipd's FIB sized for the
#       big table takes about 1 KB a route)
#   -W  forwarding core counts (default "1 2")
#   -R  routes of the big-table scenario (default 1000000; 0 skips it)
#   -L  how the routes are written to /net/iproute, always one write per route on one fd:
#       pipe = ipctl write -p (writes pipelined; default), seq = ipctl write (each write
#       answered before the next), both = seq, flush, then pipe (both timed)
#   -s  only these scenarios (names as printed, without the _huge suffix, e.g.
#       "l3fwd_v4_c1 devipd_v4_w1")
#   -b  devip build directory (default build/, built with scripts/build.sh if missing)
#   -o  output directory (default /tmp/devip-perf): inputs, logs, one JSON per run,
#       RESULTS.md and results.png
#   -N  nice value of the measured programs (default -15: both sides keep their CPU
#       against background load; 0 to turn off)
#   -P  publish: copy RESULTS.md and results.png into perf/ of the repository
#   -S  also run every devipd scenario with --idle poll (devipdpoll_*): the forwarding
#       rate with idle sleeping off, interleaved with the same binary's default
# Environment: PERF_NOTE (a word on devipd's state for RESULTS.md), DEVIP_VERSION,
# MAX_OTHER (a run during which other processes used more CPUs than this, default 1.0,
# is redone once).
#
# Input: port 0 = net_pcap infinite rx of 1024 64-byte frames (IPv4 or IPv6; one rx
# queue, i.e. one rx_pcap, per forwarding core), port 1 = net_null drop sink.
# skeleton_v4_c1 is DPDK's skeleton example on the same ports: forwarding with no work at
# all, the ceiling of the setup. Core assignment (2 CPUs here): l3fwd opens one tx queue per lcore, so "1 core" is
# l3fwd -l 1 (main = forwarding lcore on CPU 1) against devipd -l 0,1 (control thread on
# CPU 0, worker on CPU 1); "2 cores" is l3fwd -l 0,1 (forwarding on both) against devipd
# --lcores 0@0,1@1,2@0 (control thread and worker 2 share CPU 0). EAL's service threads
# and the sampler run on CPU 0 in every case. Needs root. Everything started here is
# stopped by PID on exit.
set -uo pipefail

P=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$P/.." && pwd)
REPS=3 DUR=5 WARM=2 MEMMODE=nohuge MEMMB=2048 CORES="1 2" ROUTES=1000000 ONLY="" LOADMODE=pipe
BUILD=$REPO/build OUT=/tmp/devip-perf NICE=-15 PUBLISH=0 POLLTOO=0
# other processes' CPU use (in cores) during a window above which the run is redone once:
# meant for bursts (someone's compile), not for the steady load of a shared machine
MAX_OTHER=${MAX_OTHER:-1.0}
while getopts "n:d:w:m:M:W:R:L:s:b:o:N:PSh" o; do
    case $o in
    n) REPS=$OPTARG ;; d) DUR=$OPTARG ;; w) WARM=$OPTARG ;; m) MEMMODE=$OPTARG ;;
    M) MEMMB=$OPTARG ;; W) CORES=$OPTARG ;; R) ROUTES=$OPTARG ;; L) LOADMODE=$OPTARG ;;
    s) ONLY=$OPTARG ;;
    b) BUILD=$(readlink -f "$OPTARG") ;; o) OUT=$OPTARG ;; N) NICE=$OPTARG ;; P) PUBLISH=1 ;;
    S) POLLTOO=1 ;;
    *) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (DPDK vdevs, telemetry, hugepages)" >&2; exit 1; }
case $MEMMODE in nohuge | huge | both) ;; *) echo "run.sh: -m nohuge|huge|both" >&2; exit 2 ;; esac
# Our hugetlbfs mount must stay ours: DPDK programs started meanwhile by others (devipd
# picks hugepages whenever a hugetlbfs is mounted) would take the pages. So with -m
# huge|both the whole run goes into a private mount namespace.
if [ "$MEMMODE" != nohuge ] && [ -z "${PERF_PRIVATE_MNT:-}" ]; then
    PERF_PRIVATE_MNT=1 exec unshare --mount --propagation private bash "$0" "$@"
fi
mkdir -p "$OUT/runs"
OUT=$(readlink -f "$OUT")
PY=/usr/bin/python3  # Debian's, for python3-matplotlib
LOG=$OUT/run.log
log() { echo "[$(date +%T)] $*" | tee -a "$LOG" >&2; }

# ---- cleanup: every process we start is in PIDS; hugepages only if we reserved them ----
PIDS=()
HUGE_ON=0
cleanup() {
    local i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}"; done  # newest first
    PIDS=()
    rm -rf /var/run/dpdk/dvp_*_$$ "$OUT"/dvp_*_$$.sock
    if [ "$HUGE_ON" = 1 ]; then "$P/hugepages.sh" off "$OUT/huge" >>"$LOG" 2>&1; HUGE_ON=0; fi
}
stop_pid() {
    local pid=$1
    kill -0 "$pid" 2>/dev/null || { { wait "$pid"; } 2>/dev/null; return 0; }
    kill -INT "$pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        log "  pid $pid ignored SIGINT for 10 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null
    fi
    local rc
    { wait "$pid"; } 2>/dev/null
    rc=$?
    # 130: SIGINT's own status; 0: clean exit
    [ $rc = 0 ] || [ $rc = 130 ] || log "  pid $pid exited with status $rc$([ $rc -gt 128 ] && echo " (signal $((rc - 128)))")"
    return 0
}
forget() { local keep=() p; for p in "${PIDS[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done; PIDS=("${keep[@]}"); }
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- prerequisites ----------------------------------------------------------------------
need_pkg() {  # package, file it provides
    [ -e "$2" ] && return 0
    log "installing $1"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >>"$LOG" 2>&1 ||
        { apt-get update -qq >>"$LOG" 2>&1 &&
          DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >>"$LOG" 2>&1; }
}
need_pkg dpdk-doc /usr/share/dpdk/examples/l3fwd/main.c || exit 1
need_pkg python3-matplotlib /usr/lib/python3/dist-packages/matplotlib/__init__.py ||
    log "no matplotlib: the plot will be skipped"
need_pkg tshark /usr/bin/tshark || true
[ -x "$BUILD/control/devipd" ] || bash "$REPO/scripts/build.sh" "$BUILD" >>"$LOG" 2>&1 ||
    { echo "run.sh: cannot build devip in $BUILD (see $LOG)" >&2; exit 1; }
DEVIPD=$BUILD/control/devipd
IPCTL=$BUILD/control/ipctl
# which devip: DEVIP_VERSION, else the build's source tree (a git checkout, or an export
# with the commit in .commit)
SRC=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["directories"]["source"])' \
    "$BUILD/meson-info/meson-info.json" 2>/dev/null || echo "$REPO")
VERSION=${DEVIP_VERSION:-$(cat "$SRC/.commit" 2>/dev/null ||
    git -C "$SRC" describe --always --dirty 2>/dev/null || echo unknown)}
if [ "$LOADMODE" != seq ] && ! "$IPCTL" write --help 2>&1 | grep -q -- '-p'; then
    log "this ipctl has no write -p: routes are loaded with plain ipctl write"
    LOADMODE=seq
fi
# every devipd run gets a FIB sized for the big table, so that the 1-route and the
# big-table runs differ only in their routes
FIBARG=""
if "$DEVIPD" --help 2>&1 | grep -q -- --fib-routes; then
    FIBARG="--fib-routes $((ROUTES > 0 ? ROUTES + 65536 : 65536))"
fi
SUBJECT=$(git -C "$REPO" log -1 --format=%s "${VERSION%-dirty}" 2>/dev/null | cut -c1-90)

# l3fwd from the examples, unchanged but for one thing: it asks every port for Rx checksum
# offload, which net_pcap and net_null lack, and exits; we mask the request with what the
# port offers (the same two statements perf-baseline patched).
L3SRC=$OUT/l3fwd-src
L3FWD=$L3SRC/l3fwd/build/l3fwd
if [ ! -x "$L3FWD" ]; then
    log "building l3fwd from /usr/share/dpdk/examples into $L3SRC"
    rm -rf "$L3SRC" && mkdir -p "$L3SRC"
    cp -r /usr/share/dpdk/examples/common /usr/share/dpdk/examples/l3fwd "$L3SRC/"
    $PY - "$L3SRC/l3fwd/main.c" <<'EOF' || exit 1
import sys
p = sys.argv[1]
s = open(p).read()
a = "local_port_conf.rx_adv_conf.rss_conf.rss_hf &=\n\t\t\tdev_info.flow_type_rss_offloads;\n"
b = "rxq_conf.offloads = port_conf.rxmode.offloads;"
assert s.count(a) == 1 and s.count(b) == 1, "l3fwd main.c is not the expected 22.11 source"
s = s.replace(a, a + "\t\t/* devip perf: only the Rx offloads the port has */\n"
              "\t\tlocal_port_conf.rxmode.offloads &= dev_info.rx_offload_capa;\n")
s = s.replace(b, "rxq_conf.offloads = port_conf.rxmode.offloads & dev_info.rx_offload_capa;")
open(p, "w").write(s)
EOF
    make -C "$L3SRC/l3fwd" shared >>"$LOG" 2>&1 || { echo "run.sh: l3fwd build failed (see $LOG)" >&2; exit 1; }
fi
# DPDK's skeleton example (basicfwd: port 0's bursts out of port 1, untouched) is the ceiling
# of this setup: what the ports cost with no forwarding work at all.
SKSRC=$OUT/skeleton-src
SKEL=$SKSRC/skeleton/build/basicfwd
if [ ! -x "$SKEL" ]; then
    rm -rf "$SKSRC" && mkdir -p "$SKSRC"
    cp -r /usr/share/dpdk/examples/skeleton "$SKSRC/"
    make -C "$SKSRC/skeleton" shared >>"$LOG" 2>&1 || { echo "run.sh: skeleton build failed (see $LOG)" >&2; exit 1; }
fi

# ---- inputs ------------------------------------------------------------------------------
IN=$OUT/inputs
mkdir -p "$IN"
RT=$IN/routes_$ROUTES.txt
if [ "$ROUTES" -gt 0 ] && [ ! -s "$RT" ]; then
    log "generating $ROUTES routes"
    $PY "$P/gen.py" routes "$RT.tmp" "$ROUTES" 2>>"$LOG" && mv "$RT.tmp" "$RT" || exit 1
fi
if [ ! -s "$IN/v4.pcap" ] || [ ! -s "$IN/v6.pcap" ]; then
    rarg=()
    [ "$ROUTES" -gt 0 ] && rarg=(--routes "$RT")
    $PY "$P/gen.py" pcap "$IN/v4.pcap" 4 "${rarg[@]}" 2>>"$LOG" &&
        $PY "$P/gen.py" pcap "$IN/v6.pcap" 6 2>>"$LOG" || exit 1
fi
# l3fwd rules: every test destination to port 1 (rte_lpm has no /0: two /1s), our own
# subnet to port 0
cat >"$IN/l3fwd_v4.rules" <<'EOF'
R0.0.0.0/1 1
R128.0.0.0/1 1
R198.18.0.0/24 0
EOF
cat >"$IN/l3fwd_v6.rules" <<'EOF'
R2001:0002:0000:0100:0000:0000:0000:0000/56 1
R2001:0002:0000:0000:0000:0000:0000:0000/64 0
EOF
# devipd: ether1 (the drop port) is configured at start; the ingress port ether0 is bound
# after the routes are in, so that a route load is timed while the workers only drop.
cat >"$IN/devipd_base.conf" <<'EOF'
/net/ipifc/clone bind ether /net/ether1
/net/ipifc/0/ctl add 198.19.0.1 255.255.255.0
/net/ipifc/0/ctl iprouting 1
/net/arp add ether 198.19.0.2 02:00:00:00:00:02 198.19.0.1
/net/arp add ether 198.19.0.3 02:00:00:00:00:03 198.19.0.1
/net/arp add ether 198.19.0.4 02:00:00:00:00:04 198.19.0.1
/net/arp add ether 198.19.0.5 02:00:00:00:00:05 198.19.0.1
EOF
echo "add 0.0.0.0 /0 198.19.0.2" >"$IN/devipd_route1.txt"
# IPv6 lines are applied one by one and may be refused (logged) while devipd has no IPv6;
# ether1's and the route before ether0 is bound (so IPv6 traffic finds its route from the
# first packet), ether0's address after
cat >"$IN/devipd_v6.txt" <<'EOF'
/net/ipifc/0/ctl add 2001:2:0:1::1 /64
/net/arp add ether 2001:2:0:1::2 02:00:00:00:00:02 2001:2:0:1::1
/net/iproute add 2001:2:0:100:: /56 2001:2:0:1::2
EOF
echo "/net/ipifc/1/ctl add 2001:2::1 /64" >"$IN/devipd_v6_ether0.txt"

NOHUGE_ARGS="--no-huge -m $MEMMB"
HUGE_ARGS="-m $MEMMB --huge-dir $OUT/huge --huge-unlink"

pcap_vdev() {  # family cores
    local f=$IN/v$1.pcap arg="net_pcap0" i
    for ((i = 0; i < $2; i++)); do arg+=",rx_pcap=$f"; done
    echo "$arg,infinite_rx=1"
}

# ---- one run ----------------------------------------------------------------------------
# scenario names: l3fwd_v4_c1, devipd_v6_w2, devipd_v4_w1_1m, skeleton_v4_c1 (+ _huge)
cmdline() {  # scenario prefix -> the command line (printed)
    local sc=$1 prefix=$2 mem=$NOHUGE_ARGS app fam n
    case $sc in *_huge) mem=$HUGE_ARGS; sc=${sc%_huge} ;; esac
    IFS=_ read -r app fam n _ <<<"$sc"
    local k=${n:1} vdevs="--vdev $(pcap_vdev "${fam:1}" "${n:1}") --vdev net_null0,no-rx=1"
    if [ "$app" = skeleton ]; then
        echo "$SKEL -l 1 $mem --no-pci --file-prefix $prefix $vdevs"
    elif [ "$app" = l3fwd ]; then
        local lc="-l 1" cfg="(0,0,1)"
        [ "$k" = 2 ] && lc="-l 0,1" cfg="(0,0,0),(0,1,1)"
        echo "$L3FWD $lc $mem --no-pci --file-prefix $prefix $vdevs --" \
            "-p 0x3 --config=$cfg --parse-ptype --lookup=lpm" \
            "--rule_ipv4=$IN/l3fwd_v4.rules --rule_ipv6=$IN/l3fwd_v6.rules"
    else
        local lc="-l 0,1" idle=""
        [ "$k" = 2 ] && lc="--lcores=0@0,1@1,2@0"
        [ "$app" = devipdpoll ] && idle=" --idle poll"
        echo "$DEVIPD $lc $mem --no-pci --file-prefix $prefix $vdevs --" \
            "--socket $OUT/$prefix.sock --config $IN/devipd_base.conf $FIBARG$idle"
    fi
}

IPC() { nice -n "$NICE" "$IPCTL" -s "$SOCK" "$@"; }  # as nice as devipd: its peer in a load

# Times one load of FILE into /net/iproute (MODE seq or pipe); prints the seconds.
timed_load() {  # mode file logfile
    local t0 t1 flag=()
    [ "$1" = pipe ] && flag=(-p)
    t0=$(date +%s.%N)
    IPC write "${flag[@]}" /net/iproute <"$2" >>"$3" 2>&1 || { echo "route load failed" >>"$3"; return 1; }
    t1=$(date +%s.%N)
    echo "$t0 $t1" | awk '{printf "%.3f", $2 - $1}'
}

# devipd after start: routes (timed), then the ingress interface. Prints "PIPE SEQ" load
# seconds of the big table (either may be "-").
devipd_setup() {  # scenario logfile
    local sc=$1 lf=$2 tp=- ts=-
    for _ in $(seq 300); do [ -S "$SOCK" ] && break; kill -0 "$APP" 2>/dev/null || return 1; sleep 0.1; done
    [ -S "$SOCK" ] || { echo "no socket" >>"$lf"; return 1; }
    if [[ $sc == *_1m* ]]; then
        if [ "$LOADMODE" != pipe ]; then
            ts=$(timed_load seq "$RT" "$lf") || return 1
            [ "$LOADMODE" = both ] && { IPC write /net/iproute flush >>"$lf" 2>&1 || return 1; }
        fi
        if [ "$LOADMODE" != seq ]; then tp=$(timed_load pipe "$RT" "$lf") || return 1; fi
    else
        IPC write /net/iproute <"$IN/devipd_route1.txt" >>"$lf" 2>&1 || return 1
    fi
    local path msg
    while read -r path msg; do
        IPC write "$path" "$msg" >>"$lf" 2>&1 || echo "devipd refused: $path $msg" >>"$lf"
    done <"$IN/devipd_v6.txt"
    IPC write /net/ipifc/clone bind ether /net/ether0 >>"$lf" 2>&1 &&
        IPC write /net/ipifc/1/ctl add 198.18.0.1 255.255.255.0 >>"$lf" 2>&1 || return 1
    while read -r path msg; do
        IPC write "$path" "$msg" >>"$lf" 2>&1 || echo "devipd refused: $path $msg" >>"$lf"
    done <"$IN/devipd_v6_ether0.txt"
    echo "$tp $ts"
}

run_one() {  # scenario rep -> 0 ok, 1 failed, 2 disturbed
    local sc=$1 rep=$2 prefix="dvp_${1}_$$" cmd lf json load=""
    lf=$OUT/runs/$sc.$rep.log
    json=$OUT/runs/$sc.$rep.json
    cmd=$(cmdline "$sc" "$prefix")
    SOCK=$OUT/$prefix.sock
    rm -f "$SOCK"
    log "$sc rep $rep: $cmd"
    echo "$cmd" >"$lf"
    # shellcheck disable=SC2086
    nice -n "$NICE" $cmd >>"$lf" 2>&1 </dev/null &
    APP=$!
    PIDS+=("$APP")
    if [[ $sc == devipd* ]]; then
        load=$(devipd_setup "$sc" "$lf") || {
            log "  devipd setup failed (see $lf)"
            stop_pid "$APP"
            forget "$APP"
            rm -rf "/var/run/dpdk/$prefix" "$SOCK"
            return 1
        }
        [[ $sc == *_1m* ]] && log "  $ROUTES routes loaded in $load s (ipctl write -p, ipctl write)"
    fi
    # in the background so that a signal to this script is handled at once
    taskset -c 0 $PY "$P/rate.py" "$prefix" --pid "$APP" --warmup "$WARM" --duration "$DUR" \
        --timeout 90 >"$json.tmp" &
    local sampler=$!
    PIDS+=("$sampler")
    wait "$sampler"
    forget "$sampler"
    if [[ $sc == devipd* ]] && kill -0 "$APP" 2>/dev/null; then
        { echo "--- /net/ether1/stats"; IPC cat /net/ether1/stats; echo "--- /net/ipifc/stats";
          IPC cat /net/ipifc/stats; } >>"$lf" 2>&1
    fi
    stop_pid "$APP"
    forget "$APP"
    rm -rf "/var/run/dpdk/$prefix" "$SOCK"
    $PY - "$json.tmp" "$json" "$sc" "$rep" "$cmd" "$load" "$MAX_OTHER" <<'EOF'
import json, sys
src, dst, sc, rep, cmd, load, max_other = sys.argv[1:]
try:
    r = json.load(open(src))
except ValueError:
    r = {"error": "sampler printed nothing"}
r.update(scenario=sc, rep=int(rep), cmd=cmd)
for key, v in zip(("load_s", "load_seq_s"), load.split()):
    if v != "-":
        r[key] = float(v)
json.dump(r, open(dst, "w"))
if "error" in r:
    print("  FAILED:", r["error"], file=sys.stderr)
    sys.exit(1)
print("  %.3f Mpps out (in %.3f)  1s %s  cpu %s  other %.2f cores %s" % (
    r["out_pps"] / 1e6, r["in_pps"] / 1e6, [round(x / 1e6, 2) for x in r["out_pps_1s"]],
    r["cpu"], r["other_cpu"], r["other_top"][:2]), file=sys.stderr)
sys.exit(2 if r["other_cpu"] > float(max_other) else 0)
EOF
    rc=$?
    rm -f "$json.tmp"
    return $rc
}

run_rep() {
    local rc
    run_one "$1" "$2"
    rc=$?
    if [ $rc = 2 ]; then
        log "  disturbed by other load: kept as $1.$2.disturbed.json, redone once"
        mv "$OUT/runs/$1.$2.json" "$OUT/runs/$1.$2.disturbed.json"
        sleep 3
        run_one "$1" "$2"
        rc=$?
        [ $rc = 2 ] && rc=0  # keep the second try whatever the load; the table flags it
    fi
    return $rc
}

# ---- the plan ---------------------------------------------------------------------------
LIST=()
[[ " $CORES " == *" 1 "* ]] && LIST+=("skeleton_v4_c1")
for k in $CORES; do
    for fam in v4 v6; do
        LIST+=("l3fwd_${fam}_c$k" "devipd_${fam}_w$k")
        [ "$POLLTOO" = 1 ] && LIST+=("devipdpoll_${fam}_w$k")
    done
done
if [ "$ROUTES" -gt 0 ]; then for k in $CORES; do LIST+=("devipd_v4_w${k}_1m"); done; fi
if [ -n "$ONLY" ]; then
    sel=()
    for sc in "${LIST[@]}"; do [[ " $ONLY " == *" $sc "* ]] && sel+=("$sc"); done
    LIST=("${sel[@]}")
fi
case $MEMMODE in
huge) LIST=("${LIST[@]/%/_huge}") ;;
both) LIST=("${LIST[@]}" "${LIST[@]/%/_huge}") ;;
esac
if [ "$MEMMODE" != nohuge ]; then
    HUGE_ON=1  # "off" gives back only what "on" added, so it is safe even if "on" fails
    "$P/hugepages.sh" on "$OUT/huge" $(((MEMMB + 1) / 2 + 256)) >>"$LOG" 2>&1 ||
        { echo "run.sh: cannot reserve hugepages (see $LOG)" >&2; exit 1; }
fi

{
    echo "# $(date -Is) perf/run.sh $*"
    echo "# devip $VERSION ($SUBJECT) build $BUILD"
    echo "# $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
} >>"$LOG"
log "scenarios: ${LIST[*]}; $REPS reps x (${WARM}s warm-up + ${DUR}s)"
for rep in $(seq 1 "$REPS"); do
    for sc in "${LIST[@]}"; do
        run_rep "$sc" "$rep"
        sleep 0.5
    done
done
cleanup

$PY "$P/report.py" "$OUT" --routes "$ROUTES" \
    --meta "devip $VERSION${PERF_NOTE:+ ($PERF_NOTE)}" \
    --command "perf/run.sh $*" || exit 1
if [ "$PUBLISH" = 1 ]; then
    cp "$OUT/RESULTS.md" "$P/RESULTS.md"
    [ -f "$OUT/results.png" ] && cp "$OUT/results.png" "$P/results.png"
    log "published perf/RESULTS.md and perf/results.png"
fi

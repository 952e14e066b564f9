#!/usr/bin/env bash
# Bulk TCP between two devip stacks against Linux TCP between two namespaces, side by side
# in one run (issue 8 §4; compare the ratios). devip: two devipd processes joined by a
# net_memif pair (server and client; DPDK's net_ring joins ports of one process only and
# devipd serves one stack), `ipctl announce -1` (data to /dev/null) on one, `ipctl dial`
# sending MB megabytes from the other. Linux: iperf3 over a veth pair, with segmentation
# offloads (GSO/GRO/TSO) on and off, at MTU 1500 and 9000. devip runs at 1500 only: its
# ether medium's maxtu is 9front's 1514 and its mbufs are single 2 KB segments.
# Both devipds share the machine's CPUs (each -l 0,1, workers sleeping when idle).
# Usage: perf/tcp_pair.sh [MB] [REPS]   (default 200 MB, 3 repetitions, median printed)
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-200}; reps=${2:-3}
b=${DEVIP_BUILD:-build}
[ -x $b/control/devipd ] || bash scripts/build.sh $b >/dev/null
command -v iperf3 >/dev/null || apt-get install -y -qq iperf3 >/dev/null
ns=devpair$$ ; va=devpairA$$ ; vb=devpairB$$
dir=$(mktemp -d)
chmod 755 "$dir"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.5
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for n in $ns $va $vb; do ip netns del $n 2>/dev/null || true; done
    rm -rf "$dir" /var/run/dpdk/devpairA$$ /var/run/dpdk/devpairB$$
}
trap cleanup EXIT
now() { date +%s.%N; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

ip netns add $ns
ip netns exec $ns ip link set lo up
for side in A B; do
    if [ $side = A ]; then role=server addr=198.18.60.1 mac=02:18:60:00:00:01
    else role=client addr=198.18.60.2 mac=02:18:60:00:00:02; fi
    cat >"$dir/$side.conf" <<CONF
/net/ipifc/clone bind ether /net/ether0
/net/ipifc/0/ctl add $addr 255.255.255.0
CONF
    ip netns exec $ns $b/control/devipd --no-pci --file-prefix devpair$side$$ \
        --vdev=net_memif0,role=$role,socket=$dir/memif.sock,socket-abstract=no,id=0,mac=$mac -- \
        --socket "$dir/$side.sock" --config "$dir/$side.conf" >"$dir/$side.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do [ -S "$dir/$side.sock" ] && break; sleep 0.1; done
done
A() { $b/control/ipctl -s "$dir/A.sock" "$@"; }
B() { $b/control/ipctl -s "$dir/B.sock" "$@"; }
for _ in $(seq 50); do B ping -c 1 198.18.60.1 >/dev/null 2>&1 && break; sleep 0.2; done
B ping -c 1 198.18.60.1 >/dev/null || { echo "tcp_pair: the two stacks do not reach each other" >&2; cat "$dir"/*.log >&2; exit 1; }

devip_runs=()
for r in $(seq "$reps"); do
    A announce -1 'tcp!*!5001' >/dev/null &
    ap=$!
    sleep 0.3
    t0=$(now)
    head -c ${mb}M /dev/zero | B dial 'tcp!198.18.60.1!5001' >/dev/null
    wait $ap
    t1=$(now)
    devip_runs+=("$(echo "$t0 $t1 $mb" | awk '{printf "%.1f", $3 * 1.048576 / ($2 - $1)}')")
done
d=$(echo "${devip_runs[*]}" | median)

ip netns add $va; ip netns add $vb
ip link add vpa$$ netns $va type veth peer name vpb$$ netns $vb
ip netns exec $va sh -c "ip link set lo up; ip addr add 198.19.60.1/24 dev vpa$$; ip link set vpa$$ up"
ip netns exec $vb sh -c "ip link set lo up; ip addr add 198.19.60.2/24 dev vpb$$; ip link set vpb$$ up"
ip netns exec $vb iperf3 -s -p 5201 >/dev/null 2>&1 &
pids+=($!)
sleep 0.5
linux() {  # mtu gso(on|off) -> MB/s, median of reps
    local runs=()
    for n in $va:vpa$$ $vb:vpb$$; do
        ip netns exec ${n%%:*} ip link set ${n#*:} mtu $1
        ip netns exec ${n%%:*} ethtool -K ${n#*:} gso $2 gro $2 tso $2 >/dev/null 2>&1 || true
    done
    for r in $(seq "$reps"); do
        runs+=("$(ip netns exec $va iperf3 -c 198.19.60.2 -p 5201 -n ${mb}M -J 2>/dev/null |
            /usr/bin/python3 -c 'import json,sys; print("%.1f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 8e6))')")
    done
    echo "${runs[*]}" | median
}
l1500=$(linux 1500 on); l1500n=$(linux 1500 off); l9000=$(linux 9000 on); l9000n=$(linux 9000 off)
ratio() { echo "$1 $2" | awk '{printf "%.2f", $1 / $2}'; }
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) CPUs; $mb MB, median of $reps"
printf "%-52s %10s %8s\n" "bulk TCP, MB/s" "" "devip/x"
printf "%-52s %10s %8s\n" "devip -> devip over net_memif, MTU 1500 (runs: ${devip_runs[*]})" "$d" ""
printf "%-52s %10s %8s\n" "Linux veth, MTU 1500, GSO/GRO/TSO on (iperf3)" "$l1500" "$(ratio "$d" "$l1500")"
printf "%-52s %10s %8s\n" "Linux veth, MTU 1500, offloads off" "$l1500n" "$(ratio "$d" "$l1500n")"
printf "%-52s %10s %8s\n" "Linux veth, MTU 9000, offloads on" "$l9000" "$(ratio "$d" "$l9000")"
printf "%-52s %10s %8s\n" "Linux veth, MTU 9000, offloads off" "$l9000n" "$(ratio "$d" "$l9000n")"

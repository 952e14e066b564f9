#!/usr/bin/env bash
# TCP through devip's /net/tcp against Linux's TCP, side by side in one run (figures depend
# on the machine and its load: compare the ratios). devip runs on a tap with Linux as the
# peer in its namespace; the baseline is Linux to Linux over a veth pair between two
# namespaces. The same Python client (perf/tcp_client.py) drives both; devip's servers are
# what a user runs: `ipctl announce` (data to stdout), `ipctl listen ... cat` (echo),
# `ipctl dial` (a sender).
# Usage: perf/tcp.sh [MBYTES] [CONNS] [ROUNDS]   (default 200 MB, 2000 connections, 5000)
# DEVIPD_OPTS="--idle poll" compares devipd with its workers spinning; TCP_ONLY=1 leaves out
# perf/latency.sh. The table plots with perf/tcp_plot.py OUT perf/results-tcp.svg. The
# connection rate and round trip through ipctl are also measured with DEVIP_SPLICE=0 (the
# dial library's own pump threads instead of devipd splicing the data).
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-200}; conns=${2:-2000}; rounds=${3:-5000}
b=${DEVIP_BUILD:-build}
[ -x $b/control/devipd ] || bash scripts/build.sh $b >/dev/null
py=/usr/bin/python3
client=perf/tcp_client.py
ns=devtcp$$ ; va=devtcpA$$ ; vb=devtcpB$$
dir=$(mktemp -d)
sock=$dir/net.sock
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for n in $ns $va $vb; do ip netns del $n 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT
ipctl() { $b/control/ipctl -s "$sock" "$@"; }
now() { date +%s.%N; }

ip netns add $ns
ip netns exec $ns ip link set lo up
cat >"$dir/conf" <<CONF
/net/ipifc/clone bind ether /net/ether0
/net/ipifc/0/ctl add 198.18.0.1 255.255.255.0
CONF
ip netns exec $ns $b/control/devipd --no-pci --vdev=net_tap0,iface=dtap0,mac=fixed -- \
    --socket "$sock" --config "$dir/conf" ${DEVIPD_OPTS:-} >"$dir/devipd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
ip netns exec $ns ip link set dtap0 address 02:18:00:00:00:02
ip netns exec $ns ip addr add 198.18.0.2/24 dev dtap0
ip netns exec $ns ip link set dtap0 up
ip netns exec $ns ping -c 2 -W 2 198.18.0.1 >/dev/null

ip netns add $va; ip netns add $vb
ip link add vta$$ netns $va type veth peer name vtb$$ netns $vb
ip netns exec $va sh -c "ip link set lo up; ip addr add 198.19.0.1/24 dev vta$$; ip link set vta$$ up"
ip netns exec $vb sh -c "ip link set lo up; ip addr add 198.19.0.2/24 dev vtb$$; ip link set vtb$$ up"
ip netns exec $vb $py $client serve 198.19.0.2 5001 0 >"$dir/sink.out" &
pids+=($!)
ip netns exec $vb $py $client serve 198.19.0.2 5003 1 >"$dir/echo.out" &
pids+=($!)
for _ in $(seq 50); do grep -q ready "$dir/sink.out" "$dir/echo.out" 2>/dev/null && break; sleep 0.1; done
sleep 0.3

# 1. bulk into the host under test (Linux sends)
ipctl announce -1 'tcp!*!5001' >/dev/null &
pids+=($!)
sleep 0.5
d_in=$(ip netns exec $ns $py $client bulk 198.18.0.1 5001 "$mb" | awk '{print $2}')
l_in=$(ip netns exec $va $py $client bulk 198.19.0.2 5001 "$mb" | awk '{print $2}')

# 2. bulk out of the host under test (devip sends with ipctl dial; Linux with the client)
ip netns exec $ns $py $client serve 198.18.0.2 5004 0 >"$dir/sink2.out" &
pids+=($!)
for _ in $(seq 50); do grep -q ready "$dir/sink2.out" 2>/dev/null && break; sleep 0.1; done
t0=$(now)
head -c $((mb << 20)) /dev/zero | ipctl dial 'tcp!198.18.0.2!5004' >/dev/null
t1=$(now)
d_out=$(awk -v a="$t0" -v b="$t1" -v m="$mb" 'BEGIN {printf "%.1f", m / (b - a)}')
ip netns exec $va $py $client serve 198.19.0.1 5005 0 >"$dir/sink3.out" &
pids+=($!)
for _ in $(seq 50); do grep -q ready "$dir/sink3.out" 2>/dev/null && break; sleep 0.1; done
l_out=$(ip netns exec $vb $py $client bulk 198.19.0.1 5005 "$mb" | awk '{print $2}')

# 3. connections one after another
ipctl announce 'tcp!*!5002' >/dev/null &
pids+=($!)
sleep 0.5
n=$(ipctl ls /net/tcp | while read -r d; do
    case $d in */[0-9]*) [ "$(ipctl cat "$d/local" 2>/dev/null)" = "::!5002" ] && basename "$d";;
    esac; done | head -1)
[ -n "$n" ] && ipctl write "/net/tcp/$n/ctl" "backlog 128"
d_rate=$(ip netns exec $ns $py $client rate 198.18.0.1 5002 "$conns" | awk '{print $2}')
DEVIP_SPLICE=0 $b/control/ipctl -s "$sock" announce 'tcp!*!5007' >/dev/null &
pids+=($!)
sleep 0.5
n=$(ipctl ls /net/tcp | while read -r d; do
    case $d in */[0-9]*) [ "$(ipctl cat "$d/local" 2>/dev/null)" = "::!5007" ] && basename "$d";;
    esac; done | head -1)
[ -n "$n" ] && ipctl write "/net/tcp/$n/ctl" "backlog 128"
t_rate=$(ip netns exec $ns $py $client rate 198.18.0.1 5007 "$conns" | awk '{print $2}')
l_rate=$(ip netns exec $va $py $client rate 198.19.0.2 5001 "$conns" | awk '{print $2}')

# 4. one-byte request/response
ipctl listen -1 'tcp!*!5003' cat &
pids+=($!)
sleep 0.5
d_rr=$(ip netns exec $ns $py $client rr 198.18.0.1 5003 "$rounds")
DEVIP_SPLICE=0 $b/control/ipctl -s "$sock" listen -1 'tcp!*!5008' cat &
pids+=($!)
sleep 0.5
t_rr=$(ip netns exec $ns $py $client rr 198.18.0.1 5008 "$rounds")
l_rr=$(ip netns exec $va $py $client rr 198.19.0.2 5003 "$rounds")
# the same with a synchronous 9P echo server on /net/tcp (no dial library, no threads)
[ -x $b/perf/udp_echo ] || ninja -C $b perf/udp_echo >/dev/null
$b/perf/udp_echo tcpserve9p "$sock" 5006 >"$dir/tcp9p.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q ready "$dir/tcp9p.out" 2>/dev/null && break; sleep 0.1; done
d9_rr=$(ip netns exec $ns $py $client rr 198.18.0.1 5006 "$rounds")
d9_rate=$(ip netns exec $ns $py $client rate 198.18.0.1 5006 "$conns" | awk '{print $2}')

# 5. Linux's bulk again with segmentation offloads off on the veth (GSO, GRO, TSO)
ip netns exec $va ethtool -K vta$$ gso off gro off tso off >/dev/null 2>&1 || true
ip netns exec $vb ethtool -K vtb$$ gso off gro off tso off >/dev/null 2>&1 || true
l_in_nogso=$(ip netns exec $va $py $client bulk 198.19.0.2 5001 "$mb" | awk '{print $2}')

f() { echo "$1" | awk -v k="$2" '{for (i=1;i<NF;i++) if ($i==k) print $(i+1)}'; }
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "devipd: $(grep -o '[0-9]* worker(s)' "$dir/devipd.log"), ${DEVIPD_OPTS:-no options}"
printf "%-40s %12s %12s %8s\n" "" devip Linux ratio
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
printf "%-40s %12s %12s %8s\n" "bulk in, MB/s ($mb MB)" "$d_in" "$l_in" "$(ratio "$d_in" "$l_in")"
printf "%-40s %12s %12s %8s\n" "bulk out, MB/s ($mb MB)" "$d_out" "$l_out" \
    "$(ratio "$d_out" "$l_out")"
printf "%-40s %12s %12s %8s\n" "bulk in, Linux without GSO/GRO/TSO" "$d_in" "$l_in_nogso" \
    "$(ratio "$d_in" "$l_in_nogso")"
printf "%-40s %12s %12s %8s\n" "connections/s ($conns, one at a time)" "$d_rate" "$l_rate" \
    "$(ratio "$d_rate" "$l_rate")"
printf "%-40s %12s %12s %8s\n" "connections/s, DEVIP_SPLICE=0" "$t_rate" "$l_rate" \
    "$(ratio "$t_rate" "$l_rate")"
printf "%-40s %12s %12s %8s\n" "connections/s, 9P echo server" "$d9_rate" "$l_rate" \
    "$(ratio "$d9_rate" "$l_rate")"
printf "%-40s %12s %12s %8s\n" "1-byte round trip p50, us" "$(f "$d_rr" p50)" \
    "$(f "$l_rr" p50)" "$(ratio "$(f "$d_rr" p50)" "$(f "$l_rr" p50)")"
printf "%-40s %12s %12s %8s\n" "1-byte round trip p99, us" "$(f "$d_rr" p99)" \
    "$(f "$l_rr" p99)" "$(ratio "$(f "$d_rr" p99)" "$(f "$l_rr" p99)")"
printf "%-40s %12s %12s %8s\n" "1-byte rtt p50, DEVIP_SPLICE=0, us" "$(f "$t_rr" p50)" \
    "$(f "$l_rr" p50)" "$(ratio "$(f "$t_rr" p50)" "$(f "$l_rr" p50)")"
printf "%-40s %12s %12s %8s\n" "1-byte rtt p99, DEVIP_SPLICE=0, us" "$(f "$t_rr" p99)" \
    "$(f "$l_rr" p99)" "$(ratio "$(f "$t_rr" p99)" "$(f "$l_rr" p99)")"
printf "%-40s %12s %12s %8s\n" "1-byte rtt p50, 9P echo server, us" "$(f "$d9_rr" p50)" \
    "$(f "$l_rr" p50)" "$(ratio "$(f "$d9_rr" p50)" "$(f "$l_rr" p50)")"
printf "%-40s %12s %12s %8s\n" "1-byte rtt p99, 9P echo server, us" "$(f "$d9_rr" p99)" \
    "$(f "$l_rr" p99)" "$(ratio "$(f "$d9_rr" p99)" "$(f "$l_rr" p99)")"
echo "devip /net/tcp/stats: $(ipctl cat /net/tcp/stats | grep -E '^(RetransSegs|OutSegs|InSegs):' | tr '\n' ' ')"

# 6. conversation latency beside it: ipctl ping against the kernel's, UDP echo through /net/udp
# against Linux over veth (perf/latency.sh, its own devipd)
if [ -z "${TCP_ONLY:-}" ]; then
    echo
    bash perf/latency.sh "$rounds" | tail -n +2
fi

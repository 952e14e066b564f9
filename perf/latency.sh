#!/usr/bin/env bash
# Round-trip latency of devip's conversations against the kernel, side by side in one run
# (figures depend on the machine: compare the ratios): `ipctl ping` (/net/icmp through the dial
# library) and the same echoes from a synchronous 9P client (perf/udp_echo.cc ping9p) against
# the kernel's ping of devip over the same tap, and UDP echo through /net/udp (udp_echo's
# 9P echo server on devip) against Linux UDP echo between two namespaces over veth. ipctl
# ping runs twice: with devipd splicing the data (the default) and with the library's own
# pump threads (DEVIP_SPLICE=0).
# Usage: perf/latency.sh [ROUNDS]   (default 2000 UDP round trips, 500 pings)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2000}
pings=$((rounds / 4))
b=build
[ -x $b/perf/udp_echo ] || bash scripts/build.sh $b >/dev/null
ns=devlat$$ ; va=devlatA$$ ; vb=devlatB$$
dir=$(mktemp -d)
sock=$dir/net.sock
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    for n in $ns $va $vb; do ip netns del $n 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT

# devip on a tap, Linux at 198.18.0.2
ip netns add $ns
ip netns exec $ns ip link set lo up
cat >"$dir/conf" <<CONF
/net/ipifc/clone bind ether /net/ether0
/net/ipifc/0/ctl add 198.18.0.1 255.255.255.0
CONF
ip netns exec $ns $b/control/devipd --no-pci --vdev=net_tap0,iface=dtap0,mac=fixed -- \
    --socket "$sock" --config "$dir/conf" >"$dir/devipd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
ip netns exec $ns ip link set dtap0 address 02:18:00:00:00:02
ip netns exec $ns ip addr add 198.18.0.2/24 dev dtap0
ip netns exec $ns ip link set dtap0 up
ip netns exec $ns ping -c 2 -W 2 198.18.0.1 >/dev/null

median() { sort -n | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : "nan")}'; }
pct99() { sort -n | awk '{a[NR]=$1} END {i=int(NR*0.99); if (i<1) i=1; print (NR ? a[i] : "nan")}'; }

# ping: per-echo round trips in microseconds
$b/control/ipctl -s "$sock" ping -c $pings -i 0.002 198.18.0.2 >"$dir/ipctl.ping"
grep -o 'rtt [0-9]* µs' "$dir/ipctl.ping" | awk '{print $2}' | tail -n +11 >"$dir/ipctl.us"
ip netns exec $ns ping -c $pings -i 0.002 198.18.0.1 >"$dir/kernel.ping"
grep -o 'time=[0-9.]*' "$dir/kernel.ping" | cut -d= -f2 | awk '{printf "%d\n", $1*1000}' |
    tail -n +11 >"$dir/kernel.us"
ip50=$(median <"$dir/ipctl.us"); ip99=$(pct99 <"$dir/ipctl.us")
DEVIP_SPLICE=0 $b/control/ipctl -s "$sock" ping -c $pings -i 0.002 198.18.0.2 >"$dir/ipctl0.ping"
grep -o 'rtt [0-9]* µs' "$dir/ipctl0.ping" | awk '{print $2}' | tail -n +11 >"$dir/ipctl0.us"
it50=$(median <"$dir/ipctl0.us"); it99=$(pct99 <"$dir/ipctl0.us")
# the same echoes through /net/icmp from a synchronous 9P client (no dial library threads)
icmp9p=$($b/perf/udp_echo ping9p "$sock" 198.18.0.2 "$pings")
k50=$(median <"$dir/kernel.us"); k99=$(pct99 <"$dir/kernel.us")

# UDP echo through /net/udp on devip, the client in Linux
$b/perf/udp_echo serve9p "$sock" 7 >"$dir/echo9p.out" 2>/dev/null &
pids+=($!)
for _ in $(seq 50); do grep -q ready "$dir/echo9p.out" 2>/dev/null && break; sleep 0.1; done
devip_udp=$(ip netns exec $ns $b/perf/udp_echo client 198.18.0.1 7 "$rounds")

# the baseline: Linux UDP echo between two namespaces over veth
ip netns add $va; ip netns add $vb
ip link add vla$$ netns $va type veth peer name vlb$$ netns $vb
ip netns exec $va sh -c "ip link set lo up; ip addr add 198.19.0.1/24 dev vla$$; ip link set vla$$ up"
ip netns exec $vb sh -c "ip link set lo up; ip addr add 198.19.0.2/24 dev vlb$$; ip link set vlb$$ up"
ip netns exec $vb $b/perf/udp_echo servesock 198.19.0.2 7 >"$dir/echosock.out" &
pids+=($!)
for _ in $(seq 50); do grep -q ready "$dir/echosock.out" 2>/dev/null && break; sleep 0.1; done
linux_udp=$(ip netns exec $va $b/perf/udp_echo client 198.19.0.2 7 "$rounds")

f() { echo "$1" | awk -v k="$2" '{for (i=1;i<NF;i++) if ($i==k) print $(i+1)}'; }
d50=$(f "$devip_udp" p50); d99=$(f "$devip_udp" p99)
i50=$(f "$icmp9p" p50); i99=$(f "$icmp9p" p99)
l50=$(f "$linux_udp" p50); l99=$(f "$linux_udp" p99)
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
printf "%-44s %9s %9s\n" "round trip (us)" p50 p99
printf "%-44s %9s %9s\n" "ipctl ping (/net/icmp)" "$ip50" "$ip99"
printf "%-44s %9s %9s\n" "ipctl ping, library threads (DEVIP_SPLICE=0)" "$it50" "$it99"
printf "%-44s %9s %9s\n" "/net/icmp echo, synchronous 9P client" "$i50" "$i99"
printf "%-44s %9s %9s\n" "kernel ping of devip" "$k50" "$k99"
printf "%-44s %9s %9s\n" "UDP echo through /net/udp (devip)" "$d50" "$d99"
printf "%-44s %9s %9s\n" "UDP echo, Linux over veth" "$l50" "$l99"
awk -v a="$ip50" -v b="$k50" 'BEGIN {printf "ipctl ping - kernel ping, p50: %+d us (goal: within 50)\n", a-b}'
awk -v a="$i50" -v b="$k50" 'BEGIN {printf "/net/icmp (9P) - kernel ping, p50: %+.1f us\n", a-b}'
awk -v a="$d50" -v b="$l50" -v c="$d99" -v d="$l99" \
    'BEGIN {printf "UDP echo devip / Linux: p50 %.2fx, p99 %.2fx (goal: <= 2x)\n", a/b, c/d}'

#!/usr/bin/env bash
# Idle CPU of devipd's threads with idle workers sleeping (--idle sleep, the default) and
# polling (--idle poll), one after the other in one run, and what sleeping costs a packet:
# the round trip of pings from Linux spaced far enough apart that the worker is asleep when
# each arrives. CPU comes from /proc/PID/task/TID/stat (utime + stime) over SECONDS.
# Usage: perf/idle_cpu.sh [SECONDS]   (default 5; run as root: a netns and a tap)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
b=build
[ -x $b/control/devipd ] || bash scripts/build.sh $b >/dev/null
dir=$(mktemp -d)
ns=""
pid=""
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    if [ -n "$ns" ]; then ip netns del "$ns" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT
cat >"$dir/conf" <<CONF
/net/ipifc/clone bind ether /net/ether0
/net/ipifc/0/ctl add 198.18.0.1 255.255.255.0
CONF

# ticks of each thread of $pid: "tid name ticks" lines
ticks() {
    for t in /proc/$pid/task/*; do
        s=$(cat "$t/stat" 2>/dev/null) || continue
        name=${s#*(}; name=${name%%)*}
        rest=${s##*) }
        set -- $rest
        echo "${t##*/} $name $((${12} + ${13}))"
    done
}

hz=$(getconf CLK_TCK)
printf "%-6s %-16s %8s\n" mode thread "cpu %"
for mode in sleep poll; do
    ns=devidle$$$mode
    ip netns add $ns
    ip netns exec $ns ip link set lo up
    ip netns exec $ns $b/control/devipd --no-pci --vdev=net_tap0,iface=dtap0,mac=fixed -- \
        --socket "$dir/net.sock" --config "$dir/conf" --idle $mode >"$dir/devipd.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do [ -S "$dir/net.sock" ] && break; sleep 0.1; done
    ip netns exec $ns ip link set dtap0 down
    ip netns exec $ns ip link set dtap0 address 02:18:00:00:00:02
    ip netns exec $ns ip addr add 198.18.0.2/24 dev dtap0
    ip netns exec $ns ip link set dtap0 up
    ip netns exec $ns ping -c 2 -W 2 198.18.0.1 >/dev/null
    sleep 1
    ticks >"$dir/a"
    sleep "$secs"
    ticks >"$dir/b"
    join "$dir/a" "$dir/b" | awk -v m=$mode -v hz=$hz -v s=$secs \
        '{printf "%-6s %-16s %8.1f\n", m, $2, 100 * ($5 - $3) / hz / s}'
    rtt=$(ip netns exec $ns ping -c 20 -i 0.2 -W 2 198.18.0.1 | tail -1)
    printf "%-6s %-16s %s\n" $mode "ping (asleep)" "${rtt#*= }"
    kill $pid
    wait $pid || true
    pid=""
    ip netns del $ns
    ns=""
done

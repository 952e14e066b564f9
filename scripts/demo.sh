#!/usr/bin/env bash
# The demo: installs what is needed, builds, and starts devipd on a net_tap device inside a
# network namespace (devip-demo) with configs/host.conf. The Linux side of the tap, dtap0 in
# the same namespace, is 198.18.0.2/24. Usage: scripts/demo.sh [start|stop]
set -euo pipefail
cd "$(dirname "$0")/.."
ns=devip-demo
sock=/run/devip/net.sock
pidfile=/run/devip/demo.pid
log=/run/devip/demo.log

stop() {
    if [ -f "$pidfile" ]; then
        kill "$(cat "$pidfile")" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.1; done
        rm -f "$pidfile"
    fi
    ip netns del "$ns" 2>/dev/null || true
}

case "${1:-start}" in
stop) stop; echo "demo stopped"; exit 0 ;;
start) ;;
*) echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac

bash scripts/setup.sh
bash scripts/build.sh build
stop
mkdir -p /run/devip
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
ip netns exec "$ns" build/control/devipd --no-pci --vdev=net_tap0,iface=dtap0,mac=fixed -- \
    --socket "$sock" --config configs/host.conf >"$log" 2>&1 &
echo $! >"$pidfile"
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
if [ ! -S "$sock" ]; then
    echo "devipd did not start:" >&2; cat "$log" >&2; stop; exit 1
fi
# The tap PMD gives the kernel side its own MAC and brings the link up when the port starts;
# Linux needs a MAC of its own, set while the link is down, so that the link-local address
# Linux derives when the link comes up is from Linux's MAC and not devip's.
ip netns exec "$ns" ip link set dtap0 down
ip netns exec "$ns" ip link set dtap0 address 02:18:00:00:00:02
ip netns exec "$ns" ip addr add 198.18.0.2/24 dev dtap0
ip netns exec "$ns" ip link set dtap0 up
cat <<TXT
devipd is running (pid $(cat "$pidfile"), log $log) in network namespace $ns,
serving /net on $sock. devip is 198.18.0.1 on ether0; Linux (dtap0) is 198.18.0.2.

Try:
  build/control/ipctl ls /net
  build/control/ipctl cat /net/ipifc/0/status /net/iproute /net/arp
  build/control/ipctl ping 198.18.0.2
  ip netns exec $ns ping -c 3 198.18.0.1
  ip netns exec $ns socat - UDP4-RECV:7001 &  echo hi | build/control/ipctl dial 'udp!198.18.0.2!7001'
  build/control/ipctl listen 'tcp!*!8080' sh -c 'read r; printf "HTTP/1.0 200 OK\\r\\n\\r\\nhi\\n"' &
  ip netns exec $ns curl -s http://198.18.0.1:8080/        # a TCP server on devip
  ip netns exec $ns socat -u TCP4-LISTEN:9000 STDOUT &  date | build/control/ipctl dial 'tcp!198.18.0.2!9000'
Stop it with: scripts/demo.sh stop
TXT

#!/usr/bin/env bash
# Installs every Debian package devip needs to build, run and test.
# Idempotent; safe to run again. Needs root (apt-get).
set -euo pipefail
pkgs=(
    build-essential g++ pkg-config meson ninja-build
    libdpdk-dev dpdk libipsec-mb-dev libssl-dev libpcap-dev libnuma-dev libnetfilter-queue-dev
    libgtest-dev libgmock-dev libbenchmark-dev
    clang libclang-rt-14-dev
    iproute2 iputils-ping socat nftables curl python3-scapy python3-cryptography python3-pytest
    tshark procps util-linux
    iperf3 traceroute radvd python3-prometheus-client dpdk-dev systemd libfuse3-dev fuse3 ndisc6
    tcpreplay ethtool iptables dpdk-doc
)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    echo "setup: installing ${missing[*]}"
    # tshark asks whether non-root users may capture; answer no without a prompt
    echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
    echo 'iperf3 iperf3/start_daemon boolean false' | debconf-set-selections
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup: all packages present"

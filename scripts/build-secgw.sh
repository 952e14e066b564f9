#!/usr/bin/env bash
# Builds DPDK's ipsec-secgw example (the sources Debian's dpdk-doc ships) into DIR (default
# build/secgw), the independent ESP peer of tests/test_secgw.py and perf/ipsec.sh.
# One change to the example: it asks every port for Rx checksum offload and exits when a port
# lacks it; net_pcap, net_memif and net_tap lack it, so the request is masked with what the
# port offers. Prints the binary's path. Usage: scripts/build-secgw.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(realpath -m "${1:-build/secgw}")
ex=/usr/share/dpdk/examples
bin=$dir/ipsec-secgw/build/ipsec-secgw
if [ -x "$bin" ] && [ "$bin" -nt "$0" ]; then echo "$bin"; exit 0; fi
[ -d $ex/ipsec-secgw ] || apt-get install -y dpdk-doc >&2
rm -rf "$dir" && mkdir -p "$dir"
cp -r $ex/common $ex/ipsec-secgw "$dir/"
src=$dir/ipsec-secgw/ipsec-secgw.c
anchor='/* Check that all required capabilities are supported */'
grep -qF "$anchor" "$src" || { echo "build-secgw: $src changed, no anchor" >&2; exit 1; }
awk -v a="$anchor" 'index($0, a) {
        print "\t/* devip: virtual ports offer no Rx checksum offload */"
        print "\tlocal_port_conf.rxmode.offloads &= ~(RTE_ETH_RX_OFFLOAD_CHECKSUM &"
        print "\t\t~dev_info.rx_offload_capa);"
    } { print }' "$src" >"$src.new" && mv "$src.new" "$src"
make -C "$dir/ipsec-secgw" shared -j"$(nproc)" >"$dir/make.log" 2>&1 ||
    { tail -30 "$dir/make.log" >&2; exit 1; }
echo "$bin"

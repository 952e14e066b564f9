#!/usr/bin/env bash
# ESP tunnel benchmark, side by side in one run (issue 9 §5; figures are the machine's,
# compare the ratios):
#   raw      perf/ipsec_bench: devip's crypto::Engine against raw ipsec-mb on the same
#            buffers, one core, no ports (64, 512, 1400 B and IMIX; encrypt and decrypt)
#   secgw    DPDK's ipsec-secgw (scripts/build-secgw.sh), one lcore: port 0 = net_pcap
#            infinite rx, port 1 = net_null; encrypt: plain frames in, ESP out; decrypt:
#            ESP frames in (made by scapy with the same SA), plain out
#   devipd   devipd with a bound ESP tunnel interface on the same ports and the same CPU
#            (one worker; the control thread on the other CPU, as perf/run.sh): routes point
#            198.18.1.0/24 at the tunnel; decrypt with anti-replay off (`replay off`), since
#            the pcap repeats its sequence numbers
# Usage: perf/ipsec.sh [-d SECONDS] [-w SECONDS] [-n REPS] [-a "ALGS"] [-s "SIZES"] [-o OUT]
#   ALGS from: aes_128_gcm aes_256_gcm aes_128_cbc+hmac_sha1_96 chacha20_poly1305 (default all)
#   SIZES from: 64 512 1400 imix (inner packet bytes; imix = 7:4:1 of 64/576/1400)
# Results: OUT/results.jsonl, OUT/RESULTS.md (default /tmp/devip-ipsec); -P copies the
# table and the plot into perf/RESULTS-ipsec.md and perf/results-ipsec.svg.
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$P/.." && pwd)
DUR=4 WARM=2 REPS=1 OUT=/tmp/devip-ipsec PUBLISH=0
ALGS="aes_128_gcm aes_256_gcm aes_128_cbc+hmac_sha1_96 chacha20_poly1305"
SIZES="64 512 1400 imix"
while getopts "d:w:n:a:s:o:P" o; do
    case $o in
    d) DUR=$OPTARG ;; w) WARM=$OPTARG ;; n) REPS=$OPTARG ;; a) ALGS=$OPTARG ;;
    s) SIZES=$OPTARG ;; o) OUT=$OPTARG ;; P) PUBLISH=1 ;;
    *) sed -n 2,22p "$0"; exit 2 ;;
    esac
done
PY=/usr/bin/python3
BUILD=$REPO/build
mkdir -p "$OUT/runs" "$OUT/in"
RES=$OUT/results.jsonl
: >"$RES"
LOG=$OUT/ipsec.log
: >"$LOG"
log() { echo "$(date +%T) $*" | tee -a "$LOG" >&2; }
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null; done
    sleep 1
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bash "$REPO/scripts/build.sh" "$BUILD" >>"$LOG" 2>&1 || { echo "build failed (see $LOG)" >&2; exit 1; }
SECGW=$(bash "$REPO/scripts/build-secgw.sh" "$OUT/secgw" 2>>"$LOG" | tail -1) ||
    { echo "ipsec-secgw build failed (see $LOG)" >&2; exit 1; }
CPU=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
log "CPU: $CPU; $(nproc) CPUs; algorithms: $ALGS; sizes: $SIZES"

# ---- raw ipsec-mb against the engine -------------------------------------------------------
log "raw: perf/ipsec_bench (engine vs raw ipsec-mb), $REPS rep(s)"
taskset -c 1 "$BUILD/perf/ipsec_bench" 0.5 "$REPS" >"$OUT/raw.txt" 2>>"$LOG"
grep '^{' "$OUT/raw.txt" | sed 's/^{/{"kind":"raw",/' >>"$RES"

# ---- inputs: plain and ESP frames per algorithm and size ------------------------------------
# keys (hex) as devip writes them; ipsec-secgw takes the same bytes colon-separated
$PY - "$OUT/in" "$ALGS" "$SIZES" <<'EOF' || { echo "pcap generation failed" >&2; exit 1; }
import json, sys
from scapy.layers.inet import IP, UDP
from scapy.layers.ipsec import ESP, SecurityAssociation
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import wrpcap
out, algs, sizes = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
K = {
    "aes_128_gcm": ("AES-GCM", "2b7e151628aed2a6abf7158809cf4f3cdeadbeef", None, ""),
    "aes_256_gcm": ("AES-GCM", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fcafef00d", None, ""),
    "aes_128_cbc+hmac_sha1_96": ("AES-CBC", "00112233445566778899aabbccddeeff", "HMAC-SHA1-96",
                                 "0102030405060708090a0b0c0d0e0f1011121314"),
    "chacha20_poly1305": ("CHACHA20-POLY1305", "00" * 16 + "11" * 16 + "d0d1d2d3", None, ""),
}
json.dump({a: [K[a][1], K[a][3]] for a in K}, open(out + "/keys.json", "w"))
PCAP0 = "02:70:63:61:70:00"   # net_pcap0's MAC
def inner_sizes(s):
    if s != "imix":
        return [int(s)] * 64
    return [64 if i % 12 < 7 else 576 if i % 12 < 11 else 1400 for i in range(1024)]
for a in algs:
    calg, ckey, aalg, akey = K[a]
    sa = SecurityAssociation(ESP, spi=0x2000, crypt_algo=calg, crypt_key=bytes.fromhex(ckey),
                             auth_algo=aalg or "NULL", auth_key=bytes.fromhex(akey) if akey else None,
                             tunnel_header=IP(src="198.19.0.2", dst="198.19.0.1"))
    for s in sizes:
        plain, esp = [], []
        for i, n in enumerate(inner_sizes(s)):
            p = IP(src="198.18.0.%d" % (10 + i % 200), dst="198.18.1.%d" % (1 + i % 4), ttl=64) / \
                UDP(sport=1024 + i, dport=9) / Raw(b"\x5a" * (n - 28))
            plain.append(Ether(dst=PCAP0, src="02:00:00:00:aa:01") / p)
            q = IP(src="198.18.1.%d" % (1 + i % 4), dst="198.18.2.%d" % (10 + i % 200), ttl=64) / \
                UDP(sport=9, dport=1024 + i) / Raw(b"\x5a" * (n - 28))
            esp.append(Ether(dst=PCAP0, src="02:00:00:00:aa:01") / sa.encrypt(q, seq_num=i + 1))
        wrpcap("%s/plain_%s.pcap" % (out, s), plain)
        wrpcap("%s/esp_%s_%s.pcap" % (out, a, s), esp)
EOF

colons() { echo "$1" | sed 's/../&:/g; s/:$//'; }
keyof() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]][int(sys.argv[3])])' \
    "$OUT/in/keys.json" "$1" "$2"; }
secgw_sa() {  # dir spi alg src dst
    local ck ak
    ck=$(colons "$(keyof "$3" 0)")
    ak=$(colons "$(keyof "$3" 1)")
    case $3 in
    aes_128_gcm) echo "sa $1 $2 aead_algo aes-128-gcm aead_key $ck mode ipv4-tunnel src $4 dst $5" ;;
    aes_256_gcm) echo "sa $1 $2 aead_algo aes-256-gcm aead_key $ck mode ipv4-tunnel src $4 dst $5" ;;
    chacha20_poly1305) echo "sa $1 $2 aead_algo chacha20-poly1305 aead_key $ck mode ipv4-tunnel src $4 dst $5" ;;
    aes_128_cbc+hmac_sha1_96) echo "sa $1 $2 cipher_algo aes-128-cbc cipher_key $ck auth_algo sha1-hmac auth_key $ak mode ipv4-tunnel src $4 dst $5" ;;
    esac
}

# One measured run: the program (argv after --) with EAL prefix PFX; rate.py prints JSON.
measure() {  # name pfx -- argv...
    local name=$1 pfx=$2
    shift 3
    "$@" >"$OUT/runs/$name.log" 2>&1 </dev/null &
    local pid=$!
    PIDS+=("$pid")
    local r
    if [ -n "${SETUP:-}" ]; then  # devipd: configure it over 9P once its socket is there
        for _ in $(seq 300); do [ -S "$SETUP_SOCK" ] && break; sleep 0.1; done
        $SETUP >>"$OUT/runs/$name.log" 2>&1 || log "  $name: setup failed (see its log)"
    fi
    r=$(taskset -c 0 $PY "$P/rate.py" "$pfx" --pid "$pid" --warmup "$WARM" --duration "$DUR" \
        2>>"$OUT/runs/$name.log")
    kill -INT "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rm -rf "/var/run/dpdk/$pfx"
    echo "$r"
}

record() {  # kind alg size dir json
    local pps
    pps=$(echo "$5" | $PY -c 'import json,sys
try: print(json.load(sys.stdin)["out_pps"])
except Exception: print(0)')
    $PY - "$1" "$2" "$3" "$4" "$pps" >>"$RES" <<'EOF'
import json, sys
k, a, s, d, pps = sys.argv[1:6]
sz = {"64": 64, "512": 512, "1400": 1400, "imix": (7 * 64 + 4 * 576 + 1400) / 12}[s]
print(json.dumps({"kind": k, "alg": a, "size": s, "dir": d, "pps": float(pps),
                  "gbps": float(pps) * sz * 8 / 1e9}))
EOF
    log "  $1 $2 $3 $4: $(printf '%.0f' "$pps") pps"
}

EAL="--no-huge -m 1024 --no-pci"
# ---- ipsec-secgw -----------------------------------------------------------------------------
for a in $ALGS; do
    for s in $SIZES; do
        for d in encrypt decrypt; do
            pfx=dsgb_$$_$RANDOM
            cfg=$OUT/runs/secgw_${a}_${s}_$d.cfg
            if [ $d = encrypt ]; then
                { echo "sp ipv4 out esp protect 8192 pri 1 dst 198.18.1.0/24 sport 0:65535 dport 0:65535"
                  secgw_sa out 8192 "$a" 198.19.0.1 198.19.0.2
                  echo "sp ipv4 in esp protect 8193 pri 1 dst 198.18.77.0/24 sport 0:65535 dport 0:65535"
                  secgw_sa in 8193 "$a" 198.19.0.2 198.19.0.1
                  echo "rt ipv4 dst 198.19.0.0/24 port 1"
                  echo "neigh port 1 02:00:00:00:00:01"; } >"$cfg"
                rx=$OUT/in/plain_$s.pcap umask=0x2
            else
                { echo "sp ipv4 in esp protect 8192 pri 1 dst 198.18.2.0/24 sport 0:65535 dport 0:65535"
                  secgw_sa in 8192 "$a" 198.19.0.2 198.19.0.1
                  echo "sp ipv4 out esp protect 8193 pri 1 dst 198.18.77.0/24 sport 0:65535 dport 0:65535"
                  secgw_sa out 8193 "$a" 198.19.0.1 198.19.0.2
                  echo "rt ipv4 dst 198.18.2.0/24 port 1"
                  echo "rt ipv4 dst 198.19.0.0/24 port 0"
                  echo "neigh port 1 02:00:00:00:00:01"
                  echo "neigh port 0 02:00:00:00:00:02"; } >"$cfg"
                rx=$OUT/in/esp_${a}_$s.pcap umask=0x1
            fi
            # the librte_ipsec path (-l) takes every algorithm; no -w: no replay window, as
            # the pcap repeats its sequence numbers
            j=$(measure "secgw_${a}_${s}_$d" "$pfx" -- taskset -c 1 nice -n -15 "$SECGW" $EAL \
                --file-prefix "$pfx" -l 1 --vdev crypto_aesni_mb0 \
                --vdev "net_pcap0,rx_pcap=$rx,infinite_rx=1" --vdev net_null0,no-rx=1 -- \
                -p 0x3 -P -u $umask -l --config="(0,0,1),(1,0,1)" -f "$cfg")
            record secgw "$a" "$s" "$d" "$j"
        done
    done
done

# ---- devipd tunnel ---------------------------------------------------------------------------
DEVIPD=$BUILD/control/devipd IPCTL=$BUILD/control/ipctl
if ! grep -q "bind esp" "$REPO/docs/devip.4"; then
    log "devipd: this build has no ESP tunnel interface (bind esp): skipped"
else
    . "$P/ipsec_devipd.sh"
fi

# ---- report ----------------------------------------------------------------------------------
$PY "$P/ipsec_report.py" "$RES" "$CPU" >"$OUT/RESULTS.md" 2>>"$LOG" || log "report failed"
cat "$OUT/RESULTS.md"
if [ "$PUBLISH" = 1 ]; then
    cp "$OUT/RESULTS.md" "$P/RESULTS-ipsec.md"
    [ -f "$OUT/results-ipsec.svg" ] && cp "$OUT/results-ipsec.svg" "$P/results-ipsec.svg"
fi

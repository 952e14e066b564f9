#!/usr/bin/env bash
# Reserves 2 MiB hugepages for a benchmark run and gives them back afterwards.
#   perf/hugepages.sh on DIR [PAGES]   add PAGES (default 1100) to the pool, mount hugetlbfs on DIR
#   perf/hugepages.sh off DIR          unmount DIR, take back what "on" added
# "on" remembers what it added in DIR.added, so "off" restores the pool as it found it
# even when someone else uses hugepages too.
set -euo pipefail
NR=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
dir=${2:?usage: hugepages.sh on|off DIR [PAGES]}
case $1 in
on)
    want=${3:-1100}
    before=$(cat $NR)
    echo $((before + want)) >$NR
    got=$(($(cat $NR) - before))
    echo "$got" >"$dir.added"
    mkdir -p "$dir"
    mountpoint -q "$dir" || mount -t hugetlbfs -o pagesize=2M nodev "$dir"
    echo "hugepages: +$got (asked $want), pool $(cat $NR), mounted on $dir"
    [ "$got" -ge "$want" ] || { echo "hugepages: only $got of $want pages" >&2; exit 1; }
    ;;
off)
    mountpoint -q "$dir" && umount "$dir"
    added=$(cat "$dir.added" 2>/dev/null || echo 0)
    now=$(cat $NR)
    echo $((now > added ? now - added : 0)) >$NR
    rm -f "$dir.added"
    echo "hugepages: -$added, pool $(cat $NR)"
    ;;
*)
    echo "usage: hugepages.sh on DIR [PAGES] | off DIR" >&2
    exit 2
    ;;
esac

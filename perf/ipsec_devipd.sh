# perf/ipsec.sh's devipd part (sourced): the same inputs and ports as ipsec-secgw's runs,
# devipd -l 0,1 (control thread on CPU 0, the worker on CPU 1, where ipsec-secgw ran),
# configured by perf/ipsec_setup.py over 9P.
for a in $ALGS; do
    for s in $SIZES; do
        for d in encrypt decrypt; do
            pfx=dipb_$$_$RANDOM
            if [ $d = encrypt ]; then rx=$OUT/in/plain_$s.pcap; else rx=$OUT/in/esp_${a}_$s.pcap; fi
            SETUP_SOCK=$OUT/$pfx.sock
            SETUP="$PY $P/ipsec_setup.py $SETUP_SOCK $OUT/in/keys.json $a $d"
            j=$(SETUP=$SETUP SETUP_SOCK=$SETUP_SOCK measure "devipd_${a}_${s}_$d" "$pfx" -- \
                nice -n -15 "$DEVIPD" -l 0,1 $EAL --file-prefix "$pfx" \
                --vdev "net_pcap0,rx_pcap=$rx,infinite_rx=1" --vdev net_null0,no-rx=1 -- \
                --socket "$SETUP_SOCK")
            record devipd "$a" "$s" "$d" "$j"
        done
    done
done

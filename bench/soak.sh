#!/usr/bin/env bash
# Soak: a bounded run (DURATION s, default 600) at a steady RATE (default 50
# messages/s, alternating SIP -> XMPP and XMPP -> SIP) with presence churn
# (CHURN subscribes/s, default 2, each unsubscribed 20 later: SIP SUBSCRIBE
# dialogs with NOTIFYs from the loadgen UAS), through the real parley binary
# with the fake XMPP peer on loopback. Samples parley's RSS and /metrics
# registry gauges every 10 s, then prints whether they plateaued: RSS of the
# last third against the middle third, and the registries once the load and
# the churn have stopped (in-flight entries, subscriptions and SIP
# transactions must come back to where they started).
. "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-600}
RATE=${RATE:-50}
CHURN=${CHURN:-2}

build
machine
start_parley "$COMP"
# Parley's transactions linger for Timer K / Timer J (up to 32 s) after the
# last message: drain that long before the final sample. The load tool stops
# a phase after --max-phase-secs (120 s by default): the soak's one phase
# lasts DURATION.
loadgen_fake --phase "mix:$RATE:$((RATE * DURATION))" --churn "$CHURN" --sample-secs 10 \
  --max-phase-secs $((DURATION + 60)) --drain-secs 40 | tee "$WORK/soak.out"
echo
awk -v d="$DURATION" '
  /^sample/ { split($2, t, "="); sub("s", "", t[2]); split($3, r, "=");
              if (t[2] > d / 3 && t[2] <= 2 * d / 3 && r[2] > mid) mid = r[2];
              if (t[2] > 2 * d / 3 && r[2] > last) last = r[2]; }
  END { printf "RSS max, middle third: %d KiB; last third: %d KiB; growth %+.1f%%\n",
        mid, last, mid ? 100 * (last - mid) / mid : 0 }' "$WORK/soak.out"
grep '^final' "$WORK/soak.out"

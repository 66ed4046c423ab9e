#!/usr/bin/env bash
# Flood: a legitimate SIP -> XMPP flow from 127.0.0.1 at RATE/s, first alone
# (quiet), then while 127.0.0.2 sends FLOOD datagrams/s of garbage and
# over-limit traffic (random bytes, a broken CSeq, Content-Length beyond the
# body, 60 000-byte MESSAGEs, and plain MESSAGEs beyond any per-source rate).
# Through the real parley binary with the fake XMPP peer, all on loopback.
#
#   bench/flood.sh            RATE (200), SECS (15), FLOODS ("2000 10000")
#
# What to read: the legit rows' loss (must stay 0) and p99 against the quiet
# row (within 2x is the goal); the stderr line per flood phase says what the
# flood source got back. Needs 127.0.0.2 on lo (Linux routes all 127/8 there).
. "$(dirname "$0")/lib.sh"
RATE=${RATE:-200}
SECS=${SECS:-15}
FLOODS=${FLOODS:-2000 10000}
N=$((RATE * SECS))

phases=(--phase "s2x:$RATE:$N")
for f in $FLOODS; do phases+=(--phase "s2x:$RATE:$N:flood=$f"); done
phases+=(--phase "s2x:$RATE:$N")

build
machine
start_parley "$COMP"
loadgen_fake "${phases[@]}"
echo
echo "parley's own counters after the flood:"
(exec 3<>/dev/tcp/127.0.0.1/"$METRICS" && printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3 && cat <&3) |
  grep -E '^parley_(sip_parse_errors_total|sip_requests_total|sip_responses_total|messages_total|errors_total)' | grep -v ' 0$' || true

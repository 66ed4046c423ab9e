#!/usr/bin/env bash
# Load: SIP -> XMPP and XMPP -> SIP messages through the real parley binary
# (release) on loopback, at fixed rates and at max rate.
#
#   bench/load.sh [fake|prosody|both]     (default both)
#
# fake:    loadgen is parley's XMPP server (a fast XEP-0114 peer) and its SIP
#          phones, so parley is the bottleneck.
# prosody: real Prosody in the path; loadgen is juliet@localhost on c2s.
# RATES (default "200 1000 2000") messages/s, SECS (default 10) seconds per
# rate, MAX_COUNT (default 20000) messages at max rate. Prints one table row
# per phase: delivered, loss, msgs/s, p50/p99/max latency from send on one
# side to arrival on the other, SIP 200 latency (it includes the 200 ms
# delivery window), parley CPU per message and RSS.
. "$(dirname "$0")/lib.sh"
MODE=${1:-both}
RATES=${RATES:-200 1000 2000}
SECS=${SECS:-10}
MAX_COUNT=${MAX_COUNT:-20000}

phases=()
for dir in s2x x2s; do
  for r in $RATES; do phases+=(--phase "$dir:$r:$((r * SECS))"); done
  phases+=(--phase "$dir:max:$MAX_COUNT")
done

build
machine
if [[ $MODE == fake || $MODE == both ]]; then
  echo; echo "## parley with the fake XMPP peer"
  start_parley "$COMP"
  loadgen_fake "${phases[@]}"
  kill "$PARLEY"; wait "$PARLEY" 2>/dev/null || true
fi
if [[ $MODE == prosody || $MODE == both ]]; then
  echo; echo "## parley with Prosody in the path"
  start_prosody
  start_parley "$COMP"
  for _ in $(seq 1 100); do http_status /readyz | grep -q ' 200 ' && break; sleep 0.1; done
  loadgen_prosody "${phases[@]}"
fi

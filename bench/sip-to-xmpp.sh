#!/usr/bin/env bash
# Load: SIP MESSAGE -> parley -> Prosody -> an online XMPP user, at a fixed rate.
#
#   bench/sip-to-xmpp.sh [RATE_PER_S] [COUNT]      (defaults 200 2000)
#
# Starts Prosody, parley (release) and the xmpp-demo client on loopback, drives
# parley with sipp (UDP), and prints what sipp saw (successful calls, response
# times), what the XMPP user received, and parley's CPU time and RSS. Bounded:
# COUNT messages, then everything stops. Needs prosody and sipp installed.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-200}
COUNT=${2:-2000}

cargo build --release --quiet -p parley-gateway -p parley-harness --bins
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
BIN="$TARGET_DIR/release"
C2S=${BENCH_C2S_PORT:-25222}; COMP=${BENCH_COMPONENT_PORT:-25347}
SIP=${BENCH_SIP_PORT:-25060}; METRICS=${BENCH_METRICS_PORT:-29100}

WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

. deploy/quickstart/prosody-loopback.sh
# The bench measures parley, not Prosody's flood protection.
write_prosody_config "$WORK" "$C2S" "$COMP" bench-secret error \
  'limits = { c2s = { rate = "100mb/s" }, s2sin = { rate = "100mb/s" } }'
prosodyctl --config "$WORK/prosody.cfg.lua" register juliet localhost pw >/dev/null
prosody --config "$WORK/prosody.cfg.lua" -F >/dev/null 2>&1 & PIDS+=($!)
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$COMP") 2>/dev/null && break; sleep 0.1; done

cat > "$WORK/parley.toml" <<TOML
[xmpp]
component_domain = "sip.localhost"
server = "127.0.0.1:$COMP"
secret = "bench-secret"
queue_capacity = 8192
[sip]
domain = "sip.localhost"
listen = ["udp:127.0.0.1:$SIP"]
[metrics]
listen = "127.0.0.1:$METRICS"
[store]
path = "$WORK/store"
[messages]
delivery_window_ms = 200
[log]
level = "warn"
TOML
"$BIN/parley" --config "$WORK/parley.toml" 2>"$WORK/parley.log" & PARLEY=$!; PIDS+=($PARLEY)
ready() { (exec 3<>/dev/tcp/127.0.0.1/"$METRICS" && printf 'GET /readyz HTTP/1.0\r\n\r\n' >&3 && head -1 <&3) 2>/dev/null | grep -q ' 200 '; }
for _ in $(seq 1 100); do ready && break; sleep 0.1; done

WAIT=$(( COUNT / RATE + 15 ))
"$BIN/xmpp-demo" "127.0.0.1:$C2S" juliet@localhost pw --expect "$COUNT" --wait "$WAIT" >"$WORK/received.log" 2>&1 &
DEMO=$!
sleep 1
ticks0=$(awk '{print $14+$15}' /proc/$PARLEY/stat)
start=$(date +%s.%N)
sipp 127.0.0.1:"$SIP" -sf deploy/quickstart/uac-message.xml -i 127.0.0.1 -m "$COUNT" -r "$RATE" \
  -nostdin -timeout "${WAIT}s" -trace_stat -stf "$WORK/stat.csv" >"$WORK/sipp.out" 2>&1 || true
end=$(date +%s.%N)
wait "$DEMO" || true
ticks1=$(awk '{print $14+$15}' /proc/$PARLEY/stat)
hz=$(getconf CLK_TCK)
rss=$(awk '/VmHWM/ {print $2" "$3}' /proc/$PARLEY/status)
received=$(grep -c "message from" "$WORK/received.log" || true)
ok=$(tail -1 "$WORK/stat.csv" | awk -F';' '{print $16}')
failed=$(tail -1 "$WORK/stat.csv" | awk -F';' '{print $18}')
cpu=$(echo "($ticks1 - $ticks0) / $hz" | bc -l)
echo "rate offered:      $RATE/s, $COUNT messages"
echo "sipp 200 OK:       $ok   failed: $failed"
echo "juliet received:   $received"
echo "wall time:         $(echo "$end - $start" | bc -l | cut -c1-6) s"
echo "parley CPU:        $(echo "$cpu" | cut -c1-6) s  ($(echo "$cpu * 1000000 / $COUNT" | bc -l | cut -c1-6) µs per message)"
echo "parley peak RSS:   $rss"
echo "(SIP 200 is sent when the 200 ms delivery window closes, so it is not a latency figure)"

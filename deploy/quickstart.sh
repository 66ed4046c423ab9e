#!/usr/bin/env bash
# Parley quick start: Prosody + parley + a sipp "phone" on loopback, one message
# each way, then it keeps running until Ctrl-C (or exits at once with --check).
#
#   deploy/quickstart.sh          # demo, then keep running for your own clients
#   deploy/quickstart.sh --check  # demo only; exit 0 if both messages went through
#
# Needs the Rust toolchain; installs prosody and sip-tester with apt-get if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

CHECK=0
[ "${1:-}" = "--check" ] && CHECK=1

SUDO=""
[ "$(id -u)" != 0 ] && SUDO="sudo"
missing=()
command -v prosody >/dev/null || missing+=(prosody)
command -v sipp >/dev/null || missing+=(sip-tester)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "== building parley (release)"
cargo build --release --quiet -p parley-gateway -p parley-harness --bins
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
BIN="$TARGET_DIR/release"

# Ports (override with environment variables if they are taken).
C2S=${QS_C2S_PORT:-15222}
COMP=${QS_COMPONENT_PORT:-15347}
SIP=${QS_SIP_PORT:-15060}
PHONE=${QS_PHONE_PORT:-15070}
METRICS=${QS_METRICS_PORT:-19100}

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo; echo "== stopping"; exit 0' INT TERM

. deploy/quickstart/prosody-loopback.sh
write_prosody_config "$WORK" "$C2S" "$COMP" quickstart-secret warn
prosodyctl --config "$WORK/prosody.cfg.lua" register juliet localhost juliet-pw >/dev/null
prosody --config "$WORK/prosody.cfg.lua" -F >"$WORK/prosody.out" 2>&1 &
PIDS+=($!)

cat > "$WORK/parley.toml" <<TOML
[xmpp]
component_domain = "sip.localhost"
server = "127.0.0.1:$COMP"
secret = "quickstart-secret"

[sip]
domain = "sip.localhost"
listen = ["udp:127.0.0.1:$SIP", "tcp:127.0.0.1:$SIP"]
outbound_proxy = "sip:127.0.0.1:$PHONE"

[metrics]
listen = "127.0.0.1:$METRICS"

[store]
path = "$WORK/store"
TOML

for _ in $(seq 1 100); do
  (exec 3<>/dev/tcp/127.0.0.1/"$COMP") 2>/dev/null && break
  sleep 0.1
done
"$BIN/parley" --config "$WORK/parley.toml" 2>"$WORK/parley.log" &
PIDS+=($!)
ready() { (exec 3<>/dev/tcp/127.0.0.1/"$METRICS" && printf 'GET /readyz HTTP/1.0\r\n\r\n' >&3 && head -1 <&3) 2>/dev/null | grep -q ' 200 '; }
for _ in $(seq 1 100); do ready && break; sleep 0.1; done
ready || { echo "parley did not become ready; its log:"; cat "$WORK/parley.log"; exit 1; }
echo "== parley is ready"

# Bob's SIP phone: a sipp UAS that answers MESSAGE with 200.
sipp -sf deploy/quickstart/uas-message.xml -i 127.0.0.1 -p "$PHONE" -m 1 -nostdin -bg >/dev/null 2>&1 || true

# Juliet logs in, sends to bob@sip.localhost, and waits for Bob's SIP message.
"$BIN/xmpp-demo" "127.0.0.1:$C2S" juliet@localhost juliet-pw \
  --send bob@sip.localhost "Hello Bob, this is Juliet on XMPP." --expect 1 --wait 15 &
DEMO=$!
sleep 1
sipp 127.0.0.1:"$SIP" -sf deploy/quickstart/uac-message.xml -i 127.0.0.1 -m 1 -nostdin \
  -timeout 15s -timeout_error >"$WORK/sipp-uac.log" 2>&1 && SIP_OK=1 || SIP_OK=0
wait "$DEMO" && XMPP_OK=1 || XMPP_OK=0
# The sipp UAS ran with -bg; make sure it is gone.
pkill -f "uas-message.xml" 2>/dev/null || true

echo
[ "$SIP_OK" = 1 ] && echo "== SIP -> XMPP: delivered (sipp got 200)" || echo "== SIP -> XMPP: FAILED"
[ "$XMPP_OK" = 1 ] && echo "== XMPP -> SIP: juliet's message was sent, Bob's arrived" || echo "== XMPP -> SIP / delivery to juliet: FAILED"
delivered=$( (exec 3<>/dev/tcp/127.0.0.1/"$METRICS" && printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3 && cat <&3) | grep '^parley_messages_total' || true)
echo "$delivered"

if [ "$CHECK" = 1 ]; then
  [ "$SIP_OK" = 1 ] && [ "$XMPP_OK" = 1 ] && exit 0
  echo "--- parley log ---"; cat "$WORK/parley.log"; exit 1
fi

cat <<INFO

Parley is running. Try it yourself:
  XMPP client:  server 127.0.0.1 port $C2S, user juliet@localhost, password juliet-pw
                (plain TCP, no TLS); write to bob@sip.localhost
  SIP phone:    send MESSAGE to sip:juliet@localhost via 127.0.0.1:$SIP (UDP or TCP);
                replies to bob@sip.localhost go to 127.0.0.1:$PHONE
  Metrics:      http://127.0.0.1:$METRICS/metrics  (/healthz, /readyz)
  Logs:         $WORK/parley.log
Ctrl-C stops everything.
INFO
while true; do sleep 3600; done

#!/usr/bin/env bash
# Parley quick start: Prosody + parley + a sipp "phone" on loopback, no SIP
# proxy: the phone registers to Parley with a password (Parley is its
# registrar), one message goes each way, then it keeps running until Ctrl-C
# (or exits at once with --check).
#
#   deploy/quickstart.sh          # demo, then keep running for your own clients
#   deploy/quickstart.sh --check  # demo only; exit 0 if the phone registered and both messages went through
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

# QS_PROFILE=debug (check.sh uses it) reuses the test build instead of a release one.
PROFILE=${QS_PROFILE:-release}
echo "== building parley ($PROFILE)"
if [ "$PROFILE" = release ]; then
  cargo build --release --quiet -p parley-gateway -p parley-harness --bins
else
  cargo build --quiet -p parley-gateway -p parley-harness --bins
fi
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
BIN="$TARGET_DIR/$PROFILE"

# Ports (override with environment variables if they are taken).
C2S=${QS_C2S_PORT:-15222}
COMP=${QS_COMPONENT_PORT:-15347}
SIP=${QS_SIP_PORT:-15060}
PHONE=${QS_PHONE_PORT:-15070}
METRICS=${QS_METRICS_PORT:-19100}

# Something already listening would answer in parley's place (a ready check
# passed by another process): stop before starting anything.
for port in "$C2S" "$COMP" "$SIP" "$METRICS"; do
  if (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then
    echo "port $port on 127.0.0.1 is in use; move it with the QS_*_PORT variables" >&2
    exit 1
  fi
done

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
# No address is trusted to speak for sip.localhost's users: a phone proves
# who it is with its password (407 on MESSAGE, 401 on REGISTER).
trusted_peers = []

# Parley is the phones' registrar: no SIP proxy needed. Phones register as
# user@sip.localhost with the passwords in the users file.
[registrar]
users_file = "$WORK/users"
# sipp 3.6, the demo's phone, answers only the first challenge and knows
# only MD5; real phones are served best by the default, SHA-256 then MD5.
algorithms = ["MD5"]

[metrics]
listen = "127.0.0.1:$METRICS"

[store]
path = "$WORK/store"
TOML

# Bob's SIP account: the users file holds digest hashes, never the password.
printf '%s\n' bob-pw | "$BIN/parley" user add bob --file "$WORK/users" --realm sip.localhost >/dev/null

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

# Bob's SIP phone registers to Parley from port $PHONE (401, then digest)...
sipp 127.0.0.1:"$SIP" -sf deploy/quickstart/register.xml -i 127.0.0.1 -p "$PHONE" -m 1 -nostdin \
  -au bob -ap bob-pw -timeout 15s -timeout_error >"$WORK/sipp-register.log" 2>&1 && REG_OK=1 || REG_OK=0
# ...and answers the MESSAGEs Parley sends to its registered contact.
sipp -sf deploy/quickstart/uas-message.xml -i 127.0.0.1 -p "$PHONE" -m 1 -nostdin -bg >/dev/null 2>&1 || true

# Juliet logs in, sends to bob@sip.localhost, and waits for Bob's SIP message.
"$BIN/xmpp-demo" "127.0.0.1:$C2S" juliet@localhost juliet-pw \
  --send bob@sip.localhost "Hello Bob, this is Juliet on XMPP." --expect 1 --wait 15 &
DEMO=$!
sleep 1
sipp 127.0.0.1:"$SIP" -sf deploy/quickstart/uac-message-auth.xml -i 127.0.0.1 -m 1 -nostdin \
  -au bob -ap bob-pw -timeout 15s -timeout_error >"$WORK/sipp-uac.log" 2>&1 && SIP_OK=1 || SIP_OK=0
wait "$DEMO" && XMPP_OK=1 || XMPP_OK=0
# The sipp UAS ran with -bg; make sure it is gone.
pkill -f "uas-message.xml" 2>/dev/null || true

metrics=$( (exec 3<>/dev/tcp/127.0.0.1/"$METRICS" && printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3 && cat <&3) || true)
# Juliet's message reached Bob's phone at its registered contact: the phone's
# 200 is what parley counts as delivered.
grep -q '^parley_messages_total{direction="xmpp_to_sip",outcome="delivered"} [1-9]' <<<"$metrics" \
  && TO_SIP_OK=1 || TO_SIP_OK=0

echo
[ "$REG_OK" = 1 ] && echo "== bob's phone registered to parley with its password" || echo "== REGISTER: FAILED"
[ "$SIP_OK" = 1 ] && echo "== SIP -> XMPP: delivered (sipp got 200)" || echo "== SIP -> XMPP: FAILED"
[ "$TO_SIP_OK" = 1 ] && echo "== XMPP -> SIP: juliet's message reached bob's registered phone" || echo "== XMPP -> SIP: FAILED"
[ "$XMPP_OK" = 1 ] && echo "== juliet's client got bob's message" || echo "== delivery to juliet's client: FAILED"
grep '^parley_messages_total' <<<"$metrics" || true

if [ "$CHECK" = 1 ]; then
  [ "$REG_OK" = 1 ] && [ "$SIP_OK" = 1 ] && [ "$TO_SIP_OK" = 1 ] && [ "$XMPP_OK" = 1 ] && exit 0
  echo "--- parley log ---"; cat "$WORK/parley.log"; exit 1
fi

cat <<INFO

Parley is running. Try it yourself:
  XMPP client:  server 127.0.0.1 port $C2S, user juliet@localhost, password juliet-pw
                (plain TCP, no TLS); write to bob@sip.localhost
  SIP phone:    register as bob@sip.localhost, password bob-pw, registrar/proxy
                127.0.0.1:$SIP (UDP or TCP); then write to sip:juliet@localhost.
                More users: $BIN/parley user add NAME --file $WORK/users --realm sip.localhost
                (parley re-reads the users file within a second: no restart)
  Metrics:      http://127.0.0.1:$METRICS/metrics  (/healthz, /readyz)
  Logs:         $WORK/parley.log
Ctrl-C stops everything.
INFO
while true; do sleep 3600; done

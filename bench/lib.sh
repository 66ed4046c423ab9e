# Sourced by bench/load.sh, flood.sh, soak.sh and ratio.sh: build, ports, and starting
# parley (release) and, for the Prosody variant, Prosody on loopback. Every
# process started is killed by the EXIT trap; everything listens on 127.0.0.1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BASE=${BENCH_PORT_BASE:-26000}
C2S=$((BASE + 222)); COMP=$((BASE + 347)); SIP=$((BASE + 60))
UAS=$((BASE + 80)); METRICS=$((BASE + 100))
SECRET=bench-secret

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# build: sets BIN to the release binaries of this checkout, built now, or to
# PARLEY_BIN_DIR (a directory with `parley` and `loadgen`, saved from another
# build) when that is set, so that every script can compare two binaries.
build() {
  if [[ -n ${PARLEY_BIN_DIR:-} ]]; then
    BIN=$PARLEY_BIN_DIR
    return
  fi
  cargo build --release --quiet --locked -p parley-gateway -p parley-loadgen --bins
  TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
  BIN="$TARGET_DIR/release"
}

# start_parley XMPP_SERVER_PORT: parley with UDP SIP, its outbound proxy the
# loadgen UAS, a 200 ms delivery window, warn-level logs; sets PARLEY.
start_parley() {
  cat > "$WORK/parley.toml" <<TOML
[xmpp]
component_domain = "sip.localhost"
server = "127.0.0.1:$1"
secret = "$SECRET"
queue_capacity = 8192
reconnect_min_ms = 100
reconnect_max_ms = 500
[sip]
domain = "sip.localhost"
listen = ["udp:127.0.0.1:$SIP"]
outbound_proxy = "sip:127.0.0.1:$UAS"
# Only the load tool's own address is the "carrier proxy": the flood source
# (127.0.0.2) gets the per-source rate and the trust checks.
trusted_peers = ["127.0.0.1/32"]
[metrics]
listen = "127.0.0.1:$METRICS"
[store]
path = "$WORK/store"
[messages]
delivery_window_ms = 200
# The limits the bench runs with, written out so that a change of defaults
# cannot change what a number means.
[limits]
# XMPP -> SIP phases send from one JID (juliet@localhost) at up to 2000 msg/s
# and at max rate, far beyond any per-user rate: with the defaults (100/s,
# burst 100) the shaper would pace them and the phase would measure the
# limiter. A rate no phase reaches keeps its bookkeeping on every stanza
# without delaying one (the defaults are measured in gateway/tests/xmpp_burst.rs).
xmpp_stanzas_per_second = 1000000
xmpp_stanza_burst = 1000000
xmpp_sender_queue = 1000
xmpp_queued_stanzas = 10000
# SIP per-source rate (the defaults): loadgen's 127.0.0.1 is a trusted peer and
# exempt; flood.sh's 127.0.0.2 gets it, which is what flood.sh measures.
sip_requests_per_second = 50
sip_request_burst = 100
sip_rate_refusals_before_silence = 10
[log]
level = "warn"
[runtime]
# WORKERS (bench/ratio.sh) sets the runtime's worker threads (0 is one per
# core); unset, Parley's default (1).
${WORKERS:+worker_threads = $WORKERS}
TOML
  "$BIN/parley" --config "$WORK/parley.toml" 2>"$WORK/parley.log" &
  PARLEY=$!; PIDS+=("$PARLEY")
  for _ in $(seq 1 100); do http_status /healthz | grep -q ' 200 ' && return 0; sleep 0.1; done
  echo "parley did not start; log:" >&2; cat "$WORK/parley.log" >&2; return 1
}

http_status() {
  (exec 3<>/dev/tcp/127.0.0.1/"$METRICS" && printf 'GET %s HTTP/1.0\r\n\r\n' "$1" >&3 && head -1 <&3) 2>/dev/null || true
}

# start_prosody [EXTRA_LUA]: Prosody with the component and juliet@localhost
# (password pw); EXTRA_LUA goes into the global section (it may open a
# section of its own, e.g. another Component); sets PROSODY (its pid).
start_prosody() {
  . deploy/quickstart/prosody-loopback.sh
  # The bench measures parley, not Prosody's c2s flood protection.
  write_prosody_config "$WORK" "$C2S" "$COMP" "$SECRET" error \
    'limits = { c2s = { rate = "100mb/s" }, s2sin = { rate = "100mb/s" } }'"${1:+$'\n'$1}"
  prosodyctl --config "$WORK/prosody.cfg.lua" register juliet localhost pw >/dev/null
  prosody --config "$WORK/prosody.cfg.lua" -F >/dev/null 2>&1 &
  PROSODY=$!; PIDS+=("$PROSODY")
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$COMP") 2>/dev/null && return 0; sleep 0.1; done
  echo "prosody did not start" >&2; return 1
}

# loadgen_fake ARGS...: loadgen as parley's XMPP server (component port).
loadgen_fake() {
  "$BIN/loadgen" --component-listen "127.0.0.1:$COMP" --parley-sip "127.0.0.1:$SIP" \
    --uas "127.0.0.1:$UAS" --parley-pid "$PARLEY" --metrics "127.0.0.1:$METRICS" "$@"
}

# loadgen_prosody ARGS...: loadgen as juliet on Prosody's c2s port.
loadgen_prosody() {
  "$BIN/loadgen" --c2s "127.0.0.1:$C2S" --jid juliet@localhost --password pw \
    --parley-sip "127.0.0.1:$SIP" --uas "127.0.0.1:$UAS" --parley-pid "$PARLEY" \
    --metrics "127.0.0.1:$METRICS" "$@"
}

machine() {
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
}

# free_udp_port FROM: the first port from FROM on that nothing listens on
# (UDP or TCP) on this host.
free_udp_port() {
  local p=$1
  while [[ -n $(ss -Hlun "sport = :$p") || -n $(ss -Hltn "sport = :$p") ]]; do p=$((p + 1)); done
  echo "$p"
}

# tree_pids PID: PID and all its descendants, one per line.
tree_pids() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2 } END {
      n = 1; keep[root] = 1; print root
      while (n) { n = 0; for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; print p; n = 1 } } }'
}

# sipp_stat FILE COLUMN: the last (cumulative) value of a column of sipp's
# -trace_stat file, found by its header name.
sipp_stat() {
  awk -F';' -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next }
    { last = $0 } END { if (!c || last == "") exit 1; split(last, f, ";"); print f[c] }' "$1"
}

# start_kamailio DIR PORT [WRAPPER...]: the reference Kamailio of issue 24
# (bench/kamailio-stateless.cfg, -m 64 -M 8; WORKERS as `-n`,
# KAM_PKG_MANAGER as `-X`) on 127.0.0.1:PORT, its control socket and files
# in DIR, run under WRAPPER if given (valgrind); KAM is its pid. Returns
# when it listens, or exits with its log after 30 s.
start_kamailio() {
  local dir=$1 port=$2
  shift 2
  mkdir -p "$dir"
  "$@" kamailio -DD -E -f bench/kamailio-stateless.cfg -Y "$dir" -m 64 -M 8 ${WORKERS:+-n "$WORKERS"} \
    ${KAM_PKG_MANAGER:+-X "$KAM_PKG_MANAGER"} \
    -A "LISTEN=udp:127.0.0.1:$port" -A "CTL=\"unix:$dir/ctl\"" >"$WORK/kamailio.log" 2>&1 &
  KAM=$!; PIDS+=("$KAM")
  for _ in $(seq 1 300); do [[ -n $(ss -Hlun "sport = :$port") ]] && return 0; sleep 0.1; done
  echo "kamailio did not start; log:" >&2; cat "$WORK/kamailio.log" >&2; exit 1
}

# sipp_messages PORT SIPP_PORT COUNT RATE STAT_FILE: COUNT MESSAGEs
# (deploy/quickstart/uac-message.xml) from sipp on SIPP_PORT to
# 127.0.0.1:PORT at RATE/s, its statistics in STAT_FILE, its output in
# $WORK/sipp.out.
sipp_messages() {
  sipp 127.0.0.1:"$1" -sf deploy/quickstart/uac-message.xml -i 127.0.0.1 -p "$2" \
    -m "$3" -r "$4" -nostdin -timeout 120s -trace_stat -stf "$5" >"$WORK/sipp.out" 2>&1 || true
}

#!/usr/bin/env bash
# Ratios (issue 24): how Parley compares with the servers around it, measured
# side by side in one run, everything on loopback (127.0.0.1).
#
#   bench/ratio.sh        RATES ("2000 5000 10000 15000"), SECS (10), MAX_COUNT (50000),
#                         MAX_WINDOW (1000), CEILING_COUNT (200000), CEILING_WINDOW (4000),
#                         KAM_RATE (20000), KAM_COUNT (100000), BENCH_PORT_BASE (26000),
#                         WORKERS (unset), REPEATS (3), KAM_PKG_MANAGER (unset)
#
# WORKERS=N runs Kamailio with N UDP receivers (`-n N`, over the config's
# `children=2`, one per core of the development machine) and Parley with
# `runtime.worker_threads = N` (unset: its default, one worker): the same
# number of threads each side, e.g. WORKERS=1 for one core each.
#
# KAM_PKG_MANAGER=qm|fm|tlsf passes `-X` to Kamailio: the manager of its
# private memory (unset: Kamailio's default, qm). With qm, qm_malloc's
# search of its free lists is ~90 % of Kamailio's instructions per MESSAGE
# and fm or tlsf need a quarter to a third of its CPU (bench/RESULTS.md, "At
# `318bdcd`"; bench/kamailio-instructions.sh).
#
# 1. Kamailio's CPU per stateless MESSAGE: Kamailio 5.6 with
#    bench/kamailio-stateless.cfg (sl_send_reply("200","OK") for every
#    MESSAGE, nothing else) on a free UDP port; sipp sends KAM_COUNT MESSAGEs
#    (deploy/quickstart/uac-message.xml, 41-byte body) at KAM_RATE/s.
#      Kamailio µs/MESSAGE = user+system CPU of Kamailio's whole process tree
#      (main process and its children, from /proc) during the sipp run
#      / MESSAGEs Kamailio answered with 200 (its own sl:200_replies counter,
#      read over its control socket: each MESSAGE datagram it handled,
#      sipp's retransmissions included, is one answer and the same work).
#    sipp's successful and failed calls and retransmissions are shown too.
#    Measured again after Parley's phases (3.), ~10 minutes later: on a
#    shared VM either figure can be off by a quarter (bench/RESULTS.md, "At
#    `71ec8c2`"), so ratio 1 is given against both.
# 2. Prosody's own ceiling: Prosody 0.12 (the bench/lib.sh config), one c2s
#    user juliet@localhost played by the load tool's scanning c2s client, and
#    the load tool's own raw XEP-0114 component (ceiling.localhost) sending
#    CEILING_COUNT `<message/>`s with 100-byte bodies to juliet, a closed loop
#    with CEILING_WINDOW in flight. Parley is not on this path. Measured
#    before and after the SIP → XMPP phases; the higher one counts (other
#    work on the machine can hold Prosody below a full core during either).
#      ceiling = messages juliet received / (first send → last arrival), msgs/s
#    The row shows Prosody's and the load tool's CPU share: Prosody runs on
#    one thread, so ~100 % of one core there (and the load tool well under
#    100 %) says the ceiling is Prosody's, not the receiver's.
# 3. Parley both ways through the same Prosody and the same c2s client, the
#    release binary with bench/lib.sh's config (200 ms delivery window,
#    default limits.sip_pending_transactions), 100-byte bodies:
#    s2x (the load tool's SIP UAC → parley → Prosody → juliet) and x2s
#    (juliet → Prosody → parley → the load tool's SIP UAS), each at RATES/s
#    for SECS seconds, then a closed loop of MAX_COUNT (MAX_WINDOW in flight:
#    Prosody 0.12 leaves Nagle's algorithm on, so with few in flight a round
#    trip can wait ~40 ms for a delayed ACK and the loop measures that, not
#    throughput). After each phase the load tool waits until parley holds
#    no SIP transactions (Timer J keeps them 32 s), so phases do not inherit
#    each other's state; within a 10 s phase, more than 65 536 transactions
#    (the default limits.sip_pending_transactions) still build up above
#    6 553/s. Per phase, every message sent is counted once as:
#      delivered  - reached the other side;
#      refused    - not delivered, and the sender was told to retry: SIP 503
#                   with Retry-After, or an XMPP error of type "wait";
#      failed     - any other failure answer (delivered or not);
#      lost       - not delivered and no failure answer: silent loss.
#    A message delivered twice is a duplicate, unless it reached the SIP
#    side twice in one transaction (same Via branch: a UDP retransmission,
#    which the load tool's UAS has no transaction layer to absorb).
#    msgs/s = delivered / (first send → last send or last delivery, whichever
#    is later: a phase that starts refusing part-way is not credited with the
#    rate of its first part); parley µs/msg =
#    parley's user+system CPU during the phase (first send → last answer in)
#    / delivered; "+ expiry" adds parley's CPU while it still held the
#    phase's SIP transactions afterwards (Timer J/K; mostly ~3 ms/s idle and
#    the load tool's /metrics reads every 250 ms while it waits).
#
# Summary:
#   ratio 1 = Parley's best CPU µs per delivered message (over the phases of
#             one direction) / Kamailio µs per MESSAGE (the first
#             measurement; then against the second too); each direction;
#             goal ≤ 0.5.
#   ratio 2 = Parley's highest lossless delivered rate SIP → XMPP (the best
#             msgs/s of an s2x phase with 0 lost and 0 failed; refusals with
#             503 + Retry-After are allowed, they are shown) / Prosody ceiling;
#             goal ≥ 0.75. The summary also gives it with no refusals either.
#
# Everything listens on 127.0.0.1; every load is bounded in count and time;
# every process started here is stopped on exit. Needs kamailio, sipp and
# prosody installed (Debian: apt-get install kamailio sip-tester prosody).
# A benchmark, not a test: nothing here asserts a number.
. "$(dirname "$0")/lib.sh"
RATES=${RATES:-2000 5000 10000 15000}
SECS=${SECS:-10}
MAX_COUNT=${MAX_COUNT:-50000}
MAX_WINDOW=${MAX_WINDOW:-1000}
CEILING_COUNT=${CEILING_COUNT:-200000}
CEILING_WINDOW=${CEILING_WINDOW:-4000}
KAM_RATE=${KAM_RATE:-20000}
KAM_COUNT=${KAM_COUNT:-100000}
REPEATS=${REPEATS:-3}
BODY_BYTES=100
CEILING_DOMAIN=ceiling.localhost

missing=()
for tool in kamailio kamcmd sipp prosody prosodyctl cargo ss ps awk; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "ratio.sh: missing: ${missing[*]} (Debian: apt-get install kamailio sip-tester prosody iproute2 procps)" >&2
  exit 1
fi

# tree_ticks PID: user and system CPU ticks of PID and all its descendants,
# as "USER SYSTEM".
tree_ticks() {
  local p user=0 system=0 u s
  for p in $(tree_pids "$1"); do
    read -r u s < <(awk '{ print $14, $15 }' "/proc/$p/stat") || { echo "ratio.sh: cannot read /proc/$p/stat" >&2; return 1; }
    user=$((user + u)); system=$((system + s))
  done
  echo "$user $system"
}

# kamailio_200s: how many 200s Kamailio has sent (sl module statistics).
kamailio_200s() {
  kamcmd -s "unix:$KAM_DIR/ctl" stats.get_statistics 200_replies |
    awk -F' = ' '$1 == "sl:200_replies" { print $2; found = 1 } END { exit !found }'
}

build
machine
if [[ -n ${PARLEY_BIN_DIR:-} ]]; then
  echo "parley: $BIN/parley ($(sha256sum "$BIN/parley" | cut -c1-12)), from PARLEY_BIN_DIR, not the checkout's build"
fi
if [[ -n ${WORKERS:-} ]]; then
  echo "threads: Kamailio -n $WORKERS, Parley runtime.worker_threads = $WORKERS"
else
  echo "threads: Kamailio children=2 (its config), Parley one worker (its default)"
fi
echo "Kamailio private memory manager: ${KAM_PKG_MANAGER:-its default (qm)}"

# kamailio_phase N: Kamailio started on a free port, KAM_COUNT MESSAGEs from
# sipp at KAM_RATE/s, its table row and user/system line printed, KAM_US
# set (µs per MESSAGE), Kamailio stopped; N names the run's files.
kamailio_phase() {
  KAM_PORT=$(free_udp_port $((BASE + 70)))
  SIPP_PORT=$(free_udp_port $((KAM_PORT + 1)))
  # Its own directory and control socket each time, so that nothing of one
  # measurement (its socket, its files) is met by the next.
  KAM_DIR="$WORK/kamailio-$1"
  start_kamailio "$KAM_DIR" "$KAM_PORT"
  for _ in $(seq 1 50); do kamailio_200s >/dev/null 2>&1 && break; sleep 0.1; done
  hz=$(getconf CLK_TCK)
  a0=$(kamailio_200s) || { echo "cannot read Kamailio's statistics; log:" >&2; cat "$WORK/kamailio.log" >&2; exit 1; }
  kt0=$(tree_ticks "$KAM"); t0=$(date +%s.%N)
  sipp_messages "$KAM_PORT" "$SIPP_PORT" "$KAM_COUNT" "$KAM_RATE" "$WORK/kam-stat-$1.csv"
  t1=$(date +%s.%N); kt1=$(tree_ticks "$KAM")
  read -r ku0 ks0 <<<"$kt0"; read -r ku1 ks1 <<<"$kt1"
  KAM_OK=$(sipp_stat "$WORK/kam-stat-$1.csv" 'SuccessfulCall(C)') || { echo "no sipp statistics; sipp said:" >&2; cat "$WORK/sipp.out" >&2; exit 1; }
  # Kamailio's counter can lag its answers: right after a short sipp run it
  # read 0, and 200 ms later all of them. Read until it covers every 200 sipp
  # got and two reads agree (at most 5 s).
  local prev=-1
  for _ in $(seq 1 25); do
    a1=$(kamailio_200s) || { echo "cannot read Kamailio's statistics" >&2; exit 1; }
    ((a1 - a0 >= KAM_OK && a1 == prev)) && break
    prev=$a1
    sleep 0.2
  done
  local tree
  tree=$(tree_pids "$KAM")
  kill "$KAM"; wait "$KAM" 2>/dev/null || true
  # Gone, children too, before anything else is measured.
  local p alive
  for _ in $(seq 1 50); do
    alive=0
    for p in $tree; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  KAM_ANSWERED=$((a1 - a0))
  KAM_FAILED=$(sipp_stat "$WORK/kam-stat-$1.csv" 'FailedCall(C)')
  KAM_RETRANS=$(sipp_stat "$WORK/kam-stat-$1.csv" 'Retransmissions(C)')
  KAM_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  KAM_CPU=$(awk -v k="$((ku1 - ku0 + ks1 - ks0))" -v hz="$hz" 'BEGIN { printf "%.2f", k / hz }')
  if ((KAM_ANSWERED == 0)); then echo "kamailio answered no MESSAGE; its log:" >&2; cat "$WORK/kamailio.log" >&2; exit 1; fi
  KAM_US=$(awk -v c="$KAM_CPU" -v n="$KAM_ANSWERED" 'BEGIN { printf "%.1f", c * 1e6 / n }')
  echo "| offered | sipp: 200 received / sent | sipp: failed | sipp: retransmissions | Kamailio: 200s sent | wall s | 200s/s | Kamailio CPU s | µs/MESSAGE |"
  echo "|---|---|---|---|---|---|---|---|---|"
  awk -v r="$KAM_RATE" -v ok="$KAM_OK" -v n="$KAM_COUNT" -v f="$KAM_FAILED" -v re="$KAM_RETRANS" \
    -v ans="$KAM_ANSWERED" -v w="$KAM_WALL" -v c="$KAM_CPU" -v us="$KAM_US" \
    'BEGIN { printf "| %d/s | %d/%d | %d | %d | %d | %.2f | %.0f | %.2f | %.1f |\n", r, ok, n, f, re, ans, w, ans / w, c, us }'
  # User and system apart: the system part is mostly the kernel's UDP work (the
  # MESSAGE in, its 200 out, delivered into sipp on loopback), which Parley's
  # path does too (bench/per-message.sh split gives Parley's).
  awk -v u="$((ku1 - ku0))" -v s="$((ks1 - ks0))" -v hz="$hz" -v n="$KAM_ANSWERED" \
    'BEGIN { printf "- Kamailio CPU per MESSAGE, user / system: %.1f / %.1f µs\n", u * 1e6 / hz / n, s * 1e6 / hz / n }'
}

echo
echo "## Kamailio 5.6, stateless 200 to MESSAGE (sipp $KAM_COUNT at $KAM_RATE/s)"
kamailio_phase 1
KAM_US_FIRST=$KAM_US

echo
echo "## Prosody 0.12 ceiling and Parley through it (${BODY_BYTES}-byte bodies)"
start_prosody "Component \"$CEILING_DOMAIN\"
    component_secret = \"$SECRET\""
start_parley "$COMP"
for _ in $(seq 1 100); do http_status /readyz | grep -q ' 200 ' && break; sleep 0.1; done
phases=(--phase "server:max:$CEILING_COUNT:window=$CEILING_WINDOW")
for r in $RATES; do phases+=(--phase "s2x:$r:$((r * SECS))"); done
phases+=(--phase "s2x:max:$MAX_COUNT")
# The ceiling again, after the SIP -> XMPP phases: other work on the machine
# can hold Prosody below a full core during either.
phases+=(--phase "server:max:$CEILING_COUNT:window=$CEILING_WINDOW")
for r in $RATES; do phases+=(--phase "x2s:$r:$((r * SECS))"); done
phases+=(--phase "x2s:max:$MAX_COUNT")
REPORT="$WORK/report.txt"
echo "(the load tool's table, for latencies: its 'loss' counts every message not delivered, refused ones"
echo "too; its stderr says per phase what became of each message and what it cost)"
loadgen_prosody --c2s-client scan --body-bytes "$BODY_BYTES" \
  --server-component "127.0.0.1:$COMP" --server-component-domain "$CEILING_DOMAIN" \
  --server-component-secret "$SECRET" --server-pid "$PROSODY" \
  --window "$MAX_WINDOW" --settle-secs 40 --max-phase-secs 60 --report "$REPORT" "${phases[@]}"
echo
echo "## Kamailio again, after Parley's phases (the same measure)"
kamailio_phase 2
KAM_US_SECOND=$KAM_US

# 4. Interleaved repeats: on this shared VM one measurement of either side can
# be off by a quarter within minutes, so a ratio of two measurements taken
# minutes apart says as much about those minutes as about the code. Each
# repeat measures Kamailio, then Parley's closed loop SIP -> XMPP, then
# Kamailio, then Parley's closed loop XMPP -> SIP, each Parley phase paired
# with the Kamailio measurement just before it; the summary gives every pair
# and the median of the pairs' ratios.
REPEAT_ROWS="$WORK/repeats.txt"
: >"$REPEAT_ROWS"
if ((REPEATS > 0)); then
  echo
  echo "## Interleaved repeats ($REPEATS): Kamailio, Parley s2x:max:$MAX_COUNT, Kamailio, Parley x2s:max:$MAX_COUNT"
  for i in $(seq 1 "$REPEATS"); do
    for dir in s2x x2s; do
      echo
      echo "### repeat $i, $dir: Kamailio, then Parley"
      kamailio_phase "r$i-$dir"
      loadgen_prosody --c2s-client scan --body-bytes "$BODY_BYTES" --window "$MAX_WINDOW" \
        --settle-secs 40 --max-phase-secs 60 --report "$WORK/report-r$i-$dir.txt" \
        --phase "$dir:max:$MAX_COUNT" 2>"$WORK/loadgen-r$i-$dir.err"
      grep -E '^loadgen: phase .*(delivered|CPU)' "$WORK/loadgen-r$i-$dir.err" || true
      echo "repeat=$i kam_us=$KAM_US $(cat "$WORK/report-r$i-$dir.txt")" >>"$REPEAT_ROWS"
    done
  done
fi
KAM_US=$KAM_US_FIRST

echo
echo "parley's own counters over the whole run (non-zero): message outcomes, errors, limit refusals, SIP answers"
(exec 3<>/dev/tcp/127.0.0.1/"$METRICS" && printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3 && cat <&3) |
  grep -E '^parley_(messages_total|errors_total|limit_rejections_total|sip_responses_total)' | grep -v ' 0$' || echo "(none could be read)"

echo
awk -v kam_us="$KAM_US" -v kam_us2="$KAM_US_SECOND" -v commit="$(git rev-parse --short HEAD 2>/dev/null || echo '?')" '
  function pct(cpu, wall) { return cpu == "na" ? "na" : sprintf("%.0f", 100 * cpu / wall) }
  function median(a, m,   i, j, t) {
    for (i = 2; i <= m; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
  }
  {
    delete f
    # Numbers as numbers (awk compares two strings as text: "11076" < "6554").
    for (i = 1; i <= NF; i++) {
      eq = index($i, "="); v = substr($i, eq + 1)
      f[substr($i, 1, eq - 1)] = v ~ /^[0-9]+(\.[0-9]+)?$/ ? v + 0 : v
    }
    # The interleaved repeats (section 4) come from the second file.
    if (FILENAME != ARGV[1]) { rn++; for (k in f) rep[rn, k] = f[k]; next }
    n++
    for (k in f) row[n, k] = f[k]
  }
  END {
    print "| phase | delivered/sent | refused | failed | lost | delivered msgs/s | parley µs/msg | + expiry | Prosody µs/msg | parley CPU % | Prosody CPU % | loadgen CPU % | UDP drops parley/loadgen | duplicates (SIP retransmissions) |"
    print "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    bad = 0
    for (i = 1; i <= n; i++) {
      dir = row[i, "dir"]; d = row[i, "delivered"]; w = row[i, "wall_s"]; pc = row[i, "parley_cpu_s"]
      sc = row[i, "server_cpu_s"]
      us = (dir == "server" || d == 0 || pc == "na") ? "-" : sprintf("%.1f", pc * 1e6 / d)
      sus = (d == 0 || sc == "na") ? "-" : sprintf("%.1f", sc * 1e6 / d)
      ec = row[i, "expiry_parley_cpu_s"]
      eus = (us == "-" || ec == "na") ? "-" : sprintf("%.1f", (pc + ec) * 1e6 / d)
      printf "| %s | %d/%d | %d | %d | %d | %.0f | %s | %s | %s | %s | %s | %s | %s | %d (%d) |\n", row[i, "phase"], d, row[i, "sent"],
        row[i, "refused"], row[i, "failed"], row[i, "lost"], row[i, "rate"], us, eus, sus, pct(pc, w),
        pct(row[i, "server_cpu_s"], w), pct(row[i, "own_cpu_s"], w), row[i, "parley_udp_drops"] "/" row[i, "own_udp_drops"],
        row[i, "duplicates"], row[i, "retransmissions"]
      if (dir == "server") {
        ceilings = ceilings (ceilings == "" ? "" : ", ") sprintf("%.0f", row[i, "rate"])
        if (row[i, "rate"] > ceiling) { ceiling = row[i, "rate"]; ceil_phase = i }
      }
      if ((dir == "s2x" || dir == "x2s") && d > 0) {
        if (pc == "na") { bad = 1; continue }
        cpu = pc * 1e6 / d
        if (!(dir in best) || cpu < best[dir]) { best[dir] = cpu; best_at[dir] = row[i, "phase"]; best_ec[dir] = ec == "na" ? "" : (pc + ec) * 1e6 / d }
      }
      if (dir == "s2x" && row[i, "lost"] == 0 && row[i, "failed"] == 0 && row[i, "rate"] > lossless) {
        lossless = row[i, "rate"]; lossless_at = i
      }
      if (dir == "s2x" && row[i, "lost"] == 0 && row[i, "failed"] == 0 && row[i, "refused"] == 0 &&
          row[i, "refused_delivered"] == 0 && row[i, "rate"] > strict) {
        strict = row[i, "rate"]; strict_at = i
      }
    }
    print ""
    print "## Ratios (commit " commit ")"
    print ""
    if (ceil_phase) {
      sc = row[ceil_phase, "server_cpu_s"]; d = row[ceil_phase, "delivered"]
      printf "- Prosody ceiling: %.0f msgs/s (the higher of %s; %d/%d delivered; Prosody %s %% of one core, loadgen %s %%", ceiling,
        ceilings, d, row[ceil_phase, "sent"], pct(sc, row[ceil_phase, "wall_s"]), pct(row[ceil_phase, "own_cpu_s"], row[ceil_phase, "wall_s"])
      if (sc != "na" && sc > 0) printf "; Prosody CPU per message %.1f µs, i.e. %.0f msgs/s on a core of its own", sc * 1e6 / d, d / sc
      print ")"
    } else { print "- Prosody ceiling: not measured"; bad = 1 }
    printf "- Kamailio stateless 200: %.1f µs CPU per MESSAGE (%.1f µs when measured again after the Parley phases)\n", kam_us, kam_us2
    split("s2x x2s", dirs, " "); name["s2x"] = "SIP → XMPP"; name["x2s"] = "XMPP → SIP"
    for (j = 1; j <= 2; j++) {
      dir = dirs[j]
      if (dir in best) {
        printf "- Parley CPU per delivered message, best %s: %.1f µs (%s", name[dir], best[dir], best_at[dir]
        if (best_ec[dir] != "") printf "; %.1f µs with the expiry of its transactions after the phase", best_ec[dir]
        print ")"
      } else { printf "- Parley CPU per delivered message %s: not measured\n", name[dir]; bad = 1 }
    }
    for (j = 1; j <= 2; j++) {
      dir = dirs[j]
      if (dir in best && kam_us > 0) {
        printf "- **ratio 1 %s** = Parley µs per translated message / Kamailio µs per MESSAGE = %.1f / %.1f = **%.2f** (goal ≤ 0.5",
          name[dir], best[dir], kam_us, best[dir] / kam_us
        if (best_ec[dir] != "") printf "; %.2f with the expiry", best_ec[dir] / kam_us
        if (kam_us2 > 0) printf "; %.2f against the second Kamailio measurement", best[dir] / kam_us2
        print ")"
      }
    }
    if (rn) {
      print ""
      print "Interleaved repeats (section 4: each Parley closed loop against the Kamailio measurement just before it):"
      print ""
      print "| repeat | direction | Kamailio µs/MESSAGE | Parley µs/msg | + expiry | ratio 1 | delivered/sent | refused | failed | lost |"
      print "|---|---|---|---|---|---|---|---|---|---|"
      for (i = 1; i <= rn; i++) {
        dir = rep[i, "dir"]; d = rep[i, "delivered"]; pc = rep[i, "parley_cpu_s"]; ec = rep[i, "expiry_parley_cpu_s"]
        ok = d > 0 && pc != "na" && rep[i, "kam_us"] > 0
        us = ok ? pc * 1e6 / d : 0
        printf "| %d | %s | %.1f | %s | %s | %s | %d/%d | %d | %d | %d |\n", rep[i, "repeat"], name[dir], rep[i, "kam_us"],
          ok ? sprintf("%.1f", us) : "-", ok && ec != "na" ? sprintf("%.1f", (pc + ec) * 1e6 / d) : "-",
          ok ? sprintf("%.2f", us / rep[i, "kam_us"]) : "-", d, rep[i, "sent"], rep[i, "refused"], rep[i, "failed"], rep[i, "lost"]
        # A pair counts only if every message of the phase was delivered.
        if (ok && d == rep[i, "sent"]) { m[dir]++; rat[dir, m[dir]] = us / rep[i, "kam_us"] }
      }
      print ""
      for (j = 1; j <= 2; j++) {
        dir = dirs[j]
        if (m[dir]) {
          delete one; for (k = 1; k <= m[dir]; k++) one[k] = rat[dir, k]
          med = median(one, m[dir])
          printf "- **ratio 1 %s, median of %d interleaved pairs** = **%.2f** (goal ≤ 0.5; pairs from %.2f to %.2f)\n",
            name[dir], m[dir], med, one[1], one[m[dir]]
        } else { printf "- ratio 1 %s, interleaved: no complete pair\n", name[dir]; bad = 1 }
      }
    }
    if (lossless_at && ceiling > 0) {
      printf "- **ratio 2** = Parley highest lossless SIP → XMPP delivered rate / Prosody ceiling = %.0f / %.0f = **%.2f** (goal ≥ 0.75; at %s, %d refused with 503)\n",
        lossless, ceiling, lossless / ceiling, row[lossless_at, "phase"], row[lossless_at, "refused"]
      if (strict_at)
        printf "- ratio 2 with no refusals either: %.0f / %.0f = %.2f (at %s)\n", strict, ceiling, strict / ceiling, row[strict_at, "phase"]
      else print "- ratio 2 with no refusals either: no such s2x phase"
    } else { print "- ratio 2: no lossless SIP → XMPP phase (or no ceiling)"; bad = 1 }
    exit bad
  }' "$REPORT" "$REPEAT_ROWS"

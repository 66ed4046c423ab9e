#!/usr/bin/env bash
# What one translated message costs parley, each way, with loadgen as its
# XMPP server (bench/lib.sh's config, parley the bottleneck): the figures
# that do not need bench/ratio.sh's quiet machine (issue 24).
#
#   bench/per-message.sh [cpu|split|allocs|syscalls|profile|sustained|instructions]  (default cpu)
#
# cpu:     loadgen's closed-loop phases s2x:max:2000 (warm-up), s2x:max:$COUNT,
#          x2s:max:$COUNT, one parley; prints loadgen's table (parley CPU
#          µs/msg = its user+system CPU over the phase / delivered).
# split:   parley's user and system CPU per message apart, each way: a fresh
#          parley, a warm-up of 2000, then one closed-loop phase of $COUNT,
#          read from /proc/<pid>/stat (clock ticks, so COUNT ≥ 20000 keeps
#          the rounding under a few per cent). The system part is mostly the
#          kernel's UDP and TCP work, which bench/ratio.sh's Kamailio line
#          shows for Kamailio.
# allocs:  heap allocations per message, each way: uprobes on the entry points
#          of mimalloc (parley's global allocator) that Rust's GlobalAlloc calls,
#          mi_malloc_aligned / mi_zalloc_aligned / mi_realloc_aligned, counted
#          by `perf stat` over one s2x:max:$COUNT (then one x2s:max:$COUNT) run
#          of a fresh parley, divided by $COUNT. heaptrack does not see these:
#          mimalloc does not go through malloc.
# syscalls: syscalls and context switches per message, each way (`perf stat`
#          on the syscall tracepoints, over the same phases as allocs).
# profile: `perf record -e cpu-clock -g` of parley over s2x:max:$COUNT, then
#          of another over x2s:max:$COUNT; prints the top of `perf report`.
# instructions: user-space instructions per message, each way: parley under
#          valgrind's callgrind, counting only one closed-loop phase of
#          $COUNT messages (default here 5000) after a 1000-message warm-up;
#          prints the total per message and the top inclusive parley
#          functions. Deterministic within a few per cent where the CPU
#          figures move by ±15 % on a shared VM: the measure to steer by.
#          Needs valgrind. CACHE_SIM=1 adds callgrind's cache model and prints
#          its misses per message (first-level instruction and data misses;
#          its last level takes the size the VM reports, which can be far
#          from the real one). CALLGRIND_OUT=DIR keeps the profiles there as
#          cg-s2x.out and cg-x2s.out, for callgrind_annotate.
# sustained: memory under message load (issue 24 goal 4): SIP → XMPP at $RATE
#          msgs/s (default 10000) for 45 s, past Timer J's 32 s, then 10 s
#          more; loadgen's table shows parley's RSS after each phase and its
#          last line the SIP transactions held.
# PARLEY_BIN_DIR: a directory with `parley` and `loadgen` (default: build).
# COUNT (default 20000) messages per measured phase. Needs root for allocs
# and profile (perf probe / perf record).
. "$(dirname "$0")/lib.sh"
MODE=${1:-cpu}
if [[ $MODE == instructions ]]; then COUNT=${COUNT:-5000}; else COUNT=${COUNT:-20000}; fi
build
machine
echo "parley: $BIN/parley ($(sha256sum "$BIN/parley" | cut -c1-12))"

# run_one DIRECTION: a fresh parley, `$WRAP` attached to it during one
# closed-loop phase of $COUNT messages in DIRECTION.
run_one() {
  start_parley "$COMP"
  "${WRAP[@]}" -p "$PARLEY" 2>"$WORK/wrap.out" &
  local wrap=$!
  sleep 0.5
  loadgen_fake --window 1000 --phase "$1:max:$COUNT" >"$WORK/loadgen.out"
  kill -INT "$wrap"; wait "$wrap" 2>/dev/null || true
  kill "$PARLEY"; wait "$PARLEY" 2>/dev/null || true
  grep -E '^\| *'"$1" "$WORK/loadgen.out" || cat "$WORK/loadgen.out"
}

case $MODE in
  cpu)
    start_parley "$COMP"
    loadgen_fake --window 1000 --phase s2x:max:2000 --phase "s2x:max:$COUNT" --phase "x2s:max:$COUNT"
    ;;
  split)
    for dir in s2x x2s; do
      start_parley "$COMP"
      loadgen_fake --window 1000 --phase "$dir:max:2000" >/dev/null 2>&1
      read -r u0 s0 < <(awk '{ print $14, $15 }' "/proc/$PARLEY/stat")
      loadgen_fake --window 1000 --phase "$dir:max:$COUNT" >"$WORK/loadgen.out" 2>&1
      read -r u1 s1 < <(awk '{ print $14, $15 }' "/proc/$PARLEY/stat")
      kill "$PARLEY"; wait "$PARLEY" 2>/dev/null || true
      grep -E '^\| *'"$dir" "$WORK/loadgen.out" || cat "$WORK/loadgen.out"
      awk -v dir="$dir" -v u="$((u1 - u0))" -v s="$((s1 - s0))" -v hz="$(getconf CLK_TCK)" -v n="$COUNT" \
        'BEGIN { printf "%s parley CPU per message, user / system: %.1f / %.1f µs (%d / %d ticks)\n", dir, u * 1e6 / hz / n, s * 1e6 / hz / n, u, s }'
    done
    ;;
  allocs)
    events=()
    for f in mi_malloc_aligned mi_zalloc_aligned mi_realloc_aligned; do
      name="parley_${f}_$$"
      perf probe -q -x "$BIN/parley" --add "$name=$f" >/dev/null
      events+=(-e "probe_parley:$name")
    done
    trap 'perf probe -q --del "probe_parley:*_$$" >/dev/null 2>&1; cleanup' EXIT
    WRAP=(perf stat -x, "${events[@]}")
    for dir in s2x x2s; do
      run_one "$dir"
      awk -F, -v dir="$dir" -v n="$COUNT" '$1 ~ /^[0-9]+$/ { sum += $1; split($3, e, ":"); printf "%s %s: %d (%.1f/msg)\n", dir, e[2], $1, $1 / n }
        END { printf "%s allocations (incl. realloc): %d, %.1f per message\n", dir, sum, sum / n }' "$WORK/wrap.out"
    done
    ;;
  syscalls)
    WRAP=(perf stat -x, -e raw_syscalls:sys_enter -e syscalls:sys_enter_sendto
      -e syscalls:sys_enter_sendmmsg -e syscalls:sys_enter_recvfrom -e syscalls:sys_enter_recvmmsg -e syscalls:sys_enter_write
      -e syscalls:sys_enter_writev -e syscalls:sys_enter_epoll_wait -e context-switches)
    for dir in s2x x2s; do
      run_one "$dir"
      awk -F, -v dir="$dir" -v n="$COUNT" '$1 ~ /^[0-9]+$/ { printf "%s %s: %d (%.2f/msg)\n", dir, $3, $1, $1 / n }' "$WORK/wrap.out"
    done
    ;;
  profile)
    for dir in s2x x2s; do
      WRAP=(perf record -q -e cpu-clock -g -o "$WORK/perf-$dir.data")
      run_one "$dir"
      perf report -q --stdio -i "$WORK/perf-$dir.data" --no-children --percent-limit 1.2 \
        --sort symbol -g none 2>/dev/null | sed 's/[ -]*$//' | grep . | head -20
    done
    ;;
  sustained)
    RATE=${RATE:-10000}
    start_parley "$COMP"
    loadgen_fake --window 4000 --phase "s2x:$RATE:$((RATE * 45))" --phase "s2x:$RATE:$((RATE * 10))"
    ;;
  instructions)
    command -v callgrind_control >/dev/null || { echo "instructions needs valgrind (apt-get install valgrind)" >&2; exit 2; }
    REAL=$BIN; BIN=$WORK/callgrind; mkdir -p "$BIN"; ln -s "$REAL/loadgen" "$BIN/loadgen"
    for dir in s2x x2s; do
      # parley under callgrind, counting nothing until the measured phase.
      printf '#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file=%s --dump-instr=no --instr-atstart=no %s %s "$@"\n' \
        "$WORK/cg-$dir" "${CACHE_SIM:+--cache-sim=yes}" "$REAL/parley" >"$BIN/parley"
      chmod +x "$BIN/parley"
      start_parley "$COMP"
      loadgen_fake --window 200 --phase "$dir:max:1000" >/dev/null 2>&1
      callgrind_control -i on "$PARLEY" >/dev/null 2>&1
      # Under valgrind parley is ~50 times slower: a retransmission (Timer E,
      # 500 ms) counted here would add a parse and a send to the figure.
      loadgen_fake --window 200 --phase "$dir:max:$COUNT" 2>&1 | grep -E '^loadgen: phase 1 ' \
        | sed -nE 's/.*(phase 1 [^:]*:[^:]*:[0-9]+): .*[ ]([0-9]+ duplicate deliveries, [0-9]+ SIP retransmissions[^,]*).*/\1: \2/p; s/.*(phase 1 .*: [0-9]+ delivered, [0-9]+ refused[^,]*, [0-9]+ failed).*/\1/p'
      callgrind_control -d "$PARLEY" >/dev/null 2>&1
      kill "$PARLEY"; wait "$PARLEY" 2>/dev/null || true
      callgrind_annotate "$WORK/cg-$dir.1" 2>/dev/null | awk -v dir="$dir" -v n="$COUNT" \
        '/PROGRAM TOTALS/ { gsub(",", "", $1); printf "%s instructions (user space): %d, %.0f per message\n", dir, $1, $1 / n }'
      if [[ -n ${CACHE_SIM:-} ]]; then
        # Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw, each followed by its share.
        callgrind_annotate "$WORK/cg-$dir.1" 2>/dev/null | awk -v dir="$dir" -v n="$COUNT" '/PROGRAM TOTALS/ {
          for (i = 1; i <= NF; i += 2) gsub(",", "", $i)
          printf "%s cache model per message: %.0f instruction-fetch misses (first level), %.0f data read and %.0f data write misses (first level), %.1f / %.1f / %.1f last-level (fetch / read / write)\n",
            dir, $7 / n, $9 / n, $11 / n, $13 / n, $15 / n, $17 / n }'
      fi
      if [[ -n ${CALLGRIND_OUT:-} ]]; then mkdir -p "$CALLGRIND_OUT"; cp "$WORK/cg-$dir.1" "$CALLGRIND_OUT/cg-$dir.out"; fi
      callgrind_annotate --inclusive=yes "$WORK/cg-$dir.1" 2>/dev/null | grep -E 'parley_[a-z]+::' \
        | sed -E 's|/rustc/[0-9a-f]+/library/||; s|^ *([0-9,]+) \( *([0-9.]+%)\) +[^:]*:([^ ]*).*|\2 \3|' | awk '!seen[$2]++ && ++n <= 20'
    done
    ;;
  *) echo "usage: $0 [cpu|split|allocs|syscalls|profile|sustained|instructions]" >&2; exit 2 ;;
esac

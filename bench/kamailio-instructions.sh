#!/usr/bin/env bash
# User-space instructions per stateless MESSAGE/200 of Kamailio, the
# reference of bench/ratio.sh's ratio 1 (issue 24): what
# `bench/per-message.sh instructions` gives for Parley, for Kamailio.
#
#   bench/kamailio-instructions.sh
#
# Kamailio started as ratio.sh starts it (bench/lib.sh's start_kamailio) runs
# under valgrind's callgrind, every process of it followed, counting
# nothing until sipp has sent a warm-up of $WARM MESSAGEs (default 500);
# then $COUNT MESSAGEs (default 2000) at $RATE/s (default 200: Kamailio is
# ~50 times slower under valgrind, and a retransmission would add a
# MESSAGE to the count). Prints the instructions of every process summed,
# per MESSAGE answered, and the top functions of the busiest process.
#
# KAM_PKG_MANAGER (default: Kamailio's own, qm) is passed as `-X`, the
# manager of Kamailio's private memory (qm, fm or tlsf): with its default
# the figure is mostly qm_malloc's search of its free lists.
# Needs kamailio, kamcmd, sipp and valgrind (Debian: apt-get install
# kamailio sip-tester valgrind). Listens on 127.0.0.1 only.
. "$(dirname "$0")/lib.sh"
WARM=${WARM:-500}
COUNT=${COUNT:-2000}
RATE=${RATE:-200}
for tool in kamailio kamcmd sipp valgrind callgrind_control callgrind_annotate ss; do
  command -v "$tool" >/dev/null || { echo "kamailio-instructions.sh: missing $tool" >&2; exit 2; }
done
machine
echo "kamailio: $(kamailio -v 2>&1 | head -1)${KAM_PKG_MANAGER:+, -X $KAM_PKG_MANAGER}"

port=$(free_udp_port $((BASE + 70)))
sipp_port=$(free_udp_port $((port + 1)))
start_kamailio "$WORK/kamailio" "$port" valgrind --tool=callgrind --trace-children=yes \
  --callgrind-out-file="$WORK/cg.%p" --dump-instr=no --instr-atstart=no

# send N FILE: N MESSAGEs from sipp; prints how many got their 200 and
# how many were retransmitted.
send() {
  sipp_messages "$port" "$sipp_port" "$1" "$RATE" "$2"
  echo "$(sipp_stat "$2" 'SuccessfulCall(C)' || echo 0) $(sipp_stat "$2" 'Retransmissions(C)' || echo 0)"
}

read -r warm _ < <(send "$WARM" "$WORK/warm.csv")
((warm == WARM)) || { echo "warm-up: $warm of $WARM answered; sipp said:" >&2; cat "$WORK/sipp.out" >&2; exit 1; }
pids=$(tree_pids "$KAM")
for p in $pids; do callgrind_control -i on "$p" >/dev/null 2>&1 || true; done
read -r ok retrans < <(send "$COUNT" "$WORK/measured.csv")
for p in $pids; do callgrind_control -d "$p" >/dev/null 2>&1 || true; done
echo "sipp: $ok of $COUNT answered 200, $retrans retransmissions"
((ok == COUNT && retrans == 0)) || { echo "not every MESSAGE answered once; lower RATE" >&2; exit 1; }

total=0; busiest=; most=0
for f in "$WORK"/cg.*.1; do
  n=$(callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/ && $1 ~ /^[0-9,]+$/ { gsub(",", "", $1); print $1; exit }')
  n=${n:-0}
  total=$((total + n))
  if ((n > most)); then most=$n; busiest=$f; fi
done
((total > 0)) || { echo "no instructions counted" >&2; exit 1; }
awk -v t="$total" -v n="$COUNT" -v p="$(wc -w <<<"$pids")" \
  'BEGIN { printf "kamailio instructions (user space, %d processes): %d, %.0f per MESSAGE\n", p, t, t / n }'
echo "top of the busiest process ($(basename "$busiest")), self:"
callgrind_annotate "$busiest" 2>/dev/null | grep -E '^ *[0-9,]+ \( *[0-9.]+%\)  [^ ]' | grep -v 'PROGRAM TOTALS' | head -8 \
  | sed -E 's|^ *([0-9,]+) \( *([0-9.]+%)\) +[^:]*:([^ ]*).*|\2 \3|'

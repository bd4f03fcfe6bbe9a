#!/usr/bin/env bash
# Runs every fuzz target of the module (each `func Fuzz...` in a *_test.go
# file) with execution-count budgets. Used by `make fuzz-short` and
# `make fuzz`; see the Makefile for why budgets are counts (-fuzztime=Nx),
# never durations.
#
#   scripts/fuzz.sh short
#       each target once: FUZZTIME_SHORT executions (e.g. 30000x), or the
#       target's own count from FUZZ_SHORT_COUNTS ("FuzzName=Nx ...") for
#       the slow end-to-end targets;
#   scripts/fuzz.sh long SECONDS
#       each target gets an equal share of SECONDS of wall time, spent in
#       rounds: each round is one go test invocation with a count; the
#       first round's count is the target's short count, each next one is
#       sized from the executions per second the previous rounds measured
#       to fit what is left of the share (at most FUZZ_ROUND_SECONDS, 120 s
#       by default), until the share is used. So every invocation stays
#       count-based and the whole run takes at least SECONDS.
#
# It prints one line per target (rounds, executions, seconds, corpus) and
# a total; on a failure it prints that invocation's output and exits 1.
# Failing inputs are written under the package's testdata/fuzz by go test.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
mode=${1:-short}
total=${2:-600}
short_default=${FUZZTIME_SHORT:-30000x}
round_max=${FUZZ_ROUND_SECONDS:-120}
log=$(mktemp "${TMPDIR:-/tmp}/roam-fuzz.XXXXXX")
trap 'rm -f "$log"' EXIT

now_ms() { date +%s%3N; }

# secs formats milliseconds as seconds with one decimal.
secs() { printf '%d.%d' $(($1 / 1000)) $(($1 % 1000 / 100)); }

# targets prints "pkgdir name" for every fuzz target, in a stable order.
targets() {
  grep -rlE --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u | while read -r dir; do
    grep -hoE '^func (Fuzz[A-Za-z0-9_]+)' "$dir"/*_test.go | sed 's/^func //' | sort | while read -r name; do
      echo "$dir $name"
    done
  done
}

# short_count prints the short budget of target $1 (with the x).
short_count() {
  local kv
  for kv in ${FUZZ_SHORT_COUNTS:-}; do
    if [ "${kv%%=*}" = "$1" ]; then
      echo "${kv#*=}"
      return
    fi
  done
  echo "$short_default"
}

# run_once runs target $2 of package $1 for $3 executions (a number) and
# sets last_execs and last_corpus from its output; exits on failure.
run_once() {
  if ! $GO test -run='^$' -fuzz="^$2\$" -fuzztime="$3x" "$1" > "$log" 2>&1; then
    echo "FAIL: fuzz $1 $2 ($3x)"
    cat "$log"
    exit 1
  fi
  last_execs=$(grep -oE 'execs: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo "$3")
  last_corpus=$(grep -oE 'total: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo "?")
}

mapfile -t list < <(targets)
n=${#list[@]}
if [ "$n" -eq 0 ]; then
  echo "no fuzz targets found" >&2
  exit 1
fi
case "$mode" in
short) share_ms=0 ;;
long) share_ms=$((total * 1000 / n)) ;;
*)
  echo "usage: $0 short | long SECONDS" >&2
  exit 2
  ;;
esac

start=$(now_ms)
sum_execs=0
printf '%-16s %-20s %6s %11s %8s %7s\n' package target rounds executions seconds corpus
for entry in "${list[@]}"; do
  dir=${entry% *}
  name=${entry#* }
  count=$(short_count "$name")
  count=${count%x}
  rounds=0 execs=0 spent=0
  while :; do
    t0=$(now_ms)
    run_once "$dir" "$name" "$count"
    d=$(($(now_ms) - t0))
    rounds=$((rounds + 1))
    execs=$((execs + last_execs))
    spent=$((spent + d))
    left=$((share_ms - spent))
    if [ "$left" -le 0 ]; then
      break
    fi
    # The next round: the measured rate times what is left (at most
    # round_max seconds), at least 1000 executions.
    plan=$((left < round_max * 1000 ? left : round_max * 1000))
    count=$((execs * plan / (spent > 0 ? spent : 1)))
    count=$((count < 1000 ? 1000 : count))
  done
  sum_execs=$((sum_execs + execs))
  printf '%-16s %-20s %6d %11d %8s %7s\n' "$dir" "$name" "$rounds" "$execs" "$(secs "$spent")" "$last_corpus"
done
elapsed=$(($(now_ms) - start))
printf 'total: %d targets, %d executions, %s s, 0 failures\n' "$n" "$sum_execs" "$(secs "$elapsed")"

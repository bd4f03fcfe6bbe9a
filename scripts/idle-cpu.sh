#!/usr/bin/env bash
# Measures the idle CPU of a local 3-node cluster with default settings
# (64 partitions, R=3, production Raft and gossip timing): starts the
# nodes, lets them settle, then reads utime+stime of the three processes
# from /proc over a window. Prints the total as a percentage of one core.
#   scripts/idle-cpu.sh [settle-seconds] [window-seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
settle=${1:-20}
window=${2:-20}
bin=${ROAM_BIN:-bin}
dir=$(mktemp -d)
key=$(head -c 32 /dev/urandom | base64)
conf=()
if [ -n "${ROAM_CONFIG_JSON:-}" ]; then echo "$ROAM_CONFIG_JSON" > "$dir/conf.json"; conf=(-config "$dir/conf.json"); fi
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
for i in 1 2 3; do
  base=$((17400 + (i - 1) * 10))
  join=()
  if [ "$i" -gt 1 ]; then join=(-join 127.0.0.1:17402); fi
  "$bin/roamd" -data "$dir/n$i" -client "127.0.0.1:$base" -internal "127.0.0.1:$((base + 1))" \
    -gossip "127.0.0.1:$((base + 2))" -cluster-key "$key" "${conf[@]}" "${join[@]}" -log-level error > "$dir/n$i.out" 2>&1 &
  pids+=($!)
  [ "$i" -eq 1 ] && sleep 2
done
sleep "$settle"
ticks() { local t=0; for p in "${pids[@]}"; do set -- $(cut -d' ' -f14,15 "/proc/$p/stat"); t=$((t + $1 + $2)); done; echo "$t"; }
hz=$(getconf CLK_TCK)
a=$(ticks); sleep "$window"; b=$(ticks)
awk -v d=$((b - a)) -v hz="$hz" -v w="$window" 'BEGIN { printf "idle CPU of a 3-node cluster (64 partitions, R=3): %.1f%% of one core over %ds\n", 100 * d / hz / w, w }'

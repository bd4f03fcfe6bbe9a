#!/usr/bin/env bash
# Measures the idle CPU of a local N-node cluster (default 3) with default
# settings (64 partitions, R=3, production Raft and gossip timing): starts
# the nodes, lets them settle, then reads utime+stime of the N processes
# from /proc over a window. Prints the total as a percentage of one core.
#   scripts/idle-cpu.sh [settle-seconds] [window-seconds] [nodes]
# ROAM_BIN picks the directory of roamd (default bin), so two builds can
# be measured back to back.
set -euo pipefail
cd "$(dirname "$0")/.."
settle=${1:-20}
window=${2:-20}
nodes=${3:-3}
bin=${ROAM_BIN:-bin}
dir=$(mktemp -d)
key=$(head -c 32 /dev/urandom | base64)
conf=()
if [ -n "${ROAM_CONFIG_JSON:-}" ]; then echo "$ROAM_CONFIG_JSON" > "$dir/conf.json"; conf=(-config "$dir/conf.json"); fi
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
for i in $(seq 1 "$nodes"); do
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
awk -v d=$((b - a)) -v hz="$hz" -v w="$window" -v n="$nodes" 'BEGIN { printf "idle CPU of a %d-node cluster (64 partitions, R=3): %.1f%% of one core over %ds\n", n, 100 * d / hz / w, w }'

#!/usr/bin/env bash
# Starts a local roam cluster of N nodes (default 3) on loopback, with data
# under .run/, and stops it cleanly on Ctrl-C. Used by `make run`.
#
# Clients speak TLS to every node with a development certificate for
# 127.0.0.1 and localhost, made once under .run/certs by `roamd cert`;
# the nodes talk to each other over mutual TLS with certificates derived
# from the cluster key (.run/cluster.key).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${ROAM_NODES:-3}
bin=${ROAM_BIN:-bin}
certs=.run/certs
keyfile=.run/cluster.key
mkdir -p .run
chmod 700 .run
if [ ! -f "$certs/node.crt" ]; then
  "$bin/roamd" cert create-ca --certs-dir "$certs" --overwrite > /dev/null
  "$bin/roamd" cert create-node --certs-dir "$certs" --node-id local --host 127.0.0.1,localhost --overwrite > /dev/null
  echo "made a development CA and client certificate in $certs"
fi
if [ ! -f "$keyfile" ]; then
  # A fixed key for this local cluster only (data in .run/ made by older
  # versions of this script used it); real clusters generate their own.
  (umask 077; echo "${ROAM_CLUSTER_KEY:-cm9hbS1sb2NhbC1kZXYta2V5LTMyLWJ5dGVzLW9rISE=}" > "$keyfile")
fi
unset ROAM_CLUSTER_KEY # the nodes read the key file
pids=()
stop() {
  trap - INT TERM
  echo "stopping ${#pids[@]} nodes..."
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait || true
  echo "stopped; data kept in .run/ (make clean removes it)"
}
trap stop INT TERM
for i in $(seq 1 "$n"); do
  base=$((7400 + (i - 1) * 10))
  join=()
  if [ "$i" -gt 1 ]; then join=(-join 127.0.0.1:7402); fi
  "$bin/roamd" -data ".run/node$i" -node-id "node$i" \
    -client "127.0.0.1:$base" -internal "127.0.0.1:$((base + 1))" -gossip "127.0.0.1:$((base + 2))" \
    -client-cert "$certs/node.crt" -client-key "$certs/node.key" \
    -cluster-key-file "$keyfile" -gossip-fast -http "127.0.0.1:$((base + 9))" "${join[@]}" -log-level warn 2> ".run/node$i.log" &
  pids+=($!)
  # The first node must be up before the others join it.
  if [ "$i" -eq 1 ]; then
    for _ in $(seq 1 100); do
      grep -q "roamd:.*ready\|level=INFO msg=ready" ".run/node1.log" 2>/dev/null && break
      (exec 3<>/dev/tcp/127.0.0.1/7400) 2>/dev/null && break
      sleep 0.1
    done
  fi
done
sleep 1
echo
echo "roam cluster of $n nodes is running (logs in .run/nodeN.log):"
for i in $(seq 1 "$n"); do echo "  node$i: clients connect to 127.0.0.1:$((7400 + (i - 1) * 10)) (TLS); management on http://127.0.0.1:$((7409 + (i - 1) * 10))"; done
echo
echo "Try, in another terminal (from this directory):"
echo "  export ROAM_CA=$certs/ca.crt"
echo "  printf 'pw\n' | ROAM_STATE=/tmp/a.json $bin/roam --addr 127.0.0.1:7400 --password-stdin register alice"
echo "  printf 'pw\n' | ROAM_STATE=/tmp/a.json $bin/roam --addr 127.0.0.1:7420 --password-stdin login alice"
echo "  $bin/roam admin status --http 127.0.0.1:7409"
echo "Ctrl-C stops the cluster."
wait

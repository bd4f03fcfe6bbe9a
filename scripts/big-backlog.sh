#!/usr/bin/env bash
# The 100,000-message backlog of issue 12 (not part of make test): a
# 3-node in-process cluster with the send rate raised; alice sends
# 100,000 messages of 1,400 bytes (64 concurrent sends) to bob while he is
# offline; then `roam recv` (the CLI's own run function) syncs them on
# another node, and the test checks each is printed once, in order.
# recv's progress lines on stderr give the time it took.
#   scripts/big-backlog.sh [messages]
set -euo pipefail
cd "$(dirname "$0")/.."
ROAM_BIG_BACKLOG=${1:-1} exec go test ./cmd/roam -run '^TestRecv_BigBacklog$' -count=1 -v -timeout 30m

#!/bin/sh
# Quick benchmark: the four small rows against every target, results in
# results/quick-<date>/. Usage: scripts/bench-quick.sh [extra bench flags]
set -eu
cd "$(dirname "$0")/.."
[ -d scripts/socketio/node_modules ] || (cd scripts/socketio && npm ci --no-audit --no-fund)
[ -d scripts/deepstream/node_modules ] || (cd scripts/deepstream && npm ci --omit=dev --no-audit --no-fund)
go build -o bin/swiftlet ./cmd/swiftlet
exec bin/swiftlet bench -targets swiftlet,socketio,deepstream -rows quick -rounds 10 -warmup 2 \
	-label "quick-$(date -u +%Y%m%d-%H%M%S)" -swiftlet-bin bin/swiftlet "$@"

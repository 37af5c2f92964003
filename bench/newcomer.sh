#!/usr/bin/env bash
# The newcomer's timing (docs/getting-started.md, "How long it takes"): a fresh clone of this
# repository into a temporary directory, with an empty target/, then `make dev` until the demo
# account is ready, then the first code revealed in headless Chromium as alice. Needs what
# `make dev` needs, plus Chromium and tests/browser's node_modules (`make test-deps`).
# Usage: bench/newcomer.sh [port]   (default 18080; the IdP takes port+1)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
port=${1:-18080}
work=$(mktemp -d)
trap 'kill -- -$dev_pid 2>/dev/null || true; rm -rf "$work"' EXIT
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f s", b - a }'; }

t0=$(now)
git clone -q "$repo" "$work/keyward"
echo "clone: $(since "$t0")"
cd "$work/keyward"
set -m
DEV_IDP_PORT=$((port + 1)) make dev DEV_LISTEN=127.0.0.1:$port >"$work/dev.log" 2>&1 &
dev_pid=$!
set +m
until grep -q "Demo account @keyward_demo ready" "$work/dev.log"; do
  kill -0 $dev_pid 2>/dev/null || { tail -n 30 "$work/dev.log"; exit 1; }
  sleep 0.5
done
echo "make dev ready (built, serving, demo account seeded): $(since "$t0")"
grep -E "^\s+Finished" "$work/dev.log" | sed 's/^ */  cargo: /'
node "$repo/tests/browser/first-code.mjs" "http://127.0.0.1:$port"
echo "clone to first code, scripted: $(since "$t0")"

#!/usr/bin/env bash
# Cross-checks our load generator against wrk (Debian's package) on one running server:
# `mlsd serve sentiment` with its cache off, POST /v1/sentiment one text per request, closed loop
# at 1 and 16 connections, 10 s each, both clients on this machine and on loopback only.
# Prints one line per (client, connections). docs/benchmarks.md quotes a run.
#
#   scripts/crosscheck-wrk.sh            # builds mlsd (release) if needed
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
    apt-get install -y wrk >/dev/null
fi
cargo build --release --locked --quiet
bin="${CARGO_TARGET_DIR:-target}/release/mlsd"
work=$(mktemp -d)
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

export MLSD_RUNS_DIR="$work/runs"
"$bin" sentiment train >/dev/null
"$bin" serve sentiment --addr 127.0.0.1:0 --cache-capacity 0 --log-format text \
    >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 100); do
    grep -q "listening on" "$work/server.out" 2>/dev/null && break
    sleep 0.1
done
addr=$(sed -n 's/^listening on http:\/\///p' "$work/server.out")
echo "server: $addr (pid $server_pid), cache off"

# Our load generator: the bench's closed-loop sweep (1…64 connections, 3 s each) on the same
# server; its real-time mode's rows at 1 and 16 connections.
"$bin" bench serve --design sentiment --url "http://$addr" --json >"$work/bench.json"
csv=$(ls -t "$work"/runs/bench-serve-sentiment-*/bench.csv | head -1)
awk -F, '$1=="realtime" && $2=="sweep" && ($4==1 || $4==16) {
    printf "mlsd loadgen  %2d connections: %8.0f req/s  p50 %.3f ms  p99 %.3f ms  (%.0f s)\n", $4, $12, $15, $17, $11 }' "$csv"

# wrk: the same route, texts of the same kind cycled per request.
cat >"$work/post.lua" <<'LUA'
local texts = {
  "The battery lasts two days and the screen is sharp.",
  "Stopped charging after a week; support never answered.",
  "Fine for the price, though the speaker crackles at full volume.",
  "Best purchase this year: fast, quiet and it just works.",
}
local i = 0
request = function()
  i = i % #texts + 1
  local body = '{"text": "' .. texts[i] .. '"}'
  return wrk.format("POST", "/v1/sentiment", {["Content-Type"] = "application/json"}, body)
end
LUA
for c in 1 16; do
    wrk -t 1 -c "$c" -d 10s --latency -s "$work/post.lua" "http://$addr" >"$work/wrk-$c.txt"
    rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk-$c.txt")
    p50=$(awk '$1=="50%" {print $2}' "$work/wrk-$c.txt")
    p99=$(awk '$1=="99%" {print $2}' "$work/wrk-$c.txt")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/wrk-$c.txt")
    printf "wrk           %2d connections: %8.0f req/s  p50 %s  p99 %s  (10 s%s)\n" \
        "$c" "$rps" "$p50" "$p99" "${non2xx:+, $non2xx non-2xx}"
done

#!/usr/bin/env bash
# Contract fuzzing: Schemathesis (from PyPI, in a virtual environment of its own) against
# every design's server on loopback — positive and negative data, every check (no server
# error, status codes, content types, response schemas, schema-valid data accepted and
# schema-invalid data rejected). Exits non-zero on any finding.
#
#   scripts/fuzz-contract.sh [max examples per operation, default 200]
#
# Uses the mlsd binary at $MLSD_BIN (default: $CARGO_TARGET_DIR/release/mlsd, so build with
# `cargo build --release` first). Models are trained into a temporary folder; the servers bind
# 127.0.0.1 on free ports and are stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

examples="${1:-200}"
bin="${MLSD_BIN:-${CARGO_TARGET_DIR:-target}/release/mlsd}"
venv="${MLSD_SCHEMATHESIS_VENV:-$HOME/.cache/mlsd-schemathesis}"
version="4.32.5"
[ -x "$bin" ] || { echo "no mlsd binary at $bin: run cargo build --release"; exit 1; }

if ! "$venv/bin/st" --version 2>/dev/null | grep -q "$version"; then
    echo "installing schemathesis $version into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
export MLSD_RUNS_DIR="$work/runs"
unset MLSD_REGISTRY MLSD_ADMIN_TOKEN
token="contract-fuzz-$(date +%s%N)"
echo "$token" > "$work/token"

echo "training small models into $work"
"$bin" fraud generate --seed 7 --out "$work/tx.arrows" --customers 600 --terminals 1200 --days 140 >/dev/null
"$bin" fraud train --input "$work/tx.arrows" --model logistic_regression >/dev/null
"$bin" recommender train >/dev/null
"$bin" sentiment train >/dev/null
"$bin" maintenance train >/dev/null
"$bin" newsfeed train >/dev/null

# Starts `mlsd serve <design> …` and sets `url` to its bound address once it listens. It runs
# in this shell, not in a `$(…)` subshell: the PID must reach `pids`, or cleanup stops nothing
# and the servers outlive the run.
url=""
start() {
    local design="$1"; shift
    "$bin" serve "$design" --addr 127.0.0.1:0 --admin-token-file "$work/token" "$@" \
        >"$work/$design.out" 2>"$work/$design.log" &
    pids+=("$!")
    for _ in $(seq 1 300); do
        if grep -q "listening on" "$work/$design.out" 2>/dev/null; then
            url="$(sed -n 's/^listening on //p' "$work/$design.out")"
            return 0
        fi
        sleep 0.1
    done
    echo "the $design server did not start:" >&2
    cat "$work/$design.log" >&2
    return 1
}

failed=0
for design in fraud recommender sentiment maintenance newsfeed; do
    extra=()
    config=(--config-file scripts/contract/all.toml)
    if [ "$design" = sentiment ]; then
        # Live feeds end after 1 s here, so each generated subscription gets a whole answer.
        extra=(--live-max-secs 1)
        config=(--config-file scripts/contract/sentiment.toml)
    fi
    if [ "$design" = maintenance ] || [ "$design" = newsfeed ]; then
        config=(--config-file "scripts/contract/$design.toml")
    fi
    if ! start "$design" "${extra[@]}"; then
        failed=1
        break
    fi
    echo
    echo "=== $design at $url: $examples examples per operation"
    if ! SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$PWD/scripts/contract" \
        "$venv/bin/st" "${config[@]}" run "$url/openapi.json" \
        --max-examples "$examples" --seed 42 --generation-database none --no-color \
        --request-timeout 10 --workers 2 \
        -H "Authorization: Bearer $token" \
        >"$work/$design.st" 2>&1; then
        failed=1
    fi
    sed -n '/SUMMARY/,$p' "$work/$design.st"
    if [ "$failed" = 1 ]; then
        sed -n '/ERRORS\|FAILURES/,/SUMMARY/p' "$work/$design.st" | head -200
        break
    fi
done
exit "$failed"

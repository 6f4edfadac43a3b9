#!/usr/bin/env bash
# Redis and HAProxy from Debian's packages, unpacked into a cache folder (no install, so no
# service is started and nothing outside the folder changes), run on 127.0.0.1 and stopped by PID.
#
#   scripts/redis.sh install            download + unpack redis-server 7.0 and haproxy 2.6
#   scripts/redis.sh start [PORT]       start Redis on 127.0.0.1:PORT (default 6379); prints its URL
#   scripts/redis.sh stop [PORT]        stop it (by the PID it wrote)
#   scripts/redis.sh bin NAME           print the path of an unpacked binary (redis-cli, haproxy …)
#   scripts/redis.sh run NAME ARGS…     run it (exec: the caller's PID is the program's)
#
# Everything lives under $MLSD_PARTS_DIR (default ~/.cache/mlsd-parts). The server keeps no
# snapshot unless asked (MLSD_REDIS_AOF=1 turns the append-only file on, for the restart test).
set -euo pipefail

PARTS="${MLSD_PARTS_DIR:-$HOME/.cache/mlsd-parts}"
ROOT="$PARTS/root"
LIBS="$ROOT/usr/lib/x86_64-linux-gnu"
PACKAGES=(redis-server redis-tools liblzf1 libjemalloc2 haproxy liblua5.3-0 libopentracing-c-wrapper0 libopentracing1)

bin() {
    for dir in "$ROOT/usr/bin" "$ROOT/usr/sbin"; do
        if [ -x "$dir/$1" ]; then
            echo "$dir/$1"
            return 0
        fi
    done
    return 1
}

# Runs an unpacked binary with the unpacked libraries first on the search path.
run() {
    local exe
    exe=$(bin "$1") || { echo "$1 is not unpacked: run scripts/redis.sh install" >&2; return 1; }
    shift
    LD_LIBRARY_PATH="$LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$exe" "$@"
}

install() {
    if bin redis-server >/dev/null && bin haproxy >/dev/null; then
        return 0
    fi
    command -v apt-get >/dev/null || { echo "apt-get unavailable: cannot fetch Redis/HAProxy" >&2; return 1; }
    mkdir -p "$PARTS/debs" "$ROOT"
    (
        cd "$PARTS/debs"
        apt-get download "${PACKAGES[@]}" >/dev/null 2>&1 \
            || { apt-get update -qq >/dev/null 2>&1 && apt-get download "${PACKAGES[@]}" >/dev/null 2>&1; }
        for deb in ./*.deb; do
            dpkg-deb -x "$deb" "$ROOT"
        done
        rm -f ./*.deb
    )
    run redis-server --version
    run haproxy -v | head -1
}

start() {
    local port="${1:-6379}"
    local dir="$PARTS/redis-$port"
    mkdir -p "$dir"
    local aof=no
    [ "${MLSD_REDIS_AOF:-0}" = 1 ] && aof=yes
    run redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save "" \
        --appendonly "$aof" --daemonize yes --pidfile "$dir/redis.pid" \
        --logfile "$dir/redis.log" >/dev/null
    for _ in $(seq 50); do
        if run redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then
            echo "redis://127.0.0.1:$port"
            return 0
        fi
        sleep 0.1
    done
    echo "Redis did not answer on 127.0.0.1:$port (see $dir/redis.log)" >&2
    return 1
}

stop() {
    local port="${1:-6379}" pidfile pid
    pidfile="$PARTS/redis-$port/redis.pid"
    if [ -f "$pidfile" ]; then
        pid=$(cat "$pidfile")
        kill "$pid" 2>/dev/null || true
        # Redis removes its PID file as it shuts down; wait for the process itself.
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        rm -f "$pidfile"
    fi
}

case "${1:-}" in
    install) install ;;
    start) start "${2:-6379}" ;;
    stop) stop "${2:-6379}" ;;
    bin) bin "$2" ;;
    run) shift; exe=$(bin "$1"); shift; LD_LIBRARY_PATH="$LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$exe" "$@" ;;
    *) sed -n '2,12p' "$0"; exit 2 ;;
esac

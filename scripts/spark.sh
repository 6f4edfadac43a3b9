#!/usr/bin/env bash
# A local Apache Spark Connect server for the `spark` feature's tests and demos: Spark from the
# `pyspark` package on PyPI (in a virtual environment of its own), Java 17 from Debian, bound to
# 127.0.0.1 and stopped by PID. Nothing outside $MLSD_PARTS_DIR changes.
#
#   scripts/spark.sh install           pyspark[connect] 4.2.1 into a venv; Java 17 (the machine's,
#                                      else Debian's openjdk-17-jre-headless unpacked); Debian's
#                                      protoc for building the client (scripts/protoc runs it)
#   scripts/spark.sh start [PORT]      start the server on 127.0.0.1:PORT (default 15002); prints
#                                      its address (sc://127.0.0.1:PORT) once it accepts sessions
#   scripts/spark.sh stop [PORT]       stop it (by the PID it wrote)
#
# The server runs `local[N]` (N = MLSD_SPARK_CORES, default every core) with the session time
# zone UTC, so timestamps read from files mean what they mean to polars, and with no deadline
# on a statement's response stream: by default the server ends it after 2 minutes and expects
# the client to reattach, which the Rust client does not (a statement longer than that would
# look finished while it is cancelled).
set -euo pipefail

PARTS="${MLSD_PARTS_DIR:-$HOME/.cache/mlsd-parts}"
VENV="$PARTS/spark-venv"
JAVA_ROOT="$PARTS/java-root"
PROTOC_ROOT="$PARTS/protoc-root"
PROTOC_PACKAGES=(protobuf-compiler libprotoc32 libprotobuf32 libprotobuf-dev)
PYSPARK_VERSION=4.2.1

spark_home() {
    "$VENV/bin/python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))'
}

# Debian packages unpacked into a folder (no install: nothing outside it changes).
unpack() {
    local root="$1"
    shift
    command -v apt-get >/dev/null || { echo "no apt-get to fetch $*" >&2; return 1; }
    local debs
    debs=$(mktemp -d)
    (
        cd "$debs"
        apt-get download "$@" >/dev/null 2>&1 \
            || { apt-get update -qq >/dev/null 2>&1 && apt-get download "$@" >/dev/null 2>&1; }
        mkdir -p "$root"
        for deb in ./*.deb; do
            dpkg-deb -x "$deb" "$root"
        done
    )
    local status=$?
    rm -rf "$debs"
    return $status
}

# JAVA_HOME of a Java ≥ 17: the machine's if it has one, else the unpacked Debian package.
java_home() {
    local unpacked="$JAVA_ROOT/usr/lib/jvm/java-17-openjdk-amd64"
    if [ "${MLSD_SPARK_UNPACKED_JAVA:-0}" != 1 ] && command -v java >/dev/null 2>&1; then
        local major
        major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
        if [ -n "$major" ] && [ "$major" -ge 17 ]; then
            dirname "$(dirname "$(readlink -f "$(command -v java)")")"
            return 0
        fi
    fi
    if [ -x "$unpacked/bin/java" ]; then
        echo "$unpacked"
        return 0
    fi
    return 1
}

install() {
    if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import pyspark; assert pyspark.__version__ == '$PYSPARK_VERSION'" 2>/dev/null; then
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install -q --disable-pip-version-check "pyspark[connect]==$PYSPARK_VERSION"
    fi
    if ! java_home >/dev/null; then
        unpack "$JAVA_ROOT" openjdk-17-jre-headless
    fi
    if [ ! -x "$PROTOC_ROOT/usr/bin/protoc" ]; then
        unpack "$PROTOC_ROOT" "${PROTOC_PACKAGES[@]}"
    fi
    local home
    home=$(java_home) || { echo "Java 17 is not available" >&2; return 1; }
    echo "pyspark $PYSPARK_VERSION in $VENV; Java: $("$home/bin/java" -version 2>&1 | head -1); $("$(dirname "$0")/protoc" --version)"
}

start() {
    local port="${1:-15002}"
    local dir="$PARTS/spark-$port"
    local home spark
    home=$(java_home) || { echo "no Java 17: run scripts/spark.sh install" >&2; return 1; }
    spark=$(spark_home) || { echo "no pyspark: run scripts/spark.sh install" >&2; return 1; }
    mkdir -p "$dir"
    if [ -f "$dir/spark.pid" ] && kill -0 "$(cat "$dir/spark.pid")" 2>/dev/null; then
        echo "sc://127.0.0.1:$port"
        return 0
    fi
    # spark-submit execs the JVM, so $! is the server's own PID.
    JAVA_HOME="$home" SPARK_HOME="$spark" SPARK_LOCAL_IP=127.0.0.1 SPARK_LOCAL_DIRS="$dir/tmp" \
        nohup "$spark/bin/spark-submit" \
        --class org.apache.spark.sql.connect.service.SparkConnectServer \
        --name "mlsd Spark Connect" \
        --master "local[${MLSD_SPARK_CORES:-*}]" \
        --driver-memory "${MLSD_SPARK_MEMORY:-2g}" \
        --conf spark.connect.grpc.binding.address=127.0.0.1 \
        --conf spark.connect.grpc.binding.port="$port" \
        --conf spark.driver.bindAddress=127.0.0.1 \
        --conf spark.driver.host=127.0.0.1 \
        --conf spark.ui.enabled=false \
        --conf spark.sql.session.timeZone=UTC \
        --conf spark.connect.execute.reattachable.senderMaxStreamDuration=0 \
        --conf spark.sql.warehouse.dir="$dir/warehouse" \
        --conf "spark.driver.extraJavaOptions=-Duser.timezone=UTC -Dderby.system.home=$dir" \
        spark-internal >"$dir/spark.log" 2>&1 &
    echo $! >"$dir/spark.pid"
    # Ready when the gRPC port accepts connections (the log says so once the session exists).
    for _ in $(seq 600); do
        if grep -q "Spark Connect server started" "$dir/spark.log" 2>/dev/null; then
            echo "sc://127.0.0.1:$port"
            return 0
        fi
        if ! kill -0 "$(cat "$dir/spark.pid")" 2>/dev/null; then
            break
        fi
        sleep 0.2
    done
    echo "Spark Connect did not start on 127.0.0.1:$port (see $dir/spark.log)" >&2
    stop "$port"
    return 1
}

stop() {
    local port="${1:-15002}" pidfile pid
    pidfile="$PARTS/spark-$port/spark.pid"
    if [ -f "$pidfile" ]; then
        pid=$(cat "$pidfile")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$pidfile"
    fi
}

case "${1:-}" in
install) install ;;
start) start "${2:-15002}" ;;
stop) stop "${2:-15002}" ;;
*)
    sed -n '2,13p' "$0"
    exit 2
    ;;
esac

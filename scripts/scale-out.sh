#!/usr/bin/env bash
# Serving past one process, measured: a design's replicas (`mlsd serve <design>`) with their
# online state in memory or in one Redis (fraud: card and terminal windows; recommender:
# sessions; sentiment: topic windows; newsfeed: every replica's own copy, its writes
# replicated by a log in Redis), behind HAProxy (health checks on /ready, retries on a
# failed connection or a 503), all on 127.0.0.1, every process stopped by PID at exit.
#
#   scripts/scale-out.sh [--design fraud|recommender|sentiment|newsfeed] [--quick] [--rate N]
#                        [--saturate N] [--seconds S]
#
# Runs, each an open-loop `mlsd bench load` at the same rate (the design's state path: one
# payment scored, one shop event recorded, one text scored into its topic), and prints one
# line each:
#   1. one replica, in-memory state, direct          2. one replica, Redis state, direct
#   3. HAProxy → 1 Redis replica                     4. HAProxy → 2 Redis replicas (round robin)
#   5. HAProxy → 2 in-memory replicas, routed by key (a hash of the body's customer_id,
#      user_id or topic)
#   6. saturation: HAProxy → 1 vs 2 Redis replicas offered --saturate req/s (goodput = 2xx/s)
#   7. a replica SIGKILLed a third into a run through HAProxy → 2 Redis replicas: every request
#      answered 2xx (retried on the other) or counted; how long HAProxy took to mark it DOWN
#   8. Redis stopped under the replicas (/ready and the state path → 503), started again with
#      its append-only file (→ 200, no replica restarted)
#   9. the event log: 20,000 events appended to a Redis Stream (`mlsd <design> produce`), a
#      consumer process (`mlsd <design> consume`) SIGKILLed mid-stream, a second one takes
#      over its unacknowledged events: events in the state vs appended, events left pending;
#      newsfeed: a replica started after the runs replays the whole log (how long it took)
# docs/benchmarks.md ("Serving past one process") quotes a run. On 2 cores the balancer, the
# replicas, Redis and the load generator share the cores: it shows overhead, not scaling.
set -euo pipefail
cd "$(dirname "$0")/.."

design=fraud rate=300 saturate=30000 seconds=15
while [ $# -gt 0 ]; do
    case "$1" in
        --design) design="$2"; shift ;;
        --quick) seconds=4 ;;
        --rate) rate="$2"; shift ;;
        --saturate) saturate="$2"; shift ;;
        --seconds) seconds="$2"; shift ;;
        *) sed -n '2,24p' "$0"; exit 2 ;;
    esac
    shift
done

bin="${MLSD_BIN:-${CARGO_TARGET_DIR:-target}/release/mlsd}"
if [ -z "${MLSD_BIN:-}" ]; then
    cargo build --release --locked --quiet
fi
scripts/redis.sh install >/dev/null
work=$(mktemp -d)
pids=()
redis_port=""
cleanup() {
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    [ -n "$redis_port" ] && MLSD_PARTS_DIR="$work/parts" scripts/redis.sh stop "$redis_port" || true
    rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }

export MLSD_RUNS_DIR="$work/runs" RUST_LOG=warn
# What differs by design: the model, the key a balancer routes by, a request on the state
# path (step 8), the stream and how many events its consumers put in the state (step 9).
case "$design" in
fraud)
    "$bin" fraud generate --out "$work/tx.arrows" >/dev/null
    "$bin" fraud train --input "$work/tx.arrows" --model logistic_regression >/dev/null
    key=customer_id stream=mlsd:fraud:events produce="fraud produce --payments 20000"
    unit="payments recorded (labels are events too)"
    probe=(-X POST -H 'content-type: application/json' /v1/fraud/score
        -d '{"transaction_id": 99000001, "tx_datetime": "2018-08-20 12:00:00", "customer_id": 3, "terminal_id": 7, "tx_amount": 12.5}')
    ;;
recommender)
    "$bin" recommender train >/dev/null
    key=user_id stream=mlsd:recommender:events produce="recommender produce --events 20000"
    unit="events in sessions"
    probe=('/v1/recommender/users/3/recommendations?mode=realtime')
    ;;
sentiment)
    "$bin" sentiment train >/dev/null
    key=topic stream=mlsd:sentiment:texts produce="sentiment produce --texts 20000"
    unit="texts counted in topics"
    probe=(-X POST -H 'content-type: application/json' /v1/sentiment
        -d '{"text": "the battery lasts for days", "topic": "battery"}')
    ;;
newsfeed)
    "$bin" newsfeed train >/dev/null
    # Routing by key does not apply: a new article concerns every user.
    key="" stream=mlsd:newsfeed:log produce="" unit="entries in the log"
    probe=(-X POST -H 'content-type: application/json' /v1/newsfeed/events
        -d '{"events": [{"user_id": 3, "article_id": 1, "kind": "click", "dwell_seconds": 30}]}')
    ;;
*) echo "--design fraud, recommender, sentiment or newsfeed" >&2; exit 2 ;;
esac

# The parts' binaries stay in the shared cache; this run's Redis data lives in $work.
mkdir -p "$work/parts"
ln -s "${MLSD_PARTS_DIR:-$HOME/.cache/mlsd-parts}/root" "$work/parts/root"
redis_port=$(free_port)
redis_url=$(MLSD_PARTS_DIR="$work/parts" MLSD_REDIS_AOF=1 scripts/redis.sh start "$redis_port")

# replica NAME STATE: starts `mlsd serve <design>`, sets $addr and $pid.
replica() {
    "$bin" serve "$design" --addr 127.0.0.1:0 --state "$2" >"$work/$1.out" 2>"$work/$1.err" &
    pid=$!
    disown "$pid" # no "Killed" line from bash when it is killed on purpose
    pids+=("$pid")
    for _ in $(seq 300); do
        grep -q "listening on" "$work/$1.out" 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || { cat "$work/$1.err" >&2; return 1; }
        sleep 0.1
    done
    addr=$(sed -n 's/^listening on http:\/\///p' "$work/$1.out")
}

# balancer NAME BALANCE ADDR…: starts HAProxy in front of the replicas, sets $lb and $stats.
balancer() {
    local name="$1" balance="$2" port stats_port server i=0
    shift 2
    port=$(free_port) stats_port=$(free_port)
    {
        cat <<CFG
global
    maxconn 2048
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 5s
    # A request whose replica refused the connection, closed it without an answer or shed
    # it (503) goes to another replica, up to twice; its body is buffered for that.
    retries 2
    option redispatch 1
    retry-on conn-failure empty-response 503
    option http-buffer-request
frontend stats
    bind 127.0.0.1:$stats_port
    stats enable
    stats uri /stats
frontend api
    bind 127.0.0.1:$port
    default_backend replicas
backend replicas
    balance $balance
    option httpchk GET /ready
    http-check expect status 200
    default-server inter 250ms fall 2 rise 2
CFG
        for server in "$@"; do
            echo "    server r$i $server check"
            i=$((i + 1))
        done
    } >"$work/$name.cfg"
    scripts/redis.sh run haproxy -f "$work/$name.cfg" -db >"$work/$name.log" 2>&1 &
    pids+=("$!")
    disown "$!"
    lb="127.0.0.1:$port" stats="127.0.0.1:$stats_port"
    for _ in $(seq 100); do
        [ "$(up_servers)" = "$#" ] && return 0
        sleep 0.1
    done
    echo "HAProxy did not see $# replicas up" >&2
    return 1
}
up_servers() { curl -s "http://$stats/stats;csv" 2>/dev/null | awk -F, '$1=="replicas" && $2!="BACKEND" && $18=="UP"' | wc -l; }

# load LABEL ADDR [RATE]: one open-loop run, one line.
load() {
    local out
    out=$("$bin" bench load --design "$design" --url "http://$2" --rate "${3:-$rate}" --seconds "$seconds" --json 2>/dev/null)
    python3 - "$1" "$out" <<'PY'
import json, sys
r = json.loads(sys.argv[2])
print(f"{sys.argv[1]:<46} {r['sent']:>6} sent  {r['ok']:>6} ok  {r['shed']:>4} 503  {r['errors']:>3} errors  "
      f"{r['ok_rps']:>6.0f} ok/s  p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms")
PY
}

echo "$design replicas on 127.0.0.1, open loop at $rate req/s for $seconds s per run ($(nproc) cores shared by all)"
replica mem memory; mem="$addr"
replica a "$redis_url"; a="$addr"; pid_a="$pid"
replica b "$redis_url"; b="$addr"; pid_b="$pid"
load "1. in-memory state, direct" "$mem"
load "2. Redis state, direct" "$a"
balancer one roundrobin "$a"; load "3. HAProxy -> 1 Redis replica" "$lb"; one_lb="$lb"
balancer two roundrobin "$a" "$b"; load "4. HAProxy -> 2 Redis replicas" "$lb"; two_lb="$lb"
replica mem2 memory; mem2="$addr"
if [ -n "$key" ]; then
    balancer hashed "hash req.body,json_query('\$.$key')" "$mem" "$mem2"
    load "5. HAProxy by $key -> 2 in-memory replicas" "$lb"
else
    echo "5. (no routing key: every replica needs every write)"
fi
# Offered far more than 2 cores can answer: goodput (2xx/s) is the capacity; the latency of
# these runs is the load generator's queue (coordinated omission corrected), not the servers'.
load "6. saturation: in-memory replica, direct" "$mem" "$saturate"
load "6. saturation: Redis replica, direct" "$a" "$saturate"
load "6. saturation: HAProxy -> 1 Redis replica" "$one_lb" "$saturate"
load "6. saturation: HAProxy -> 2 Redis replicas" "$two_lb" "$saturate"
# What one request costs Redis itself (its own accounting), and what the state weighs.
redis_cli() { scripts/redis.sh run redis-cli -p "$redis_port" "$@"; }
# in_state DB: events the design's state holds in Redis database DB (payments recorded,
# session events, texts counted in topics), summed server-side.
in_state() {
    local lua="local n, c = 0, '0'
repeat
  local r = redis.call('SCAN', c, 'MATCH', ARGV[1], 'COUNT', 1000)
  c = r[1]
  for _, k in ipairs(r[2]) do
    if ARGV[2] == 'hlen' then n = n + redis.call('HLEN', k)
    elseif ARGV[2] == 'llen' then
      if string.sub(k, -4) ~= ':ids' then n = n + redis.call('LLEN', k) end
    else n = n + tonumber(redis.call('GET', k)) end
  end
until c == '0'
return n"
    case "$design" in
    fraud) redis_cli -n "$1" eval "$lua" 0 'mlsd:fraud:seen' hlen ;;
    recommender) redis_cli -n "$1" eval "$lua" 0 'mlsd:recommender:session:*' llen ;;
    sentiment) redis_cli -n "$1" eval "$lua" 0 'mlsd:sentiment:topic-total:*' get ;;
    newsfeed) redis_cli -n "$1" xlen "$stream" ;;
    esac
}
python3 - "$(redis_cli info commandstats)" "$(redis_cli info memory)" "$(in_state 0)" <<'PY'
import re, sys
stats, memory, events = sys.argv[1], sys.argv[2], int(sys.argv[3])
calls = re.search(r"cmdstat_evalsha:calls=(\d+),usec=\d+,usec_per_call=([\d.]+)", stats)
what = "script calls"
if calls is None:  # a replicated log: appends and reads
    calls, what = re.search(r"cmdstat_xadd:calls=(\d+),usec=\d+,usec_per_call=([\d.]+)", stats), "appends"
used = int(re.search(r"used_memory:(\d+)", memory).group(1))
print(f"   Redis: {int(calls.group(1))} {what} at {float(calls.group(2)):.1f} us each (server time); "
      f"{used / 2**20:.1f} MiB for {events} events in the state ({used / max(events, 1):.0f} bytes each, all keys)")
PY

# 7. A replica killed under load.
lb="$two_lb" stats=$(awk '/frontend stats/{getline; print $2}' "$work/two.cfg")
"$bin" bench load --design "$design" --url "http://$lb" --rate "$rate" --seconds "$seconds" --json \
    >"$work/kill.json" 2>"$work/kill.err" &
load_pid=$!
pids+=("$load_pid")
for _ in $(seq 600); do
    grep -q "load started" "$work/kill.err" 2>/dev/null && break
    sleep 0.05
done
sleep "$(python3 -c "print($seconds / 3)")"
killed_at=$(now_ms)
kill -9 "$pid_b"
down_at=""
for _ in $(seq 200); do
    if [ "$(up_servers)" = 1 ]; then down_at=$(now_ms); break; fi
    sleep 0.02
done
wait "$load_pid"
# HAProxy's own counters for the backend: connection errors, retries, redispatches.
counters=$(curl -s "http://$stats/stats;csv" | awk -F, '$1=="replicas" && $2=="BACKEND" {print $14, $16, $17}')
python3 - "$(cat "$work/kill.json")" "$killed_at" "${down_at:-0}" "$counters" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); killed, down = int(sys.argv[2]), int(sys.argv[3])
econ, retries, redispatched = (int(x or 0) for x in sys.argv[4].split())
when = f"marked DOWN {down - killed} ms after the kill" if down else "never marked DOWN"
print(f"{'7. replica b SIGKILLed under load':<46} {r['sent']:>6} sent  {r['ok']:>6} ok  {r['shed']:>4} 503  {r['errors']:>3} errors  "
      f"p99 {r['p99_ms']:.2f} ms  max {r['max_ms']:.1f} ms; {when}; HAProxy: {econ} connection errors, "
      f"{retries} retries, {redispatched} redispatched")
PY

# 8. Redis stopped and started again under a live replica.
status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
probe() {
    local args=("${probe[@]}") i
    for i in "${!args[@]}"; do
        [[ "${args[$i]}" == /v1/* ]] && args[$i]="http://$a${args[$i]}"
    done
    status "${args[@]}"
}
MLSD_PARTS_DIR="$work/parts" scripts/redis.sh stop "$redis_port"
echo "8. Redis stopped:   /ready $(status "http://$a/ready"), state path $(probe)"
MLSD_PARTS_DIR="$work/parts" MLSD_REDIS_AOF=1 scripts/redis.sh start "$redis_port" >/dev/null
sleep 0.5
echo "   Redis restarted (append-only file): /ready $(status "http://$a/ready"), state path $(probe)"

if [ "$design" = newsfeed ]; then
    # 9. A replica started after the runs replays the whole log.
    position() { curl -s "http://$1/ready" | python3 -c 'import json, sys; print(json.load(sys.stdin).get("log_position", ""))'; }
    target=$(position "$a")
    started_at=$(now_ms)
    replica late "$redis_url"; late="$addr"
    until [ "$(position "$late")" = "$target" ]; do sleep 0.05; done
    echo "9. a replica started after the runs: ready and caught up with $(redis_cli xlen "$stream") log entries (position $target) $(( $(now_ms) - started_at )) ms after its start"
    exit 0
fi

# 9. A consumer killed mid-stream (its own Redis database, so the replicas' keys stay apart).
stream_url="${redis_url}/1"
# shellcheck disable=SC2086 # $produce is a command line
produced=$("$bin" $produce --state "$stream_url")
appended=$(redis_cli -n 1 xlen "$stream")
"$bin" "$design" consume --state "$stream_url" --name a >/dev/null 2>"$work/consumer-a.err" &
consumer=$!
disown "$consumer"
pids+=("$consumer")
applied() { tail -1 "$work/consumer-a.err" 2>/dev/null | sed -n 's/.*: \([0-9]*\) events applied/\1/p'; }
for _ in $(seq 500); do
    [ "$(applied)" -ge $((appended * 2 / 5)) ] 2>/dev/null && break # about 40 % of the stream
    sleep 0.01
done
kill -9 "$consumer"
applied_a=$(applied)
pending=$(redis_cli -n 1 xpending "$stream" aggregators | head -1)
summary=$("$bin" "$design" consume --state "$stream_url" --name b --claim-after-ms 0 --until-idle 2>/dev/null)
echo "9. $produced"
echo "   consumer a SIGKILLed after applying and acknowledging $applied_a events, holding $pending unacknowledged; $summary"
echo "   in the state: $(in_state 1) $unit"

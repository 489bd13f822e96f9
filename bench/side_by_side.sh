#!/usr/bin/env bash
# Side-by-side benchmark: ferrymq (release build) against Debian's mosquitto,
# the same ferrybench workloads on each, REPS repetitions, medians, and a
# table of ratios ferrymq/mosquitto. See bench/README.md. Run by `make bench`
# after the release build; everything stays on 127.0.0.0/8, every run is
# bounded by ferrybench's own caps and by `timeout`.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build/release}
FERRYMQ=${FERRYMQ:-$BUILD/src/broker/ferrymq}
FERRYBENCH=${FERRYBENCH:-$BUILD/src/bench/ferrybench}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
PYTHON=${PYTHON:-/usr/bin/python3}
REPS=${REPS:-3}          # repetitions of every figure (medians are quoted)
DUR=${DUR:-8}            # seconds of publishing per pubsub run
N_SMALL=${N_SMALL:-10000}
N_BIG=${N_BIG:-19000}
INFLIGHT=32              # Receive Maximum / max_inflight_messages on both
QUEUED=1000              # per-session queue on both
OUT=${OUT:-$BUILD/bench-side-by-side}

for f in "$FERRYMQ" "$FERRYBENCH" "$MOSQUITTO" "$PYTHON"; do
  [ -x "$f" ] || { echo "side_by_side: $f is missing (make bench builds the release preset)" >&2; exit 2; }
done
rm -rf "$OUT"
mkdir -p "$OUT"
RESULTS="$OUT/results.txt"
: > "$RESULTS"

free_port() {
  "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() { # port pid
  for _ in $(seq 100); do
    kill -0 "$2" 2>/dev/null || return 1
    "$PYTHON" -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

BROKER_PID=""
BROKER_PORT=""
start_broker() { # name tag
  local name=$1 tag=$2
  BROKER_PORT=$(free_port)
  if [ "$name" = ferrymq ]; then
    # Equivalent settings: the same inflight window and queue (dropping the
    # newest message when full, as mosquitto does), TCP_NODELAY, quiet logs.
    "$FERRYMQ" --listen "127.0.0.1:$BROKER_PORT" --log-level warn \
      --data-dir "$OUT/ferrymq-data" --max-inflight $INFLIGHT --max-queued $QUEUED \
      --queue-drop drop_newest --tcp-nodelay true >"$OUT/$tag.log" 2>&1 &
  else
    cat >"$OUT/$tag.conf" <<EOF
listener $BROKER_PORT 127.0.0.1
allow_anonymous true
persistence false
max_inflight_messages $INFLIGHT
max_queued_messages $QUEUED
set_tcp_nodelay true
max_connections -1
log_dest stderr
log_type error
log_type warning
EOF
    "$MOSQUITTO" -c "$OUT/$tag.conf" >"$OUT/$tag.log" 2>&1 &
  fi
  BROKER_PID=$!
  if ! wait_port "$BROKER_PORT" "$BROKER_PID"; then
    echo "side_by_side: $name did not start; log:" >&2
    cat "$OUT/$tag.log" >&2
    exit 1
  fi
}

stop_broker() {
  [ -n "$BROKER_PID" ] || return 0
  kill -TERM "$BROKER_PID" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$BROKER_PID" 2>/dev/null || true
  wait "$BROKER_PID" 2>/dev/null || true
  BROKER_PID=""
}
trap stop_broker EXIT

# One ferrybench run against a fresh broker; its key=value line goes to RESULTS.
run() { # workload broker rep ferrybench-args...
  local workload=$1 broker=$2 rep=$3
  shift 3
  local tag="$workload-$broker-$rep"
  start_broker "$broker" "$tag"
  local args=("$@")
  for i in "${!args[@]}"; do
    [ "${args[$i]}" = PID ] && args[$i]=$BROKER_PID
  done
  local line
  if ! timeout 300 "$FERRYBENCH" "${args[@]}" --port "$BROKER_PORT" --quiet \
      >"$OUT/$tag.out" 2>"$OUT/$tag.err"; then
    echo "  ($tag: ferrybench reported an incomplete run, see $OUT/$tag.err)" >&2
  fi
  line=$(grep '^ferrybench mode=' "$OUT/$tag.out" | tail -1 || true)
  [ -n "$line" ] && echo "$workload $broker $rep $line" >>"$RESULTS"
  # A pubsub figure is only comparable when nothing was lost: say so.
  case "$line" in *" lost=0 "*|*mode=conn*|"") ;; *) echo "  ($tag: messages were lost, see $OUT/$tag.out)" >&2 ;; esac
  stop_broker
  printf '  %-10s %-9s rep %s: %s\n' "$workload" "$broker" "$rep" \
    "$(echo "$line" | tr ' ' '\n' | grep -E '^(connect_rate|rss_per_conn_b|delivered_per_s|latency_p99_ms|lost)=' | tr '\n' ' ')"
}

# ---- the 19k case: check the limits first and shrink N when needed ----
HARD=$(ulimit -Hn)
SOFT=$(ulimit -Sn)
start_broker ferrymq probe-ferrymq
FERRY_MAX=$(grep -o 'max_connections [0-9]*' "$OUT/probe-ferrymq.log" | awk '{print $2}' || true)
stop_broker
start_broker mosquitto probe-mosquitto
MOSQ_FILES=$(awk '/Max open files/ {print $4}' "/proc/$BROKER_PID/limits")
MOSQ_USED=$(ls "/proc/$BROKER_PID/fd" | wc -l)
stop_broker
FERRY_MAX=${FERRY_MAX:-$((HARD - 256))}
MOSQ_MAX=$((MOSQ_FILES - MOSQ_USED - 16))
echo "side_by_side: open files: ulimit -Hn $HARD, -Sn $SOFT; ferrymq max_connections $FERRY_MAX;" \
     "mosquitto's limit $MOSQ_FILES files ($MOSQ_USED in use at start)"
BIG=$N_BIG
for lim in $((FERRY_MAX - 50)) $((MOSQ_MAX - 50)); do
  [ "$lim" -lt "$BIG" ] && BIG=$lim
done
if [ "$BIG" -ne "$N_BIG" ]; then
  echo "side_by_side: the big connection case shrinks from $N_BIG to $BIG to fit those limits"
else
  echo "side_by_side: the big connection case keeps $BIG connections: both brokers have room"
fi
# ferrybench's own side: workers of <= 9000 sockets each (3 for 19k), one process
# per worker, each under the same 20000-file limit.

# Two load processes for the 1:1 workloads: one cannot keep up with ferrymq
# (it runs at ~85 % of a core while the broker idles at ~20 %). The fan-out
# keeps one, so that the publisher's end-to-end window sees every subscriber.
# End to end, a publisher keeps at most the brokers' own inflight window in
# flight (--window-msgs): with 256, mosquitto dropped ~40k QoS 0 messages of
# the fan-out (for QoS 0 it is "either inflight or dropped", db__ready_for_flight);
# a lossy run compares nothing.
PS="--workers 2 --window-msgs $INFLIGHT"
START=$(date +%s)
echo "side_by_side: $REPS repetitions, ferrymq and mosquitto alternating, fresh broker per run"
for rep in $(seq "$REPS"); do
  echo "-- repetition $rep"
  for b in ferrymq mosquitto; do
    run conn10k "$b" "$rep" conn -n "$N_SMALL" --spread on --hold 3 --watch-pid PID --duration 60
  done
  for b in ferrymq mosquitto; do
    run conn19k "$b" "$rep" conn -n "$BIG" --spread on --hold 2 --watch-pid PID --duration 60
  done
  for b in ferrymq mosquitto; do
    run qos0 "$b" "$rep" pubsub $PS -P 100 -S 100 --qos 0 --payload 64 --duration "$DUR" --drain 5
  done
  for b in ferrymq mosquitto; do
    run qos1 "$b" "$rep" pubsub $PS -P 100 -S 100 --qos 1 --payload 64 --duration "$DUR" --drain 10
  done
  for b in ferrymq mosquitto; do
    run fanout "$b" "$rep" pubsub --workers 1 --window-msgs $INFLIGHT -P 1 -S 1000 --qos 0 --payload 64 --duration "$DUR" --drain 5
  done
  for b in ferrymq mosquitto; do
    run latency "$b" "$rep" pubsub $PS -P 100 -S 100 --qos 1 --payload 64 --rate 50 --duration "$DUR" --drain 5
  done
done
echo "side_by_side: measured in $(( $(date +%s) - START )) s; raw lines in $RESULTS"

"$PYTHON" - "$RESULTS" "$N_SMALL" "$BIG" "$REPS" <<'EOF'
import statistics, sys
path, n_small, n_big, reps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
runs = {}
for line in open(path):
    parts = line.split()
    workload, broker = parts[0], parts[1]
    kv = dict(p.split("=", 1) for p in parts[3:] if "=" in p)
    runs.setdefault((workload, broker), []).append(kv)

def num(v):
    try:
        return float(v)
    except ValueError:  # "na": a run that was cut short
        return None

def med(workload, broker, key):
    vals = [num(kv[key]) for kv in runs.get((workload, broker), []) if key in kv]
    vals = [v for v in vals if v is not None]
    return (statistics.median(vals), len(vals)) if vals else (None, 0)

rows = [
    ("connect rate, %s conns (conn/s)" % n_small, "conn10k", "connect_rate", "higher"),
    ("connect p99, %s conns (ms)" % n_small, "conn10k", "connect_p99_ms", "lower"),
    ("connect rate, %s conns (conn/s)" % n_big, "conn19k", "connect_rate", "higher"),
    ("memory per idle conn, %s (B)" % n_small, "conn10k", "rss_per_conn_b", "lower"),
    ("memory per idle conn, %s (B)" % n_big, "conn19k", "rss_per_conn_b", "lower"),
    ("QoS 0 1:1, 100 pairs, 64 B (msg/s)", "qos0", "delivered_per_s", "higher"),
    ("QoS 1 1:1, 100 pairs, 64 B (msg/s)", "qos1", "delivered_per_s", "higher"),
    ("fan-out 1 -> 1000, QoS 0 (deliveries/s)", "fanout", "delivered_per_s", "higher"),
    ("p50 latency, QoS 1 at 5000 msg/s (ms)", "latency", "latency_p50_ms", "lower"),
    ("p99 latency, QoS 1 at 5000 msg/s (ms)", "latency", "latency_p99_ms", "lower"),
]
losses = [
    ("lost msgs: QoS 0 1:1", "qos0"), ("lost msgs: QoS 1 1:1", "qos1"),
    ("lost msgs: fan-out", "fanout"), ("lost msgs: latency run", "latency"),
]
def fmt(v):
    if v is None:
        return "n/a"
    return "%.0f" % v if abs(v) >= 100 else "%.2f" % v

w = 42
print()
print("median of %d runs; ratio = ferrymq / mosquitto" % reps)
print("%-*s %12s %12s %8s  %s" % (w, "figure", "ferrymq", "mosquitto", "ratio", "better"))
print("-" * (w + 48))
for label, workload, key, better in rows:
    f, nf = med(workload, "ferrymq", key)
    m, nm = med(workload, "mosquitto", key)
    ratio = "%.2f" % (f / m) if f is not None and m else "n/a"
    note = "" if nf == reps and nm == reps else "  (runs: %d/%d)" % (nf, nm)
    print("%-*s %12s %12s %8s  %s%s" % (w, label, fmt(f), fmt(m), ratio, better, note))
for label, workload in losses:
    f, _ = med(workload, "ferrymq", "lost")
    m, _ = med(workload, "mosquitto", "lost")
    print("%-*s %12s %12s" % (w, label + " (median)", fmt(f), fmt(m)))
EOF

#!/usr/bin/env bash
# Cluster benchmark (not run by CI): `make bench-cluster`.
#
# 1. Throughput: ferrybench pubsub, 100 publisher/subscriber pairs, 64-byte
#    payloads, QoS 1 and QoS 0, at full speed (flow control only):
#      single  - one ferrymq node, no cluster;
#      cross   - a 3-node cluster, publishers on node 1, subscribers on
#                nodes 2 and 3 (every message crosses a cluster link);
#      mosquitto - Debian's mosquitto, single node, same workload, for scale.
#    Runs alternate, REPS repetitions, medians; ratio cross/single.
# 2. Convergence with 100k routes:
#      join    - nodes 1-3 up, 100,000 filters subscribed on node 1; node 4
#                starts: time until it has synced all of them (its log);
#      rejoin  - node 3 holds 100,000 filters; it is frozen (SIGSTOP) until
#                the others drop it, then thawed (SIGCONT): time until nodes 1
#                and 2 have synced its 100,000 routes again;
#      and the nodes' resident memory with 100k routes.
# Everything on 127.0.0.1, every run bounded by ferrybench caps and timeout.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build/release}
FERRYMQ=${FERRYMQ:-$BUILD/src/broker/ferrymq}
FERRYBENCH=${FERRYBENCH:-$BUILD/src/bench/ferrybench}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
PYTHON=${PYTHON:-/usr/bin/python3}
REPS=${REPS:-3}
DUR=${DUR:-8}
ROUTES=${ROUTES:-100000}
OUT=${OUT:-$BUILD/bench-cluster}
SECRET=bench-secret

for f in "$FERRYMQ" "$FERRYBENCH" "$MOSQUITTO" "$PYTHON"; do
  [ -x "$f" ] || { echo "cluster.sh: $f is missing (make bench-cluster builds it)" >&2; exit 2; }
done
rm -rf "$OUT"
mkdir -p "$OUT"
RESULTS="$OUT/results.txt"
: >"$RESULTS"

free_port() {
  "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_log() { # file pattern count timeout_s
  local deadline=$((SECONDS + $4))
  while [ $SECONDS -lt $deadline ]; do
    [ "$(grep -c -- "$2" "$1" 2>/dev/null || true)" -ge "$3" ] && return 0
    sleep 0.1
  done
  echo "cluster.sh: timed out waiting for '$2' x$3 in $1" >&2
  return 1
}

declare -a PIDS=() CPORT=() PORT=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

start_node() { # index seeds [extra flags...]
  local i=$1 seeds=$2
  shift 2
  PORT[$i]=$(free_port)
  CPORT[$i]=$(free_port)
  "$FERRYMQ" --node-name "n$i" --listen "127.0.0.1:${PORT[$i]}" \
    --cluster-listen "127.0.0.1:${CPORT[$i]}" --cluster-seeds "$seeds" \
    --cluster-secret "$SECRET" --data-dir "$OUT/d$i" --log-level info \
    --max-inflight 32 --max-queued 1000 --queue-drop drop_newest "$@" \
    >"$OUT/n$i.log" 2>&1 &
  PIDS[$i]=$!
}

stop_all() {
  for i in "${!PIDS[@]}"; do
    kill -CONT "${PIDS[$i]}" 2>/dev/null || true
    kill "${PIDS[$i]}" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  PIDS=()
}

# ferrybench pubsub against PORTS / SUB_PORTS; prints delivered_per_s.
pubsub() { # qos ports sub_ports tag
  local line
  line=$(timeout $((DUR + 90)) "$FERRYBENCH" pubsub -P 100 -S 100 --pattern pairs --qos "$1" \
    --duration "$DUR" --port "$2" --sub-port "$3" --quiet --max-time $((DUR + 60)) 2>>"$OUT/$4.err" |
    tail -1)
  echo "$line" >>"$OUT/$4.kv"
  local lost
  lost=$(sed -n 's/.* lost=\([0-9]*\) .*/\1/p' <<<"$line")
  [ "${lost:-1}" = 0 ] || echo "cluster.sh: $4 lost $lost messages" >&2
  sed -n 's/.* delivered_per_s=\([0-9.]*\) .*/\1/p' <<<"$line"
}

median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

run_single() { # qos; a node without the cluster at all: the baseline
  PORT[1]=$(free_port)
  "$FERRYMQ" --listen "127.0.0.1:${PORT[1]}" --data-dir "$OUT/d1" --log-level warn \
    --max-inflight 32 --max-queued 1000 --queue-drop drop_newest >"$OUT/single.log" 2>&1 &
  PIDS[1]=$!
  sleep 0.5
  pubsub "$1" "${PORT[1]}" "${PORT[1]}" "single-q$1"
  stop_all
}

run_cross() { # qos
  start_node 1 "127.0.0.1:1"
  local seed="127.0.0.1:${CPORT[1]}"
  start_node 2 "$seed"
  start_node 3 "$seed"
  for i in 1 2 3; do wait_log "$OUT/n$i.log" "synced with" 2 20; done
  pubsub "$1" "${PORT[1]}" "${PORT[2]},${PORT[3]}" "cross-q$1"
  stop_all
}

run_mosquitto() { # qos
  local p
  p=$(free_port)
  printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 32\nmax_queued_messages 1000\nset_tcp_nodelay true\n' \
    "$p" >"$OUT/mosquitto.conf"
  "$MOSQUITTO" -c "$OUT/mosquitto.conf" >"$OUT/mosquitto.log" 2>&1 &
  PIDS[9]=$!
  sleep 0.5
  pubsub "$1" "$p" "$p" "mosquitto-q$1"
  stop_all
}

echo "== throughput: $REPS x ${DUR}s per figure =="
for q in 1 0; do
  : >"$OUT/s$q" ; : >"$OUT/c$q" ; : >"$OUT/m$q"
  for r in $(seq "$REPS"); do
    run_single "$q" >>"$OUT/s$q"
    run_cross "$q" >>"$OUT/c$q"
    run_mosquitto "$q" >>"$OUT/m$q"
    echo "  qos $q rep $r: single $(tail -1 "$OUT/s$q") cross $(tail -1 "$OUT/c$q") mosquitto $(tail -1 "$OUT/m$q")"
  done
  s=$(median <"$OUT/s$q"); c=$(median <"$OUT/c$q"); m=$(median <"$OUT/m$q")
  ratio=$(awk -v a="$c" -v b="$s" 'BEGIN {printf "%.2f", a / b}')
  mratio=$(awk -v a="$c" -v b="$m" 'BEGIN {printf "%.1f", a / b}')
  printf 'qos%s single=%.0f cross=%.0f mosquitto=%.0f cross_over_single=%s cross_over_mosquitto=%s\n' \
    "$q" "$s" "$c" "$m" "$ratio" "$mratio" | tee -a "$RESULTS"
done

echo "== convergence with $ROUTES routes =="
ms_now() { date +%s%3N; }
log_ms() { # file pattern -> ms since the epoch of the last matching line
  local ts
  ts=$(grep -- "$2" "$1" | tail -1 | cut -c1-23)
  date -d "${ts}Z" +%s%3N
}
start_node 1 "127.0.0.1:1"
seed="127.0.0.1:${CPORT[1]}"
start_node 2 "$seed"
start_node 3 "$seed"
for i in 1 2 3; do wait_log "$OUT/n$i.log" "synced with" 2 20; done
timeout 300 "$PYTHON" "$ROOT/bench/subscribe_many.py" "${PORT[1]}" "$ROUTES" | tee -a "$OUT/subscribe.txt"
sleep 1
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
echo "rss_kib_node_with_routes=$(rss "${PIDS[1]}") rss_kib_peer=$(rss "${PIDS[2]}")" | tee -a "$RESULTS"
t0=$(ms_now)
start_node 4 "$seed"
wait_log "$OUT/n4.log" "synced with n1 .*: $ROUTES routes" 1 120
t1=$(log_ms "$OUT/n4.log" "synced with n1 ")
own=$(grep "synced with n1 " "$OUT/n4.log" | tail -1 | sed -n 's/.* in \([0-9]*\) ms.*/\1/p')
echo "join_ms=$((t1 - t0)) join_sync_ms=$own (node 4 start to all $ROUTES routes; sync alone)" | tee -a "$RESULTS"

# Rejoin: node 3 holds the routes this time.
kill "${PIDS[4]}"; wait "${PIDS[4]}" 2>/dev/null || true; unset 'PIDS[4]'
timeout 300 "$PYTHON" "$ROOT/bench/subscribe_many.py" "${PORT[3]}" "$ROUTES" >>"$OUT/subscribe.txt"
sleep 2 # route announcements (one frame each) reach the others
kill -STOP "${PIDS[3]}"
for i in 1 2; do wait_log "$OUT/n$i.log" "node n3 is down" 1 30; done
before1=$(grep -c "synced with n3 .*: $ROUTES routes" "$OUT/n1.log" || true)
before2=$(grep -c "synced with n3 .*: $ROUTES routes" "$OUT/n2.log" || true)
t0=$(ms_now)
kill -CONT "${PIDS[3]}"
wait_log "$OUT/n1.log" "synced with n3 .*: $ROUTES routes" $((before1 + 1)) 120
wait_log "$OUT/n2.log" "synced with n3 .*: $ROUTES routes" $((before2 + 1)) 120
t1=$(log_ms "$OUT/n1.log" "synced with n3 ")
t2=$(log_ms "$OUT/n2.log" "synced with n3 ")
last=$((t1 > t2 ? t1 : t2))
echo "rejoin_ms=$((last - t0)) (SIGCONT of the node holding $ROUTES routes to both peers synced)" | tee -a "$RESULTS"
stop_all
echo "results: $RESULTS"

#!/usr/bin/env bash
# make demo: what FerryMQ can show today (issues 2-4 landed; the blue-green
# upgrade of a cluster arrives with issues 5-7).
#
# 1. a ferrymq node serving mosquitto's own clients;
# 2. ferrybench pubsub: 100 publishers -> 100 subscribers at QoS 1;
# 3. the baseline the product exists to remove: 2,000 persistent clients
#    publishing QoS 1 while their only node is restarted, as a single-node
#    upgrade does. ferrybench counts the disconnects per client and the
#    messages lost with the node's in-memory sessions.
# Everything runs on 127.0.0.1 and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/release}
FERRYMQ=$BUILD/src/broker/ferrymq
BENCH=$BUILD/src/bench/ferrybench
PY=/usr/bin/python3
for b in "$FERRYMQ" "$BENCH"; do
  [ -x "$b" ] || { echo "demo: $b missing: run 'make demo' (it builds first)" >&2; exit 2; }
done

port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
dir=$(mktemp -d /tmp/ferrymq-demo.XXXXXX)
pid=""
start_node() {
  "$FERRYMQ" --listen "127.0.0.1:$port" --log-level warn --data-dir "$dir/data" \
    >> "$dir/ferrymq.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    $PY -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "demo: ferrymq did not start:" >&2; cat "$dir/ferrymq.log" >&2; exit 1
}
stop_node() {
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
}
trap 'stop_node; rm -rf "$dir"' EXIT

start_node
echo "== 1. ferrymq on 127.0.0.1:$port with mosquitto_sub / mosquitto_pub"
timeout 10 mosquitto_sub -h 127.0.0.1 -p "$port" -t 'demo/#' -v -C 1 -V mqttv5 &
sub=$!
sleep 0.3
mosquitto_pub -h 127.0.0.1 -p "$port" -t demo/hello -m "hello from mosquitto_pub" -q 1
wait $sub

echo
echo "== 2. ferrybench pubsub: 100 publishers -> 100 subscribers, QoS 1, 64 B, 5 s"
"$BENCH" pubsub -P 100 -S 100 --qos 1 --payload 64 --duration 5 --port "$port" --quiet

echo
echo "== 3. 2,000 persistent clients (QoS 1, 1 msg/s each); the node restarts at 8 s"
"$BENCH" clients -n 2000 --rate 1 --duration 16 --reconnect exp --port "$port" --quiet &
bench=$!
sleep 8
echo "-- restarting the node (SIGTERM, start again): a single-node upgrade"
stop_node
start_node
wait $bench || true
echo
echo "Every client was disconnected once and the QoS 1 messages held in the"
echo "restarted node's sessions were lost: what a cluster with evacuation and"
echo "blue-green upgrades (issues 5-7) is built to avoid."

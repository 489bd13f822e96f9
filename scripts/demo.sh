#!/usr/bin/env bash
# make demo: the upgrade the product exists for, measured.
#
# For each strategy (Rolling, then BlueGreen) on a fresh local cluster:
#   1. ferry-operator applies revision 1 (image ferrymq:1.0): 3 nodes behind
#      the load balancer (HAProxy by default);
#   2. ferrybench `clients`: CLIENTS persistent-session clients publishing and
#      receiving QoS 1 through the service address, counting every disconnect
#      per client and every message lost;
#   3. SETTLE seconds into the load, ferry-operator applies revision 2
#      (image ferrymq:1.1) and the upgrade runs under load; SETTLE seconds
#      after it ends ferrybench stops, drains and reports; the cluster is
#      deleted.
# Then scripts/demo_report.py writes REPORT_DIR/index.html (gnuplot charts of
# connections per node over time, the tables) and summary.csv, and the
# comparison table is printed.
#
# Settings (environment):
#   CLIENTS=5000  REPLICAS=3  LB=haproxy|kernel (kernel: root, runs the
#   clients in the cluster's network namespace)  STRATEGIES="Rolling BlueGreen"
#   INITIAL_DELAY=60 WAIT_TAKEOVER=5 CONN_RATE=200 SESS_RATE=200 (the
#   article's blueGreenUpdate)  MSG_RATE=1 (msgs/s per client)
#   SETTLE=10 (s of load before and after the upgrade)  CONNECT_RATE=2000
#   REPORT_DIR=demo-report  BUILD=build/release  RUN_DIR (default: a temp dir)
#   PORT_BASE=21000 SERVICE_PORT=18830 (haproxy)  FERRYMQ, FERRYBENCH,
#   FERRY_OPERATOR: the binaries (default: under BUILD)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/release}
FERRYMQ=$(realpath "${FERRYMQ:-$BUILD/src/broker/ferrymq}")
BENCH=$(realpath "${FERRYBENCH:-$BUILD/src/bench/ferrybench}")
OPERATOR=$(realpath "${FERRY_OPERATOR:-$BUILD/src/operator/ferry-operator}")
PY=/usr/bin/python3
for b in "$FERRYMQ" "$BENCH" "$OPERATOR"; do
  [ -x "$b" ] || { echo "demo: $b missing: run 'make demo' (it builds first)" >&2; exit 2; }
done

CLIENTS=${CLIENTS:-5000}
REPLICAS=${REPLICAS:-3}
LB=${LB:-haproxy}
STRATEGIES=${STRATEGIES:-Rolling BlueGreen}
INITIAL_DELAY=${INITIAL_DELAY:-60}
WAIT_TAKEOVER=${WAIT_TAKEOVER:-5}
CONN_RATE=${CONN_RATE:-200}
SESS_RATE=${SESS_RATE:-200}
MSG_RATE=${MSG_RATE:-1}
SETTLE=${SETTLE:-10}
CONNECT_RATE=${CONNECT_RATE:-2000}
REPORT_DIR=$(realpath -m "${REPORT_DIR:-demo-report}")
PORT_BASE=${PORT_BASE:-21000}
SERVICE_PORT=${SERVICE_PORT:-18830}
own_run_dir=0
if [ -z "${RUN_DIR:-}" ]; then RUN_DIR=$(mktemp -d /tmp/ferry-demo.XXXXXX); own_run_dir=1; fi
mkdir -p "$REPORT_DIR"

if [ "$LB" = kernel ]; then
  [ "$(id -u)" = 0 ] || { echo "demo: LB=kernel needs root (network namespace, nftables)" >&2; exit 2; }
  SERVICE_HOST=127.10.0.1
  admin_url() { echo "http://127.0.1.$(( $1 + 1 )):18083"; }
  in_ns() { exec ip netns exec "ferry-$1" "${@:2}"; }
else
  SERVICE_HOST=127.0.0.1
  admin_url() { echo "http://127.0.0.1:$(( PORT_BASE + 300 + $1 ))"; }
  in_ns() { exec "${@:2}"; }
fi
[ "$LB" = kernel ] && SERVICE_PORT=${SERVICE_PORT_KERNEL:-1883}
# 1 + the upgrade's two revisions side by side: 2 x REPLICAS node slots.
admins=$(for s in $(seq 0 $(( 2 * REPLICAS - 1 ))); do admin_url "$s"; done | paste -sd,)

# Bounded: the load lasts long enough for the slowest strategy to finish.
per_node=$(( (CLIENTS + REPLICAS - 1) / REPLICAS ))
bg_time=$(( INITIAL_DELAY + REPLICAS * (per_node / CONN_RATE + WAIT_TAKEOVER + 20) + 60 ))
roll_time=$(( REPLICAS * 30 + 60 ))

spec() { # name strategy image
  cat <<EOF
apiVersion: ferrymq.io/v1alpha1
kind: FerryCluster
metadata: {name: $1}
spec:
  replicas: $REPLICAS
  image: $3
  binary: $FERRYMQ
  config: {log_level: warn}
  updateStrategy: $2
  loadBalancer: $LB
  phaseTimeoutSeconds: 600
  blueGreenUpdate:
    initialDelaySeconds: $INITIAL_DELAY
    evacuationStrategy: {waitTakeover: $WAIT_TAKEOVER, connEvictRate: $CONN_RATE, sessEvictRate: $SESS_RATE}
EOF
}

cleanup() {
  for n in demo-rolling demo-bluegreen; do
    [ -f "$RUN_DIR/$n/platform.json" ] && "$OPERATOR" delete --wait --run-dir "$RUN_DIR" --name "$n" >/dev/null 2>&1 || true
  done
  [ -n "${bench_pid:-}" ] && kill "$bench_pid" 2>/dev/null || true
  [ "$own_run_dir" = 1 ] && [ -z "${KEEP:-}" ] && rm -rf "$RUN_DIR"
  return 0
}
trap cleanup EXIT

status_json() { "$OPERATOR" status -o json --run-dir "$RUN_DIR" --name "$1" 2>/dev/null || echo '{}'; }

run_one() { # strategy
  local strategy=$1 name lower out dur
  lower=$(echo "$strategy" | tr 'A-Z' 'a-z')
  name=demo-$lower
  out=$REPORT_DIR/$lower
  rm -rf "$out"; mkdir -p "$out"
  spec "$name" "$strategy" ferrymq:1.0 > "$out/v1.yaml"
  spec "$name" "$strategy" ferrymq:1.1 > "$out/v2.yaml"
  echo "== $strategy: creating $name ($REPLICAS nodes, $LB load balancer)"
  "$OPERATOR" apply -f "$out/v1.yaml" --run-dir "$RUN_DIR" --service-port "$SERVICE_PORT" \
    --port-base "$PORT_BASE" --wait --timeout 120 > "$out/operator-create.log"
  local rev1 rev2
  rev1=$(status_json "$name" | $PY -c 'import json,sys; print(json.load(sys.stdin)["current_revision"])')
  [ "$strategy" = Rolling ] && dur=$roll_time || dur=$bg_time
  echo "== $strategy: $CLIENTS clients, QoS 1, $MSG_RATE msg/s each, for about $(( dur + 2 * SETTLE )) s"
  # In a subshell that becomes ferrybench (exec), so $! is ferrybench's pid.
  (in_ns "$name" "$BENCH" clients -n "$CLIENTS" --host "$SERVICE_HOST" --port "$SERVICE_PORT" \
    --qos 1 --rate "$MSG_RATE" --connect-rate "$CONNECT_RATE" --duration $(( dur + 2 * SETTLE )) \
    --admin "$admins" --csv "$out/bench.csv" --clients-out "$out/clients.txt" \
    --setup-timeout 300 --drain 5 --events "$out/events.txt" --quiet > "$out/bench.out" 2> "$out/bench.err") &
  bench_pid=$!
  # Which node answers at each admin address, once a second (for the chart's
  # labels: a slot can hold a blue node and later a green one).
  (while kill -0 "$bench_pid" 2>/dev/null; do
     status_json "$name" | tr -d '\n'; echo; sleep 1
   done > "$out/status-poll.jsonl") &
  # The CSV's t_s axis starts when every client is connected: find its origin.
  local t0="" row
  for _ in $(seq 600); do
    row=$(sed -n 2p "$out/bench.csv" 2>/dev/null || true)
    if [ -n "$row" ]; then t0=$($PY -c "import time; print(time.time() - float('${row%%,*}'))"); break; fi
    kill -0 "$bench_pid" 2>/dev/null || break
    sleep 0.5
  done
  [ -n "$t0" ] || { echo "demo: ferrybench did not start its run:" >&2; cat "$out/bench.err" >&2; exit 1; }
  sleep "$SETTLE"
  local start end
  start=$($PY -c "import time; print(round(time.time() - $t0, 1))")
  echo "== $strategy: upgrading to ferrymq:1.1 at t=${start}s"
  "$OPERATOR" apply -f "$out/v2.yaml" --run-dir "$RUN_DIR" --wait --timeout "$dur" \
    > "$out/operator-upgrade.log" || echo "demo: the upgrade did not finish in ${dur}s (see $out/operator-upgrade.log)" >&2
  end=$($PY -c "import time; print(round(time.time() - $t0, 1))")
  rev2=$(status_json "$name" | $PY -c 'import json,sys; print(json.load(sys.stdin)["current_revision"])')
  echo "== $strategy: upgrade done at t=${end}s; ${SETTLE}s more load"
  status_json "$name" > "$out/status-after.json"
  # SETTLE more seconds of load, then ferrybench ends its run (SIGTERM: it
  # stops publishing, drains, and reports as usual).
  sleep "$SETTLE"
  kill -TERM "$bench_pid" 2>/dev/null || true
  wait "$bench_pid" || true
  bench_pid=""
  "$OPERATOR" events --run-dir "$RUN_DIR" --name "$name" > "$out/operator-events.log" || true
  "$OPERATOR" delete --wait --run-dir "$RUN_DIR" --name "$name" > /dev/null
  # Column i of the CSV is node slot i-1: name its nodes from the event log.
  $PY - "$out" "$strategy" "$CLIENTS" "$REPLICAS" "$rev1" "$rev2" "$start" "$end" "$admins" <<'EOF'
import json, re, sys
out, strategy, clients, replicas, rev1, rev2, start, end, admins = sys.argv[1:]
urls = admins.split(",")
seen = {}  # admin URL -> node names in the order they appeared there
for line in open(out + "/status-poll.jsonl"):
    try:
        snap = json.loads(line)
    except ValueError:
        continue
    for n in snap.get("nodes", []):
        names = seen.setdefault(n["admin"], [])
        if not names or names[-1][0] != n["name"]:
            names.append((n["name"], n["revision"]))
nodes = []
for i, u in enumerate(urls):
    names = seen.get(u, [])
    if not names:
        continue
    revs = {r for _, r in names}
    role = ("blue" if revs == {rev1} else "green" if revs == {rev2} else None)
    label = " -> ".join("-".join(n.rsplit("-", 2)[-2:]) for n, _ in names)  # <revision>-<ordinal>
    nodes.append({"column": i + 1, "name": label, "revision": names[-1][1], "role": role})
json.dump({"strategy": strategy, "clients": int(clients), "replicas": int(replicas), "nodes": nodes,
           "upgrade_start_s": float(start), "upgrade_end_s": float(end),
           "stopped_by_demo": True},  # the demo ends ferrybench's run with SIGTERM
          open(out + "/meta.json", "w"), indent=2)
EOF
}

for s in $STRATEGIES; do run_one "$s"; done
echo
$PY scripts/demo_report.py "$REPORT_DIR"
echo
echo "report: $REPORT_DIR/index.html (charts, tables), $REPORT_DIR/summary.csv"

#!/usr/bin/env bash
# A local cluster for trying things out: 3 nats-servers (cluster/nats-*.conf, JetStream, routes) and
# 3 platform nodes (API 8081-8083, OCPP 9001-9003), each node listing every NATS server and asking
# for 3 replicas. Ctrl-C stops the nodes gracefully (SIGTERM), then the servers. Logs: data/cluster/logs.
set -euo pipefail
cd "$(dirname "$0")/.."

NATS_BIN="${NATS_SERVER_BIN:-$(command -v nats-server || echo /usr/sbin/nats-server)}"
LOGS=data/cluster/logs
mkdir -p "$LOGS"
export ADMIN_TOKEN="${ADMIN_TOKEN:-local-cluster-admin-token}"
NATS_URL="nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224"

nats_pids=()
node_pids=()
cleanup() {
  trap - EXIT INT TERM
  echo "cluster: stopping platform nodes (SIGTERM: leaderships handed off, chargers told to reconnect)"
  for pid in "${node_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${node_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "cluster: stopping nats-servers"
  for pid in "${nats_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${nats_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

for i in 1 2 3; do
  "$NATS_BIN" -c "cluster/nats-$i.conf" >"$LOGS/nats-$i.log" 2>&1 &
  nats_pids+=("$!")
done

# Streams can be created only once JetStream has elected a meta leader.
echo -n "cluster: waiting for the JetStream meta leader"
leader=""
for _ in $(seq 1 60); do
  for i in 1 2 3; do
    if ! kill -0 "${nats_pids[$((i - 1))]}" 2>/dev/null; then
      echo; echo "cluster: nats-$i exited (a port of cluster/nats-$i.conf in use?):"; tail -3 "$LOGS/nats-$i.log"; exit 1
    fi
  done
  if curl -sf http://127.0.0.1:8222/jsz 2>/dev/null | grep -q '"leader": *"[^"]'; then leader=yes; break; fi
  echo -n "."
  sleep 0.5
done
echo
[ -n "$leader" ] || { echo "cluster: no JetStream meta leader after 30 s; see $LOGS"; exit 1; }

for i in 1 2 3; do
  # GLIBC_TUNABLES: as `npm start` starts a node (core/malloc-tunables.ts).
  NODE_ID="node-$i" NATS_URL="$NATS_URL" NATS_REPLICAS=3 API_PORT=$((8080 + i)) OCPP_PORT=$((9000 + i)) \
    GLIBC_TUNABLES="${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.malloc.mmap_threshold=131072" \
    DATA_DIR="data/cluster/node-$i" node --import tsx main.ts >"$LOGS/node-$i.log" 2>&1 &
  node_pids+=("$!")
done

echo -n "cluster: waiting for the nodes"
for i in 1 2 3; do
  until curl -sf "http://127.0.0.1:$((8080 + i))/health" >/dev/null 2>&1; do
    if ! kill -0 "${node_pids[$((i - 1))]}" 2>/dev/null; then echo; echo "node-$i exited:"; tail -20 "$LOGS/node-$i.log"; exit 1; fi
    echo -n "."
    sleep 0.5
  done
done
echo
cat <<INFO
cluster: up.
  NATS:     $NATS_URL   (monitoring: http://127.0.0.1:8222/jsz)
  API:      http://127.0.0.1:8081  http://127.0.0.1:8082  http://127.0.0.1:8083   (ADMIN_TOKEN=$ADMIN_TOKEN)
  OCPP:     ws://127.0.0.1:9001/ocpp/<id>  ws://127.0.0.1:9002/ocpp/<id>  ws://127.0.0.1:9003/ocpp/<id>
  Logs:     $LOGS/
Ctrl-C stops everything.
INFO
wait -n "${node_pids[@]}" || true
echo "cluster: a node exited; see $LOGS"

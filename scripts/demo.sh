#!/usr/bin/env bash
# The demo: a small fleet of sample-service instances behind the gateway with
# conf/demo.yaml. Installs what is missing, builds, runs until Ctrl-C, then
# stops every process it started.
#
#   scripts/demo.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=setup.sh
source "$ROOT/scripts/setup.sh"
setup_packages build
BUILD_TARGETS="gateway sample-service gateway-lab" build_tree build -DCMAKE_BUILD_TYPE=RelWithDebInfo

BIN="$ROOT/build"
LOGS="$ROOT/var/demo"
mkdir -p "$LOGS"
PIDS=()
cleanup() {
  trap - EXIT INT TERM
  echo
  echo "demo: stopping ${#PIDS[@]} processes"
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

# name:port of each instance of the fleet (see conf/demo.yaml).
FLEET=(channels:9001 channels:9002 channels:9003 chat:9004 recommended:9005)
for inst in "${FLEET[@]}"; do
  name="${inst%%:*}" port="${inst##*:}"
  "$BIN/sample-service" --port "$port" --name "$name-$port" >"$LOGS/$name-$port.log" 2>&1 &
  PIDS+=($!)
done

"$ROOT/scripts/demo_cert.sh" >/dev/null   # conf/demo.yaml's HTTPS listener
"$BIN/gateway" -c "$ROOT/conf/demo.yaml" >"$LOGS/access.log" 2>"$LOGS/error.log" &
GW=$!
PIDS+=($GW)

# Ready when the admin listener answers.
for _ in $(seq 100); do
  curl -sf -o /dev/null http://127.0.0.1:8081/health && break
  kill -0 "$GW" 2>/dev/null || { cat "$LOGS/error.log" >&2; exit 1; }
  sleep 0.1
done

cat <<MSG

The gateway is listening on http://127.0.0.1:8080 and https://127.0.0.1:8443
(a self-signed certificate: var/demo/tls/cert.pem; admin on 127.0.0.1:8081),
in front of three "channels" instances (ports 9001-9003), one "chat" (9004)
and one "recommended" (9005). Open http://127.0.0.1:8080/channels/42 in a
browser: one page stitched from four fragments of three services. Or try:

  curl -i http://127.0.0.1:8080/api/channels/42      # X-Cache: MISS, then HIT for 10 s
  curl -i 'http://127.0.0.1:8080/api/channels/42?v=2' # another key: X-Instance moves (round robin)
  curl -s http://127.0.0.1:8080/api/chat/42
  curl -s --raw http://127.0.0.1:8080/channels/42 | tail -5 # Server-Timing in the trailer
  curl -si http://127.0.0.1:8080/api/summary/42         # JSON aggregate of three services
  curl -s 'http://127.0.0.1:8080/api/channels/7?delay_ms=50&size=2000' | wc -c
  curl -si --cacert $ROOT/var/demo/tls/cert.pem https://localhost:8443/api/channels/42  # HTTPS
  curl -s http://127.0.0.1:8081/status              # instances and their health
  curl -s http://127.0.0.1:8081/upstreams           # membership: add, remove, weigh, drain live
  curl -s -XPATCH http://127.0.0.1:8081/upstreams/channels/instances/127.0.0.1:9003 -d '{"drain":true}'
  curl -s http://127.0.0.1:8081/metrics | grep -E 'gateway_(requests_total|cache_hit_ratio)'
  curl -s -X POST 'http://127.0.0.1:8081/purge?prefix=/api/channels/'   # purge
  curl -s http://127.0.0.1:8081/cache/report        # hit ratio per route, last minute and hour
  $ROOT/build/gateway-lab replay $LOGS/trace.bin --policy lru,s3fifo,sieve --size 10%,50%
                                                  # what other sizes and policies would have done
  kill -HUP $GW                                   # reload conf/demo.yaml

Logs: $LOGS (access.log, error.log, one per instance).
Press Ctrl-C to stop.
MSG

wait "$GW"

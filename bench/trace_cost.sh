#!/usr/bin/env bash
# The cost of a zone's `trace:` on the cache-hit path (issue 13): one gateway
# (2 workers, RAM tier on) in front of one sample-service, a 1 KiB cached
# response, wrk -c64; trace off and on (sample 100%) in alternating runs.
# Prints req/s and p99 of each run and the on/off ratios of the medians.
#   bench/trace_cost.sh [BUILD_DIR] [RUNS] [SECONDS]
set -euo pipefail
build=${1:-build}
runs=${2:-3}
secs=${3:-10}
work=$(mktemp -d /tmp/trace_cost.XXXXXX)
port=18480 admin=18481 svc=18482
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

"$build/sample-service" --port $svc --name svc --threads 1 >/dev/null 2>&1 &
pids+=($!)
write_config() {  # $1: extra zone keys
  cat > "$work/gw.yaml" <<YAML
listen: "127.0.0.1:$port"
admin: {listen: "127.0.0.1:$admin"}
workers: 2
caches:
  main: {path: $work/cache, max_size: 256MiB, memory: 64MiB$1}
upstreams:
  app: {instances: ["127.0.0.1:$svc"]}
routes:
  - {name: api, prefix: /api/, upstream: app, cache: {zone: main, ttl: 60s}}
YAML
}
target="http://127.0.0.1:$port/api/channels/1?size=1024&cache_control=max-age=600"
run() {  # $1: off|on; prints "req/s p99_ms"
  rm -rf "$work/cache" "$work"/trace.bin*
  if [ "$1" = on ]; then write_config ", trace: {path: $work/trace.bin, sample: 100%, max_size: 64MiB, files: 2}"
  else write_config ""; fi
  "$build/gateway" -c "$work/gw.yaml" >/dev/null 2>"$work/err" &
  local gw=$!
  for _ in $(seq 100); do curl -sf -o /dev/null "$target" && break; sleep 0.1; done
  curl -sf -o /dev/null "$target"
  local out
  out=$(wrk -t2 -c64 -d"${secs}s" --latency "$target")
  kill "$gw"; wait "$gw" 2>/dev/null || true
  local rps p99
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; print v}' <<<"$out")
  echo "$rps $p99"
}
declare -a off_rps on_rps off_p99 on_p99
for i in $(seq "$runs"); do
  for mode in off on; do
    read -r rps p99 < <(run $mode)
    echo "run $i trace $mode: $rps req/s, p99 $p99 ms"
    if [ $mode = off ]; then off_rps+=("$rps"); off_p99+=("$p99"); else on_rps+=("$rps"); on_p99+=("$p99"); fi
  done
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mo=$(median "${off_rps[@]}") mn=$(median "${on_rps[@]}") po=$(median "${off_p99[@]}") pn=$(median "${on_p99[@]}")
awk -v mo="$mo" -v mn="$mn" -v po="$po" -v pn="$pn" 'BEGIN {
  printf "median off: %.0f req/s p99 %.2f ms; on: %.0f req/s p99 %.2f ms\n", mo, po, mn, pn
  printf "on/off: req/s %.3f, p99 %.3f\n", mn / mo, pn / po }'
